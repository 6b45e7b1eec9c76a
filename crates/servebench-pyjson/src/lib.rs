//! Values and JSON text exactly as Python's `json` module spells them, and
//! the Python semantics around them.
//!
//! The InferenceX utilities print and save JSON with `json.dumps`/`json.dump`,
//! and the workflows downstream compare that text byte for byte (an empty
//! matrix must print exactly `[]`). This crate owns that spelling:
//!
//! * [`Value`] models a Python JSON-able value: `int` and `float` stay
//!   distinct (`64` versus `64.0`), dict keys keep insertion order and a
//!   re-assigned key keeps its first position ([`Dict::insert`]);
//! * [`to_string`] is `json.dumps(v)` (separators `", "` and `": "`, one line);
//! * [`to_string_indent2`] is `json.dumps(v, indent=2)`;
//! * [`float_repr`] is Python's `repr(float)` (`1e-05`, `2.0`, `1e+16`).
//!
//! Output is ASCII only (`ensure_ascii=True`): other characters become
//! lowercase `\uXXXX` escapes, astral characters surrogate pairs. Non-finite
//! floats are written as the bare tokens `NaN`, `Infinity`, `-Infinity`, as
//! Python does by default.
//!
//! Around that it keeps the Python semantics the tools' outputs depend on:
//! [`from_str`] is `json.loads` (accepting `NaN`/`Infinity`), [`parse_int`]
//! and [`parse_float`] are `int(str)`/`float(str)`, [`fixed`] and [`general`]
//! are `format(x, ".4f")` and `format(x, "g")`, and [`eq`], [`lt`], [`add`],
//! [`mul`], [`min`], [`max`] (and the rest) are the comparisons and arithmetic
//! the originals apply to values read from files: bools and floats take part
//! in arithmetic (`8.0 * 2` is `16.0`), equality is numeric across types
//! (`1024.0 == 1024`), and ordering a string against a number is a
//! [`PyjsonError::Type`], reported instead of crashing.
//!
//! It does not own the meaning of any value.
//!
//! ```
//! use servebench_pyjson::{to_string, Dict, Value};
//!
//! let mut d = Dict::new();
//! d.insert("tp", Value::Int(8));
//! d.insert("ratio", Value::Float(1e-5));
//! d.insert("name", Value::from("caf\u{e9}"));
//! d.insert("tp", Value::Float(4.0)); // keeps its first position
//! assert_eq!(
//!     to_string(&Value::Dict(d)),
//!     r#"{"tp": 4.0, "ratio": 1e-05, "name": "caf\u00e9"}"#
//! );
//! ```

#![warn(unreachable_pub)]

mod builtins;
mod error;
mod float;
mod format;
mod ops;
mod parse;
mod value;
mod write;

pub use builtins::{float_of, int_of, parse_float, parse_int};
pub use error::PyjsonError;
pub use float::float_repr;
pub use format::{fixed, general};
pub use ops::{add, cmp_tuples, eq, ge, gt, le, lt, max, min, mul, show, to_str};
pub use parse::from_str;
pub use value::{Dict, Value};
pub use write::{dict_to_string, to_string, to_string_indent2, write_compact, write_indent2};

/// A value as serde JSON, keys in order. JSON has no spelling for NaN and
/// the infinities, so they become null (what a JSON reader of Python's
/// output makes of them is up to it; here they read as "no number").
#[cfg(feature = "serde_json")]
pub fn to_serde_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => i64::try_from(*i)
            .map(J::from)
            .or_else(|_| u64::try_from(*i).map(J::from))
            .unwrap_or_else(|_| serde_json::Number::from_f64(*i as f64).map_or(J::Null, J::Number)),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.clone()),
        Value::List(items) => J::Array(items.iter().map(to_serde_json).collect()),
        Value::Dict(d) => J::Object(
            d.iter()
                .map(|(k, v)| (k.to_owned(), to_serde_json(v)))
                .collect(),
        ),
    }
}

#[cfg(all(test, feature = "serde_json"))]
mod serde_tests {
    #[test]
    fn python_values_become_serde_values_in_order() {
        let v = crate::from_str(
            r#"{"b": 1, "a": [NaN, 2.5, -Infinity, "x", null, true], "big": 18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(
            crate::to_serde_json(&v).to_string(),
            r#"{"b":1,"a":[null,2.5,null,"x",null,true],"big":18446744073709551615}"#
        );
    }
}
