//! The sweep as one command, what the `sweep` binary (and through it
//! `cargo xtask sweep`) runs: its options as plain data ([`Command`]), the
//! matrix they select ([`select`], through `servebench-matrix`), and what
//! the command did ([`Outcome`]), for the binary to print.

use crate::emit::{self, SlurmJob};
use crate::plan::{self, BenchSettings};
use crate::provenance::Provenance;
use crate::report::EntryRecord;
use crate::run::{self, Binaries, SweepOptions, SweepOutcome};
use crate::server::{Launch, ServerSpec};
use crate::SweepError;
use servebench_matrix as matrix;
use servebench_matrix::{MatrixEntry, RunnerConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which matrix entries to run: `generate_sweep_configs`' selection, for
/// single-node entries. Paths are relative to [`Command::root`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Master config YAML files, merged in this order.
    pub config_files: Vec<PathBuf>,
    /// Runner config YAML (runner type -> node names).
    pub runner_config: PathBuf,
    /// Expand exactly these config keys (test-config) instead of a filtered
    /// full sweep.
    pub config_keys: Vec<String>,
    /// With `config_keys`: keep only these concurrencies.
    pub conc: Vec<i64>,
    pub model_prefix: Vec<String>,
    pub precision: Vec<String>,
    pub framework: Vec<String>,
    pub runner_type: Vec<String>,
    /// Sequence length names (`1k1k`, `1k8k`, `8k1k`); others are ignored.
    pub seq_lens: Vec<String>,
    pub step_size: i64,
    pub min_conc: Option<i64>,
    pub max_conc: i64,
    pub max_tp: Option<i64>,
    pub max_ep: Option<i64>,
    pub runner_node_filter: Option<String>,
}

impl Selection {
    /// The `generate_sweep_configs` request for this selection (a
    /// single-node full sweep, or test-config), with paths under `root`.
    pub fn request(&self, root: &Path) -> Result<matrix::Request, SweepError> {
        let subcommand = if self.config_keys.is_empty() {
            let mut o = matrix::FullSweepOptions::new(matrix::NodeType::SingleNode);
            o.model_prefix = self.model_prefix.clone();
            o.precision = self.precision.clone();
            o.framework = self.framework.clone();
            o.runner_type = self.runner_type.clone();
            o.seq_lens = self
                .seq_lens
                .iter()
                .filter_map(|s| matrix::SeqLen::from_name(s))
                .collect();
            o.step_size = self.step_size;
            o.min_conc = self.min_conc;
            o.max_conc = Some(self.max_conc);
            o.max_tp = self.max_tp;
            o.max_ep = self.max_ep;
            o.runner_node_filter = self.runner_node_filter.clone();
            matrix::Subcommand::FullSweep(o)
        } else {
            matrix::Subcommand::TestConfig(matrix::TestConfigOptions {
                config_keys: self.config_keys.clone(),
                conc: self.conc.clone(),
            })
        };
        if self.step_size <= 1 {
            return Err(SweepError::Setup(format!(
                "--step-size must be at least 2 (got {})",
                self.step_size
            )));
        }
        Ok(matrix::Request {
            config_files: self.config_files.iter().map(|p| root.join(p)).collect(),
            runner_config: root.join(&self.runner_config),
            subcommand,
            evals: matrix::EvalMode::Off,
        })
    }
}

/// The selected matrix entries and the runner config (which names the node
/// each entry runs on), as `generate_sweep_configs` loads and expands them.
pub(crate) fn select(
    selection: &Selection,
    root: &Path,
) -> Result<(Vec<MatrixEntry>, RunnerConfig), SweepError> {
    let request = selection.request(root)?;
    let configs = matrix::load_master_configs(&request.config_files)?;
    let runners = matrix::load_runner_config(&request.runner_config)?;
    let entries = matrix::generate_from(&configs, &runners, &request.subcommand, request.evals)?;
    Ok((entries, runners))
}

/// What the command does with the selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run every entry, then collect, summarize and report.
    Run,
    /// Run only this entry (0-based; a Slurm array task).
    RunEntry(usize),
    /// Only collect, summarize and report the entries earlier
    /// [`Action::RunEntry`] runs left.
    ReportOnly,
    /// The GitHub Actions matrix JSON.
    GithubMatrix,
    /// Write `<run>/sweep.sbatch`, a Slurm job array; `sweep_args` are the
    /// command's own arguments without `--emit` and `--run-id`
    /// ([`emit::selection_args`]).
    Slurm { sweep_args: Vec<String> },
}

/// One sweep command, as plain data. Relative paths (configs, tokenizer,
/// results) are taken from `root`; `bin_dir` is used as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Where relative paths start (the `sweep` binary: its working
    /// directory) and where Slurm tasks `cd` to.
    pub root: PathBuf,
    pub selection: Selection,
    /// Benchmark this already running server instead of starting one per entry.
    pub base_url: Option<String>,
    /// Start each entry's server with this shell command (placeholders:
    /// [`Launch::Shell`]).
    pub server_cmd: Option<String>,
    /// The simulator's clock runs this many times faster.
    pub speedup: f64,
    /// The simulator's GPU, model and engine parameters.
    pub sim_config: PathBuf,
    /// Tokenizer for prompts (and the simulator's token counts).
    pub tokenizer: PathBuf,
    pub prompts_per_conc: i64,
    pub warmups_per_conc: i64,
    pub random_range_ratio: f64,
    pub health_timeout: Duration,
    pub entry_timeout: Duration,
    /// Runs go to `<results_dir>/<run_id>/`.
    pub results_dir: PathBuf,
    /// The run's name; `None`: [`default_run_id`].
    pub run_id: Option<String>,
    /// The binaries to run; `None`: [`Binaries::beside_current_exe`].
    pub bin_dir: Option<PathBuf>,
    /// The command as run (program and arguments), for the report; empty:
    /// not recorded.
    pub command_line: Vec<String>,
    pub action: Action,
}

/// What a command did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `generate_sweep_configs`' stdout for the selection.
    GithubMatrix(String),
    /// The Slurm script was written to `script`; it has `entries` tasks.
    Slurm { script: PathBuf, entries: usize },
    /// One entry ran ([`Action::RunEntry`]).
    Entry(EntryRecord),
    /// A whole sweep ran, or its report was made ([`Action::ReportOnly`]).
    Sweep(SweepOutcome),
}

/// A run's default name: the local time, `YYYYmmdd-HHMMSS`.
pub fn default_run_id() -> String {
    chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()
}

/// Runs the command. Progress (the header line, one line per entry, the
/// report's path) goes to `progress`; the results come back in the
/// [`Outcome`].
pub fn execute(cmd: &Command, progress: &mut dyn Write) -> Result<Outcome, SweepError> {
    let root = &cmd.root;
    let (entries, runners) = select(&cmd.selection, root)?;
    let run_id = cmd.run_id.clone().unwrap_or_else(default_run_id);
    let out_dir = root.join(&cmd.results_dir).join(&run_id);

    match &cmd.action {
        Action::GithubMatrix => return Ok(Outcome::GithubMatrix(emit::github_matrix(&entries))),
        Action::Slurm { sweep_args } => {
            std::fs::create_dir_all(&out_dir).map_err(|source| SweepError::Io {
                path: out_dir.clone(),
                source,
            })?;
            let script = emit::slurm_script(&SlurmJob {
                run_id: run_id.clone(),
                entries: entries.len(),
                repo_dir: root.display().to_string(),
                out_dir: out_dir.display().to_string(),
                sweep_args: sweep_args.clone(),
            });
            let path = out_dir.join("sweep.sbatch");
            run::write_output(&path, script.as_bytes())?;
            return Ok(Outcome::Slurm {
                script: path,
                entries: entries.len(),
            });
        }
        Action::Run | Action::RunEntry(_) | Action::ReportOnly => {}
    }

    if entries.is_empty() {
        return Err(SweepError::Setup(
            "the selection matches no matrix entries (check --config-files, the filters and --max-conc)"
                .into(),
        ));
    }
    let jobs = plan::jobs(&entries, &runners)?;
    let tokenizer = root.join(&cmd.tokenizer);
    if !tokenizer.exists() {
        return Err(SweepError::Setup(format!(
            "tokenizer {} not found: pass --tokenizer PATH (a tokenizer.json or a directory holding one)",
            tokenizer.display()
        )));
    }
    let bins = match &cmd.bin_dir {
        Some(dir) => Binaries { dir: dir.clone() },
        None => Binaries::beside_current_exe()?,
    };
    let server = match (&cmd.base_url, &cmd.server_cmd) {
        (Some(url), _) => ServerSpec::External(url.clone()),
        (None, Some(shell)) => ServerSpec::Start(Launch::Shell(shell.clone())),
        (None, None) => {
            if !(cmd.speedup.is_finite() && cmd.speedup > 0.0) {
                return Err(SweepError::Setup(format!(
                    "--speedup must be a positive number (got {})",
                    cmd.speedup
                )));
            }
            ServerSpec::Start(Launch::Sim {
                binary: bins.path("sim_server"),
                sim_config: root.join(&cmd.sim_config),
                speedup: cmd.speedup,
                tokenizer: Some(tokenizer.clone()),
            })
        }
    };
    let opts = SweepOptions {
        out_dir: out_dir.clone(),
        run_id: run_id.clone(),
        bins,
        server,
        bench: BenchSettings {
            prompts_per_conc: cmd.prompts_per_conc,
            warmups_per_conc: cmd.warmups_per_conc,
            random_range_ratio: cmd.random_range_ratio,
            tokenizer: Some(tokenizer.display().to_string()),
        },
        health_timeout: cmd.health_timeout,
        entry_timeout: cmd.entry_timeout,
        provenance: Provenance::collect(root, cmd.command_line.clone()),
    };
    let outcome = match &cmd.action {
        &Action::RunEntry(index) => Outcome::Entry(run::run_one(&jobs, index, &opts)?),
        Action::ReportOnly => Outcome::Sweep(run::finish(
            run::load_records(&jobs, &opts),
            &opts,
            progress,
        )?),
        Action::Run | Action::GithubMatrix | Action::Slurm { .. } => {
            let _ = writeln!(
                progress,
                "servebench sweep {run_id}: {} entries -> {}",
                jobs.len(),
                out_dir.display()
            );
            Outcome::Sweep(run::run_sweep(&jobs, &opts, progress)?)
        }
    };
    Ok(outcome)
}
