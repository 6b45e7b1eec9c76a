//! Python spellings the outputs depend on: `repr()` of JSON values,
//! `str(Path(p))`, `Path.stem`, `str.strip()`, and the texts of
//! `JSONDecodeError` and `UnicodeDecodeError`.

use servebench_pyjson::{float_repr, PyjsonError, Value};
use std::path::{Path, PathBuf};

/// Python `str.isspace()` for one character.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python `str.strip()`.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python `repr()` of a value `json.loads` produced.
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

/// Python `repr(str)`.
pub(crate) fn str_repr(s: &str) -> String {
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
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `str(Path(p))`: repeated `/` collapse (a leading `//` stays), `.`
/// components and a trailing `/` vanish, `..` stays; empty is `.`.
pub(crate) fn path_str(p: &Path) -> String {
    let s = p.to_string_lossy();
    let (root, rest) = if s.starts_with("//") && !s.starts_with("///") {
        ("//", &s[2..])
    } else if s.starts_with('/') {
        ("/", s.trim_start_matches('/'))
    } else {
        ("", &s[..])
    };
    let parts: Vec<&str> = rest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let joined = format!("{root}{}", parts.join("/"));
    if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// `Path(p).name` after normalisation (`""` for `.` and roots).
pub(crate) fn name(p: &Path) -> String {
    let s = path_str(p);
    if s == "." || s.chars().all(|c| c == '/') {
        return String::new();
    }
    s.rsplit('/').next().unwrap_or_default().to_owned()
}

/// `PurePath.stem` of a final component.
pub(crate) fn stem_of(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => &name[..i],
        _ => name,
    }
}

/// `Path.with_name(new)`: `None` where Python raises (the path has no name).
pub(crate) fn with_name(p: &Path, new: &str) -> Option<PathBuf> {
    if name(p).is_empty() {
        return None;
    }
    let s = path_str(p);
    Some(match s.rfind('/') {
        Some(i) => PathBuf::from(format!("{}/{new}", &s[..i])),
        None => PathBuf::from(new),
    })
}

/// `str(json.JSONDecodeError)`: `msg: line L column C (char N)`.
pub(crate) fn json_error(text: &str, err: &PyjsonError) -> String {
    match err {
        PyjsonError::Json {
            message,
            line,
            column,
        } => {
            let mut chars = 0usize;
            for (i, l) in text.split('\n').enumerate() {
                if i + 1 == *line {
                    break;
                }
                chars += l.chars().count() + 1;
            }
            let pos = chars + column.saturating_sub(1);
            format!("{message}: line {line} column {column} (char {pos})")
        }
        other => other.to_string(),
    }
}

/// `str(UnicodeDecodeError)` of decoding `bytes` as strict UTF-8, or the
/// text when it is valid.
pub(crate) fn decode_utf8(bytes: Vec<u8>) -> Result<String, String> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let err = e.utf8_error();
            let bytes = e.as_bytes();
            let pos = err.valid_up_to();
            let (len, reason) = match err.error_len() {
                None => (bytes.len() - pos, "unexpected end of data"),
                Some(n) => {
                    let b = bytes[pos];
                    let invalid_start = (0x80..=0xc1).contains(&b) || b >= 0xf5;
                    (
                        n,
                        if n == 1 && invalid_start {
                            "invalid start byte"
                        } else {
                            "invalid continuation byte"
                        },
                    )
                }
            };
            Err(if len <= 1 {
                format!(
                    "'utf-8' codec can't decode byte 0x{:02x} in position {pos}: {reason}",
                    bytes[pos]
                )
            } else {
                format!(
                    "'utf-8' codec can't decode bytes in position {pos}-{}: {reason}",
                    pos + len - 1
                )
            })
        }
    }
}

/// `str(OSError)` for an I/O error on `path`: `[Errno 2] No such file or
/// directory: 'x'`.
pub(crate) fn os_error(err: &std::io::Error, path: &Path) -> String {
    let text = err.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    match err.raw_os_error() {
        Some(code) => format!("[Errno {code}] {text}: {}", str_repr(&path_str(path))),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_like_pathlib() {
        assert_eq!(path_str(Path::new("./x//y/")), "x/y");
        assert_eq!(path_str(Path::new("")), ".");
        assert_eq!(path_str(Path::new("a/../b")), "a/../b");
        assert_eq!(path_str(Path::new("//a")), "//a");
        assert_eq!(path_str(Path::new("///a")), "/a");
        assert_eq!(stem_of("bench.json"), "bench");
        assert_eq!(stem_of(".hidden"), ".hidden");
        assert_eq!(stem_of("a.b.c"), "a.b");
        assert_eq!(
            with_name(Path::new("d/bench.json"), "x.json"),
            Some(PathBuf::from("d/x.json"))
        );
        assert_eq!(with_name(Path::new("."), "x"), None);
    }

    #[test]
    fn messages_like_python() {
        assert_eq!(
            decode_utf8(vec![b'a', 0xff]).unwrap_err(),
            "'utf-8' codec can't decode byte 0xff in position 1: invalid start byte"
        );
        assert_eq!(
            decode_utf8(vec![0xe2, 0x28]).unwrap_err(),
            "'utf-8' codec can't decode byte 0xe2 in position 0: invalid continuation byte"
        );
        assert_eq!(
            decode_utf8(vec![b'x', 0xe2, 0x82]).unwrap_err(),
            "'utf-8' codec can't decode bytes in position 1-2: unexpected end of data"
        );
        let text = "{\n  \"a\": }";
        let err = servebench_pyjson::from_str(text).unwrap_err();
        assert_eq!(
            json_error(text, &err),
            "Expecting value: line 2 column 8 (char 9)"
        );
        assert_eq!(repr(&Value::from("it's")), "\"it's\"");
        assert_eq!(strip("\u{1c} a \t"), "a");
    }
}
