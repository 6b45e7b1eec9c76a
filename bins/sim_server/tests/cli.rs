//! Drives the real `sim_server` binary on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts the server on a free port; returns it and its address.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim_server"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sim_server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    (child, addr)
}

fn post(addr: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// Ends the server the way an operator would, by its PID.
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

#[test]
fn counts_prompt_tokens_with_a_real_tokenizer() {
    let tokenizer = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/tokenizers/deepseek-r1");
    let (child, addr) = start(&[
        "--ttft-ms",
        "0",
        "--itl-ms",
        "0",
        "--tokenizer",
        tokenizer.to_str().unwrap_or_default(),
    ]);
    let response = post(
        &addr,
        "/v1/completions",
        r#"{"prompt": "The quick brown fox jumps over the lazy dog", "max_tokens": 12}"#,
    );
    assert!(
        response.contains(
            "\"usage\":{\"prompt_tokens\":9,\"total_tokens\":21,\"completion_tokens\":12}"
        ),
        "{response}"
    );
    stop(child);
}

#[test]
fn model_mode_and_bad_flags() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/sim.yaml");
    let config = config.to_str().unwrap_or_default();
    let (child, addr) = start(&[
        "--gpu",
        "h200",
        "--sim-model",
        "dense-8b",
        "--speedup",
        "50",
        "--sim-config",
        config,
    ]);
    let response = post(
        &addr,
        "/v1/completions",
        r#"{"prompt": "hello", "max_tokens": 20, "stream": true}"#,
    );
    assert_eq!(response.matches("\"text\":").count(), 20, "{response}");
    stop(child);
    for (args, needle) in [
        (
            vec![
                "--gpu",
                "tpu",
                "--sim-model",
                "dense-8b",
                "--sim-config",
                config,
            ],
            "unknown GPU 'tpu'",
        ),
        (
            vec![
                "--gpu",
                "h100",
                "--sim-model",
                "dense-70b",
                "--sim-config",
                config,
            ],
            "does not fit",
        ),
        (
            vec![
                "--gpu",
                "h100",
                "--sim-model",
                "dense-8b",
                "--sim-config",
                "nope.yaml",
            ],
            "nope.yaml",
        ),
        (vec!["--fault", "explode=1"], "invalid fault"),
        (vec!["--host", "localhost"], "not an IP address"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sim_server"))
            .args(["--port", "0"])
            .args(&args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
    }
}

/// `--gpu-metrics-csv`: nvidia-smi's CSV for every simulated GPU (tp 2),
/// idle when no request runs, busier while one does, in simulated time around
/// `--clock-origin`, flushed at shutdown; fast mode cannot ask for it.
#[test]
fn gpu_metrics_csv_logs_power_in_simulated_time() {
    let dir = std::env::temp_dir().join(format!("sim-server-power-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let csv = dir.join("gpu_metrics.csv");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/sim.yaml");
    let origin = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let (child, addr) = start(&[
        "--gpu",
        "h100",
        "--sim-model",
        "dense-8b",
        "--tp",
        "2",
        "--speedup",
        "10",
        "--sim-config",
        config.to_str().expect("utf-8"),
        "--gpu-metrics-csv",
        csv.to_str().expect("utf-8"),
        "--clock-origin",
        &origin.to_string(),
        "--model",
        "m",
    ]);
    let reply = post(
        &addr,
        "/v1/completions",
        r#"{"model": "m", "prompt": "hello world", "max_tokens": 64}"#,
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    std::thread::sleep(Duration::from_millis(100));
    stop(child);
    let text = std::fs::read_to_string(&csv).expect("csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("timestamp, index, power.draw [W], utilization.gpu [%], power.limit [W]")
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(", ").map(str::to_owned).collect())
        .collect();
    assert!(rows.len() >= 10, "{text}");
    assert!(rows.iter().all(|r| r.len() == 5 && r[4] == "700.00 W"));
    let ids: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert!(ids.chunks(2).all(|c| c == ["0", "1"]), "{ids:?}");
    let watts: Vec<f64> = rows
        .iter()
        .map(|r| r[2].trim_end_matches(" W").parse().expect("watts"))
        .collect();
    // Idle (80 W) before the request or after it (the last 100 ms of wall
    // time are a simulated second); the first sample alone may already
    // see the request on a loaded machine.
    assert!(watts.contains(&80.0), "idle: {watts:?}");
    assert!(watts.iter().any(|w| *w > 300.0), "{watts:?}");
    assert!(watts.iter().all(|w| (80.0..=700.0).contains(w)));
    // The stamps advance (simulated time, 10x the wall clock).
    let stamp = |r: &Vec<String>| r[0].clone();
    assert_ne!(stamp(&rows[0]), stamp(&rows[rows.len() - 1]));
    let _ = std::fs::remove_dir_all(&dir);

    let out = Command::new(env!("CARGO_BIN_EXE_sim_server"))
        .args(["--gpu-metrics-csv", "x.csv"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gpu"));
}

/// The KV cache's size is stated at start-up on stderr in vLLM's words,
/// in whole blocks, before the address line on stdout.
#[test]
fn states_the_kv_cache_size_like_vllm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim_server"))
        .args(["--port", "0", "--kv-cache-tokens", "5000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sim_server");
    let mut first = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut first)
        .expect("stderr line");
    let mut address = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut address)
        .expect("address line");
    assert_eq!(first, "sim_server: GPU KV cache size: 4,992 tokens\n");
    let addr = address
        .trim()
        .strip_prefix("sim_server listening on http://")
        .unwrap_or_else(|| panic!("{address}"));
    // A served request first: the SIGTERM handler is installed once the
    // serve loop runs, a little after the address line.
    let reply = post(
        addr,
        "/v1/completions",
        r#"{"prompt": "hi", "max_tokens": 1}"#,
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    stop(child);
}

/// `--kv-cache-tokens` sizes the prefix cache: 64 tokens keep the first
/// 4 blocks of a 100-token prompt, which its repeat then hits; `/metrics`
/// says so in vLLM's names. Below one block it is refused.
#[test]
fn kv_cache_tokens_sizes_the_prefix_cache() {
    let (child, addr) = start(&["--ttft-ms", "0", "--itl-ms", "0", "--kv-cache-tokens", "64"]);
    let prompt: String = (0..100).map(|i| format!("{i:04} ")).collect();
    let body = format!(r#"{{"prompt": "{prompt}", "max_tokens": 2}}"#);
    for _ in 0..2 {
        let reply = post(&addr, "/v1/completions", &body);
        assert!(reply.contains("\"prompt_tokens\":100"), "{reply}");
    }
    let mut s = TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut metrics = String::new();
    s.read_to_string(&mut metrics).expect("read");
    for line in [
        "vllm:prefix_cache_queries_total{model_name=\"servebench-sim\"} 200",
        "vllm:prefix_cache_hits_total{model_name=\"servebench-sim\"} 64",
        "vllm:prompt_tokens_by_source_total{model_name=\"servebench-sim\",source=\"local_cache_hit\"} 64",
        "vllm:kv_cache_usage_perc{model_name=\"servebench-sim\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    stop(child);
    let out = Command::new(env!("CARGO_BIN_EXE_sim_server"))
        .args(["--port", "0", "--kv-cache-tokens", "8"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--kv-cache-tokens must be between 16 and"),
        "{stderr}"
    );
}
