//! A tiny sweep end to end on the simulator, through the real binaries:
//! two entries that run and one whose server cannot start.

use servebench_contract::Edition;
use servebench_sweep::{
    agentic_jobs, jobs, run_sweep, run_with_agentic, AgenticSettings, BenchSettings, Binaries,
    EntryStatus, Job, Launch, Provenance, ServerSpec, SweepOptions,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace's binaries, built for this profile (cargo test builds
/// them for their own tests; building here keeps `cargo test -p
/// servebench-sweep` alone working).
fn binaries() -> Binaries {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let release = dir.file_name().is_some_and(|n| n == "release");
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
    Binaries { dir }
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

/// A scratch directory holding [`MASTER`], and the jobs of the config keys
/// starting with `prefix` ("" for all).
fn tiny_jobs(name: &str, prefix: &str) -> (PathBuf, Vec<Job>) {
    let scratch =
        std::env::temp_dir().join(format!("servebench-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let master = scratch.join("master.yaml");
    std::fs::write(&master, MASTER).unwrap();
    let configs = servebench_matrix::load_master_configs(&[master]).unwrap();
    let runners =
        servebench_matrix::load_runner_config(&repo().join("configs/2026-02/runners.yaml"))
            .unwrap();
    let mut o = servebench_matrix::FullSweepOptions::new(servebench_matrix::NodeType::SingleNode);
    if !prefix.is_empty() {
        o.model_prefix = vec![prefix.into()];
    }
    let matrix = servebench_matrix::full_sweep(&configs, &runners, &o).unwrap();
    (scratch, jobs(&matrix, &runners, Edition::E2026_02).unwrap())
}

#[test]
fn a_tiny_sweep_runs_end_to_end_and_survives_a_failing_entry() {
    let bins = binaries();
    let (scratch, jobs) = tiny_jobs("ok", "");
    assert_eq!(jobs.len(), 3);

    let tokenizer = repo().join("../shared/reference/tokenizers/deepseek-r1");
    let opts = SweepOptions {
        out_dir: scratch.join("results/t1"),
        run_id: "t1".into(),
        server: ServerSpec::Start(Launch::Sim {
            binary: bins.path("sim_server"),
            sim_config: repo().join("configs/sim.yaml"),
            speedup: 10.0,
            tokenizer: None,
        }),
        bins,
        bench: BenchSettings {
            prompts_per_conc: 2,
            warmups_per_conc: 1,
            random_range_ratio: 0.8,
            tokenizer: Some(tokenizer.display().to_string()),
        },
        health_timeout: Duration::from_secs(30),
        entry_timeout: Duration::from_secs(120),
        provenance: Provenance::collect(
            &repo(),
            vec!["sweep".into(), "--speedup".into(), "10".into()],
        ),
        agentic: AgenticSettings::local_default(),
    };
    let mut progress = Vec::new();
    let outcome = run_sweep(&jobs, &opts, &mut progress).unwrap();
    let progress = String::from_utf8_lossy(&progress);
    assert_eq!(outcome.failed(), 1, "{progress}");
    assert!(progress.contains("[3/3] broken_"), "{progress}");

    // The failing entry names its stage and the simulator's complaint.
    let broken = &outcome.records[2];
    match &broken.status {
        EntryStatus::Failed { stage, message } => {
            assert_eq!(stage, "server");
            assert!(message.contains("unknown model"), "{message}");
        }
        EntryStatus::Ok => panic!("the broken entry succeeded"),
    }

    // The summary table has one row per successful entry.
    let rows: Vec<&str> = outcome
        .summary
        .lines()
        .filter(|l| l.starts_with("| tiny "))
        .collect();
    assert_eq!(rows.len(), 2, "{}", outcome.summary);
    assert!(rows[0].contains("SIM-H100"));

    // Files as the workflow would leave them.
    let out = &opts.out_dir;
    let ok = &jobs[0].name;
    assert_eq!(
        ok,
        "tiny_128_64_bf16_sim_tp1-ep1-dpafalse_disagg-false_spec-none_conc1_sim-h100_0"
    );
    for file in [
        format!("runs/{ok}/{ok}.json"),
        format!("runs/{ok}/{ok}.measured.json"),
        format!("runs/{ok}/agg_{ok}.json"),
        format!("aggs/tiny_128_64/bmk_{ok}/agg_{ok}.json"),
        "agg_tiny_128_64.json".to_owned(),
        "summary.md".to_owned(),
        "sweep.json".to_owned(),
        "report.html".to_owned(),
    ] {
        assert!(out.join(&file).is_file(), "missing {file}");
    }
    let collected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("agg_tiny_128_64.json")).unwrap())
            .unwrap();
    assert_eq!(collected.as_array().map(Vec::len), Some(2));

    // Results are in simulated time: the measured duration times the speedup.
    let read = |p: String| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(p)).unwrap()).unwrap()
    };
    let scaled = read(format!("runs/{ok}/{ok}.json"));
    let measured = read(format!("runs/{ok}/{ok}.measured.json"));
    let ratio = scaled["duration"].as_f64().unwrap() / measured["duration"].as_f64().unwrap();
    assert!((ratio - 10.0).abs() < 1e-9, "{ratio}");

    // Power: the simulator logged its GPU (tp 1) as nvidia-smi would, and
    // process_result (edition 2026-08, this test's default) integrated it
    // over the scaled benchmark window.
    let csv = std::fs::read_to_string(out.join(format!("runs/{ok}/gpu_metrics.csv"))).unwrap();
    assert!(csv.starts_with("timestamp, index, power.draw [W]"), "{csv}");
    if let Some(start) = scaled["benchmark_start_time_unix"].as_f64() {
        let end = scaled["benchmark_end_time_unix"].as_f64().unwrap();
        let duration = scaled["duration"].as_f64().unwrap();
        assert!(
            ((end - start) - duration).abs() < 0.5,
            "{start} {end} {duration}"
        );
        let agg = read(format!("runs/{ok}/agg_{ok}.json"));
        assert_eq!(agg["power_valid"], 1, "{agg:#}");
        let watts = agg["avg_power_w"].as_f64().unwrap();
        // sim-h100: between idle (80 W) and peak (700 W).
        assert!((80.0..=700.0).contains(&watts), "{watts}");
        assert!(agg["joules_per_output_token"].as_f64().unwrap() > 0.0);
    }

    // The report carries every entry's data and the charts.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for job in &jobs {
        assert!(html.contains(&job.name), "report lacks {}", job.name);
    }
    let start = html
        .find(r#"<script type="application/json" id="servebench-data">"#)
        .expect("data block");
    let body = &html[start..];
    let body = &body[body.find('>').unwrap() + 1..body.find("</script>").unwrap()];
    let data: serde_json::Value = serde_json::from_str(body).unwrap();
    let data = data.as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (d, job) in data.iter().zip(&jobs) {
        assert_eq!(d["name"], job.name.as_str());
    }
    assert_eq!(data[0]["status"], "ok");
    assert!(data[0]["agg"]["tput_per_gpu"].as_f64().unwrap() > 0.0);
    assert_eq!(data[2]["status"], "failed");
    assert!(html.contains("<svg"));
    // How the numbers were made: the simulator at 10x, and the command.
    assert!(html.contains("\u{d7}10: the simulated clock ran 10 times faster"));
    assert!(html.contains("<code>sweep --speedup 10</code>"));
    let sweep_json = read("sweep.json".into());
    assert_eq!(sweep_json["provenance"]["command_line"][2], "10");
    assert_eq!(
        sweep_json["provenance"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn entries_whose_benchmark_fails_are_reported_and_the_sweep_completes() {
    let bins = binaries();
    let (scratch, jobs) = tiny_jobs("down", "tiny");
    // Nothing listens there: every request fails, so no entry has numbers.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = SweepOptions {
        out_dir: scratch.join("results/down"),
        run_id: "down".into(),
        server: ServerSpec::External(format!("http://127.0.0.1:{port}")),
        bins,
        bench: BenchSettings {
            prompts_per_conc: 1,
            warmups_per_conc: 0,
            random_range_ratio: 0.8,
            tokenizer: Some(
                repo()
                    .join("../shared/reference/tokenizers/deepseek-r1")
                    .display()
                    .to_string(),
            ),
        },
        health_timeout: Duration::from_secs(5),
        entry_timeout: Duration::from_secs(60),
        provenance: Provenance::collect(&repo(), Vec::new()),
        agentic: AgenticSettings::local_default(),
    };
    let mut progress = Vec::new();
    let outcome = run_sweep(&jobs, &opts, &mut progress).unwrap();
    assert_eq!(
        outcome.failed(),
        2,
        "{}",
        String::from_utf8_lossy(&progress)
    );
    for r in &outcome.records {
        let EntryStatus::Failed { stage, message } = &r.status else {
            panic!("{} succeeded", r.name);
        };
        // The benchmark's own reason, with the address, not a division by
        // zero in process_result.
        assert_eq!(stage, "benchmark", "{message}");
        assert!(
            message.starts_with("no request completed: ")
                && message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
            "{message}"
        );
    }
    assert!(outcome.summary.is_empty());
    let html = std::fs::read_to_string(&outcome.report).unwrap();
    assert!(html.contains(&jobs[1].name));
    let _ = std::fs::remove_dir_all(&scratch);
}

/// A stand-in for `agentic_replay`: it records its arguments and copies
/// the aiperf sample's artifacts (`@SAMPLE@`) to its
/// `--output-artifact-dir`, as a replay would write them.
const FAKE_REPLAY: &str = r#"#!/bin/sh
printf '%s\n' "$@" > argv.txt
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = "--output-artifact-dir" ]; then out="$a"; fi
  prev="$a"
done
mkdir -p "$out" && cp '@SAMPLE@'/* "$out"/
echo "replayed"
"#;

/// An agentic-coding entry, end to end through the sweep's own path: the
/// row's simulator (cluster:sim-h100 → h100, tp 1) starts, the replay gets
/// InferenceX's argv and the job's environment, the artifacts are
/// summarised (the aiperf sample: 902 tok/s/GPU), and the report, the
/// summary and sweep.json carry it.
#[test]
fn an_agentic_entry_runs_the_replay_and_is_reported() {
    let real = binaries();
    let scratch =
        std::env::temp_dir().join(format!("servebench-sweep-agentic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let bin_dir = scratch.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    for name in [
        "sim_server",
        "benchmark_serving",
        "process_result",
        "collect_results",
        "summarize",
    ] {
        std::os::unix::fs::symlink(real.path(name), bin_dir.join(name)).unwrap();
    }
    let sample = repo().join("../shared/reference/agentx/artifacts-sample/aiperf_artifacts");
    let replay = bin_dir.join("agentic_replay");
    let script = FAKE_REPLAY.replace("@SAMPLE@", &sample.display().to_string());
    std::fs::write(&replay, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&replay, std::fs::Permissions::from_mode(0o755)).unwrap();

    let row = r#"{"image": "servebench/sim_server:latest", "model": "servebench-sim/dense-8b", "model-prefix": "dense8b", "precision": "bf16", "framework": "sim", "runner": "cluster:sim-h100", "tp": 1, "pp": 1, "dcp-size": 1, "pcp-size": 1, "ep": 1, "dp-attn": false, "spec-decoding": "none", "conc": 2, "kv-offloading": "none", "total-cpu-dram-gb": 0, "duration": 3600, "exp-name": "dense8b_tp1_conc2_kvnone", "scenario-type": "agentic-coding"}"#;
    let servebench_pyjson::Value::Dict(row) = servebench_pyjson::from_str(row).unwrap() else {
        panic!("not a dict");
    };
    let runners = servebench_matrix::RunnerConfig {
        path: "runners.yaml".into(),
        runners: vec![("cluster:sim-h100".into(), vec!["sim-h100_0".into()])],
    };
    let agentic = agentic_jobs(&[row], &runners).unwrap();
    let traces = repo().join("../shared/reference/agentx/traces/tiny.jsonl");
    let opts = SweepOptions {
        out_dir: scratch.join("results/a1"),
        run_id: "a1".into(),
        server: ServerSpec::Start(Launch::Sim {
            binary: bin_dir.join("sim_server"),
            sim_config: repo().join("configs/sim.yaml"),
            speedup: 5.0,
            tokenizer: None,
        }),
        bins: Binaries {
            dir: bin_dir.clone(),
        },
        bench: BenchSettings {
            tokenizer: Some("tok".into()),
            ..BenchSettings::default()
        },
        health_timeout: Duration::from_secs(30),
        entry_timeout: Duration::from_secs(120),
        provenance: Provenance::collect(&repo(), Vec::new()),
        agentic: AgenticSettings {
            traces: traces.clone(),
            duration_s: 7,
            ..AgenticSettings::local_default()
        },
    };
    let mut progress = Vec::new();
    let outcome = run_with_agentic(&[], &agentic, &opts, &mut progress).unwrap();
    let progress = String::from_utf8_lossy(&progress).into_owned();
    assert_eq!(outcome.failed(), 0, "{progress}");
    let name = &agentic[0].name;
    assert!(
        progress.contains(&format!(
            "[1/1] agentic {name} ... ok (10 ok / 0 failed requests, 902 tok/s/GPU"
        )),
        "{progress}"
    );
    let dir = opts.out_dir.join("runs").join(name);
    let argv = std::fs::read_to_string(dir.join("argv.txt")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    let after = |flag: &str| {
        let i = argv
            .iter()
            .position(|a| *a == flag)
            .unwrap_or_else(|| panic!("{flag}"));
        argv[i + 1]
    };
    assert_eq!(
        &argv[..3],
        ["profile", "--scenario", "inferencex-agentx-mvp"]
    );
    assert_eq!(after("--concurrency"), "2");
    assert_eq!(after("--benchmark-duration"), "7");
    assert_eq!(after("--tokenizer"), "tok");
    assert_eq!(after("--input-file"), traces.display().to_string());
    let url = after("--url");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(after("--server-metrics"), format!("{url}/metrics"));
    assert!(argv.contains(&"--unsafe-override"));
    // The simulator ran as the row's GPU, in real time.
    let cmd = std::fs::read_to_string(dir.join("benchmark_command.txt")).unwrap();
    assert!(cmd.contains("agentic_replay profile --scenario"), "{cmd}");
    assert!(dir.join("server.log").is_file());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("agentic_summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["num_requests_successful"], 10);
    assert_eq!(summary["num_gpus"], 1);
    let record = &outcome.agentic[0];
    assert_eq!(record.status, EntryStatus::Ok);
    let s = record.summary.as_ref().unwrap();
    assert_eq!(format!("{:.0}", s.tput_per_gpu().unwrap()), "902");

    let out = &opts.out_dir;
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Agentic coding</h2>"));
    assert!(html.contains(&format!("<td>{name}</td>")));
    let sweep_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(sweep_json["agentic"][0]["name"], name.as_str());
    assert_eq!(sweep_json["agentic"][0]["summary"]["conc"], 2);
    assert!(
        outcome.summary.starts_with("## Agentic Coding Results"),
        "{}",
        outcome.summary
    );
    assert!(out.join("agentic.md").is_file());
    let _ = std::fs::remove_dir_all(&scratch);
}
