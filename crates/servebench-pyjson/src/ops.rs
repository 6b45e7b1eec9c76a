//! Python operators on [`Value`]s, for tools that compute with values read
//! from files without normalising them first.
//!
//! The originals copy config and result values through unchanged and then
//! compute with them (`isl + osl + 200`, `conc *= step`, sorting rows by a
//! tuple of fields). These helpers keep Python's answers: bools and floats
//! take part in arithmetic (`8.0 * 2` is `16.0`), equality is numeric across
//! types (`1024.0 == 1024`), and ordering a string against a number is a type
//! error, reported instead of crashing.

use crate::{PyjsonError, Value};
use std::cmp::Ordering;

enum Num {
    Int(i128),
    Float(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(i128::from(*b))),
        Value::Int(i) => Some(Num::Int(*i)),
        Value::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

fn as_f64(n: &Num) -> f64 {
    match n {
        // Exact for every magnitude a config holds (below 2^53).
        Num::Int(i) => *i as f64,
        Num::Float(f) => *f,
    }
}

/// Python `a == b`.
pub fn eq(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
        (Some(x), Some(y)) => as_f64(&x) == as_f64(&y),
        _ => match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq(p, q))
            }
            (Value::Dict(x), Value::Dict(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| eq(v, w)))
            }
            _ => false,
        },
    }
}

/// Python ordering of `a` and `b`: `None` when unordered (a NaN is
/// involved), an error when Python raises `TypeError`.
pub(crate) fn cmp(a: &Value, b: &Value) -> Result<Option<Ordering>, PyjsonError> {
    match (num(a), num(b)) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => Ok(Some(x.cmp(&y))),
        (Some(x), Some(y)) => Ok(as_f64(&x).partial_cmp(&as_f64(&y))),
        _ => match (a, b) {
            (Value::Str(x), Value::Str(y)) => Ok(Some(x.cmp(y))),
            (Value::List(x), Value::List(y)) => {
                for (p, q) in x.iter().zip(y) {
                    if !eq(p, q) {
                        return cmp(p, q);
                    }
                }
                Ok(Some(x.len().cmp(&y.len())))
            }
            _ => Err(PyjsonError::Type(format!(
                "cannot compare {} {} with {} {}",
                a.type_name(),
                show(a),
                b.type_name(),
                show(b)
            ))),
        },
    }
}

/// Python comparison of two tuples: the first unequal pair decides.
pub fn cmp_tuples(a: &[Value], b: &[Value]) -> Result<Option<Ordering>, PyjsonError> {
    for (x, y) in a.iter().zip(b) {
        if !eq(x, y) {
            return cmp(x, y);
        }
    }
    Ok(Some(a.len().cmp(&b.len())))
}

pub fn lt(a: &Value, b: &Value) -> Result<bool, PyjsonError> {
    Ok(cmp(a, b)? == Some(Ordering::Less))
}

pub fn le(a: &Value, b: &Value) -> Result<bool, PyjsonError> {
    Ok(matches!(cmp(a, b)?, Some(Ordering::Less | Ordering::Equal)))
}

pub fn gt(a: &Value, b: &Value) -> Result<bool, PyjsonError> {
    lt(b, a)
}

pub fn ge(a: &Value, b: &Value) -> Result<bool, PyjsonError> {
    le(b, a)
}

fn arith(
    a: &Value,
    b: &Value,
    op: &str,
    int_op: fn(i128, i128) -> Option<i128>,
    float_op: fn(f64, f64) -> f64,
) -> Result<Value, PyjsonError> {
    match (num(a), num(b)) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => int_op(x, y)
            .map(Value::Int)
            .ok_or_else(|| PyjsonError::Type(format!("integer overflow in {x} {op} {y}"))),
        (Some(x), Some(y)) => Ok(Value::Float(float_op(as_f64(&x), as_f64(&y)))),
        _ => Err(PyjsonError::Type(format!(
            "cannot compute {} {} {op} {} {}",
            a.type_name(),
            show(a),
            b.type_name(),
            show(b)
        ))),
    }
}

/// Python `a + b` on numbers.
pub fn add(a: &Value, b: &Value) -> Result<Value, PyjsonError> {
    arith(a, b, "+", i128::checked_add, |x, y| x + y)
}

/// Python `a * b` on numbers. (Python would repeat a string; no config
/// means that, so it is a type error here.)
pub fn mul(a: &Value, b: &Value) -> Result<Value, PyjsonError> {
    arith(a, b, "*", i128::checked_mul, |x, y| x * y)
}

/// Python `min(items)`: the first of the smallest.
pub fn min<'a>(
    items: impl IntoIterator<Item = &'a Value>,
) -> Result<Option<&'a Value>, PyjsonError> {
    extreme(items, Ordering::Less)
}

/// Python `max(items)`: the first of the largest.
pub fn max<'a>(
    items: impl IntoIterator<Item = &'a Value>,
) -> Result<Option<&'a Value>, PyjsonError> {
    extreme(items, Ordering::Greater)
}

fn extreme<'a>(
    items: impl IntoIterator<Item = &'a Value>,
    want: Ordering,
) -> Result<Option<&'a Value>, PyjsonError> {
    let mut best: Option<&Value> = None;
    for item in items {
        best = match best {
            Some(current) if cmp(item, current)? != Some(want) => Some(current),
            _ => Some(item),
        };
    }
    Ok(best)
}

/// Python `str(v)` for the scalars that reach an f-string (`exp-name`).
pub fn to_str(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => crate::float_repr(*f),
        Value::Str(s) => s.clone(),
        other => crate::to_string(other),
    }
}

/// A value as it appears in a message: strings quoted, the rest as JSON.
pub fn show(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("'{s}'"),
        other => crate::to_string(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    #[test]
    fn equality_is_numeric_across_types() {
        let cases = [
            (Value::Int(1024), Value::Float(1024.0), true),
            (Value::Bool(true), Value::Int(1), true),
            (Value::Bool(false), Value::Float(0.0), true),
            (Value::Int(8), s("8"), false),
            (Value::Null, Value::Null, true),
            (Value::Float(f64::NAN), Value::Float(f64::NAN), false),
            (
                Value::List(vec![Value::Int(1)]),
                Value::List(vec![Value::Float(1.0)]),
                true,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(eq(&a, &b), want, "{a:?} == {b:?}");
        }
    }

    #[test]
    fn ordering_and_type_errors() {
        assert!(lt(&Value::Int(4), &Value::Float(4.5)).unwrap());
        assert!(le(&Value::Bool(true), &Value::Int(1)).unwrap());
        assert!(
            lt(&s("10"), &s("9")).unwrap(),
            "strings compare by code point"
        );
        assert!(!le(&Value::Float(f64::NAN), &Value::Int(1)).unwrap());
        assert!(lt(&s("8"), &Value::Int(4)).is_err());
        assert!(lt(&Value::Null, &Value::Int(4)).is_err());
    }

    #[test]
    fn arithmetic_keeps_python_types() {
        assert_eq!(mul(&Value::Int(4), &Value::Int(2)), Ok(Value::Int(8)));
        assert_eq!(
            mul(&Value::Float(4.0), &Value::Int(2)),
            Ok(Value::Float(8.0))
        );
        assert_eq!(mul(&Value::Bool(true), &Value::Int(2)), Ok(Value::Int(2)));
        assert_eq!(
            add(&Value::Int(1024), &Value::Float(8192.0)),
            Ok(Value::Float(9216.0))
        );
        assert!(mul(&s("4"), &Value::Int(2)).is_err());
        assert!(mul(&Value::Int(i128::MAX), &Value::Int(2)).is_err());
    }

    #[test]
    fn min_max_return_the_first_extreme() {
        let items = [
            Value::Int(2),
            Value::Float(1.0),
            Value::Bool(true),
            Value::Int(4),
            Value::Float(4.0),
        ];
        assert_eq!(min(&items).unwrap(), Some(&Value::Float(1.0)));
        assert_eq!(max(&items).unwrap(), Some(&Value::Int(4)));
        assert_eq!(min(&[]).unwrap(), None);
    }

    #[test]
    fn str_matches_python() {
        assert_eq!(to_str(&Value::Int(4096)), "4096");
        assert_eq!(to_str(&Value::Float(4096.0)), "4096.0");
        assert_eq!(to_str(&Value::Bool(true)), "True");
        assert_eq!(to_str(&s("x")), "x");
    }
}
