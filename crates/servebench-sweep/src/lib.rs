//! The `sweep` binary (also run by `cargo xtask sweep`): what InferenceX's
//! GitHub workflow does across a GPU fleet, on one machine.
//!
//! This crate owns the sweep: the command as plain data and its outcome
//! ([`Command`], [`execute`], [`Outcome`]: select the matrix through
//! `servebench-matrix` in the contract edition the command names, run,
//! emit), turning matrix entries into typed jobs (with the workflow's flags,
//! environment and file names; agentic-coding rows become [`AgenticJob`]s,
//! replayed with `agentic_replay` and summarised from its artifacts by
//! [`summarize_agentic`]), starting and stopping a server per entry
//! (the embedded simulator, a command, or an external URL), running the real
//! binaries (`benchmark_serving`, `process_result`, `collect_results`,
//! `summarize`) as the workflow would, keeping going when an entry fails,
//! the GitHub-matrix and Slurm emitters, and the self-contained HTML report.
//!
//! It does not own matrix expansion (`servebench-matrix`), the command line
//! (`bins/sweep`), the benchmark itself, or the result formats: it only
//! calls the binaries and reads what they write.
//!
//! ```no_run
//! use servebench_contract::Edition;
//! use servebench_sweep::{execute, Action, AgenticSettings, Command, Outcome, Selection};
//! use std::time::Duration;
//!
//! // The binary reads the edition once (`Edition::from_env`); 2026-08
//! // reads configs/master.yaml and configs/runners.yaml.
//! let edition = Edition::E2026_08;
//! let selection = Selection {
//!     edition,
//!     config_files: Selection::default_config_files(edition),
//!     runner_config: Selection::default_runner_config(edition),
//!     config_keys: vec![],
//!     conc: vec![],
//!     model_prefix: vec![],
//!     precision: vec![],
//!     framework: vec!["sim".into()],
//!     runner_type: vec![],
//!     seq_lens: vec!["1k1k".into()],
//!     step_size: 2,
//!     min_conc: None,
//!     max_conc: 8,
//!     max_tp: None,
//!     max_ep: None,
//!     runner_node_filter: None,
//!     scenario_types: vec![],
//! };
//! let cmd = Command {
//!     root: std::env::current_dir()?,
//!     selection,
//!     base_url: None,
//!     server_cmd: None,
//!     speedup: 5.0,
//!     sim_config: "configs/sim.yaml".into(),
//!     tokenizer: "../shared/reference/tokenizers/deepseek-r1".into(),
//!     prompts_per_conc: 4,
//!     warmups_per_conc: 1,
//!     random_range_ratio: 0.8,
//!     health_timeout: Duration::from_secs(120),
//!     entry_timeout: Duration::from_secs(1800),
//!     results_dir: "results".into(),
//!     run_id: None,
//!     bin_dir: Some("target/release".into()),
//!     command_line: vec!["sweep".into(), "--emit".into(), "github-matrix".into()],
//!     agentic: Some(AgenticSettings::local_default()),
//!     action: Action::GithubMatrix,
//! };
//! if let Outcome::GithubMatrix(json) = execute(&cmd, &mut std::io::sink())? {
//!     assert!(json.starts_with('['));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(unreachable_pub)]

mod agentic;
mod agentic_result;
mod command;
mod emit;
mod plan;
mod provenance;
mod report;
mod run;
mod scale;
mod server;

use std::path::PathBuf;

pub use agentic::{jobs as agentic_jobs, AgenticJob, AgenticRecord, AgenticSettings};
pub use agentic_result::{summarize as summarize_agentic, AgenticSummary, Stats};
pub use command::{
    default_run_id, execute, Action, Command, MatrixRequest, Outcome, Selection,
    AGENTIC_SKIP_REASON,
};
pub use emit::selection_args;
pub use plan::{jobs, BenchSettings, Entry, Job};
pub use provenance::Provenance;
pub use report::{EntryRecord, EntryStatus};
pub use run::{run_sweep, run_with_agentic, Binaries, SweepOptions, SweepOutcome};
pub use server::{Launch, ServerSpec};

/// Why a sweep could not run (an entry's own failure is not an error: it is
/// recorded and the sweep goes on).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    #[error(transparent)]
    Matrix(#[from] servebench_matrix::MatrixError),
    #[error("matrix entry {index}: {message}")]
    Entry { index: usize, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}
