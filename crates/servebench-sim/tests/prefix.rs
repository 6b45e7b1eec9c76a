//! The prefix cache over real sockets on 127.0.0.1: agentic turns that
//! share a prefix, as the AgentX replay sends them, and what `/metrics`
//! says about them in vLLM's names.

use servebench_sim::{serve, Deployment, Gpu, Model, Precision, SimOptions};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a server; it stops when the returned sender is dropped.
async fn start(
    ttft_ms: u64,
    deployment: Option<(Deployment, f64)>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    start_with(
        ttft_ms,
        deployment,
        std::sync::Arc::new(servebench_sim::BuiltIn),
    )
    .await
}

async fn start_with(
    ttft_ms: u64,
    deployment: Option<(Deployment, f64)>,
    text: std::sync::Arc<dyn servebench_sim::TextSource>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = SimOptions {
        model: "sim".into(),
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::ZERO,
        fault: None,
        fault_every: 1,
        deployment,
        ground_truth: None,
        text,
        kv_cache_tokens: None,
    };
    tokio::spawn(async move {
        let _ = serve(listener, opts, async move {
            let _ = rx.await;
        })
        .await;
    });
    (addr, tx)
}

/// The headers the AgentX replay (aiperf) sends, session ids included.
const SESSION_HEADERS: &str = "Accept: text/event-stream\r\nUser-Agent: aiperf/0.13.0\r\nX-Request-ID: 5f1c9e3a-0000-4000-8000-000000000001\r\nX-Correlation-ID: session-7\r\nX-Session-Affinity: session-7\r\nX-Session-ID: session-7\r\nX-SMG-Routing-Key: session-7\r\nX-Dynamo-Session-ID: session-7\r\nX-Dynamo-Parent-Session-ID: session-6\r\n";

/// One HTTP/1.1 request with `Connection: close`: the status, the raw
/// text after the headers (chunk sizes and all: the tests only search it)
/// and when the first generated token arrived.
async fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String, Option<Duration>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{SESSION_HEADERS}Connection: close\r\n\r\n",
        body.len()
    );
    let sent = Instant::now();
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut raw = String::new();
    let mut first = None;
    let mut buf = vec![0u8; 65536];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("response within 30 s")
            .expect("read");
        if n == 0 {
            break;
        }
        raw.push_str(&String::from_utf8_lossy(&buf[..n]));
        if first.is_none() && (raw.contains("\"text\":") || raw.contains("\"content\":\"")) {
            first = Some(sent.elapsed());
        }
    }
    let (headers, rest) = raw.split_once("\r\n\r\n").expect("headers");
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, rest.to_owned(), first)
}

/// The integer after `key` in `text`.
#[track_caller]
fn number_after(text: &str, key: &str) -> u64 {
    let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
    let digits: String = text[at..]
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a number")
}

/// The value of the series `name{...}` (its first series whose labels
/// contain `label`).
#[track_caller]
fn metric(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} with {label} in\n{metrics}"))
}

async fn metrics(addr: &str) -> String {
    let (status, body, _) = request(addr, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    body
}

/// `words` words of 4 hex digits (one built-in token each), from `from`.
fn words(from: usize, words: usize) -> String {
    (from..from + words).map(|i| format!("{i:04x} ")).collect()
}

/// A chat request as the replay sends it (SPEC-agentx §2.6).
fn chat(messages: &[(&str, &str)], max: usize) -> String {
    let messages: Vec<String> = messages
        .iter()
        .map(|(role, content)| format!(r#"{{"role": "{role}", "content": "{content}"}}"#))
        .collect();
    format!(
        r#"{{"messages": [{}], "model": "sim", "stream": true, "max_completion_tokens": {max}, "ignore_eos": true, "stream_options": {{"include_usage": true}}}}"#,
        messages.join(", ")
    )
}

/// Sends `body` to the chat endpoint; returns the usage's prompt tokens
/// and the time to the first token.
async fn turn(addr: &str, body: &str, max: u64) -> (u64, Duration) {
    let (status, text, first) = request(addr, "POST", "/v1/chat/completions", body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(number_after(&text, "\"completion_tokens\":"), max, "{text}");
    assert!(text.contains("data: [DONE]"), "{text}");
    (
        number_after(&text, "\"prompt_tokens\":"),
        first.expect("a token"),
    )
}

#[track_caller]
fn check_cache(metrics: &str, queries: u64, hits: u64) {
    let got = (
        metric(metrics, "vllm:prefix_cache_queries_total", ""),
        metric(metrics, "vllm:prefix_cache_hits_total", ""),
        metric(
            metrics,
            "vllm:prompt_tokens_by_source_total",
            "source=\"local_cache_hit\"",
        ),
        metric(
            metrics,
            "vllm:prompt_tokens_by_source_total",
            "source=\"local_compute\"",
        ),
    );
    let want = (
        queries as f64,
        hits as f64,
        hits as f64,
        (queries - hits) as f64,
    );
    assert_eq!(got, want, "(queries, hits, by source: hit, compute)");
    for name in ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"] {
        let usage = metric(metrics, name, "model_name=\"sim\"");
        assert!((0.0..=1.0).contains(&usage), "{name} {usage}");
    }
    assert_eq!(metric(metrics, "vllm:num_preemptions_total", ""), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_sharing_a_prefix_hit_the_cache() {
    let (addr, _stop) = start(0, None).await;
    check_cache(&metrics(&addr).await, 0, 0);
    let system = words(0, 3000);
    let first = chat(&[("system", &system), ("user", "what now ")], 5);
    let (n1, _) = turn(&addr, &first, 5).await;
    assert_eq!(n1, 3000 + 2);
    check_cache(&metrics(&addr).await, n1, 0);
    // The next turn repeats the history: every full block of the first
    // prompt hits.
    let second = chat(
        &[
            ("system", &system),
            ("user", "what now "),
            ("assistant", "this and that "),
            ("user", "go on"),
        ],
        1,
    );
    let (n2, _) = turn(&addr, &second, 1).await;
    let hits = n1 / 16 * 16;
    check_cache(&metrics(&addr).await, n1 + n2, hits);
    // A system prompt that differs in its first word: no hit at all,
    // although the rest is the same.
    let other = format!("zzzz {}", words(1, 2999));
    let third = chat(&[("system", &other), ("user", "what now ")], 1);
    let (n3, _) = turn(&addr, &third, 1).await;
    check_cache(&metrics(&addr).await, n1 + n2 + n3, hits);
    // The same prompt again: all but its last block (its last token is
    // always computed).
    let (_, _) = turn(&addr, &third, 1).await;
    check_cache(
        &metrics(&addr).await,
        n1 + n2 + 2 * n3,
        hits + (n3 - 1) / 16 * 16,
    );
}

/// Fast mode's KV usage: the requests in flight reserve their prompt and
/// `max_tokens` against the 2²⁰-token default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_mode_kv_usage_counts_requests_in_flight() {
    let (addr, _stop) = start(1500, None).await;
    let body = chat(&[("user", &words(0, 1000))], 48);
    let pending = {
        let addr = addr.clone();
        tokio::spawn(async move { turn(&addr, &body, 48).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = metrics(&addr).await;
    let usage = metric(&during, "vllm:kv_cache_usage_perc", "");
    assert_eq!(usage, 1048.0 / f64::from(1 << 20), "{during}");
    assert_eq!(metric(&during, "vllm:num_requests_running", ""), 1.0);
    pending.await.expect("the request");
    assert_eq!(
        metric(&metrics(&addr).await, "vllm:kv_cache_usage_perc", ""),
        0.0
    );
}

fn h100_8b() -> Deployment {
    Deployment {
        gpu: Gpu {
            tflops_bf16: 989.0,
            tflops_fp8: 1979.0,
            tflops_fp4: 1979.0,
            memory_tbs: 3.35,
            memory_gb: 80.0,
            compute_efficiency: 0.55,
            memory_efficiency: 0.8,
            idle_w: 80.0,
            peak_w: 700.0,
        },
        model: Model {
            params_b: 8.0,
            active_params_b: 8.0,
            kv_bytes_per_token: 131_072.0,
        },
        precision: Precision::Bf16,
        tp: 1,
        max_num_batched_tokens: 8192,
        max_num_seqs: 256,
        gpu_memory_utilization: 0.9,
    }
}

/// The built-in counts and ids, 200 ms late.
#[derive(Debug)]
struct SlowTokenizer;

impl servebench_sim::TextSource for SlowTokenizer {
    fn prompt_tokens(&self, text: &str) -> usize {
        std::thread::sleep(Duration::from_millis(200));
        servebench_sim::BuiltIn.prompt_tokens(text)
    }

    fn token(&self, seed: u64, k: usize) -> &str {
        servebench_sim::BuiltIn.token(seed, k)
    }

    fn counts_slowly(&self) -> bool {
        true
    }
}

/// Model mode with a tokenizer slower than the request: the token ids
/// come after the (two-token) response is done, so the engine skips what
/// the prompt *text* cache estimates. The same text again: the estimate
/// skips the hit, and the second TTFT is a memory-bound step instead of a
/// compute-bound prefill. The same tokens spaced differently: the text
/// misses, the simulated GPU prefills what the exact lookup later finds
/// cached, and those hits count as computed in `prompt_tokens_by_source`
/// and as late hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_count_skips_what_the_text_cache_estimates() {
    let text = std::sync::Arc::new(SlowTokenizer);
    let (addr, _stop) = start_with(0, Some((h100_8b(), 1.0)), text).await;
    let prompt = words(0, 800);
    let body = chat(&[("user", &prompt)], 2);
    let (n, cold) = turn(&addr, &body, 2).await;
    assert_eq!(n, 800);
    let (_, warm) = turn(&addr, &body, 2).await;
    // 23.5 ms of prefill compute, then a 6 ms step (16 tokens computed).
    assert!(warm * 2 < cold, "warm {warm:?}, cold {cold:?}");
    let spaced = prompt.replace(' ', "  ");
    let (n, _) = turn(&addr, &chat(&[("user", &spaced)], 2), 2).await;
    assert_eq!(n, 800);
    // The engine adopts the last count within a few milliseconds.
    let mut m = String::new();
    for _ in 0..100 {
        m = metrics(&addr).await;
        if metric(&m, "vllm:prefix_cache_queries_total", "") == 2400.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let by_source = |source: &str| {
        metric(
            &m,
            "vllm:prompt_tokens_by_source_total",
            &format!("source=\"{source}\""),
        )
    };
    let got = (
        metric(&m, "vllm:prefix_cache_queries_total", ""),
        metric(&m, "vllm:prefix_cache_hits_total", ""),
        metric(&m, "servebench_sim_prefix_cache_late_hits_total", ""),
        by_source("local_cache_hit"),
        by_source("local_compute"),
    );
    // Hits: 784 (49 blocks) twice; the second time all late.
    assert_eq!(got, (2400.0, 1568.0, 784.0, 784.0, 1616.0), "{m}");
}

/// Model mode: the cached part of a prompt skips its prefill compute.
/// The expected times are computed here from the documented step formula.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_mode_cached_tokens_skip_prefill() {
    let deployment = h100_8b();
    let speedup = 0.5;
    let (addr, _stop) = start(0, Some((deployment, speedup))).await;
    let (flops, bandwidth, weights, kv) = (989e12 * 0.55, 3.35e12 * 0.8, 8e9 * 2.0, 131_072.0);
    let step = |tokens: f64, context: f64| {
        (2.0 * 8e9 * tokens / flops).max((weights + context * kv) / bandwidth) / speedup
    };
    let system = words(0, 6000);
    let (n1, ttft1) = turn(&addr, &chat(&[("system", &system)], 2), 2).await;
    assert_eq!(n1, 6000);
    let want1 = step(6000.0, 6000.0);
    assert!(
        (ttft1.as_secs_f64() - want1).abs() < 0.02,
        "cold TTFT {ttft1:?}, model {want1:.4} s"
    );
    let body = chat(&[("system", &system), ("user", &words(9000, 100))], 2);
    let (n2, ttft2) = turn(&addr, &body, 2).await;
    assert_eq!(n2, 6100);
    // The first prompt's 375 blocks cached: 100 tokens computed,
    // attending to all 6100.
    let want2 = step(100.0, 6100.0);
    assert!(
        (ttft2.as_secs_f64() - want2).abs() < 0.01,
        "warm TTFT {ttft2:?}, model {want2:.4} s (cold {ttft1:?})"
    );
    assert!(ttft2 * 4 < ttft1, "warm {ttft2:?} vs cold {ttft1:?}");
    let m = metrics(&addr).await;
    check_cache(&m, n1 + n2, 6000);
    assert_eq!(
        metric(&m, "servebench_sim_prefix_cache_late_hits_total", ""),
        0.0
    );
}
