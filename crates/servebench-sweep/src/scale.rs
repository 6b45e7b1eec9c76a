//! Results from a simulator running K× faster than its simulated clock,
//! brought back to simulated time: durations ×K, rates ÷K, and the
//! wall-clock benchmark window (`benchmark_start_time_unix`,
//! `benchmark_end_time_unix`, edition 2026-08) mapped like the simulator's
//! GPU-metrics timestamps: `origin + (t − origin) × K` around the clock
//! origin the sweep gave the simulator (`sim_server --clock-origin`), so
//! the window and the power samples line up and `end − start` stays equal
//! to the scaled `duration`. The measured file is kept beside the scaled
//! one.

use servebench_pyjson::{Dict, Value};

const RATES: [&str; 4] = [
    "request_throughput",
    "request_goodput:",
    "output_throughput",
    "total_token_throughput",
];

/// The window keys of a 2026-08 result: wall-clock unix seconds.
const INSTANTS: [&str; 2] = ["benchmark_start_time_unix", "benchmark_end_time_unix"];

/// A `benchmark_serving` result document in simulated time; `origin` (unix
/// seconds) is the simulated clock's origin.
pub(crate) fn to_simulated_time(doc: &Dict, speedup: f64, origin: f64) -> Dict {
    let times = |v: &Value| scale(v, speedup);
    let mut out = Dict::new();
    for (key, value) in doc.iter() {
        let scaled = if key == "duration" || key.ends_with("_ms") || key == "ttfts" || key == "itls"
        {
            times(value)
        } else if RATES.contains(&key) {
            scale(value, 1.0 / speedup)
        } else if INSTANTS.contains(&key) {
            match value {
                Value::Float(t) => Value::Float(origin + (t - origin) * speedup),
                Value::Int(t) => Value::Float(origin + (*t as f64 - origin) * speedup),
                other => other.clone(),
            }
        } else {
            value.clone()
        };
        out.insert(key, scaled);
    }
    out
}

/// Numbers (and lists of them, nested) times `factor`; anything else as is.
fn scale(value: &Value, factor: f64) -> Value {
    match value {
        Value::Float(f) => Value::Float(f * factor),
        Value::Int(i) => Value::Float(*i as f64 * factor),
        Value::List(items) => Value::List(items.iter().map(|v| scale(v, factor)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_grow_and_rates_shrink() {
        let doc = servebench_pyjson::from_str(
            r#"{"date": "d", "duration": 2.0, "completed": 4, "request_throughput": 2.0, "request_goodput:": null, "output_throughput": 100.0, "mean_ttft_ms": 1.5, "p99_itl_ms": 0.5, "ttfts": [0.1], "itls": [[0.01, 0.02]], "max_concurrency": 4}"#,
        )
        .unwrap();
        let scaled = to_simulated_time(doc.as_dict().unwrap(), 10.0, 0.0);
        assert_eq!(
            servebench_pyjson::to_string(&Value::Dict(scaled)),
            r#"{"date": "d", "duration": 20.0, "completed": 4, "request_throughput": 0.2, "request_goodput:": null, "output_throughput": 10.0, "mean_ttft_ms": 15.0, "p99_itl_ms": 5.0, "ttfts": [1.0], "itls": [[0.1, 0.2]], "max_concurrency": 4}"#
        );
    }

    #[test]
    fn the_window_is_mapped_around_the_clock_origin() {
        let doc = servebench_pyjson::from_str(
            r#"{"duration": 2.0, "benchmark_start_time_unix": 1000.5, "benchmark_end_time_unix": 1002.5, "completed": 4}"#,
        )
        .unwrap();
        let scaled = to_simulated_time(doc.as_dict().unwrap(), 5.0, 1000.0);
        assert_eq!(
            servebench_pyjson::to_string(&Value::Dict(scaled)),
            r#"{"duration": 10.0, "benchmark_start_time_unix": 1002.5, "benchmark_end_time_unix": 1012.5, "completed": 4}"#
        );
    }
}
