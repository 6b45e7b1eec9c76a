//! The `agentic_replay` binary end to end, called as `aiperf` through a
//! link with InferenceX's argv (plus `--burst-phase-starts` for a short
//! warm-up), against the `sim_server` binary (fast mode,
//! DeepSeek-R1 token counts) on `traces/tiny.jsonl`: exit 0 and every
//! artifact present and parseable. Also: a scenario violation without
//! `--unsafe-override` is one error line and exit 1.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "agentic_replay-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The sim_server binary next to ours (built on demand).
fn sim_server() -> PathBuf {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_agentic_replay"));
    let path = ours.with_file_name("sim_server");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "sim_server"])
            .status()
            .unwrap();
        assert!(status.success(), "building sim_server");
    }
    path
}

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim() -> Server {
    let mut child = Command::new(sim_server())
        .args([
            "--port",
            "0",
            "--ttft-ms",
            "5",
            "--itl-ms",
            "1",
            "--threads",
            "2",
            "--tokenizer",
        ])
        .arg(shared().join("tokenizers/deepseek-r1"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Server(child, port)
}

fn argv(port: u16, out: &Path, duration: &str) -> Vec<String> {
    let line = format!(
        "profile --scenario inferencex-agentx-mvp --url http://127.0.0.1:{port} \
         --endpoint /v1/chat/completions --endpoint-type chat --streaming --model servebench-sim \
         --tokenizer {tok} --concurrency 2 --benchmark-duration {duration} --stats-interval 1 \
         --random-seed 42 --failed-request-threshold 0.10 --trajectory-start-min-ratio 0.25 \
         --trajectory-start-max-ratio 0.75 --warmup-requests-per-lane 1 \
         --trace-idle-gap-cap-seconds 300 --warmup-grace-period 120 --use-server-token-count \
         --no-gpu-telemetry --tokenizer-trust-remote-code --num-dataset-entries 393 \
         --slice-duration 1.0 --output-artifact-dir {out} --burst-phase-starts \
         --custom-dataset-type weka_trace --input-file {traces}",
        tok = shared().join("tokenizers/deepseek-r1").display(),
        out = out.display(),
        traces = shared().join("agentx/traces/tiny.jsonl").display(),
    );
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn replays_tiny_against_sim_server_as_aiperf() {
    let server = start_sim();
    let dir = scratch("e2e");
    let aiperf = dir.join("aiperf");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_agentic_replay"), &aiperf).unwrap();
    let out_dir = dir.join("aiperf_artifacts");
    let mut args = argv(server.1, &out_dir, "4");
    args.push("--unsafe-override".into());
    let out = Command::new(&aiperf).args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        stderr.contains("Scenario violation (override active)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Replay audit: dispatch lateness"),
        "{stderr}"
    );
    assert!(stdout.contains("Agentic replay summary"), "{stdout}");

    let jsonl = std::fs::read_to_string(out_dir.join("profile_export.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let phases: Vec<&str> = records
        .iter()
        .map(|r| r["metadata"]["benchmark_phase"].as_str().unwrap())
        .collect();
    assert!(
        phases.contains(&"warmup") && phases.contains(&"profiling"),
        "{phases:?}"
    );
    for r in &records {
        assert!(r.get("error").is_none_or(|e| e.is_null()), "{r}");
        assert!(
            r["metrics"]["input_sequence_length"]["value"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
    let agg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("profile_export_aiperf.json")).unwrap(),
    )
    .unwrap();
    assert!(
        agg["request_count"]["avg"].as_f64().unwrap() >= 1.0,
        "{}",
        agg["request_count"]
    );
    assert_eq!(agg["metadata"]["submission_valid"], false);
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("server_metrics_export.json")).unwrap(),
    )
    .unwrap();
    assert!(metrics["metrics"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));
    assert!(
        std::fs::metadata(out_dir.join("server_metrics_export.csv"))
            .unwrap()
            .len()
            > 0
    );
    let audit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("replay_audit.json")).unwrap())
            .unwrap();
    assert!(audit["dispatch_lateness"]["count"].as_u64().unwrap() >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scenario_violation_is_one_error() {
    let dir = scratch("violation");
    let args = argv(1, &dir.join("out"), "20");
    let out = Command::new(env!("CARGO_BIN_EXE_agentic_replay"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--unsafe-override") && stderr.contains("--benchmark-duration"));
    let help = Command::new(env!("CARGO_BIN_EXE_agentic_replay"))
        .args(["profile", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--warmup-requests-per-lane"));
    let _ = std::fs::remove_dir_all(&dir);
}
