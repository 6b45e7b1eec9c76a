//! `cargo xtask bench-sim`: the simulated server's own ceiling in fast mode
//! with zero delays, on one server thread, so that later client
//! measurements know the server is not the bottleneck. The load comes from
//! raw HTTP/1.1 streams on 127.0.0.1 (the other core).

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent streams per row
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    streams: Vec<usize>,
    /// Tokens per stream
    #[arg(long, default_value_t = 2000)]
    tokens: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if !Command::new(cargo)
        .args(["build", "--release", "-p", "sim_server"])
        .current_dir(&root)
        .status()?
        .success()
    {
        bail!("building sim_server failed");
    }
    let server = start_sim(&root, 1, 0, 0, None)?;
    let addr = server.addr.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for &streams in &args.streams {
        rows.push((streams, runtime.block_on(load(&addr, streams, args.tokens))));
    }
    drop(server);
    println!("| streams | tokens/stream | wall (s) | streamed tokens/s (1 server thread) |");
    println!("|---------|---------------|----------|-------------------------------------|");
    for (streams, result) in rows {
        let (tokens, elapsed) = result?;
        println!(
            "| {streams:>7} | {:>13} | {:>8.2} | {:>35.0} |",
            args.tokens,
            elapsed.as_secs_f64(),
            tokens as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// A server child (`sim_server`, `load_generator`) that printed
/// "... listening on http://ADDR" first; killed when dropped.
pub(crate) struct Sim {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    /// Starts `command` and reads the address it prints first.
    pub(crate) fn listening(command: &mut Command, name: &str) -> Result<Sim> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufReader::new(out).read_line(&mut line)?;
        }
        let addr = line.trim().rsplit("http://").next().unwrap_or_default();
        if addr.is_empty() {
            bail!("{name} did not print its address");
        }
        Ok(Sim {
            addr: addr.to_owned(),
            child,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with SIGINT, so that it flushes its ground truth.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let _ = self.child.wait();
    }
}

/// The ground truth `sim_server --ground-truth` wrote (one line per
/// response: its arrival and when each token was written), sorted by
/// arrival.
pub(crate) fn read_truth(path: &Path) -> Result<Vec<(f64, Vec<f64>)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the ground truth {}", path.display()))?;
    let mut logs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)?;
        let arrival = v["arrival_s"].as_f64().context("arrival_s")?;
        let tokens: Vec<f64> = v["token_s"]
            .as_array()
            .context("token_s")?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        logs.push((arrival, tokens));
    }
    logs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(logs)
}

/// The true TTFTs and ITLs (ms) of these responses.
pub(crate) fn truth_timings_ms(logs: &[(f64, Vec<f64>)]) -> (Vec<f64>, Vec<f64>) {
    let ttft = logs
        .iter()
        .filter_map(|(a, t)| t.first().map(|f| (f - a) * 1000.0))
        .collect();
    let itl = logs
        .iter()
        .flat_map(|(_, t)| t.windows(2).map(|w| (w[1] - w[0]) * 1000.0))
        .collect();
    (ttft, itl)
}

/// The TTFTs and ITLs (ms) a client measured, from its saved result
/// (`--save-detailed`: `ttfts`, `itls`).
pub(crate) fn measured_timings_ms(doc: &Value) -> Result<(Vec<f64>, Vec<f64>)> {
    let ttft = doc["ttfts"]
        .as_array()
        .context("the result has no per-request ttfts")?
        .iter()
        .filter_map(Value::as_f64)
        .map(|s| s * 1000.0)
        .collect();
    let itl = doc["itls"]
        .as_array()
        .context("the result has no per-request itls")?
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_f64)
        .map(|s| s * 1000.0)
        .collect();
    Ok((ttft, itl))
}

/// Starts the release `sim_server` (served model `sim`) on a free port.
pub(crate) fn start_sim(
    root: &Path,
    threads: usize,
    ttft_ms: u32,
    itl_ms: u32,
    truth: Option<&Path>,
) -> Result<Sim> {
    let mut command = Command::new(root.join("target/release/sim_server"));
    command
        .args([
            "--port",
            "0",
            "--model",
            "sim",
            "--threads",
            &threads.to_string(),
        ])
        .args([
            "--ttft-ms",
            &ttft_ms.to_string(),
            "--itl-ms",
            &itl_ms.to_string(),
        ]);
    if let Some(truth) = truth {
        command.arg("--ground-truth").arg(truth);
    }
    Sim::listening(&mut command, "sim_server")
}

/// Runs `streams` concurrent streams of `tokens` tokens; returns tokens
/// received and the wall time.
pub(crate) async fn load(addr: &str, streams: usize, tokens: usize) -> Result<(usize, Duration)> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let addr = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            let body = format!(r#"{{"prompt": "bench", "max_tokens": {tokens}, "stream": true}}"#);
            let mut s = tokio::net::TcpStream::connect(&addr).await?;
            s.set_nodelay(true)?;
            let head = format!("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            s.write_all(head.as_bytes()).await?;
            let mut buf = vec![0u8; 1 << 16];
            let mut count = 0usize;
            // Count `"text":` occurrences across reads (a marker split over
            // two reads is carried over).
            let mut carry = Vec::new();
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                carry.extend_from_slice(&buf[..n]);
                count += carry.windows(7).filter(|w| w == b"\"text\":").count();
                let keep = carry.len().saturating_sub(6);
                carry.drain(..keep);
            }
            Ok::<usize, std::io::Error>(count)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok((total, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ground_truth_is_read_in_arrival_order_and_timed_in_ms() {
        let dir = std::env::temp_dir().join(format!("xtask-truth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("truth.jsonl");
        std::fs::write(
            &file,
            "{\"arrival_s\": 2.0, \"token_s\": [2.05, 2.06]}\n\n{\"arrival_s\": 1.0, \"token_s\": [1.5, 1.75, 2.0]}\n",
        )
        .unwrap();
        let logs = read_truth(&file).unwrap();
        assert_eq!(logs.iter().map(|l| l.0).collect::<Vec<_>>(), [1.0, 2.0]);
        let (ttft, itl) = truth_timings_ms(&logs);
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
        };
        assert!(close(&ttft, &[500.0, 50.0]), "{ttft:?}");
        assert!(close(&itl, &[250.0, 250.0, 10.0]), "{itl:?}");
        let doc: Value =
            serde_json::from_str(r#"{"ttfts": [0.5], "itls": [[0.25, 0.01]]}"#).unwrap();
        let (m_ttft, m_itl) = measured_timings_ms(&doc).unwrap();
        assert!(close(&m_ttft, &[500.0]) && close(&m_itl, &[250.0, 10.0]));
        assert!(measured_timings_ms(&serde_json::json!({})).is_err());
        std::fs::write(&file, "{\"token_s\": []}\n").unwrap();
        assert!(read_truth(&file).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
