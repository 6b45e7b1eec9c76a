//! `read` against real special files, each call under a timeout so a
//! regression (a blocking open, an endless read) fails instead of hanging.

use servebench_files::{read, read_text, FilesError, Limit};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("files-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `read(path, limit)` on another thread; panics after 10 s.
fn read_guarded(path: &Path, limit: Limit) -> Result<Vec<u8>, FilesError> {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(read(&owned, limit));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("reading {} did not return within 10 s", path.display()))
}

#[track_caller]
fn check_refused(path: &Path, limit: Limit, message: &str) {
    let err = read_guarded(path, limit).expect_err("must be refused");
    assert_eq!(err.path(), path);
    assert_eq!(err.to_string(), format!("{}: {message}", path.display()));
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
}

#[test]
fn special_files_are_refused_without_blocking() {
    let dir = scratch("special");
    let fifo = dir.join("pipe.json");
    mkfifo(&fifo);
    check_refused(&fifo, Limit::RESULT, "not a regular file (fifo)");

    let zero = dir.join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    check_refused(
        &zero,
        Limit::RESULT,
        "not a regular file (character device)",
    );

    let sub = dir.join("sub.json");
    std::fs::create_dir(&sub).unwrap();
    check_refused(&sub, Limit::CONFIG, "not a regular file (directory)");

    let sock = dir.join("s.json");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    check_refused(&sock, Limit::CONFIG, "not a regular file (socket)");

    // A symlink to a regular file is read.
    std::fs::write(dir.join("real.json"), "{}").unwrap();
    std::os::unix::fs::symlink(dir.join("real.json"), dir.join("link.json")).unwrap();
    assert_eq!(
        read_guarded(&dir.join("link.json"), Limit::RESULT).unwrap(),
        b"{}"
    );
}

#[test]
fn the_cap_is_inclusive() {
    let dir = scratch("cap");
    let limit = Limit {
        max_bytes: 4,
        what: "a test file",
    };
    std::fs::write(dir.join("four"), "1234").unwrap();
    assert_eq!(read_guarded(&dir.join("four"), limit).unwrap(), b"1234");
    std::fs::write(dir.join("five"), "12345").unwrap();
    check_refused(
        &dir.join("five"),
        limit,
        "larger than 4 bytes, the limit for a test file",
    );
    let big = Limit {
        max_bytes: 2 << 20,
        what: "a config file",
    };
    std::fs::write(dir.join("big"), vec![b'x'; (2 << 20) + 1]).unwrap();
    check_refused(
        &dir.join("big"),
        big,
        "larger than 2 MiB, the limit for a config file",
    );
    // A file with no size of its own (procfs) is still read, and capped.
    let status = read_guarded(Path::new("/proc/self/status"), Limit::CONFIG).unwrap();
    assert!(status.starts_with(b"Name:"));
    check_refused(
        Path::new("/proc/self/status"),
        limit,
        "larger than 4 bytes, the limit for a test file",
    );
}

#[test]
fn missing_non_utf8_and_odd_names() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("names");
    let missing = dir.join("nope.yaml");
    let err = read_guarded(&missing, Limit::CONFIG).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(matches!(err, FilesError::Read { .. }));

    // A file name that is not UTF-8 is an ordinary path.
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.json"));
    std::fs::write(&odd, "[1]").unwrap();
    assert_eq!(read_guarded(&odd, Limit::RESULT).unwrap(), b"[1]");

    std::fs::write(dir.join("latin1.txt"), b"ab\xe9").unwrap();
    let err = read_text(&dir.join("latin1.txt"), Limit::CONFIG).unwrap_err();
    assert!(
        err.to_string().ends_with(": not valid UTF-8 (byte 2)"),
        "{err}"
    );
    assert!(!err.is_not_found());
}

#[test]
fn the_message_is_the_path_then_the_reason() {
    let dir = scratch("reason");
    let errs = [
        read_guarded(&dir.join("nope"), Limit::CONFIG).unwrap_err(),
        read_guarded(&dir, Limit::CONFIG).unwrap_err(),
        servebench_files::write_atomic(&dir.join("no/such/x"), b"x").unwrap_err(),
    ];
    for err in errs {
        assert_eq!(
            err.to_string(),
            format!("{}: {}", err.path().display(), err.reason())
        );
    }
}
