//! `--startup-spec` as a FIFO or a symlink to `/dev/zero`: refused at boot,
//! naming the file, instead of blocking or filling memory. Each run is
//! under a time and memory guard, so a regression fails instead of hanging.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("input-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `load_generator --port 0 --startup-spec SPEC` under 4 GB of address
/// space, killed (and the test failed) after 20 s.
fn run_guarded(dir: &Path, spec: &Path) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4000000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_load_generator"))
        .args(["--port", "0", "--startup-spec"])
        .arg(spec)
        .arg("--results-dir")
        .arg(dir.join("results"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run load_generator");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("load_generator did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("load_generator output")
}

#[test]
fn a_fifo_or_device_startup_spec_is_refused() {
    let dir = scratch("loadgen-spec");
    let fifo = dir.join("runs.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let zero = dir.join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (spec, kind) in [(&fifo, "fifo"), (&zero, "character device")] {
        let out = run_guarded(&dir, spec);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        let needle = format!("{}: not a regular file ({kind})", spec.display());
        assert!(stderr.contains(&needle), "{stderr:?} lacks {needle:?}");
    }
}
