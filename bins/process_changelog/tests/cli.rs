//! Drives the real `process_changelog` binary in small git repositories
//! built in temporary directories, with a stand-in `generate_sweep_configs`
//! (a shell script that logs its arguments and prints fixed rows), so what
//! is tested here is this tool: git reading, changelog rules, the generator
//! runs it asks for, append-only deltas, output and exit statuses.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// Tests write executables (a copy of the binary, the stand-in generator)
/// and then run them; a test thread's fork that inherits a file still open
/// for writing makes another's exec fail with ETXTBSY. One test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("process_changelog-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .current_dir(repo)
        .env("HOME", repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_AUTHOR_DATE", "2026-08-01T00:00:00+00:00")
        .env("GIT_COMMITTER_DATE", "2026-08-01T00:00:00+00:00")
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?}");
}

/// Writes `files` (path, content; `None` deletes) and commits them with `tag`.
fn commit(repo: &Path, files: &[(&str, Option<&str>)], tag: &str) {
    if !repo.join(".git").exists() {
        git(repo, &["init", "-q"]);
    }
    for (path, content) in files {
        match content {
            Some(text) => write(&repo.join(path), text),
            None => std::fs::remove_file(repo.join(path)).expect("rm"),
        }
    }
    git(repo, &["add", "-A", "."]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", tag]);
    git(repo, &["tag", tag]);
}

const ENTRY_1: &str = "- config-keys:\n    - tiny-fp8-h100-vllm\n  description:\n    - \"Initial entry\"\n  pr-link: https://example.invalid/pull/1\n";
const ENTRY_2: &str = "\n- config-keys:\n    - tiny-*\n    - tiny-fp8-h100-vllm\n  description:\n    - \"Ajout \u{2014} \u{65b0}\u{589e}\"\n  pr-link: https://example.invalid/pull/2\n  evals-only: no\n";

const CONFIGS: &str = "tiny-fp8-h100-vllm: {image: a}\ntiny-fp8-mi355x-vllm: {image: b}\n";

/// A repository with one changelog entry at `base` and a second at `head`.
fn repo(name: &str) -> PathBuf {
    let repo = scratch(name);
    commit(
        &repo,
        &[
            ("configs/amd-master.yaml", Some(CONFIGS)),
            (
                "configs/nvidia-master.yaml",
                Some("other-fp4-b200-trt: {image: c}\n"),
            ),
            ("configs/runners.yaml", Some("labels: {h100: [h100-1]}\n")),
            (
                "utils/matrix_logic/generate_sweep_configs.py",
                Some("raise SystemExit(3)\n"),
            ),
            ("perf-changelog.yaml", Some(ENTRY_1)),
        ],
        "base",
    );
    commit(
        &repo,
        &[("perf-changelog.yaml", Some(&format!("{ENTRY_1}{ENTRY_2}")))],
        "head",
    );
    repo
}

/// A single-node row as the generator prints it (json.dumps spacing).
fn row(image: &str, conc: u32) -> String {
    format!(
        r#"{{"image": "{image}", "model": "org/tiny", "model-prefix": "tiny", "precision": "fp8", "framework": "vllm", "runner": "h100", "isl": 1024, "osl": 1024, "tp": "2", "pp": 1, "dcp-size": 1, "pcp-size": 1, "conc": {conc}, "max-model-len": 2304, "ep": 1, "dp-attn": false, "spec-decoding": "none", "exp-name": "tiny_1k1k", "disagg": false, "run-eval": false}}"#
    )
}

/// A directory holding a copy of the binary and, when `generator` is
/// given, a `generate_sweep_configs` script with that body beside it. The
/// script logs each run (contract edition, then arguments) to
/// `$GEN_LOG`.
fn install(name: &str, generator: Option<&str>) -> (PathBuf, PathBuf) {
    let dir = scratch(&format!("{name}-bin"));
    let exe = dir.join("process_changelog");
    std::fs::copy(env!("CARGO_BIN_EXE_process_changelog"), &exe).expect("copy binary");
    if let Some(body) = generator {
        let script = dir.join("generate_sweep_configs");
        write(
            &script,
            &format!("#!/bin/sh\necho \"$INFERENCEX_CONTRACT $*\" >> \"$GEN_LOG\"\n{body}\n"),
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    (dir, exe)
}

fn run(exe: &Path, repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .current_dir(repo)
        .env_remove("INFERENCEX_CONTRACT")
        .env("GEN_LOG", repo.join("gen.log"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run process_changelog")
}

const REFS: [&str; 6] = [
    "--base-ref",
    "base",
    "--head-ref",
    "head",
    "--changelog-file",
    "perf-changelog.yaml",
];

fn log(repo: &Path) -> String {
    std::fs::read_to_string(repo.join("gen.log")).unwrap_or_default()
}

/// Prints a benchmark row for `--no-evals` runs, an eval row otherwise.
const BENCH_OR_EVAL: &str = r#"case "$*" in
  *--no-evals*) echo '[ROW4, ROW8]' ;;
  *) echo '[EVAL]' ;;
esac"#;

fn bench_or_eval() -> String {
    let eval = row("img", 16).replace(
        r#""run-eval": false"#,
        r#""run-eval": true, "eval-only": true"#,
    );
    BENCH_OR_EVAL
        .replace("ROW4", &row("img", 4))
        .replace("ROW8", &row("img", 8))
        .replace("EVAL", &eval)
}

#[test]
fn added_entries_become_fingerprinted_rows_and_evals() {
    let _serial = serial();
    let repo = repo("added");
    let (_dir, exe) = install("added", Some(&bench_or_eval()));
    let out = run(&exe, &repo, &REFS, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let fixed = |conc: u32, tail: &str| {
        format!(
            r#"{{"image":"img","model":"org/tiny","model-prefix":"tiny","precision":"fp8","framework":"vllm","spec-decoding":"none","runner":"h100","isl":1024,"osl":1024,"tp":2,"pp":1,"dcp-size":1,"pcp-size":1,"ep":1,"dp-attn":false,"conc":{conc},"max-model-len":2304,"exp-name":"tiny_1k1k","disagg":false,{tail}}}"#
        )
    };
    // The fingerprint hashes the row as generated ("tp": "2"), before the
    // output model turns it into 2. Python: hashlib.sha256(json.dumps(row
    // without conc and exp-name, sort_keys=True, separators=(",", ":"))
    // .encode()).hexdigest()
    let fp = r#""recipe-fingerprint":"1cf3b27e6ad9b6d4982b9c9f091ef0f838ccd1da76b14873683a87db2edbf2bc""#;
    let expected = format!(
        "{{\"single_node\":{{\"1k1k\":[{},{}]}},\"multi_node\":{{}},\"evals\":[{}],\"agentic_evals\":[],\"multinode_evals\":[],\"multinode_agentic_evals\":[],\"changelog_metadata\":{{\"base_ref\":\"base\",\"head_ref\":\"head\",\"entries\":[{{\"config-keys\":[\"tiny-*\",\"tiny-fp8-h100-vllm\"],\"description\":[\"Ajout \u{2014} \u{65b0}\u{589e}\"],\"pr-link\":\"https://example.invalid/pull/2\",\"evals-only\":false,\"all-evals\":false,\"append-only\":false}}]}}}}\n",
        fixed(4, &format!(r#""run-eval":false,"eval-only":false,{fp}"#)),
        fixed(8, &format!(r#""run-eval":false,"eval-only":false,{fp}"#)),
        fixed(16, r#""run-eval":true,"eval-only":true"#),
    );
    assert_eq!(stdout, expected);
    assert_eq!(
        log(&repo),
        "2026-08 test-config --config-keys tiny-fp8-h100-vllm tiny-fp8-mi355x-vllm --config-files configs/amd-master.yaml configs/nvidia-master.yaml --runner-config configs/runners.yaml --no-evals\n\
         2026-08 test-config --config-keys tiny-fp8-h100-vllm tiny-fp8-mi355x-vllm --config-files configs/amd-master.yaml configs/nvidia-master.yaml --evals-only --scenario-type fixed-seq-len agentic-coding\n"
    );
}

#[test]
fn flags_trim_and_select_evals() {
    let _serial = serial();
    let repo = repo("flags");
    let (_dir, exe) = install("flags", Some(&bench_or_eval()));
    let out = run(
        &exe,
        &repo,
        &[&REFS[..], &["--trim-conc", "--all-evals"]].concat(),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        stdout.contains(r#""conc":4,"#) && !stdout.contains(r#""conc":8,"#),
        "{stdout}"
    );
    assert!(log(&repo).contains("--evals-only --all-evals --scenario-type"));

    std::fs::remove_file(repo.join("gen.log")).expect("rm log");
    let out = run(&exe, &repo, &[&REFS[..], &["--evals-only"]].concat(), &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        stdout.starts_with(r#"{"single_node":{},"multi_node":{},"evals":[{"#),
        "{stdout}"
    );
    assert!(!log(&repo).contains("--no-evals"));
}

#[test]
fn the_changelog_is_append_only() {
    let _serial = serial();
    let repo = repo("deleted");
    commit(
        &repo,
        &[(
            "perf-changelog.yaml",
            Some(&ENTRY_1.replace("Initial", "Edited")),
        )],
        "edited",
    );
    let (_dir, exe) = install("deleted", Some("echo '[]'"));
    let out = run(
        &exe,
        &repo,
        &[
            "--base-ref",
            "head",
            "--head-ref",
            "edited",
            "--changelog-file",
            "perf-changelog.yaml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Deletions are not allowed in perf-changelog.yaml. Only additions to the changelog are permitted. Found deleted line:     - \"Initial entry\""),
        "{stderr}"
    );
    assert_eq!(log(&repo), "", "no generator run");
}

#[test]
fn nothing_added_or_unknown_refs_are_errors() {
    let _serial = serial();
    let repo = repo("nothing");
    let (_dir, exe) = install("nothing", Some("echo '[]'"));
    for (base, head) in [("head", "head"), ("base", "no-such-ref")] {
        let out = run(
            &exe,
            &repo,
            &[
                "--base-ref",
                base,
                "--head-ref",
                head,
                "--changelog-file",
                "perf-changelog.yaml",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("No additions found in the changelog file."));
    }
    let out = run(
        &exe,
        &repo,
        &[
            "--base-ref=--output=x",
            "--head-ref",
            "head",
            "--changelog-file",
            "perf-changelog.yaml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!repo.join("x").exists());
}

#[test]
fn bad_entries_and_keys_are_errors() {
    let _serial = serial();
    for (name, added, want) in [
        ("unknown-key", "- config-keys: [tiny-fp8-h100-vllm]\n  description: [x]\n  pr-link: y\n  run-evals: true\n", "run-evals: Extra inputs are not permitted"),
        ("no-match", "- config-keys: [nope-*]\n  description: [x]\n  pr-link: y\n", "No config keys matched the wildcard pattern 'nope-*' in master configs."),
        ("no-key", "- config-keys: [nope]\n  description: [x]\n  pr-link: y\n", "Config key 'nope' not found in master configs."),
        ("mixed", "- config-keys: [tiny-fp8-h100-vllm]\n  description: [x]\n  pr-link: y\n  append-only: true\n- config-keys: [tiny-fp8-h100-vllm]\n  description: [x]\n  pr-link: y\n", "append-only entries cannot share a sweep with regular changelog entries"),
        ("comment", "# just a comment\n", "No valid YAML entries found in the changelog additions."),
    ] {
        let repo = scratch(name);
        commit(&repo, &[("configs/amd-master.yaml", Some(CONFIGS)), ("configs/nvidia-master.yaml", Some("{}\n")), ("perf-changelog.yaml", Some(ENTRY_1))], "base");
        commit(&repo, &[("perf-changelog.yaml", Some(&format!("{ENTRY_1}{added}")))], "head");
        let (_dir, exe) = install(name, Some("echo '[]'"));
        let out = run(&exe, &repo, &REFS, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{name}: {stderr}");
    }
}

#[test]
fn a_failing_generator_fails_the_run_and_its_stderr_is_shown() {
    let _serial = serial();
    let repo = repo("gen-fails");
    let (_dir, exe) = install(
        "gen-fails",
        Some("echo 'Master config entry broke' >&2; exit 1"),
    );
    let out = run(&exe, &repo, &REFS, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Master config entry broke"));
    let (_dir, exe) = install("gen-garbage", Some("echo 'not json'"));
    let out = run(&exe, &repo, &REFS, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("printed no matrix"));
}

#[test]
fn the_generator_is_found_beside_the_binary_then_on_path() {
    let _serial = serial();
    let repo = repo("path");
    let (bin_without, exe) = install("path", None);
    let (with_gen, _) = install("path-gen", Some("echo '[]'"));
    let path = format!(
        "{}:{}",
        with_gen.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(&exe, &repo, &REFS, &[("PATH", &path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log(&repo).starts_with("2026-08 test-config"));
    assert!(!bin_without.join("generate_sweep_configs").exists());
    let out = run(&exe, &repo, &REFS, &[("PATH", "/nonexistent")]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn append_only_emits_only_new_points() {
    let _serial = serial();
    let repo = scratch("append");
    let entry = "- config-keys: [tiny-fp8-h100-vllm]\n  description: [more points]\n  pr-link: y\n  append-only: true\n";
    commit(
        &repo,
        &[
            ("configs/amd-master.yaml", Some(CONFIGS)),
            ("configs/nvidia-master.yaml", Some("{}\n")),
            ("configs/runners.yaml", Some("labels: {h100: [h100-1]}\n")),
            ("utils/matrix_logic/generate_sweep_configs.py", Some("\n")),
            ("perf-changelog.yaml", Some(ENTRY_1)),
        ],
        "base",
    );
    commit(
        &repo,
        &[
            (
                "configs/amd-master.yaml",
                Some(&CONFIGS.replace("{image: a}", "{image: a, more: 1}")),
            ),
            ("perf-changelog.yaml", Some(&format!("{ENTRY_1}{entry}"))),
        ],
        "head",
    );
    // The base run reads the base revision's files from a temporary
    // directory; the head run reads the work tree's.
    let body = format!(
        "case \"$*\" in\n  *inferencex-append-only*configs/runners.yaml*) echo '[{}, {}]' ;;\n  *) echo '[{}, {}, {}]' ;;\nesac",
        row("img", 4),
        row("img", 8),
        row("img", 4),
        row("img", 8),
        row("img", 16)
    );
    let (_dir, exe) = install("append", Some(&body));
    let out = run(&exe, &repo, &REFS, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.matches(r#""conc":"#).count(), 1, "{stdout}");
    assert!(
        stdout.contains(r#""conc":16,"#) && stdout.contains(r#""evals":[]"#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""append-only":true}]}}"#), "{stdout}");
    let log = log(&repo);
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(
        !log.contains("--evals-only"),
        "append-only entries have no evals: {log}"
    );

    // Changing another config is outside the entry's scope.
    commit(
        &repo,
        &[(
            "configs/amd-master.yaml",
            Some(&CONFIGS.replace("{image: b}", "{image: b2}")),
        )],
        "scope",
    );
    git(&repo, &["tag", "-f", "head", "scope"]);
    let out = run(&exe, &repo, &REFS, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "append-only PR changed configs not selected by its changelog entry: ['tiny-fp8-mi355x-vllm']"
    ));

    // With the CLI eval modifiers.
    let out = run(&exe, &repo, &[&REFS[..], &["--evals-only"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("append-only sweeps cannot use all-evals or evals-only modifiers"));
}

#[test]
fn usage_errors_exit_2() {
    let _serial = serial();
    let repo = scratch("usage");
    let exe = env!("CARGO_BIN_EXE_process_changelog");
    for args in [
        &["--base-ref", "a", "--head-ref", "b"][..],
        &[&REFS[..], &["--unknown"]].concat(),
        &[&REFS[..], &["extra"]].concat(),
        &["--base-ref"],
    ] {
        let out = run(Path::new(exe), &repo, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("usage: process_changelog [-h] --base-ref"),
            "{args:?}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = run(Path::new(exe), &repo, &["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--trim-conc"));
}

#[test]
fn edition_2026_02_has_no_process_changelog() {
    let _serial = serial();
    let repo = scratch("edition");
    let exe = Path::new(env!("CARGO_BIN_EXE_process_changelog"));
    let out = run(exe, &repo, &REFS, &[("INFERENCEX_CONTRACT", "2026-02")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("belongs to InferenceX contract edition 2026-08"),
        "{stderr}"
    );
    let out = run(exe, &repo, &REFS, &[("INFERENCEX_CONTRACT", "2027-01")]);
    assert_eq!(out.status.code(), Some(1));
}
