//! The artifact files the InferenceX scripts read (SPEC §4.1, §4.2): one
//! `profile_export.jsonl` line per replayed request, the aggregate
//! `profile_export_aiperf.json` and its CSV twin `profile_export_aiperf.csv`,
//! in the field sets and shapes of upstream aiperf 0.13.0's output
//! (`reference/agentx/artifacts-sample/`).
//!
//! This module owns the per-request metrics derived from a
//! [`RequestRecord`], the aggregate statistics (numpy linear percentiles,
//! population std, profiling records only), the validity stamp
//! (`metadata.submission_*`, SPEC §2.8) and the theoretical prefix-cache
//! hit accounting. It does not own the server-metrics export ([`crate::scrape`])
//! nor the decision of which requests ran ([`crate::replay`]).
//!
//! ```no_run
//! # fn demo(records: &[servebench_agentx::record::RequestRecord],
//! #         run: &servebench_agentx::artifacts::RunInfo) -> Result<(), servebench_agentx::AgentxError> {
//! servebench_agentx::artifacts::write_all(std::path::Path::new("out/aiperf_artifacts"), records, run)?;
//! # Ok(()) }
//! ```

mod aggregate;
mod csv;
mod per_record;
mod sweep;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::record::RequestRecord;
use crate::trace::{Entry, Trace};
use crate::AgentxError;

pub use aggregate::aggregate;
/// Also the scraper's `start_time`/`end_time`.
pub(crate) use aggregate::local_iso;
pub use per_record::{is_context_overflow, record_json};

/// File names inside `--output-artifact-dir`.
pub const JSONL_FILE: &str = "profile_export.jsonl";
pub const AGGREGATE_FILE: &str = "profile_export_aiperf.json";
pub const CSV_FILE: &str = "profile_export_aiperf.csv";

/// The aggregate's `schema_version` (aiperf 0.13.0).
pub const SCHEMA_VERSION: &str = "1.4";

/// Invalid-reason strings of `metadata.submission_invalid_reasons`.
pub const REASON_RUN_CANCELLED: &str = "run_cancelled";
pub const REASON_CONTEXT_OVERFLOW: &str = "context_overflow_rate_exceeded";

/// Share of responses that may be context overflows before the run is
/// stamped invalid (SPEC §6: "more than 1 %").
pub const CONTEXT_OVERFLOW_MAX_RATIO: f64 = 0.01;

/// What the aggregate says about the run as a whole (the scheduler fills it
/// at the end of a run).
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// `benchmark_id` (aiperf: 12 hex digits).
    pub benchmark_id: String,
    /// Written as `aiperf_version` (a string, e.g. `servebench-0.1.0`).
    pub aiperf_version: String,
    pub random_seed: u64,
    /// The command line as one shell-quoted string (`run_info.cli_command`).
    pub cli_command: String,
    /// The resolved configuration (`input_config`), written as given.
    pub input_config: serde_json::Value,
    /// `metadata.scenario`, e.g. `inferencex-agentx-mvp`.
    pub scenario: String,
    /// Reasons known before the artifacts (e.g. `unsafe_override`);
    /// `run_cancelled` and `context_overflow_rate_exceeded` are added here.
    pub invalid_reasons: Vec<String>,
    /// The run was interrupted: the files stay consistent but are marked
    /// (`was_cancelled` true, `is_complete` false, `run_cancelled`).
    pub was_cancelled: bool,
    /// The profiling phase window, epoch ns (`start_time`/`end_time` and the
    /// denominator of the throughputs).
    pub profiling_start_ns: u64,
    pub profiling_end_ns: u64,
    /// The warm-up phase window, when there was one.
    pub warmup_start_ns: Option<u64>,
    pub warmup_end_ns: Option<u64>,
    /// `branch_stats` as the scheduler counted it; `None` derives the
    /// counts that the records show (children spawned/completed/errored).
    pub branch_stats: Option<serde_json::Value>,
}

/// Writes `profile_export.jsonl`, `profile_export_aiperf.json` and
/// `profile_export_aiperf.csv` under `dir` (created if needed), each one
/// atomically: a reader sees the old file or the whole new one.
pub fn write_all(dir: &Path, records: &[RequestRecord], run: &RunInfo) -> Result<(), AgentxError> {
    std::fs::create_dir_all(dir).map_err(|e| AgentxError::Write {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut jsonl = Vec::new();
    for r in records {
        let line = serde_json::to_vec(&record_json(r)).map_err(|e| AgentxError::Write {
            path: dir.join(JSONL_FILE),
            message: e.to_string(),
        })?;
        jsonl.extend_from_slice(&line);
        jsonl.push(b'\n');
    }
    servebench_files::write_atomic(&dir.join(JSONL_FILE), &jsonl)?;

    let agg = aggregate(records, run);
    let pretty = serde_json::to_vec_pretty(&agg).map_err(|e| AgentxError::Write {
        path: dir.join(AGGREGATE_FILE),
        message: e.to_string(),
    })?;
    servebench_files::write_atomic(&dir.join(AGGREGATE_FILE), &pretty)?;
    servebench_files::write_atomic(&dir.join(CSV_FILE), csv::render(&agg).as_bytes())?;
    Ok(())
}

/// For every request of `trace`, keyed by `(source_outer_idx,
/// source_inner_idx)`: how many of its hash ids already occur in an earlier
/// request of the trace, walking the file order with subagent requests
/// flattened in place. This static definition reproduces aiperf 0.13.0's
/// `theoretical_prefix_cache_hit` on the sample run exactly (161 blocks
/// looked up, 101 seen: a seen-set over the replayed requests alone gives
/// 74); store it in [`RequestRecord::prior_hit_blocks`].
pub fn prior_hit_blocks(trace: &Trace) -> BTreeMap<(u32, Option<u32>), u64> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out = BTreeMap::new();
    let mut visit = |key: (u32, Option<u32>), ids: &[u64]| {
        let hits = ids.iter().filter(|h| seen.contains(h)).count();
        out.insert(key, u64::try_from(hits).unwrap_or(u64::MAX));
        seen.extend(ids.iter().copied());
    };
    for (outer, entry) in trace.entries.iter().enumerate() {
        let Ok(outer) = u32::try_from(outer) else {
            break;
        };
        match entry {
            Entry::Request(r) => visit((outer, None), &r.hash_ids),
            Entry::Subagent(s) => {
                for (inner, r) in s.requests.iter().enumerate() {
                    let Ok(inner) = u32::try_from(inner) else {
                        break;
                    };
                    visit((outer, Some(inner)), &r.hash_ids);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
