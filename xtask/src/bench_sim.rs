//! `cargo xtask bench-sim`: the simulated server's own ceiling in fast mode
//! with zero delays, on one server thread, so that later client
//! measurements know the server is not the bottleneck. The load comes from
//! raw HTTP/1.1 streams on 127.0.0.1 (the other core).

use anyhow::{bail, Context, Result};
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
