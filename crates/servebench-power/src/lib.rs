//! GPU power aggregation as InferenceX edition 2026-08 does it
//! (`utils/aggregate_power.py` and `utils/aggregate_power_multinode.py`).
//!
//! This crate owns:
//!
//! * GPU metrics CSV detection and parsing for nvidia-smi and amd-smi
//!   formats (Python `csv.DictReader` semantics, column detection by name);
//! * timestamps: epoch seconds or milliseconds, nvidia-smi local time and
//!   ISO 8601 (Python 3.11 `fromisoformat`); naive times are local time of
//!   the process time zone (`TZ`, read by chrono's `Local`), aware ones
//!   converted exactly;
//! * the benchmark window and counts of a bench result;
//! * per-device trapezoid integration with linear boundary interpolation and
//!   the 3.0 s sampling-gap limit; readings at one timestamp are averaged
//!   exactly (Python `statistics.mean`);
//! * the validity rules and their reason order, the agg patch (schema
//!   version 2, `power_valid` 1/0, rounded metrics), the advisory energy
//!   accumulator cross-check, and the validation sidecar;
//! * the srt-slurm DCGM power package v1 checks of the multinode tool
//!   (manifest wire contract, samples, device identity, window audit,
//!   stored evidence, producer pin, verdict, topology, window binding);
//! * Python's `round()`, `repr()` and `str(Path)` where outputs show them.
//!
//! It owns no command line: `aggregate_power`, `aggregate_power_multinode`
//! and `process_result` call it.
//!
//! # Use
//!
//! [`run_single_node`] and [`run_multinode`] do what the Python tools do
//! with files: read the bench result and the agg file, patch the agg file,
//! write the sidecar, and return a [`Report`] with the stdout line, the
//! stderr lines and the exit status rule. The `evaluate_*` functions are the
//! same without file output, for a caller that holds the parsed bench result
//! and agg record: they return an [`Evaluation`] whose patched agg the caller
//! writes (reporting a failure with [`Evaluation::agg_write_failed`]), then
//! [`Evaluation::finish`] with the outcome of writing [`Evaluation::sidecar`].
//!
//! ```no_run
//! use servebench_power::{run_single_node, SingleNode};
//! use std::path::PathBuf;
//! let req = SingleNode {
//!     csv: PathBuf::from("gpu_metrics.csv"),
//!     bench_result: PathBuf::from("run.json"),
//!     agg_result: PathBuf::from("agg_run.json"),
//!     expected_num_gpus: 8,
//!     validation_result: Some(PathBuf::from("power_validation_run.json")),
//! };
//! match run_single_node(&req) {
//!     Ok(report) => {
//!         if let Some(line) = &report.stdout_line {
//!             println!("{line}");
//!         }
//!         for line in &report.stderr {
//!             eprintln!("{line}");
//!         }
//!         let status = report.exit_status(false); // REQUIRE_POWER off
//!         # let _ = status;
//!     }
//!     // Python would raise: process_result writes its fallback (§3.5).
//!     Err(e) => eprintln!("power aggregation failed: {e} ({})", e.python_type()),
//! }
//! ```

#![warn(unreachable_pub)]

mod bench;
mod csv;
mod exact;
mod integrate;
mod multi;
mod py;
mod single;
mod timestamp;

pub use multi::{evaluate_multinode, Multinode};
pub use single::{evaluate_single_node, SingleNode};

use servebench_files::Limit;
use servebench_pyjson::{to_string_indent2, Dict, Value};
use std::path::{Path, PathBuf};

/// The sidecar's `integration_method`.
pub const INTEGRATION_METHOD: &str = "per_device_trapezoidal_with_linear_boundary_interpolation";

/// `power_metric_schema_version` written into the agg file.
pub const POWER_METRIC_SCHEMA_VERSION: i128 = 2;

/// Telemetry CSVs (one row per GPU per second for 8 GPUs over a day is
/// about 70 MB).
pub const TELEMETRY_LIMIT: Limit = Limit {
    max_bytes: 1024 * servebench_files::MIB,
    what: "a GPU telemetry file",
};

/// Where Python raises instead of reporting a reason: the CLI prints the
/// message and exits 1; process_result writes its fallback (§3.5) with
/// [`PowerError::python_type`] and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PowerError {
    /// An aware timestamp whose UTC conversion leaves years 1..9999.
    #[error("date value out of range")]
    DateOutOfRange,
    /// The bench result is JSON but not an object.
    #[error("'{0}' object has no attribute 'get'")]
    BenchNotObject(&'static str),
    /// The bench result is not UTF-8.
    #[error("{0}")]
    BenchNotUtf8(String),
    /// The agg file is JSON but not an object.
    #[error("'{0}' object has no attribute 'pop'")]
    AggNotObject(&'static str),
    /// Anything else Python raises (a path without a name, ...).
    #[error("{0}")]
    Internal(String),
}

impl PowerError {
    /// The Python exception class the original raises here.
    pub fn python_type(&self) -> &'static str {
        match self {
            PowerError::DateOutOfRange => "OverflowError",
            PowerError::BenchNotObject(_) | PowerError::AggNotObject(_) => "AttributeError",
            PowerError::BenchNotUtf8(_) => "UnicodeDecodeError",
            PowerError::Internal(_) => "ValueError",
        }
    }
}

/// The agg file as the aggregator finds it.
#[derive(Debug, Clone, PartialEq)]
pub enum AggState {
    /// Not an existing regular file (`aggregate_result_missing`).
    Missing,
    /// Unreadable or not JSON: Python's error text
    /// (`aggregate_result_unwritable`).
    Unreadable(String),
    /// The parsed agg record.
    Parsed(Value),
}

impl AggState {
    /// Reads `path` as the originals do (`is_file()`, then UTF-8 JSON).
    pub fn read(path: &Path) -> AggState {
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return AggState::Missing;
        }
        let bytes = match servebench_files::read(path, Limit::RESULT) {
            Ok(b) => b,
            Err(e) => return AggState::Unreadable(e.to_string()),
        };
        let text = match py::decode_utf8(bytes) {
            Ok(t) => t,
            Err(e) => return AggState::Unreadable(e),
        };
        match servebench_pyjson::from_str(&text) {
            Ok(v) => AggState::Parsed(v),
            Err(e) => AggState::Unreadable(py::json_error(&text, &e)),
        }
    }
}

/// A verdict before the sidecar is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    tool: &'static str,
    /// Whether the measurement is valid.
    pub power_valid: bool,
    /// Reason codes, in order.
    pub reasons: Vec<String>,
    /// Multinode only: the failure texts.
    failures: Option<Vec<String>>,
    metrics: Vec<(String, f64)>,
    agg_path: PathBuf,
    /// Where the sidecar goes.
    pub sidecar_path: PathBuf,
    /// The patched agg record to write to the agg path (`None`: missing or
    /// not patchable).
    pub patched_agg: Option<Value>,
    /// Lines for stderr so far (a failed patch).
    pub stderr: Vec<String>,
    sidecar: Dict,
    observed: usize,
    metric_keys: Vec<&'static str>,
}

/// What a run ends with.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Whether the measurement is valid.
    pub power_valid: bool,
    /// Reason codes, in order.
    pub reasons: Vec<String>,
    /// The line for stdout (valid measurements), without `\n`.
    pub stdout_line: Option<String>,
    /// Lines for stderr, without `\n`.
    pub stderr: Vec<String>,
    /// The sidecar as written (or attempted).
    pub sidecar: Value,
    /// Where it was written.
    pub sidecar_path: PathBuf,
}

impl Report {
    /// 1 for an invalid measurement (or an unwritten sidecar) under
    /// `--require-power` / `REQUIRE_POWER`, else 0.
    pub fn exit_status(&self, require_power: bool) -> u8 {
        u8::from(require_power && (!self.power_valid || self.stdout_line.is_none()))
    }
}

impl Evaluation {
    fn metrics_value(&self, digits_for: impl Fn(&str, f64) -> f64) -> Dict {
        let mut d = Dict::new();
        for (k, v) in &self.metrics {
            if v.is_finite() {
                d.insert(k.as_str(), Value::Float(digits_for(k, *v)));
            }
        }
        d
    }

    fn sidecar_metrics(&self) -> Value {
        Value::Dict(self.metrics_value(|_, v| exact::py_round(v, 6)))
    }

    fn fail_patch(&mut self, message: String) {
        if !self
            .reasons
            .iter()
            .any(|r| r == "aggregate_result_unwritable")
        {
            self.reasons.push("aggregate_result_unwritable".to_owned());
        }
        if let Some(f) = &mut self.failures {
            if !message.is_empty() {
                f.push(message.clone());
            }
        }
        self.power_valid = false;
        self.metrics.clear();
        self.patched_agg = None;
        self.stderr.push(format!(
            "[{}] Failed to patch {}: {message}",
            self.tool,
            py::path_str(&self.agg_path)
        ));
    }

    /// `_patch_power_result` / `_patch_agg` on the agg state.
    fn apply_agg(&mut self, agg: AggState) -> Result<(), PowerError> {
        match agg {
            AggState::Missing => {
                if !self.reasons.iter().any(|r| r == "aggregate_result_missing") {
                    self.reasons.push("aggregate_result_missing".to_owned());
                }
                if let Some(f) = &mut self.failures {
                    f.push(format!(
                        "aggregate missing: {}",
                        py::path_str(&self.agg_path)
                    ));
                }
                self.power_valid = false;
                self.metrics.clear();
            }
            AggState::Unreadable(message) => self.fail_patch(message),
            AggState::Parsed(Value::Dict(mut d)) => {
                for k in &self.metric_keys {
                    d.remove(k);
                }
                d.insert(
                    "power_metric_schema_version",
                    Value::Int(POWER_METRIC_SCHEMA_VERSION),
                );
                d.insert("power_valid", Value::Int(i128::from(self.power_valid)));
                d.remove("power_invalid_reasons");
                if self.power_valid {
                    for (k, v) in &self.metrics {
                        if !v.is_finite() {
                            let message = format!("non-finite power metric: {k}");
                            self.fail_patch(message);
                            return Ok(());
                        }
                        d.insert(k.as_str(), Value::Float(single::round_metric(k, *v)));
                    }
                }
                self.patched_agg = Some(Value::Dict(d));
            }
            AggState::Parsed(other) => return Err(PowerError::AggNotObject(other.type_name())),
        }
        Ok(())
    }

    /// Writing [`Evaluation::patched_agg`] failed with `message`: the
    /// measurement becomes invalid (`aggregate_result_unwritable`).
    pub fn agg_write_failed(&mut self, message: &str) {
        self.fail_patch(message.to_owned());
        self.rebuild_sidecar();
    }

    fn rebuild_sidecar(&mut self) {
        let metrics = self.sidecar_metrics();
        let reasons = Value::List(
            self.reasons
                .iter()
                .map(|r| Value::from(r.as_str()))
                .collect(),
        );
        self.sidecar
            .insert("power_valid", Value::Bool(self.power_valid));
        self.sidecar.insert("reasons", reasons);
        if let Some(f) = &self.failures {
            let f = Value::List(f.iter().map(|r| Value::from(r.as_str())).collect());
            self.sidecar.insert("failures", f);
        }
        self.sidecar.insert("metrics", metrics);
    }

    /// The sidecar document to write to [`Evaluation::sidecar_path`].
    pub fn sidecar(&self) -> Value {
        Value::Dict(self.sidecar.clone())
    }

    /// The report, given the outcome of writing the sidecar (`Err`: the
    /// error text).
    pub fn finish(self, sidecar_written: Result<(), String>) -> Report {
        let mut stderr = self.stderr.clone();
        let sidecar_str = py::path_str(&self.sidecar_path);
        let mut stdout_line = None;
        match sidecar_written {
            Err(e) => stderr.push(format!(
                "[{}] Failed to write validation artifact {sidecar_str}: {e}",
                self.tool
            )),
            Ok(()) if !self.power_valid => stderr.push(format!(
                "[{}] Power validation failed: {} (details: {sidecar_str})",
                self.tool,
                self.reasons.join(", ")
            )),
            Ok(()) => {
                stdout_line = Some(if self.failures.is_some() {
                    multi::success_line(&self)
                } else {
                    single::success_line(&self)
                })
            }
        }
        Report {
            power_valid: self.power_valid,
            reasons: self.reasons.clone(),
            stdout_line,
            stderr,
            sidecar: Value::Dict(self.sidecar),
            sidecar_path: self.sidecar_path,
        }
    }

    /// Writes the patched agg and the sidecar (parent directories created),
    /// as the originals do, and finishes.
    pub fn write(mut self) -> Report {
        if let Some(agg) = &self.patched_agg {
            let text = to_string_indent2(agg);
            if let Err(e) = servebench_files::write_atomic(&self.agg_path, text.as_bytes()) {
                let message = e.to_string();
                self.agg_write_failed(&message);
            }
        }
        let path = self.sidecar_path.clone();
        let text = to_string_indent2(&self.sidecar());
        let written = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => std::fs::create_dir_all(dir).map_err(|e| py::os_error(&e, dir)),
            None => Ok(()),
        }
        .and_then(|()| {
            servebench_files::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())
        });
        self.finish(written)
    }
}

/// Reads a bench result as `_load_benchmark_data` does: `Ok(None)` when
/// unreadable or not JSON.
pub fn read_bench(path: &Path) -> Result<Option<Value>, PowerError> {
    let Ok(bytes) = servebench_files::read(path, Limit::RESULT) else {
        return Ok(None);
    };
    let text = py::decode_utf8(bytes).map_err(PowerError::BenchNotUtf8)?;
    Ok(servebench_pyjson::from_str(&text).ok())
}

/// `aggregate_power` with files: reads the bench result and agg file,
/// patches the agg file, writes the sidecar.
pub fn run_single_node(req: &SingleNode) -> Result<Report, PowerError> {
    let bench = read_bench(&req.bench_result)?;
    let ev = evaluate_single_node(req, bench.as_ref(), AggState::read(&req.agg_result))?;
    Ok(ev.write())
}

/// `aggregate_power_multinode` with files.
pub fn run_multinode(req: &Multinode) -> Result<Report, PowerError> {
    let bench = read_bench(&req.bench_result)?;
    let ev = evaluate_multinode(req, bench.as_ref(), AggState::read(&req.agg_result))?;
    Ok(ev.write())
}
