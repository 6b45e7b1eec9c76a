//! Python's `int(str)` and `float(str)`, which the originals apply to
//! environment variables, command-line values and JSON strings.

/// `int(s)` in base 10: surrounding whitespace, an optional sign, ASCII
/// digits with single `_` between them, leading zeros allowed (`" 08 "`,
/// `"+8_192"`, `"-1"`). `None` where Python raises `ValueError` (or the value
/// exceeds 128 bits).
pub fn parse_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if !is_digit_group(digits) {
        return None;
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    let magnitude: i128 = cleaned.parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// `float(s)`: whitespace, sign, `inf`/`infinity`/`nan` in any case, or a
/// decimal with optional fraction and exponent, `_` allowed between digits.
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let magnitude = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            let (mantissa, exponent) = match lower.split_once('e') {
                Some((m, e)) => (m, Some(e)),
                None => (lower.as_str(), None),
            };
            let (int_part, frac_part) = match mantissa.split_once('.') {
                Some((i, f)) => (i, Some(f)),
                None => (mantissa, None),
            };
            let int_ok = int_part.is_empty() || is_digit_group(int_part);
            let frac_ok = frac_part.is_none_or(|f| f.is_empty() || is_digit_group(f));
            let has_digits = !int_part.is_empty() || frac_part.is_some_and(|f| !f.is_empty());
            let exp_ok = exponent.is_none_or(|e| {
                let e = e.strip_prefix(['+', '-']).unwrap_or(e);
                is_digit_group(e)
            });
            if !(int_ok && frac_ok && has_digits && exp_ok) {
                return None;
            }
            let cleaned: String = lower.chars().filter(|c| *c != '_').collect();
            cleaned.parse::<f64>().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `float(v)` of a JSON value: numbers and bools convert, strings parse as
/// [`parse_float`]; `None` where Python raises.
pub fn float_of(v: &crate::Value) -> Option<f64> {
    use crate::Value;
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Str(s) => parse_float(s),
        _ => None,
    }
}

/// `int(v)` of a JSON value: floats truncate toward zero (non-finite ones
/// fail), strings parse as [`parse_int`]; `None` where Python raises.
pub fn int_of(v: &crate::Value) -> Option<i128> {
    use crate::Value;
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Float(f) if f.is_finite() && f.abs() < 1e38 => Some(f.trunc() as i128),
        Value::Str(s) => parse_int(s),
        _ => None,
    }
}

/// ASCII digits, `_` only between two digits.
fn is_digit_group(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_digit()
        && b[b.len() - 1].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_digit() || *c == b'_')
        && !s.contains("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected answers are CPython 3.11's.
    #[test]
    fn int_like_python() {
        let table: &[(&str, Option<i128>)] = &[
            ("8", Some(8)),
            (" 08 ", Some(8)),
            ("+8192", Some(8192)),
            ("1_024", Some(1024)),
            ("-1", Some(-1)),
            ("\t7\n", Some(7)),
            ("", None),
            (" ", None),
            ("1k", None),
            ("8.0", None),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("+", None),
            ("- 1", None),
            ("0x10", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_int(s), *want, "int({s:?})");
        }
    }

    #[test]
    fn conversions_of_json_values() {
        use crate::Value;
        assert_eq!(float_of(&Value::Bool(true)), Some(1.0));
        assert_eq!(float_of(&Value::from(" 1_5.5 ")), Some(15.5));
        assert_eq!(float_of(&Value::Null), None);
        assert_eq!(int_of(&Value::Float(-4.7)), Some(-4));
        assert_eq!(int_of(&Value::Float(f64::NAN)), None);
        assert_eq!(int_of(&Value::from("08")), Some(8));
        assert_eq!(int_of(&Value::List(vec![])), None);
    }

    #[test]
    fn float_like_python() {
        let table: &[(&str, Option<f64>)] = &[
            ("15000.5", Some(15000.5)),
            (" 1e3 ", Some(1000.0)),
            ("1_000", Some(1000.0)),
            ("1_000.5_5", Some(1000.55)),
            ("1.", Some(1.0)),
            (".5", Some(0.5)),
            ("-.5e-1", Some(-0.05)),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("+INF", Some(f64::INFINITY)),
            ("1e400", Some(f64::INFINITY)),
            ("", None),
            (".", None),
            ("e5", None),
            ("1e", None),
            ("1._5", None),
            ("1_.5", None),
            ("infinite", None),
            ("0x1p3", None),
            ("1,5", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_float(s), *want, "float({s:?})");
        }
        assert!(parse_float("nan").is_some_and(f64::is_nan));
        assert!(parse_float(" -NaN ").is_some_and(f64::is_nan));
    }
}
