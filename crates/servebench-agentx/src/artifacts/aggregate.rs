//! `profile_export_aiperf.json` (SPEC §4.2): statistics over the profiling
//! records (and, under `warmup_metrics`, over the warm-up ones), the run's
//! stamp and window.
//!
//! Statistics reproduce aiperf 0.13.0, checked on the sample run: `avg`,
//! `sum` and `std` are numpy's (pairwise sums, population std), `pN` numpy's
//! linear percentile; `count` is the number of values (a record contributes
//! each of its `inter_chunk_latency` gaps). Throughputs divide by the phase
//! window the scheduler reports; `benchmark_duration` is last end minus
//! first start of the phase's records.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::per_record::{error_details, error_json, is_success, metrics, osl_mismatched};
use super::{is_context_overflow, RunInfo, CONTEXT_OVERFLOW_MAX_RATIO, SCHEMA_VERSION};
use super::{REASON_CONTEXT_OVERFLOW, REASON_RUN_CANCELLED};
use crate::record::{Phase, RequestRecord};

/// Percentiles of a full statistics block, in aiperf's key order.
pub(super) const PERCENTILES: [(&str, f64); 9] = [
    ("p1", 1.0),
    ("p5", 5.0),
    ("p10", 10.0),
    ("p25", 25.0),
    ("p50", 50.0),
    ("p75", 75.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
];

/// Order of the per-record metrics in the aggregate (aiperf's, where the
/// sample shows one); metrics not listed follow in name order.
const STAT_ORDER: [&str; 25] = [
    "request_latency",
    "time_to_first_token",
    "time_to_second_token",
    "inter_token_latency",
    "full_response_inter_token_latency",
    "output_token_throughput_per_user",
    "output_sequence_length",
    "input_sequence_length",
    "output_token_count",
    "inter_chunk_latency",
    "http_req_duration",
    "time_to_first_output_token",
    "usage_total_tokens",
    "http_req_receiving",
    "usage_prompt_tokens",
    "usage_completion_tokens",
    "http_req_data_received",
    "http_req_waiting",
    "http_req_data_sent",
    "e2e_output_token_throughput",
    "prefill_throughput_per_user",
    "decode_duration",
    "osl_mismatch_diff_pct",
    "credit_to_start_latency",
    "effective_latency",
];

const NS_PER_S: f64 = 1_000_000_000.0;

/// `{unit, avg, p1..p99, min, max, std, count, sum}` of `xs` (non-empty).
fn stats_block(unit: &str, xs: &[f64]) -> Value {
    let mut m = Map::new();
    m.insert("unit".into(), unit.into());
    m.insert("avg".into(), num(servebench_metrics::mean(xs)));
    for (key, p) in PERCENTILES {
        m.insert(key.into(), num(servebench_metrics::percentile(xs, p)));
    }
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m.insert("min".into(), num(min));
    m.insert("max".into(), num(max));
    m.insert("std".into(), num(servebench_metrics::std(xs)));
    m.insert("count".into(), xs.len().into());
    m.insert("sum".into(), num(servebench_metrics::sum(xs)));
    Value::Object(m)
}

fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A scalar metric: `{unit, avg}`.
fn scalar(unit: &str, v: f64) -> Value {
    json!({"unit": unit, "avg": num(v)})
}

fn secs(ns: u64) -> f64 {
    ns as f64 / NS_PER_S
}

/// The metrics block of one phase: per-record statistics over its
/// successes, counts, totals and throughputs over `window_ns`.
fn phase_metrics(
    records: &[&RequestRecord],
    window: Option<(u64, u64)>,
    use_icl: bool,
) -> Map<String, Value> {
    let window_ns = window.and_then(|(a, b)| b.checked_sub(a));
    let ok: Vec<&RequestRecord> = records.iter().copied().filter(|r| is_success(r)).collect();
    let errors = records.len().saturating_sub(ok.len());

    let mut samples: BTreeMap<&'static str, (&'static str, Vec<f64>)> = BTreeMap::new();
    for r in &ok {
        for m in metrics(r) {
            samples
                .entry(m.name)
                .or_insert((m.unit, Vec::new()))
                .1
                .extend(m.value.samples());
        }
        let credit_to_start = r.request_start_ns.saturating_sub(r.credit_issued_ns) as f64 / 1e6;
        let effective = r.request_end_ns.saturating_sub(r.credit_issued_ns) as f64 / 1e6;
        samples
            .entry("credit_to_start_latency")
            .or_insert(("ms", Vec::new()))
            .1
            .push(credit_to_start);
        samples
            .entry("effective_latency")
            .or_insert(("ms", Vec::new()))
            .1
            .push(effective);
    }

    let sum_u = |f: fn(&RequestRecord) -> Option<u64>| -> f64 {
        ok.iter().filter_map(|r| f(r)).map(|v| v as f64).sum()
    };
    let total_isl = sum_u(|r| r.usage_prompt_tokens);
    let total_osl = sum_u(|r| r.usage_completion_tokens);
    let total_usage = sum_u(|r| r.usage_total_tokens);
    let window_s = window_ns.map(secs).filter(|w| *w > 0.0);
    let rate = |x: f64| window_s.map(|w| x / w);
    let duration_ns = match (
        records.iter().map(|r| r.request_start_ns).min(),
        records.iter().map(|r| r.request_end_ns).max(),
    ) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };

    let mut out = Map::new();
    let put_scalar = |out: &mut Map<String, Value>, key: &str, unit: &str, v: Option<f64>| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            out.insert(key.into(), scalar(unit, v));
        }
    };
    put_scalar(
        &mut out,
        "request_throughput",
        "requests/sec",
        rate(ok.len() as f64),
    );
    put_scalar(&mut out, "request_count", "requests", Some(ok.len() as f64));
    if errors > 0 {
        // aiperf writes it only when there were errors; readers take a
        // missing one as 0 (SPEC §4.2).
        put_scalar(
            &mut out,
            "error_request_count",
            "requests",
            Some(errors as f64),
        );
    }
    put_scalar(
        &mut out,
        "output_token_throughput",
        "tokens/sec",
        rate(total_osl),
    );
    put_scalar(&mut out, "total_output_tokens", "tokens", Some(total_osl));
    put_scalar(&mut out, "benchmark_duration", "sec", duration_ns.map(secs));
    put_scalar(&mut out, "total_isl", "tokens", Some(total_isl));
    put_scalar(&mut out, "total_osl", "tokens", Some(total_osl));

    let mut names: Vec<&'static str> = STAT_ORDER
        .iter()
        .copied()
        .filter(|n| samples.contains_key(n))
        .collect();
    names.extend(samples.keys().copied().filter(|n| !STAT_ORDER.contains(n)));
    for name in names {
        if let Some((unit, xs)) = samples.get(name).filter(|(_, xs)| !xs.is_empty()) {
            out.insert(name.into(), stats_block(unit, xs));
        }
    }

    let mismatches = ok.iter().filter(|r| osl_mismatched(r)).count();
    put_scalar(
        &mut out,
        "osl_mismatch_count",
        "requests",
        Some(mismatches as f64),
    );
    put_scalar(
        &mut out,
        "total_usage_total_tokens",
        "tokens",
        Some(total_usage),
    );
    put_scalar(
        &mut out,
        "total_usage_prompt_tokens",
        "tokens",
        Some(total_isl),
    );
    put_scalar(
        &mut out,
        "total_usage_completion_tokens",
        "tokens",
        Some(total_osl),
    );
    let completed = records.len();
    put_scalar(
        &mut out,
        "completed_request_count",
        "requests",
        Some(completed as f64),
    );
    let error_rate = if completed > 0 {
        errors as f64 / completed as f64 * 100.0
    } else {
        0.0
    };
    put_scalar(&mut out, "request_error_rate", "%", Some(error_rate));
    put_scalar(
        &mut out,
        "input_token_throughput",
        "tokens/sec",
        rate(total_isl),
    );
    put_scalar(
        &mut out,
        "total_token_throughput",
        "tokens/sec",
        rate(total_isl + total_osl),
    );
    out.extend(super::sweep::metrics(records, window, use_icl));
    if let Some(hit) = prefix_cache_hit(records) {
        out.insert("theoretical_prefix_cache_hit".into(), hit);
    }
    out
}

/// `theoretical_prefix_cache_hit` over one phase's records: `count` hash
/// ids looked up, `sum` of them already seen, `avg` the percentage. A
/// record's hits are its [`RequestRecord::prior_hit_blocks`]; a record
/// without them falls back to a per-trace seen-set over the phase's
/// records in start order (SPEC §4.2's documented definition).
fn prefix_cache_hit(records: &[&RequestRecord]) -> Option<Value> {
    let mut order: Vec<&RequestRecord> = records.to_vec();
    order.sort_by_key(|r| (r.request_start_ns, r.credit_issued_ns));
    let mut seen: HashMap<&str, HashSet<u64>> = HashMap::new();
    let (mut count, mut hits) = (0u64, 0u64);
    for r in order {
        let set = seen.entry(r.source_trace_id.as_str()).or_default();
        let fallback = r.hash_ids.iter().filter(|h| set.contains(h)).count();
        set.extend(r.hash_ids.iter().copied());
        let n = u64::try_from(r.hash_ids.len()).unwrap_or(u64::MAX);
        let h = r
            .prior_hit_blocks
            .unwrap_or_else(|| u64::try_from(fallback).unwrap_or(u64::MAX))
            .min(n);
        count = count.saturating_add(n);
        hits = hits.saturating_add(h);
    }
    if count == 0 {
        return None;
    }
    Some(json!({
        "unit": "%",
        // 100·sum/count in this order: aiperf's rounding (27 of 47 gives
        // 57.4468085106383, not sum/count·100's ...306).
        "avg": num(100.0 * hits as f64 / count as f64),
        "count": count,
        "sum": hits,
    }))
}

/// `error_summary`: one entry per distinct error, most frequent first.
fn error_summary(profiled: &[&RequestRecord]) -> Value {
    let mut counts: BTreeMap<(Option<u16>, String, String), u64> = BTreeMap::new();
    for r in profiled {
        if let Some(e) = error_details(r) {
            let c = counts.entry((e.code, e.kind, e.message)).or_insert(0);
            *c = c.saturating_add(1);
        }
    }
    let mut list: Vec<_> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Value::Array(
        list.into_iter()
            .map(|((code, kind, message), count)| {
                let e = crate::record::RecordError {
                    code,
                    kind,
                    message,
                };
                json!({"error_details": error_json(&e), "count": count})
            })
            .collect(),
    )
}

/// `branch_stats` as far as the records show it: child sessions (rows with
/// a parent) spawned, errored, cut short and completed.
fn derived_branch_stats(records: &[RequestRecord]) -> Value {
    let mut children: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.parent_correlation_id.is_some()) {
        let c = children.entry(r.x_correlation_id.as_str()).or_default();
        c.0 |= r.error.is_some();
        c.1 |= r.was_cancelled && r.error.is_none();
    }
    let spawned = children.len();
    let errored = children.values().filter(|c| c.0).count();
    let truncated = children.values().filter(|c| !c.0 && c.1).count();
    let completed = spawned.saturating_sub(errored).saturating_sub(truncated);
    let parents: HashSet<&str> = records
        .iter()
        .filter_map(|r| r.parent_correlation_id.as_deref())
        .collect();
    json!({
        "children_spawned": spawned,
        "children_completed": completed,
        "children_errored": errored,
        "children_truncated": truncated,
        "children_delayed": 0,
        "parents_suspended": parents.len(),
        "parents_resumed": parents.len(),
        "parents_failed_due_to_child_error": 0,
        "joins_suppressed": 0,
        "graphs_admitted": 0,
        "graphs_completed_to_end": 0,
    })
}

/// Python's `datetime.fromtimestamp(ns / 1e9).isoformat()`: naive local
/// time, microseconds (rounded to the nearest: the sample's
/// 18:01:19.099953 is ...099952754 ns) written only when non-zero.
pub(crate) fn local_iso(ns: u64) -> String {
    let micros = ns.saturating_add(500) / 1000;
    let secs = i64::try_from(micros / 1_000_000).unwrap_or(i64::MAX);
    let sub_us = u32::try_from(micros % 1_000_000).unwrap_or(0);
    let Some(utc) = chrono::DateTime::from_timestamp(secs, sub_us.saturating_mul(1000)) else {
        return String::new();
    };
    let local = utc.with_timezone(&chrono::Local).naive_local();
    if sub_us == 0 {
        local.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        local.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// The submission stamp's reasons: the run's own, then `run_cancelled`,
/// then `context_overflow_rate_exceeded` when more than 1 % of the
/// profiled responses were context overflows (SPEC §2.8, §6).
fn invalid_reasons(profiled: &[&RequestRecord], run: &RunInfo) -> Vec<String> {
    let mut reasons: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !reasons.iter().any(|r| r == s) {
            reasons.push(s.to_owned());
        }
    };
    for r in &run.invalid_reasons {
        add(r);
    }
    if run.was_cancelled {
        add(REASON_RUN_CANCELLED);
    }
    let responses = profiled
        .iter()
        .filter(|r| !(r.was_cancelled && r.error.is_none()))
        .count();
    let overflows = profiled.iter().filter(|r| is_context_overflow(r)).count();
    if responses > 0 && overflows as f64 > CONTEXT_OVERFLOW_MAX_RATIO * responses as f64 {
        add(REASON_CONTEXT_OVERFLOW);
    }
    reasons
}

/// The whole `profile_export_aiperf.json` object.
pub fn aggregate(records: &[RequestRecord], run: &RunInfo) -> Value {
    let profiled: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.phase == Phase::Profiling)
        .collect();
    let warmup: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.phase == Phase::Warmup)
        .collect();
    let profiling_window = Some((run.profiling_start_ns, run.profiling_end_ns));
    let warmup_window = match (run.warmup_start_ns, run.warmup_end_ns) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    // aiperf follows content chunks in its decode sweeps when the run
    // recorded any inter-chunk gap.
    let use_icl = records.iter().any(|r| r.content_chunk_ns.len() >= 2);

    let mut out = Map::new();
    out.insert("schema_version".into(), SCHEMA_VERSION.into());
    out.insert("aiperf_version".into(), run.aiperf_version.clone().into());
    out.insert("benchmark_id".into(), run.benchmark_id.clone().into());
    out.extend(phase_metrics(&profiled, profiling_window, use_icl));
    out.insert("input_config".into(), run.input_config.clone());
    out.insert(
        "run_info".into(),
        json!({
            "benchmark_id": run.benchmark_id,
            "random_seed": run.random_seed,
            "trial": 0,
            "cli_command": run.cli_command,
        }),
    );
    out.insert("was_cancelled".into(), run.was_cancelled.into());
    out.insert("is_complete".into(), (!run.was_cancelled).into());
    out.insert("error_summary".into(), error_summary(&profiled));
    out.insert(
        "start_time".into(),
        local_iso(run.profiling_start_ns).into(),
    );
    out.insert("end_time".into(), local_iso(run.profiling_end_ns).into());
    out.insert(
        "branch_stats".into(),
        run.branch_stats
            .clone()
            .unwrap_or_else(|| derived_branch_stats(records)),
    );
    if !warmup.is_empty() {
        out.insert(
            "warmup_metrics".into(),
            Value::Object(phase_metrics(&warmup, warmup_window, use_icl)),
        );
    }
    let reasons = invalid_reasons(&profiled, run);
    out.insert(
        "metadata".into(),
        json!({
            "scenario": run.scenario,
            "submission_valid": reasons.is_empty(),
            "submission_invalid_reasons": reasons,
        }),
    );
    Value::Object(out)
}
