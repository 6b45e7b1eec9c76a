//! The sweep as one command, what the `sweep` binary (and through it
//! `cargo xtask sweep`) runs: its options as plain data ([`Command`]), the
//! matrix they select ([`select`], through `servebench-matrix`, in the
//! contract edition the command names), and what the command did
//! ([`Outcome`]), for the binary to print. Agentic-coding rows (edition
//! 2026-08) run in a whole sweep (module `agentic`), after the others.

use crate::agentic::{self, AgenticSettings};
use crate::emit::{self, SlurmJob};
use crate::plan::{self, BenchSettings};
use crate::provenance::Provenance;
use crate::report::EntryRecord;
use crate::run::{self, Binaries, SweepOptions, SweepOutcome};
use crate::server::{Launch, ServerSpec};
use crate::SweepError;
use servebench_contract::Edition;
use servebench_matrix as matrix;
use servebench_matrix::e2026_08;
use servebench_matrix::{MatrixEntry, RunnerConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a command other than a whole sweep leaves out agentic-coding rows
/// (edition 2026-08): it prints how many it skipped, and this.
pub const AGENTIC_SKIP_REASON: &str =
    "agentic-coding rows run in a whole sweep only (not --entry-index, --report-only or --emit slurm)";

/// Which matrix entries to run: `generate_sweep_configs`' selection, for
/// single-node entries. Paths are relative to [`Command::root`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The contract edition: the schema of the config files and the
    /// generator that expands them (2026-08: `servebench_matrix::e2026_08`;
    /// 2026-02: `servebench_matrix`'s own). The binary reads it from
    /// `INFERENCEX_CONTRACT`; this library never looks at the environment.
    pub edition: Edition,
    /// Master config YAML files, merged in this order
    /// ([`Selection::default_config_files`]).
    pub config_files: Vec<PathBuf>,
    /// Runner config YAML (2026-08: labels and hardware; 2026-02: runner
    /// type -> node names; [`Selection::default_runner_config`]).
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
    /// Sequence length names: `1k1k`, `8k1k`, and under 2026-02 `1k8k`
    /// (under 2026-08 `1k8k` is an error: that edition has no such name).
    pub seq_lens: Vec<String>,
    pub step_size: i64,
    pub min_conc: Option<i64>,
    pub max_conc: i64,
    pub max_tp: Option<i64>,
    pub max_ep: Option<i64>,
    pub runner_node_filter: Option<String>,
    /// Edition 2026-08 `--scenario-type`: `fixed-seq-len`,
    /// `agentic-coding`; empty: both.
    pub scenario_types: Vec<String>,
}

/// A `generate_sweep_configs` request in the selection's edition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatrixRequest {
    /// Edition 2026-02 (`servebench_matrix::Request`).
    E2026_02(matrix::Request),
    /// Edition 2026-08 (`servebench_matrix::e2026_08::Request`).
    E2026_08(e2026_08::Request),
}

impl Selection {
    /// The master configs a sweep reads by default in `edition`:
    /// `configs/master.yaml` (2026-08), `configs/2026-02/master.yaml`
    /// (2026-02).
    pub fn default_config_files(edition: Edition) -> Vec<PathBuf> {
        vec![config_dir(edition).join("master.yaml")]
    }

    /// The runner file a sweep reads by default in `edition`:
    /// `configs/runners.yaml` (2026-08), `configs/2026-02/runners.yaml`
    /// (2026-02).
    pub fn default_runner_config(edition: Edition) -> PathBuf {
        config_dir(edition).join("runners.yaml")
    }

    /// The `generate_sweep_configs` request for this selection, with paths
    /// under `root`: a single-node full sweep, or test-config (both node
    /// types, as the original). Evals are off: the sweep runs throughput
    /// rows only (2026-08: `--no-evals`; 2026-02: no `--run-evals`).
    pub fn request(&self, root: &Path) -> Result<MatrixRequest, SweepError> {
        if self.step_size <= 1 {
            return Err(SweepError::Setup(format!(
                "--step-size must be at least 2 (got {})",
                self.step_size
            )));
        }
        let config_files: Vec<PathBuf> = self.config_files.iter().map(|p| root.join(p)).collect();
        let runner_config = root.join(&self.runner_config);
        match self.edition {
            Edition::E2026_02 => Ok(MatrixRequest::E2026_02(matrix::Request {
                config_files,
                runner_config,
                subcommand: self.subcommand_2026_02(),
                evals: matrix::EvalMode::Off,
            })),
            Edition::E2026_08 => {
                let request = e2026_08::Request {
                    config_files,
                    runner_config,
                    subcommand: self.subcommand_2026_08()?,
                    evals: e2026_08::EvalOptions {
                        no_evals: true,
                        ..e2026_08::EvalOptions::default()
                    },
                };
                if let Some(message) = request.usage_error() {
                    return Err(SweepError::Setup(message.to_owned()));
                }
                Ok(MatrixRequest::E2026_08(request))
            }
            other => Err(SweepError::Setup(format!(
                "the sweep does not know contract edition {other}"
            ))),
        }
    }

    fn subcommand_2026_02(&self) -> matrix::Subcommand {
        if self.config_keys.is_empty() {
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
        }
    }

    /// `full-sweep --single-node` (2026-08 full-sweep without a node flag
    /// means both node types; the sweep runs single-node entries only), or
    /// `test-config` with `--runner-node-filter` when given and no
    /// `--seq-lens` (the full expansion, as under 2026-02).
    fn subcommand_2026_08(&self) -> Result<e2026_08::Subcommand, SweepError> {
        if !self.config_keys.is_empty() {
            let mut o = e2026_08::TestConfigOptions::new(self.config_keys.clone());
            o.conc = self.conc.clone();
            o.runner_node_filter = self.runner_node_filter.clone();
            return Ok(e2026_08::Subcommand::TestConfig(o));
        }
        let scenario_types = self
            .scenario_types
            .iter()
            .map(|s| {
                e2026_08::ScenarioType::from_name(s).ok_or_else(|| {
                    SweepError::Setup(format!(
                        "--scenario-type {s}: choose from fixed-seq-len, agentic-coding"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let seq_lens = self
            .seq_lens
            .iter()
            .map(|s| {
                e2026_08::SeqLen::from_name(s).ok_or_else(|| {
                    SweepError::Setup(format!(
                        "--seq-lens {s} does not exist in contract edition 2026-08 (choose from 1k1k, 8k1k; INFERENCEX_CONTRACT=2026-02 has 1k8k)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(e2026_08::Subcommand::FullSweep(
            e2026_08::FullSweepOptions {
                model_prefix: self.model_prefix.clone(),
                precision: self.precision.clone(),
                framework: self.framework.clone(),
                runner_type: self.runner_type.clone(),
                seq_lens,
                step_size: self.step_size,
                min_conc: self.min_conc,
                max_conc: Some(self.max_conc),
                max_tp: self.max_tp,
                max_ep: self.max_ep,
                single_node: true,
                multi_node: false,
                runner_node_filter: self.runner_node_filter.clone(),
                scenario_types,
            },
        ))
    }
}

/// Where an edition's own configs live.
fn config_dir(edition: Edition) -> PathBuf {
    match edition {
        Edition::E2026_02 => PathBuf::from("configs/2026-02"),
        _ => PathBuf::from("configs"),
    }
}

/// The matrix a selection names, and what the sweep does with it.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    /// Every row, exactly as `generate_sweep_configs` prints them.
    pub rows: Vec<MatrixEntry>,
    /// The fixed-seq-len rows, in matrix order.
    pub runnable: Vec<MatrixEntry>,
    /// The agentic-coding rows, in matrix order.
    pub agentic: Vec<MatrixEntry>,
    /// The runner labels (type -> nodes), naming the node each entry runs on.
    pub runners: RunnerConfig,
}

/// Whether a row is an agentic-coding row (2026-08 `scenario-type`).
fn is_agentic(row: &MatrixEntry) -> bool {
    matches!(row.get("scenario-type"), Some(servebench_pyjson::Value::Str(s)) if s == "agentic-coding")
}

/// The selected matrix entries and the runner labels, as
/// `generate_sweep_configs` loads and expands them in the selection's
/// edition.
pub(crate) fn select(selection: &Selection, root: &Path) -> Result<Selected, SweepError> {
    let (rows, runners) = match selection.request(root)? {
        MatrixRequest::E2026_02(request) => {
            let configs = matrix::load_master_configs(&request.config_files)?;
            let runners = matrix::load_runner_config(&request.runner_config)?;
            let rows =
                matrix::generate_from(&configs, &runners, &request.subcommand, request.evals)?;
            (rows, runners)
        }
        MatrixRequest::E2026_08(request) => {
            let configs = e2026_08::load_master_configs(&request.config_files)?;
            let file = e2026_08::load_runner_file(&request.runner_config)?;
            let rows =
                e2026_08::generate_from(&configs, &file, &request.subcommand, request.evals)?;
            let runners = RunnerConfig {
                path: file.path.clone(),
                runners: file.labels.clone(),
            };
            (rows, runners)
        }
    };
    let (agentic, runnable): (Vec<MatrixEntry>, Vec<MatrixEntry>) =
        rows.iter().cloned().partition(is_agentic);
    Ok(Selected {
        rows,
        runnable,
        agentic,
        runners,
    })
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
/// results) are taken from `root`; `bin_dir` too.
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
    /// How agentic-coding rows run (`agentic_replay`); `None`: they are
    /// skipped (`--no-agentic`).
    pub agentic: Option<AgenticSettings>,
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
    let selected = select(&cmd.selection, root)?;
    let run_id = cmd.run_id.clone().unwrap_or_else(default_run_id);
    let out_dir = root.join(&cmd.results_dir).join(&run_id);

    // The GitHub matrix is generate_sweep_configs' output, agentic rows
    // included (a workflow sends them to its agentic job).
    if let Action::GithubMatrix = &cmd.action {
        return Ok(Outcome::GithubMatrix(emit::github_matrix(&selected.rows)));
    }
    // Agentic rows run in a whole sweep, on the simulator or --base-url;
    // otherwise they are left out, and the sweep says why (a whole run
    // after its header line, the other actions first).
    let agentic_skip: Option<&str> = if selected.agentic.is_empty() {
        None
    } else if cmd.action != Action::Run {
        Some(AGENTIC_SKIP_REASON)
    } else if cmd.agentic.is_none() {
        Some("--no-agentic")
    } else if cmd.base_url.is_none() && cmd.server_cmd.is_some() {
        Some("--server-cmd starts servers for fixed-seq-len rows only (use the simulator or --base-url)")
    } else {
        None
    };
    let skipped = if agentic_skip.is_some() {
        selected.agentic.len()
    } else {
        0
    };
    let note_skipped = |progress: &mut dyn Write| {
        if let Some(why) = agentic_skip {
            let _ = writeln!(
                progress,
                "skipping {skipped} agentic-coding row{}: {why}",
                if skipped == 1 { "" } else { "s" }
            );
        }
    };
    if cmd.action != Action::Run {
        note_skipped(progress);
    }
    let entries = &selected.runnable;
    if let Action::Slurm { sweep_args } = &cmd.action {
        std::fs::create_dir_all(&out_dir).map_err(|source| SweepError::Io {
            path: out_dir.clone(),
            source,
        })?;
        let script = emit::slurm_script(&SlurmJob {
            run_id: run_id.clone(),
            edition: cmd.selection.edition,
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

    let agentic_rows: &[MatrixEntry] = if agentic_skip.is_some() {
        &[]
    } else {
        &selected.agentic
    };
    if entries.is_empty() && agentic_rows.is_empty() {
        let why = if let Some(reason) = agentic_skip {
            format!(
                "the selection matches only agentic-coding rows ({}), which this command skips: {reason}",
                selected.agentic.len()
            )
        } else {
            "the selection matches no matrix entries (check --config-files, the filters and --max-conc)"
                .to_owned()
        };
        return Err(SweepError::Setup(why));
    }
    let jobs = plan::jobs(entries, &selected.runners, cmd.selection.edition)?;
    let agentic_jobs = agentic::jobs(agentic_rows, &selected.runners)?;
    let tokenizer = root.join(&cmd.tokenizer);
    if !tokenizer.exists() {
        return Err(SweepError::Setup(format!(
            "tokenizer {} not found: pass --tokenizer PATH (a tokenizer.json or a directory holding one)",
            tokenizer.display()
        )));
    }
    if let (Some(first), Some(a)) = (agentic_jobs.first(), &cmd.agentic) {
        let traces = root.join(&a.traces);
        if !traces.exists() {
            return Err(SweepError::Setup(format!(
                "agentic traces {} not found (for {} and the other agentic-coding entries): pass --agentic-traces PATH, or --no-agentic",
                traces.display(),
                first.name
            )));
        }
    }
    let bins = match &cmd.bin_dir {
        // Absolute: the binaries run with their entry's directory as
        // their working directory.
        Some(dir) => Binaries {
            dir: root.join(dir),
        },
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
        agentic: cmd
            .agentic
            .clone()
            .map(|a| AgenticSettings {
                traces: root.join(&a.traces),
                ..a
            })
            .unwrap_or_else(AgenticSettings::local_default),
    };
    let outcome = match &cmd.action {
        &Action::RunEntry(index) => Outcome::Entry(run::run_one(&jobs, index, &opts)?),
        Action::ReportOnly => Outcome::Sweep(run::finish(
            run::load_records(&jobs, &opts),
            Vec::new(),
            &opts,
            progress,
        )?),
        Action::Run | Action::GithubMatrix | Action::Slurm { .. } => {
            let mut counts: Vec<String> = Vec::new();
            if !jobs.is_empty() || agentic_jobs.is_empty() {
                counts.push(format!("{} entries", jobs.len()));
            }
            match agentic_jobs.len() {
                0 => {}
                1 => counts.push("1 agentic-coding entry".to_owned()),
                n => counts.push(format!("{n} agentic-coding entries")),
            }
            let _ = writeln!(
                progress,
                "servebench sweep {run_id}: {} -> {}",
                counts.join(" and "),
                out_dir.display()
            );
            note_skipped(progress);
            Outcome::Sweep(run::run_with_agentic(
                &jobs,
                &agentic_jobs,
                &opts,
                progress,
            )?)
        }
    };
    Ok(outcome)
}
