//! The simulator over real sockets on 127.0.0.1.

use servebench_sim::{serve, SimOptions};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a server; it stops when the returned sender is dropped.
async fn start(ttft_ms: u64, itl_ms: u64) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = SimOptions {
        model: "sim".into(),
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::from_millis(itl_ms),
        fault: None,
        fault_every: 1,
        deployment: None,
        ground_truth: None,
        text: std::sync::Arc::new(servebench_sim::BuiltIn),
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

async fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String, Vec<(Duration, String)>) {
    request_with(addr, method, path, body, "").await
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body)
/// with chunked transfer decoding, and when each body chunk arrived.
async fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    extra_headers: &str,
) -> (u16, String, Vec<(Duration, String)>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n",
        body.len()
    );
    let sent = Instant::now();
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let mut arrivals = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // A reset ends the read with an error: keep what arrived.
        let Ok(n) = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("response within 30 s")
        else {
            break;
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        arrivals.push((
            sent.elapsed(),
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        ));
    }
    let text = String::from_utf8(raw).expect("utf-8");
    let (headers, rest) = text.split_once("\r\n\r\n").expect("headers");
    let status: u16 = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest).0
    } else {
        rest.to_owned()
    };
    (status, body, arrivals)
}

/// The chunked body, and whether it ended properly (a zero-size chunk).
fn dechunk(mut s: &str) -> (String, bool) {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            return (out, true);
        }
        let Some(chunk) = rest.get(..n) else { break };
        out.push_str(chunk);
        s = rest.get(n + 2..).unwrap_or_default();
    }
    (out, false)
}

/// Replaces the id and creation time, which change per request.
fn redact(body: &str) -> String {
    let mut out = String::new();
    for line in body.split_inclusive('\n') {
        let mut l = line.to_owned();
        for key in ["\"id\":\"", "\"created\":"] {
            if let Some(at) = l.find(key) {
                let start = at + key.len();
                let end = start + l[start..].find([',', '"']).unwrap_or(0);
                l.replace_range(start..end, "X");
            }
        }
        out.push_str(&l);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_stream_wire_format() {
    let (addr, _stop) = start(0, 0).await;
    let body = r#"{"model": "sim", "prompt": "hello there world", "max_tokens": 3, "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true}"#;
    let (status, text, _) = request(&addr, "POST", "/v1/completions", body).await;
    assert_eq!(status, 200);
    let chunk = |t: &str, f: &str| {
        format!("data: {{\"id\":\"X\",\"object\":\"text_completion\",\"created\":X,\"model\":\"sim\",\"choices\":[{{\"index\":0,\"text\":\"{t}\",\"logprobs\":null,\"finish_reason\":{f},\"stop_reason\":null}}],\"usage\":null}}\n\n")
    };
    let want = format!(
        "{}{}{}data: {{\"id\":\"X\",\"object\":\"text_completion\",\"created\":X,\"model\":\"sim\",\"choices\":[],\"usage\":{{\"prompt_tokens\":6,\"total_tokens\":9,\"completion_tokens\":3}}}}\n\ndata: [DONE]\n\n",
        chunk(" model", "null"), chunk(" arrives", "null"), chunk(" requests", "\"length\"")
    );
    assert_eq!(redact(&text), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_and_whole_responses() {
    let (addr, _stop) = start(0, 0).await;
    let body = r#"{"model": "sim", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_completion_tokens": 2, "stream": true, "stream_options": {"include_usage": true}}"#;
    let (status, text, _) = request(&addr, "POST", "/v1/chat/completions", body).await;
    assert_eq!(status, 200);
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 5, "role, 2 tokens, usage, [DONE]: {text}");
    assert!(events[0].contains("\"delta\":{\"role\":\"assistant\",\"content\":\"\"}"));
    assert!(events[2].contains("\"finish_reason\":\"length\""));
    assert!(events[3].contains(
        "\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"total_tokens\":3,\"completion_tokens\":2}"
    ));
    assert_eq!(events[4], "data: [DONE]");
    // The second request on this server: its words follow from its id.
    let (status, whole, _) = request(
        &addr,
        "POST",
        "/v1/completions",
        r#"{"prompt": "x", "max_tokens": 2}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        redact(&whole),
        "{\"id\":\"X\",\"object\":\"text_completion\",\"created\":X,\"model\":\"sim\",\"choices\":[{\"index\":0,\"text\":\" answers on\",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}],\"usage\":{\"prompt_tokens\":1,\"total_tokens\":3,\"completion_tokens\":2}}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_health_models_and_metrics() {
    let (addr, _stop) = start(0, 0).await;
    let (status, body, _) = request(&addr, "POST", "/v1/completions", "{").await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("{\"object\":\"error\",\"message\":\"invalid JSON"),
        "{body}"
    );
    let (status, body, _) = request(
        &addr,
        "POST",
        "/v1/completions",
        r#"{"model": "gpt", "prompt": "x"}"#,
    )
    .await;
    assert_eq!(
        (status, body.contains("The model `gpt` does not exist.")),
        (404, true)
    );
    assert_eq!(request(&addr, "GET", "/health", "").await.0, 200);
    assert_eq!(request(&addr, "GET", "/nope", "").await.0, 404);
    assert!(request(&addr, "GET", "/v1/models", "")
        .await
        .1
        .contains("\"id\":\"sim\""));
    for _ in 0..3 {
        request(
            &addr,
            "POST",
            "/v1/completions",
            r#"{"prompt": "abcd efgh", "max_tokens": 4, "stream": true}"#,
        )
        .await;
    }
    let (_, metrics, _) = request(&addr, "GET", "/metrics", "").await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in {metrics}"))
    };
    assert_eq!(value("vllm:request_success_total{"), 3.0);
    assert_eq!(value("vllm:prompt_tokens_total{"), 6.0);
    assert_eq!(value("vllm:generation_tokens_total{"), 12.0);
    assert_eq!(value("vllm:num_requests_running{"), 0.0);
    assert_eq!(value("vllm:time_per_output_token_seconds_count{"), 9.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_follow_the_schedule() {
    let (addr, _stop) = start(50, 10).await;
    let (_, text, arrivals) = request(
        &addr,
        "POST",
        "/v1/completions",
        r#"{"prompt": "x", "max_tokens": 6, "stream": true}"#,
    )
    .await;
    assert_eq!(text.matches("\"text\":").count(), 6);
    let first = arrivals
        .iter()
        .find(|(_, chunk)| chunk.contains("\"text\":"))
        .map(|(t, _)| *t)
        .expect("a token");
    let last = arrivals.last().map(|(t, _)| *t).expect("arrivals");
    // Deadlines are absolute from arrival: 50 ms, then 5 gaps of 10 ms.
    assert!(
        first >= Duration::from_millis(50),
        "first token at {first:?}"
    );
    assert!(last >= Duration::from_millis(100), "last token at {last:?}");
    assert!(last < Duration::from_millis(1000), "last token at {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_streams_complete() {
    let (addr, _stop) = start(0, 0).await;
    let mut tasks = Vec::new();
    for i in 0..2000 {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!(r#"{{"prompt": "request {i}", "max_tokens": 20, "stream": true, "stream_options": {{"include_usage": true}}}}"#);
            request(&addr, "POST", "/v1/completions", &body).await
        }));
    }
    for task in tasks {
        let (status, text, _) = task.await.expect("task");
        assert_eq!(status, 200);
        assert_eq!(text.matches("\"text\":").count(), 20);
        assert!(text.contains("\"completion_tokens\":20}") && text.ends_with("data: [DONE]\n\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_type() {
    let (addr, _stop) = start(0, 0).await;
    let stream = r#"{"prompt": "x", "max_tokens": 6, "stream": true, "stream_options": {"include_usage": true}}"#;
    let fault = |spec: &str| format!("x-sim-fault: {spec}\r\n");
    for code in [500u16, 503, 429] {
        let (status, body, _) = request_with(
            &addr,
            "POST",
            "/v1/completions",
            stream,
            &fault(&format!("status={code}")),
        )
        .await;
        assert_eq!(status, code);
        assert!(body.contains("simulated fault"), "{body}");
    }
    let (status, body, _) =
        request_with(&addr, "POST", "/v1/completions", stream, &fault("cut=2")).await;
    assert_eq!(status, 200);
    assert_eq!(body.matches("\"text\":").count(), 2);
    assert!(
        !body.contains("[DONE]") && !body.contains("\"usage\":{"),
        "{body}"
    );
    let (_, body, _) = request_with(
        &addr,
        "POST",
        "/v1/completions",
        stream,
        &fault("malformed=1"),
    )
    .await;
    assert!(
        body.ends_with("data: {\"id\": \"cmpl-broken\", \"choices\": [{\n\n"),
        "{body}"
    );
    // A reset: the chunked body never ends properly.
    let mut conn = TcpStream::connect(&addr).await.expect("connect");
    let head = format!("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{stream}", stream.len(), fault("reset=3"));
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut raw))
        .await
        .expect("ends");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (_, rest) = text.split_once("\r\n\r\n").expect("headers");
    let (partial, ended) = dechunk(rest);
    assert!(!ended, "a reset must not end the body properly");
    assert_eq!(partial.matches("\"text\":").count(), 3);
    let started = Instant::now();
    let (_, body, _) = request_with(
        &addr,
        "POST",
        "/v1/completions",
        stream,
        &fault("stall=2:300"),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300) && body.ends_with("data: [DONE]\n\n"));
    let started = Instant::now();
    let (status, _, _) = request_with(
        &addr,
        "POST",
        "/v1/completions",
        stream,
        &fault("slow-first-byte=200"),
    )
    .await;
    assert!(status == 200 && started.elapsed() >= Duration::from_millis(200));
    let (status, body, _) = request_with(
        &addr,
        "POST",
        "/v1/completions",
        stream,
        &fault("explode=1"),
    )
    .await;
    assert_eq!((status, body.contains("invalid fault")), (400, true));
    let (_, metrics, _) = request(&addr, "GET", "/metrics", "").await;
    for (kind, count) in [
        ("status", 3),
        ("cut", 1),
        ("malformed", 1),
        ("reset", 1),
        ("stall", 1),
        ("slow_first_byte", 1),
    ] {
        let line =
            format!("servebench_sim_faults_total{{model_name=\"sim\",kind=\"{kind}\"}} {count}");
        assert!(metrics.contains(&line), "missing {line} in {metrics}");
    }
}

/// Model mode, one request alone: the first token after one prefill step,
/// then one decode step per token, each
/// `max(2·active·tokens / flops, (weights + context·kv) / bandwidth)`,
/// computed here from the documented formula, not by the crate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_mode_follows_the_documented_formula() {
    use servebench_sim::{Deployment, Gpu, Model, Precision};
    let gpu = Gpu {
        tflops_bf16: 989.0,
        tflops_fp8: 1979.0,
        tflops_fp4: 1979.0,
        memory_tbs: 3.35,
        memory_gb: 80.0,
        compute_efficiency: 0.55,
        memory_efficiency: 0.8,
        idle_w: 80.0,
        peak_w: 700.0,
    };
    let model = Model {
        params_b: 8.0,
        active_params_b: 8.0,
        kv_bytes_per_token: 131_072.0,
    };
    let deployment = Deployment {
        gpu,
        model,
        precision: Precision::Bf16,
        tp: 1,
        max_num_batched_tokens: 8192,
        max_num_seqs: 256,
        gpu_memory_utilization: 0.9,
    };
    // Slow the clock down 4x so the steps are long enough to time.
    let speedup = 0.25;
    let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let opts = SimOptions {
        model: "sim".into(),
        ttft: Duration::ZERO,
        itl: Duration::ZERO,
        fault: None,
        fault_every: 1,
        deployment: Some((deployment, speedup)),
        ground_truth: None,
        text: std::sync::Arc::new(servebench_sim::BuiltIn),
        kv_cache_tokens: None,
    };
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve(listener, opts, async move {
            let _ = rx.await;
        })
        .await;
    });
    // 400 words of at most 4 letters: 400 prompt tokens.
    let prompt = vec!["word"; 400].join(" ");
    let body = format!(r#"{{"prompt": "{prompt}", "max_tokens": 8, "stream": true}}"#);
    let (_, _, arrivals) = request(&addr, "POST", "/v1/completions", &body).await;
    let times: Vec<f64> = arrivals
        .iter()
        .filter(|(_, c)| c.contains("\"text\":"))
        .map(|(t, _)| t.as_secs_f64())
        .collect();
    assert_eq!(times.len(), 8, "one read per token: {arrivals:?}");
    let (flops, bandwidth, weights, kv) = (989e12 * 0.55, 3.35e12 * 0.8, 8e9 * 2.0, 131_072.0);
    let step = |tokens: f64, context: f64| {
        (2.0 * 8e9 * tokens / flops).max((weights + context * kv) / bandwidth) / speedup
    };
    let ttft = step(400.0, 400.0);
    assert!(
        (times[0] - ttft).abs() < 0.008,
        "TTFT {:.4} s, model {ttft:.4} s",
        times[0]
    );
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mean_gap = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let tpot = (1..8).map(|k| step(1.0, 400.0 + f64::from(k))).sum::<f64>() / 7.0;
    assert!(
        (mean_gap - tpot).abs() < 0.002,
        "TPOT {mean_gap:.4} s, model {tpot:.4} s"
    );
}

/// A KV cache with room for one request at a time: the second waits for
/// the first to finish before its prefill starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_wait_for_kv_cache() {
    use servebench_sim::{Deployment, Gpu, Model, Precision};
    // 18 GB x 0.9 - 16 GB of weights = 0.2 GB: 1525 tokens of cache.
    let gpu = Gpu {
        tflops_bf16: 989.0,
        tflops_fp8: 1979.0,
        tflops_fp4: 1979.0,
        memory_tbs: 3.35,
        memory_gb: 18.0,
        compute_efficiency: 0.55,
        memory_efficiency: 0.8,
        idle_w: 80.0,
        peak_w: 700.0,
    };
    let model = Model {
        params_b: 8.0,
        active_params_b: 8.0,
        kv_bytes_per_token: 131_072.0,
    };
    let deployment = Deployment {
        gpu,
        model,
        precision: Precision::Bf16,
        tp: 1,
        max_num_batched_tokens: 8192,
        max_num_seqs: 256,
        gpu_memory_utilization: 0.9,
    };
    assert_eq!(deployment.kv_capacity_tokens(), 1525);
    let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let opts = SimOptions {
        model: "sim".into(),
        ttft: Duration::ZERO,
        itl: Duration::ZERO,
        fault: None,
        fault_every: 1,
        deployment: Some((deployment, 10.0)),
        ground_truth: None,
        text: std::sync::Arc::new(servebench_sim::BuiltIn),
        kv_cache_tokens: None,
    };
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve(listener, opts, async move {
            let _ = rx.await;
        })
        .await;
    });
    // Each reserves 1 + 1000 tokens; two do not fit together.
    let body = r#"{"prompt": "x", "max_tokens": 1000, "stream": true}"#;
    let (a, b) = tokio::join!(
        request(&addr, "POST", "/v1/completions", body),
        request(&addr, "POST", "/v1/completions", body)
    );
    let first_token = |arrivals: &[(Duration, String)]| {
        arrivals
            .iter()
            .find(|(_, c)| c.contains("\"text\":"))
            .map(|(t, _)| *t)
            .expect("a token")
    };
    let last =
        |arrivals: &[(Duration, String)]| arrivals.last().map(|(t, _)| *t).expect("arrivals");
    let (early, late) = if first_token(&a.2) < first_token(&b.2) {
        (&a.2, &b.2)
    } else {
        (&b.2, &a.2)
    };
    assert!(
        first_token(late) >= last(early) - Duration::from_millis(5),
        "the second request started before the first ended"
    );
    assert_eq!(
        late.iter()
            .map(|(_, c)| c.matches("\"text\":").count())
            .sum::<usize>(),
        1000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ground_truth_records_when_each_token_was_written() {
    let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (sink, mut logs) = tokio::sync::mpsc::unbounded_channel();
    let opts = SimOptions {
        model: "sim".into(),
        ttft: Duration::from_millis(30),
        itl: Duration::from_millis(10),
        fault: None,
        fault_every: 1,
        deployment: None,
        ground_truth: Some(sink),
        text: std::sync::Arc::new(servebench_sim::BuiltIn),
        kv_cache_tokens: None,
    };
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve(listener, opts, async move {
            let _ = rx.await;
        })
        .await;
    });
    request(
        &addr,
        "POST",
        "/v1/completions",
        r#"{"prompt": "x", "max_tokens": 5, "stream": true}"#,
    )
    .await;
    let log = tokio::time::timeout(Duration::from_secs(5), logs.recv())
        .await
        .expect("a log")
        .expect("a log");
    assert!(log.id.starts_with("cmpl-"));
    assert_eq!(log.token_s.len(), 5, "{log:?}");
    let first = log.token_s[0] - log.arrival_s;
    assert!(
        (0.030..0.045).contains(&first),
        "first token {first} s after arrival"
    );
    for w in log.token_s.windows(2) {
        assert!(
            (0.005..0.020).contains(&(w[1] - w[0])),
            "gap {} s",
            w[1] - w[0]
        );
    }
    assert!(log.json().starts_with("{\"id\": \"cmpl-"));
}

/// A tokenizer that takes 300 ms per prompt (a real one takes milliseconds;
/// the speed-up makes those as long as this) and counts 4321 tokens.
#[derive(Debug)]
struct SlowTokenizer;

impl servebench_sim::TextSource for SlowTokenizer {
    fn prompt_tokens(&self, _text: &str) -> usize {
        std::thread::sleep(Duration::from_millis(300));
        4321
    }

    fn token(&self, seed: u64, k: usize) -> &str {
        servebench_sim::BuiltIn.token(seed, k)
    }

    fn counts_slowly(&self) -> bool {
        true
    }
}

/// Model mode at a 20x speed-up: the simulated TTFT is the modelled prefill
/// (0.6 ms of wall time for 400 tokens), not the tokenizer's 300 ms, and
/// `usage` and `/metrics` still report the tokenizer's exact count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tokenizer_is_off_the_simulated_clock() {
    use servebench_sim::{Deployment, Gpu, Model, Precision};
    let deployment = Deployment {
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
    };
    let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let opts = SimOptions {
        model: "sim".into(),
        ttft: Duration::ZERO,
        itl: Duration::ZERO,
        fault: None,
        fault_every: 1,
        deployment: Some((deployment, 20.0)),
        ground_truth: None,
        text: std::sync::Arc::new(SlowTokenizer),
        kv_cache_tokens: None,
    };
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve(listener, opts, async move {
            let _ = rx.await;
        })
        .await;
    });
    // 400 words of at most 4 letters: 400 tokens by the word estimate.
    let prompt = vec!["word"; 400].join(" ");
    let body = format!(
        r#"{{"prompt": "{prompt}", "max_tokens": 8, "stream": true, "stream_options": {{"include_usage": true}}}}"#
    );
    let (status, text, arrivals) = request(&addr, "POST", "/v1/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let first = arrivals
        .iter()
        .find(|(_, c)| c.contains("\"text\":"))
        .map(|(t, _)| *t)
        .expect("a token");
    // Counting in the request's path made this 300 ms or more.
    assert!(
        first < Duration::from_millis(100),
        "first token after {first:?}: the tokenizer's time is on the clock"
    );
    assert!(
        text.contains(
            "\"usage\":{\"prompt_tokens\":4321,\"total_tokens\":4329,\"completion_tokens\":8}"
        ),
        "{text}"
    );
    let (_, metrics, _) = request(&addr, "GET", "/metrics", "").await;
    assert!(
        metrics.contains("vllm:prompt_tokens_total{model_name=\"sim\"} 4321"),
        "{metrics}"
    );

    // The next prompt is scheduled at the tokens per byte learnt from the
    // first: 4321 tokens for these 1999 bytes, a prefill 10.8x longer than
    // the 400-token one (2.9 ms vs 0.27 ms of wall time at 20x, compute
    // bound: 2·8e9·tokens / (989e12·0.55) / 20). Its text differs from the
    // first's from the first byte, so the prefix cache has none of it.
    let body = body.replace("word", "drow");
    let (_, _, arrivals) = request(&addr, "POST", "/v1/completions", &body).await;
    let second = arrivals
        .iter()
        .find(|(_, c)| c.contains("\"text\":"))
        .map(|(t, _)| *t)
        .expect("a token");
    assert!(
        second > Duration::from_micros(2500) && second < Duration::from_millis(100),
        "first token after {second:?}"
    );
}
