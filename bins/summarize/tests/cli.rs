//! Drives the real `summarize` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn run(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_summarize"))
        .args(args)
        .output()
        .expect("run summarize")
}

fn record(model: &str, tp: i64, conc: i64, ttft: f64) -> String {
    format!(
        r#"{{"hw": "h100", "conc": {conc}, "model": "org/{model}", "infmax_model_prefix": "{model}", "framework": "vllm", "precision": "fp8", "isl": 1024, "osl": 1024, "is_multinode": false, "tp": {tp}, "ep": 1, "dp_attention": "false", "median_ttft": {ttft}, "median_tpot": 0.02, "median_intvty": 50.0, "median_e2el": 3.5, "tput_per_gpu": 1234567.8912, "output_tput_per_gpu": 100.0, "input_tput_per_gpu": 0.0}}"#
    )
}

#[test]
fn prints_the_sorted_table() {
    let dir = scratch("table");
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("b/agg.json"), record("llama", 8, 4, 0.25)).unwrap();
    std::fs::write(dir.join("agg2.json"), record("llama", 2, 64, 0.125)).unwrap();
    std::fs::write(dir.join("broken.json"), "{").unwrap();
    let out = run(&[&dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "## Single-Node Results");
    assert!(lines[2].contains("InferenceX\u{2122}"));
    assert!(lines[4].starts_with("| Model   | Served Model   | Hardware   | Framework   | Precision   |   ISL |   OSL |   TP |"), "{}", lines[4]);
    assert!(
        lines[6].contains("|    2 |    1 | false          |     64 |         125 |"),
        "{}",
        lines[6]
    );
    assert!(
        lines[7].contains("|    8 |    1 | false          |      4 |         250 |"),
        "{}",
        lines[7]
    );
    assert!(
        lines[6].contains("1.23457e+06"),
        "re-rendered with 6 significant digits: {}",
        lines[6]
    );
    assert!(text.ends_with("|\n\n\n"));
}

#[test]
fn empty_dir_and_usage() {
    let dir = scratch("empty");
    let out = run(&[&dir]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: no benchmark records"));
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Usage: summarize"));
}

#[test]
fn unusable_records_fail_with_one_line() {
    let dir = scratch("bad");
    std::fs::write(
        dir.join("a.json"),
        record("llama", 8, 4, 0.25).replace("\"tp\": 8, ", ""),
    )
    .unwrap();
    let out = run(&[&dir]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("a.json: the record has no 'tp' field"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}
