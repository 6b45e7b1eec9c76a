//! Statistics of one stored series over one phase window, in the shape of
//! aiperf 0.13.0's `server_metrics_export.json` series objects
//! (`stats`, `buckets`, `timeslices`). Pure functions over [`StoredSeries`].
//!
//! Reproduced from the observed output (SPEC §4.3, the sample artifacts):
//! * the window is `[start, end]` inclusive; counters and histograms take
//!   their reference from the last sample before `start` (else the first
//!   sample inside);
//! * gauge `avg/min/max` over the samples in the window, unweighted (one
//!   sample per scrape, duplicates included), `std` with ddof 1 (0 for one
//!   sample), percentiles numpy-linear;
//! * counter `rate = total / (last sample − reference sample)`, and
//!   `rate_avg/min/max/std` (ddof 1) over the *complete* timeslices only;
//! * timeslices start at the window start, `slice` apart, the last one cut
//!   at the window end and marked `is_complete: false`; counter and
//!   histogram slices take the last sample at or before each boundary,
//!   gauge slices the samples inside `[slice start, slice end)`, and gauge
//!   slices without samples are left out.
//!
//! Deliberate difference: counter and histogram increases are reset-aware
//! (a value below its predecessor counts from zero, like Prometheus
//! `increase()`), where aiperf clamps a negative overall delta to 0.
//! Approximate: histogram `p*_estimate` use linear interpolation inside the
//! bucket (Prometheus `histogram_quantile`), not aiperf's polynomial
//! estimator; nothing in InferenceX reads them.

use super::store::StoredSeries;
use serde_json::{json, Map, Value as Json};

/// An inclusive time window in epoch nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

const PERCENTILES: [(f64, &str); 9] = [
    (1.0, "p1"),
    (5.0, "p5"),
    (10.0, "p10"),
    (25.0, "p25"),
    (50.0, "p50"),
    (75.0, "p75"),
    (90.0, "p90"),
    (95.0, "p95"),
    (99.0, "p99"),
];

const NS_PER_S: f64 = 1e9;

/// One timeslice boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) complete: bool,
}

/// Slices of `slice_ns` from `w.start`, the last cut at `w.end`.
pub(crate) fn slices(w: Window, slice_ns: u64) -> Vec<Slice> {
    let mut out = Vec::new();
    if slice_ns == 0 {
        return out;
    }
    let mut s = w.start;
    while s < w.end {
        let full = s.saturating_add(slice_ns);
        out.push(Slice {
            start: s,
            end: full.min(w.end),
            complete: full <= w.end,
        });
        s = full;
    }
    out
}

fn slice_head(s: Slice) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("start_ns".into(), json!(s.start));
    m.insert("end_ns".into(), json!(s.end));
    if !s.complete {
        m.insert("is_complete".into(), json!(false));
    }
    m
}

/// Index of the first timestamp `>= t` (or `> t` with `strict`).
fn lower_bound(ts: &[u64], t: u64, strict: bool) -> usize {
    ts.partition_point(|&x| if strict { x <= t } else { x < t })
}

/// Indices of the samples inside the window: `first..last_excl`.
fn window_range(ts: &[u64], w: Window) -> (usize, usize) {
    (
        lower_bound(ts, w.start, false),
        lower_bound(ts, w.end, true),
    )
}

/// `np.mean(v)` (pairwise summation, as numpy adds); 0 for no values.
fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    servebench_metrics::mean(v)
}

/// `np.std(v, ddof=1)`, the sample standard deviation (aiperf's), with
/// numpy's pairwise sums; 0 for fewer than two values.
pub(crate) fn std_ddof1(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    let squares: Vec<f64> = v.iter().map(|x| (x - m) * (x - m)).collect();
    (servebench_metrics::sum(&squares) / (v.len() - 1) as f64).sqrt()
}

/// `np.percentile(v, p)` (linear); 0 for no values.
pub(crate) fn percentile(v: &[f64], p: f64) -> f64 {
    servebench_metrics::percentile(&servebench_metrics::or_zero(v), p)
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Gauge (and untyped) series: `None` when no sample falls in the window.
pub(crate) fn gauge(
    series: &StoredSeries,
    w: Window,
    slice_ns: Option<u64>,
) -> Option<Map<String, Json>> {
    let ts = &series.points.ts;
    let (a, b) = window_range(ts, w);
    let values = series.points.values.get(a..b)?;
    if values.is_empty() {
        return None;
    }
    let (lo, hi) = min_max(values);
    let mut stats = Map::new();
    stats.insert("avg".into(), json!(mean(values)));
    stats.insert("min".into(), json!(lo));
    stats.insert("max".into(), json!(hi));
    stats.insert("std".into(), json!(std_ddof1(values)));
    for (p, key) in PERCENTILES {
        stats.insert(key.into(), json!(percentile(values, p)));
    }
    let mut out = Map::new();
    out.insert("stats".into(), Json::Object(stats));
    if let Some(d) = slice_ns {
        let wts = ts.get(a..b).unwrap_or_default();
        let mut list = Vec::new();
        if wts.len() >= 2 {
            let cuts = slices(w, d);
            let last_index = cuts.len().saturating_sub(1);
            for (i, s) in cuts.into_iter().enumerate() {
                let from = lower_bound(wts, s.start, false);
                let mut to = lower_bound(wts, s.end, false);
                // The last slice is closed on the right when it ends exactly
                // on the last sample, or that sample would be in no slice.
                if i == last_index && wts.last() == Some(&s.end) {
                    to = wts.len();
                }
                let Some(v) = values.get(from..to).filter(|v| !v.is_empty()) else {
                    continue;
                };
                let (lo, hi) = min_max(v);
                let mut m = slice_head(s);
                m.insert("avg".into(), json!(mean(v)));
                m.insert("min".into(), json!(lo));
                m.insert("max".into(), json!(hi));
                list.push(Json::Object(m));
            }
        }
        if !list.is_empty() {
            out.insert("timeslices".into(), Json::Array(list));
        }
    }
    Some(out)
}

/// Reset-aware running increase of a cumulative column: element `i` is the
/// increase from sample 0 to sample `i`.
fn running_increase(
    n: usize,
    get: impl Fn(usize) -> f64,
    reset: impl Fn(usize) -> bool,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    let mut acc = 0.0;
    for i in 0..n {
        if i > 0 {
            acc += if reset(i) {
                get(i)
            } else {
                get(i) - get(i - 1)
            };
        }
        out.push(acc);
    }
    out
}

/// The reference sample and the window's samples: `(reference, last)` as
/// indices into the series, or `None` when no sample is inside.
fn delta_range(ts: &[u64], w: Window) -> Option<(usize, usize)> {
    let (a, b) = window_range(ts, w);
    if a >= b {
        return None;
    }
    let reference = a.checked_sub(1).unwrap_or(a);
    Some((reference, b - 1))
}

/// Last sample at or before `t`, within `lo..=hi` (clipped to `lo`).
fn at_or_before(ts: &[u64], t: u64, lo: usize, hi: usize) -> usize {
    lower_bound(ts, t, true).saturating_sub(1).clamp(lo, hi)
}

pub(crate) fn counter(
    series: &StoredSeries,
    w: Window,
    slice_ns: Option<u64>,
) -> Option<Map<String, Json>> {
    let ts = &series.points.ts;
    let v = &series.points.values;
    let (r, last) = delta_range(ts, w)?;
    let get = |i: usize| v.get(i).copied().unwrap_or(0.0);
    let inc = running_increase(ts.len(), get, |i| get(i) < get(i - 1));
    let at = |i: usize| inc.get(i).copied().unwrap_or(0.0);
    let total = at(last) - at(r);
    let duration_s = ts
        .get(last)
        .copied()
        .unwrap_or(0)
        .saturating_sub(ts.get(r).copied().unwrap_or(0)) as f64
        / NS_PER_S;
    let rate = if duration_s > 0.0 {
        total / duration_s
    } else {
        0.0
    };
    let mut stats = Map::new();
    stats.insert("total".into(), json!(total));
    stats.insert("rate".into(), json!(rate));
    let mut out = Map::new();
    let mut list = Vec::new();
    if let Some(d) = slice_ns {
        let mut complete_rates = Vec::new();
        // Slices need two samples (the reference counts as one).
        if last > r {
            for s in slices(w, d) {
                let i0 = at_or_before(ts, s.start, r, last);
                let i1 = at_or_before(ts, s.end, r, last);
                let delta = (at(i1) - at(i0)).max(0.0);
                let dur = s.end.saturating_sub(s.start) as f64 / NS_PER_S;
                let rate = if dur > 0.0 { delta / dur } else { 0.0 };
                if s.complete {
                    complete_rates.push(rate);
                }
                let mut m = slice_head(s);
                m.insert("total".into(), json!(delta));
                m.insert("rate".into(), json!(rate));
                list.push(Json::Object(m));
            }
        }
        if !complete_rates.is_empty() {
            let (lo, hi) = min_max(&complete_rates);
            stats.insert("rate_avg".into(), json!(mean(&complete_rates)));
            stats.insert("rate_min".into(), json!(lo));
            stats.insert("rate_max".into(), json!(hi));
            stats.insert("rate_std".into(), json!(std_ddof1(&complete_rates)));
        }
    }
    out.insert("stats".into(), Json::Object(stats));
    if !list.is_empty() {
        out.insert("timeslices".into(), Json::Array(list));
    }
    Some(out)
}

fn bucket_map(les: &[String], deltas: impl Iterator<Item = f64>) -> Json {
    let mut m = Map::new();
    for (le, d) in les.iter().zip(deltas) {
        m.insert(le.clone(), json!(as_count(d)));
    }
    Json::Object(m)
}

fn as_count(x: f64) -> u64 {
    // Counts are integral in any sane exposition; a negative or NaN delta
    // cannot come out of a reset-aware increase, but clamp anyway.
    if x.is_finite() && x > 0.0 {
        x.round() as u64
    } else {
        0
    }
}

/// Prometheus `histogram_quantile`-style estimate from cumulative bucket
/// counts (`les` finite bounds then `+Inf`).
fn estimate(les: &[f64], cum: &[f64], q: f64) -> f64 {
    let Some(&total) = cum.last() else {
        return 0.0;
    };
    if total <= 0.0 {
        return 0.0;
    }
    let rank = q * total;
    let mut prev_bound = 0.0_f64;
    let mut prev_cum = 0.0;
    for (&bound, &c) in les.iter().zip(cum) {
        if c >= rank && c > prev_cum {
            if bound.is_infinite() {
                return prev_bound;
            }
            let lower = if prev_bound > bound {
                bound
            } else {
                prev_bound
            };
            return lower + (bound - lower) * (rank - prev_cum) / (c - prev_cum);
        }
        if bound.is_finite() {
            prev_bound = bound;
        }
        prev_cum = c;
    }
    prev_bound
}

pub(crate) fn histogram(
    series: &StoredSeries,
    w: Window,
    slice_ns: Option<u64>,
) -> Option<Map<String, Json>> {
    let ts = &series.points.ts;
    let (r, last) = delta_range(ts, w)?;
    let stride = series.stride();
    let n = ts.len();
    // Column c of row i: 0 count, 1 sum, 2.. buckets.
    let cell = |i: usize, c: usize| series.row(i).get(c).copied().unwrap_or(0.0);
    let reset = |i: usize| (0..stride).any(|c| cell(i, c) < cell(i - 1, c));
    let reset_at: Vec<bool> = (0..n).map(|i| i > 0 && reset(i)).collect();
    let cols: Vec<Vec<f64>> = (0..stride)
        .map(|c| {
            running_increase(
                n,
                |i| cell(i, c),
                |i| reset_at.get(i).copied().unwrap_or(false),
            )
        })
        .collect();
    let delta = |c: usize, i0: usize, i1: usize| {
        let col = cols.get(c);
        let at = |i: usize| col.and_then(|v| v.get(i)).copied().unwrap_or(0.0);
        (at(i1) - at(i0)).max(0.0)
    };
    let les = &series.les;
    let count = delta(0, r, last);
    let sum = delta(1, r, last);
    let buckets = bucket_map(les, (0..les.len()).map(|k| delta(k + 2, r, last)));
    let mut stats = Map::new();
    let mut out = Map::new();
    if as_count(count) == 0 {
        stats.insert("count".into(), json!(0));
        out.insert("stats".into(), Json::Object(stats));
        out.insert("buckets".into(), buckets);
        return Some(out);
    }
    let duration_s = ts
        .get(last)
        .copied()
        .unwrap_or(0)
        .saturating_sub(ts.get(r).copied().unwrap_or(0)) as f64
        / NS_PER_S;
    stats.insert("count".into(), json!(as_count(count)));
    stats.insert("sum".into(), json!(sum));
    stats.insert("avg".into(), json!(sum / count));
    if duration_s > 0.0 {
        stats.insert("count_rate".into(), json!(count / duration_s));
        stats.insert("sum_rate".into(), json!(sum / duration_s));
    }
    let bounds: Vec<f64> = les.iter().map(|l| super::prom::le_value(l)).collect();
    let cum: Vec<f64> = (0..les.len()).map(|k| delta(k + 2, r, last)).collect();
    for (p, key) in PERCENTILES {
        stats.insert(
            format!("{key}_estimate"),
            json!(estimate(&bounds, &cum, p / 100.0)),
        );
    }
    out.insert("stats".into(), Json::Object(stats));
    out.insert("buckets".into(), buckets);
    if let Some(d) = slice_ns.filter(|_| last > r) {
        let mut list = Vec::new();
        for s in slices(w, d) {
            let i0 = at_or_before(ts, s.start, r, last);
            let i1 = at_or_before(ts, s.end, r, last);
            let c = delta(0, i0, i1);
            let sm = delta(1, i0, i1);
            let mut m = slice_head(s);
            m.insert("count".into(), json!(as_count(c)));
            m.insert("sum".into(), json!(sm));
            m.insert("avg".into(), json!(if c > 0.0 { sm / c } else { 0.0 }));
            m.insert(
                "buckets".into(),
                bucket_map(les, (0..les.len()).map(|k| delta(k + 2, i0, i1))),
            );
            list.push(Json::Object(m));
        }
        if !list.is_empty() {
            out.insert("timeslices".into(), Json::Array(list));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::store::Points;
    use super::*;

    fn scalar(points: &[(u64, f64)]) -> StoredSeries {
        StoredSeries {
            family: 0,
            labels: vec![],
            les: vec![],
            points: Points {
                ts: points.iter().map(|p| p.0).collect(),
                values: points.iter().map(|p| p.1).collect(),
            },
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn numpy_percentiles_and_sample_std() {
        // The sample's vllm:num_requests_running: 59 zeros and 10 ones.
        let mut v = vec![0.0; 59];
        v.extend(vec![1.0; 10]);
        assert_eq!(percentile(&v, 75.0), 0.0);
        assert_eq!(percentile(&v, 90.0), 1.0);
        assert!((mean(&v) - 0.14492753623188406).abs() < 1e-15);
        assert!((std_ddof1(&v) - 0.35460675480612985).abs() < 1e-12);
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 50.0), 2.5);
        assert_eq!(std_ddof1(&[5.0]), 0.0);
        assert_eq!(
            (mean(&[]), std_ddof1(&[]), percentile(&[], 50.0)),
            (0.0, 0.0, 0.0)
        );
        // ddof 1, not numpy's default 0: sqrt(((1-2)² + (3-2)²) / 1).
        assert_eq!(std_ddof1(&[1.0, 3.0]), 2f64.sqrt());
    }

    #[test]
    fn slice_boundaries() {
        let w = Window {
            start: 0,
            end: 10 * S / 4,
        };
        let s = slices(w, S);
        assert_eq!(s.len(), 3);
        assert!(s[0].complete && s[1].complete && !s[2].complete);
        assert_eq!((s[2].start, s[2].end), (2 * S, 10 * S / 4));
        assert_eq!(
            slices(
                Window {
                    start: 0,
                    end: 2 * S
                },
                S
            )
            .len(),
            2
        );
    }

    #[test]
    fn counter_total_rate_and_reset() {
        // Reference at 0.5 s (before the window), a reset between 2 s and 2.5 s.
        let s = scalar(&[
            (S / 2, 10.0),
            (S + S / 2, 14.0),
            (2 * S, 20.0),
            (5 * S / 2, 3.0),
            (3 * S, 5.0),
        ]);
        let w = Window {
            start: S,
            end: 3 * S,
        };
        let out = counter(&s, w, Some(S)).unwrap();
        let st = &out["stats"];
        // 4 + 6 + 3 (counted from zero after the reset) + 2.
        assert_eq!(st["total"], json!(15.0));
        assert_eq!(st["rate"], json!(15.0 / 2.5));
        let ts = out["timeslices"].as_array().unwrap();
        assert_eq!(ts.len(), 2);
        // [1 s, 2 s]: from the value at 1 s (the reference, 10) to 20.
        assert_eq!(ts[0]["total"], json!(10.0));
        assert_eq!(ts[1]["total"], json!(5.0));
        assert_eq!(st["rate_avg"], json!(7.5));
        assert_eq!(st["rate_max"], json!(10.0));
        assert!(ts.iter().all(|t| t.get("is_complete").is_none()));
    }

    #[test]
    fn counter_outside_window_is_absent() {
        let s = scalar(&[(S, 1.0)]);
        assert!(counter(
            &s,
            Window {
                start: 2 * S,
                end: 3 * S
            },
            None
        )
        .is_none());
    }

    #[test]
    fn gauge_slices_skip_empty_and_mark_partial() {
        let s = scalar(&[
            (0, 1.0),
            (S / 2, 3.0),
            (2 * S + S / 4, 5.0),
            (2 * S + S / 2, 7.0),
        ]);
        let out = gauge(
            &s,
            Window {
                start: 0,
                end: 2 * S + S / 2,
            },
            Some(S),
        )
        .unwrap();
        assert_eq!(out["stats"]["avg"], json!(4.0));
        assert_eq!(out["stats"]["max"], json!(7.0));
        let ts = out["timeslices"].as_array().unwrap();
        assert_eq!(ts.len(), 2, "{ts:?}");
        assert_eq!(ts[0]["avg"], json!(2.0));
        assert_eq!(ts[1]["is_complete"], json!(false));
        assert_eq!(
            ts[1]["avg"],
            json!(6.0),
            "the last sample closes the last slice"
        );
    }

    #[test]
    fn histogram_deltas_and_estimates() {
        let les = vec!["0.01".to_string(), "0.02".to_string(), "+Inf".to_string()];
        let rows: [(u64, [f64; 5]); 3] = [
            (0, [2.0, 0.03, 1.0, 2.0, 2.0]),
            (S, [6.0, 0.11, 1.0, 6.0, 6.0]),
            (2 * S, [12.0, 0.23, 1.0, 12.0, 12.0]),
        ];
        let s = StoredSeries {
            family: 0,
            labels: vec![],
            les,
            points: Points {
                ts: rows.iter().map(|r| r.0).collect(),
                values: rows.iter().flat_map(|r| r.1).collect(),
            },
        };
        let out = histogram(
            &s,
            Window {
                start: S / 2,
                end: 2 * S,
            },
            Some(S),
        )
        .unwrap();
        let st = &out["stats"];
        assert_eq!(st["count"], json!(10));
        assert!((st["sum"].as_f64().unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(out["buckets"], json!({"0.01": 0, "0.02": 10, "+Inf": 10}));
        let p50 = st["p50_estimate"].as_f64().unwrap();
        assert!((p50 - 0.015).abs() < 1e-12, "{p50}");
        assert_eq!(out["timeslices"].as_array().unwrap().len(), 2);
        // An idle window: only the count, buckets, no timeslices.
        let idle = histogram(
            &s,
            Window {
                start: 3 * S,
                end: 4 * S,
            },
            Some(S),
        );
        assert!(idle.is_none());
    }
}
