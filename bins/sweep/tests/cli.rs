//! The `sweep` binary: its help, the emitters, and a tiny sweep on the
//! simulator through the real binaries (two entries that run, one whose
//! server cannot start), then the same entries as Slurm tasks would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sweep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(args)
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
    assert!(help.contains("[default: configs/master.yaml]"));
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
fn github_matrix_is_generate_sweep_configs_output() {
    let out = sweep(&["--max-conc", "4", "--emit", "github-matrix"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut o = servebench_matrix::FullSweepOptions::new(servebench_matrix::NodeType::SingleNode);
    o.framework = vec!["sim".into()];
    o.seq_lens = vec![servebench_matrix::SeqLen::from_name("1k1k").unwrap()];
    o.max_conc = Some(4);
    let request = servebench_matrix::Request {
        config_files: vec![repo().join("configs/master.yaml")],
        runner_config: repo().join("configs/runners.yaml"),
        subcommand: servebench_matrix::Subcommand::FullSweep(o),
        evals: servebench_matrix::EvalMode::Off,
    };
    let want = servebench_matrix::matrix_json(&servebench_matrix::generate(&request).unwrap());
    assert_eq!(text(&out.stdout), format!("{want}\n"));
}

#[test]
fn slurm_script_repeats_the_selection() {
    let dir = scratch("slurm");
    let results = dir.display().to_string();
    let out = sweep(&[
        "--max-conc",
        "2",
        "--emit",
        "slurm",
        "--run-id",
        "r1",
        "--results-dir",
        &results,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = dir.join("r1/sweep.sbatch");
    assert_eq!(text(&out.stdout), format!("{}\n", script.display()));
    assert!(text(&out.stderr).contains("entries; submit with: sbatch"));
    let body = std::fs::read_to_string(&script).unwrap();
    assert!(body.contains(&format!(
        "sweep --max-conc 2 --results-dir {results} --run-id r1 --entry-index \"$SLURM_ARRAY_TASK_ID\"\n"
    )), "{body}");
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
    ] {
        cmd.args(["-p", p]);
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.current_dir(repo()).status().expect("run cargo build");
    assert!(status.success(), "building the binaries failed");
}

const MASTER: &str = "\
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

broken-bf16-sim-h100-sim:
  image: servebench/sim_server:latest
  model: servebench-sim/no-such-model
  model-prefix: broken
  precision: bf16
  framework: sim
  runner: sim-h100
  multinode: false
  seq-len-configs:
  - isl: 128
    osl: 64
    search-space:
    - { tp: 1, conc-start: 1, conc-end: 1 }
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
        "tiny-bf16-sim-h100-sim",
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
    ];

    let out = sweep(&[&selection[..], &["--run-id", "t1"]].concat());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let run = dir.join("t1");
    assert!(
        stderr.starts_with(&format!(
            "servebench sweep t1: 3 entries -> {}\n",
            run.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("[1/3] tiny_128_64_bf16_sim_tp1-ep1-dpafalse_disagg-false_spec-none_conc1_sim-h100_0 ... ok ("), "{stderr}");
    assert!(
        stderr.contains("[3/3] broken_") && stderr.contains("FAILED at server"),
        "{stderr}"
    );
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
        stderr.contains("2 of 3 entries succeeded; report: "),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("1 entries failed (see the report and runs/<name>/*.log)\n"),
        "{stderr}"
    );
    assert_eq!(
        stdout,
        std::fs::read_to_string(run.join("summary.md")).unwrap()
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
    assert!(report.contains("sweep --config-files "), "{report}");
    let doc = std::fs::read_to_string(run.join("sweep.json")).unwrap();
    for key in ["\"provenance\"", "\"git_revision\"", "\"command_line\""] {
        assert!(doc.contains(key), "{doc}");
    }

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
