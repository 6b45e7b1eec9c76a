//! The replay driver against a scripted server on 127.0.0.1, on
//! `traces/tiny.jsonl`: warm-up primers and per-lane advances ask for one
//! token, every body carries its play's cache-bust marker in the first
//! user message and aiperf's key order and headers, streams keep their
//! turn order, subagents carry their root's ids, a drained tree recycles
//! from turn 0 with a fresh marker; a failing server trips the live
//! failure threshold or the warm-up abort; a stop signal cancels.

use servebench_agentx::plan;
use servebench_agentx::record::{Phase, RequestRecord};
use servebench_agentx::replay::{self, HeaderOptions, ReplayConfig, TreePrompts};
use servebench_agentx::trace;
use servebench_client::ChatClient;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Seen {
    headers: HashMap<String, String>,
    body: serde_json::Value,
    raw: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves until the test ends; `fail(body)` picks a 500 answer.
fn serve(fail: fn(&serde_json::Value) -> bool) -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let l2 = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = Arc::clone(&l2);
            std::thread::spawn(move || {
                let _ = connection(stream, &log, fail);
            });
        }
    });
    (port, log)
}

fn connection(
    stream: TcpStream,
    log: &Log,
    fail: fn(&serde_json::Value) -> bool,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut headers = HashMap::new();
        let mut first = true;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if first {
                first = false;
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let raw = String::from_utf8_lossy(&body).into_owned();
        let json: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
        let failing = fail(&json);
        let max = json["max_completion_tokens"].as_u64().unwrap_or(1);
        log.lock().unwrap().push(Seen {
            headers,
            body: json,
            raw,
        });
        if failing {
            let text = "{\"error\":\"scripted failure\"}";
            write!(
                out,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\n\r\n{text}",
                text.len()
            )?;
        } else {
            let sse = format!(
                "data: {{\"choices\":[{{\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}}}}]}}\n\n\
                 data: {{\"choices\":[{{\"delta\":{{\"content\":\"a\"}}}}]}}\n\n\
                 data: {{\"choices\":[{{\"delta\":{{\"content\":\"b\"}}}}]}}\n\n\
                 data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":{max},\"total_tokens\":{}}}}}\n\n\
                 data: [DONE]\n\n",
                10 + max
            );
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{sse}",
                sse.len()
            )?;
        }
        out.flush()?;
    }
}

fn tiny() -> Vec<plan::TreePlan> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/agentx/traces/tiny.jsonl");
    trace::load_path(&path)
        .unwrap()
        .iter()
        .filter_map(plan::build)
        .collect()
}

fn config(duration_s: f64) -> ReplayConfig {
    ReplayConfig {
        concurrency: 2,
        duration_s,
        warmup_per_lane: 1,
        // Compress recorded idle gaps so the test takes seconds.
        system_idle_cap_s: 0.05,
        trace_idle_cap_s: Some(300.0),
        burst: false,
        warmup_grace_s: 60.0,
        min_ratio: 0.25,
        max_ratio: 0.75,
        seed: 42,
        benchmark_id: "bench".into(),
        failed_request_threshold: 0.10,
        models: vec!["sim".into()],
        extra_inputs: serde_json::Map::new(),
        headers: HeaderOptions {
            x_session_id: true,
            ..HeaderOptions::default()
        },
        user_agent: "aiperf/test".into(),
        stats_interval_s: 60.0,
    }
}

async fn replay_with(
    port: u16,
    cfg: &ReplayConfig,
    stop_after: Option<Duration>,
) -> replay::ReplayOutcome {
    let prepared = replay::prepare(tiny(), cfg).unwrap();
    let prompts: Vec<TreePrompts> = prepared
        .trees
        .iter()
        .map(|t| TreePrompts::placeholder(t))
        .collect();
    let client = ChatClient::new(
        &format!("http://127.0.0.1:{port}/v1/chat/completions"),
        Duration::from_secs(2),
        Duration::from_secs(5),
        None,
    )
    .unwrap();
    let stop = async move {
        match stop_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    replay::run(&client, prepared, prompts, cfg, &|_| {}, stop)
        .await
        .unwrap()
}

fn first_user(body: &serde_json::Value) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_markers_order_and_recycle() {
    let (port, log) = serve(|_| false);
    let cfg = config(3.0);
    let outcome = replay_with(port, &cfg, None).await;
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert!(!outcome.cancelled);
    let records = &outcome.records;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), records.len());
    let by_id: HashMap<&str, &Seen> = seen
        .iter()
        .map(|s| (s.headers["x-request-id"].as_str(), s))
        .collect();

    // Warm-up: primers plus one advance per lane, all one token.
    let warm: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.phase == Phase::Warmup)
        .collect();
    assert_eq!(
        warm.len() as u64,
        outcome.stats.primers + outcome.stats.advances
    );
    assert_eq!(outcome.stats.advances, 2);
    assert!(outcome.stats.primers >= 1);
    for r in &warm {
        assert_eq!(r.max_completion_tokens, 1);
        assert_eq!(
            by_id[r.x_request_id.as_str()].body["max_completion_tokens"],
            1
        );
    }
    // Profiling started after every warm-up request ended.
    let prof_start = outcome.profiling_start_ns.unwrap();
    assert!(warm
        .iter()
        .all(|r| r.request_end_ns <= prof_start + 1_000_000));
    let prof: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.phase == Phase::Profiling)
        .collect();
    assert!(prof.len() >= 4, "{}", prof.len());
    assert!(prof.iter().all(|r| r.request_start_ns >= prof_start));

    for r in records {
        let s = by_id[r.x_request_id.as_str()];
        assert!(r.error.is_none(), "{:?}", r.error);
        // The marker opens the first user message.
        assert!(r.cache_bust_marker.starts_with("[rid:") && r.cache_bust_marker.ends_with("]\n\n"));
        assert_eq!(r.cache_bust_marker.len(), 5 + 12 + 3);
        assert!(first_user(&s.body).starts_with(&r.cache_bust_marker));
        // aiperf's key order, ignore_eos, usage.
        assert!(
            s.raw.starts_with("{\"messages\":[{\"role\":\"system\""),
            "{}",
            &s.raw[..40]
        );
        assert!(s
            .raw
            .contains(",\"model\":\"sim\",\"stream\":true,\"max_completion_tokens\":"));
        assert!(s
            .raw
            .ends_with(",\"ignore_eos\":true,\"stream_options\":{\"include_usage\":true}}"));
        // Headers.
        assert_eq!(s.headers["x-correlation-id"], r.x_correlation_id);
        assert_eq!(s.headers["x-session-affinity"], r.x_correlation_id);
        assert_eq!(s.headers["x-session-id"], r.x_correlation_id);
        assert_eq!(s.headers["accept"], "text/event-stream");
        assert_eq!(s.headers["user-agent"], "aiperf/test");
        assert_eq!(s.headers["x-request-id"].len(), 36);
        // Timings and usage were read.
        assert!(r.request_ack_ns.is_some());
        assert_eq!(r.content_chunk_ns.len(), 2);
        assert_eq!(r.usage_completion_tokens, Some(r.max_completion_tokens));
        // Subagents carry their root's ids.
        if r.agent_depth == 1 {
            assert!(r.conversation_id.contains("::sa:"));
            assert_eq!(
                r.parent_correlation_id.as_deref(),
                Some(r.root_correlation_id.as_str())
            );
            assert_ne!(r.x_correlation_id, r.root_correlation_id);
        } else {
            assert_eq!(r.x_correlation_id, r.root_correlation_id);
        }
    }
    // Within a session, turns go in order, never overlapping.
    let mut sessions: HashMap<&str, Vec<&RequestRecord>> = HashMap::new();
    for r in records.iter().filter(|r| r.phase == Phase::Profiling) {
        sessions
            .entry(r.x_correlation_id.as_str())
            .or_default()
            .push(r);
    }
    for list in sessions.values_mut() {
        list.sort_by_key(|r| r.request_start_ns);
        for w in list.windows(2) {
            assert!(w[0].turn_index < w[1].turn_index);
            assert!(w[0].request_end_ns <= w[1].request_start_ns);
        }
    }
    // One marker per play (correlation tree); a recycle starts a new play
    // from turn 0 with a new marker.
    let mut markers: HashMap<&str, &str> = HashMap::new();
    for r in records {
        let m = markers
            .entry(r.root_correlation_id.as_str())
            .or_insert(r.cache_bust_marker.as_str());
        assert_eq!(*m, r.cache_bust_marker);
    }
    // ... and one tree of correlation ids per marker (warm-up included).
    let mut roots: HashMap<&str, &str> = HashMap::new();
    for r in records {
        let root = roots
            .entry(r.cache_bust_marker.as_str())
            .or_insert(r.root_correlation_id.as_str());
        assert_eq!(*root, r.root_correlation_id, "{}", r.conversation_id);
    }
    assert!(outcome.stats.recycles >= 1);
    let recycled = prof
        .iter()
        .find(|r| r.turn_index == 0 && r.agent_depth == 0)
        .expect("a recycled play from turn 0");
    let earlier: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.source_trace_id == recycled.source_trace_id)
        .filter(|r| r.root_correlation_id != recycled.root_correlation_id)
        .collect();
    assert!(earlier
        .iter()
        .all(|r| r.cache_bust_marker != recycled.cache_bust_marker));
    // No request started after the profiling window.
    let end = outcome.profiling_end_ns.unwrap();
    assert!(prof.iter().all(|r| r.credit_issued_ns <= end));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_threshold_stops_the_run() {
    // Warm-up (one token) succeeds, every profiled request fails.
    let (port, _log) = serve(|b| b["max_completion_tokens"] != 1);
    let started = Instant::now();
    let outcome = replay_with(port, &config(120.0), None).await;
    let failure = outcome.failure.expect("the threshold tripped");
    assert!(failure.contains("--failed-request-threshold"), "{failure}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let errors = outcome.records.iter().filter(|r| r.error.is_some()).count();
    assert!(errors >= replay::FAILURE_CHECK_MIN_COMPLETED as usize);
    let e = outcome
        .records
        .iter()
        .find_map(|r| r.error.clone())
        .unwrap();
    assert_eq!(e.code, Some(500));
    assert!(e.message.contains("scripted failure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_failure_aborts() {
    let (port, _log) = serve(|_| true);
    let outcome = replay_with(port, &config(120.0), None).await;
    let failure = outcome.failure.expect("warm-up failure");
    assert!(failure.contains("warm-up"), "{failure}");
    assert!(outcome.records.iter().all(|r| r.phase == Phase::Warmup));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_signal_cancels() {
    let (port, _log) = serve(|_| false);
    let started = Instant::now();
    let outcome = replay_with(port, &config(120.0), Some(Duration::from_millis(1500))).await;
    assert!(outcome.cancelled);
    assert!(outcome.failure.is_none());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!outcome.records.is_empty());
}
