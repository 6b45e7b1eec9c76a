use super::*;
use crate::record::{RecordError, SourceKind};
use crate::replay::ReplayStats;
use serde_json::json;

const T0: u64 = 1_795_975_284_000_000_000;
const MS: u64 = 1_000_000;

/// A request sent at `start_ms`, first content `ttft_ms` later, last byte
/// at `e2e_ms`.
fn record(phase: Phase, start_ms: u64, ttft_ms: Option<u64>, e2e_ms: u64) -> RequestRecord {
    let start = T0 + start_ms * MS;
    RequestRecord {
        session_num: 0,
        x_request_id: format!("req-{start_ms}"),
        x_correlation_id: "corr".into(),
        conversation_id: "tr".into(),
        turn_index: 0,
        source_trace_id: "tr".into(),
        source_outer_idx: 0,
        source_inner_idx: None,
        source_kind: SourceKind::Main,
        phase,
        agent_depth: 0,
        root_correlation_id: "corr".into(),
        parent_correlation_id: None,
        cache_bust_marker: String::new(),
        hash_ids: Arc::from(Vec::new()),
        prior_hit_blocks: None,
        max_completion_tokens: 10,
        credit_issued_ns: start,
        request_start_ns: start,
        request_ack_ns: None,
        request_end_ns: start + e2e_ms * MS,
        content_chunk_ns: ttft_ms.map(|t| start + t * MS).into_iter().collect(),
        usage_prompt_tokens: Some(1000),
        usage_completion_tokens: Some(10),
        usage_total_tokens: Some(1010),
        bytes_sent: 0,
        bytes_received: 0,
        was_cancelled: false,
        error: None,
    }
}

fn outcome(records: Vec<RequestRecord>, window_ms: Option<(u64, u64)>) -> ReplayOutcome {
    ReplayOutcome {
        records,
        cancelled: false,
        failure: None,
        warmup_start_ns: T0,
        warmup_end_ns: None,
        profiling_start_ns: window_ms.map(|(a, _)| T0 + a * MS),
        profiling_end_ns: window_ms.map(|(_, b)| T0 + b * MS),
        stats: ReplayStats {
            recycles: 3,
            ..ReplayStats::default()
        },
        samples: Vec::new(),
        concurrency: 2,
    }
}

#[track_caller]
fn check_summary(o: &ReplayOutcome, expected: &str) {
    assert_eq!(summary(o, Path::new("out/aiperf_artifacts")), expected);
}

#[test]
fn summary_counts_percentiles_and_throughput() {
    let mut failed = record(Phase::Profiling, 40, None, 5);
    failed.error = Some(RecordError {
        code: Some(500),
        kind: "HTTPError".into(),
        message: "boom".into(),
    });
    let mut sub = record(Phase::Profiling, 30, Some(40), 400);
    sub.agent_depth = 1;
    let records = vec![
        record(Phase::Warmup, 0, Some(1), 2),
        record(Phase::Profiling, 10, Some(20), 200),
        record(Phase::Profiling, 20, Some(30), 300),
        sub,
        failed,
    ];
    // Three successes over 2 s: TTFT [20, 30, 40], E2E [200, 300, 400];
    // p99 of three values is at index 1.98.
    check_summary(
        &outcome(records, Some((0, 2000))),
        "Agentic replay summary\n\
         \x20 Requests: 3 successful / 5 total (1 warmup, 1 profiling errors, 1 subagent)\n\
         \x20 Profiling window: 2.0 s; recycles: 3\n\
         \x20 TTFT ms: p50 30.0 p99 39.8; E2E ms: p50 300.0 p99 398.0\n\
         \x20 Tokens: input 3000, output 30; throughput 1515 tok/s total, 1.50 req/s\n\
         \x20 Artifacts: out/aiperf_artifacts\n",
    );
}

#[test]
fn summary_of_nothing_profiled_shows_zeros_and_no_throughput() {
    check_summary(
        &outcome(vec![record(Phase::Warmup, 0, Some(1), 2)], None),
        "Agentic replay summary\n\
         \x20 Requests: 0 successful / 1 total (1 warmup, 0 profiling errors, 0 subagent)\n\
         \x20 Profiling window: 0.0 s; recycles: 3\n\
         \x20 TTFT ms: p50 0.0 p99 0.0; E2E ms: p50 0.0 p99 0.0\n\
         \x20 Artifacts: out/aiperf_artifacts\n",
    );
}

/// The summary's former percentile: linear interpolation on sorted
/// values with `p` a fraction, `lo + (hi - lo)·g`, 0 when empty.
fn former_percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = (sorted.len() - 1) as f64 * p;
    let lo = k.floor() as usize;
    let hi = (k.ceil() as usize).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo as f64)
}

#[test]
fn numpy_percentile_matches_the_former_one() {
    // A deterministic spread of latency-like samples (ms), 0 to 200 values.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for n in 0..200usize {
        let mut xs: Vec<f64> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (x >> 11) as f64 / (1u64 << 53) as f64 * 5000.0
            })
            .collect();
        xs.sort_by(f64::total_cmp);
        for (frac, pct) in [(0.5, 50.0), (0.99, 99.0)] {
            let old = former_percentile(&xs, frac);
            let new = percentile_or_zero(&xs, pct);
            // numpy interpolates from the nearer end: at most a rounding
            // step apart, never visible at the summary's one decimal.
            assert!(
                (old - new).abs() <= 1e-9 * old.abs().max(1.0),
                "n {n}: {old} {new}"
            );
            assert_eq!(format!("{old:.1}"), format!("{new:.1}"), "n {n}");
        }
    }
    assert_eq!(percentile_or_zero(&[], 99.0), 0.0);
    assert_eq!(percentile_or_zero(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
}

#[test]
fn endings_put_a_failure_before_a_stop() {
    let mut o = outcome(Vec::new(), None);
    assert_eq!(ending(&o), Ending::Completed);
    o.cancelled = true;
    assert_eq!(ending(&o), Ending::Interrupted);
    o.failure = Some("failure threshold".into());
    assert_eq!(ending(&o), Ending::Failed("failure threshold".into()));
}

#[test]
fn command_lines_are_shell_quoted() {
    for (argv, expected) in [
        (
            &["aiperf", "profile", "--url", "http://h:1/v1"][..],
            "aiperf profile --url http://h:1/v1",
        ),
        (
            &["x", "--extra-inputs", "temperature:0.5", "a b", ""],
            "x --extra-inputs temperature:0.5 'a b' ''",
        ),
        (&["it's", "100%"], r"'it'\''s' '100%'"),
        (&["k=v,w@x+y"], "k=v,w@x+y"),
    ] {
        assert_eq!(shell_join(argv), expected);
    }
}

#[test]
fn progress_lines() {
    let mut p = Progress {
        phase: "profiling",
        elapsed_s: 12.34,
        sent: 7,
        completed: 5,
        errors: 1,
        in_flight: 2,
        note: String::new(),
    };
    assert_eq!(
        progress_line(&p),
        "[    12.3s] profiling: sent 7, completed 5, errors 1, in flight 2"
    );
    p.note = "duration reached".into();
    assert_eq!(
        progress_line(&p),
        "[    12.3s] profiling: sent 7, completed 5, errors 1, in flight 2 — duration reached"
    );
}

/// `ProfileOptions` from the words after `aiperf profile`.
fn profile_options(line: &str) -> ProfileOptions {
    use clap::{Args, FromArgMatches};
    let words = std::iter::once("profile").chain(line.split_whitespace());
    let matches = ProfileOptions::augment_args(clap::Command::new("profile"))
        .try_get_matches_from(words)
        .unwrap();
    ProfileOptions::from_arg_matches(&matches).unwrap()
}

#[test]
fn input_config_records_the_resolved_options() {
    let opts = profile_options(
        "--scenario inferencex-agentx-mvp --url http://localhost:8888 \
        --endpoint /v1/chat/completions --endpoint-type chat --streaming --model m --tokenizer org/m \
        --concurrency 4 --benchmark-duration 1800 --random-seed 42 \
        --trajectory-start-min-ratio 0.25 --trajectory-start-max-ratio 0.75 \
        --warmup-requests-per-lane 10 --trace-idle-gap-cap-seconds 300 --warmup-grace-period 1800 \
        --extra-inputs temperature:0.5 --max-context-length 131072 --num-dataset-entries 393 \
        --slice-duration 1.0 --server-metrics http://a:1/metrics --output-artifact-dir /r/aiperf_artifacts \
        --custom-dataset-type weka_trace --input-file /t/traces.jsonl",
    );
    let resolved = opts.resolve(&EnvSettings::default(), 7).unwrap();
    let got = input_config(&opts, &resolved);
    let expected = json!({
        "scenario": "inferencex-agentx-mvp",
        "endpoint": {"url": "http://localhost:8888", "path": "/v1/chat/completions", "type": "chat",
                     "streaming": true, "model_names": ["m"]},
        "tokenizer": {"name": "org/m"},
        "loadgen": {"concurrency": 4, "benchmark_duration": 1800.0,
                    "warmup_requests_per_lane": 10,
                    "trace_idle_gap_cap_seconds": 300.0,
                    "system_idle_gap_cap_seconds": 10.0,
                    "trajectory_start_min_ratio": 0.25,
                    "trajectory_start_max_ratio": 0.75,
                    "failed_request_threshold": 0.1,
                    "warmup_grace_period": 1800.0},
        "input": {"random_seed": 42, "public_dataset": null,
                  "custom_dataset_type": "weka_trace",
                  "input_file": "/t/traces.jsonl",
                  "max_context_length": 131072,
                  "num_dataset_entries": 393,
                  "extra": {"temperature": 0.5}, "cache_bust": "first_turn_prefix"},
        "server_metrics": {"urls": ["http://localhost:8888/metrics", "http://a:1/metrics"],
                           "slice_duration": 1.0},
        "output": {"artifact_directory": "/r/aiperf_artifacts"},
    });
    assert_eq!(got, expected);
}

#[test]
fn replay_config_takes_the_routing_headers_and_version() {
    let opts = profile_options(
        "--scenario inferencex-agentx-mvp --url http://h:1 \
        --endpoint /v1/chat/completions --endpoint-type chat --streaming --model m \
        --concurrency 3 --benchmark-duration 1800 --random-seed 5 \
        --custom-dataset-type weka_trace --input-file t.jsonl",
    );
    let env = EnvSettings {
        x_session_id: true,
        ..EnvSettings::default()
    };
    let resolved = opts.resolve(&env, 7).unwrap();
    let cfg = replay_config(&opts, &resolved, &env, "0123456789ab".into());
    assert_eq!(cfg.concurrency, 3);
    assert_eq!(cfg.seed, 5);
    assert_eq!(cfg.benchmark_id, "0123456789ab");
    assert!(cfg.headers.x_session_id && !cfg.headers.x_smg_routing_key);
    assert_eq!(
        cfg.user_agent,
        format!("aiperf/servebench-{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(cfg.models, ["m"]);
}
