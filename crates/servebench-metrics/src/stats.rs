//! Statistics exactly as NumPy 2.x computes them on a float64 array, bit for
//! bit (checked against numpy on thousands of random arrays):
//!
//! * [`sum`] is `np.add.reduce`: pairwise summation from 0.0, eight
//!   accumulators per block of up to 128 elements;
//! * [`mean`] is `sum / n`; [`std`](fn@std) is the population standard deviation
//!   (`ddof=0`), `sqrt(sum((x - mean)²) / n)`, both sums pairwise;
//! * [`median`] is the middle element, or `(0 + lo + hi) / 2`;
//! * [`percentile`] is `np.percentile`'s default "linear" method:
//!   index `(n − 1)·p/100`, then numpy's two-sided interpolation
//!   (`lo + d·g` below g = 0.5, `hi − d·(1 − g)` from it on).
//!
//! Empty input is the caller's business: the benchmark replaces an empty
//! sample by `[0]` (`np.mean(xs or 0)`), see [`or_zero`]. Any NaN makes
//! median and percentiles NaN, as in numpy.

/// `xs or [0]`: the original passes `xs or 0` to numpy.
pub fn or_zero(xs: &[f64]) -> std::borrow::Cow<'_, [f64]> {
    if xs.is_empty() {
        std::borrow::Cow::Owned(vec![0.0])
    } else {
        std::borrow::Cow::Borrowed(xs)
    }
}

/// `np.add.reduce(xs)`.
pub fn sum(xs: &[f64]) -> f64 {
    pairwise(xs)
}

fn pairwise(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 8 {
        xs.iter().fold(0.0, |acc, x| acc + x)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&xs[..8]);
        let blocks_end = n - n % 8;
        for chunk in xs[8..blocks_end].chunks_exact(8) {
            for (acc, x) in r.iter_mut().zip(chunk) {
                *acc += x;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &xs[blocks_end..] {
            res += x;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise(&xs[..half]) + pairwise(&xs[half..])
    }
}

/// `np.mean(xs)`; NaN for empty input.
pub fn mean(xs: &[f64]) -> f64 {
    sum(xs) / xs.len() as f64
}

/// `np.std(xs)` (population, `ddof=0`).
pub fn std(xs: &[f64]) -> f64 {
    let m = mean(xs);
    let squares: Vec<f64> = xs.iter().map(|x| (x - m) * (x - m)).collect();
    (sum(&squares) / xs.len() as f64).sqrt()
}

fn sorted(xs: &[f64]) -> Option<Vec<f64>> {
    if xs.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Some(v)
}

/// `np.median(xs)`; NaN for empty input or any NaN.
pub(crate) fn median(xs: &[f64]) -> f64 {
    let Some(s) = sorted(xs).filter(|s| !s.is_empty()) else {
        return f64::NAN;
    };
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (0.0 + s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `np.percentile(xs, p)` with the default linear method. `p` must be in
/// [0, 100] (the caller validates it); NaN for empty input or any NaN.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let Some(s) = sorted(xs).filter(|s| !s.is_empty()) else {
        return f64::NAN;
    };
    let last = s.len() - 1;
    let index = last as f64 * (p / 100.0);
    let (lo, hi, gamma) = if index >= last as f64 {
        (last, last, 0.0)
    } else if index < 0.0 {
        (0, 0, 0.0)
    } else {
        let floor = index.floor();
        (floor as usize, floor as usize + 1, index - floor)
    };
    let (a, b) = (s[lo], s[hi]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(mean(&xs), 2.5);
        assert_eq!(std(&xs), 1.25f64.sqrt(), "population std");
        assert_eq!(median(&xs), 2.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(percentile(&xs, 0.0), 1.0);
        assert_eq!(percentile(&xs, 100.0), 4.0);
        assert_eq!(percentile(&xs, 50.0), 2.5);
        // index 3·0.99 = 2.97: 3 + 1·0.97, computed as 4 − 1·0.03
        assert_eq!(percentile(&xs, 99.0), 4.0 - (1.0 - (3.0 * 0.99 - 2.0)));
        assert_eq!(percentile(&xs, 10.0), 1.0 + 1.0 * (3.0 * 0.1));
        assert_eq!(percentile(&[5.0, 1.0], 25.0), 2.0);
    }

    #[test]
    fn one_element_and_empty() {
        for p in [0.0, 50.0, 99.9, 100.0] {
            assert_eq!(percentile(&[7.5], p), 7.5);
        }
        assert_eq!((mean(&[7.5]), std(&[7.5]), median(&[7.5])), (7.5, 0.0, 7.5));
        let zero = or_zero(&[]);
        assert_eq!(
            (
                mean(&zero),
                std(&zero),
                median(&zero),
                percentile(&zero, 99.0)
            ),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert!(mean(&[]).is_nan() && median(&[]).is_nan() && percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn nan_propagates_like_numpy() {
        let xs = [1.0, f64::NAN, 3.0];
        assert!(
            mean(&xs).is_nan()
                && std(&xs).is_nan()
                && median(&xs).is_nan()
                && percentile(&xs, 10.0).is_nan()
        );
    }

    /// Pairwise summation differs from a naive loop on large arrays; these
    /// expected values were produced by numpy 2.4 (`np.sum`, `np.mean`,
    /// `np.std`, `np.percentile`) for x_i = 1 / (i + 1), i < 1000.
    #[test]
    fn large_arrays_match_numpy() {
        let xs: Vec<f64> = (0..1000).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        assert_eq!(sum(&xs), 7.485470860550345);
        assert_eq!(mean(&xs), 0.007485470860550345);
        assert_eq!(std(&xs), 0.039848491723996425);
        assert_eq!(median(&xs), 0.001998003992015968);
        assert_eq!(percentile(&xs, 99.0), 0.09099999999999991);
        assert_eq!(percentile(&xs, 99.9), 0.500500000000045);
        assert_eq!(percentile(&xs, 12.345), 0.0011406759110291936);
    }
}
