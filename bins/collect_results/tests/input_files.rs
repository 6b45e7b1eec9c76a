//! Inputs that are not plain JSON files: FIFOs, devices, oversize files and
//! non-UTF-8 arguments. Every run is under a time and memory guard, so a
//! regression (an open that waits for a writer, a read of `/dev/zero`)
//! fails instead of hanging the suite or filling memory.

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

/// The binary with `args` in `cwd`, under 2 GB of address space, killed
/// (and the test failed) after 20 s.
fn run_guarded(cwd: &Path, args: &[&OsStr]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_collect_results"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run collect_results");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("collect_results {args:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[track_caller]
fn assert_refused(dir: &Path, out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
    assert!(
        !dir.join("agg_x.json").exists(),
        "nothing is written when an input is refused"
    );
}

#[test]
fn a_fifo_named_json_is_refused_without_blocking() {
    let dir = scratch("fifo");
    std::fs::create_dir_all(dir.join("results/a")).unwrap();
    std::fs::write(dir.join("results/a/agg.json"), "{}").unwrap();
    mkfifo(&dir.join("results/a/pipe.json"));
    let out = run_guarded(&dir, &["results".as_ref(), "x".as_ref()]);
    assert_refused(&dir, &out, "results/a/pipe.json: not a regular file (fifo)");
}

#[test]
fn a_symlink_to_dev_zero_is_refused() {
    let dir = scratch("zero");
    std::fs::create_dir_all(dir.join("results")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("results/zero.json")).unwrap();
    let out = run_guarded(&dir, &["results".as_ref(), "x".as_ref()]);
    assert_refused(
        &dir,
        &out,
        "results/zero.json: not a regular file (character device)",
    );
}

#[test]
fn an_oversize_file_is_refused_before_reading() {
    let dir = scratch("big");
    std::fs::create_dir_all(dir.join("results")).unwrap();
    // Sparse: 513 MiB long, no disk used.
    let big = std::fs::File::create(dir.join("results/big.json")).unwrap();
    big.set_len(513 << 20).unwrap();
    let out = run_guarded(&dir, &["results".as_ref(), "x".as_ref()]);
    assert_refused(
        &dir,
        &out,
        "results/big.json: larger than 512 MiB, the limit for a result file",
    );
}

#[test]
fn non_utf8_arguments_are_paths() {
    let dir = scratch("non-utf8");
    let results = OsStr::from_bytes(b"r\xe9sultats");
    std::fs::create_dir_all(dir.join(results)).unwrap();
    std::fs::write(
        dir.join(results).join(OsStr::from_bytes(b"\xff.json")),
        "{\"a\": 1}",
    )
    .unwrap();
    let exp = OsStr::from_bytes(b"exp\xfe");
    let out = run_guarded(&dir, &[results, exp]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut name = OsString::from("agg_");
    name.push(exp);
    name.push(".json");
    let agg = std::fs::read_to_string(dir.join(name)).expect("agg file under the raw name");
    assert_eq!(agg, "[\n  {\n    \"a\": 1\n  }\n]");
}
