//! `benchmark_serving metrics --input` with a case file that is not a plain
//! file (a FIFO, a symlink to `/dev/zero`) or whose path is not UTF-8.
//! Every run is under a time and memory guard, so a regression fails
//! instead of hanging.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("input-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `benchmark_serving metrics --input CASE` under 4 GB of address space,
/// killed (and the test failed) after 30 s.
fn metrics_guarded(case: &Path) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4000000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["metrics", "--input"])
        .arg(case)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run benchmark_serving");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("benchmark_serving metrics did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("benchmark_serving output")
}

const CASE: &str = r#"{"requests": [{"prompt_len": 10, "output_len": 4}],
 "outputs": [{"success": true, "ttft": 0.1, "latency": 0.4, "itl": [0.1, 0.1, 0.1], "output_tokens": 4, "generated_text": "abcd", "prompt_len": 10, "error": ""}],
 "duration_s": 2.0, "percentile_metrics": "ttft,tpot,itl", "metric_percentiles": "99", "goodput": null}"#;

#[track_caller]
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

#[test]
fn a_fifo_or_device_case_file_is_refused() {
    let dir = scratch("bsm-special");
    let fifo = dir.join("case.json");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    assert_refused(
        &metrics_guarded(&fifo),
        &format!("{}: not a regular file (fifo)", fifo.display()),
    );
    let zero = dir.join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert_refused(
        &metrics_guarded(&zero),
        &format!("{}: not a regular file (character device)", zero.display()),
    );
}

#[test]
fn a_non_utf8_case_path_is_read() {
    let dir = scratch("bsm-non-utf8");
    let case = dir.join(OsStr::from_bytes(b"cas\xe9.json"));
    std::fs::write(&case, CASE).unwrap();
    let out = metrics_guarded(&case);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.starts_with(b"{"));
}
