use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::record::{Phase, RecordError, RequestRecord, SourceKind};

const T0: u64 = 1_795_975_284_000_000_000;
const MS: u64 = 1_000_000;

/// A streaming success: sent at `start_ms`, first content chunk `ttft_ms`
/// later, then `osl - 1` more chunks 1 ms apart, last byte 1 ms after.
fn ok(start_ms: u64, ttft_ms: u64, isl: u64, osl: u64) -> RequestRecord {
    let start = T0 + start_ms * MS;
    let first = start + ttft_ms * MS;
    let chunks: Vec<u64> = (0..osl).map(|i| first + i * MS).collect();
    let end = chunks.last().copied().unwrap_or(first) + MS;
    RequestRecord {
        session_num: 0,
        x_request_id: format!("req-{start_ms}"),
        x_correlation_id: "corr-a".into(),
        conversation_id: "tr-1".into(),
        turn_index: 1,
        source_trace_id: "tr-1".into(),
        source_outer_idx: 1,
        source_inner_idx: None,
        source_kind: SourceKind::Main,
        phase: Phase::Profiling,
        agent_depth: 0,
        root_correlation_id: "corr-a".into(),
        parent_correlation_id: None,
        cache_bust_marker: "m".into(),
        hash_ids: Arc::from(vec![1u64, 2, 3, 4]),
        prior_hit_blocks: Some(2),
        max_completion_tokens: osl,
        credit_issued_ns: start - 2 * MS,
        request_start_ns: start,
        request_ack_ns: Some(start + 3 * MS),
        request_end_ns: end,
        content_chunk_ns: chunks,
        usage_prompt_tokens: Some(isl),
        usage_completion_tokens: Some(osl),
        usage_total_tokens: Some(isl + osl),
        bytes_sent: 2048,
        bytes_received: 10240,
        was_cancelled: false,
        error: None,
    }
}

fn failed(start_ms: u64, code: u16, message: &str) -> RequestRecord {
    let mut r = ok(start_ms, 5, 100, 1);
    r.content_chunk_ns.clear();
    r.usage_prompt_tokens = None;
    r.usage_completion_tokens = None;
    r.usage_total_tokens = None;
    r.error = Some(RecordError {
        code: Some(code),
        kind: "HTTPError".into(),
        message: message.into(),
    });
    r
}

fn run() -> RunInfo {
    RunInfo {
        benchmark_id: "abcdef012345".into(),
        aiperf_version: "servebench-test".into(),
        random_seed: 42,
        cli_command: "agentic_replay profile".into(),
        input_config: serde_json::json!({"scenario": "inferencex-agentx-mvp"}),
        scenario: "inferencex-agentx-mvp".into(),
        invalid_reasons: vec![],
        was_cancelled: false,
        profiling_start_ns: T0,
        profiling_end_ns: T0 + 10_000 * MS,
        warmup_start_ns: Some(T0 - 5_000 * MS),
        warmup_end_ns: Some(T0),
        branch_stats: None,
    }
}

fn value(rec: &Value, metric: &str) -> Option<f64> {
    rec["metrics"][metric]["value"].as_f64()
}

#[track_caller]
fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
}

#[test]
fn per_record_metrics_follow_the_definitions() {
    let r = ok(0, 20, 1000, 11);
    let j = record_json(&r);
    close(value(&j, "time_to_first_token").unwrap(), 20.0);
    close(value(&j, "time_to_first_output_token").unwrap(), 20.0);
    close(value(&j, "time_to_second_token").unwrap(), 1.0);
    // 10 gaps of 1 ms, then the last byte 1 ms later: latency 31 ms.
    close(value(&j, "request_latency").unwrap(), 31.0);
    close(value(&j, "decode_duration").unwrap(), 11.0);
    close(value(&j, "inter_token_latency").unwrap(), 1.1);
    close(value(&j, "full_response_inter_token_latency").unwrap(), 1.1);
    close(
        value(&j, "output_token_throughput_per_user").unwrap(),
        1000.0 / 1.1,
    );
    close(
        value(&j, "e2e_output_token_throughput").unwrap(),
        11.0 / 0.031,
    );
    close(
        value(&j, "prefill_throughput_per_user").unwrap(),
        1000.0 / 0.02,
    );
    close(value(&j, "http_req_waiting").unwrap(), 20.0);
    close(value(&j, "http_req_receiving").unwrap(), 11.0);
    close(value(&j, "http_req_data_sent").unwrap(), 2.0);
    close(value(&j, "http_req_data_received").unwrap(), 10.0);
    close(value(&j, "osl_mismatch_diff_pct").unwrap(), 0.0);
    assert_eq!(j["metrics"]["input_sequence_length"]["value"], 1000);
    assert_eq!(j["metrics"]["output_sequence_length"]["value"], 11);
    assert_eq!(j["metrics"]["usage_total_tokens"]["value"], 1011);
    assert_eq!(j["metrics"]["request_latency"]["unit"], "ms");
    let icl = j["metrics"]["inter_chunk_latency"]["value"]
        .as_array()
        .unwrap();
    assert_eq!(icl.len(), 10);
    assert!(j.get("error").is_none(), "successes carry no error key");
    let meta = &j["metadata"];
    assert_eq!(meta["benchmark_phase"], "profiling");
    assert_eq!(meta["phase_name"], "profiling");
    assert_eq!(meta["profiling_index"], 0);
    assert_eq!(meta["source_kind"], "weka_main");
    assert!(meta.get("source_inner_idx").is_none());
    assert!(meta.get("parent_correlation_id").is_none());
}

#[test]
fn one_token_has_no_itl_and_subagent_metadata() {
    let mut r = ok(0, 20, 500, 1);
    r.phase = Phase::Warmup;
    r.source_kind = SourceKind::Subagent;
    r.source_inner_idx = Some(2);
    r.agent_depth = 1;
    r.parent_correlation_id = Some("corr-root".into());
    let j = record_json(&r);
    for absent in [
        "inter_token_latency",
        "time_to_second_token",
        "inter_chunk_latency",
        "output_token_throughput_per_user",
    ] {
        assert!(j["metrics"].get(absent).is_none(), "{absent}");
    }
    assert!(j["metrics"].get("decode_duration").is_some());
    let meta = &j["metadata"];
    assert_eq!(meta["benchmark_phase"], "warmup");
    assert_eq!(meta["phase_name"], "agentic.warmup");
    assert!(meta.get("phase_index").is_none());
    assert_eq!(meta["source_kind"], "weka_subagent");
    assert_eq!(meta["source_inner_idx"], 2);
    assert_eq!(meta["parent_correlation_id"], "corr-root");
}

#[test]
fn failed_and_cancelled_records_carry_an_error() {
    let f = record_json(&failed(0, 500, "boom"));
    assert_eq!(f["error"]["code"], 500);
    assert_eq!(f["error"]["type"], "HTTPError");
    assert_eq!(f["error"]["message"], "boom");
    assert!(f["metrics"].get("time_to_first_token").is_none());
    assert!(f["metrics"].get("output_sequence_length").is_none());
    assert!(f["metrics"].get("request_latency").is_some());

    let mut c = ok(0, 20, 100, 5);
    c.was_cancelled = true;
    let c = record_json(&c);
    assert_eq!(c["error"]["type"], "RequestCancellationError");
    assert_eq!(c["metadata"]["was_cancelled"], true);
    assert!(c["metrics"].get("output_sequence_length").is_none());
}

#[test]
fn aggregate_statistics_are_numpy_linear_and_population_std() {
    // TTFTs 10, 20, 30, 40 ms: mean 25, population std sqrt(125), p90 at
    // index 2.7 = 30 + 0.7·10.
    let records: Vec<_> = [10, 20, 30, 40]
        .iter()
        .enumerate()
        .map(|(i, &t)| ok(i as u64 * 100, t, 100 * (i as u64 + 1), 5))
        .collect();
    let a = aggregate(&records, &run());
    let ttft = &a["time_to_first_token"];
    close(ttft["avg"].as_f64().unwrap(), 25.0);
    close(ttft["std"].as_f64().unwrap(), 125f64.sqrt());
    close(ttft["p90"].as_f64().unwrap(), 37.0);
    close(ttft["p50"].as_f64().unwrap(), 25.0);
    close(ttft["p1"].as_f64().unwrap(), 10.3);
    close(ttft["min"].as_f64().unwrap(), 10.0);
    close(ttft["max"].as_f64().unwrap(), 40.0);
    close(ttft["sum"].as_f64().unwrap(), 100.0);
    assert_eq!(ttft["count"], 4);
    // inter_chunk_latency pools every gap: 4 gaps of 1 ms per record.
    assert_eq!(a["inter_chunk_latency"]["count"], 16);
    assert_eq!(a["request_count"]["avg"], 4.0);
    assert_eq!(a["completed_request_count"]["avg"], 4.0);
    assert!(a.get("error_request_count").is_none());
    close(a["total_isl"]["avg"].as_f64().unwrap(), 1000.0);
    close(a["request_throughput"]["avg"].as_f64().unwrap(), 0.4);
    close(a["output_token_throughput"]["avg"].as_f64().unwrap(), 2.0);
    close(a["credit_to_start_latency"]["avg"].as_f64().unwrap(), 2.0);
    assert_eq!(a["schema_version"], "1.4");
    assert_eq!(a["metadata"]["submission_valid"], true);
    assert_eq!(a["is_complete"], true);
}

#[test]
fn warmup_is_excluded_from_the_profiling_statistics() {
    let mut w = ok(0, 500, 100, 1);
    w.phase = Phase::Warmup;
    let records = vec![w, ok(100, 10, 100, 5), ok(200, 30, 100, 5)];
    let a = aggregate(&records, &run());
    assert_eq!(a["request_count"]["avg"], 2.0);
    close(a["time_to_first_token"]["max"].as_f64().unwrap(), 30.0);
    let wm = &a["warmup_metrics"];
    assert_eq!(wm["request_count"]["avg"], 1.0);
    close(wm["time_to_first_token"]["avg"].as_f64().unwrap(), 500.0);
    // One request over the 5 s warm-up window.
    close(wm["request_throughput"]["avg"].as_f64().unwrap(), 0.2);
}

#[test]
fn errors_are_counted_and_summarised() {
    let records = vec![
        ok(0, 10, 100, 5),
        failed(10, 500, "boom"),
        failed(20, 500, "boom"),
        failed(30, 503, "busy"),
    ];
    let a = aggregate(&records, &run());
    assert_eq!(a["request_count"]["avg"], 1.0);
    assert_eq!(a["error_request_count"]["avg"], 3.0);
    assert_eq!(a["completed_request_count"]["avg"], 4.0);
    close(a["request_error_rate"]["avg"].as_f64().unwrap(), 75.0);
    let summary = a["error_summary"].as_array().unwrap();
    assert_eq!(summary.len(), 2);
    assert_eq!(summary[0]["count"], 2);
    assert_eq!(summary[0]["error_details"]["message"], "boom");
    assert_eq!(summary[0]["error_details"]["code"], 500);
}

#[test]
fn context_overflows_above_one_percent_invalidate() {
    let overflow = "This model's maximum context length is 8192 tokens";
    let mut records: Vec<_> = (0..99).map(|i| ok(i * 10, 10, 100, 2)).collect();
    records.push(failed(2000, 400, overflow));
    // 1 of 100: not more than 1 %.
    let a = aggregate(&records, &run());
    assert_eq!(a["metadata"]["submission_valid"], true);
    records.push(failed(2100, 400, overflow));
    let a = aggregate(&records, &run());
    assert_eq!(a["metadata"]["submission_valid"], false);
    assert_eq!(
        a["metadata"]["submission_invalid_reasons"],
        serde_json::json!([REASON_CONTEXT_OVERFLOW])
    );
    // The same text with a 500 is not an overflow.
    assert!(!is_context_overflow(&failed(0, 500, overflow)));
}

#[test]
fn cancelled_run_is_marked() {
    let mut info = run();
    info.was_cancelled = true;
    info.invalid_reasons = vec!["unsafe_override".into()];
    let a = aggregate(&[ok(0, 10, 100, 5)], &info);
    assert_eq!(a["was_cancelled"], true);
    assert_eq!(a["is_complete"], false);
    assert_eq!(
        a["metadata"]["submission_invalid_reasons"],
        serde_json::json!(["unsafe_override", REASON_RUN_CANCELLED])
    );
    assert_eq!(a["metadata"]["submission_valid"], false);
}

#[test]
fn prefix_hit_uses_prior_blocks_or_falls_back_to_a_seen_set() {
    // Stored prior hits: 2 of 4 per record.
    let records = vec![ok(0, 10, 100, 2), ok(10, 10, 100, 2)];
    let a = aggregate(&records, &run());
    let hit = &a["theoretical_prefix_cache_hit"];
    assert_eq!(hit["count"], 8);
    assert_eq!(hit["sum"], 4);
    close(hit["avg"].as_f64().unwrap(), 50.0);
    assert_eq!(hit["unit"], "%");

    // Fallback: per-trace seen-set in start order, warm-up not counted.
    let mut recs = vec![ok(0, 10, 100, 2), ok(10, 10, 100, 2), ok(20, 10, 100, 2)];
    for r in &mut recs {
        r.prior_hit_blocks = None;
    }
    recs[1].hash_ids = Arc::from(vec![1u64, 2, 9]);
    recs[2].source_trace_id = "other".into();
    let a = aggregate(&recs, &run());
    let hit = &a["theoretical_prefix_cache_hit"];
    assert_eq!(hit["count"], 11);
    assert_eq!(hit["sum"], 2);
}

#[test]
fn prior_hit_blocks_walks_the_trace_in_file_order() {
    use crate::trace::{Entry, Request, Subagent, Trace};
    let req = |ids: &[u64]| Request {
        t: 0.0,
        streaming: true,
        model: "m".into(),
        input_tokens: 64,
        output_tokens: 1,
        hash_ids: Arc::from(ids.to_vec()),
        api_time: None,
        think_time: None,
        ttft: None,
    };
    let trace = Trace {
        id: "t".into(),
        models: vec!["m".into()],
        block_size: 64,
        tool_tokens: 0,
        system_tokens: 0,
        entries: vec![
            Entry::Request(req(&[0, 1, 2])),
            Entry::Subagent(Subagent {
                t: 0.0,
                agent_id: "a".into(),
                subagent_type: "Explore".into(),
                duration_ms: None,
                status: "completed".into(),
                models: vec![],
                tool_tokens: 0,
                system_tokens: 0,
                requests: vec![req(&[0, 5]), req(&[0, 5, 6])],
            }),
            Entry::Request(req(&[0, 1, 2, 3, 6, 6])),
        ],
    };
    let hits = prior_hit_blocks(&trace);
    assert_eq!(hits[&(0, None)], 0);
    assert_eq!(hits[&(1, Some(0))], 1);
    assert_eq!(hits[&(1, Some(1))], 2);
    assert_eq!(hits[&(2, None)], 5);
    assert_eq!(hits.len(), 4);
}

#[test]
fn local_iso_matches_python_isoformat() {
    let s = aggregate::local_iso(T0 + 99_953_400);
    assert_eq!(s.len(), "2026-11-29T18:01:19.099953".len(), "{s}");
    assert!(s.ends_with(".099953"), "{s}");
    let whole = aggregate::local_iso(T0);
    assert!(!whole.contains('.'), "{whole}");
}

#[test]
fn csv_has_both_tables() {
    let a = aggregate(&[ok(0, 10, 100, 5), ok(10, 20, 100, 5)], &run());
    let text = csv::render(&a);
    let (dist, scalars) = text.split_once("\n\n").unwrap();
    assert!(dist.starts_with("Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std\n"));
    assert!(dist.contains("\nTime to First Token (ms),15.00,10.00,20.00,30.00,"));
    assert!(scalars.starts_with("Metric,Value\n"));
    assert!(scalars.contains("\nRequest Count,2.00\n"));
    assert!(scalars.contains("\nTheoretical Prefix Cache Hit (%),50.00\n"));
    assert!(text.ends_with('\n'));
}
