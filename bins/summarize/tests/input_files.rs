//! Inputs that are not plain JSON files: FIFOs, devices, oversize files and
//! non-UTF-8 arguments. They are skipped as the original skips unreadable
//! files (stdout unchanged) but named on stderr. Every run is under a time
//! and memory guard, so a regression fails instead of hanging.

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

/// `summarize DIR` under 2 GB of address space, killed (and the test
/// failed) after 20 s.
fn run_guarded(dir: &Path) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_summarize"))
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run summarize");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("summarize {} did not finish within 20 s", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("summarize output")
}

const RECORD: &str = r#"{"hw": "h100", "conc": 4, "model": "org/m", "infmax_model_prefix": "m", "framework": "vllm", "precision": "fp8", "isl": 1024, "osl": 1024, "is_multinode": false, "tp": 8, "ep": 1, "dp_attention": "false", "median_ttft": 0.25, "median_tpot": 0.02, "median_intvty": 50.0, "median_e2el": 3.5, "tput_per_gpu": 1000.0, "output_tput_per_gpu": 100.0, "input_tput_per_gpu": 0.0}"#;

/// The table of `RECORD` alone (`name`: a scratch directory of its own).
fn expected_stdout(name: &str) -> Vec<u8> {
    let dir = scratch(name);
    std::fs::write(dir.join("agg.json"), RECORD).unwrap();
    let out = run_guarded(&dir);
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"## Single-Node Results\n"));
    out.stdout
}

#[test]
fn special_and_oversize_files_are_skipped_and_named() {
    let dir = scratch("special");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a/agg.json"), RECORD).unwrap();
    let status = Command::new("mkfifo")
        .arg(dir.join("a/pipe.json"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.json")).unwrap();
    // Sparse: 513 MiB long, no disk used.
    let big = std::fs::File::create(dir.join("big.json")).unwrap();
    big.set_len(513 << 20).unwrap();
    std::fs::write(dir.join("broken.json"), "{").unwrap();

    let out = run_guarded(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout, expected_stdout("ref-special"), "{stderr}");
    let d = dir.display();
    for line in [
        format!("summarize: warning: skipped {d}/a/pipe.json: not a regular file (fifo)"),
        format!("summarize: warning: skipped {d}/zero.json: not a regular file (character device)"),
        format!(
            "summarize: warning: skipped {d}/big.json: larger than 512 MiB, the limit for a result file"
        ),
        format!("summarize: warning: skipped {d}/broken.json: invalid JSON: "),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with(&line)),
            "{stderr:?} lacks {line:?}"
        );
    }
}

#[test]
fn a_non_utf8_directory_argument_is_a_path() {
    let dir = scratch("non-utf8").join(OsStr::from_bytes(b"r\xe9sultats"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(OsStr::from_bytes(b"\xff.json")), RECORD).unwrap();
    let out = run_guarded(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, expected_stdout("ref-non-utf8"));
}

#[test]
fn a_reader_that_closed_the_pipe_ends_it_quietly() {
    let dir = scratch("closed-pipe");
    std::fs::write(dir.join("agg.json"), RECORD).unwrap();
    // The read end is closed before the tool starts: every write fails
    // with EPIPE, as `summarize DIR | head -0` would.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_summarize"))
        .arg(&dir)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
