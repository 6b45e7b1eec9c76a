//! Python's `format(x, spec)` for the float specs the tools print with.

/// `format(x, ".{precision}f")`: correctly rounded fixed notation (Rust's
/// `{:.N}` rounds the same way), with Python's `nan`/`inf`/`-inf`.
pub fn fixed(x: f64, precision: usize) -> String {
    match non_finite(x) {
        Some(s) => s.to_owned(),
        None => format!("{x:.precision$}"),
    }
}

/// `format(x, "g")`: six significant digits; fixed notation when the
/// exponent after rounding is in −4..6, scientific otherwise; trailing zeros
/// and a trailing point removed (`1.23457e+06`, `1e-05`, `25`, `-0`).
pub fn general(x: f64) -> String {
    const PRECISION: i32 = 6;
    if let Some(s) = non_finite(x) {
        return s.to_owned();
    }
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    // `{:e}` always writes a decimal exponent.
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..PRECISION).contains(&exp) {
        let decimals = (PRECISION - 1 - exp) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_owned()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exp.abs())
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn non_finite(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("nan")
    } else if x == f64::INFINITY {
        Some("inf")
    } else if x == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are CPython 3.11's `format()`.
    #[test]
    fn general_like_python() {
        let table: &[(f64, &str)] = &[
            (1234567.8912, "1.23457e+06"),
            (0.0, "0"),
            (-0.0, "-0"),
            (25.0, "25"),
            (12345.678, "12345.7"),
            (123456.0, "123456"),
            (999999.5, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123456789, "0.000123457"),
            (1.5, "1.5"),
            (100.0, "100"),
            (1e16, "1e+16"),
            (-2.5e-7, "-2.5e-07"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(x, want) in table {
            assert_eq!(general(x), want, "format({x:?}, 'g')");
        }
    }

    #[test]
    fn fixed_like_python() {
        let table: &[(f64, usize, &str)] = &[
            (0.125, 2, "0.12"),
            (0.375, 2, "0.38"),
            (2.5, 0, "2"),
            (1234.56789, 4, "1234.5679"),
            (-0.0, 4, "-0.0000"),
            (f64::NAN, 2, "nan"),
            (f64::NEG_INFINITY, 4, "-inf"),
        ];
        for &(x, p, want) in table {
            assert_eq!(fixed(x, p), want, "format({x:?}, '.{p}f')");
        }
    }
}
