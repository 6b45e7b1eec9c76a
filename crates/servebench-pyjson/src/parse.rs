//! `json.loads` as Python implements it: `NaN`, `Infinity` and `-Infinity`
//! are accepted, integers stay integers (`4` versus `4.0`), a repeated key
//! keeps its first position and its last value, control characters inside
//! strings are rejected, and anything after the value is an error.

use crate::{Dict, PyjsonError, Value};

/// Nesting deeper than this is rejected instead of exhausting the stack
/// (CPython raises `RecursionError` near 1,000 levels).
const MAX_DEPTH: usize = 900;

/// Parses a complete JSON document; an error is [`PyjsonError::Json`].
pub fn from_str(text: &str) -> Result<Value, PyjsonError> {
    let mut p = Parser {
        src: text.as_bytes(),
        text,
        pos: 0,
        depth: 0,
    };
    if text.starts_with('\u{feff}') {
        return Err(p.error("Unexpected UTF-8 BOM (decode using utf-8-sig)"));
    }
    p.skip_ws();
    let value = p.value()?;
    p.skip_ws();
    if p.pos < p.src.len() {
        return Err(p.error("Extra data"));
    }
    Ok(value)
}

struct Parser<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> PyjsonError {
        let before = &self.text[..self.pos.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
            + 1;
        PyjsonError::Json {
            message: message.to_owned(),
            line,
            column,
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.src.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.src[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, PyjsonError> {
        match self.src.get(self.pos) {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => {
                if self.eat("-Infinity") {
                    Ok(Value::Float(f64::NEG_INFINITY))
                } else {
                    self.number()
                }
            }
            _ if self.eat("null") => Ok(Value::Null),
            _ if self.eat("true") => Ok(Value::Bool(true)),
            _ if self.eat("false") => Ok(Value::Bool(false)),
            _ if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            _ if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            _ => Err(self.error("Expecting value")),
        }
    }

    fn nested(
        &mut self,
        f: fn(&mut Self) -> Result<Value, PyjsonError>,
    ) -> Result<Value, PyjsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("Nesting too deep"));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn object(&mut self) -> Result<Value, PyjsonError> {
        self.pos += 1; // `{`
        let mut dict = Dict::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(Value::Dict(dict));
        }
        loop {
            self.skip_ws();
            if self.src.get(self.pos) != Some(&b'"') {
                return Err(self.error("Expecting property name enclosed in double quotes"));
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(":") {
                return Err(self.error("Expecting ':' delimiter"));
            }
            self.skip_ws();
            let value = self.value()?;
            dict.insert(key, value);
            self.skip_ws();
            if self.eat("}") {
                return Ok(Value::Dict(dict));
            }
            if !self.eat(",") {
                return Err(self.error("Expecting ',' delimiter"));
            }
        }
    }

    fn array(&mut self) -> Result<Value, PyjsonError> {
        self.pos += 1; // `[`
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(Value::List(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            if self.eat("]") {
                return Ok(Value::List(items));
            }
            if !self.eat(",") {
                return Err(self.error("Expecting ',' delimiter"));
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`
    fn number(&mut self) -> Result<Value, PyjsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while matches!(p.src.get(p.pos), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos - s
        };
        self.eat("-");
        if self.eat("0") {
        } else if digits(self) == 0 {
            return Err(self.error("Expecting value"));
        }
        let mut is_float = false;
        let checkpoint = self.pos;
        if self.eat(".") {
            if digits(self) == 0 {
                self.pos = checkpoint;
            } else {
                is_float = true;
            }
        }
        let checkpoint = self.pos;
        if self.eat("e") || self.eat("E") {
            if !self.eat("-") {
                self.eat("+");
            }
            if digits(self) == 0 {
                self.pos = checkpoint;
            } else {
                is_float = true;
            }
        }
        let text = &self.text[start..self.pos];
        if is_float {
            text.parse::<f64>()
                .map(Value::Float)
                .map_err(|_| self.error("Invalid number"))
        } else {
            text.parse::<i128>()
                .map(Value::Int)
                .map_err(|_| self.error("Integer too large (more than 128 bits)"))
        }
    }

    fn string(&mut self) -> Result<String, PyjsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.src.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.src.get(self.pos) {
                None => return Err(self.error("Unterminated string starting at")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = match self.src.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.error("Invalid \\escape")),
                    };
                    out.push(escaped);
                    self.pos += 1;
                }
                Some(_) => return Err(self.error("Invalid control character at")),
            }
        }
    }

    /// After `\u`: four hex digits, combining a surrogate pair. A lone
    /// surrogate (valid in Python, not in a Rust string) is an error.
    fn unicode_escape(&mut self) -> Result<char, PyjsonError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.eat("\\u") {
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return char::from_u32(c).ok_or_else(|| self.error("Invalid \\uXXXX escape"));
            }
        }
        char::from_u32(first).ok_or_else(|| self.error("Unpaired surrogate in \\uXXXX escape"))
    }

    fn hex4(&mut self) -> Result<u32, PyjsonError> {
        let hex = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let value = hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error("Invalid \\uXXXX escape"))?;
        self.pos += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::to_string;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        let value = from_str(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(to_string(&value), expected, "{input:?}");
    }

    #[test]
    fn round_trips_python_spellings() {
        check(
            r#"{"a": 4, "b": 4.0, "c": 1e-05, "d": 1E+16}"#,
            r#"{"a": 4, "b": 4.0, "c": 1e-05, "d": 1e+16}"#,
        );
        check(
            "[NaN, Infinity, -Infinity, -0.0, -0]",
            "[NaN, Infinity, -Infinity, -0.0, 0]",
        );
        check(r#"{"k": 1, "j": 2, "k": 3}"#, r#"{"k": 3, "j": 2}"#);
        check(
            r#""caf\u00e9 \ud83d\ude00 \/""#,
            r#""caf\u00e9 \ud83d\ude00 /""#,
        );
        check(" \n\t[ ]\r\n", "[]");
        check(
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        );
        check("1e400", "Infinity");
    }

    #[test]
    fn rejects_what_python_rejects() {
        for bad in [
            "",
            "[1,]",
            "{\"a\" 1}",
            "{'a': 1}",
            "[1] x",
            "01",
            "1.",
            ".5",
            "+1",
            "\"a\tb\"",
            "\"\\x\"",
            "\"\\ud800\"",
            "nan",
            "inf",
            "[",
            "\u{feff}[]",
            "tru",
            "\"abc",
        ] {
            assert!(from_str(bad).is_err(), "{bad:?} should fail");
        }
        let deep = "[".repeat(100_000);
        assert!(from_str(&deep).is_err());
    }

    /// 200,000 distinct keys, then every 1,000th key again with a new
    /// value: the result keeps each key at its first position with its last
    /// value, as `json.loads` does. This is the size that showed objects
    /// parsing in quadratic time (every insertion scanned all earlier keys:
    /// about 2*10^10 key comparisons here, minutes even in release, far
    /// longer in a debug test build, so before the fix this test did not
    /// finish within any CI job's limit). It checks the result, not a time.
    #[test]
    fn a_large_object_with_duplicates_keeps_first_positions_and_last_values() {
        const KEYS: usize = 200_000;
        let mut text = String::from("{");
        let mut expected = String::from("{");
        for i in 0..KEYS {
            text.push_str(&format!("\"key{i}\": {i}, "));
            let last = if i % 1000 == 0 {
                format!("\"again{i}\"")
            } else {
                i.to_string()
            };
            expected.push_str(&format!("\"key{i}\": {last}, "));
        }
        for i in (0..KEYS).step_by(1000) {
            text.push_str(&format!("\"key{i}\": \"again{i}\", "));
        }
        text.truncate(text.len() - 2);
        text.push('}');
        expected.truncate(expected.len() - 2);
        expected.push('}');

        let value = from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let dict = value.as_dict().unwrap_or_else(|| panic!("not a dict"));
        assert_eq!(dict.len(), KEYS);
        assert_eq!(dict.get("key1000"), Some(&Value::from("again1000")));
        assert_eq!(dict.get("key1001"), Some(&Value::Int(1001)));
        assert_eq!(dict.get("key200000"), None);
        assert!(to_string(&value) == expected, "order or values differ");
    }

    #[test]
    fn errors_name_the_position() {
        let err = from_str("{\n  \"a\": 1,\n  oops\n}").unwrap_err();
        assert!(matches!(
            err,
            PyjsonError::Json {
                line: 3,
                column: 3,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "Expecting property name enclosed in double quotes: line 3 column 3"
        );
    }
}
