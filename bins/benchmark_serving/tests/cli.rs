//! Drives the real `benchmark_serving metrics` test command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn run_case(dir: &Path, case: &str) -> Output {
    std::fs::write(dir.join("case.json"), case).unwrap();
    Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["metrics", "--input", "case.json"])
        .current_dir(dir)
        .output()
        .expect("run benchmark_serving")
}

const CASE: &str = r#"{"requests": [{"prompt_len": 10, "output_len": 4}, {"prompt_len": 12, "output_len": 4}],
 "outputs": [{"success": true, "ttft": 0.1, "latency": 0.4, "itl": [0.1, 0.1, 0.1], "output_tokens": 4, "generated_text": "abcd", "prompt_len": 10, "error": ""},
             {"success": false, "error": "HTTP 500"}],
 "duration_s": 2.0, "percentile_metrics": "ttft,tpot,itl,e2el", "metric_percentiles": "99", "goodput": null,
 "save": {"model": "org/M", "request_rate": "inf", "max_concurrency": 8}}"#;

#[test]
fn prints_metrics_report_and_saved_file_without_writing_it() {
    let dir = scratch("ok");
    let out = run_case(&dir, CASE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(r#"{"metrics": {"completed": 1, "total_input": 10, "total_output": 4, "request_throughput": 0.5,"#), "{text}");
    assert!(
        text.contains(r#""file_name": "vllm-infqps-concurrency8-M-20260219-000000.json""#),
        "{text}"
    );
    assert!(
        text.contains(r"Successful requests:                     1         \n"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "only case.json: nothing saved"
    );
}

#[test]
fn bad_cases_fail_with_one_line() {
    let dir = scratch("bad");
    for (case, needle) in [
        (
            CASE.replace("\"goodput\": null", "\"goodput\": [\"ttft\"]"),
            "Invalid format found for service level objectives",
        ),
        (
            CASE.replace("\"goodput\": null", "\"goodput\": [\"itl:5\"]"),
            "Invalid metric name found, itl: 5.0.",
        ),
        (
            CASE.replace("\"goodput\": null", "\"goodput\": [\"e2el:-1\"]"),
            "Invalid value found",
        ),
        (
            CASE.replace(
                "\"metric_percentiles\": \"99\"",
                "\"metric_percentiles\": \"101\"",
            ),
            "Percentiles must be in the range [0, 100]",
        ),
        (
            CASE.replace("\"duration_s\": 2.0", "\"duration_s\": 0"),
            "duration is zero",
        ),
        (
            CASE.replace(
                "\"model\": \"org/M\"",
                "\"model\": \"org/M\", \"metadata\": [\"novalue\"]",
            ),
            "KEY=VALUE",
        ),
        (
            r#"{"requests": [], "outputs": [], "duration_s": 1.0}"#.to_owned(),
            "there are no requests",
        ),
        ("{\"requests\": ".to_owned(), "case.json: invalid JSON"),
    ] {
        let out = run_case(&dir, &case);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{needle}: {stderr}");
        assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
