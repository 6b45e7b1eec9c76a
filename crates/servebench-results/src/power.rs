//! The power step of `process_result` (edition 2026-08, SPEC-bench §3.5):
//! after the agg file is written, GPU power is aggregated in-process with
//! `servebench-power`, the agg file is patched and the validation sidecar
//! written; where the aggregation raises, a fallback is written instead.

use crate::process::{Env, GpuCount};
use servebench_power::{
    evaluate_multinode, evaluate_single_node, AggState, Multinode, PowerError, SingleNode,
    INTEGRATION_METHOD, POWER_METRIC_SCHEMA_VERSION,
};
use servebench_pyjson::{to_string_indent2, Dict, Value};
use std::path::{Path, PathBuf};

/// The 7 whole-run and 6 role metric keys the fallback removes.
const METRIC_KEYS: [&str; 13] = [
    "avg_power_w",
    "avg_total_gpu_power_w",
    "total_gpu_energy_j",
    "joules_per_successful_query",
    "joules_per_input_token",
    "joules_per_output_token",
    "joules_per_total_token",
    "prefill_gpu_energy_j",
    "decode_gpu_energy_j",
    "prefill_avg_power_w",
    "decode_avg_power_w",
    "prefill_joules_per_input_token",
    "decode_joules_per_output_token",
];

/// Where the power step reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerPaths {
    /// `${RESULT_FILENAME}.json`.
    pub bench_result: PathBuf,
    /// `agg_${RESULT_FILENAME}.json`, already written.
    pub agg_result: PathBuf,
    /// `power_validation_${RESULT_FILENAME}.json`.
    pub sidecar: PathBuf,
}

/// What the power step leaves for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerOutcome {
    /// The aggregator's success line (without `\n`), printed before the agg.
    pub stdout_line: Option<String>,
    /// Lines for stderr (without `\n`).
    pub stderr: Vec<String>,
    /// 1 when `REQUIRE_POWER` is on and the measurement is not valid.
    pub exit_status: u8,
}

/// `REQUIRE_POWER` is `1`, `true` or `yes` (any case).
pub fn require_power(env: &dyn Env) -> bool {
    env.get("REQUIRE_POWER")
        .is_some_and(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes"))
}

/// The telemetry CSV: the first existing regular file among
/// `$GPU_METRICS_CSV` (set, non-empty), `gpu_metrics.csv`,
/// `/workspace/gpu_metrics.csv`, else the first non-empty candidate.
pub fn telemetry_csv(env: &dyn Env) -> PathBuf {
    let candidates: Vec<String> = [
        env.get("GPU_METRICS_CSV"),
        Some("gpu_metrics.csv".to_owned()),
        Some("/workspace/gpu_metrics.csv".to_owned()),
    ]
    .into_iter()
    .flatten()
    .filter(|c| !c.is_empty())
    .collect();
    let existing = candidates
        .iter()
        .find(|c| std::fs::metadata(c).is_ok_and(|m| m.is_file()));
    PathBuf::from(
        existing
            .or(candidates.first())
            .map_or("gpu_metrics.csv", String::as_str),
    )
}

/// Python `str(Path(p))`: repeated `/` collapse, `.` components and a
/// trailing `/` vanish; exactly two leading slashes stay (POSIX).
pub(crate) fn path_str(p: &Path) -> String {
    let text = p.to_string_lossy();
    let lead = if text.starts_with("//") && !text.starts_with("///") {
        "//"
    } else if text.starts_with('/') {
        "/"
    } else {
        ""
    };
    let parts: Vec<&str> = text
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let out = format!("{lead}{}", parts.join("/"));
    if out.is_empty() {
        ".".to_owned()
    } else {
        out
    }
}

/// Runs the power step for a record already written to
/// `paths.agg_result`: patches it, writes the sidecar, and says what to
/// print. `bench` is the parsed bench result, `agg` the record as written.
pub fn power_step(
    env: &dyn Env,
    gpus: GpuCount,
    bench: &Value,
    agg: &Dict,
    paths: &PowerPaths,
) -> PowerOutcome {
    let require = require_power(env);
    let agg_state = AggState::Parsed(Value::Dict(agg.clone()));
    let (source, expected, evaluation) = match gpus {
        GpuCount::Single(g) => {
            let req = SingleNode {
                csv: telemetry_csv(env),
                bench_result: paths.bench_result.clone(),
                agg_result: paths.agg_result.clone(),
                expected_num_gpus: g,
                validation_result: Some(paths.sidecar.clone()),
            };
            let ev = evaluate_single_node(&req, Some(bench), agg_state);
            (req.csv, g, ev)
        }
        GpuCount::Multinode { prefill, decode } => {
            let var = |name: &str, default: &str| {
                PathBuf::from(env.get(name).unwrap_or_else(|| default.to_owned()))
            };
            let req = Multinode {
                power_dir: var("POWER_ARTIFACT_DIR", "LOGS/power"),
                logs_root: var("POWER_RESULT_ROOT", "LOGS"),
                bench_result: paths.bench_result.clone(),
                agg_result: paths.agg_result.clone(),
                prefill_gpus: prefill,
                decode_gpus: decode,
                expected_producer_sha: env.get("POWER_PRODUCER_SHA").filter(|s| !s.is_empty()),
                validation_result: Some(paths.sidecar.clone()),
            };
            let ev = evaluate_multinode(&req, Some(bench), agg_state);
            (req.power_dir, prefill + decode, ev)
        }
    };
    match evaluation {
        Ok(ev) => {
            let report = ev.write();
            PowerOutcome {
                exit_status: report.exit_status(require),
                stdout_line: report.stdout_line,
                stderr: report.stderr,
            }
        }
        Err(error) => {
            let mut stderr = vec![format!(
                "[process_result] power aggregation failed: {error}"
            )];
            if let Err(e) = write_fallback(&source, expected, agg, paths, &error) {
                stderr.push(format!(
                    "[process_result] failed to preserve power validation fallback: {e}"
                ));
            }
            PowerOutcome {
                stdout_line: None,
                stderr,
                exit_status: u8::from(require),
            }
        }
    }
}

/// `record_power_internal_error`: the agg without power metrics, marked
/// invalid, and a single-node style sidecar naming the exception.
fn write_fallback(
    source: &Path,
    expected: i128,
    agg: &Dict,
    paths: &PowerPaths,
    error: &PowerError,
) -> Result<(), servebench_files::FilesError> {
    let mut agg = agg.clone();
    for key in METRIC_KEYS {
        agg.remove(key);
    }
    agg.insert(
        "power_metric_schema_version",
        Value::Int(POWER_METRIC_SCHEMA_VERSION),
    );
    agg.insert("power_valid", Value::Int(0));
    agg.remove("power_invalid_reasons");
    servebench_files::write_atomic(
        &paths.agg_result,
        to_string_indent2(&Value::Dict(agg)).as_bytes(),
    )?;

    let empty = || Value::Dict(Dict::new());
    let mut sidecar = Dict::new();
    sidecar.insert("schema_version", Value::Int(1));
    sidecar.insert("power_valid", Value::Bool(false));
    sidecar.insert(
        "reasons",
        Value::List(vec![Value::from("aggregation_internal_error")]),
    );
    sidecar.insert("telemetry_source", path_str(source).into());
    sidecar.insert("benchmark_result", path_str(&paths.bench_result).into());
    sidecar.insert("benchmark_window", Value::Null);
    sidecar.insert("integration_method", INTEGRATION_METHOD.into());
    sidecar.insert("expected_gpu_count", Value::Int(expected));
    sidecar.insert("observed_gpu_count", Value::Int(0));
    sidecar.insert("observed_gpu_ids", Value::List(Vec::new()));
    sidecar.insert("per_gpu_sample_counts", empty());
    sidecar.insert("per_gpu_max_sample_gap_s", empty());
    sidecar.insert("per_gpu_energy_j", empty());
    sidecar.insert("device_issues", empty());
    sidecar.insert("accumulator_check", Value::Null);
    sidecar.insert("metrics", empty());
    let message: String = error.to_string().chars().take(500).collect();
    let mut internal = Dict::new();
    internal.insert("type", error.python_type().into());
    internal.insert("message", message.into());
    sidecar.insert("internal_error", Value::Dict(internal));
    servebench_files::write_atomic(
        &paths.sidecar,
        to_string_indent2(&Value::Dict(sidecar)).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use servebench_pyjson::from_str;

    /// A fresh directory under the system temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "servebench-results-power-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const BENCH: &str = r#"{"benchmark_start_time_unix": 1787313610.25, "benchmark_end_time_unix": 1787313670.75, "duration": 60.5, "completed": 80, "total_input_tokens": 100, "total_output_tokens": 100}"#;

    fn setup(dir: &Path) -> (PowerPaths, Value, Dict) {
        let paths = PowerPaths {
            bench_result: dir.join("r.json"),
            agg_result: dir.join("agg_r.json"),
            sidecar: dir.join("power_validation_r.json"),
        };
        std::fs::write(&paths.bench_result, BENCH).unwrap();
        let mut agg = Dict::new();
        agg.insert("hw", "h200".into());
        agg.insert("avg_power_w_ms", Value::Float(1.0));
        agg.insert("avg_power_w", Value::Float(0.001));
        std::fs::write(
            &paths.agg_result,
            to_string_indent2(&Value::Dict(agg.clone())),
        )
        .unwrap();
        (paths, from_str(BENCH).unwrap(), agg)
    }

    fn read(path: &Path) -> Value {
        from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_raising_aggregation_leaves_the_fallback_and_exits_1_only_when_required() {
        let dir = scratch("fallback");
        let csv = dir.join("gpu.csv");
        std::fs::write(
            &csv,
            "timestamp, index, power.draw [W]\n9999-12-31T23:00:00-14:00, 0, 300.00 W\n",
        )
        .unwrap();
        let (paths, bench, agg) = setup(&dir);
        for (require, status) in [("0", 0), ("yes", 1)] {
            let csv_s = csv.to_string_lossy().into_owned();
            let env = move |n: &str| match n {
                "GPU_METRICS_CSV" => Some(csv_s.clone()),
                "REQUIRE_POWER" => Some(require.to_owned()),
                _ => None,
            };
            let out = power_step(&env, GpuCount::Single(8), &bench, &agg, &paths);
            assert_eq!(out.exit_status, status);
            assert_eq!(out.stdout_line, None);
            assert_eq!(
                out.stderr,
                ["[process_result] power aggregation failed: date value out of range"]
            );
            let agg = servebench_pyjson::to_string(&read(&paths.agg_result));
            assert_eq!(
                agg,
                r#"{"hw": "h200", "avg_power_w_ms": 1.0, "power_metric_schema_version": 2, "power_valid": 0}"#
            );
            let sidecar = read(&paths.sidecar);
            let text = servebench_pyjson::to_string(&sidecar);
            assert!(
                text.contains(r#""reasons": ["aggregation_internal_error"]"#),
                "{text}"
            );
            assert!(
                text.contains(r#""expected_gpu_count": 8, "observed_gpu_count": 0"#),
                "{text}"
            );
            assert!(text.ends_with(r#""metrics": {}, "internal_error": {"type": "OverflowError", "message": "date value out of range"}}"#), "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_telemetry_is_invalid_power_and_multinode_uses_the_package_dir() {
        let dir = scratch("missing");
        let (paths, bench, agg) = setup(&dir);
        let missing = dir.join("nothing.csv").to_string_lossy().into_owned();
        let env = move |n: &str| (n == "GPU_METRICS_CSV").then(|| missing.clone());
        let out = power_step(&env, GpuCount::Single(8), &bench, &agg, &paths);
        assert_eq!(out.exit_status, 0);
        assert!(
            out.stderr[0].contains("Power validation failed: telemetry_file_missing"),
            "{:?}",
            out.stderr
        );
        let text = servebench_pyjson::to_string(&read(&paths.agg_result));
        assert!(
            text.ends_with(r#""power_metric_schema_version": 2, "power_valid": 0}"#),
            "{text}"
        );

        let power_dir = dir.join("power").to_string_lossy().into_owned();
        let env = move |n: &str| match n {
            "POWER_ARTIFACT_DIR" => Some(power_dir.clone()),
            "REQUIRE_POWER" => Some("TRUE".to_owned()),
            _ => None,
        };
        let gpus = GpuCount::Multinode {
            prefill: 2,
            decode: 4,
        };
        let out = power_step(&env, gpus, &bench, &agg, &paths);
        assert_eq!(out.exit_status, 1);
        assert!(
            out.stderr[0].contains(
                "[aggregate_power_multinode] Power validation failed: power_artifacts_missing"
            ),
            "{:?}",
            out.stderr
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_telemetry_csv_is_the_first_existing_candidate_else_the_first_named() {
        let dir = scratch("csv");
        let real = dir.join("m.csv");
        std::fs::write(&real, "x").unwrap();
        let real_s = real.to_string_lossy().into_owned();
        let env = move |n: &str| (n == "GPU_METRICS_CSV").then(|| real_s.clone());
        assert_eq!(telemetry_csv(&env), real);
        let env = |n: &str| (n == "GPU_METRICS_CSV").then(|| "/nonexistent/x.csv".to_owned());
        // gpu_metrics.csv does not exist in the test's working directory.
        if !Path::new("gpu_metrics.csv").exists()
            && !Path::new("/workspace/gpu_metrics.csv").exists()
        {
            assert_eq!(telemetry_csv(&env), PathBuf::from("/nonexistent/x.csv"));
            let empty = |n: &str| (n == "GPU_METRICS_CSV").then(String::new);
            assert_eq!(telemetry_csv(&empty), PathBuf::from("gpu_metrics.csv"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn path_str_normalises_as_python() {
        for (input, want) in [
            ("./x//y/", "x/y"),
            ("a/./b/../c", "a/b/../c"),
            ("", "."),
            (".", "."),
            ("//a//b", "//a/b"),
            ("///a", "/a"),
            ("/", "/"),
        ] {
            assert_eq!(path_str(Path::new(input)), want, "{input:?}");
        }
    }

    #[test]
    fn require_power_accepts_one_true_yes_in_any_case() {
        for (v, want) in [
            ("1", true),
            ("TRUE", true),
            ("Yes", true),
            ("0", false),
            ("", false),
            ("on", false),
        ] {
            let env = move |n: &str| (n == "REQUIRE_POWER").then(|| v.to_owned());
            assert_eq!(require_power(&env), want, "{v}");
        }
        let unset = |_: &str| None;
        assert!(!require_power(&unset));
    }
}
