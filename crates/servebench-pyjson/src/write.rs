use crate::float::push_float_repr;
use crate::value::{Dict, Value};

/// `json.dumps(value)`: one line, separators `", "` and `": "`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_compact(&mut out, value);
    out
}

/// `json.dumps(dict)`, without making the dictionary a [`Value`] first
/// (a saved result's is megabytes of lists: no copy of it).
pub fn dict_to_string(dict: &Dict) -> String {
    let mut out = String::new();
    write_dict_compact(&mut out, dict);
    out
}

/// `json.dumps(value, indent=2)`: no trailing newline.
pub fn to_string_indent2(value: &Value) -> String {
    let mut out = String::new();
    write_indent2(&mut out, value, 0);
    out
}

/// Appends `json.dumps(value)` to `out`.
pub fn write_compact(out: &mut String, value: &Value) {
    match value {
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_compact(out, item);
            }
            out.push(']');
        }
        Value::Dict(dict) => write_dict_compact(out, dict),
        scalar => write_scalar(out, scalar),
    }
}

fn write_dict_compact(out: &mut String, dict: &Dict) {
    out.push('{');
    for (i, (key, item)) in dict.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_str(out, key);
        out.push_str(": ");
        write_compact(out, item);
    }
    out.push('}');
}

/// Appends `json.dumps(value, indent=2)` to `out`, nested `level` deep.
pub fn write_indent2(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::List(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, level + 1);
                write_indent2(out, item, level + 1);
            }
            newline_indent(out, level);
            out.push(']');
        }
        Value::Dict(dict) if !dict.is_empty() => {
            out.push('{');
            for (i, (key, item)) in dict.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, level + 1);
                write_str(out, key);
                out.push_str(": ");
                write_indent2(out, item, level + 1);
            }
            newline_indent(out, level);
            out.push('}');
        }
        other => write_compact(out, other),
    }
}

fn newline_indent(out: &mut String, level: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', 2 * level));
}

fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => {
            out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(f) => push_float_repr(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::List(_) | Value::Dict(_) => write_compact(out, value),
    }
}

/// A JSON string with `ensure_ascii=True` escaping.
fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let push_u = |out: &mut String, unit: u16| {
        out.push_str("\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((unit >> shift) & 0xf)] as char);
        }
    };
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_u(out, *unit);
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dict;

    #[track_caller]
    fn check(value: Value, compact: &str, indented: &str) {
        assert_eq!(to_string(&value), compact);
        assert_eq!(to_string_indent2(&value), indented);
        if let Value::Dict(d) = &value {
            assert_eq!(dict_to_string(d), compact);
        }
    }

    #[test]
    fn scalars() {
        check(Value::Null, "null", "null");
        check(Value::Bool(true), "true", "true");
        check(Value::Int(-64), "-64", "-64");
        check(Value::Float(64.0), "64.0", "64.0");
        check(Value::Float(f64::NAN), "NaN", "NaN");
        check(Value::Float(f64::INFINITY), "Infinity", "Infinity");
        check(Value::Float(f64::NEG_INFINITY), "-Infinity", "-Infinity");
    }

    /// Expected strings were produced by CPython 3.11 `json.dumps`.
    #[test]
    fn strings_are_ascii_escaped() {
        let cases = [
            ("plain/slash", r#""plain/slash""#),
            ("q\"b\\", r#""q\"b\\""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{1}\u{1f}\u{7f}", r#""\u0001\u001f\u007f""#),
            ("caf\u{e9} \u{2122}", r#""caf\u00e9 \u2122""#),
            ("\u{1f600}", r#""\ud83d\ude00""#),
        ];
        for (s, want) in cases {
            check(Value::from(s), want, want);
        }
    }

    #[test]
    fn containers() {
        check(Value::List(vec![]), "[]", "[]");
        check(Value::Dict(Dict::new()), "{}", "{}");
        let mut inner = Dict::new();
        inner.insert("tp", Value::Int(8));
        inner.insert("settings", Value::List(vec![]));
        let value = Value::List(vec![Value::Dict(inner), Value::Int(1)]);
        check(
            value,
            r#"[{"tp": 8, "settings": []}, 1]"#,
            "[\n  {\n    \"tp\": 8,\n    \"settings\": []\n  },\n  1\n]",
        );
    }
}
