//! Drives the real `benchmark_serving`: the `metrics` test command, and the
//! ranges of the options (usage errors before anything is loaded).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn run_case(dir: &Path, case: &str) -> Output {
    run_case_in(dir, case, "2026-02")
}

fn run_case_in(dir: &Path, case: &str, edition: &str) -> Output {
    std::fs::write(dir.join("case.json"), case).unwrap();
    Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["metrics", "--input", "case.json"])
        .env("INFERENCEX_CONTRACT", edition)
        .current_dir(dir)
        .output()
        .expect("run benchmark_serving")
}

/// Edition 2026-08 (also with the variable unset): the window keys after
/// `duration`, the lengths kept in the saved text, and the failure gate:
/// the document is printed, then the message on stderr and exit 1.
#[test]
fn edition_2026_08_window_keys_and_failure_gate() {
    let dir = scratch("gate");
    let case = CASE.replace(
        "\"duration_s\": 2.0,",
        "\"duration_s\": 2.0, \"start_time_unix\": 1787000000.5,",
    );
    for edition in ["2026-08", ""] {
        let out = run_case_in(&dir, &case, edition);
        assert_eq!(out.status.code(), Some(1), "{edition:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr,
            "FAIL: request failure rate 50.0% exceeds 5% threshold (1/2 completed)\n"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(r#""duration": 2.0, "benchmark_start_time_unix": 1787000000.5, "benchmark_end_time_unix": 1787000002.5, "completed": 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"\"input_lens\": [10, 12], \"output_lens\": [4, 0], \"mean_ttft_ms\""#),
            "{text}"
        );
        assert!(
            text.ends_with("\"failure_gate\": \"FAIL: request failure rate 50.0% exceeds 5% threshold (1/2 completed)\"}\n"),
            "{text}"
        );
    }
    // Saved with num_prompts 1: 1 - 1/1 = 0, no gate.
    let one = case.replace(
        "\"max_concurrency\": 8",
        "\"max_concurrency\": 8, \"num_prompts\": 1",
    );
    let out = run_case_in(&dir, &one, "2026-08");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with("\"failure_gate\": null}\n"), "{text}");
    // 2026-02 has no gate and no key.
    let out = run_case_in(&dir, &case, "2026-02");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("failure_gate") && !text.contains("time_unix"),
        "{text}"
    );
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

/// Every option that sizes, counts or times something has a range
/// (README "Limits"): outside it, one usage error naming the option
/// (exit 2), before the tokenizer is loaded (none exists here) or anything
/// is sampled, sent or saved — in a dry run too.
#[test]
fn out_of_range_options_are_usage_errors() {
    let dir = scratch("limits");
    for (args, needle) in [
        (
            &["--request-rate", "0"][..],
            "argument --request-rate: must be inf or between 1e-6 and 1e9 requests/s, not 0.0",
        ),
        (
            &["--request-rate", "0", "--dry-run"],
            "argument --request-rate: must be inf",
        ),
        (
            &["--request-rate", "1e-20"],
            "argument --request-rate: must be inf or between 1e-6 and 1e9 requests/s, not 1e-20",
        ),
        (&["--request-rate", "-1"], "argument --request-rate:"),
        (&["--request-rate", "nan"], "argument --request-rate:"),
        (&["--request-rate", "1e300"], "argument --request-rate:"),
        (
            &["--burstiness", "1e-9"],
            "argument --burstiness: must be between 0.001 and 1000",
        ),
        (
            &["--burstiness", "1e9", "--dry-run"],
            "argument --burstiness:",
        ),
        (
            &["--num-warmups", "1000000000000"],
            "argument --num-warmups: must be at most 1000000",
        ),
        (
            &["--num-warmups", "1000000000000", "--dry-run"],
            "argument --num-warmups:",
        ),
        (
            &["--random-input-len", "1000000000000"],
            "argument --random-input-len: must be at most 1048576 tokens",
        ),
        (
            &["--random-output-len", "1000000000000"],
            "argument --random-output-len:",
        ),
        (
            &["--random-prefix-len", "1000000000000", "--dry-run"],
            "argument --random-prefix-len:",
        ),
        (
            &["--random-range-ratio", "nan"],
            "argument --random-range-ratio: must be a finite number, not nan",
        ),
        (
            &["--random-range-ratio", "inf"],
            "argument --random-range-ratio:",
        ),
        (
            &["--num-prompts", "100000000000"],
            "argument --num-prompts: must be between 1 and 10000000",
        ),
        (&["--num-prompts", "0"], "argument --num-prompts:"),
        (
            &["--num-prompts", "1000000", "--random-input-len", "1000"],
            "argument --num-prompts: 1000000 prompts of 1000 tokens exceed the limit",
        ),
        (
            &["--max-concurrency", "-1"],
            "argument --max-concurrency: must be between 0 (no limit) and 1000000",
        ),
        (
            &["--max-concurrency", "9000000000000000000"],
            "argument --max-concurrency:",
        ),
        (
            &["--connect-timeout", "-1"],
            "'--connect-timeout <CONNECT_TIMEOUT>': expected a positive number of seconds",
        ),
        (&["--connect-timeout", "0"], "--connect-timeout"),
        (
            &["--read-timeout", "nan"],
            "'--read-timeout <READ_TIMEOUT>'",
        ),
        (
            &["--read-timeout", "1e300"],
            "'--read-timeout <READ_TIMEOUT>'",
        ),
        (
            &["--seed", "-1"],
            "'--seed <SEED>': -1 is not in 0..=4294967295",
        ),
        (&["--seed", "99999999999999999999"], "'--seed <SEED>'"),
        (&["--num-prompts", "-1"], "'--num-prompts <NUM_PROMPTS>'"),
        (&["--port", "-1"], "'--port <PORT>'"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
            .args(["--model", "m", "--tokenizer", "no-such-tokenizer"])
            .args(["--dataset-name", "random", "--save-result"])
            .args(["--base-url", "http://127.0.0.1:1"])
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run benchmark_serving");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr:?} lacks {needle:?}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing saved");
}

/// The original's own check keeps its message and status (exit 1).
#[test]
fn a_burstiness_of_zero_fails_as_in_the_original() {
    let dir = scratch("burstiness");
    let tokenizer = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/tokenizers/deepseek-r1");
    for value in ["0", "-1"] {
        let out = Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
            .args(["--model", "m", "--dataset-name", "random", "--dry-run"])
            .arg("--tokenizer")
            .arg(&tokenizer)
            .args(["--num-prompts", "1", "--random-input-len", "4"])
            .args(["--burstiness", value])
            .current_dir(&dir)
            .output()
            .expect("run benchmark_serving");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("A positive burstiness factor is expected, but given"),
            "{stderr}"
        );
    }
}

/// The 2026-08 options do not exist in edition 2026-02: a usage error
/// (exit 2) naming the option.
#[test]
fn edition_2026_08_options_are_refused_under_2026_02() {
    let dir = scratch("edition-options");
    for (args, needle) in [
        (&["--random-num-workers", "2"][..], "--random-num-workers"),
        (&["--dsv4"][..], "--dsv4"),
        (&["--tokenizer-mode", "deepseek_v4"][..], "--tokenizer-mode"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
            .args(["--model", "m", "--dataset-name", "random", "--dry-run"])
            .args(args)
            .env("INFERENCEX_CONTRACT", "2026-02")
            .current_dir(&dir)
            .output()
            .expect("run benchmark_serving");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(needle) && stderr.contains("2026-02"),
            "{stderr}"
        );
    }
}
