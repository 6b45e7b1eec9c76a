//! `--sim-config` as something other than a plain file (a FIFO, a symlink
//! to `/dev/zero`) and as a path that is not UTF-8. Every run is under a
//! time and memory guard, so a regression fails instead of hanging.

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

/// `sim_server --port 0 ARGS` under 2 GB of address space, killed (and
/// the test failed) after 20 s. Every case here fails before listening.
fn run_guarded(args: &[&OsStr]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_sim_server"))
        .args(["--port", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sim_server");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sim_server {args:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("sim_server output")
}

fn model_mode(config: &Path, gpu: &str) -> Vec<OsString> {
    ["--gpu", gpu, "--sim-model", "dense-8b", "--sim-config"]
        .iter()
        .map(OsString::from)
        .chain([config.as_os_str().to_owned()])
        .collect()
}

#[track_caller]
fn assert_fails_with(args: &[OsString], needle: &str) {
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let out = run_guarded(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "it must not start listening");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

#[test]
fn a_fifo_or_device_sim_config_is_refused() {
    let dir = scratch("sim-special");
    let fifo = dir.join("sim.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    assert_fails_with(
        &model_mode(&fifo, "h100"),
        &format!("{}: not a regular file (fifo)", fifo.display()),
    );
    let zero = dir.join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert_fails_with(
        &model_mode(&zero, "h100"),
        &format!("{}: not a regular file (character device)", zero.display()),
    );
}

#[test]
fn a_non_utf8_sim_config_path_is_read() {
    let dir = scratch("sim-non-utf8");
    let config = dir.join(OsStr::from_bytes(b"sim\xe9.yaml"));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/sim.yaml"),
        &config,
    )
    .unwrap();
    // Read and parsed: the error is about the GPU, not the file.
    assert_fails_with(&model_mode(&config, "tpu"), "unknown GPU 'tpu'");
}
