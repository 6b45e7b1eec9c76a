//! Identities of generated rows: recipe fingerprints and the
//! structural-equality keys the original builds with `_freeze_config_value`.

use servebench_pyjson::{Dict, Value};
use sha2::{Digest, Sha256};

/// Point-level fields: a recipe is a row without them.
const POINT_FIELDS: [&str; 3] = ["conc", "exp-name", "recipe-fingerprint"];

/// Lowercase hex SHA-256 of the row without `conc`, `exp-name` and
/// `recipe-fingerprint`, serialised as `json.dumps(recipe, sort_keys=True,
/// separators=(",", ":"), ensure_ascii=True)`.
pub fn recipe_fingerprint(row: &Dict) -> String {
    let mut text = String::new();
    write_sorted(&mut text, row, &POINT_FIELDS);
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `json.dumps(dict, sort_keys=True, separators=(",", ":"))` of `d` without
/// the keys in `skip` (at the top level only).
fn write_sorted(out: &mut String, d: &Dict, skip: &[&str]) {
    let mut entries: Vec<(&str, &Value)> = d.iter().filter(|(k, _)| !skip.contains(k)).collect();
    // Rust orders strings by UTF-8 bytes, which is Python's code point order.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&servebench_pyjson::to_string(&Value::from(k)));
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Dict(d) => write_sorted(out, d, &[]),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&servebench_pyjson::to_string(scalar)),
    }
}

/// A string that is equal for two rows exactly when the original's frozen
/// tuples of them (without the `skip` keys) are equal: keys sorted, Python
/// equality of numbers (`1 == 1.0 == True`), a mapping frozen like a list of
/// `[key, value]` pairs.
pub(crate) fn frozen_key(row: &Dict, skip: &[&str]) -> String {
    let mut out = String::new();
    freeze_dict(&mut out, row, skip);
    out
}

/// [`frozen_key`] of a row without the point-level fields: its curve.
pub(crate) fn curve_key(row: &Dict) -> String {
    frozen_key(row, &POINT_FIELDS)
}

fn freeze_dict(out: &mut String, d: &Dict, skip: &[&str]) {
    let mut entries: Vec<(&str, &Value)> = d.iter().filter(|(k, _)| !skip.contains(k)).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('(');
    for (k, v) in entries {
        out.push_str("(S");
        out.push_str(&servebench_pyjson::to_string(&Value::from(k)));
        out.push(',');
        freeze(out, v);
        out.push_str(",),");
    }
    out.push(')');
}

/// Appends the frozen spelling of `v`.
pub(crate) fn freeze(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push('N'),
        Value::Bool(b) => {
            out.push('I');
            out.push(if *b { '1' } else { '0' });
        }
        Value::Int(i) => {
            out.push('I');
            out.push_str(&i.to_string());
        }
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38 => {
            out.push('I');
            out.push_str(&(*f as i128).to_string());
        }
        Value::Float(f) => {
            out.push('F');
            out.push_str(&servebench_pyjson::float_repr(*f));
        }
        Value::Str(s) => {
            out.push('S');
            out.push_str(&servebench_pyjson::to_string(&Value::from(s.as_str())));
        }
        Value::List(items) => {
            out.push('(');
            for item in items {
                freeze(out, item);
                out.push(',');
            }
            out.push(')');
        }
        Value::Dict(d) => freeze_dict(out, d, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: &str) -> Dict {
        match servebench_pyjson::from_str(json).unwrap() {
            Value::Dict(d) => d,
            other => panic!("{other:?}"),
        }
    }

    /// Expected digests: Python's `recipe_fingerprint` (golden case
    /// pc-added-entry and hashlib on the same text).
    #[test]
    fn fingerprints_match_python() {
        let r = row(
            r#"{"image": "vllm/vllm-openai-rocm:v0.11.0", "model": "org/tiny", "model-prefix": "tiny", "precision": "fp8", "framework": "vllm", "runner": "mi355x", "isl": 1024, "osl": 1024, "tp": 2, "pp": 1, "dcp-size": 1, "pcp-size": 1, "conc": 4, "max-model-len": 2304, "ep": 1, "dp-attn": false, "spec-decoding": "none", "exp-name": "tiny_1k1k", "disagg": false, "run-eval": false}"#,
        );
        assert_eq!(
            recipe_fingerprint(&r),
            "73a21806e5c36b732e9c57ddc2fd8fb138cead0846dd0167b28e6eab132d0429"
        );
        // json.dumps({"a": 8.0, "b": "caf\u00e9", "c": {"z": [1, None], "y": True}},
        //            sort_keys=True, separators=(",", ":"))
        let mut text = String::new();
        write_sorted(
            &mut text,
            &row(r#"{"c": {"z": [1, null], "y": true}, "b": "café", "a": 8.0, "conc": 4}"#),
            &POINT_FIELDS,
        );
        assert_eq!(
            text,
            r#"{"a":8.0,"b":"caf\u00e9","c":{"y":true,"z":[1,null]}}"#
        );
    }

    #[test]
    fn fingerprints_ignore_point_fields_only() {
        let a = row(r#"{"tp": 2, "conc": 4, "exp-name": "x"}"#);
        let b = row(r#"{"exp-name": "y", "conc": [8], "tp": 2, "recipe-fingerprint": "0"}"#);
        let c = row(r#"{"tp": 2.0, "conc": 4, "exp-name": "x"}"#);
        assert_eq!(recipe_fingerprint(&a), recipe_fingerprint(&b));
        assert_ne!(recipe_fingerprint(&a), recipe_fingerprint(&c));
    }

    #[test]
    fn frozen_keys_follow_python_equality() {
        let k = |j: &str| curve_key(&row(j));
        assert_eq!(
            k(r#"{"tp": 1, "a": {"x": 1, "y": 2}}"#),
            k(r#"{"a": {"y": 2, "x": 1.0}, "tp": true, "conc": 3}"#)
        );
        assert_ne!(k(r#"{"tp": 1}"#), k(r#"{"tp": "1"}"#));
        assert_ne!(k(r#"{"tp": 1.5}"#), k(r#"{"tp": 1}"#));
        assert_ne!(k(r#"{"a": [1, 2]}"#), k(r#"{"a": [2, 1]}"#));
        // A mapping freezes like a list of [key, value] pairs, as in Python.
        assert_eq!(k(r#"{"a": {"x": 1}}"#), k(r#"{"a": [["x", 1]]}"#));
        assert_ne!(k(r#"{"a": null}"#), k(r#"{}"#));
    }
}
