//! Drives the real `process_result` binary in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Edition 2026-02's environment (the tests below check its record
/// shape; `the_2026_08_record_adds_sizes_and_power` the newest's).
const ENV: [(&str, &str); 14] = [
    ("INFERENCEX_CONTRACT", "2026-02"),
    ("RUNNER_TYPE", "h200"),
    ("FRAMEWORK", "sglang"),
    ("PRECISION", "fp8"),
    ("SPEC_DECODING", "none"),
    ("RESULT_FILENAME", "run"),
    ("ISL", "1024"),
    ("OSL", "1024"),
    ("DISAGG", "false"),
    ("MODEL_PREFIX", "dsr1"),
    ("IMAGE", "img"),
    ("TP", "8"),
    ("EP_SIZE", "1"),
    ("DP_ATTENTION", "false"),
];

const RESULT: &str = r#"{"model_id": "org/m", "max_concurrency": 64, "total_token_throughput": 8000.0, "output_throughput": 800.0, "median_ttft_ms": 120.5, "median_tpot_ms": 40.0}"#;

fn run(dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_process_result"))
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run process_result")
}

#[track_caller]
fn assert_fails_cleanly(dir: &Path, out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains("agg"))
        .collect();
    assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");
}

#[test]
fn writes_the_agg_file_and_prints_it() {
    let dir = scratch("ok");
    std::fs::write(dir.join("run.json"), RESULT).unwrap();
    let out = run(&dir, &ENV);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_to_string(dir.join("agg_run.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{file}\n"),
        "stdout has the newline the file lacks"
    );
    assert!(
        file.starts_with("{\n  \"hw\": \"h200\",\n  \"conc\": 64,"),
        "{file}"
    );
    assert!(
        file.ends_with("  \"median_tpot\": 0.04,\n  \"median_intvty\": 25.0\n}"),
        "{file}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "no temporary files left"
    );
}

/// Unpinned (the newest edition): the sizes after `tp`, the power keys at
/// the end (no GPU metrics here, so power is invalid) and the sidecar.
#[test]
fn the_2026_08_record_adds_sizes_and_power() {
    let dir = scratch("ok-2026-08");
    std::fs::write(dir.join("run.json"), RESULT).unwrap();
    let env: Vec<_> = ENV
        .iter()
        .copied()
        .filter(|(k, _)| *k != "INFERENCEX_CONTRACT")
        .collect();
    let out = run(&dir, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_to_string(dir.join("agg_run.json")).unwrap();
    assert!(
        file.contains("\"tp\": 8,\n  \"pp\": 1,\n  \"dcp_size\": 1,\n  \"pcp_size\": 1,"),
        "{file}"
    );
    assert!(
        file.ends_with("  \"power_metric_schema_version\": 2,\n  \"power_valid\": 0\n}"),
        "{file}"
    );
    assert!(dir.join("power_validation_run.json").is_file());
}

#[test]
fn bad_inputs_fail_with_one_line_and_write_nothing() {
    let dir = scratch("bad");
    let without = |name: &str| {
        ENV.iter()
            .copied()
            .filter(|(k, _)| *k != name)
            .collect::<Vec<_>>()
    };
    let with = |name: &'static str, value: &'static str| {
        ENV.iter()
            .copied()
            .filter(|(k, _)| *k != name)
            .chain([(name, value)])
            .collect::<Vec<_>>()
    };
    assert_fails_cleanly(
        &dir,
        &run(&dir, &without("IMAGE")),
        "Missing required environment variables: IMAGE",
    );
    assert_fails_cleanly(
        &dir,
        &run(&dir, &[]),
        "Missing required environment variables: RUNNER_TYPE, FRAMEWORK,",
    );
    assert_fails_cleanly(&dir, &run(&dir, &ENV), "run.json: No such file");
    std::fs::write(dir.join("run.json"), "{\"model_id\": ").unwrap();
    assert_fails_cleanly(
        &dir,
        &run(&dir, &ENV),
        "run.json: invalid JSON: Expecting value: line 1 column 14",
    );
    std::fs::write(dir.join("run.json"), RESULT).unwrap();
    assert_fails_cleanly(
        &dir,
        &run(&dir, &with("ISL", "1k")),
        "ISL=\"1k\" is not an integer",
    );
    assert_fails_cleanly(
        &dir,
        &run(&dir, &with("TP", "eight")),
        "TP=\"eight\" is not an integer",
    );
    assert_fails_cleanly(
        &dir,
        &run(&dir, &with("DISAGG", "true")),
        "Disaggregated mode requires multinode setup.",
    );
    std::fs::write(dir.join("run.json"), RESULT.replace("40.0", "0.0")).unwrap();
    assert_fails_cleanly(&dir, &run(&dir, &ENV), "zero TPOT");
    std::fs::write(dir.join("run.json"), RESULT.replace("64", "null")).unwrap();
    assert_fails_cleanly(&dir, &run(&dir, &ENV), "--max-concurrency");
}
