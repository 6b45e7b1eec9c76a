//! `sweep`'s flags (the same as `cargo xtask sweep` has always had) and
//! their translation into the library's [`Command`].

use servebench_contract::Edition;
use servebench_sweep::{Action, AgenticSettings, Command, Selection};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Parser, Debug)]
#[command(
    name = "sweep",
    version,
    about = "Run the whole benchmark on this machine (the simulator by default): matrix, servers, benchmarks, results, report",
    // `cargo xtask sweep` builds the release binaries, then runs this one
    // with the same arguments.
    override_usage = "cargo xtask sweep [OPTIONS]\n       sweep [OPTIONS]   (target/release/sweep, built by cargo build --release)"
)]
pub(crate) struct Args {
    /// Master config YAML files, merged in this order, in the schema of the contract edition
    /// (INFERENCEX_CONTRACT) [default: configs/master.yaml; 2026-02: configs/2026-02/master.yaml]
    #[arg(long, num_args = 1..)]
    config_files: Vec<PathBuf>,
    /// Runner config YAML (2026-08: labels and hardware; 2026-02: runner type -> node names)
    /// [default: configs/runners.yaml; 2026-02: configs/2026-02/runners.yaml]
    #[arg(long)]
    runner_config: Option<PathBuf>,
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
    /// Sequence lengths to include (1k1k, 8k1k; 1k8k only under INFERENCEX_CONTRACT=2026-02)
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
    /// Scenario type(s) to include (edition 2026-08; default: both)
    #[arg(long, num_args = 1.., value_parser = ["fixed-seq-len", "agentic-coding"])]
    scenario_type: Vec<String>,

    /// Skip agentic-coding rows (by default each runs agentic_replay against a simulator at x1)
    #[arg(long)]
    no_agentic: bool,
    /// Seconds of profiling per agentic-coding entry (--benchmark-duration; the workflow: the row's duration, 900 s at least)
    #[arg(long, default_value_t = 20)]
    agentic_duration: u64,
    /// The agentic-coding trace corpus (weka_trace JSONL, or a directory of traces)
    #[arg(long, default_value = "../shared/reference/agentx/traces/medium.jsonl")]
    agentic_traces: PathBuf,

    /// Benchmark this already running server instead of starting one per entry
    #[arg(long, conflicts_with = "server_cmd")]
    base_url: Option<String>,
    /// Start each entry's server with this shell command; {port} {model} {tp} {ep} {conc} {isl} {osl} {max_model_len} {precision} are filled in
    #[arg(long)]
    server_cmd: Option<String>,
    /// The simulator's clock runs this many times faster; results are scaled back to simulated time
    /// (each request's round trip, about 0.18 ms, is scaled too: 5 keeps that under 1 ms of TTFT)
    #[arg(long, default_value_t = 5.0)]
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
    // The doc comment is the --help text: the `<...>` are meant literally.
    #[allow(rustdoc::invalid_html_tags)]
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
    /// Use the binaries in this directory (default: the directory this binary is in; cargo xtask sweep builds target/release first)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

impl Args {
    /// The library's command in contract `edition` (which also picks the
    /// default configs); relative paths start at `root`. `argv` is the
    /// command line as run, program first (the report shows it; a Slurm
    /// script repeats the arguments).
    pub(crate) fn into_command(
        self,
        edition: Edition,
        root: PathBuf,
        argv: Vec<String>,
    ) -> Command {
        let raw_args: Vec<String> = argv.iter().skip(1).cloned().collect();
        let action = match (self.emit.as_deref(), self.entry_index, self.report_only) {
            (Some("github-matrix"), _, _) => Action::GithubMatrix,
            (Some(_), _, _) => Action::Slurm {
                sweep_args: servebench_sweep::selection_args(raw_args),
            },
            (None, Some(index), _) => Action::RunEntry(index),
            (None, None, true) => Action::ReportOnly,
            (None, None, false) => Action::Run,
        };
        Command {
            root,
            selection: Selection {
                edition,
                config_files: if self.config_files.is_empty() {
                    Selection::default_config_files(edition)
                } else {
                    self.config_files
                },
                runner_config: self
                    .runner_config
                    .unwrap_or_else(|| Selection::default_runner_config(edition)),
                config_keys: self.config_keys,
                conc: self.conc,
                model_prefix: self.model_prefix,
                precision: self.precision,
                framework: self.framework,
                runner_type: self.runner_type,
                seq_lens: self.seq_lens,
                step_size: self.step_size,
                min_conc: self.min_conc,
                max_conc: self.max_conc,
                max_tp: self.max_tp,
                max_ep: self.max_ep,
                runner_node_filter: self.runner_node_filter,
                scenario_types: self.scenario_type,
            },
            base_url: self.base_url,
            server_cmd: self.server_cmd,
            speedup: self.speedup,
            sim_config: self.sim_config,
            tokenizer: self.tokenizer,
            prompts_per_conc: self.prompts_per_conc,
            warmups_per_conc: self.warmups_per_conc,
            random_range_ratio: self.random_range_ratio,
            health_timeout: Duration::from_secs(self.health_timeout),
            entry_timeout: Duration::from_secs(self.entry_timeout),
            results_dir: self.results_dir,
            run_id: self.run_id,
            bin_dir: self.bin_dir,
            command_line: argv,
            agentic: (!self.no_agentic).then(|| AgenticSettings {
                traces: self.agentic_traces,
                duration_s: self.agentic_duration,
                ..AgenticSettings::local_default()
            }),
            action,
        }
    }
}
