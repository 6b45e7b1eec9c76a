//! Agentic-coding entries (edition 2026-08 `scenario-type: agentic-coding`
//! rows): each runs `agentic_replay profile --scenario
//! inferencex-agentx-mvp` with the argv InferenceX's `build_replay_cmd`
//! builds (SPEC-agentx §3.1), against a simulator started for the entry
//! (or `--base-url`), and is summarised from the artifacts it wrote
//! (module `agentic_result`).
//!
//! What differs from the workflow, for a local sweep: the profiling
//! duration is the sweep's (`--agentic-duration`, with `--unsafe-override`
//! since the scenario wants at least 900 s), the traces are a local file
//! (`--custom-dataset-type weka_trace --input-file`), warm-up is InferenceX's
//! fast mode (one request per lane, primers in a burst), and the simulator
//! runs at ×1: the replay's recorded idle gaps are wall time, so a sped-up
//! clock would stretch them in simulated time.
//!
//! Layout of an entry's directory (`runs/<name>/`): `server.log`,
//! `benchmark_command.txt` (the argv, as InferenceX saves it),
//! `benchmark.log`, `aiperf_artifacts/` (the replay's artifacts),
//! `agentic_summary.json` and `record.json`.

use crate::agentic_result::{self, AgenticSummary};
use crate::report::EntryStatus;
use crate::run::{self, SweepOptions};
use crate::server::{self, Launch, Server, ServerSpec, SimTarget};
use crate::SweepError;
use serde_json::{json, Map, Value};
use servebench_matrix::{MatrixEntry, RunnerConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How the sweep runs agentic-coding entries.
#[derive(Debug, Clone, PartialEq)]
pub struct AgenticSettings {
    /// The trace corpus (weka_trace JSONL, or a directory of traces).
    pub traces: PathBuf,
    /// `--benchmark-duration`, seconds of profiling per entry.
    pub duration_s: u64,
    /// `--warmup-requests-per-lane` (InferenceX: 10; its fast mode: 1).
    pub warmup_requests_per_lane: u32,
    /// `--warmup-grace-period`, seconds (InferenceX: 1800).
    pub warmup_grace_s: u64,
}

impl AgenticSettings {
    /// The sweep's defaults: `../shared/reference/agentx/traces/medium.jsonl`,
    /// 20 s of profiling, fast-mode warm-up.
    pub fn local_default() -> AgenticSettings {
        AgenticSettings {
            traces: PathBuf::from("../shared/reference/agentx/traces/medium.jsonl"),
            duration_s: 20,
            warmup_requests_per_lane: 1,
            warmup_grace_s: 120,
        }
    }
}

/// One agentic-coding matrix row, typed, on the node it runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct AgenticJob {
    /// The result name (the fixed-seq-len form: `<exp>_<prec>_<fw>_tp…_conc{C}_<node>`).
    pub name: String,
    pub exp_name: String,
    pub image: String,
    pub model: String,
    pub model_prefix: String,
    pub precision: String,
    pub framework: String,
    pub spec_decoding: String,
    pub runner_type: String,
    pub node: String,
    pub tp: i64,
    pub pp: i64,
    pub dcp_size: i64,
    pub pcp_size: i64,
    pub ep: i64,
    pub dp_attn: bool,
    pub conc: i64,
    /// `kv-offloading` (`none`, `dram`, ...) and its backend's name.
    pub kv_offloading: String,
    pub kv_offload_backend: Option<String>,
    pub total_cpu_dram_gb: i64,
    pub recipe_fingerprint: Option<String>,
    /// The row as `generate_sweep_configs` prints it.
    pub row: Value,
}

impl AgenticJob {
    /// GPUs of the entry: tp × pp × pcp (InferenceX's single-node count).
    pub fn gpus(&self) -> i64 {
        self.tp
            .saturating_mul(self.pp)
            .saturating_mul(self.pcp_size)
    }
}

/// Jobs for agentic-coding rows, in matrix order. `runners` names the
/// node an entry runs on, as for [`jobs`](crate::jobs).
pub fn jobs(rows: &[MatrixEntry], runners: &RunnerConfig) -> Result<Vec<AgenticJob>, SweepError> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| job(i, r, runners))
        .collect()
}

fn job(index: usize, row: &MatrixEntry, runners: &RunnerConfig) -> Result<AgenticJob, SweepError> {
    let row = crate::plan::entry_json(row);
    let bad = |field: &str, why: &str| SweepError::Entry {
        index,
        message: format!("{field}: {why}"),
    };
    let text = |field: &str| -> Result<String, SweepError> {
        match row.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(bad(field, "missing or not a string")),
        }
    };
    let int = |field: &str, default: Option<i64>| -> Result<i64, SweepError> {
        match row.get(field) {
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad(field, "not an integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| bad(field, &format!("{s:?} is not an integer"))),
            None | Some(Value::Null) => default.ok_or_else(|| bad(field, "missing")),
            Some(other) => Err(bad(field, &format!("{other} is not an integer"))),
        }
    };
    let runner = text("runner")?;
    let (runner_type, node) = match runners.nodes(&runner) {
        Some(nodes) => (
            runner.clone(),
            nodes.first().cloned().unwrap_or_else(|| runner.clone()),
        ),
        None => match runners
            .runners
            .iter()
            .find(|(_, nodes)| nodes.contains(&runner))
        {
            Some((ty, _)) => (ty.to_owned(), runner.clone()),
            None => (runner.clone(), runner.clone()),
        },
    };
    let dp_attn = match row.get("dp-attn") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let job = AgenticJob {
        name: String::new(),
        exp_name: text("exp-name")?,
        image: text("image")?,
        model: text("model")?,
        model_prefix: text("model-prefix")?,
        precision: text("precision")?,
        framework: text("framework")?,
        spec_decoding: text("spec-decoding").unwrap_or_else(|_| "none".into()),
        runner_type,
        node,
        tp: int("tp", None)?,
        pp: int("pp", Some(1))?,
        dcp_size: int("dcp-size", Some(1))?,
        pcp_size: int("pcp-size", Some(1))?,
        ep: int("ep", Some(1))?,
        dp_attn,
        conc: int("conc", None)?,
        kv_offloading: text("kv-offloading").unwrap_or_else(|_| "none".into()),
        kv_offload_backend: row
            .get("kv-offload-backend")
            .and_then(|b| b.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        total_cpu_dram_gb: int("total-cpu-dram-gb", Some(0))?,
        recipe_fingerprint: row
            .get("recipe-fingerprint")
            .and_then(Value::as_str)
            .map(str::to_owned),
        row: row.clone(),
    };
    if job.conc < 1 || job.tp < 1 || job.pp < 1 || job.pcp_size < 1 {
        return Err(bad(
            "conc/tp/pp/pcp-size",
            &format!(
                "must be positive (conc {}, tp {}, pp {}, pcp-size {})",
                job.conc, job.tp, job.pp, job.pcp_size
            ),
        ));
    }
    if (job.pp, job.dcp_size, job.pcp_size) != (1, 1, 1) {
        return Err(bad(
            "pp/dcp-size/pcp-size",
            "the sweep runs entries with pp, dcp-size and pcp-size 1 only",
        ));
    }
    Ok(AgenticJob {
        name: result_name(&job),
        ..job
    })
}

/// The result name, in the form of the fixed-seq-len entries of edition
/// 2026-08.
fn result_name(j: &AgenticJob) -> String {
    let recipe = match &j.recipe_fingerprint {
        Some(f) if !f.is_empty() => format!("_recipe-{}", f.chars().take(16).collect::<String>()),
        _ => String::new(),
    };
    format!(
        "{}_{}_{}_tp{}-pp{}-dcp{}-pcp{}-ep{}-dpa{}_disagg-false_spec-{}_conc{}_{}{recipe}",
        j.exp_name,
        j.precision,
        j.framework,
        j.tp,
        j.pp,
        j.dcp_size,
        j.pcp_size,
        j.ep,
        j.dp_attn,
        j.spec_decoding,
        j.conc,
        j.node
    )
}

/// The replay's arguments after the program name: `build_replay_cmd`'s
/// (SPEC-agentx §3.1) with the sweep's duration, fast-mode warm-up, the
/// local trace file and `--unsafe-override` (the duration is under the
/// scenario's 900 s). `url` is the server's base URL.
pub(crate) fn replay_args(
    job: &AgenticJob,
    url: &str,
    tokenizer: &str,
    artifacts: &Path,
    s: &AgenticSettings,
) -> Vec<String> {
    servebench_agentx::options::WorkflowCommand {
        url,
        model: &job.model,
        tokenizer,
        concurrency: job.conc,
        duration_s: s.duration_s as f64,
        warmup_grace_s: s.warmup_grace_s as f64,
        warmup_requests_per_lane: Some(s.warmup_requests_per_lane),
        workflow_extras: true,
        artifacts,
        traces: &s.traces,
        local_overrides: true,
    }
    .argv()
}

/// The environment the workflow gives the replay and the agentic scripts
/// (SPEC-agentx §3.2, §7.2).
pub(crate) fn replay_env(job: &AgenticJob, s: &AgenticSettings) -> Vec<(&'static str, String)> {
    vec![
        ("AIPERF_DATASET_WEKA_LIVE_ASSISTANT_RESPONSES", "0".into()),
        ("AIPERF_DATASET_CONFIGURATION_TIMEOUT", "1800".into()),
        ("AIPERF_SERVICE_PROFILE_CONFIGURE_TIMEOUT", "1800".into()),
        ("AIPERF_UI_REALTIME_METRICS_ENABLED", "true".into()),
        ("SCENARIO_TYPE", "agentic-coding".into()),
        ("RUNNER_TYPE", job.runner_type.clone()),
        ("IMAGE", job.image.clone()),
        ("MODEL", job.model.clone()),
        ("MODEL_PREFIX", job.model_prefix.clone()),
        ("FRAMEWORK", job.framework.clone()),
        ("PRECISION", job.precision.clone()),
        ("SPEC_DECODING", job.spec_decoding.clone()),
        ("CONC", job.conc.to_string()),
        ("TP", job.tp.to_string()),
        ("PP_SIZE", job.pp.to_string()),
        ("DCP_SIZE", job.dcp_size.to_string()),
        ("PCP_SIZE", job.pcp_size.to_string()),
        ("EP_SIZE", job.ep.to_string()),
        ("DP_ATTENTION", job.dp_attn.to_string()),
        ("DISAGG", "false".into()),
        ("IS_MULTINODE", "false".into()),
        ("KV_OFFLOADING", job.kv_offloading.clone()),
        (
            "KV_OFFLOAD_BACKEND",
            job.kv_offload_backend.clone().unwrap_or_default(),
        ),
        ("TOTAL_CPU_DRAM_GB", job.total_cpu_dram_gb.to_string()),
        ("DURATION", s.duration_s.to_string()),
        ("EXP_NAME", job.exp_name.clone()),
        ("RESULT_FILENAME", job.name.clone()),
        (
            "RECIPE_FINGERPRINT",
            job.recipe_fingerprint.clone().unwrap_or_default(),
        ),
    ]
}

/// One agentic entry as the report and `sweep.json` see it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgenticRecord {
    pub name: String,
    pub exp_name: String,
    /// The matrix row.
    pub entry: Value,
    pub status: EntryStatus,
    /// What the artifacts say (present when the entry succeeded).
    pub summary: Option<AgenticSummary>,
}

impl AgenticRecord {
    /// `name`, `exp_name`, `scenario_type`, `status` (with `stage` and
    /// `message` when failed), `entry`, `summary` (null when absent).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("exp_name".into(), self.exp_name.clone().into());
        m.insert("scenario_type".into(), "agentic-coding".into());
        match &self.status {
            EntryStatus::Ok => {
                m.insert("status".into(), "ok".into());
            }
            EntryStatus::Failed { stage, message } => {
                m.insert("status".into(), "failed".into());
                m.insert("stage".into(), stage.clone().into());
                m.insert("message".into(), message.clone().into());
            }
        }
        m.insert("entry".into(), self.entry.clone());
        m.insert(
            "summary".into(),
            self.summary
                .as_ref()
                .map_or(Value::Null, AgenticSummary::to_json),
        );
        Value::Object(m)
    }

    fn failed(job: &AgenticJob, stage: &str, message: String) -> AgenticRecord {
        AgenticRecord {
            name: job.name.clone(),
            exp_name: job.exp_name.clone(),
            entry: job.row.clone(),
            status: EntryStatus::Failed {
                stage: stage.to_owned(),
                message,
            },
            summary: None,
        }
    }
}

/// The progress line's verdict for an agentic entry.
pub(crate) fn record_line(r: &AgenticRecord) -> String {
    match (&r.status, &r.summary) {
        (EntryStatus::Ok, Some(s)) => {
            let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0));
            format!(
                "ok ({} ok / {} failed requests, {:.0} tok/s/GPU, {:.1} tok/s/user, cache hit {} (theoretical {}))",
                s.ok,
                s.failed,
                s.tput_per_gpu().unwrap_or(0.0),
                s.tok_s_per_user().unwrap_or(0.0),
                pct(s.server_hit_rate),
                pct(s.theoretical_hit_rate)
            )
        }
        (EntryStatus::Ok, None) => "ok".to_owned(),
        (EntryStatus::Failed { stage, message }, _) => format!("FAILED at {stage}: {message}"),
    }
}

/// Runs one agentic entry: its server, the replay, the summary. Only a
/// failure to write in the output directory is an error.
pub(crate) fn run_entry(
    job: &AgenticJob,
    opts: &SweepOptions,
    settings: &AgenticSettings,
) -> Result<AgenticRecord, SweepError> {
    let dir = opts.out_dir.join("runs").join(&job.name);
    std::fs::create_dir_all(&dir).map_err(|source| SweepError::Io {
        path: dir.clone(),
        source,
    })?;
    let started = Instant::now();
    let record = match steps(job, opts, settings, &dir) {
        Ok(summary) => {
            run::write_output(
                &dir.join("agentic_summary.json"),
                format!("{:#}\n", summary.to_json()).as_bytes(),
            )?;
            AgenticRecord {
                name: job.name.clone(),
                exp_name: job.exp_name.clone(),
                entry: job.row.clone(),
                status: EntryStatus::Ok,
                summary: Some(summary),
            }
        }
        Err((stage, message)) => AgenticRecord::failed(job, stage, message),
    };
    let mut kept = record.to_json();
    kept["seconds"] = json!(started.elapsed().as_secs_f64());
    run::write_output(&dir.join("record.json"), format!("{kept:#}\n").as_bytes())?;
    Ok(record)
}

fn steps(
    job: &AgenticJob,
    opts: &SweepOptions,
    settings: &AgenticSettings,
    dir: &Path,
) -> Result<AgenticSummary, (&'static str, String)> {
    let replay = opts.bins.path("agentic_replay");
    if !replay.is_file() {
        return Err((
            "agentic_replay",
            format!(
                "{} not found; build the binaries first (cargo build --release --bins)",
                replay.display()
            ),
        ));
    }
    let env = replay_env(job, settings);
    let mut server = None;
    let url = match &opts.server {
        ServerSpec::External(url) => url.trim_end_matches('/').to_owned(),
        ServerSpec::Start(launch @ Launch::Sim { .. }) => {
            // Real time: the replay's recorded gaps are wall time.
            let launch = match launch {
                Launch::Sim {
                    binary,
                    sim_config,
                    tokenizer,
                    ..
                } => Launch::Sim {
                    binary: binary.clone(),
                    sim_config: sim_config.clone(),
                    speedup: 1.0,
                    tokenizer: tokenizer.clone(),
                },
                Launch::Shell(_) => launch.clone(),
            };
            let target = SimTarget {
                runner_type: &job.runner_type,
                model: &job.model,
                precision: &job.precision,
                tp: job.tp,
            };
            let s = Server::start_sim(
                &launch,
                &target,
                &env,
                &dir.join("server.log"),
                opts.health_timeout,
            )
            .map_err(|e| ("server", e))?;
            let url = s.base_url.clone();
            server = Some(s);
            url
        }
        ServerSpec::Start(Launch::Shell(_)) => {
            return Err((
                "server",
                "--server-cmd starts servers for fixed-seq-len entries only; run agentic-coding entries on the simulator or with --base-url".into(),
            ))
        }
    };
    let tokenizer = opts
        .bench
        .tokenizer
        .clone()
        .unwrap_or_else(|| job.model.clone());
    let artifacts = dir.join("aiperf_artifacts");
    let args = replay_args(job, &url, &tokenizer, &artifacts, settings);
    let mut command_line = vec![replay.display().to_string()];
    command_line.extend(args.iter().cloned());
    run::write_output(
        &dir.join("benchmark_command.txt"),
        format!("{}\n", command_line.join(" ")).as_bytes(),
    )
    .map_err(|e| ("agentic_replay", e.to_string()))?;
    // The profiling phase, the warm-up's grace period and room for the
    // dataset set-up and the drain.
    let limit = Duration::from_secs(
        settings
            .duration_s
            .saturating_add(settings.warmup_grace_s)
            .saturating_add(180),
    )
    .min(
        opts.entry_timeout
            .max(Duration::from_secs(settings.duration_s)),
    );
    let ran = run::run_logged(
        Command::new(&replay)
            .args(&args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir),
        &dir.join("benchmark.log"),
        limit,
    );
    if let Some(mut s) = server {
        s.stop();
    }
    // As in the workflow, the artifacts are aggregated whatever the
    // replay's exit status; a non-zero status then fails the entry.
    let summary = agentic_result::summarize(&artifacts, job.conc, job.gpus());
    ran.map_err(|e| ("agentic_replay", e))?;
    let summary = summary.map_err(|e| ("aggregate", e))?;
    if summary.ok == 0 {
        let mut why = format!(
            "no profiled request completed ({} failed{})",
            summary.failed,
            server::log_tail(&dir.join("benchmark.log"))
        );
        if !summary.error_categories.is_empty() {
            let cats: Vec<String> = summary
                .error_categories
                .iter()
                .map(|(k, v)| format!("{k} \u{d7}{v}"))
                .collect();
            why = format!("{why}; errors: {}", cats.join(", "));
        }
        return Err(("agentic_replay", why));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runners() -> RunnerConfig {
        RunnerConfig {
            path: "runners.yaml".into(),
            runners: vec![("cluster:sim-h100".into(), vec!["sim-h100_0".into()])],
        }
    }

    /// The configs' tp2 agentic row with conc 8, as generate_sweep_configs
    /// prints it.
    fn row() -> MatrixEntry {
        let text = r#"{"image": "servebench/sim_server:latest", "model": "servebench-sim/dense-8b", "model-prefix": "dense8b", "precision": "bf16", "framework": "sim", "runner": "cluster:sim-h100", "tp": 2, "pp": 1, "dcp-size": 1, "pcp-size": 1, "ep": 1, "dp-attn": false, "spec-decoding": "none", "conc": 8, "kv-offloading": "dram", "total-cpu-dram-gb": 261, "duration": 3600, "exp-name": "dense8b_tp2_conc8_kvdram-lmcache", "scenario-type": "agentic-coding", "kv-offload-backend": {"name": "lmcache"}}"#;
        match servebench_pyjson::from_str(text) {
            Ok(servebench_pyjson::Value::Dict(d)) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_row_becomes_a_job_and_the_inferencex_argv() {
        let j = job(0, &row(), &runners()).unwrap();
        assert_eq!(
            j.name,
            "dense8b_tp2_conc8_kvdram-lmcache_bf16_sim_tp2-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc8_sim-h100_0"
        );
        assert_eq!(
            (j.conc, j.gpus(), j.runner_type.as_str()),
            (8, 2, "cluster:sim-h100")
        );
        assert_eq!(j.kv_offload_backend.as_deref(), Some("lmcache"));
        let s = AgenticSettings::local_default();
        let args = replay_args(
            &j,
            "http://127.0.0.1:9",
            "tok",
            Path::new("/r/aiperf_artifacts"),
            &s,
        );
        let line = args.join(" ");
        assert!(line.starts_with(
            "profile --scenario inferencex-agentx-mvp --url http://127.0.0.1:9 --endpoint /v1/chat/completions --endpoint-type chat --streaming --model servebench-sim/dense-8b --tokenizer tok --concurrency 8 --benchmark-duration 20 "
        ), "{line}");
        for part in [
            "--random-seed 42",
            "--trajectory-start-min-ratio 0.25 --trajectory-start-max-ratio 0.75",
            "--warmup-requests-per-lane 1",
            "--use-server-token-count",
            "--server-metrics http://127.0.0.1:9/metrics --output-artifact-dir /r/aiperf_artifacts",
            "--unsafe-override",
            "--custom-dataset-type weka_trace --input-file ../shared/reference/agentx/traces/medium.jsonl",
        ] {
            assert!(line.contains(part), "{part}: {line}");
        }
        assert!(!line.contains("--public-dataset"));
        let env = replay_env(&j, &s);
        for kv in [
            ("KV_OFFLOADING", "dram"),
            ("KV_OFFLOAD_BACKEND", "lmcache"),
            ("TOTAL_CPU_DRAM_GB", "261"),
            ("CONC", "8"),
            ("TP", "2"),
            ("SCENARIO_TYPE", "agentic-coding"),
            ("AIPERF_DATASET_WEKA_LIVE_ASSISTANT_RESPONSES", "0"),
        ] {
            assert!(env.contains(&(kv.0, kv.1.to_owned())), "{kv:?}");
        }
    }

    #[test]
    fn bad_rows_are_named() {
        let mut r = row();
        r.insert("pp", servebench_pyjson::Value::Int(2));
        let err = job(3, &r, &runners()).unwrap_err().to_string();
        assert!(err.contains("entry 3") && err.contains("pp"), "{err}");
        let mut r = row();
        r.insert("conc", servebench_pyjson::Value::Int(0));
        assert!(job(0, &r, &runners()).is_err());
    }
}
