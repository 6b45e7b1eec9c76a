//! The binary under edition 2026-08 (the default), on the real InferenceX
//! configs at `843c6254f` (the shared reference data next to this checkout).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/2026-08/configs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the tool with `edition` as `INFERENCEX_CONTRACT` (`None`: unset).
fn run(edition: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_generate_sweep_configs"));
    cmd.env_remove("INFERENCEX_CONTRACT").args(args);
    if let Some(e) = edition {
        cmd.env("INFERENCEX_CONTRACT", e);
    }
    cmd.output().expect("run generate_sweep_configs")
}

/// `args` followed by the real master configs and runner file.
fn real(edition: Option<&str>, args: &[&str]) -> Output {
    let dir = configs();
    let amd = dir.join("amd-master.yaml");
    let nvidia = dir.join("nvidia-master.yaml");
    let runners = dir.join("runners.yaml");
    let mut all: Vec<&str> = args.to_vec();
    let files = [
        "--config-files",
        amd.to_str().expect("utf-8 path"),
        nvidia.to_str().expect("utf-8 path"),
        "--runner-config",
        runners.to_str().expect("utf-8 path"),
    ];
    all.extend(files);
    run(edition, &all)
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// The rows of a one-line JSON list, split at the top level (the rows are
/// flat enough that `}, {"image": ` only occurs between rows).
fn rows(text: &str) -> Vec<String> {
    let body = text
        .trim_end()
        .strip_prefix("[{")
        .and_then(|t| t.strip_suffix("}]"))
        .unwrap_or_default();
    if body.is_empty() {
        return Vec::new();
    }
    body.split("}, {\"image\": ").map(str::to_owned).collect()
}

#[test]
fn the_default_edition_generates_agentic_rows_from_the_real_configs() {
    let text = stdout(&real(
        None,
        &[
            "full-sweep",
            "--scenario-type",
            "agentic-coding",
            "--no-evals",
        ],
    ));
    assert!(text.starts_with("[{\"image\": ") && text.ends_with("}]\n"));
    let rows = rows(&text);
    assert!(rows.len() > 100, "{} rows", rows.len());
    for row in &rows {
        assert!(
            row.contains("\"scenario-type\": \"agentic-coding\""),
            "{row}"
        );
        assert!(row.contains("\"duration\": 3600"), "{row}");
        assert!(
            !row.contains("\"run-eval\""),
            "--no-evals leaves agentic rows unmarked: {row}"
        );
    }
    // A DRAM-offload row: its budget and its exp-name suffix.
    assert!(
        rows.iter()
            .any(|r| r.contains("\"kv-offloading\": \"dram\"")
                && r.contains("\"exp-name\": \"kimik3_tp8_conc10_kvdram-vllm-simple_spec-mtp\"")
                && r.contains("\"total-cpu-dram-gb\": 1499")),
        "no kimik3 DRAM row"
    );
}

#[test]
fn test_config_globs_and_eval_only_rows() {
    let text = stdout(&real(
        Some("2026-08"),
        &[
            "test-config",
            "--config-keys",
            "dsr1-fp4-*",
            "dsr1-fp4-*",
            "--evals-only",
        ],
    ));
    let rows = rows(&text);
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(row.contains("\"run-eval\": true"), "{row}");
        assert!(row.ends_with("\"eval-only\": true"), "{row}");
        assert!(row.contains("\"isl\": 8192"), "evals are 8k1k only: {row}");
    }
}

#[test]
fn removed_subcommands_and_flags_are_usage_errors() {
    let out = real(None, &["runner-model-sweep", "--runner-type", "h100"]);
    assert_eq!(out.status.code(), Some(2));
    let out = real(None, &["full-sweep", "--run-evals"]);
    assert_eq!(out.status.code(), Some(2));
    let out = real(None, &["full-sweep", "--seq-lens", "1k8k"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_errors_come_before_any_file_is_read() {
    for args in [
        &["full-sweep", "--step-size", "1"][..],
        &["full-sweep", "--min-conc", "9", "--max-conc", "8"],
        &["full-sweep", "--no-evals", "--all-evals"],
        &[
            "test-config",
            "--config-keys",
            "k",
            "--no-evals",
            "--evals-only",
        ],
    ] {
        let mut all = args.to_vec();
        all.extend(["--config-files", "no/such/file.yaml"]);
        let out = run(Some("2026-08"), &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = run(
        Some("2026-08"),
        &["full-sweep", "--config-files", "no/such/file.yaml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Input file 'no/such/file.yaml' does not exist."));
}

#[test]
fn the_edition_switch_selects_schema_and_flags() {
    let files = |dir: &str| {
        let ours = repo().join(dir).join("master.yaml");
        let runners = repo().join(dir).join("runners.yaml");
        let path = |p: PathBuf| p.to_str().expect("utf-8 path").to_owned();
        [
            "full-sweep".to_owned(),
            "--single-node".to_owned(),
            "--max-conc".to_owned(),
            "1".to_owned(),
            "--config-files".to_owned(),
            path(ours),
            "--runner-config".to_owned(),
            path(runners),
        ]
    };
    let (old, new) = (files("configs/2026-02"), files("configs"));
    let (old, new): (Vec<&str>, Vec<&str>) = (
        old.iter().map(String::as_str).collect(),
        new.iter().map(String::as_str).collect(),
    );
    // Our own configs: configs/2026-02/ is the 2026-02 schema, fine there
    // and refused in 2026-08; configs/ is 2026-08, the other way round.
    assert!(run(Some("2026-02"), &old).status.success());
    let out = run(None, &old);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed validation"));
    assert!(run(None, &new).status.success());
    assert_eq!(run(Some("2026-02"), &new).status.code(), Some(1));
    let args = old;
    let out = run(Some("2026-13"), &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("INFERENCEX_CONTRACT") && err.contains("2026-08"),
        "{err}"
    );
}
