//! The benchmark contract of a bench result (§4.1), shared by both tools.

use crate::py::path_str;
use servebench_pyjson::{Dict, Value};
use std::path::Path;

/// The window and counts of a bench result whose window is valid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Benchmark {
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) duration: f64,
    pub(crate) completed: i128,
    pub(crate) input_tokens: i128,
    pub(crate) output_tokens: i128,
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v {
        Some(Value::Int(i)) => Some(*i as f64),
        Some(Value::Float(f)) => Some(*f),
        _ => None,
    }
}

fn positive_int(v: Option<&Value>) -> Option<i128> {
    match v {
        Some(Value::Int(i)) if *i > 0 => Some(*i),
        _ => None,
    }
}

/// `_load_benchmark_data`: `bench` is `None` when the file was unreadable
/// or not JSON.
pub(crate) fn load(bench: Option<&Dict>) -> (Option<Benchmark>, Vec<String>) {
    let Some(bench) = bench else {
        return (None, vec!["invalid_benchmark_result".to_owned()]);
    };
    let window = (
        number(bench.get("benchmark_start_time_unix")),
        number(bench.get("benchmark_end_time_unix")),
        number(bench.get("duration")),
    );
    let (Some(start), Some(end), Some(duration)) = window else {
        return (None, vec!["invalid_benchmark_window".to_owned()]);
    };
    if !(start.is_finite() && end.is_finite() && duration.is_finite())
        || end <= start
        || duration <= 0.0
    {
        return (None, vec!["invalid_benchmark_window".to_owned()]);
    }
    let mut reasons = Vec::new();
    let integration = end - start;
    if (duration - integration).abs() > (0.5f64).max(integration * 0.01) {
        reasons.push("benchmark_duration_mismatch".to_owned());
    }
    let mut count = |key: &str, reason: &str| {
        positive_int(bench.get(key)).unwrap_or_else(|| {
            reasons.push(reason.to_owned());
            0
        })
    };
    let completed = count("completed", "invalid_successful_query_count");
    let input_tokens = count("total_input_tokens", "invalid_input_token_count");
    let output_tokens = count("total_output_tokens", "invalid_output_token_count");
    (
        Some(Benchmark {
            start,
            end,
            duration,
            completed,
            input_tokens,
            output_tokens,
        }),
        reasons,
    )
}

/// The sidecar's `benchmark_window`.
pub(crate) fn window_value(b: Option<&Benchmark>) -> Value {
    let Some(b) = b else {
        return Value::Null;
    };
    let mut d = Dict::new();
    d.insert("start_time_unix", Value::Float(b.start));
    d.insert("end_time_unix", Value::Float(b.end));
    d.insert("reported_duration_s", Value::Float(b.duration));
    d.insert("integration_duration_s", Value::Float(b.end - b.start));
    d.insert("completed", Value::Int(b.completed));
    d.insert("total_input_tokens", Value::Int(b.input_tokens));
    d.insert("total_output_tokens", Value::Int(b.output_tokens));
    Value::Dict(d)
}

/// `bench_result.with_name(f"power_validation_{stem}.json")`.
pub(crate) fn default_sidecar(bench_result: &Path) -> Option<std::path::PathBuf> {
    let name = crate::py::name(bench_result);
    let stem = crate::py::stem_of(&name);
    crate::py::with_name(bench_result, &format!("power_validation_{stem}.json"))
}

/// `str(path)` as a JSON string.
pub(crate) fn path_value(p: &Path) -> Value {
    Value::Str(path_str(p))
}
