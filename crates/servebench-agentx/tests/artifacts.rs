//! The artifact writer against the real aiperf 0.13.0 sample
//! (`reference/agentx/artifacts-sample/`): field sets and types of our
//! files ⊇ the sample's, and the sample's own records, fed back through
//! our aggregate, reproduce its aggregate numbers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use servebench_agentx::artifacts::{self, RunInfo};
use servebench_agentx::record::{Phase, RecordError, RequestRecord, SourceKind};
use servebench_agentx::trace::{Entry, Request, Subagent, Trace};

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/agentx")
}

fn sample_dir() -> PathBuf {
    reference().join("artifacts-sample/aiperf_artifacts")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Per-record metrics a [`RequestRecord`] has no measurement for (no
/// connection timings, no transport-level chunk counts): the writer leaves
/// them out instead of inventing values. Nobody in InferenceX reads them.
const NOT_MEASURED: [&str; 9] = [
    "http_req_sending",
    "http_req_blocked",
    "http_req_connecting",
    "http_req_dns_lookup",
    "http_req_connection_reused",
    "http_req_connection_overhead",
    "http_req_total",
    "http_req_chunks_sent",
    "http_req_chunks_received",
];

// ---------------------------------------------------------------- synthetic

const T0: u64 = 1_795_975_284_000_000_000;
const MS: u64 = 1_000_000;

#[allow(clippy::too_many_arguments)] // a test fixture: one call per row reads best
fn rec(
    phase: Phase,
    session: u64,
    conv: &str,
    turn: u32,
    outer: u32,
    inner: Option<u32>,
    start_ms: u64,
    osl: u64,
) -> RequestRecord {
    let start = T0 + start_ms * MS;
    let first = start + 21 * MS;
    let chunks: Vec<u64> = (0..osl).map(|i| first + i * MS).collect();
    let end = chunks.last().copied().unwrap_or(first) + MS / 2;
    let sub = inner.is_some();
    RequestRecord {
        session_num: session,
        x_request_id: format!("00000000-0000-4000-8000-{start_ms:012}"),
        x_correlation_id: format!("corr-{conv}"),
        conversation_id: conv.into(),
        turn_index: turn,
        source_trace_id: conv.split("::").next().unwrap().into(),
        source_outer_idx: outer,
        source_inner_idx: inner,
        source_kind: if sub {
            SourceKind::Subagent
        } else {
            SourceKind::Main
        },
        phase,
        agent_depth: u32::from(sub),
        root_correlation_id: format!("corr-{}", conv.split("::").next().unwrap()),
        parent_correlation_id: sub.then(|| format!("corr-{}", conv.split("::").next().unwrap())),
        cache_bust_marker: "marker".into(),
        hash_ids: Arc::from((0..(8 + u64::from(turn))).collect::<Vec<u64>>()),
        prior_hit_blocks: Some(6),
        max_completion_tokens: osl,
        credit_issued_ns: start - MS,
        request_start_ns: start,
        request_ack_ns: Some(start + 2 * MS),
        request_end_ns: end,
        content_chunk_ns: chunks,
        usage_prompt_tokens: Some(800 + 10 * u64::from(turn)),
        usage_completion_tokens: Some(osl),
        usage_total_tokens: Some(800 + 10 * u64::from(turn) + osl),
        bytes_sent: 3626,
        bytes_received: 700 + 220 * osl,
        was_cancelled: false,
        error: None,
    }
}

/// A small run: 3 warm-up primers (one subagent), 9 profiled successes
/// (one subagent) and 1 profiled failure.
fn synthetic() -> (Vec<RequestRecord>, RunInfo) {
    use Phase::{Profiling as P, Warmup as W};
    let mut records = vec![
        rec(W, 0, "tr-2", 1, 1, None, 0, 1),
        rec(W, 1, "tr-1", 2, 2, None, 40, 1),
        rec(W, 2, "tr-2::sa:explore_1", 1, 2, Some(1), 80, 1),
    ];
    let profiled = [
        (0, "tr-1", 3, 3, None, 5_000, 120),
        (1, "tr-3", 0, 0, None, 5_100, 60),
        (2, "tr-3", 1, 1, None, 5_900, 80),
        (3, "tr-2::sa:explore_1", 2, 2, Some(2), 6_000, 90),
        (4, "tr-2", 2, 3, None, 6_800, 40),
        (5, "tr-2", 3, 4, None, 7_400, 70),
        (6, "tr-1", 0, 0, None, 8_000, 30),
        (7, "tr-1", 1, 1, None, 8_900, 50),
        (8, "tr-1", 2, 2, None, 9_600, 75),
    ];
    for (s, conv, turn, outer, inner, at, osl) in profiled {
        records.push(rec(P, s, conv, turn, outer, inner, at, osl));
    }
    let mut bad = rec(P, 9, "tr-3", 2, 2, None, 10_500, 1);
    bad.content_chunk_ns.clear();
    bad.usage_prompt_tokens = None;
    bad.usage_completion_tokens = None;
    bad.usage_total_tokens = None;
    bad.error = Some(RecordError {
        code: Some(500),
        kind: "HTTPError".into(),
        message: "Internal Server Error".into(),
    });
    records.push(bad);
    let run = RunInfo {
        benchmark_id: "0123456789ab".into(),
        aiperf_version: "servebench-0.1.0".into(),
        random_seed: 42,
        cli_command: "agentic_replay profile --scenario inferencex-agentx-mvp".into(),
        input_config: serde_json::json!({"scenario": "inferencex-agentx-mvp"}),
        scenario: "inferencex-agentx-mvp".into(),
        invalid_reasons: vec!["unsafe_override".into()],
        was_cancelled: false,
        profiling_start_ns: T0 + 4_000 * MS,
        profiling_end_ns: T0 + 12_000 * MS,
        warmup_start_ns: Some(T0),
        warmup_end_ns: Some(T0 + 4_000 * MS),
        branch_stats: None,
    };
    (records, run)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agentx-artifacts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `theirs` (less `skip`) is in `ours` with the same JSON kind.
#[track_caller]
fn covers(what: &str, ours: &Value, theirs: &Value, skip: &dyn Fn(&str) -> bool) {
    let (o, t) = (ours.as_object().unwrap(), theirs.as_object().unwrap());
    for (k, v) in t {
        if skip(k) {
            continue;
        }
        let Some(mine) = o.get(k) else {
            panic!("{what}: missing key {k}");
        };
        assert_eq!(kind(mine), kind(v), "{what}: kind of {k}");
    }
}

#[test]
fn written_files_cover_the_sample_field_sets() {
    let (records, run) = synthetic();
    let root = scratch("fields");
    let dir = root.join("aiperf_artifacts");
    artifacts::write_all(&dir, &records, &run).unwrap();
    // AGENTX_KEEP_ARTIFACTS=<dir> keeps a copy for the InferenceX scripts.
    if let Some(keep) = std::env::var_os("AGENTX_KEEP_ARTIFACTS") {
        artifacts::write_all(Path::new(&keep), &records, &run).unwrap();
    }

    let ours = read_jsonl(&dir.join(artifacts::JSONL_FILE));
    let theirs = read_jsonl(&sample_dir().join("profile_export.jsonl"));
    assert_eq!(ours.len(), records.len());
    let pick = |set: &[Value], phase: &str, sub: bool| -> Value {
        set.iter()
            .find(|r| {
                r["metadata"]["benchmark_phase"] == phase
                    && r["metadata"].get("source_inner_idx").is_some() == sub
                    && r.get("error").is_none()
            })
            .unwrap()
            .clone()
    };
    for (phase, sub) in [
        ("warmup", false),
        ("warmup", true),
        ("profiling", false),
        ("profiling", true),
    ] {
        let (o, t) = (pick(&ours, phase, sub), pick(&theirs, phase, sub));
        let what = format!("{phase} subagent={sub}");
        assert_eq!(
            o.as_object().unwrap().keys().collect::<Vec<_>>(),
            t.as_object().unwrap().keys().collect::<Vec<_>>(),
            "{what}: top-level keys"
        );
        covers(&what, &o["metadata"], &t["metadata"], &|_| false);
        // Same metadata keys, same order: nothing extra either.
        assert_eq!(
            o["metadata"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            t["metadata"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            "{what}: metadata keys"
        );
        covers(&what, &o["metrics"], &t["metrics"], &|k| {
            NOT_MEASURED.contains(&k)
        });
        for (name, m) in t["metrics"].as_object().unwrap() {
            if let Some(mine) = o["metrics"].get(name) {
                assert_eq!(mine["unit"], m["unit"], "{what}: unit of {name}");
                assert_eq!(
                    kind(&mine["value"]),
                    kind(&m["value"]),
                    "{what}: value of {name}"
                );
                // Token counts are integers in both.
                assert_eq!(
                    mine["value"].is_u64(),
                    m["value"].is_u64(),
                    "{what}: integer-ness of {name}"
                );
            }
        }
    }
    let failed = ours.iter().find(|r| r.get("error").is_some()).unwrap();
    let e = failed["error"].as_object().unwrap();
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        ["code", "type", "message"],
        "aiperf ErrorDetails shape"
    );
    assert_eq!(failed["error"]["type"], "HTTPError");

    let agg = read_json(&dir.join(artifacts::AGGREGATE_FILE));
    let sample = read_json(&sample_dir().join("profile_export_aiperf.json"));
    let skip = |k: &str| NOT_MEASURED.contains(&k);
    covers("aggregate", &agg, &sample, &skip);
    for (k, v) in sample.as_object().unwrap() {
        if skip(k) || !v.is_object() || v.get("unit").is_none() {
            continue;
        }
        let mine = agg[k].as_object().unwrap().keys().collect::<Vec<_>>();
        let want = v.as_object().unwrap().keys().collect::<Vec<_>>();
        assert_eq!(mine, want, "statistics keys of {k}");
    }
    covers(
        "warmup_metrics",
        &agg["warmup_metrics"],
        &sample["warmup_metrics"],
        &skip,
    );
    covers("run_info", &agg["run_info"], &sample["run_info"], &|_| {
        false
    });
    covers("metadata", &agg["metadata"], &sample["metadata"], &|_| {
        false
    });
    covers(
        "branch_stats",
        &agg["branch_stats"],
        &sample["branch_stats"],
        &|_| false,
    );
    // What InferenceX reads (SPEC §4.2).
    assert_eq!(agg["request_count"]["avg"], 9.0);
    assert_eq!(agg["error_request_count"]["avg"], 1.0);
    assert_eq!(agg["completed_request_count"]["avg"], 10.0);
    assert_eq!(agg["theoretical_prefix_cache_hit"]["unit"], "%");
    assert!(agg["start_time"].as_str().unwrap() < agg["end_time"].as_str().unwrap());
    assert_eq!(
        agg["metadata"]["submission_invalid_reasons"],
        serde_json::json!(["unsafe_override"])
    );
    assert_eq!(agg["error_summary"][0]["count"], 1);

    let csv = std::fs::read_to_string(dir.join(artifacts::CSV_FILE)).unwrap();
    let sample_csv =
        std::fs::read_to_string(sample_dir().join("profile_export_aiperf.csv")).unwrap();
    let headers = |t: &str| -> Vec<String> {
        t.split("\n\n")
            .map(|s| s.lines().next().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(headers(&csv), headers(&sample_csv));
    // Our row labels are the sample's where the metric is the same.
    let labels = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter_map(|l| {
                l.rsplit_once(',')
                    .map(|_| l.split(',').next().unwrap().to_owned())
            })
            .collect()
    };
    let (mine, want) = (labels(&csv), labels(&sample_csv));
    for l in [
        "Request Latency (ms)",
        "Time to First Token (ms)",
        "Inter Chunk Latency (ms)",
        "HTTP Waiting (TTFB) (ms)",
        "Request Count",
        "Completed Requests (Success + Error)",
        "Theoretical Prefix Cache Hit (%)",
        "Benchmark Duration (sec)",
    ] {
        assert!(mine.contains(l) && want.contains(l), "{l}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn cancelled_run_writes_consistent_marked_files() {
    let (mut records, mut run) = synthetic();
    run.was_cancelled = true;
    if let Some(last) = records.last_mut() {
        last.error = None;
        last.was_cancelled = true;
    }
    let dir = scratch("cancelled");
    artifacts::write_all(&dir, &records, &run).unwrap();
    let agg = read_json(&dir.join(artifacts::AGGREGATE_FILE));
    assert_eq!(agg["was_cancelled"], true);
    assert_eq!(agg["is_complete"], false);
    assert_eq!(agg["metadata"]["submission_valid"], false);
    let reasons = agg["metadata"]["submission_invalid_reasons"]
        .as_array()
        .unwrap();
    assert!(reasons.contains(&Value::from("run_cancelled")));
    let lines = read_jsonl(&dir.join(artifacts::JSONL_FILE));
    assert_eq!(lines.len(), records.len());
    assert_eq!(lines.last().unwrap()["metadata"]["was_cancelled"], true);
    assert!(lines.last().unwrap().get("error").is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------ the sample, replayed

/// The sample's `traces/tiny.jsonl`, read into the crate's trace model
/// (only what the prefix-hit accounting needs).
fn tiny_traces() -> Vec<Trace> {
    let req = |r: &Value| Request {
        t: r["t"].as_f64().unwrap(),
        streaming: r["type"] == "s",
        model: r["model"].as_str().unwrap_or("").into(),
        input_tokens: r["in"].as_u64().unwrap(),
        output_tokens: r["out"].as_u64().unwrap(),
        hash_ids: r["hash_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_u64().unwrap())
            .collect::<Vec<_>>()
            .into(),
        api_time: None,
        think_time: None,
        ttft: None,
    };
    read_jsonl(&reference().join("traces/tiny.jsonl"))
        .iter()
        .map(|t| Trace {
            id: t["id"].as_str().unwrap().into(),
            models: vec![],
            block_size: 64,
            tool_tokens: 0,
            system_tokens: 0,
            entries: t["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    if e["type"] == "subagent" {
                        Entry::Subagent(Subagent {
                            t: e["t"].as_f64().unwrap(),
                            agent_id: e["agent_id"].as_str().unwrap().into(),
                            subagent_type: String::new(),
                            duration_ms: None,
                            status: String::new(),
                            models: vec![],
                            tool_tokens: 0,
                            system_tokens: 0,
                            requests: e["requests"].as_array().unwrap().iter().map(req).collect(),
                        })
                    } else {
                        Entry::Request(req(e))
                    }
                })
                .collect(),
        })
        .collect()
}

fn ns(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

/// A sample JSONL line back into a [`RequestRecord`]: chunk arrivals from
/// TTFT and the inter-chunk gaps, usage from the token metrics.
fn from_sample(line: &Value, traces: &[Trace]) -> RequestRecord {
    let m = &line["metadata"];
    let x = &line["metrics"];
    let u = |k: &str| m[k].as_u64();
    let s = |k: &str| m[k].as_str().unwrap().to_owned();
    let metric = |k: &str| x[k]["value"].as_f64();
    let start = u("request_start_ns").unwrap();
    let mut chunks = vec![start + ns(metric("time_to_first_token").unwrap())];
    for gap in x["inter_chunk_latency"]["value"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let last = *chunks.last().unwrap();
        chunks.push(last + ns(gap.as_f64().unwrap()));
    }
    let outer = u("source_outer_idx").unwrap() as u32;
    let inner = u("source_inner_idx").map(|i| i as u32);
    let trace_id = s("source_trace_id");
    let trace = traces.iter().find(|t| t.id == trace_id).unwrap();
    let hash_ids = match (&trace.entries[outer as usize], inner) {
        (Entry::Request(r), None) => r.hash_ids.clone(),
        (Entry::Subagent(sa), Some(i)) => sa.requests[i as usize].hash_ids.clone(),
        _ => panic!("bad source index"),
    };
    let prior = artifacts::prior_hit_blocks(trace)[&(outer, inner)];
    let osl = x["output_sequence_length"]["value"].as_u64();
    RequestRecord {
        session_num: u("session_num").unwrap(),
        x_request_id: s("x_request_id"),
        x_correlation_id: s("x_correlation_id"),
        conversation_id: s("conversation_id"),
        turn_index: u("turn_index").unwrap() as u32,
        source_trace_id: trace_id,
        source_outer_idx: outer,
        source_inner_idx: inner,
        source_kind: if inner.is_some() {
            SourceKind::Subagent
        } else {
            SourceKind::Main
        },
        phase: if m["benchmark_phase"] == "warmup" {
            Phase::Warmup
        } else {
            Phase::Profiling
        },
        agent_depth: u("agent_depth").unwrap() as u32,
        root_correlation_id: s("root_correlation_id"),
        parent_correlation_id: m["parent_correlation_id"].as_str().map(Into::into),
        cache_bust_marker: String::new(),
        hash_ids,
        prior_hit_blocks: Some(prior),
        max_completion_tokens: osl.unwrap(),
        credit_issued_ns: u("credit_issued_ns").unwrap(),
        request_start_ns: start,
        request_ack_ns: u("request_ack_ns"),
        request_end_ns: u("request_end_ns").unwrap(),
        content_chunk_ns: chunks,
        usage_prompt_tokens: x["usage_prompt_tokens"]["value"].as_u64(),
        usage_completion_tokens: x["usage_completion_tokens"]["value"].as_u64(),
        usage_total_tokens: x["usage_total_tokens"]["value"].as_u64(),
        bytes_sent: (metric("http_req_data_sent").unwrap() * 1024.0).round() as u64,
        bytes_received: (metric("http_req_data_received").unwrap() * 1024.0).round() as u64,
        was_cancelled: false,
        error: None,
    }
}

/// A naive local ISO time of the sample back to epoch ns (the offset
/// cancels out of every duration).
fn local_ns(iso: &str) -> u64 {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(iso, "%Y-%m-%dT%H:%M:%S%.f").unwrap();
    let t = chrono::Local
        .from_local_datetime(&naive)
        .earliest()
        .unwrap();
    u64::try_from(t.timestamp_nanos_opt().unwrap()).unwrap()
}

#[track_caller]
fn close(what: &str, ours: &Value, theirs: &Value, rel: f64) {
    let (a, b) = (ours.as_f64().unwrap(), theirs.as_f64().unwrap());
    assert!(
        (a - b).abs() <= rel * b.abs().max(1e-9),
        "{what}: ours {a} vs aiperf {b}"
    );
}

#[test]
fn sample_records_reproduce_the_sample_aggregate() {
    let traces = tiny_traces();
    let lines = read_jsonl(&sample_dir().join("profile_export.jsonl"));
    let records: Vec<RequestRecord> = lines.iter().map(|l| from_sample(l, &traces)).collect();
    let sample = read_json(&sample_dir().join("profile_export_aiperf.json"));

    // Per record: the sample's own metric values from our definitions.
    for (line, r) in lines.iter().zip(&records) {
        let ours = artifacts::record_json(r);
        for name in [
            "time_to_first_token",
            "time_to_second_token",
            "request_latency",
            "inter_token_latency",
            "decode_duration",
            "output_token_throughput_per_user",
            "e2e_output_token_throughput",
            "prefill_throughput_per_user",
            "osl_mismatch_diff_pct",
            "http_req_data_sent",
        ] {
            match (ours["metrics"].get(name), line["metrics"].get(name)) {
                (Some(o), Some(t)) => close(name, &o["value"], &t["value"], 1e-6),
                (None, None) => {}
                (o, t) => panic!("{name}: ours {o:?} vs aiperf {t:?}"),
            }
        }
        // Everything but the (per-process) worker ids round-trips.
        let strip = |v: &Value| {
            let mut o = v.as_object().unwrap().clone();
            o.remove("worker_id");
            o.remove("record_processor_id");
            o
        };
        assert_eq!(strip(&ours["metadata"]), strip(&line["metadata"]));
    }

    let run = RunInfo {
        benchmark_id: sample["benchmark_id"].as_str().unwrap().into(),
        aiperf_version: "0.13.0".into(),
        random_seed: 42,
        cli_command: String::new(),
        input_config: sample["input_config"].clone(),
        scenario: "inferencex-agentx-mvp".into(),
        invalid_reasons: vec!["unsafe_override".into()],
        was_cancelled: false,
        profiling_start_ns: local_ns(sample["start_time"].as_str().unwrap()),
        profiling_end_ns: local_ns(sample["end_time"].as_str().unwrap()),
        warmup_start_ns: None,
        warmup_end_ns: None,
        branch_stats: Some(sample["branch_stats"].clone()),
    };
    let agg = artifacts::aggregate(&records, &run);
    // AGENTX_KEEP_SAMPLE_ARTIFACTS=<dir>: our files for the sample's run,
    // to compare what the InferenceX scripts make of both.
    if let Some(keep) = std::env::var_os("AGENTX_KEEP_SAMPLE_ARTIFACTS") {
        artifacts::write_all(Path::new(&keep), &records, &run).unwrap();
    }
    for name in [
        "request_latency",
        "time_to_first_token",
        "time_to_second_token",
        "inter_token_latency",
        "inter_chunk_latency",
        "output_sequence_length",
        "input_sequence_length",
        "output_token_count",
        "usage_total_tokens",
        "usage_prompt_tokens",
        "usage_completion_tokens",
        "e2e_output_token_throughput",
        "prefill_throughput_per_user",
        "decode_duration",
        "output_token_throughput_per_user",
        "osl_mismatch_diff_pct",
        "time_to_first_output_token",
        "http_req_data_sent",
    ] {
        for (stat, v) in sample[name].as_object().unwrap() {
            if stat == "unit" || stat == "count" {
                assert_eq!(&agg[name][stat], v, "{name}.{stat}");
            } else {
                close(&format!("{name}.{stat}"), &agg[name][stat], v, 1e-6);
            }
        }
    }
    // The time-weighted sweeps (aiperf's ICL-aware curves).
    for name in [
        "effective_concurrency",
        "effective_decode_throughput",
        "effective_prefill_throughput",
        "effective_decode_concurrency",
        "effective_prefill_concurrency",
        "effective_total_throughput",
        "effective_decode_throughput_per_user",
        "effective_prefill_throughput_per_user",
        "tokens_in_flight",
        "active_decode_throughput",
        "active_prefill_throughput",
        "active_decode_throughput_per_user",
        "active_prefill_throughput_per_user",
        "active_total_throughput",
    ] {
        for (stat, v) in sample[name].as_object().unwrap() {
            if stat == "unit" {
                assert_eq!(&agg[name][stat], v, "{name}.{stat}");
            } else {
                // 1e-6: the window comes back from microsecond ISO times.
                close(&format!("{name}.{stat}"), &agg[name][stat], v, 1e-6);
            }
        }
    }
    for name in [
        "request_count",
        "completed_request_count",
        "total_isl",
        "total_osl",
        "total_output_tokens",
        "request_throughput",
        "output_token_throughput",
        "input_token_throughput",
        "total_token_throughput",
        "benchmark_duration",
        "osl_mismatch_count",
        "request_error_rate",
        "total_usage_total_tokens",
    ] {
        close(name, &agg[name]["avg"], &sample[name]["avg"], 1e-6);
    }
    // The prefix-hit accounting reproduces 101 of 161 exactly.
    assert_eq!(
        agg["theoretical_prefix_cache_hit"],
        sample["theoretical_prefix_cache_hit"]
    );
    assert_eq!(agg["start_time"], sample["start_time"]);
    assert_eq!(agg["end_time"], sample["end_time"]);
    assert_eq!(agg["metadata"], sample["metadata"]);
    assert_eq!(
        agg["run_info"]["benchmark_id"],
        sample["run_info"]["benchmark_id"]
    );
    close(
        "warmup request_count",
        &agg["warmup_metrics"]["request_count"]["avg"],
        &sample["warmup_metrics"]["request_count"]["avg"],
        0.0,
    );
    assert_eq!(
        agg["warmup_metrics"]["theoretical_prefix_cache_hit"],
        sample["warmup_metrics"]["theoretical_prefix_cache_hit"]
    );
    close(
        "warmup usage_total_tokens p75",
        &agg["warmup_metrics"]["usage_total_tokens"]["p75"],
        &sample["warmup_metrics"]["usage_total_tokens"]["p75"],
        1e-9,
    );
}
