//! Drives the real `collect_results` binary in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_collect_results"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run collect_results")
}

#[test]
fn collects_in_sorted_order() {
    let dir = scratch("ok");
    for (path, body) in [
        ("results/b/agg_b.json", "{\"x\": 2.0}"),
        ("results/a/agg_a.json", "{\"x\": 1}"),
        ("results/notes.txt", "no"),
    ] {
        std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
        std::fs::write(dir.join(path), body).unwrap();
    }
    let out = run(&dir, &["results/", "bmk", "extra args are ignored"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let agg = std::fs::read_to_string(dir.join("agg_bmk.json")).unwrap();
    assert_eq!(
        agg,
        "[\n  {\n    \"x\": 1\n  },\n  {\n    \"x\": 2.0\n  }\n]"
    );
}

#[test]
fn empty_or_missing_dir_writes_an_empty_list_and_warns() {
    let dir = scratch("empty");
    std::fs::create_dir_all(dir.join("results")).unwrap();
    for target in ["results", "nope"] {
        let out = run(&dir, &[target, "all"]);
        assert!(out.status.success());
        assert_eq!(
            std::fs::read_to_string(dir.join("agg_all.json")).unwrap(),
            "[]"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("warning: no *.json files"));
    }
}

#[test]
fn bad_inputs_fail_and_write_nothing() {
    let dir = scratch("bad");
    std::fs::create_dir_all(dir.join("results")).unwrap();
    std::fs::write(dir.join("results/a.json"), "{\"a\": 1}").unwrap();
    std::fs::write(dir.join("results/b.json"), "{\"a\": ").unwrap();
    for (args, needle) in [
        (vec!["results"], "expected RESULTS_DIR and EXP_NAME"),
        (vec!["results", "x"], "b.json: invalid JSON"),
    ] {
        let out = run(&dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(!stderr.contains("panicked"));
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["results"], "no agg file and no temporary file");
}
