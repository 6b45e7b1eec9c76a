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
