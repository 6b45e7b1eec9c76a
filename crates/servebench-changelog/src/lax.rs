//! pydantic v2 lax-mode conversions of the scalar types the models use.

use servebench_pyjson::{parse_int, Value};

/// An `int` field: ints, bools, integral finite floats, and strings of an
/// integer (surrounding whitespace, `_` between digits and a fraction of
/// zeros allowed: `" 8 "`, `"1_000"`, `"8.0"`).
pub(crate) fn int(v: &Value) -> Result<i128, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i128::from(*b)),
        Value::Float(f) if !f.is_finite() => Err("Input should be a finite number".into()),
        Value::Float(f) if f.fract() != 0.0 => {
            Err("Input should be a valid integer, got a number with a fractional part".into())
        }
        Value::Float(f) if f.abs() < 1e38 => Ok(*f as i128),
        Value::Str(s) => str_int(s).ok_or_else(|| {
            "Input should be a valid integer, unable to parse string as an integer".into()
        }),
        other => Err(format!(
            "Input should be a valid integer, got {}",
            other.type_name()
        )),
    }
}

fn str_int(s: &str) -> Option<i128> {
    let t = s.trim();
    if let Some(i) = parse_int(t) {
        return Some(i);
    }
    let (whole, frac) = t.split_once('.')?;
    if !frac.is_empty() && frac.bytes().all(|b| b == b'0') {
        return parse_int(whole);
    }
    None
}

/// A strict `int` field (`pp`, `dcp-size`, `pcp-size`): an int, not a bool,
/// greater than 0.
pub(crate) fn strict_pos_int(v: &Value) -> Result<i128, String> {
    match v {
        Value::Int(i) if *i > 0 => Ok(*i),
        Value::Int(_) => Err("Input should be greater than 0".into()),
        other => Err(format!(
            "Input should be a valid integer, got {}",
            other.type_name()
        )),
    }
}

/// A `bool` field: bools, 0/1 (ints or floats), and the usual strings in
/// any case (`true`, `yes`, `on`, `y`, `t`, `1` and their opposites).
pub(crate) fn bool(v: &Value) -> Result<bool, String> {
    const ERR: &str = "Input should be a valid boolean, unable to interpret input";
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Float(f) if *f == 0.0 => Ok(false),
        Value::Float(f) if *f == 1.0 => Ok(true),
        Value::Str(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Ok(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Ok(true),
            _ => Err(ERR.into()),
        },
        Value::Int(_) | Value::Float(_) => Err(ERR.into()),
        other => Err(format!(
            "Input should be a valid boolean, got {}",
            other.type_name()
        )),
    }
}

/// A `str` field: strings only (pydantic does not turn numbers into
/// strings).
pub(crate) fn string(v: &Value) -> Result<&str, String> {
    v.as_str()
        .ok_or_else(|| format!("Input should be a valid string, got {}", v.type_name()))
}

/// A `list[str]` field.
pub(crate) fn string_list(v: &Value) -> Result<Vec<String>, String> {
    let items = v
        .as_list()
        .ok_or_else(|| format!("Input should be a valid list, got {}", v.type_name()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            string(item)
                .map(str::to_owned)
                .map_err(|e| format!("{i}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected answers are pydantic 2.13's.
    #[test]
    fn ints_as_pydantic_lax_mode_reads_them() {
        let ok: &[(Value, i128)] = &[
            (Value::Int(8), 8),
            (Value::Bool(true), 1),
            (Value::Float(8.0), 8),
            (Value::from("8"), 8),
            (Value::from(" 8 "), 8),
            (Value::from("8.0"), 8),
            (Value::from("1_000"), 1000),
            (Value::from("+8"), 8),
            (Value::from("08"), 8),
        ];
        for (v, want) in ok {
            assert_eq!(int(v), Ok(*want), "{v:?}");
        }
        for v in [
            Value::Float(8.5),
            Value::from("8.5"),
            Value::from("1e3"),
            Value::Float(f64::INFINITY),
            Value::Null,
            Value::List(vec![]),
        ] {
            assert!(int(&v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn bools_as_pydantic_lax_mode_reads_them() {
        for (v, want) in [
            (Value::Int(0), false),
            (Value::Int(1), true),
            (Value::Float(1.0), true),
            (Value::from("TRUE"), true),
            (Value::from("yes"), true),
            (Value::from("off"), false),
            (Value::from("n"), false),
        ] {
            assert_eq!(bool(&v), Ok(want), "{v:?}");
        }
        for v in [
            Value::Int(2),
            Value::from(" true"),
            Value::from("1.0"),
            Value::Null,
        ] {
            assert!(bool(&v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn strict_ints_refuse_bools_floats_and_non_positive_values() {
        assert_eq!(strict_pos_int(&Value::Int(2)), Ok(2));
        for v in [
            Value::Bool(true),
            Value::Float(2.0),
            Value::from("2"),
            Value::Int(0),
        ] {
            assert!(strict_pos_int(&v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn strings_are_not_made_from_numbers() {
        assert_eq!(string(&Value::from("a")), Ok("a"));
        assert!(string(&Value::Int(1)).is_err());
        assert_eq!(
            string_list(&Value::List(vec![Value::from("a")])),
            Ok(vec!["a".to_owned()])
        );
        assert!(string_list(&Value::List(vec![Value::Int(1)])).is_err());
        assert!(string_list(&Value::from("a")).is_err());
    }
}
