//! Benchmark result documents and the InferenceX result tools.
//!
//! This crate owns what happens to numbers after a run: the result
//! dictionary, report text and saved file of `benchmark_serving`
//! ([`result_dict`], [`report`], [`saved_document`], [`MetricsCase`]);
//! `process_result` ([`process_result`]: one result plus the workflow's
//! environment → an agg record, per contract edition; [`power_step`]: the
//! 2026-08 GPU power step through `servebench-power`); `collect_results`
//! ([`collect_results`]: every JSON under a directory → one list, in a
//! deterministic order); and
//! `summarize` ([`summarize()`]: agg records → the GitHub-markdown table, via
//! a faithful port of tabulate's `github` format). Output is byte-compatible
//! with the Python originals through `servebench-pyjson`.
//!
//! It does not own the metric math (`servebench-metrics`), measuring, or
//! reading the process environment (callers pass an [`Env`]).

#![warn(unreachable_pub)]

mod collect;
mod error;
mod eval;
mod io;
mod power;
mod process;
mod pyrepr;
mod serving;
mod summarize;
mod tabulate;

pub use collect::{collect_file_name, collect_results, Walk};
pub use error::ResultsError;
pub use eval::{
    collect_eval_results, eval_file_name, eval_rows, eval_tables, EvalCollection, EvalSort,
};
pub use io::{read_json, write_atomic};
pub use power::{power_step, require_power, telemetry_csv, PowerOutcome, PowerPaths};
pub use process::{process_result, result_filename, Env, GpuCount, Processed};
pub use serving::{
    exits_nonzero_after_save, failure_gate, pytorch_file_name, pytorch_records, report,
    result_dict, saved_document, saved_file_name, CaseOutcome, MetricsCase, ResultShape,
    SaveOptions, MAX_FAILURE_RATE,
};
pub use summarize::{summarize, Summary};
