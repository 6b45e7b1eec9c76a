//! Config files that are not plain files (a FIFO, a symlink to
//! `/dev/zero`, an oversize file) and config paths that are not UTF-8.
//! Every run is under a time and memory guard, so a regression (an open
//! that waits for a writer) fails instead of hanging.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("input-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `generate_sweep_configs full-sweep --single-node --config-files MASTER
/// --runner-config RUNNERS` under 2 GB of address space, killed (and the
/// test failed) after 20 s.
fn run_guarded(master: &Path, runners: &Path) -> Output {
    let mut child = Command::new("sh")
        .env("INFERENCEX_CONTRACT", "2026-02")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_generate_sweep_configs"))
        .args(["full-sweep", "--single-node", "--config-files"])
        .arg(master)
        .arg("--runner-config")
        .arg(runners)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run generate_sweep_configs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("generate_sweep_configs did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
        .wait_with_output()
        .expect("generate_sweep_configs output")
}

#[track_caller]
fn assert_refused(out: &Output, line: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(line), "{stderr:?} lacks {line:?}");
}

#[test]
fn special_and_oversize_config_files_are_refused() {
    let dir = scratch("special");
    let master = repo().join("configs/2026-02/master.yaml");
    let runners = repo().join("configs/2026-02/runners.yaml");

    let fifo = dir.join("master.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let out = run_guarded(&fifo, &runners);
    assert_refused(
        &out,
        &format!("{}: not a regular file (fifo)", fifo.display()),
    );
    let out = run_guarded(&master, &fifo);
    assert_refused(
        &out,
        &format!("{}: not a regular file (fifo)", fifo.display()),
    );

    let zero = dir.join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let out = run_guarded(&zero, &runners);
    assert_refused(
        &out,
        &format!("{}: not a regular file (character device)", zero.display()),
    );

    let big = dir.join("big.yaml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    let out = run_guarded(&big, &runners);
    assert_refused(
        &out,
        &format!(
            "{}: larger than 16 MiB, the limit for a config file",
            big.display()
        ),
    );
}

#[test]
fn config_paths_need_not_be_utf8() {
    let dir = scratch("non-utf8").join(OsStr::from_bytes(b"conf\xe9"));
    std::fs::create_dir_all(&dir).unwrap();
    let master = dir.join(OsStr::from_bytes(b"m\xff.yaml"));
    let runners = dir.join("runners.yaml");
    std::fs::copy(repo().join("configs/2026-02/master.yaml"), &master).unwrap();
    std::fs::copy(repo().join("configs/2026-02/runners.yaml"), &runners).unwrap();
    let out = run_guarded(&master, &runners);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.starts_with(b"["));
}
