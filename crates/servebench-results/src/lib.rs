//! Benchmark result documents and the InferenceX result tools.
//!
//! This crate owns what happens to numbers after a run: the result
//! dictionary, report text and saved file of `benchmark_serving`
//! ([`serving`]); `process_result` ([`process`]: one result plus the
//! workflow's environment → an agg record); `collect_results` ([`collect`]:
//! every JSON under a directory → one list, in a deterministic order); and
//! `summarize` ([`summarize`]: agg records → the GitHub-markdown table, via a
//! faithful [`tabulate`] port). Output is byte-compatible with the Python
//! originals through `servebench-pyjson`.
//!
//! It does not own the metric math (`servebench-metrics`), measuring, or
//! reading the process environment (callers pass an [`process::Env`]).

pub mod collect;
mod error;
pub mod io;
pub mod process;
pub mod pyrepr;
pub mod serving;
pub mod summarize;
pub mod tabulate;

pub use error::ResultsError;
