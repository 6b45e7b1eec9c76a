//! Per-device trapezoid integration with linear boundary interpolation.

/// Samples sorted by time (distinct times).
pub(crate) type Samples = [(f64, f64)];

fn bisect_left(samples: &Samples, t: f64) -> usize {
    samples.partition_point(|s| s.0 < t)
}

fn bisect_right(samples: &Samples, t: f64) -> usize {
    samples.partition_point(|s| s.0 <= t)
}

/// Power at `t`; `None` when `t` is not bracketed.
fn interpolate(samples: &Samples, t: f64) -> Option<f64> {
    let right = bisect_left(samples, t);
    if let Some(&(rt, rp)) = samples.get(right) {
        if rt == t || (rt - t).abs() <= 1e-9 {
            return Some(rp);
        }
    }
    let left = right.checked_sub(1)?;
    let (lt, lp) = *samples.get(left)?;
    let (rt, rp) = *samples.get(right)?;
    let fraction = (t - lt) / (rt - lt);
    Some(lp + fraction * (rp - lp))
}

/// Energy over `[start, end]`; `None` when a boundary is not bracketed.
pub(crate) fn integrate(samples: &Samples, start: f64, end: f64) -> Option<f64> {
    let p_start = interpolate(samples, start)?;
    let p_end = interpolate(samples, end)?;
    let mut energy = 0.0;
    let mut prev = (start, p_start);
    for &(t, p) in samples.iter().filter(|s| start < s.0 && s.0 < end) {
        energy += (t - prev.0) * (prev.1 + p) / 2.0;
        prev = (t, p);
    }
    energy += (end - prev.0) * (prev.1 + p_end) / 2.0;
    Some(energy)
}

/// The largest gap between consecutive samples from the last one at or
/// before `start` to the first one at or after `end` (single node: the
/// samples bracket the window).
pub(crate) fn max_gap_bracketed(samples: &Samples, start: f64, end: f64) -> f64 {
    let left = bisect_right(samples, start).saturating_sub(1);
    let right = bisect_left(samples, end).min(samples.len().saturating_sub(1));
    samples
        .get(left..=right)
        .unwrap_or(&[])
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .fold(None, |m: Option<f64>, g| {
            Some(m.map_or(g, |m| if g > m { g } else { m }))
        })
        .unwrap_or(0.0)
}

/// Plain trapezoid over every sample (the accumulator cross-check).
pub(crate) fn trapezoid(samples: &Samples) -> f64 {
    samples
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .fold(0.0, |a, b| a + b)
}

/// Python `max(values, default=0.0)` over gaps of a time sequence.
pub(crate) fn max_gap(times: &[f64]) -> f64 {
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(None, |m: Option<f64>, g| {
            Some(m.map_or(g, |m| if g > m { g } else { m }))
        })
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trapezoid_with_interpolated_boundaries() {
        let s = [(0.0, 100.0), (2.0, 200.0), (4.0, 200.0)];
        // P(1) = 150, P(3) = 200: 1 s at mean 175 + 1 s at 200.
        assert_eq!(integrate(&s, 1.0, 3.0), Some(375.0));
        assert_eq!(integrate(&s, 0.0, 4.0), Some(700.0));
        assert_eq!(integrate(&s, -1.0, 3.0), None);
        assert_eq!(max_gap_bracketed(&s, 1.0, 3.0), 2.0);
        assert_eq!(trapezoid(&s), 700.0);
        assert_eq!(max_gap(&[1.0]), 0.0);
    }
}
