//! `cargo xtask bench-matrix`: wall time of a full sweep over the reference
//! configs, for our release binary (the whole process, which is what a
//! workflow pays) and, when given, the Python original; checks that both
//! print the same bytes.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The Python original's generate_sweep_configs.py (from an InferenceX
    /// checkout; needs PyYAML and pydantic). Without it only ours is timed.
    #[arg(long)]
    python_original: Option<PathBuf>,
    /// The Python interpreter for the original
    #[arg(long, default_value = "python3")]
    python: String,
    /// Directory holding nvidia-master.yaml, amd-master.yaml, runners.yaml
    #[arg(long, default_value = "../shared/reference/inferencex/configs")]
    configs: PathBuf,
    /// Timed runs per row (after one warm-up)
    #[arg(long, default_value_t = 10)]
    runs: u32,
}

struct Row {
    tool: &'static str,
    mode: &'static str,
    times: Vec<Duration>,
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let configs = root.join(&args.configs);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "generate_sweep_configs"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("building generate_sweep_configs failed");
    }
    let ours = root.join("target/release/generate_sweep_configs");
    let mut rows = Vec::new();
    for (mode, node) in [
        ("full-sweep single-node", "--single-node"),
        ("full-sweep multi-node", "--multi-node"),
    ] {
        let cli = sweep_args(&configs, node);
        // The 2026-02 reference configs and flags (`--run-evals`).
        let (out, times) = time_process(
            Command::new(&ours)
                .args(&cli)
                .env("INFERENCEX_CONTRACT", "2026-02"),
            args.runs,
        )?;
        rows.push(Row {
            tool: "servebench",
            mode,
            times,
        });
        if let Some(original) = &args.python_original {
            let (py_out, times) = time_process(
                Command::new(&args.python).arg(original).args(&cli),
                args.runs,
            )?;
            if py_out != out {
                bail!("{mode}: outputs differ between the Python original and servebench");
            }
            rows.push(Row {
                tool: "python original",
                mode,
                times,
            });
        }
        println!("{mode}: {} bytes of matrix JSON", out.len());
    }
    print_table(&rows);
    Ok(())
}

fn sweep_args(configs: &Path, node: &str) -> Vec<String> {
    let path = |name: &str| configs.join(name).display().to_string();
    vec![
        "full-sweep".into(),
        node.into(),
        "--run-evals".into(),
        "--config-files".into(),
        path("nvidia-master.yaml"),
        path("amd-master.yaml"),
        "--runner-config".into(),
        path("runners.yaml"),
    ]
}

fn time_process(command: &mut Command, runs: u32) -> Result<(Vec<u8>, Vec<Duration>)> {
    let mut output = Vec::new();
    let mut times = Vec::new();
    for i in 0..=runs {
        let start = Instant::now();
        let out = command
            .output()
            .with_context(|| format!("running {command:?}"))?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            bail!(
                "{command:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if i > 0 {
            times.push(elapsed);
        }
        output = out.stdout;
    }
    Ok((output, times))
}

fn print_table(rows: &[Row]) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "| {:<24} | {:<23} | {:>4} | {:>10} | {:>10} | {:>12} |",
        "tool", "mode", "runs", "mean (ms)", "min (ms)", "vs python"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(26),
        "-".repeat(25),
        "-".repeat(6),
        "-".repeat(12),
        "-".repeat(12),
        "-".repeat(14)
    );
    for row in rows {
        let mean = row.times.iter().map(|d| ms(*d)).sum::<f64>() / row.times.len().max(1) as f64;
        let min = row
            .times
            .iter()
            .map(|d| ms(*d))
            .fold(f64::INFINITY, f64::min);
        let python_mean = rows
            .iter()
            .find(|r| r.tool == "python original" && r.mode == row.mode)
            .map(|r| r.times.iter().map(|d| ms(*d)).sum::<f64>() / r.times.len().max(1) as f64);
        let ratio = python_mean.map_or("-".to_owned(), |p| format!("{:.1}x faster", p / mean));
        println!(
            "| {:<24} | {:<23} | {:>4} | {:>10.2} | {:>10.2} | {:>12} |",
            row.tool,
            row.mode,
            row.times.len(),
            mean,
            min,
            ratio
        );
    }
}
