//! InferenceX master configs: load, validate, and expand into the sweep
//! matrix that `generate_sweep_configs` prints and GitHub Actions consumes.
//!
//! This crate owns the typed model of master configs and `runners.yaml`
//! ([`MasterConfigs`], [`RunnerConfig`]), every validation rule of the
//! Python original (`validation.py`, pydantic v2 lax semantics), the three
//! generators ([`full_sweep`], [`runner_model_sweep`], [`test_config`]) with
//! their filters, and eval marking ([`apply_evals`]). Everything is a pure
//! function returning values or a [`MatrixError`]; nothing prints.
//!
//! Edition 2026-08 (InferenceX `843c6254f`: `scenarios`, agentic coding,
//! the labels/hardware runner file, the new eval policy) lives in
//! [`e2026_08`], with its own schema and entry points; it shares this
//! crate's loader, lax pydantic checks and concurrency arithmetic. The
//! items at the crate root are edition 2026-02 (the sweep uses them).
//!
//! It does not own the command line (the `generate_sweep_configs` binary),
//! JSON spelling (`servebench-pyjson`), or running the sweep.
//!
//! YAML is read by `servebench-yaml` (PyYAML `safe_load` semantics, the
//! only YAML loader in the workspace); the original's values are copied to the matrix
//! unchanged, so computations on them follow Python (`servebench-pyjson`'s operators).
//!
//! ```no_run
//! use servebench_matrix::{full_sweep, load_master_configs, load_runner_config};
//! use servebench_matrix::{FullSweepOptions, NodeType};
//! use std::path::{Path, PathBuf};
//!
//! let configs = load_master_configs(&[PathBuf::from("configs/2026-02/master.yaml")])?;
//! let runners = load_runner_config(Path::new("configs/2026-02/runners.yaml"))?;
//! let mut opts = FullSweepOptions::new(NodeType::SingleNode);
//! opts.max_conc = Some(16);
//! let matrix = full_sweep(&configs, &runners, &opts)?;
//! println!("{}", servebench_matrix::matrix_json(&matrix));
//! # Ok::<(), servebench_matrix::MatrixError>(())
//! ```

#![warn(unreachable_pub)]

mod config;
pub mod e2026_08;
mod error;
mod generate;
mod validate;

pub use config::{
    load_master_configs, load_runner_config, ConcSpec, ConfigEntry, MasterConfigs, MultiNodeSearch,
    RunnerConfig, SearchSpace, SeqLenConfig, SingleNodeSearch,
};
pub use error::MatrixError;
pub use generate::{
    apply_evals, full_sweep, runner_model_sweep, test_config, EvalMode, FullSweepOptions,
    MatrixEntry, NodeType, RunnerModelSweepOptions, SeqLen, TestConfigOptions,
};

/// What to generate: the subcommand with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subcommand {
    FullSweep(FullSweepOptions),
    RunnerModelSweep(RunnerModelSweepOptions),
    TestConfig(TestConfigOptions),
}

/// One `generate_sweep_configs` invocation, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub config_files: Vec<std::path::PathBuf>,
    pub runner_config: std::path::PathBuf,
    pub subcommand: Subcommand,
    pub evals: EvalMode,
}

/// Runs a request in the original's order: load and validate every config
/// file, load and validate the runner config (even for test-config, which
/// does not use it), generate, then mark evals.
pub fn generate(request: &Request) -> Result<Vec<MatrixEntry>, MatrixError> {
    let configs = load_master_configs(&request.config_files)?;
    let runners = load_runner_config(&request.runner_config)?;
    generate_from(&configs, &runners, &request.subcommand, request.evals)
}

/// What [`generate`] does once the files are loaded: the subcommand's
/// generator, then eval marking. For callers that keep the configs (the
/// sweep also needs the runner config).
pub fn generate_from(
    configs: &MasterConfigs,
    runners: &RunnerConfig,
    subcommand: &Subcommand,
    evals: EvalMode,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    let matrix = match subcommand {
        Subcommand::FullSweep(opts) => full_sweep(configs, runners, opts)?,
        Subcommand::RunnerModelSweep(opts) => runner_model_sweep(configs, runners, opts)?,
        Subcommand::TestConfig(opts) => test_config(configs, opts)?,
    };
    apply_evals(matrix, evals)
}

/// The matrix as `json.dumps(list)` prints it: one line, `[]` when empty.
pub fn matrix_json(matrix: &[MatrixEntry]) -> String {
    let list = servebench_pyjson::Value::List(matrix.iter().cloned().map(Into::into).collect());
    servebench_pyjson::to_string(&list)
}
