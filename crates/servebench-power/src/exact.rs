//! Exact arithmetic where Python's is exact: `statistics.mean` of floats
//! (an exact rational mean, correctly rounded once), `int / int` true
//! division, and `round(x, n)`.

/// A non-negative big integer, little-endian 32-bit limbs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push((v & 0xffff_ffff) as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bits(&self) -> usize {
        match self.0.iter().rposition(|&l| l != 0) {
            None => 0,
            Some(i) => i * 32 + (32 - self.0[i].leading_zeros() as usize),
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0.get(i / 32).is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    /// `self += m << shift`.
    fn add_shifted(&mut self, m: u64, shift: usize) {
        let word = shift / 32;
        let offset = shift % 32;
        let wide = (m as u128) << offset;
        let mut carry: u128 = 0;
        let mut i = word;
        let mut rest = wide;
        while rest > 0 || carry > 0 {
            if self.0.len() <= i {
                self.0.resize(i + 1, 0);
            }
            let sum = self.0[i] as u128 + (rest & 0xffff_ffff) + carry;
            self.0[i] = (sum & 0xffff_ffff) as u32;
            carry = sum >> 32;
            rest >>= 32;
            i += 1;
        }
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        let (a, b) = (self.bits(), other.bits());
        if a != b {
            return a.cmp(&b);
        }
        for i in (0..self.0.len().max(other.0.len())).rev() {
            let x = self.0.get(i).copied().unwrap_or(0);
            let y = other.0.get(i).copied().unwrap_or(0);
            if x != y {
                return x.cmp(&y);
            }
        }
        std::cmp::Ordering::Equal
    }

    /// `self - other`, `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow: i64 = 0;
        for i in 0..self.0.len() {
            let d = self.0[i] as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            if d < 0 {
                out.push((d + (1i64 << 32)) as u32);
                borrow = 1;
            } else {
                out.push(d as u32);
                borrow = 0;
            }
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shl(&self, k: usize) -> Big {
        let mut out = Big(vec![0; k / 32]);
        let offset = k % 32;
        let mut carry: u64 = 0;
        for &l in &self.0 {
            let v = ((l as u64) << offset) | carry;
            out.0.push((v & 0xffff_ffff) as u32);
            carry = v >> 32;
        }
        if carry > 0 {
            out.0.push(carry as u32);
        }
        out
    }

    /// Quotient and whether the remainder is non-zero, for a divisor > 0.
    fn div_small(&self, d: u64) -> (Big, bool) {
        let mut q = vec![0u32; self.0.len()];
        let mut rem: u128 = 0;
        for i in (0..self.0.len()).rev() {
            let cur = (rem << 32) | self.0[i] as u128;
            q[i] = (cur / d as u128) as u32;
            rem = cur % d as u128;
        }
        let mut q = Big(q);
        q.trim();
        (q, rem != 0)
    }
}

/// The double nearest to `num / den × 2^scale` (ties to even), `den > 0`.
fn ratio_to_f64(num: &Big, den: u64, scale: i64) -> f64 {
    if num.is_zero() {
        return 0.0;
    }
    let den_bits = 64 - den.leading_zeros() as usize;
    let k = (56 + den_bits).saturating_sub(num.bits());
    let (q, sticky) = num.shl(k).div_small(den);
    let scale = scale - k as i64;
    let bits = q.bits() as i64;
    let e_ulp = (bits - 53 + scale).max(-1074);
    let shift = e_ulp - scale;
    if shift <= 0 {
        // Cannot happen: the quotient has at least 54 bits.
        return f64::NAN;
    }
    let shift = shift as usize;
    let mut mant: u64 = 0;
    for i in (shift..q.bits()).rev() {
        mant = (mant << 1) | u64::from(q.bit(i));
    }
    let half = q.bit(shift - 1);
    let below_half = (0..shift - 1).any(|i| q.bit(i)) || sticky;
    if half && (below_half || mant & 1 == 1) {
        mant += 1;
    }
    let mut e = e_ulp;
    if mant == 1 << 53 {
        mant >>= 1;
        e += 1;
    }
    if e == -1074 && mant < (1 << 52) {
        return f64::from_bits(mant);
    }
    let biased = e + 52 + 1023;
    if biased >= 2047 {
        return f64::INFINITY;
    }
    if biased <= 0 {
        return f64::from_bits(mant);
    }
    f64::from_bits(((biased as u64) << 52) | (mant & ((1 << 52) - 1)))
}

/// Python's `statistics.mean` of finite floats: the exact mean, rounded
/// once. Empty input: 0.0.
pub(crate) fn exact_mean(values: &[f64]) -> f64 {
    let mut pos = Big::default();
    let mut neg = Big::default();
    for &v in values {
        let bits = v.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as usize;
        let frac = bits & ((1 << 52) - 1);
        let (m, shift) = if exp == 0 {
            (frac, 0)
        } else {
            (frac | (1 << 52), exp - 1)
        };
        if v.is_sign_negative() {
            neg.add_shifted(m, shift);
        } else {
            pos.add_shifted(m, shift);
        }
    }
    let n = values.len() as u64;
    if n == 0 {
        return 0.0;
    }
    match pos.cmp(&neg) {
        std::cmp::Ordering::Equal => 0.0,
        std::cmp::Ordering::Greater => ratio_to_f64(&pos.sub(&neg), n, -1074),
        std::cmp::Ordering::Less => -ratio_to_f64(&neg.sub(&pos), n, -1074),
    }
}

/// Python `int / int` for a numerator of microseconds and 10^6: the
/// correctly rounded number of seconds.
pub(crate) fn micros_to_seconds(micros: i128) -> f64 {
    let v = ratio_to_f64(&Big::from_u128(micros.unsigned_abs()), 1_000_000, 0);
    if micros < 0 {
        -v
    } else {
        v
    }
}

/// Python's `round(x, digits)` for a finite float.
pub(crate) fn py_round(x: f64, digits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.digits$}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_exact() {
        assert_eq!(exact_mean(&[1.0, 2.0]), 1.5);
        assert_eq!(exact_mean(&[0.1, 0.2, 0.3]), 0.2);
        assert_eq!(exact_mean(&[1e308, 1e308]), 1e308);
        assert_eq!(exact_mean(&[5e-324, 0.0]), 0.0);
        assert_eq!(exact_mean(&[5e-324, 5e-324, 5e-324, 0.0]), 5e-324);
        assert_eq!(exact_mean(&[-1.0, 3.0]), 1.0);
        assert_eq!(exact_mean(&[-0.0]), 0.0);
        assert_eq!(exact_mean(&[300.5]), 300.5);
        // statistics.mean([0.1] * 3) == 0.1 (the naive sum/3 is not).
        assert_eq!(exact_mean(&[0.1, 0.1, 0.1]), 0.1);
        assert_eq!(exact_mean(&[1.0, 1.0 + f64::EPSILON]), 1.0);
    }

    #[test]
    fn micro_division_is_correctly_rounded() {
        assert_eq!(micros_to_seconds(1_755_777_605_123_456), 1755777605.123456);
        assert_eq!(micros_to_seconds(-1), -1e-6);
        assert_eq!(
            micros_to_seconds(253_402_300_799_999_999),
            253402300799.99999
        );
        assert_eq!(micros_to_seconds(0), 0.0);
    }

    #[test]
    fn rounding_is_python_round() {
        assert_eq!(py_round(0.125, 2), 0.12);
        assert_eq!(py_round(2.675, 2), 2.67);
        assert_eq!(py_round(1234.56789, 3), 1234.568);
        assert_eq!(py_round(-0.0000004, 6), -0.0);
    }
}
