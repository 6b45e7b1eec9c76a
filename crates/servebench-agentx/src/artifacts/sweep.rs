//! The time-weighted aggregate metrics of aiperf 0.13.0 (`effective_*`,
//! `active_*`, `tokens_in_flight`): step functions over the request
//! timeline ("sweep lines") and their statistics within a phase window.
//!
//! Reproduces aiperf's `analysis/sweepline*.py` as shipped in 0.13.0:
//! events sorted by time with ends before starts at ties, cumulative sums
//! snapped to 0 below 1e-9 of the peak, statistics weighted by how long each
//! value is held inside the window (percentiles: the first value whose
//! cumulative time share reaches p), and the "active" variants weighted
//! only over the time their phase has a request in it. Decode throughput and
//! tokens in flight follow the content chunks (aiperf's ICL-aware curves)
//! when any record of the run has inter-chunk gaps.

use serde_json::{json, Map, Value};

use super::per_record::is_success;
use crate::record::RequestRecord;

const NS_PER_S: f64 = 1_000_000_000.0;

/// A step function: `vals[i]` holds from `ts[i]` to `ts[i + 1]`.
#[derive(Debug, Default, Clone)]
struct Curve {
    ts: Vec<f64>,
    vals: Vec<f64>,
}

/// Sorts `(time, delta)` events (ends before starts at equal times, else
/// stable) and sums them up.
fn sweep(mut events: Vec<(f64, f64)>) -> Curve {
    events.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| (a.1 > 0.0).cmp(&(b.1 > 0.0)))
    });
    let mut acc = 0.0;
    let mut vals: Vec<f64> = events
        .iter()
        .map(|e| {
            acc += e.1;
            acc
        })
        .collect();
    let max_abs = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max_abs > 0.0 {
        for v in &mut vals {
            if v.abs() < 1e-9 * max_abs {
                *v = 0.0;
            }
        }
    }
    Curve {
        ts: events.iter().map(|e| e.0).collect(),
        vals,
    }
}

/// Index of the first element `>= x` (`np.searchsorted(side="left")`).
fn search_left(xs: &[f64], x: f64) -> usize {
    xs.partition_point(|v| *v < x)
}

/// Index of the first element `> x` (`np.searchsorted(side="right")`).
fn search_right(xs: &[f64], x: f64) -> usize {
    xs.partition_point(|v| *v <= x)
}

/// The value of `c` at `t` (0 before its first event).
fn at(c: &Curve, t: f64) -> f64 {
    match search_right(&c.ts, t).checked_sub(1) {
        Some(i) => c.vals.get(i).copied().unwrap_or(0.0),
        None => 0.0,
    }
}

/// `num / den` on the union of their event times; 0 where `den` is 0.
fn divide(num: &Curve, den: &Curve) -> Curve {
    if num.ts.is_empty() || den.ts.is_empty() {
        return Curve::default();
    }
    let mut ts: Vec<f64> = num.ts.iter().chain(&den.ts).copied().collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    let vals = ts
        .iter()
        .map(|&t| {
            let d = at(den, t);
            if d > 0.0 {
                at(num, t) / d
            } else {
                0.0
            }
        })
        .collect();
    Curve { ts, vals }
}

/// `{avg, p50, p90, p95, p99, min, max, std}`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Stats {
    avg: f64,
    p50: f64,
    p90: f64,
    p95: f64,
    p99: f64,
    min: f64,
    max: f64,
    std: f64,
}

/// Statistics of values held for durations, over `total` time.
fn weighted(vals: &[f64], durs: &[f64], total: f64) -> Stats {
    if vals.is_empty() || total <= 0.0 {
        return Stats::default();
    }
    let products: Vec<f64> = vals.iter().zip(durs).map(|(v, d)| v * d).collect();
    let avg = servebench_metrics::sum(&products) / total;
    let squares: Vec<f64> = vals
        .iter()
        .zip(durs)
        .map(|(v, d)| d * (v - avg) * (v - avg))
        .collect();
    let std = (servebench_metrics::sum(&squares) / total).sqrt();
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut order: Vec<usize> = (0..vals.len()).collect();
    order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
    let mut cum = Vec::with_capacity(order.len());
    let mut acc = 0.0;
    for &i in &order {
        acc += durs[i];
        cum.push(acc);
    }
    let last = cum.last().copied().unwrap_or(1.0);
    let frac: Vec<f64> = cum.iter().map(|c| c / last).collect();
    let pick = |q: f64| {
        let i = search_left(&frac, q).min(order.len().saturating_sub(1));
        order.get(i).map_or(0.0, |&k| vals[k])
    };
    Stats {
        avg,
        p50: pick(0.50),
        p90: pick(0.90),
        p95: pick(0.95),
        p99: pick(0.99),
        min,
        max,
        std,
    }
}

/// Time-weighted statistics of `c` within `[start, end]`.
fn time_weighted(c: &Curve, start: f64, end: f64) -> Stats {
    let total = end - start;
    if c.ts.is_empty() || total <= 0.0 {
        return Stats::default();
    }
    let lo = search_right(&c.ts, start).saturating_sub(1);
    let hi = (search_left(&c.ts, end) + 1).min(c.ts.len());
    let first = if lo > 0 { c.vals[lo - 1] } else { 0.0 };
    let mut starts = vec![start];
    let mut values = vec![first];
    if lo < hi {
        starts.extend_from_slice(&c.ts[lo..hi]);
        values.extend_from_slice(&c.vals[lo..hi]);
    }
    let (mut vals, mut durs) = (Vec::new(), Vec::new());
    for i in 0..starts.len() {
        let seg_end = starts.get(i + 1).copied().unwrap_or(end).min(end);
        let seg_start = starts[i].max(start);
        let d = (seg_end - seg_start).max(0.0);
        if d > 0.0 {
            vals.push(values[i]);
            durs.push(d);
        }
    }
    weighted(&vals, &durs, total)
}

/// Statistics of `rate` over the parts of `[start, end]` where `mask` > 0.
fn active_weighted(rate: &Curve, mask: &Curve, start: f64, end: f64) -> Stats {
    if end - start <= 0.0 || rate.ts.is_empty() || mask.ts.is_empty() {
        return Stats::default();
    }
    let inside = |c: &Curve| -> Vec<f64> {
        let (lo, hi) = (search_right(&c.ts, start), search_left(&c.ts, end));
        if lo < hi {
            c.ts[lo..hi].to_vec()
        } else {
            Vec::new()
        }
    };
    let mut grid = vec![start, end];
    grid.extend(inside(rate));
    grid.extend(inside(mask));
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    let (mut vals, mut durs) = (Vec::new(), Vec::new());
    for w in grid.windows(2) {
        let d = w[1] - w[0];
        if d > 0.0 && at(mask, w[0]) > 0.0 {
            vals.push(at(rate, w[0]));
            durs.push(d);
        }
    }
    let active: f64 = servebench_metrics::sum(&durs);
    weighted(&vals, &durs, active)
}

/// One record as the sweeps see it (aiperf's column store): times in ns as
/// floats, tokens NaN when unknown.
struct Row {
    start: f64,
    end: f64,
    /// `start + TTFT`, NaN without a content chunk.
    gen: f64,
    isl: f64,
    osl: f64,
    /// Inter-chunk gaps, ns.
    icl: Vec<f64>,
}

impl Row {
    fn new(r: &RequestRecord) -> Row {
        let ok = is_success(r);
        let tokens = |v: Option<u64>| v.filter(|_| ok).map_or(f64::NAN, |v| v as f64);
        Row {
            start: r.request_start_ns as f64,
            end: r.request_end_ns as f64,
            // aiperf: float(request_start_ns + ttft_ns), the integer sum
            // rounded once.
            gen: r.content_chunk_ns.first().map_or(f64::NAN, |&f| f as f64),
            isl: tokens(r.usage_prompt_tokens),
            osl: tokens(r.usage_completion_tokens),
            icl: r
                .content_chunk_ns
                .windows(2)
                .map(|w| w[1].saturating_sub(w[0]) as f64)
                .collect(),
        }
    }
}

fn concurrency(pairs: impl Iterator<Item = (f64, f64)>) -> Curve {
    let pairs: Vec<(f64, f64)> = pairs.filter(|(a, b)| !a.is_nan() && !b.is_nan()).collect();
    let mut ev: Vec<(f64, f64)> = pairs.iter().map(|p| (p.0, 1.0)).collect();
    ev.extend(pairs.iter().map(|p| (p.1, -1.0)));
    sweep(ev)
}

/// Rate events `(from, to, rate)`: `+rate` at every `from`, then `-rate`
/// at every `to` (aiperf's concatenation order).
fn rate_events(spans: &[(f64, f64, f64)]) -> Vec<(f64, f64)> {
    let mut ev: Vec<(f64, f64)> = spans.iter().map(|s| (s.0, s.2)).collect();
    ev.extend(spans.iter().map(|s| (s.1, -s.2)));
    ev
}

fn prefill_spans(rows: &[Row]) -> Vec<(f64, f64, f64)> {
    rows.iter()
        .filter(|r| !r.isl.is_nan() && !r.gen.is_nan() && r.gen - r.start > 0.0)
        .map(|r| (r.start, r.gen, r.isl / (r.gen - r.start)))
        .collect()
}

fn decode_spans(rows: &[Row]) -> Vec<(f64, f64, f64)> {
    rows.iter()
        .filter(|r| !r.gen.is_nan() && !r.osl.is_nan() && r.end - r.gen > 0.0 && r.osl >= 1.0)
        .map(|r| (r.gen, r.end, (r.osl - 1.0) / (r.end - r.gen)))
        .collect()
}

/// Decode throughput per content chunk: a record's `osl - 1` tokens spread
/// over its non-zero gaps, each at `tokens / gap`.
fn decode_spans_icl(rows: &[Row]) -> Vec<(f64, f64, f64)> {
    let mut spans = Vec::new();
    for r in rows {
        if r.gen.is_nan() || r.osl.is_nan() || r.osl < 1.0 {
            continue;
        }
        let nonzero = r.icl.iter().filter(|g| **g > 0.0).count();
        if nonzero == 0 {
            continue;
        }
        let per_msg = (r.osl - 1.0) / nonzero as f64;
        let mut cs = 0.0;
        for &g in &r.icl {
            cs += g;
            if g > 0.0 {
                let end = r.gen + cs;
                spans.push((end - g, end, per_msg / g));
            }
        }
    }
    spans
}

/// KV tokens held: the prompt from the start, output tokens from the first
/// token (at once, or per chunk with `icl`), all freed at the end.
fn tokens_in_flight(rows: &[Row], icl: bool) -> Curve {
    let pf_valid = |r: &Row| !r.isl.is_nan() && !r.gen.is_nan() && r.gen > r.start;
    let mut ev = Vec::new();
    if !icl {
        let has_gen = |r: &Row| !r.gen.is_nan() && !r.osl.is_nan() && r.end - r.gen > 0.0;
        ev.extend(
            rows.iter()
                .filter(|r| pf_valid(r))
                .map(|r| (r.start, r.isl)),
        );
        ev.extend(rows.iter().filter(|r| has_gen(r)).map(|r| (r.gen, r.osl)));
        for r in rows {
            match (pf_valid(r), has_gen(r)) {
                (true, true) => ev.push((r.end, -(r.isl + r.osl))),
                (true, false) => ev.push((r.end, -r.isl)),
                (false, true) => ev.push((r.end, -r.osl)),
                (false, false) => {}
            }
        }
        return sweep(ev);
    }
    let chunk_ok = |r: &Row| !r.gen.is_nan() && !r.osl.is_nan() && r.osl >= 1.0;
    let has_icl = |r: &Row| chunk_ok(r) && !r.icl.is_empty();
    // The first chunk's token at the first-token instant.
    ev.extend(rows.iter().filter(|r| has_icl(r)).map(|r| (r.gen, 1.0)));
    for r in rows.iter().filter(|r| has_icl(r)) {
        let per_chunk = (r.osl - 1.0) / r.icl.len() as f64;
        let mut cs = 0.0;
        for &g in &r.icl {
            cs += g;
            let mut t = r.gen + cs;
            // A chunk stamped at or after the end would be freed before it
            // is added; aiperf moves it just before the end.
            if t >= r.end {
                t = next_down(r.end);
            }
            ev.push((t, per_chunk));
        }
    }
    ev.extend(
        rows.iter()
            .filter(|r| pf_valid(r))
            .map(|r| (r.start, r.isl)),
    );
    for r in rows {
        match (pf_valid(r), has_icl(r)) {
            (true, true) => ev.push((r.end, -(r.isl + r.osl))),
            (true, false) => ev.push((r.end, -r.isl)),
            (false, true) => ev.push((r.end, -r.osl)),
            (false, false) => {}
        }
    }
    sweep(ev)
}

/// `np.nextafter(x, -inf)` for a positive finite `x`.
fn next_down(x: f64) -> f64 {
    if x > 0.0 && x.is_finite() {
        f64::from_bits(x.to_bits() - 1)
    } else {
        x
    }
}

fn block(unit: &str, s: Stats, scale: f64) -> Value {
    let num = |v: f64| serde_json::Number::from_f64(v * scale).map_or(Value::Null, Value::Number);
    json!({
        "unit": unit,
        "avg": num(s.avg),
        "p50": num(s.p50),
        "p90": num(s.p90),
        "p95": num(s.p95),
        "p99": num(s.p99),
        "min": num(s.min),
        "max": num(s.max),
        "std": num(s.std),
    })
}

/// The sweep metrics of one phase's records within `window` (epoch ns;
/// `None`: from the first to the last request event). `use_icl`: whether
/// the run recorded inter-chunk gaps at all (aiperf decides per run).
pub(super) fn metrics(
    records: &[&RequestRecord],
    window: Option<(u64, u64)>,
    use_icl: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    let rows: Vec<Row> = records.iter().map(|r| Row::new(r)).collect();
    let conc = concurrency(rows.iter().map(|r| (r.start, r.end)));
    let (Some(&first), Some(&last)) = (conc.ts.first(), conc.ts.last()) else {
        return out;
    };
    let (ws, we) = window.map_or((first, last), |(a, b)| (a as f64, b as f64));
    let gen_conc = concurrency(rows.iter().map(|r| (r.gen, r.end)));
    let prefill_conc = concurrency(rows.iter().map(|r| (r.start, r.gen)));
    let decode = if use_icl {
        sweep(rate_events(&decode_spans_icl(&rows)))
    } else {
        sweep(rate_events(&decode_spans(&rows)))
    };
    let prefill = sweep(rate_events(&prefill_spans(&rows)));
    let mut total_ev = rate_events(&prefill_spans(&rows));
    total_ev.extend(rate_events(&decode_spans(&rows)));
    let total = sweep(total_ev);
    let decode_per_user = divide(&decode, &gen_conc);
    let prefill_per_user = divide(&prefill, &prefill_conc);
    let tif = tokens_in_flight(&rows, use_icl);

    let tw = |c: &Curve| time_weighted(c, ws, we);
    let entries: [(&str, &str, Stats, f64); 14] = [
        ("effective_concurrency", "requests", tw(&conc), 1.0),
        (
            "effective_decode_throughput",
            "tokens/sec",
            tw(&decode),
            NS_PER_S,
        ),
        (
            "effective_prefill_throughput",
            "tokens/sec",
            tw(&prefill),
            NS_PER_S,
        ),
        (
            "effective_decode_concurrency",
            "requests",
            tw(&gen_conc),
            1.0,
        ),
        (
            "effective_prefill_concurrency",
            "requests",
            tw(&prefill_conc),
            1.0,
        ),
        (
            "effective_total_throughput",
            "tokens/sec",
            tw(&total),
            NS_PER_S,
        ),
        (
            "effective_decode_throughput_per_user",
            "tokens/sec/user",
            tw(&decode_per_user),
            NS_PER_S,
        ),
        (
            "effective_prefill_throughput_per_user",
            "tokens/sec/user",
            tw(&prefill_per_user),
            NS_PER_S,
        ),
        ("tokens_in_flight", "tokens", tw(&tif), 1.0),
        (
            "active_decode_throughput",
            "tokens/sec",
            active_weighted(&decode, &gen_conc, ws, we),
            NS_PER_S,
        ),
        (
            "active_prefill_throughput",
            "tokens/sec",
            active_weighted(&prefill, &prefill_conc, ws, we),
            NS_PER_S,
        ),
        (
            "active_decode_throughput_per_user",
            "tokens/sec/user",
            active_weighted(&decode_per_user, &gen_conc, ws, we),
            NS_PER_S,
        ),
        (
            "active_prefill_throughput_per_user",
            "tokens/sec/user",
            active_weighted(&prefill_per_user, &prefill_conc, ws, we),
            NS_PER_S,
        ),
        (
            "active_total_throughput",
            "tokens/sec",
            active_weighted(&total, &conc, ws, we),
            NS_PER_S,
        ),
    ];
    for (name, unit, stats, scale) in entries {
        out.insert(name.into(), block(unit, stats, scale));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(f64, f64)]) -> Curve {
        Curve {
            ts: points.iter().map(|p| p.0).collect(),
            vals: points.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn sweep_puts_ends_before_starts() {
        // [0, 10) and [10, 20): never two at once.
        let c = sweep(vec![(0.0, 1.0), (10.0, 1.0), (10.0, -1.0), (20.0, -1.0)]);
        assert_eq!(c.vals, vec![1.0, 0.0, 1.0, 0.0]);
        assert_eq!(c.ts, vec![0.0, 10.0, 10.0, 20.0]);
    }

    #[test]
    fn time_weighted_statistics() {
        // 1 for 0..10, 3 for 10..20, 0 for 20..40 in a [0, 40] window.
        let c = curve(&[(0.0, 1.0), (10.0, 3.0), (20.0, 0.0)]);
        let s = time_weighted(&c, 0.0, 40.0);
        assert_eq!(s.avg, 1.0);
        assert_eq!((s.min, s.max), (0.0, 3.0));
        // Half the time at 0: p50 is 0; p90 falls in the 3s.
        assert_eq!((s.p50, s.p90), (0.0, 3.0));
        let var: f64 = (10.0 * 0.0 + 10.0 * 4.0 + 20.0 * 1.0) / 40.0;
        assert!((s.std - var.sqrt()).abs() < 1e-12);
        // Clipped to [5, 15]: 1 for 5, 3 for 5.
        let s = time_weighted(&c, 5.0, 15.0);
        assert_eq!(s.avg, 2.0);
    }

    #[test]
    fn active_weighting_skips_idle_time() {
        let rate = curve(&[(0.0, 4.0), (10.0, 0.0)]);
        let mask = curve(&[(0.0, 1.0), (10.0, 0.0)]);
        let s = active_weighted(&rate, &mask, 0.0, 100.0);
        assert_eq!((s.avg, s.p50, s.std), (4.0, 4.0, 0.0));
        assert_eq!(time_weighted(&rate, 0.0, 100.0).avg, 0.4);
    }

    #[test]
    fn divide_is_zero_where_the_denominator_is() {
        let q = divide(
            &curve(&[(0.0, 6.0), (5.0, 0.0)]),
            &curve(&[(0.0, 2.0), (3.0, 0.0)]),
        );
        assert_eq!(q.ts, vec![0.0, 3.0, 5.0]);
        assert_eq!(q.vals, vec![3.0, 0.0, 0.0]);
    }
}
