//! The `sweep` binary: its help, the emitters in both contract editions,
//! and a tiny sweep on the simulator through the real binaries (two entries
//! that run, one whose server cannot start, agentic rows skipped), then the
//! same entries as Slurm tasks would run them; and one entry under 2026-02.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `sweep` in the repository under the default edition (2026-08).
fn sweep(args: &[&str]) -> Output {
    sweep_in(None, args)
}

/// Runs `sweep` with `INFERENCEX_CONTRACT` set to `edition` (`None`: unset).
fn sweep_in(edition: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweep"));
    match edition {
        Some(e) => cmd.env("INFERENCEX_CONTRACT", e),
        None => cmd.env_remove("INFERENCEX_CONTRACT"),
    };
    cmd.args(args)
        .current_dir(repo())
        .output()
        .expect("run sweep")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "servebench-sweep-bin-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn help_names_the_binary_and_every_flag() {
    let out = sweep(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    // Both ways to run it.
    assert!(
        help.contains("Usage: cargo xtask sweep [OPTIONS]"),
        "{help}"
    );
    assert!(help.contains("\n       sweep [OPTIONS]"), "{help}");
    for flag in [
        "--config-files",
        "--runner-config",
        "--config-keys",
        "--conc",
        "--model-prefix",
        "--precision",
        "--framework",
        "--runner-type",
        "--seq-lens",
        "--step-size",
        "--min-conc",
        "--max-conc",
        "--max-tp",
        "--max-ep",
        "--runner-node-filter",
        "--base-url",
        "--server-cmd",
        "--speedup",
        "--sim-config",
        "--tokenizer",
        "--prompts-per-conc",
        "--warmups-per-conc",
        "--random-range-ratio",
        "--health-timeout",
        "--entry-timeout",
        "--results-dir",
        "--run-id",
        "--emit",
        "--entry-index",
        "--report-only",
        "--bin-dir",
    ] {
        let defines = |l: &str| {
            let l = l.trim_start();
            l == flag || l.starts_with(&format!("{flag} "))
        };
        assert!(help.lines().any(defines), "no line for {flag}:\n{help}");
    }
    assert!(
        help.contains("[default: configs/master.yaml; 2026-02: configs/2026-02/master.yaml]"),
        "{help}"
    );
    assert!(help.contains("[default: configs/runners.yaml; 2026-02: configs/2026-02/runners.yaml]"));
    assert!(help.contains("[default: 8]"));
    // A speed-up that keeps TTFT comparable between sweeps (issue 14).
    assert!(help.contains("under 1 ms of TTFT) [default: 5]"), "{help}");
}

#[test]
fn usage_errors_exit_2() {
    let out = sweep(&["--emit", "slurm", "--entry-index", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: cargo xtask sweep"));
}

#[test]
fn usage_errors_of_the_edition_exit_1() {
    let out = sweep(&["--seq-lens", "1k8k", "--emit", "github-matrix"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--seq-lens 1k8k does not exist in contract edition 2026-08"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let out = sweep_in(Some("2026-13"), &["--emit", "github-matrix"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("INFERENCEX_CONTRACT=\"2026-13\" is not a contract edition"));
    // A 2026-02 config under 2026-08 fails validation, and the other way round.
    let out = sweep(&[
        "--config-files",
        "configs/2026-02/master.yaml",
        "--emit",
        "github-matrix",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("failed validation"),
        "{}",
        text(&out.stderr)
    );
    let out = sweep_in(
        Some("2026-02"),
        &[
            "--config-files",
            "configs/master.yaml",
            "--emit",
            "github-matrix",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
}

/// `generate_sweep_configs`' stdout for `args`, in the repository.
fn generate_sweep_configs(edition: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "-p", "generate_sweep_configs", "--"])
        .args(args)
        .env("INFERENCEX_CONTRACT", edition)
        .current_dir(repo())
        .output()
        .expect("run generate_sweep_configs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn github_matrix_is_generate_sweep_configs_output_in_both_editions() {
    // 2026-08 (the default): full-sweep --single-node --no-evals on configs/,
    // agentic rows included (the sweep only skips them when it runs).
    let out = sweep(&["--max-conc", "4", "--emit", "github-matrix"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = generate_sweep_configs(
        "2026-08",
        &[
            "full-sweep",
            "--single-node",
            "--no-evals",
            "--framework",
            "sim",
            "--seq-lens",
            "1k1k",
            "--max-conc",
            "4",
            "--config-files",
            "configs/master.yaml",
            "--runner-config",
            "configs/runners.yaml",
        ],
    );
    assert_eq!(text(&out.stdout), want);
    assert!(want.contains("\"max-model-len\": 2304"), "{want}");
    assert!(
        want.contains("\"scenario-type\": \"agentic-coding\""),
        "{want}"
    );

    // 2026-02: the same selection on configs/2026-02/.
    let out = sweep_in(
        Some("2026-02"),
        &["--max-conc", "4", "--emit", "github-matrix"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut o = servebench_matrix::FullSweepOptions::new(servebench_matrix::NodeType::SingleNode);
    o.framework = vec!["sim".into()];
    o.seq_lens = vec![servebench_matrix::SeqLen::from_name("1k1k").unwrap()];
    o.max_conc = Some(4);
    let request = servebench_matrix::Request {
        config_files: vec![repo().join("configs/2026-02/master.yaml")],
        runner_config: repo().join("configs/2026-02/runners.yaml"),
        subcommand: servebench_matrix::Subcommand::FullSweep(o),
        evals: servebench_matrix::EvalMode::Off,
    };
    let want = servebench_matrix::matrix_json(&servebench_matrix::generate(&request).unwrap());
    assert_eq!(text(&out.stdout), format!("{want}\n"));
    assert!(want.contains("\"max-model-len\": 2248"), "{want}");

    // test-config, 2026-08.
    let out = sweep(&[
        "--config-keys",
        "moe-*",
        "--conc",
        "4",
        "--emit",
        "github-matrix",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = generate_sweep_configs(
        "2026-08",
        &[
            "test-config",
            "--config-keys",
            "moe-*",
            "--conc",
            "4",
            "--no-evals",
            "--config-files",
            "configs/master.yaml",
            "--runner-config",
            "configs/runners.yaml",
        ],
    );
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn slurm_script_repeats_the_selection_and_the_edition() {
    let dir = scratch("slurm");
    let results = dir.display().to_string();
    for (edition, entries) in [("2026-08", 12), ("2026-02", 12)] {
        let out = sweep_in(
            Some(edition),
            &[
                "--max-conc",
                "2",
                "--emit",
                "slurm",
                "--run-id",
                edition,
                "--results-dir",
                &results,
            ],
        );
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let script = dir.join(edition).join("sweep.sbatch");
        assert_eq!(text(&out.stdout), format!("{}\n", script.display()));
        assert!(
            stderr.ends_with(&format!(
                "{entries} entries; submit with: sbatch {}\n",
                script.display()
            )),
            "{stderr}"
        );
        // Agentic rows (configs/master.yaml has some) are not array tasks.
        assert_eq!(
            stderr.contains(
                "skipping 1 agentic-coding row: agentic-coding rows run in a whole sweep only"
            ),
            edition == "2026-08",
            "{stderr}"
        );
        let body = std::fs::read_to_string(&script).unwrap();
        assert!(body.contains(&format!(
            "sweep --max-conc 2 --results-dir {results} --run-id {edition} --entry-index \"$SLURM_ARRAY_TASK_ID\"\n"
        )), "{body}");
        assert!(
            body.contains(&format!("#SBATCH --array=0-{}\n", entries - 1)),
            "{body}"
        );
        assert!(
            body.contains(&format!("\nexport INFERENCEX_CONTRACT={edition}\n")),
            "{body}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The workspace's binaries beside this test's `sweep` (cargo test builds
/// only the package's own; building here keeps `cargo test -p sweep` alone
/// working).
fn build_siblings() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_sweep"));
    let release = exe
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--bins", "--quiet"]);
    for p in [
        "sim_server",
        "benchmark_serving",
        "process_result",
        "collect_results",
        "summarize",
        "agentic_replay",
    ] {
        cmd.args(["-p", p]);
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.current_dir(repo()).status().expect("run cargo build");
    assert!(status.success(), "building the binaries failed");
}

/// Edition 2026-08 configs: two entries that run, one whose model the
/// simulator does not know, and two agentic rows (replayed after them).
const MASTER: &str = "\
tiny-bf16-sim-h100-sim:
  image: servebench/sim_server:latest
  model: servebench-sim/dense-8b
  model-prefix: tiny
  precision: bf16
  framework: sim
  runner: sim-h100
  multinode: false
  scenarios:
    fixed-seq-len:
    - isl: 128
      osl: 64
      search-space:
      - { tp: 1, conc-start: 1, conc-end: 2 }

tiny-bf16-sim-h100-sim-agentic:
  image: servebench/sim_server:latest
  model: servebench-sim/dense-8b
  model-prefix: tiny
  precision: bf16
  framework: sim
  runner: cluster:sim-h100
  multinode: false
  scenarios:
    agentic-coding:
    - search-space:
      - { tp: 1, kv-offloading: none, conc-list: [1, 2] }

broken-bf16-sim-h100-sim:
  image: servebench/sim_server:latest
  model: servebench-sim/no-such-model
  model-prefix: broken
  precision: bf16
  framework: sim
  runner: sim-h100
  multinode: false
  scenarios:
    fixed-seq-len:
    - isl: 128
      osl: 64
      search-space:
      - { tp: 1, conc-start: 1, conc-end: 1 }
";

/// The same first entry in the 2026-02 schema.
const MASTER_2026_02: &str = "\
tiny-bf16-sim-h100-sim:
  image: servebench/sim_server:latest
  model: servebench-sim/dense-8b
  model-prefix: tiny
  precision: bf16
  framework: sim
  runner: sim-h100
  multinode: false
  seq-len-configs:
  - isl: 128
    osl: 64
    search-space:
    - { tp: 1, conc-start: 1, conc-end: 2 }
";

#[test]
fn a_tiny_sweep_runs_and_its_exit_status_counts_failed_entries() {
    build_siblings();
    let dir = scratch("tiny");
    let master = dir.join("master.yaml");
    std::fs::write(&master, MASTER).unwrap();
    let (master, results) = (master.display().to_string(), dir.display().to_string());
    let selection = [
        "--config-files",
        &master,
        "--config-keys",
        "tiny-bf16-sim-h100-sim*",
        "broken-bf16-sim-h100-sim",
        "--speedup",
        "10",
        "--prompts-per-conc",
        "2",
        "--health-timeout",
        "30",
        "--entry-timeout",
        "120",
        "--results-dir",
        &results,
        // The agentic rows: the 3 tiny traces, 4 s of replay each.
        "--agentic-traces",
        "../shared/reference/agentx/traces/tiny.jsonl",
        "--agentic-duration",
        "4",
    ];

    let out = sweep(&[&selection[..], &["--run-id", "t1"]].concat());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let run = dir.join("t1");
    assert!(
        stderr.starts_with(&format!(
            "servebench sweep t1: 3 entries and 2 agentic-coding entries -> {}\n",
            run.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("[1/5] tiny_128_64_bf16_sim_tp1-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc1_sim-h100_0 ... ok ("), "{stderr}");
    assert!(
        stderr.contains("[3/5] broken_") && stderr.contains("FAILED at server"),
        "{stderr}"
    );
    // The agentic rows ran the real replay against the simulator.
    for (i, conc) in [(4, 1), (5, 2)] {
        let line = format!("[{i}/5] agentic tiny_tp1_conc{conc}_kvnone_bf16_sim_tp1-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc{conc}_sim-h100_0 ... ok (");
        assert!(stderr.contains(&line), "{line}\n{stderr}");
    }
    // The failed entry shows the end of its server's log, not just its name.
    let failure = &stderr[stderr.find("FAILED at server").unwrap()..];
    let excerpt = failure
        .split_once("server.log:\n")
        .map_or("", |(_, rest)| rest);
    assert!(
        excerpt.starts_with("    ") && excerpt.contains("sim_server"),
        "{stderr}"
    );
    assert!(
        stderr.contains("4 of 5 entries succeeded; report: "),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("1 entries failed (see the report and runs/<name>/*.log)\n"),
        "{stderr}"
    );
    // summarize's table, then the agentic one.
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    let agentic = std::fs::read_to_string(run.join("agentic.md")).unwrap();
    assert_eq!(stdout, format!("{summary}\n{agentic}"));
    assert!(
        agentic.contains("| cluster:sim-h100 sim bf16 tp1 | 2 |"),
        "{agentic}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("| tiny ")).count(),
        2,
        "{stdout}"
    );
    for file in ["sweep.json", "report.html", "agg_tiny_128_64.json"] {
        assert!(run.join(file).is_file(), "missing {file}");
    }
    // The report and sweep.json say how the numbers were made: the command
    // line as run, among the rest.
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("How these numbers were made"));
    assert!(report.contains("<h2>Agentic coding</h2>"));
    assert!(report.contains("sweep --config-files "), "{report}");
    let doc = std::fs::read_to_string(run.join("sweep.json")).unwrap();
    for key in ["\"provenance\"", "\"git_revision\"", "\"command_line\""] {
        assert!(doc.contains(key), "{doc}");
    }
    // The entries are 2026-08 rows (max-model-len isl + osl + 256, pp).
    assert!(doc.contains("\"max-model-len\": 448"), "{doc}");
    assert!(doc.contains("\"pcp-size\": 1"), "{doc}");

    // As Slurm tasks: one entry, then the report; the others were not run.
    let out = sweep(&[&selection[..], &["--run-id", "t2", "--entry-index", "0"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).ends_with("_conc1_sim-h100_0: Ok\n"),
        "{}",
        text(&out.stderr)
    );
    let out = sweep(&[&selection[..], &["--run-id", "t2", "--report-only"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let sweep_json = std::fs::read_to_string(dir.join("t2/sweep.json")).unwrap();
    assert_eq!(sweep_json.matches("\"not run\"").count(), 2, "{sweep_json}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn edition_2026_02_still_runs_its_configs() {
    build_siblings();
    let dir = scratch("e2026-02");
    let master = dir.join("master.yaml");
    std::fs::write(&master, MASTER_2026_02).unwrap();
    let (master, results) = (master.display().to_string(), dir.display().to_string());
    // The default runner file is configs/2026-02/runners.yaml.
    let out = sweep_in(
        Some("2026-02"),
        &[
            "--config-files",
            &master,
            "--config-keys",
            "tiny-bf16-sim-h100-sim",
            "--conc",
            "1",
            "--speedup",
            "10",
            "--prompts-per-conc",
            "2",
            "--results-dir",
            &results,
            "--run-id",
            "old",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("servebench sweep old: 1 entries -> "),
        "{stderr}"
    );
    assert!(!stderr.contains("agentic"), "{stderr}");
    assert!(stderr.contains("[1/1] tiny_128_64_bf16_sim_tp1-ep1-dpafalse_disagg-false_spec-none_conc1_sim-h100_0 ... ok ("), "{stderr}");
    let doc = std::fs::read_to_string(dir.join("old/sweep.json")).unwrap();
    assert!(doc.contains("\"max-model-len\": 392"), "{doc}");
    assert!(!doc.contains("pcp-size"), "{doc}");
    let _ = std::fs::remove_dir_all(&dir);
}
