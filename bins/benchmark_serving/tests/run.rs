//! Drives the real `benchmark_serving` against scripted HTTP servers on
//! 127.0.0.1: every backend's request body and stream, every fault type,
//! warmups, goodput and the saved files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("run-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// What the scripted server received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: String,
    body: String,
}

/// How the scripted server answers one request.
enum Reply {
    /// Status 200, chunked, each piece flushed after waiting its delay.
    Stream(Vec<(u64, String)>),
    /// Like `Stream`, but the connection is closed before the last chunk.
    Cut(Vec<(u64, String)>),
    Status(u16, &'static str),
    /// Close the connection without answering.
    Hangup,
}

type Script = dyn Fn(usize, &Received) -> Reply + Send + Sync;

struct Server {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

fn serve(script: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let script: Arc<Script> = Arc::new(script);
    let log = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (log, script) = (Arc::clone(&log), Arc::clone(&script));
            std::thread::spawn(move || {
                let _ = connection(stream, &log, &*script);
            });
        }
    });
    Server { port, received }
}

fn connection(
    stream: TcpStream,
    log: &Mutex<Vec<Received>>,
    script: &Script,
) -> std::io::Result<()> {
    // Like a real server: every chunk leaves at once.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let (mut length, mut authorization) = (0usize, String::new());
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap_or((h, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = value.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let r = Received {
            path,
            authorization,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let index = {
            let mut log = log.lock().unwrap();
            log.push(r.clone());
            log.len() - 1
        };
        let chunked = |out: &mut TcpStream, pieces: &[(u64, String)]| -> std::io::Result<()> {
            out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
            for (delay, piece) in pieces {
                std::thread::sleep(Duration::from_millis(*delay));
                out.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())?;
                out.flush()?;
            }
            Ok(())
        };
        match script(index, &r) {
            Reply::Stream(pieces) => {
                chunked(&mut out, &pieces)?;
                out.write_all(b"0\r\n\r\n")?;
            }
            Reply::Cut(pieces) => {
                chunked(&mut out, &pieces)?;
                return Ok(());
            }
            Reply::Status(code, reason) => {
                write!(
                    out,
                    "HTTP/1.1 {code} {reason}\r\ncontent-length: 2\r\n\r\n{{}}"
                )?;
            }
            Reply::Hangup => return Ok(()),
        }
        out.flush()?;
    }
}

fn completion_stream(words: &[&str], delay_ms: u64) -> Vec<(u64, String)> {
    let mut pieces: Vec<(u64, String)> = words
        .iter()
        .map(|w| {
            (
                delay_ms,
                format!("data: {{\"choices\":[{{\"index\":0,\"text\":\"{w}\"}}]}}\n\n"),
            )
        })
        .collect();
    pieces.push((
        0,
        format!(
            "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":{}}}}}\n\n",
            words.len()
        ),
    ));
    pieces.push((0, "data: [DONE]\n\n".into()));
    pieces
}

fn bench(dir: &Path, port: u16, extra: &[&str]) -> Output {
    bench_env(dir, port, extra, &[])
}

fn bench_env(dir: &Path, port: u16, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let tokenizer = repo().join("../shared/reference/tokenizers/deepseek-r1");
    let dataset = repo().join("fixtures/datasets/custom_small.jsonl");
    Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["--model", "org/sim-model", "--dataset-name", "custom"])
        .arg("--dataset-path")
        .arg(dataset)
        .arg("--tokenizer")
        .arg(tokenizer)
        .args(["--num-prompts", "4", "--disable-tqdm", "--save-result"])
        .args(["--save-detailed", "--result-filename", "out.json"])
        .args(["--base-url", &format!("http://127.0.0.1:{port}")])
        .args(extra)
        .env("OPENAI_API_KEY", "sk-test")
        .envs(envs.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run benchmark_serving")
}

fn saved(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("out.json")).expect("saved result");
    assert!(!text.ends_with('\n'));
    serde_json::from_str(&text).expect("saved result is JSON")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn vllm_completions_end_to_end_with_warmups_and_goodput() {
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a", "b", "c"], 20)));
    let dir = scratch("vllm");
    let out = bench(
        &dir,
        server.port,
        &[
            "--max-concurrency",
            "2",
            "--num-warmups",
            "3",
            "--goodput",
            "ttft:1000",
            "--percentile-metrics",
            "ttft,tpot,itl,e2el",
            "--metadata",
            "tp=8",
            "--ignore-eos",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "Starting initial single prompt test run...",
        "Warming up with 3 requests...",
        "Warmup completed.",
        "Traffic request rate: inf",
        "Burstiness factor: 1.0 (Poisson process)",
        "Maximum request concurrency: 2",
        "Starting main benchmark run...",
        "============ Serving Benchmark Result ============",
        "Successful requests:                     4         ",
        "Request goodput (req/s):",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("Client self-audit"));
    let received = server.received.lock().unwrap().clone();
    assert_eq!(received.len(), 7, "3 warmups + 4 requests");
    let first: serde_json::Value = serde_json::from_str(&received[3].body).unwrap();
    assert_eq!(first["model"], "org/sim-model");
    assert_eq!(first["ignore_eos"], true);
    assert!(received[3]
        .body
        .starts_with(r#"{"model": "org/sim-model", "prompt": ""#));
    assert!(received.iter().all(|r| r.path == "/v1/completions"));
    assert!(received.iter().all(|r| r.authorization == "Bearer sk-test"));

    let doc = saved(&dir);
    assert_eq!(doc["completed"], 4);
    assert_eq!(doc["total_output_tokens"], 12);
    assert_eq!(doc["tp"], "8");
    assert_eq!(doc["max_concurrency"], 2);
    assert_eq!(doc["generated_texts"][0], "abc");
    assert_eq!(
        doc["request_goodput:"].as_f64().map(|g| g > 0.0),
        Some(true)
    );
    assert!(doc.get("client_audit").is_none());
    // Two 20 ms gaps per request.
    let itls = doc["itls"][0].as_array().unwrap();
    assert_eq!(itls.len(), 2);
    assert!(itls.iter().all(|g| g.as_f64().unwrap() >= 0.015));
    assert!(doc["ttfts"][0].as_f64().unwrap() >= 0.015);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sk-test"));
    assert!(!std::fs::read_to_string(dir.join("out.json"))
        .unwrap()
        .contains("sk-test"));
}

#[test]
fn pytorch_format_side_file_only_when_asked() {
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a", "b"], 1)));
    let dir = scratch("pytorch");
    let extra = ["--metadata", "tp=8", "--max-concurrency", "2"];
    let out = bench_env(
        &dir,
        server.port,
        &extra,
        &[("SAVE_TO_PYTORCH_BENCHMARK_FORMAT", "")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !dir.join("out.pytorch.json").exists(),
        "an empty value means off"
    );

    let out = bench_env(
        &dir,
        server.port,
        &extra,
        &[("SAVE_TO_PYTORCH_BENCHMARK_FORMAT", "1")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pt_text = std::fs::read_to_string(dir.join("out.pytorch.json")).unwrap();
    // Python's json writes the infinite rate as a bare Infinity.
    assert!(pt_text.contains(r#""request_rate": Infinity, "burstiness": 1.0"#));
    let records: serde_json::Value =
        serde_json::from_str(&pt_text.replace("Infinity", "\"inf\"")).unwrap();
    let records = records.as_array().unwrap();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["metric"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 12);
    assert_eq!(
        names[..3],
        ["median_ttft_ms", "mean_ttft_ms", "std_ttft_ms"]
    );
    let doc = saved(&dir);
    let r = &records[3];
    assert_eq!(r["benchmark"]["name"], "vLLM benchmark");
    assert_eq!(r["model"]["name"], "org/sim-model");
    assert_eq!(r["metric"]["benchmark_values"][0], doc["p99_ttft_ms"]);
    let args = &r["benchmark"]["extra_info"]["args"];
    assert_eq!(args["metadata"], serde_json::json!(["tp=8"]));
    assert_eq!(args["max_concurrency"], 2);
    assert_eq!(args["num_warmups"], 0);
    assert!(args.get("dry_run").is_none(), "only the original's options");
    let extra_info = &r["metric"]["extra_info"];
    assert_eq!(extra_info["tp"], "8");
    assert!(extra_info.get("ttfts").is_none() && extra_info.get("mean_ttft_ms").is_none());
    assert_eq!(extra_info["input_lens"], doc["input_lens"]);
}

#[test]
fn other_backends_parse_their_streams() {
    let chat = serve(|_, _| {
        Reply::Stream(vec![
            (
                0,
                "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\n".into(),
            ),
            (5, ": keep-alive\r\n\r\n".into()),
            (
                5,
                "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\n".into(),
            ),
            (
                0,
                "data: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\r\n\r\n".into(),
            ),
            (0, "data: [DONE]\r\n\r\n".into()),
        ])
    });
    let dir = scratch("chat");
    let out = bench(
        &dir,
        chat.port,
        &[
            "--backend",
            "openai-chat",
            "--endpoint",
            "/v1/chat/completions",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let doc = saved(&dir);
    assert_eq!(doc["completed"], 4);
    assert_eq!(doc["generated_texts"][1], "hi");
    assert_eq!(doc["total_output_tokens"], 8);
    let body: serde_json::Value =
        serde_json::from_str(&chat.received.lock().unwrap()[0].body).unwrap();
    // Edition 2026-08 (the default): the content is the prompt itself.
    assert!(body["messages"][0]["content"].is_string(), "{body}");
    // 2026-02: a list of one text part; no window keys, no gate.
    let dir = scratch("chat-2026-02");
    let out = bench_env(
        &dir,
        chat.port,
        &[
            "--backend",
            "openai-chat",
            "--endpoint",
            "/v1/chat/completions",
        ],
        &[("INFERENCEX_CONTRACT", "2026-02")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let received = chat.received.lock().unwrap();
    let body: serde_json::Value = serde_json::from_str(&received[received.len() - 1].body).unwrap();
    assert_eq!(body["messages"][0]["content"][0]["type"], "text");
    assert!(saved(&dir).get("benchmark_start_time_unix").is_none());

    let tgi = serve(|_, _| {
        Reply::Stream(vec![
            (0, "data:{\"token\":{\"text\":\"x\"}}\n\n".into()),
            (
                0,
                "data:{\"token\":{\"text\":\"y\"},\"generated_text\":\"xy\"}\n\n".into(),
            ),
        ])
    });
    let dir = scratch("tgi");
    let out = bench(
        &dir,
        tgi.port,
        &["--backend", "tgi", "--endpoint", "/generate_stream"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let doc = saved(&dir);
    assert_eq!(doc["completed"], 4);
    assert_eq!(doc["generated_texts"][0], "xy");
    // The original's quirk: only the OpenAI paths report output tokens.
    assert_eq!(doc["total_output_tokens"], 0);

    let trt = serve(|_, _| {
        Reply::Stream(vec![
            (0, "data:{\"text_output\":\"p\"}\n\n".into()),
            (0, "data:{\"text_output\":\"q\"}\n\n".into()),
        ])
    });
    let dir = scratch("trt");
    let out = bench(
        &dir,
        trt.port,
        &[
            "--backend",
            "tensorrt-llm",
            "--endpoint",
            "/v2/models/ensemble/generate_stream",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(saved(&dir)["generated_texts"][2], "pq");

    let mii = serve(|_, _| Reply::Stream(vec![(0, "{\"text\": [\"whole answer\"]}".into())]));
    let dir = scratch("mii");
    let out = bench(
        &dir,
        mii.port,
        &["--backend", "deepspeed-mii", "--endpoint", "/mii/generate"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(saved(&dir)["generated_texts"][3], "whole answer");
}

#[test]
fn every_fault_fails_its_request_and_the_run_goes_on() {
    let server = serve(|i, _| match i {
        0 => Reply::Status(500, "Internal Server Error"),
        1 => Reply::Cut(completion_stream(&["a"], 0)[..1].to_vec()),
        2 => {
            let mut s = completion_stream(&["a", "b"], 0);
            s[1].0 = 3000; // stalls past --read-timeout
            Reply::Stream(s)
        }
        3 => Reply::Stream(vec![(0, "data: {\"choices\": [oops\n\n".into())]),
        _ => Reply::Hangup,
    });
    let dir = scratch("faults");
    let out = bench(
        &dir,
        server.port,
        &["--max-concurrency", "1", "--read-timeout", "0.5"],
    );
    // Every request failed: the original still writes the result, then
    // (edition 2026-08) the failure gate ends the run with exit 1.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("All requests failed"));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .ends_with("FAIL: request failure rate 100.0% exceeds 5% threshold (0/4 completed)\n"),
        "{}",
        text(&out)
    );
    let doc = saved(&dir);
    assert_eq!(doc["completed"], 0);
    let errors: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors[0], "Internal Server Error");
    assert!(errors[1].contains("cut"), "{}", errors[1]);
    assert!(errors[2].contains("stalled"), "{}", errors[2]);
    assert!(errors[3].contains("JSON"), "{}", errors[3]);
    assert!(!errors.iter().any(|e| e.is_empty()));
    // The distinct reasons, first three, with counts.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("requests failed: Internal Server Error (1); "),
        "{stderr}"
    );
    assert!(stderr.contains("; and 1 more reason\n"), "{stderr}");
}

#[test]
fn a_refused_connection_fails_requests_and_the_audit_can_be_saved() {
    // Bind and drop: nothing listens on this port afterwards.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = scratch("refused");
    let out = bench_env(
        &dir,
        port,
        &["--save-audit", "--new-connection-per-request"],
        &[("INFERENCEX_CONTRACT", "2026-02")],
    );
    // 2026-02: no failure gate, exit 0.
    assert!(out.status.success(), "{}", text(&out));
    let doc = saved(&dir);
    assert_eq!(doc["completed"], 0);
    assert!(doc["errors"][0]
        .as_str()
        .unwrap()
        .contains("cannot connect"));
    assert_eq!(doc["client_audit"]["connections_opened"], 0);
    assert!(doc["client_audit"]["client_bound"].is_boolean());
    // Besides the original's warning, stderr says why, with the address.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("benchmark_serving: ") && l.contains("requests failed"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let n = doc["num_prompts"].as_u64().unwrap_or(0);
    assert!(
        line.starts_with(&format!(
            "benchmark_serving: {n} of {n} requests failed: cannot connect to 127.0.0.1:{port}"
        )),
        "{line}"
    );
    assert!(line.ends_with(&format!("({n})")), "{line}");
}

#[test]
fn the_open_file_limit_is_raised_or_reported() {
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a"], 0)));
    let dir = scratch("nofile");
    let bin = env!("CARGO_BIN_EXE_benchmark_serving");
    let tokenizer = repo().join("../shared/reference/tokenizers/deepseek-r1");
    let dataset = repo().join("fixtures/datasets/custom_small.jsonl");
    let run = |limits: &str| {
        let script = format!(
            "{limits}; exec \"$0\" --model m --dataset-name custom --dataset-path \"$1\" \
             --tokenizer \"$2\" --num-prompts 4 --disable-tqdm --max-concurrency 3000 \
             --base-url http://127.0.0.1:{}",
            server.port
        );
        Command::new("sh")
            .args(["-c", &script, bin])
            .arg(&dataset)
            .arg(&tokenizer)
            .current_dir(&dir)
            .output()
            .expect("run sh")
    };
    // Only when the hard limit allows 3,064 open files can the soft one be raised.
    let hard_ok = run("ulimit -Sn 256 && ulimit -Hn 4000 2>/dev/null || exit 99");
    if hard_ok.status.code() != Some(99) {
        assert!(
            text(&hard_ok).contains("Successful requests"),
            "{}",
            text(&hard_ok)
        );
    }
    let out = run("ulimit -n 256");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ulimit -n 3064"),
        "{}",
        text(&out)
    );
}

#[test]
fn connections_are_reused_unless_asked_otherwise() {
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a"], 0)));
    for (flag, expected) in [(None, 1), (Some("--new-connection-per-request"), 4)] {
        let dir = scratch(&format!("reuse-{expected}"));
        let mut extra = vec!["--max-concurrency", "1", "--save-audit"];
        extra.extend(flag);
        let out = bench(&dir, server.port, &extra);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(saved(&dir)["client_audit"]["connections_opened"], expected);
    }
}

#[test]
fn the_audit_counts_the_warm_ups_connections() {
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a"], 0)));
    // (flag, connections opened, of which during the 2 warm-ups)
    for (flag, total, warm) in [
        // The warm-ups' connection serves the main run too.
        (None, 1, 1),
        (Some("--new-connection-per-request"), 6, 2),
    ] {
        let dir = scratch(&format!("warm-connections-{total}"));
        let mut extra = vec!["--max-concurrency", "1", "--num-warmups", "2"];
        extra.push("--save-audit");
        extra.extend(flag);
        let out = bench(&dir, server.port, &extra);
        assert!(out.status.success(), "{}", text(&out));
        let audit = &saved(&dir)["client_audit"];
        assert_eq!(audit["connections_opened"], total, "{audit}");
        assert_eq!(audit["warmup_connections_opened"], warm, "{audit}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "; {total} connections opened ({warm} during warm-ups); "
            )),
            "{stderr}"
        );
    }
    // Without warm-ups the line is as before, and the key 0.
    let dir = scratch("warm-connections-none");
    let out = bench(
        &dir,
        server.port,
        &["--max-concurrency", "1", "--save-audit"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(saved(&dir)["client_audit"]["warmup_connections_opened"], 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("; 1 connections opened; client_bound: "),
        "{stderr}"
    );
}

/// On a terminal (stderr on a pseudo-terminal from util-linux `script`;
/// skipped without it) each bar's line ends with a newline: the self-audit
/// starts on a line of its own, and stdout gets nothing of the bars.
#[test]
fn the_progress_bars_end_their_lines_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        // The unit tests of `serve` check the same with a recording terminal.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no `script` to run benchmark_serving on a terminal"
        );
        return;
    }
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a", "b"], 1)));
    let dir = scratch("tty");
    let quote = |p: &Path| format!("'{}'", p.display());
    let command = format!(
        "{} --model m --dataset-name custom --dataset-path {} --tokenizer {} \
         --num-prompts 4 --num-warmups 2 --max-concurrency 2 \
         --base-url http://127.0.0.1:{} > stdout.txt",
        quote(Path::new(env!("CARGO_BIN_EXE_benchmark_serving"))),
        quote(&repo().join("fixtures/datasets/custom_small.jsonl")),
        quote(&repo().join("../shared/reference/tokenizers/deepseek-r1")),
        server.port
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&dir)
        .output()
        .expect("run script");
    assert!(out.status.success(), "{}", text(&out));
    let terminal = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    // Both bars were drawn, and each ended its line.
    for full in ["2/2 [", "4/4 ["] {
        let line = terminal
            .lines()
            .rfind(|l| l.contains(full))
            .unwrap_or_else(|| panic!("no {full:?} in {terminal:?}"));
        assert!(line.trim_end().ends_with("/s]"), "{line:?}");
    }
    let audit = terminal
        .lines()
        .find(|l| l.contains("Client self-audit"))
        .unwrap_or_else(|| panic!("{terminal:?}"));
    assert!(audit.starts_with("Client self-audit: "), "{audit:?}");
    let stdout = std::fs::read_to_string(dir.join("stdout.txt")).expect("stdout.txt");
    assert!(stdout.contains("\nWarmup completed.\n"), "{stdout}");
    assert!(!stdout.contains("%|"), "{stdout}");
}

#[test]
fn bad_urls_and_options_fail_before_sending() {
    let dir = scratch("bad");
    let out = bench(&dir, 1, &["--backend", "tgi"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("generate_stream"));
    let out = bench(&dir, 1, &["--goodput", "ttft"]);
    assert!(!out.status.success());
    let out = bench(&dir, 1, &["--read-timeout", "0"]);
    assert!(!out.status.success());
    assert!(!dir.join("out.json").exists());
}

/// Starts the binary on the 4 custom prompts with `--save-result`.
fn start(dir: &Path, port: u16, extra: &[&str]) -> std::process::Child {
    let tokenizer = repo().join("../shared/reference/tokenizers/deepseek-r1");
    Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["--model", "m", "--dataset-name", "custom"])
        .arg("--dataset-path")
        .arg(repo().join("fixtures/datasets/custom_small.jsonl"))
        .arg("--tokenizer")
        .arg(tokenizer)
        .args(["--num-prompts", "4", "--disable-tqdm", "--save-result"])
        .args(["--save-detailed", "--result-filename", "out.json"])
        .args(["--base-url", &format!("http://127.0.0.1:{port}")])
        .args(extra)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start benchmark_serving")
}

/// Waits (a minute at most) until the server has received `n` requests.
fn wait_for(server: &Server, n: usize) {
    for _ in 0..1200 {
        if server.received.lock().unwrap().len() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not receive {n} requests");
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// One interrupt: where it comes, with which signals.
struct Interruption {
    name: &'static str,
    signals: &'static [&'static str],
    extra: &'static [&'static str],
    /// The signal goes once the server has received this many requests.
    received: usize,
    /// The requests the server answers at once (the others stall 30 s).
    answered: usize,
}

#[track_caller]
fn check_interruption(case: &Interruption) -> (Output, Option<serde_json::Value>) {
    let answered = case.answered;
    let server = serve(move |i, _| {
        let delay = if i < answered { 0 } else { 30_000 };
        Reply::Stream(completion_stream(&["a"], delay))
    });
    let dir = scratch(case.name);
    let child = start(&dir, server.port, case.extra);
    wait_for(&server, case.received);
    for (k, name) in case.signals.iter().enumerate() {
        if k > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        signal(&child, name);
    }
    let signalled = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}: {}",
        case.name,
        text(&out)
    );
    // Nothing more was sent after the signal.
    assert_eq!(
        server.received.lock().unwrap().len(),
        case.received,
        "{}",
        case.name
    );
    // In-flight requests get 5 s; a second signal ends at once.
    let limit = if case.signals.len() > 1 { 3 } else { 20 };
    assert!(
        signalled.elapsed() < Duration::from_secs(limit),
        "{}: {:?}",
        case.name,
        signalled.elapsed()
    );
    let file = dir.join("out.json");
    (out, file.exists().then(|| saved(&dir)))
}

#[test]
fn sigint_and_sigterm_save_the_partial_result_in_every_phase() {
    let main_run = |name, signal| Interruption {
        name,
        signals: signal,
        extra: &["--request-rate", "20", "--max-concurrency", "4"],
        received: 4,
        answered: 1,
    };
    let warmups = |name, signal| Interruption {
        name,
        signals: signal,
        extra: &["--num-warmups", "2", "--max-concurrency", "2"],
        received: 2,
        answered: 0,
    };
    let cases = [
        main_run("int-main", &["INT"]),
        main_run("term-main", &["TERM"]),
        warmups("int-warmups", &["INT"]),
        warmups("term-warmups", &["TERM"]),
        Interruption {
            name: "term-profile",
            signals: &["TERM"],
            extra: &["--profile"],
            received: 1,
            answered: 0,
        },
        main_run("term-twice", &["TERM", "TERM"]),
    ];
    let results: Vec<(Output, Option<serde_json::Value>)> = std::thread::scope(|s| {
        let running: Vec<_> = cases
            .iter()
            .map(|case| s.spawn(|| check_interruption(case)))
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (case, (out, doc)) in cases.iter().zip(results) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if case.signals.len() > 1 {
            assert!(stderr.contains("interrupted again"), "{}", text(&out));
            assert!(doc.is_none(), "{}: saved after a second signal", case.name);
            continue;
        }
        let doc = doc.unwrap_or_else(|| panic!("{}: nothing saved: {}", case.name, text(&out)));
        assert_eq!(doc["interrupted"], true, "{}", case.name);
        assert!(
            stdout.contains("Serving Benchmark Result"),
            "{}",
            text(&out)
        );
        assert!(!stderr.contains("All requests failed"), "{}", text(&out));
        if case.received == 4 {
            assert_eq!(doc["completed"], 1);
            assert_eq!(
                doc["errors"][3],
                "interrupted before the answer was complete"
            );
            assert!(
                stderr.contains("interrupted during the main run: 4 of 4 requests were launched"),
                "{}",
                text(&out)
            );
            continue;
        }
        // Before the main run: an empty result.
        assert_eq!(doc["completed"], 0, "{}", case.name);
        assert_eq!(doc["input_lens"], serde_json::json!([]), "{}", case.name);
        assert!(
            !stdout.contains("Starting main benchmark run..."),
            "{}",
            text(&out)
        );
        if case.name.ends_with("warmups") {
            assert!(stdout.contains("Warming up with 2 requests..."));
            assert!(!stdout.contains("Warmup completed."), "{}", text(&out));
            assert!(
                stderr.contains("interrupted during the warm-ups: 0 of 4 requests were launched"),
                "{}",
                text(&out)
            );
        } else {
            assert!(stdout.contains("Starting profiler..."));
            assert!(!stdout.contains("Profiler started"), "{}", text(&out));
            assert!(
                stderr.contains("interrupted during the profiler start"),
                "{}",
                text(&out)
            );
            assert!(
                stderr.contains("/stop_profile was not sent"),
                "{}",
                text(&out)
            );
        }
    }
}

/// The handlers are in place once SIGINT and SIGTERM show as caught.
fn wait_for_handlers(pid: u32) {
    let caught = |status: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << 1) != 0 && mask & (1 << 14) != 0)
    };
    for _ in 0..1200 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if caught(&status) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("SIGINT and SIGTERM are never caught");
}

#[test]
fn a_signal_while_the_prompts_are_prepared_ends_at_once() {
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a"], 0)));
    let dir = scratch("prepare-signal");
    let tokenizer = repo().join("../shared/reference/tokenizers/deepseek-r1");
    // Minutes of sampling in a debug build (a prefix takes the slow path).
    let child = Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["--model", "m", "--dataset-name", "random"])
        .arg("--tokenizer")
        .arg(tokenizer)
        .args(["--num-prompts", "5000", "--random-input-len", "1000"])
        .args(["--random-prefix-len", "10", "--save-result"])
        .args(["--result-filename", "out.json"])
        .args(["--base-url", &format!("http://127.0.0.1:{}", server.port)])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start benchmark_serving");
    wait_for_handlers(child.id());
    signal(&child, "TERM");
    let signalled = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "benchmark_serving: interrupted while preparing the prompts: nothing was sent or saved\n"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert!(server.received.lock().unwrap().is_empty());
    assert!(!dir.join("out.json").exists());
}

/// Edition 2026-08: `/start_profile` carries `num_steps`, `merge_profiles`
/// and `profile_by_stage` after the other fields; `/stop_profile` does
/// not; the saved result has the wall-clock window after `duration` and
/// keeps `input_lens`/`output_lens` without `--save-detailed`.
#[test]
fn edition_2026_08_profile_body_window_and_lengths() {
    let server = serve(|_, _| Reply::Stream(completion_stream(&["a", "b"], 0)));
    let dir = scratch("profile-2026-08");
    let tokenizer = repo().join("../shared/reference/tokenizers/deepseek-r1");
    let dataset = repo().join("fixtures/datasets/custom_small.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["--model", "org/sim-model", "--dataset-name", "custom"])
        .arg("--dataset-path")
        .arg(dataset)
        .arg("--tokenizer")
        .arg(tokenizer)
        .args(["--num-prompts", "4", "--disable-tqdm", "--save-result"])
        .args(["--result-filename", "out.json", "--profile"])
        .args(["--base-url", &format!("http://127.0.0.1:{}", server.port)])
        .env("INFERENCEX_CONTRACT", "2026-08")
        .current_dir(&dir)
        .output()
        .expect("run benchmark_serving");
    assert!(out.status.success(), "{}", text(&out));
    let received = server.received.lock().unwrap().clone();
    let start = received
        .iter()
        .find(|r| r.path.ends_with("/start_profile"))
        .expect("a /start_profile request");
    assert!(
        start
            .body
            .ends_with(r#""num_steps": 1, "merge_profiles": true, "profile_by_stage": true}"#),
        "{}",
        start.body
    );
    let stop = received
        .iter()
        .find(|r| r.path.ends_with("/stop_profile"))
        .expect("a /stop_profile request");
    assert!(!stop.body.contains("num_steps"), "{}", stop.body);
    let doc = std::fs::read_to_string(dir.join("out.json")).unwrap();
    let at = |key: &str| doc.find(key).unwrap_or(usize::MAX);
    assert!(
        at("\"duration\"") < at("\"benchmark_start_time_unix\""),
        "{doc}"
    );
    assert!(
        at("\"benchmark_start_time_unix\"") < at("\"benchmark_end_time_unix\""),
        "{doc}"
    );
    assert!(
        at("\"benchmark_end_time_unix\"") < at("\"completed\""),
        "{doc}"
    );
    assert!(
        doc.contains("\"input_lens\"") && doc.contains("\"output_lens\""),
        "{doc}"
    );
    assert!(
        !doc.contains("\"ttfts\"") && !doc.contains("\"errors\""),
        "{doc}"
    );
    let saved: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let (s, e) = (
        saved["benchmark_start_time_unix"].as_f64().unwrap(),
        saved["benchmark_end_time_unix"].as_f64().unwrap(),
    );
    assert!(s > 1.7e9 && e >= s, "{s} {e}");
    assert!(saved.get("p90_e2el_ms").is_some() && saved.get("p99.9_itl_ms").is_some());
}
