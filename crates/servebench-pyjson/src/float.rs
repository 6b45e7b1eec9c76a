use std::fmt::Write;

/// Python's `repr(float)`, which is also how `json.dumps` spells finite floats.
///
/// The digits are the shortest string that round-trips (Rust's `{:e}` finds
/// them); the layout is Python's: with the value written as d.ddd × 10^e,
/// fixed notation when −4 ≤ e < 16 (integral values keep `.0`), scientific
/// otherwise with a signed exponent of at least two digits (`1e-05`,
/// `1e+16`). Non-finite values are spelled `nan`, `inf`, `-inf` here, as
/// `repr` does; the JSON writer substitutes `NaN`/`Infinity`.
pub fn float_repr(x: f64) -> String {
    let mut out = String::new();
    push_float_repr(&mut out, x);
    out
}

pub(crate) fn push_float_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // `{:e}` gives the fewest digits that read back as `x`, but where two
    // such strings lie equally close to `x` it rounds the tie up; Python's
    // repr takes the correctly rounded one, ties to even
    // (10.8432159423828125 is `…812` there, `…813` from `{:e}`). The
    // closest string of that many digits reads back as `x` whenever any
    // does, and `{:.Ne}` is exactly that, rounded half to even.
    let shortest = format!("{x:e}");
    let significant = shortest
        .split_once('e')
        .map_or(shortest.as_str(), |(m, _)| m)
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    let sci = format!("{x:.prec$e}", prec = significant.saturating_sub(1));
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    // `{:e}` always writes a decimal exponent; a parse failure is impossible.
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        // Writing into a String cannot fail.
        let _ = write!(out, "e{sign}{:02}", exp.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::float_repr;

    #[track_caller]
    fn check(x: f64, expected: &str) {
        assert_eq!(float_repr(x), expected, "repr of {x:?}");
    }

    /// Expected strings were produced by CPython 3.11 `repr()`.
    #[test]
    fn matches_python_repr() {
        let table: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.0, "2.0"),
            (-2.0, "-2.0"),
            (0.1, "0.1"),
            (1e-05, "1e-05"),
            (1.5e-07, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1234.5, "1234.5"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (123456789012345.6, "123456789012345.6"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e22, "1e+22"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (2.5, "2.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (9.999999999999999e-05, "9.999999999999999e-05"),
            (12345678.9, "12345678.9"),
            (4552.0, "4552.0"),
            (-1e-07, "-1e-07"),
            // Ties: the exact value lies halfway between two shortest
            // candidates; Python takes the even one.
            (10.843215942382812, "10.843215942382812"),
            (-2201633486470.3438, "-2201633486470.3438"),
            (2072245179032.6562, "2072245179032.6562"),
            (69929349578.32812, "69929349578.32812"),
            (3000598399140.8438, "3000598399140.8438"),
            (-3655994951551.9062, "-3655994951551.9062"),
            (199035806622.42188, "199035806622.42188"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(x, want) in table {
            check(x, want);
        }
    }
}
