//! The result file as something other than a plain JSON file (a FIFO, a
//! symlink to `/dev/zero`), and names and arguments that are not UTF-8.
//! Every run is under a time and memory guard, so a regression fails
//! instead of hanging.

use std::ffi::{OsStr, OsString};
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

const ENV: [(&str, &str); 12] = [
    ("RUNNER_TYPE", "h200"),
    ("FRAMEWORK", "sglang"),
    ("PRECISION", "fp8"),
    ("SPEC_DECODING", "none"),
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

/// `process_result ARGS` in `dir` with RESULT_FILENAME=`name`, under 2 GB
/// of address space, killed (and the test failed) after 20 s.
fn run_guarded(dir: &Path, name: &OsStr, args: &[&OsStr]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_process_result"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(ENV.iter().copied())
        .env("RESULT_FILENAME", name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run process_result");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process_result did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("process_result output")
}

#[track_caller]
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

#[test]
fn a_fifo_or_device_result_file_is_refused() {
    let dir = scratch("special");
    let status = Command::new("mkfifo")
        .arg(dir.join("pipe.json"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let out = run_guarded(&dir, "pipe".as_ref(), &[]);
    assert_refused(&out, "pipe.json: not a regular file (fifo)");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.json")).unwrap();
    let out = run_guarded(&dir, "zero".as_ref(), &[]);
    assert_refused(&out, "zero.json: not a regular file (character device)");
    assert!(!dir.join("agg_pipe.json").exists() && !dir.join("agg_zero.json").exists());
}

#[test]
fn non_utf8_arguments_and_result_filename() {
    let dir = scratch("non-utf8");
    let name = OsStr::from_bytes(b"r\xe9sult");
    let mut file = OsString::from(name);
    file.push(".json");
    std::fs::write(dir.join(&file), RESULT).unwrap();
    // Arguments are ignored, whatever their bytes.
    let out = run_guarded(&dir, name, &[OsStr::from_bytes(b"\xff")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut agg = OsString::from("agg_");
    agg.push(&file);
    let written = std::fs::read(dir.join(agg)).expect("agg file under the raw name");
    assert_eq!([written.as_slice(), b"\n"].concat(), out.stdout);
}
