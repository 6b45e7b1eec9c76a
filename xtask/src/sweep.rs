//! `cargo xtask sweep`: the whole InferenceX benchmark on this machine.
//! Expands the master config (the same filters as `generate_sweep_configs`),
//! then per entry starts a server, runs `benchmark_serving` and
//! `process_result`; then `collect_results`, `summarize` and the report
//! (all in `servebench-sweep`). `--emit` prints the GitHub matrix or writes
//! a Slurm job-array script instead.

use anyhow::{bail, Context, Result};
use servebench_matrix as matrix;
use servebench_sweep::{
    emit, plan, run, BenchSettings, Binaries, Launch, ServerSpec, SweepOptions,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Master config YAML files, merged in this order
    #[arg(long, num_args = 1.., default_value = "configs/master.yaml")]
    config_files: Vec<PathBuf>,
    /// Runner config YAML (runner type -> node names)
    #[arg(long, default_value = "configs/runners.yaml")]
    runner_config: PathBuf,
    /// Expand exactly these config keys (generate_sweep_configs test-config) instead of a filtered full sweep
    #[arg(long, num_args = 1..)]
    config_keys: Vec<String>,
    /// With --config-keys: keep only these concurrencies
    #[arg(long, num_args = 1.., requires = "config_keys")]
    conc: Vec<i64>,
    /// Config-key prefix(es) to include
    #[arg(long, num_args = 1..)]
    model_prefix: Vec<String>,
    /// Precision(s) to include
    #[arg(long, num_args = 1..)]
    precision: Vec<String>,
    /// Framework(s) to include; the default picks the simulated configs
    #[arg(long, num_args = 1.., default_value = "sim")]
    framework: Vec<String>,
    /// Runner type(s) to include
    #[arg(long, num_args = 1..)]
    runner_type: Vec<String>,
    /// Sequence lengths to include (1k1k, 1k8k, 8k1k)
    #[arg(long, num_args = 1.., default_value = "1k1k", value_parser = ["1k1k", "1k8k", "8k1k"])]
    seq_lens: Vec<String>,
    /// Multiply concurrency by this factor between range steps
    #[arg(long, default_value_t = 2)]
    step_size: i64,
    /// Drop concurrencies below this value
    #[arg(long)]
    min_conc: Option<i64>,
    /// Drop concurrencies above this value
    #[arg(long, default_value_t = 8)]
    max_conc: i64,
    /// Skip entries with a larger tensor parallelism
    #[arg(long)]
    max_tp: Option<i64>,
    /// Cap expert parallelism at this value
    #[arg(long)]
    max_ep: Option<i64>,
    /// Keep runner nodes whose name contains this (one entry per node)
    #[arg(long)]
    runner_node_filter: Option<String>,

    /// Benchmark this already running server instead of starting one per entry
    #[arg(long, conflicts_with = "server_cmd")]
    base_url: Option<String>,
    /// Start each entry's server with this shell command; {port} {model} {tp} {ep} {conc} {isl} {osl} {max_model_len} {precision} are filled in
    #[arg(long)]
    server_cmd: Option<String>,
    /// The simulator's clock runs this many times faster; results are scaled back to simulated time
    #[arg(long, default_value_t = 20.0)]
    speedup: f64,
    /// The simulator's GPU, model and engine parameters
    #[arg(long, default_value = "configs/sim.yaml")]
    sim_config: PathBuf,
    /// Tokenizer for prompts (and the simulator's token counts): a tokenizer.json or a directory
    #[arg(long, default_value = "../shared/reference/tokenizers/deepseek-r1")]
    tokenizer: PathBuf,
    /// NUM_PROMPTS = CONC x this (the workflow: 10; the default keeps the sweep short)
    #[arg(long, default_value_t = 4)]
    prompts_per_conc: i64,
    /// --num-warmups = CONC x this (the workflow: 2)
    #[arg(long, default_value_t = 1)]
    warmups_per_conc: i64,
    /// RANDOM_RANGE_RATIO (the workflow: 0.8)
    #[arg(long, default_value_t = 0.8)]
    random_range_ratio: f64,
    /// Seconds to wait for a started server's /health
    #[arg(long, default_value_t = 120)]
    health_timeout: u64,
    /// Seconds one benchmark may run before its entry fails
    #[arg(long, default_value_t = 1800)]
    entry_timeout: u64,

    /// Where runs go: <results-dir>/<run-id>/
    #[arg(long, default_value = "results")]
    results_dir: PathBuf,
    /// The run's name (default: the local time, YYYYmmdd-HHMMSS)
    #[arg(long)]
    run_id: Option<String>,
    /// Print the GitHub Actions matrix, or write a Slurm job-array script, instead of running
    #[arg(long, value_parser = ["github-matrix", "slurm"])]
    emit: Option<String>,
    /// Run only this entry (0-based; a Slurm array task)
    #[arg(long, conflicts_with_all = ["emit", "report_only"])]
    entry_index: Option<usize>,
    /// Only collect, summarize and report the entries earlier --entry-index runs left
    #[arg(long, conflicts_with = "emit")]
    report_only: bool,
    /// Use the binaries in this directory as they are (default: build target/release first)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// The arguments a Slurm task needs to expand the same matrix.
fn selection_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for arg in std::env::args().skip_while(|a| a != "sweep").skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if arg == "--emit" || arg == "--run-id" {
            skip = true;
            continue;
        }
        if arg.starts_with("--emit=") || arg.starts_with("--run-id=") {
            continue;
        }
        out.push(arg);
    }
    out
}

fn matrix_request(a: &Args, root: &Path) -> Result<matrix::Request> {
    let subcommand = if a.config_keys.is_empty() {
        let mut o = matrix::FullSweepOptions::new(matrix::NodeType::SingleNode);
        o.model_prefix = a.model_prefix.clone();
        o.precision = a.precision.clone();
        o.framework = a.framework.clone();
        o.runner_type = a.runner_type.clone();
        o.seq_lens = a
            .seq_lens
            .iter()
            .filter_map(|s| matrix::SeqLen::from_name(s))
            .collect();
        o.step_size = a.step_size;
        o.min_conc = a.min_conc;
        o.max_conc = Some(a.max_conc);
        o.max_tp = a.max_tp;
        o.max_ep = a.max_ep;
        o.runner_node_filter = a.runner_node_filter.clone();
        matrix::Subcommand::FullSweep(o)
    } else {
        matrix::Subcommand::TestConfig(matrix::TestConfigOptions {
            config_keys: a.config_keys.clone(),
            conc: a.conc.clone(),
        })
    };
    if a.step_size <= 1 {
        bail!("--step-size must be at least 2 (got {})", a.step_size);
    }
    Ok(matrix::Request {
        config_files: a.config_files.iter().map(|p| root.join(p)).collect(),
        runner_config: root.join(&a.runner_config),
        subcommand,
        evals: matrix::EvalMode::Off,
    })
}

pub fn run(a: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let request = matrix_request(a, &root)?;
    let configs = matrix::load_master_configs(&request.config_files)?;
    let runners = matrix::load_runner_config(&request.runner_config)?;
    let entries = matrix::apply_evals(
        match &request.subcommand {
            matrix::Subcommand::FullSweep(o) => matrix::full_sweep(&configs, &runners, o)?,
            matrix::Subcommand::TestConfig(o) => matrix::test_config(&configs, o)?,
            matrix::Subcommand::RunnerModelSweep(o) => {
                matrix::runner_model_sweep(&configs, &runners, o)?
            }
        },
        request.evals,
    )?;
    let run_id = a
        .run_id
        .clone()
        .unwrap_or_else(|| chrono::Local::now().format("%Y%m%d-%H%M%S").to_string());
    let out_dir = root.join(&a.results_dir).join(&run_id);

    match a.emit.as_deref() {
        Some("github-matrix") => {
            let mut out = std::io::stdout().lock();
            out.write_all(emit::github_matrix(&entries).as_bytes())?;
            return Ok(());
        }
        Some(_) => {
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            let script = emit::slurm_script(&emit::SlurmJob {
                run_id: run_id.clone(),
                entries: entries.len(),
                repo_dir: root.display().to_string(),
                out_dir: out_dir.display().to_string(),
                sweep_args: selection_args(),
            });
            let path = out_dir.join("sweep.sbatch");
            std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
            println!("{}", path.display());
            eprintln!(
                "{} entries; submit with: sbatch {}",
                entries.len(),
                path.display()
            );
            return Ok(());
        }
        None => {}
    }

    if entries.is_empty() {
        bail!("the selection matches no matrix entries (check --config-files, the filters and --max-conc)");
    }
    let jobs = plan::jobs(&entries, &runners)?;
    let tokenizer = root.join(&a.tokenizer);
    if !tokenizer.exists() {
        bail!(
            "tokenizer {} not found: pass --tokenizer PATH (a tokenizer.json or a directory holding one)",
            tokenizer.display()
        );
    }
    let bin_dir = match &a.bin_dir {
        Some(dir) => dir.clone(),
        None if a.report_only => root.join("target/release"),
        None => crate::build_release(&[
            "sim_server",
            "benchmark_serving",
            "process_result",
            "collect_results",
            "summarize",
        ])?,
    };
    let server = match (&a.base_url, &a.server_cmd) {
        (Some(url), _) => ServerSpec::External(url.clone()),
        (None, Some(cmd)) => ServerSpec::Start(Launch::Shell(cmd.clone())),
        (None, None) => {
            if !(a.speedup.is_finite() && a.speedup > 0.0) {
                bail!("--speedup must be a positive number (got {})", a.speedup);
            }
            ServerSpec::Start(Launch::Sim {
                binary: bin_dir.join("sim_server"),
                sim_config: root.join(&a.sim_config),
                speedup: a.speedup,
                tokenizer: Some(tokenizer.clone()),
            })
        }
    };
    let opts = SweepOptions {
        out_dir: out_dir.clone(),
        run_id: run_id.clone(),
        bins: Binaries { dir: bin_dir },
        server,
        bench: BenchSettings {
            prompts_per_conc: a.prompts_per_conc,
            warmups_per_conc: a.warmups_per_conc,
            random_range_ratio: a.random_range_ratio,
            tokenizer: Some(tokenizer.display().to_string()),
        },
        health_timeout: Duration::from_secs(a.health_timeout),
        entry_timeout: Duration::from_secs(a.entry_timeout),
    };
    let mut progress = std::io::stderr();
    if let Some(index) = a.entry_index {
        let record = run::run_one(&jobs, index, &opts)?;
        eprintln!("{}: {:?}", record.name, record.status);
        if record.status != servebench_sweep::report::EntryStatus::Ok {
            std::process::exit(1);
        }
        return Ok(());
    }
    let outcome = if a.report_only {
        run::finish(run::load_records(&jobs, &opts), &opts, &mut progress)?
    } else {
        eprintln!(
            "servebench sweep {run_id}: {} entries -> {}",
            jobs.len(),
            out_dir.display()
        );
        run::run_sweep(&jobs, &opts, &mut progress)?
    };
    std::io::stdout()
        .lock()
        .write_all(outcome.summary.as_bytes())?;
    let failed = outcome.failed();
    if failed > 0 {
        eprintln!("{failed} entries failed (see the report and runs/<name>/*.log)");
        std::process::exit(i32::try_from(failed.min(255)).unwrap_or(255));
    }
    Ok(())
}
