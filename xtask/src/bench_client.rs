//! `cargo xtask bench-client`: how exact and how cheap `benchmark_serving`
//! is against `sim_server` in fast mode (release builds, both on this
//! machine):
//!
//! (a) the client ceiling in streamed tokens/s with 0 ms delays, next to
//!     the server's own ceiling (raw HTTP streams, as `bench-sim`);
//! (b) with 50 ms / 10 ms delays and 100 tokens per request, the measured
//!     mean TTFT and mean/p99 ITL minus the truth the simulator logged
//!     (`--ground-truth`: when each token was handed to the socket), with
//!     the client's p99 send lag and its context switches during the run;
//! (c) the client's peak RSS with 10,000 concurrent streams.
//!
//! Every run uses warmups (one per concurrency slot, as the workflows'
//! `2×CONC` do) so the main run starts on open connections.

use crate::bench_sim::{measured_timings_ms, read_truth, start_sim, truth_timings_ms};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use servebench_metrics::{mean, percentile};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(clap::Args)]
pub struct Args {
    /// (a) concurrencies for the ceiling rows
    #[arg(long, value_delimiter = ',', default_value = "64,256,1024")]
    ceiling: Vec<usize>,
    /// (b) concurrencies for the accuracy rows
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,500,1000")]
    accuracy: Vec<usize>,
    /// (c) concurrent streams for the memory row (0 skips it)
    #[arg(long, default_value_t = 10_000)]
    memory_streams: usize,
    /// sim_server worker threads
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    #[arg(long, default_value = "../shared/reference/tokenizers/deepseek-r1")]
    tokenizer: PathBuf,
}

struct Run {
    doc: Value,
}

fn bench(
    root: &Path,
    tokenizer: &Path,
    addr: &str,
    concurrency: usize,
    prompts: usize,
    output_len: usize,
) -> Result<Run> {
    let dir = root.join("target/bench-client");
    std::fs::create_dir_all(&dir)?;
    let file = format!("c{concurrency}.json");
    let out = Command::new(root.join("target/release/benchmark_serving"))
        .args(["--model", "sim", "--dataset-name", "random"])
        .arg("--tokenizer")
        .arg(tokenizer)
        .args(["--random-input-len", "16", "--random-range-ratio", "1.0"])
        .args(["--random-output-len", &output_len.to_string()])
        .args(["--num-prompts", &prompts.to_string()])
        .args(["--max-concurrency", &concurrency.to_string()])
        .args(["--num-warmups", &concurrency.to_string()])
        .args(["--ignore-eos", "--disable-tqdm", "--save-result"])
        .args([
            "--save-detailed",
            "--save-audit",
            "--result-filename",
            &file,
        ])
        .args(["--base-url", &format!("http://{addr}")])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .output()
        .context("running benchmark_serving")?;
    if !out.status.success() {
        bail!(
            "benchmark_serving at concurrency {concurrency} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(&file))?)?;
    if doc["completed"].as_u64() != Some(prompts as u64) {
        bail!(
            "concurrency {concurrency}: only {} of {prompts} requests completed",
            doc["completed"]
        );
    }
    Ok(Run { doc })
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let tokenizer = root.join(&args.tokenizer);
    crate::build_release(&["sim_server", "benchmark_serving"])?;
    let truth_file = root.join("target/bench-client/truth.jsonl");
    std::fs::create_dir_all(root.join("target/bench-client"))?;

    println!(
        "(a) ceiling, 0 ms delays, 200 tokens per request, {} server thread(s)",
        args.server_threads
    );
    println!("| concurrency | client: streamed tokens/s | server alone: streamed tokens/s | client CPU (s) |");
    println!("|------------:|--------------------------:|--------------------------------:|---------------:|");
    for &c in &args.ceiling {
        let sim = start_sim(&root, args.server_threads, 0, 0, Some(&truth_file))?;
        let run = bench(&root, &tokenizer, &sim.addr, c, c * 4, 200)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tokens, elapsed) = runtime.block_on(crate::bench_sim::load(&sim.addr, c, 800))?;
        sim.stop();
        println!(
            "| {c:>11} | {:>25.0} | {:>31.0} | {:>14.2} |",
            run.doc["output_throughput"].as_f64().unwrap_or(0.0),
            tokens as f64 / elapsed.as_secs_f64(),
            run.doc["client_audit"]["cpu_seconds"]
                .as_f64()
                .unwrap_or(f64::NAN)
        );
    }

    println!();
    println!("(b) accuracy, 50 ms first token, 10 ms between tokens, 100 tokens per request");
    println!("| concurrency | TTFT mean (ms) | TTFT error (ms) | ITL mean error (ms) | ITL p99 error (ms) | send lag p99 (ms) | context switches | client_bound |");
    println!("|------------:|---------------:|----------------:|--------------------:|-------------------:|------------------:|-----------------:|:-------------|");
    for &c in &args.accuracy {
        let prompts = (c * 2).max(20);
        let sim = start_sim(&root, args.server_threads, 50, 10, Some(&truth_file))?;
        let run = bench(&root, &tokenizer, &sim.addr, c, prompts, 100)?;
        sim.stop();
        // Without the first `c` arrivals: the warmups.
        let logs = read_truth(&truth_file)?;
        let (t_ttft, t_itl) = truth_timings_ms(logs.get(c..).unwrap_or_default());
        let d = &run.doc;
        let (ttfts, itls) = measured_timings_ms(d)?;
        println!(
            "| {c:>11} | {:>14.2} | {:>+15.3} | {:>+19.3} | {:>+18.3} | {:>17.3} | {:>16} | {:<12} |",
            mean(&ttfts),
            mean(&ttfts) - mean(&t_ttft),
            mean(&itls) - mean(&t_itl),
            percentile(&itls, 99.0) - percentile(&t_itl, 99.0),
            d["client_audit"]["send_lag_p99_ms"]
                .as_f64()
                .unwrap_or(f64::NAN),
            d["client_audit"]["context_switches"],
            d["client_audit"]["client_bound"]
        );
    }

    if args.memory_streams > 0 {
        let n = args.memory_streams;
        println!();
        println!("(c) memory, {n} concurrent streams (200 ms between tokens, 20 tokens each)");
        let mut rows = Vec::new();
        for streams in [1, n] {
            let sim = start_sim(&root, args.server_threads, 50, 200, Some(&truth_file))?;
            let run = bench(&root, &tokenizer, &sim.addr, streams, streams, 20)?;
            sim.stop();
            rows.push((streams, run.doc["client_audit"].clone()));
        }
        println!(
            "| concurrent streams | client peak RSS (MiB) | RSS when the main run started (MiB) |"
        );
        println!(
            "|-------------------:|----------------------:|------------------------------------:|"
        );
        for (streams, audit) in rows {
            println!(
                "| {streams:>18} | {:>21.1} | {:>35.1} |",
                audit["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
                audit["start_rss_mib"].as_f64().unwrap_or(f64::NAN),
            );
        }
        println!("(the 1-stream row is the fixed cost: the tokenizer and the runtime)");
    }
    Ok(())
}
