//! `cargo xtask bench-matrix`: wall time of a full sweep over the reference
//! configs, for our release binary (the whole process, which is what a
//! workflow pays) and, when given, the Python original; checks that both
//! print the same bytes. Both contract editions: 2026-02 (its configs,
//! `--run-evals`) and 2026-08 (the configs of `843c6254f`, evals on by
//! default), each against its own original.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The Python original's generate_sweep_configs.py of edition 2026-02
    /// (from an InferenceX checkout; needs PyYAML and pydantic). Without it
    /// only ours is timed for that edition.
    #[arg(long)]
    python_original: Option<PathBuf>,
    /// The Python original of edition 2026-08: generate_sweep_configs.py of
    /// InferenceX at 843c6254f (utils/matrix_logic/), or that checkout.
    #[arg(long)]
    python_original_2026_08: Option<PathBuf>,
    /// The Python interpreter for the original
    #[arg(long, default_value = "python3")]
    python: String,
    /// Directory holding nvidia-master.yaml, amd-master.yaml, runners.yaml
    /// of edition 2026-02
    #[arg(long, default_value = "../shared/reference/inferencex/configs")]
    configs: PathBuf,
    /// The same of edition 2026-08
    #[arg(long, default_value = "../shared/reference/2026-08/configs")]
    configs_2026_08: PathBuf,
    /// Timed runs per row (after one warm-up)
    #[arg(long, default_value_t = 10)]
    runs: u32,
}

struct Row {
    edition: &'static str,
    tool: &'static str,
    mode: &'static str,
    times: Vec<Duration>,
}

/// One edition's sweep: its configs, its flags, its original.
struct Edition<'a> {
    name: &'static str,
    configs: PathBuf,
    /// Extra flags of the full sweep (2026-02 marks evals with
    /// `--run-evals`; 2026-08 does by default).
    flags: &'static [&'static str],
    original: Option<&'a Path>,
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "generate_sweep_configs"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("building generate_sweep_configs failed");
    }
    let ours = root.join("target/release/generate_sweep_configs");
    let original_2026_08 = args
        .python_original_2026_08
        .as_deref()
        .map(script_of)
        .transpose()?;
    let editions = [
        Edition {
            name: "2026-02",
            configs: root.join(&args.configs),
            flags: &["--run-evals"],
            original: args.python_original.as_deref(),
        },
        Edition {
            name: "2026-08",
            configs: root.join(&args.configs_2026_08),
            flags: &[],
            original: original_2026_08.as_deref(),
        },
    ];
    let mut rows = Vec::new();
    for edition in &editions {
        for (mode, node) in [
            ("full-sweep single-node", "--single-node"),
            ("full-sweep multi-node", "--multi-node"),
        ] {
            let cli = sweep_args(&edition.configs, node, edition.flags);
            let (out, times) = time_process(
                Command::new(&ours)
                    .args(&cli)
                    .env("INFERENCEX_CONTRACT", edition.name),
                args.runs,
            )?;
            rows.push(Row {
                edition: edition.name,
                tool: "servebench",
                mode,
                times,
            });
            if let Some(original) = edition.original {
                let (py_out, times) = time_process(
                    Command::new(&args.python).arg(original).args(&cli),
                    args.runs,
                )?;
                if py_out != out {
                    bail!(
                        "{} {mode}: outputs differ between the Python original and servebench",
                        edition.name
                    );
                }
                rows.push(Row {
                    edition: edition.name,
                    tool: "python original",
                    mode,
                    times,
                });
            }
            println!(
                "{} {mode}: {} bytes of matrix JSON, {} rows{}",
                edition.name,
                out.len(),
                count_rows(&out),
                if edition.original.is_some() {
                    ", the same bytes from the original"
                } else {
                    ""
                }
            );
        }
    }
    print_table(&rows);
    Ok(())
}

/// The 2026-08 original's script: the path itself, or inside a checkout.
fn script_of(path: &Path) -> Result<PathBuf> {
    for candidate in [
        path.to_path_buf(),
        path.join("generate_sweep_configs.py"),
        path.join("utils/matrix_logic/generate_sweep_configs.py"),
    ] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "{}: no utils/matrix_logic/generate_sweep_configs.py there",
        path.display()
    )
}

fn count_rows(json: &[u8]) -> usize {
    serde_json::from_slice::<Vec<serde_json::Value>>(json).map_or(0, |rows| rows.len())
}

fn sweep_args(configs: &Path, node: &str, flags: &[&str]) -> Vec<String> {
    let path = |name: &str| configs.join(name).display().to_string();
    let mut args = vec!["full-sweep".to_owned(), node.to_owned()];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    args.extend([
        "--config-files".into(),
        path("nvidia-master.yaml"),
        path("amd-master.yaml"),
        "--runner-config".into(),
        path("runners.yaml"),
    ]);
    args
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
    let mean = |r: &Row| r.times.iter().map(|d| ms(*d)).sum::<f64>() / r.times.len().max(1) as f64;
    println!();
    println!(
        "| {:<7} | {:<16} | {:<23} | {:>4} | {:>10} | {:>10} | {:>12} |",
        "edition", "tool", "mode", "runs", "mean (ms)", "min (ms)", "vs python"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|{}|",
        "-".repeat(9),
        "-".repeat(18),
        "-".repeat(25),
        "-".repeat(6),
        "-".repeat(12),
        "-".repeat(12),
        "-".repeat(14)
    );
    for row in rows {
        let min = row
            .times
            .iter()
            .map(|d| ms(*d))
            .fold(f64::INFINITY, f64::min);
        let python_mean = rows
            .iter()
            .find(|r| r.tool == "python original" && r.mode == row.mode && r.edition == row.edition)
            .map(mean);
        let ratio = python_mean.map_or("-".to_owned(), |p| format!("{:.1}x faster", p / mean(row)));
        println!(
            "| {:<7} | {:<16} | {:<23} | {:>4} | {:>10.2} | {:>10.2} | {:>12} |",
            row.edition,
            row.tool,
            row.mode,
            row.times.len(),
            mean(row),
            min,
            ratio
        );
    }
}
