//! `cargo xtask soak`: the load generator under a constant request rate for
//! minutes (a stress run, `duration_s`) against `sim_server` in fast mode,
//! sampling the service's resident memory; prints a table and whether the
//! memory stayed flat.

use crate::bench_sim::{start_sim, Sim};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How long the stress run lasts
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Requests per second
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds between memory samples
    #[arg(long, default_value_t = 30)]
    every: u64,
    #[arg(long, default_value = "../shared/reference/tokenizers/deepseek-r1")]
    tokenizer: std::path::PathBuf,
}

fn http(addr: &str, method: &str, path: &str, body: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned()))
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(a: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let bin = crate::build_release(&["sim_server", "load_generator"])?;
    let work = root.join("target/soak");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let sim = start_sim(&root, 1, 20, 5, None)?;
    let service = Sim::listening(
        Command::new(bin.join("load_generator"))
            .args(["--port", "0", "--results-dir"])
            .arg(work.join("results")),
        "load_generator",
    )?;
    let (addr, pid) = (service.addr.clone(), service.pid());
    let sim_port = sim.addr.rsplit(':').next().unwrap_or("0");
    let seconds = a.minutes * 60.0;
    let body = format!(
        r#"{{"host": "127.0.0.1", "port": {sim_port}, "model": "sim", "tokenizer": "{}", "dataset_name": "random", "random_input_len": 64, "random_output_len": 32, "num_prompts": 500, "request_rate": {}, "duration_s": {seconds}, "ignore_eos": true, "max_concurrency": 256}}"#,
        root.join(&a.tokenizer).display(),
        a.rate
    );
    let answer: serde_json::Value =
        serde_json::from_str(&http(&addr, "POST", "/start-load", &body)?)?;
    let Some(id) = answer["run_id"].as_str().map(str::to_owned) else {
        bail!("the run was not accepted: {answer}");
    };
    println!(
        "soak: {} min at {} req/s (64 prompt / 32 output tokens), sim_server fast mode 20/5 ms",
        a.minutes, a.rate
    );
    println!("| elapsed (s) | requests finished | load_generator RSS (MiB) |");
    println!("|------------:|------------------:|-------------------------:|");
    let started = Instant::now();
    let mut samples = Vec::new();
    let run = loop {
        let run: serde_json::Value =
            serde_json::from_str(&http(&addr, "GET", &format!("/runs/{id}"), "")?)?;
        let state = run["state"].as_str().unwrap_or("").to_owned();
        if matches!(state.as_str(), "done" | "failed" | "stopped") {
            break run;
        }
        if let Some(rss) = rss_mib(pid) {
            let t = started.elapsed().as_secs_f64();
            let finished = run["progress"]["finished"].as_u64().unwrap_or(0);
            println!("| {t:>11.0} | {finished:>17} | {rss:>24.1} |");
            samples.push((t, rss));
        }
        std::thread::sleep(Duration::from_secs(a.every));
    };
    let after = rss_mib(pid).unwrap_or(f64::NAN);
    println!(
        "state {}, completed {}, failed {}, result {}",
        run["state"], run["result"]["completed"], run["progress"]["failed"], run["result_location"]
    );
    // Past the first minute (prompts prepared, connections open), memory
    // must not grow with time.
    let steady: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t >= 60.0_f64.min(seconds / 4.0))
        .map(|(_, r)| *r)
        .collect();
    if let (Some(first), Some(last)) = (steady.first(), steady.last()) {
        let max = steady.iter().copied().fold(f64::MIN, f64::max);
        let min = steady.iter().copied().fold(f64::MAX, f64::min);
        println!(
            "steady state: first {first:.1} MiB, last {last:.1} MiB, min {min:.1}, max {max:.1} (spread {:.1} MiB); after the run {after:.1} MiB",
            max - min
        );
        println!(
            "flat: {}",
            if last - first <= 10.0_f64.max(first * 0.05) {
                "yes"
            } else {
                "NO"
            }
        );
    }
    Ok(())
}
