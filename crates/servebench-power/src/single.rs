//! `aggregate_power`: one node's GPU metrics CSV (§4).

use crate::bench::{self, Benchmark};
use crate::csv;
use crate::exact::{exact_mean, py_round};
use crate::integrate;
use crate::py::{path_str, strip};
use crate::timestamp::{parse_power, parse_timestamp};
use crate::{AggState, Evaluation, PowerError, INTEGRATION_METHOD, TELEMETRY_LIMIT};
use servebench_pyjson::{parse_float, Dict, Value};
use std::path::{Path, PathBuf};

const MAX_GAP_S: f64 = 3.0;
const TOLERANCE: f64 = 0.05;

/// The 7 whole-deployment metrics.
pub(crate) const METRIC_KEYS: [&str; 7] = [
    "avg_power_w",
    "avg_total_gpu_power_w",
    "total_gpu_energy_j",
    "joules_per_successful_query",
    "joules_per_input_token",
    "joules_per_output_token",
    "joules_per_total_token",
];

/// What `aggregate_power` is asked to do (its command line, or
/// process_result's single-node power step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleNode {
    /// The GPU metrics CSV (`--csv`).
    pub csv: PathBuf,
    /// The bench result (`--bench-result`), echoed in the sidecar.
    pub bench_result: PathBuf,
    /// The agg file to patch (`--agg-result`).
    pub agg_result: PathBuf,
    /// `--expected-num-gpus` (G = tp × pp × pcp in process_result).
    pub expected_num_gpus: i128,
    /// `--validation-result`; `None`: `power_validation_{stem}.json` next
    /// to the bench result.
    pub validation_result: Option<PathBuf>,
}

/// A header's columns: the name, and its last position (a `dict(zip())`
/// row keeps the last of repeated names).
fn column(header: &[String], pred: impl Fn(&str) -> bool) -> Option<usize> {
    let name = header.iter().find(|h| pred(h))?;
    header.iter().rposition(|h| h == name)
}

struct Columns {
    timestamp: Option<usize>,
    power: Option<usize>,
    gpu: Option<usize>,
}

fn detect(header: &[String]) -> Columns {
    Columns {
        timestamp: column(header, |h| h.to_lowercase().contains("time")),
        power: column(header, |h| {
            let l = h.to_lowercase();
            l.contains("power") && !["limit", "cap", "max", "min"].iter().any(|x| l.contains(x))
        }),
        gpu: column(header, |h| {
            matches!(
                strip(h).to_lowercase().as_str(),
                "index" | "gpu" | "gpu_id" | "gpu_index" | "card" | "device"
            )
        }),
    }
}

/// `(row.get(col) or "")`.
fn cell(row: &[String], col: usize) -> &str {
    row.get(col).map_or("", String::as_str)
}

/// DictReader over the decoded file: (stripped header, data rows, error).
fn dict_reader(text: &str) -> (Option<Vec<String>>, Vec<Vec<String>>, Option<String>) {
    let records = csv::read(text, true);
    let mut rows = records.rows.into_iter();
    let header = rows
        .next()
        .map(|h| h.iter().map(|c| strip(c).to_owned()).collect());
    let data = rows.filter(|r| !r.is_empty()).collect();
    (header, data, records.error)
}

/// Reads a file as `open(..., errors="replace")` text.
fn read_lossy(path: &Path) -> Result<String, String> {
    servebench_files::read(path, TELEMETRY_LIMIT)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| e.to_string())
}

/// Python's `_gpu_sort_key` as a comparison: all-digit ids by value first.
pub(crate) fn gpu_order(a: &str, b: &str) -> std::cmp::Ordering {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (digits(a), digits(b)) {
        (true, true) => {
            let (x, y) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        }
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

fn push(reasons: &mut Vec<String>, r: &str) {
    if !reasons.iter().any(|x| x == r) {
        reasons.push(r.to_owned());
    }
}

#[derive(Default)]
struct Integration {
    reasons: Vec<String>,
    observed: Vec<String>,
    counts: Vec<(String, usize)>,
    gaps: Vec<(String, f64)>,
    energies: Vec<(String, f64)>,
    issues: Vec<(String, Vec<String>)>,
    total: Option<(f64, f64, f64)>,
}

/// Per-GPU readings grouped by exact timestamp, in first-seen order.
#[derive(Default)]
struct Device {
    times: Vec<(f64, Vec<f64>)>,
    index: std::collections::HashMap<u64, usize>,
}

fn key(t: f64) -> u64 {
    if t == 0.0 {
        0
    } else {
        t.to_bits()
    }
}

fn integrate_power(
    csv_path: &Path,
    b: &Benchmark,
    expected: i128,
) -> Result<Integration, PowerError> {
    let mut out = Integration::default();
    let (start, end) = (b.start, b.end);
    if expected <= 0 {
        push(&mut out.reasons, "invalid_expected_gpu_count");
    }
    let meta = std::fs::metadata(csv_path);
    match &meta {
        Ok(m) if m.is_file() => {
            if m.len() == 0 {
                push(&mut out.reasons, "telemetry_file_empty");
                return Ok(out);
            }
        }
        _ => {
            push(&mut out.reasons, "telemetry_file_missing");
            return Ok(out);
        }
    }
    let Ok(text) = read_lossy(csv_path) else {
        push(&mut out.reasons, "telemetry_file_unreadable");
        return Ok(out);
    };
    let (header, rows, error) = dict_reader(&text);
    let Some(header) = header else {
        if error.is_some() {
            push(&mut out.reasons, "telemetry_file_unreadable");
            return Ok(out);
        }
        return Ok(out).map(|mut o: Integration| {
            for r in [
                "timestamp_column_missing",
                "power_column_missing",
                "gpu_identity_column_missing",
            ] {
                push(&mut o.reasons, r);
            }
            o
        });
    };
    let cols = detect(&header);
    let mut missing = false;
    for (c, r) in [
        (cols.timestamp, "timestamp_column_missing"),
        (cols.power, "power_column_missing"),
        (cols.gpu, "gpu_identity_column_missing"),
    ] {
        if c.is_none() {
            push(&mut out.reasons, r);
            missing = true;
        }
    }
    let (Some(tc), Some(pc), Some(gc)) = (cols.timestamp, cols.power, cols.gpu) else {
        return Ok(out);
    };
    if missing {
        return Ok(out);
    }
    let mut devices: Vec<(String, Device)> = Vec::new();
    let mut device_index: std::collections::HashMap<String, usize> = Default::default();
    let mut missing_identity = false;
    for row in &rows {
        let ts = match parse_timestamp(cell(row, tc)).map_err(|_| PowerError::DateOutOfRange)? {
            Some(t) if t.is_finite() => t,
            _ => {
                push(&mut out.reasons, "invalid_timestamp_sample");
                continue;
            }
        };
        if ts < start - MAX_GAP_S || ts > end + MAX_GAP_S {
            continue;
        }
        let power = match parse_power(cell(row, pc)) {
            Some(p) if p.is_finite() && p >= 0.0 => p,
            _ => {
                push(&mut out.reasons, "invalid_power_sample");
                continue;
            }
        };
        let gpu = strip(cell(row, gc));
        if gpu.is_empty() {
            missing_identity = true;
            continue;
        }
        let di = *device_index.entry(gpu.to_owned()).or_insert_with(|| {
            devices.push((gpu.to_owned(), Device::default()));
            devices.len() - 1
        });
        let dev = &mut devices[di].1;
        let ti = *dev.index.entry(key(ts)).or_insert_with(|| {
            dev.times.push((ts, Vec::new()));
            dev.times.len() - 1
        });
        dev.times[ti].1.push(power);
    }
    if error.is_some() {
        push(&mut out.reasons, "telemetry_file_unreadable");
        return Ok(Integration {
            reasons: out.reasons,
            ..Integration::default()
        });
    }
    if missing_identity {
        push(&mut out.reasons, "gpu_identity_missing");
    }
    if devices.is_empty() {
        push(&mut out.reasons, "no_usable_power_samples");
        return Ok(out);
    }
    devices.sort_by(|a, b| gpu_order(&a.0, &b.0));
    if expected > 0 && devices.len() as i128 != expected {
        push(&mut out.reasons, "expected_gpu_count_mismatch");
    }
    for (gpu, dev) in &devices {
        let mut samples: Vec<(f64, f64)> = dev
            .times
            .iter()
            .map(|(t, ps)| (*t, exact_mean(ps)))
            .collect();
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.counts.push((gpu.clone(), samples.len()));
        let mut issues = Vec::new();
        if samples.len() < 2 {
            issues.push("insufficient_power_samples");
        } else if samples[0].0 > start || samples[samples.len() - 1].0 < end {
            issues.push("benchmark_window_not_bracketed");
        } else {
            let gap = integrate::max_gap_bracketed(&samples, start, end);
            out.gaps.push((gpu.clone(), gap));
            if gap > MAX_GAP_S {
                issues.push("sampling_gap_exceeded");
            }
            let energy = integrate::integrate(&samples, start, end)
                .ok_or(PowerError::Internal("timestamp is not bracketed".into()))?;
            out.energies.push((gpu.clone(), energy));
        }
        for i in &issues {
            push(&mut out.reasons, i);
        }
        if !issues.is_empty() {
            out.issues
                .push((gpu.clone(), issues.iter().map(|s| s.to_string()).collect()));
        }
    }
    out.observed = devices.into_iter().map(|(g, _)| g).collect();
    if out.energies.len() == out.observed.len() {
        let total = out.energies.iter().fold(0.0, |a, (_, e)| a + e);
        let avg_total = total / (end - start);
        let avg = avg_total / out.observed.len() as f64;
        out.total = Some((avg, avg_total, total));
    }
    Ok(out)
}

/// One `amd-smi metric -E` snapshot: gpu → joules, `None` when unusable.
fn read_snapshot(path: &Path) -> Result<Option<Vec<(String, f64)>>, ()> {
    let text = read_lossy(path).map_err(|_| ())?;
    let (header, rows, error) = dict_reader(&text);
    let Some(header) = header else {
        return if error.is_some() { Err(()) } else { Ok(None) };
    };
    let (Some(gc), Some(ec)) = (
        header.iter().rposition(|h| h == "gpu"),
        header.iter().rposition(|h| h == "total_energy_consumption"),
    ) else {
        return Ok(None);
    };
    let mut out: Vec<(String, f64)> = Vec::new();
    for row in &rows {
        let gpu = strip(cell(row, gc));
        if gpu.is_empty() {
            continue;
        }
        let Some(e) = parse_float(strip(cell(row, ec))) else {
            continue;
        };
        if e.is_finite() {
            match out.iter_mut().find(|(g, _)| g == gpu) {
                Some(slot) => slot.1 = e,
                None => out.push((gpu.to_owned(), e)),
            }
        }
    }
    if error.is_some() {
        return Err(());
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Every parseable sample per GPU, sorted.
type Stream = Vec<(String, Vec<(f64, f64)>)>;

fn stream(csv_path: &Path) -> Result<Result<Stream, ()>, PowerError> {
    let Ok(text) = read_lossy(csv_path) else {
        return Ok(Err(()));
    };
    let (header, rows, error) = dict_reader(&text);
    let cols = detect(&header.unwrap_or_default());
    let (Some(tc), Some(pc), Some(gc)) = (cols.timestamp, cols.power, cols.gpu) else {
        return Ok(if error.is_some() {
            Err(())
        } else {
            Ok(Vec::new())
        });
    };
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for row in &rows {
        let t = parse_timestamp(cell(row, tc)).map_err(|_| PowerError::DateOutOfRange)?;
        let p = parse_power(cell(row, pc));
        let gpu = strip(cell(row, gc));
        let (Some(t), Some(p)) = (t, p) else {
            continue;
        };
        if gpu.is_empty() || !t.is_finite() || !p.is_finite() {
            continue;
        }
        match out.iter_mut().find(|(g, _)| g == gpu) {
            Some(slot) => slot.1.push((t, p)),
            None => out.push((gpu.to_owned(), vec![(t, p)])),
        }
    }
    if error.is_some() {
        return Ok(Err(()));
    }
    for (_, s) in &mut out {
        s.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
    Ok(Ok(out))
}

fn unavailable(reason: &str) -> Value {
    let mut d = Dict::new();
    d.insert("available", Value::Bool(false));
    d.insert("reason", Value::from(reason));
    Value::Dict(d)
}

fn sorted_ids(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_by(|a, b| gpu_order(a, b));
    ids
}

fn strs(ids: &[String]) -> Value {
    Value::List(ids.iter().map(|s| Value::from(s.as_str())).collect())
}

/// The advisory accumulator cross-check (§4.8).
fn cross_check(csv_path: &Path) -> Result<Value, PowerError> {
    let name = crate::py::name(csv_path);
    let stem = crate::py::stem_of(&name).to_owned();
    let (Some(start_path), Some(end_path)) = (
        crate::py::with_name(csv_path, &format!("{stem}_energy_start.csv")),
        crate::py::with_name(csv_path, &format!("{stem}_energy_end.csv")),
    ) else {
        return Err(PowerError::Internal(format!(
            "{} has an empty name",
            path_str(csv_path)
        )));
    };
    let is_file = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file());
    match (is_file(&start_path), is_file(&end_path)) {
        (false, false) => return Ok(Value::Null),
        (false, true) => return Ok(unavailable("missing_start_snapshot")),
        (true, false) => return Ok(unavailable("missing_end_snapshot")),
        (true, true) => {}
    }
    let start = match read_snapshot(&start_path) {
        Err(()) => return Ok(unavailable("cross_check_error")),
        Ok(None) => return Ok(unavailable("unparseable_start_snapshot")),
        Ok(Some(s)) => s,
    };
    let end = match read_snapshot(&end_path) {
        Err(()) => return Ok(unavailable("cross_check_error")),
        Ok(None) => return Ok(unavailable("unparseable_end_snapshot")),
        Ok(Some(s)) => s,
    };
    let get = |v: &[(String, f64)], g: &str| v.iter().find(|(x, _)| x == g).map(|x| x.1);
    let matched = sorted_ids(
        start
            .iter()
            .filter(|(g, _)| get(&end, g).is_some())
            .map(|(g, _)| g.clone())
            .collect(),
    );
    let deltas: Vec<(String, f64)> = matched
        .iter()
        .map(|g| {
            (
                g.clone(),
                get(&end, g).unwrap_or(0.0) - get(&start, g).unwrap_or(0.0),
            )
        })
        .collect();
    let unmatched = sorted_ids(
        start
            .iter()
            .filter(|(g, _)| get(&end, g).is_none())
            .chain(end.iter().filter(|(g, _)| get(&start, g).is_none()))
            .map(|(g, _)| g.clone())
            .collect(),
    );
    let negative: Vec<String> = deltas
        .iter()
        .filter(|(_, d)| *d < 0.0)
        .map(|(g, _)| g.clone())
        .collect();
    let stream = match stream(csv_path)? {
        Ok(s) => s,
        Err(()) => return Ok(unavailable("cross_check_error")),
    };
    let integrated = sorted_ids(
        stream
            .iter()
            .filter(|(g, _)| deltas.iter().any(|(d, _)| d == g))
            .map(|(g, _)| g.clone())
            .collect(),
    );
    let samples_of = |g: &str| {
        stream
            .iter()
            .find(|(x, _)| x == g)
            .map_or(&[][..], |x| x.1.as_slice())
    };
    let integrated_j = integrated
        .iter()
        .map(|g| integrate::trapezoid(samples_of(g)))
        .fold(0.0, |a, b| a + b);
    let mut bounds = Vec::new();
    for g in &integrated {
        let s = samples_of(g);
        if let (Some(f), Some(l)) = (s.first(), s.last()) {
            bounds.push(f.0);
            bounds.push(l.0);
        }
    }
    let span = if bounds.is_empty() {
        0.0
    } else {
        let max = bounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = bounds.iter().copied().fold(f64::INFINITY, f64::min);
        max - min
    };
    let delta = deltas.iter().fold(0.0, |a, (_, d)| a + d);
    let mut relative = Value::Null;
    let mut within = false;
    if delta > 0.0 {
        let e = (delta - integrated_j).abs() / delta;
        relative = Value::Float(e);
        within = negative.is_empty() && e <= TOLERANCE;
    }
    let mut d = Dict::new();
    d.insert("available", Value::Bool(true));
    d.insert("accumulator_delta_j", Value::Float(delta));
    d.insert("integrated_stream_j", Value::Float(integrated_j));
    d.insert("relative_error", relative);
    d.insert("within_tolerance", Value::Bool(within));
    d.insert("tolerance", Value::Float(TOLERANCE));
    let mut per = Dict::new();
    for (g, x) in &deltas {
        per.insert(g.as_str(), Value::Float(*x));
    }
    d.insert("per_gpu_delta_j", Value::Dict(per));
    d.insert("integrated_gpu_ids", strs(&integrated));
    d.insert("unmatched_gpus", strs(&unmatched));
    d.insert("negative_delta_gpus", strs(&negative));
    d.insert("stream_span_s", Value::Float(span));
    Ok(Value::Dict(d))
}

fn float_map(items: &[(String, f64)]) -> Value {
    let mut d = Dict::new();
    for (k, v) in items {
        d.insert(k.as_str(), Value::Float(*v));
    }
    Value::Dict(d)
}

/// Runs the single-node validation and integration on a parsed bench
/// result (`None`: unreadable or not JSON) and agg file state.
pub fn evaluate_single_node(
    req: &SingleNode,
    bench: Option<&Value>,
    agg: AggState,
) -> Result<Evaluation, PowerError> {
    let validation = match &req.validation_result {
        Some(p) => p.clone(),
        None => bench::default_sidecar(&req.bench_result).ok_or_else(|| {
            PowerError::Internal(format!("{} has an empty name", path_str(&req.bench_result)))
        })?,
    };
    let bench_dict = match bench {
        None => None,
        Some(Value::Dict(d)) => Some(d),
        Some(other) => return Err(PowerError::BenchNotObject(other.type_name())),
    };
    let (benchmark, bench_reasons) = bench::load(bench_dict);
    let integration = match &benchmark {
        None => Integration {
            reasons: bench_reasons.clone(),
            ..Integration::default()
        },
        Some(b) => integrate_power(&req.csv, b, req.expected_num_gpus)?,
    };
    let mut reasons = bench_reasons.clone();
    for r in &integration.reasons {
        push(&mut reasons, r);
    }
    let mut metrics: Vec<(String, f64)> = Vec::new();
    if reasons.is_empty() {
        if let (Some(b), Some((avg, avg_total, e))) = (&benchmark, integration.total) {
            let tokens = (b.input_tokens + b.output_tokens) as f64;
            metrics = vec![
                ("avg_power_w".into(), avg),
                ("avg_total_gpu_power_w".into(), avg_total),
                ("total_gpu_energy_j".into(), e),
                ("joules_per_successful_query".into(), e / b.completed as f64),
                ("joules_per_input_token".into(), e / b.input_tokens as f64),
                ("joules_per_output_token".into(), e / b.output_tokens as f64),
                ("joules_per_total_token".into(), e / tokens),
            ];
        }
    }
    let mut ev = Evaluation {
        tool: "aggregate_power",
        power_valid: reasons.is_empty(),
        reasons,
        failures: None,
        metrics,
        agg_path: req.agg_result.clone(),
        sidecar_path: validation,
        patched_agg: None,
        stderr: Vec::new(),
        sidecar: Dict::new(),
        observed: integration.observed.len(),
        metric_keys: METRIC_KEYS.to_vec(),
    };
    ev.apply_agg(agg)?;
    let accumulator = cross_check(&req.csv)?;

    let mut d = Dict::new();
    d.insert("schema_version", Value::Int(1));
    d.insert("power_valid", Value::Bool(ev.power_valid));
    d.insert("reasons", strs(&ev.reasons));
    d.insert("telemetry_source", bench::path_value(&req.csv));
    d.insert("benchmark_result", bench::path_value(&req.bench_result));
    d.insert("benchmark_window", bench::window_value(benchmark.as_ref()));
    d.insert("integration_method", Value::from(INTEGRATION_METHOD));
    d.insert("expected_gpu_count", Value::Int(req.expected_num_gpus));
    d.insert(
        "observed_gpu_count",
        Value::Int(integration.observed.len() as i128),
    );
    d.insert("observed_gpu_ids", strs(&integration.observed));
    let mut counts = Dict::new();
    for (g, n) in &integration.counts {
        counts.insert(g.as_str(), Value::Int(*n as i128));
    }
    d.insert("per_gpu_sample_counts", Value::Dict(counts));
    d.insert("per_gpu_max_sample_gap_s", float_map(&integration.gaps));
    d.insert("per_gpu_energy_j", float_map(&integration.energies));
    let mut issues = Dict::new();
    for (g, list) in &integration.issues {
        issues.insert(g.as_str(), strs(list));
    }
    d.insert("device_issues", Value::Dict(issues));
    d.insert("accumulator_check", accumulator);
    d.insert("metrics", ev.sidecar_metrics());
    ev.sidecar = d;
    Ok(ev)
}

pub(crate) fn round_metric(key: &str, v: f64) -> f64 {
    if key.ends_with("_w") || key.ends_with("_j") {
        py_round(v, 3)
    } else {
        py_round(v, 6)
    }
}

/// The stdout line of a valid measurement.
pub(crate) fn success_line(ev: &Evaluation) -> String {
    let m = |k: &str| ev.metrics.iter().find(|(x, _)| x == k).map_or(0.0, |x| x.1);
    let f = |x: f64| servebench_pyjson::fixed(x, 2);
    format!(
        "[aggregate_power] avg_power_w={} avg_total_gpu_power_w={} total_gpu_energy_j={} (n={}) -> {}",
        f(m("avg_power_w")),
        f(m("avg_total_gpu_power_w")),
        f(m("total_gpu_energy_j")),
        ev.observed,
        path_str(&ev.agg_path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_ids_sort_numbers_first() {
        let mut v = vec!["b", "10", "2", "a", "02"];
        v.sort_by(|a, b| gpu_order(a, b));
        assert_eq!(v, vec!["2", "02", "10", "a", "b"]);
    }

    #[test]
    fn columns_detected_like_the_original() {
        let h: Vec<String> = [
            "timestamp",
            "index",
            "power.limit [W]",
            "power.draw [W]",
            "index",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = detect(&h);
        assert_eq!((c.timestamp, c.power, c.gpu), (Some(0), Some(3), Some(4)));
    }
}
