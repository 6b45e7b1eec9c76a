//! The sweep's matrix in both contract editions, on the repository's own
//! configs (configs/ is 2026-08, configs/2026-02/ is 2026-02): what it
//! asks `servebench-matrix` for, the entries it runs, the agentic rows it
//! skips, and the emitters. Nothing here starts a server.

use servebench_contract::Edition;
use servebench_matrix::e2026_08;
use servebench_sweep::{
    execute, Action, AgenticSettings, Command, MatrixRequest, Outcome, Selection, SweepError,
    AGENTIC_SKIP_REASON,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `sweep` binary's default selection in `edition`.
fn selection(edition: Edition) -> Selection {
    Selection {
        edition,
        config_files: Selection::default_config_files(edition),
        runner_config: Selection::default_runner_config(edition),
        config_keys: vec![],
        conc: vec![],
        model_prefix: vec![],
        precision: vec![],
        framework: vec!["sim".into()],
        runner_type: vec![],
        seq_lens: vec!["1k1k".into()],
        step_size: 2,
        min_conc: None,
        max_conc: 8,
        max_tp: None,
        max_ep: None,
        runner_node_filter: None,
        scenario_types: vec![],
    }
}

fn command(selection: Selection, action: Action, results: &Path) -> Command {
    Command {
        root: repo(),
        selection,
        base_url: None,
        server_cmd: None,
        speedup: 5.0,
        sim_config: "configs/sim.yaml".into(),
        tokenizer: "../shared/reference/tokenizers/deepseek-r1".into(),
        prompts_per_conc: 4,
        warmups_per_conc: 1,
        random_range_ratio: 0.8,
        health_timeout: Duration::from_secs(5),
        entry_timeout: Duration::from_secs(5),
        results_dir: results.to_path_buf(),
        run_id: Some("r".into()),
        bin_dir: Some(repo().join("target/none")),
        command_line: vec![],
        agentic: Some(AgenticSettings::local_default()),
        action,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "servebench-sweep-selection-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `(entries, progress)` of `--emit slurm` for `selection`.
fn slurm(selection: Selection, name: &str) -> (usize, String) {
    let dir = scratch(name);
    let slurm = Action::Slurm { sweep_args: vec![] };
    let mut progress = Vec::new();
    let outcome = execute(&command(selection, slurm, &dir), &mut progress).unwrap();
    let Outcome::Slurm { script, entries } = outcome else {
        panic!("not a Slurm outcome");
    };
    assert!(script.starts_with(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    (entries, String::from_utf8(progress).unwrap())
}

fn github_matrix(selection: Selection) -> String {
    let cmd = command(selection, Action::GithubMatrix, Path::new("unused"));
    match execute(&cmd, &mut std::io::sink()).unwrap() {
        Outcome::GithubMatrix(json) => json,
        _ => panic!("not a matrix"),
    }
}

#[test]
fn default_configs_follow_the_edition() {
    assert_eq!(
        Selection::default_config_files(Edition::E2026_08),
        [PathBuf::from("configs/master.yaml")]
    );
    assert_eq!(
        Selection::default_runner_config(Edition::E2026_08),
        PathBuf::from("configs/runners.yaml")
    );
    assert_eq!(
        Selection::default_config_files(Edition::E2026_02),
        [PathBuf::from("configs/2026-02/master.yaml")]
    );
    assert_eq!(
        Selection::default_runner_config(Edition::E2026_02),
        PathBuf::from("configs/2026-02/runners.yaml")
    );
}

#[test]
fn the_request_is_the_editions_generator() {
    let root = Path::new("/r");
    let MatrixRequest::E2026_08(r) = selection(Edition::E2026_08).request(root).unwrap() else {
        panic!("not a 2026-08 request");
    };
    assert_eq!(r.config_files, [PathBuf::from("/r/configs/master.yaml")]);
    assert_eq!(r.runner_config, PathBuf::from("/r/configs/runners.yaml"));
    // Throughput rows only (--no-evals), single-node only (--single-node).
    assert!(r.evals.no_evals && !r.evals.evals_only && !r.evals.all_evals);
    let e2026_08::Subcommand::FullSweep(o) = &r.subcommand else {
        panic!("not full-sweep");
    };
    assert!(o.single_node && !o.multi_node);
    assert_eq!(o.seq_lens, [e2026_08::SeqLen::OneKOneK]);
    assert_eq!(o.max_conc, Some(8));
    assert!(o.scenario_types.is_empty());

    let mut s = selection(Edition::E2026_08);
    s.config_keys = vec!["moe-*".into()];
    s.conc = vec![4];
    let MatrixRequest::E2026_08(r) = s.request(root).unwrap() else {
        panic!("not a 2026-08 request");
    };
    let e2026_08::Subcommand::TestConfig(o) = &r.subcommand else {
        panic!("not test-config");
    };
    assert_eq!(
        (o.config_keys.as_slice(), o.conc.as_slice()),
        (&["moe-*".to_owned()][..], &[4][..])
    );
    assert!(o.seq_lens.is_empty(), "test-config expands every seq-len");

    let MatrixRequest::E2026_02(r) = selection(Edition::E2026_02).request(root).unwrap() else {
        panic!("not a 2026-02 request");
    };
    assert_eq!(
        r.config_files,
        [PathBuf::from("/r/configs/2026-02/master.yaml")]
    );
    assert_eq!(r.evals, servebench_matrix::EvalMode::Off);
}

#[test]
fn edition_usage_errors_are_setup_errors() {
    let mut s = selection(Edition::E2026_08);
    s.seq_lens = vec!["1k8k".into()];
    let err = s.request(Path::new(".")).unwrap_err();
    assert!(matches!(err, SweepError::Setup(_)));
    assert!(err
        .to_string()
        .contains("--seq-lens 1k8k does not exist in contract edition 2026-08"));
    let mut s = selection(Edition::E2026_02);
    s.seq_lens = vec!["1k8k".into()];
    assert!(s.request(Path::new(".")).is_ok());
    let mut s = selection(Edition::E2026_08);
    s.min_conc = Some(16);
    let err = s.request(Path::new(".")).unwrap_err().to_string();
    assert!(
        err.contains("--min-conc must be less than or equal to --max-conc"),
        "{err}"
    );
    let mut s = selection(Edition::E2026_08);
    s.step_size = 1;
    assert!(s.request(Path::new(".")).is_err());
}

#[test]
fn both_editions_run_the_same_23_entries_and_slurm_skips_agentic_rows() {
    let (entries, progress) = slurm(selection(Edition::E2026_08), "08");
    assert_eq!(entries, 23);
    assert_eq!(
        progress,
        format!("skipping 4 agentic-coding rows: {AGENTIC_SKIP_REASON}\n")
    );
    let (entries, progress) = slurm(selection(Edition::E2026_02), "02");
    assert_eq!(entries, 23);
    assert_eq!(progress, "");

    // The matrix emitted is generate_sweep_configs' (agentic rows included).
    let json = github_matrix(selection(Edition::E2026_08));
    assert_eq!(json.matches("\"exp-name\"").count(), 27);
    assert_eq!(
        json.matches("\"scenario-type\": \"agentic-coding\"")
            .count(),
        4
    );
    assert_eq!(
        json.matches("\"max-model-len\": 2304").count(),
        6 + 6 + 4 + 5 + 2
    );
    assert!(!json.contains("\"run-eval\": true"));
    let json = github_matrix(selection(Edition::E2026_02));
    assert_eq!(json.matches("\"exp-name\"").count(), 23);
    assert_eq!(json.matches("\"max-model-len\": 2248").count(), 23);
}

#[test]
fn agentic_rows_run_in_a_whole_sweep_unless_skipped() {
    let agentic_key = || {
        let mut s = selection(Edition::E2026_08);
        s.config_keys = vec!["dense8b-bf16-sim-h100-sim-agentic".into()];
        s
    };
    let dir = scratch("agentic");
    // --no-agentic: nothing left to run, and the error says why.
    let mut cmd = command(agentic_key(), Action::Run, &dir);
    cmd.agentic = None;
    let err = execute(&cmd, &mut Vec::new()).unwrap_err().to_string();
    assert!(
        err.contains("only agentic-coding rows (6), which this command skips: --no-agentic"),
        "{err}"
    );
    // A Slurm array has no agentic tasks.
    let (entries, progress) = slurm(agentic_key(), "agentic-slurm");
    assert_eq!(entries, 0);
    assert_eq!(
        progress,
        format!("skipping 6 agentic-coding rows: {AGENTIC_SKIP_REASON}\n")
    );
    // A whole sweep runs them: here it stops at the missing binaries,
    // after its header line counted them.
    let mut progress = Vec::new();
    let err = execute(&command(agentic_key(), Action::Run, &dir), &mut progress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not found; build the binaries first"), "{err}");
    let progress = String::from_utf8(progress).unwrap();
    assert!(
        progress.starts_with("servebench sweep r: 6 agentic-coding entries -> "),
        "{progress}"
    );
    // The default selection, agentic rows only (--scenario-type).
    let mut s = selection(Edition::E2026_08);
    s.scenario_types = vec!["agentic-coding".into()];
    let mut progress = Vec::new();
    assert!(execute(&command(s, Action::Run, &dir), &mut progress).is_err());
    let progress = String::from_utf8(progress).unwrap();
    assert!(
        progress.contains(": 4 agentic-coding entries -> "),
        "{progress}"
    );
    // Both kinds; and the traces must exist.
    let mut progress = Vec::new();
    let mut cmd = command(selection(Edition::E2026_08), Action::Run, &dir);
    assert!(execute(&cmd, &mut progress).is_err());
    let progress = String::from_utf8(progress).unwrap();
    assert!(
        progress.contains(": 23 entries and 4 agentic-coding entries -> "),
        "{progress}"
    );
    cmd.agentic = Some(AgenticSettings {
        traces: "no/such/traces.jsonl".into(),
        ..AgenticSettings::local_default()
    });
    let err = execute(&cmd, &mut Vec::new()).unwrap_err().to_string();
    assert!(
        err.contains("agentic traces") && err.contains("--no-agentic"),
        "{err}"
    );
    let mut s = selection(Edition::E2026_08);
    s.scenario_types = vec!["chat".into()];
    assert!(s.request(Path::new(".")).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
