//! `cargo xtask bench-prompts`: time to prepare random prompts with the
//! real DeepSeek-R1 tokenizer through `benchmark_serving --dry-run` (release
//! build), the workload the issue sets a target for.

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Prompts to prepare
    #[arg(long, default_value_t = 1280)]
    num_prompts: u32,
    /// Input tokens per prompt
    #[arg(long, default_value_t = 8192)]
    input_len: u32,
    /// Tokenizer directory
    #[arg(long, default_value = "../shared/reference/tokenizers/deepseek-r1")]
    tokenizer: String,
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if !Command::new(cargo)
        .args(["build", "--release", "-p", "benchmark_serving"])
        .current_dir(&root)
        .status()?
        .success()
    {
        bail!("building benchmark_serving failed");
    }
    let input_len = args.input_len.to_string();
    let num_prompts = args.num_prompts.to_string();
    let start = Instant::now();
    let out = Command::new(root.join("target/release/benchmark_serving"))
        .args([
            "--model",
            "bench",
            "--tokenizer",
            &args.tokenizer,
            "--dataset-name",
            "random",
        ])
        .args([
            "--random-input-len",
            &input_len,
            "--random-output-len",
            "1024",
            "--random-range-ratio",
            "0.8",
        ])
        .args(["--num-prompts", &num_prompts, "--seed", "0", "--dry-run"])
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()
        .context("running benchmark_serving --dry-run")?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!("benchmark_serving --dry-run failed");
    }
    let lines = out.stdout.iter().filter(|b| **b == b'\n').count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("| prompts | input tokens | cores | wall time (s) | prompts/s |");
    println!("|---------|--------------|-------|---------------|-----------|");
    println!(
        "| {lines:>7} | {input_len:>12} | {cores:>5} | {:>13.2} | {:>9.1} |",
        elapsed.as_secs_f64(),
        f64::from(u32::try_from(lines).unwrap_or(u32::MAX)) / elapsed.as_secs_f64()
    );
    Ok(())
}
