//! Python `str()` and `repr()` of JSON values, for table cells.

use servebench_pyjson::{float_repr, Value};

/// `str(v)`: strings as they are, everything else as `repr`.
pub(crate) fn to_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => repr(other),
    }
}

/// `repr(v)` for the types `json.load` produces.
pub(crate) fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_repr(*f),
        Value::Str(s) => str_repr(s),
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Dict(d) => format!(
            "{{{}}}",
            d.iter()
                .map(|(k, v)| format!("{}: {}", str_repr(k), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Single quotes unless the text has `'` and no `"`; backslash escapes for
/// quotes, `\\`, `\n`, `\r`, `\t` and other non-printable characters.
fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are CPython's `str()`.
    #[test]
    fn like_python() {
        let v = servebench_pyjson::from_str(
            r#"[null, true, 1, 1.0, 1e-05, "it's", "a\"b", {"k": [2]}, "tab\there"]"#,
        )
        .unwrap();
        assert_eq!(
            to_str(&v),
            r#"[None, True, 1, 1.0, 1e-05, "it's", 'a"b', {'k': [2]}, 'tab\there']"#
        );
        assert_eq!(to_str(&Value::from("plain")), "plain");
    }
}
