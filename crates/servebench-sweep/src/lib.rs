//! `cargo xtask sweep`: what InferenceX's GitHub workflow does across a GPU
//! fleet, on one machine.
//!
//! This crate owns the sweep: turning a master config into jobs (with the
//! workflow's flags, environment and file names), starting and stopping a
//! server per entry (the embedded simulator, a command, or an external URL),
//! running the real binaries (`benchmark_serving`, `process_result`,
//! `collect_results`, `summarize`) as the workflow would, keeping going when
//! an entry fails, and the self-contained HTML report.
//!
//! It does not own matrix expansion (`servebench-matrix`), the benchmark
//! itself, or the result formats: it only calls the binaries and reads what
//! they write.

pub mod emit;
pub mod plan;
pub mod report;
pub mod run;
pub mod scale;
pub mod server;

use std::path::PathBuf;

pub use plan::{BenchSettings, Entry, Job};
pub use run::{Binaries, SweepOptions, SweepOutcome};
pub use server::{Launch, ServerSpec};

#[derive(Debug, thiserror::Error)]
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
