//! The `profile` subcommand's options (SPEC §3.1, §3.4) as one clap-derive
//! struct, the environment the replay reads (§3.2), and the scenario locks
//! of `inferencex-agentx-mvp` (§2.1): [`ProfileOptions::resolve`] turns the
//! flags and the environment into a checked [`Resolved`] setting, with a
//! violation an error unless `--unsafe-override` (then a warning and the
//! invalid reason `unsafe_override`).
//!
//! Declared here, not in the binary, so that the sweep can build them; the
//! `agentic_replay` binary parses them (also when called as `aiperf`).

use crate::AgentxError;
use std::path::PathBuf;

/// The only scenario this replay implements.
pub const SCENARIO: &str = "inferencex-agentx-mvp";
/// The profiling duration when `--benchmark-duration` is not given (§2.1).
pub const DEFAULT_DURATION_S: f64 = 1800.0;
/// The shortest duration the scenario allows.
pub const MIN_DURATION_S: f64 = 900.0;
/// The global idle cap the scenario forces (§2.4).
pub const SYSTEM_IDLE_GAP_CAP_S: f64 = 10.0;
/// The default live failure threshold (`AIPERF_LIVE_FAILED_REQUEST_THRESHOLD`).
pub const DEFAULT_FAILED_REQUEST_THRESHOLD: f64 = 0.10;
/// The loader names accepted by the scenario (`--public-dataset`, §3.3):
/// the trace loader's table.
pub const PUBLIC_DATASETS: &[(&str, &str)] = &crate::trace::HF_DATASETS;

/// `aiperf profile` as InferenceX calls it (SPEC §3.1). Flags marked
/// "accepted, ignored" exist so that the exact InferenceX command line
/// parses; they change nothing.
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(about = "Replay agentic-coding traces against an OpenAI-compatible chat server")]
pub struct ProfileOptions {
    /// The benchmark scenario; only `inferencex-agentx-mvp` is implemented
    /// (and assumed when absent).
    #[arg(long, default_value = SCENARIO, help_heading = "Scenario")]
    pub scenario: String,
    /// Scenario violations become warnings, and the run is stamped
    /// `submission_valid: false` (reason `unsafe_override`).
    #[arg(long, help_heading = "Scenario")]
    pub unsafe_override: bool,

    /// Server base URL.
    #[arg(
        long,
        default_value = "http://localhost:8000",
        help_heading = "Endpoint"
    )]
    pub url: String,
    /// API path appended to --url.
    #[arg(
        long,
        default_value = "/v1/chat/completions",
        help_heading = "Endpoint"
    )]
    pub endpoint: String,
    /// Only `chat` is supported.
    #[arg(long, default_value = "chat", help_heading = "Endpoint")]
    pub endpoint_type: String,
    /// Stream responses (required by the scenario; always on).
    #[arg(long, help_heading = "Endpoint")]
    pub streaming: bool,
    /// Model name(s) sent; several map the trace's models in order of
    /// first appearance (SPEC §2.9). Comma lists are split.
    #[arg(long, short = 'm', visible_alias = "model-names", num_args = 1.., value_delimiter = ',', required = true, help_heading = "Endpoint")]
    pub model: Vec<String>,
    /// Extra body keys, `key:value` (value parsed as JSON when it is
    /// JSON, else a string), or one JSON object; repeatable.
    #[arg(long, num_args = 1.., action = clap::ArgAction::Append, help_heading = "Endpoint")]
    pub extra_inputs: Vec<String>,
    /// Read ISL/OSL from the server's final `usage` chunk
    /// (`stream_options.include_usage`). Always on here: the replay does
    /// not count tokens itself.
    #[arg(long, help_heading = "Endpoint")]
    pub use_server_token_count: bool,
    /// Longest wait for a response head or the next bytes of a stream,
    /// seconds.
    #[arg(long, default_value_t = 21600.0, help_heading = "Endpoint")]
    pub request_timeout_seconds: f64,

    /// Tokenizer: a local directory or file, or a Hugging Face repo id.
    #[arg(long, help_heading = "Prompts")]
    pub tokenizer: Option<String>,
    /// Accepted, ignored (tokenizers here never run remote code).
    #[arg(long, help_heading = "Prompts")]
    pub tokenizer_trust_remote_code: bool,

    /// Number of lanes: session trees replayed at once.
    #[arg(long, default_value_t = 1, help_heading = "Load")]
    pub concurrency: u32,
    /// Profiling phase length, seconds (>= 900 for the scenario; default
    /// 1800).
    #[arg(long, help_heading = "Load")]
    pub benchmark_duration: Option<f64>,
    /// Seed for trajectory starts, prompts and markers (a random one is
    /// picked and logged if absent).
    #[arg(long, help_heading = "Load")]
    pub random_seed: Option<u64>,
    /// Stop early (non-zero exit) once the live error ratio exceeds this
    /// (default `AIPERF_LIVE_FAILED_REQUEST_THRESHOLD` or 0.10).
    #[arg(long, help_heading = "Load")]
    pub failed_request_threshold: Option<f64>,
    /// Trajectory start window, as a fraction of each trace's recorded
    /// duration.
    #[arg(long, default_value_t = 0.0, help_heading = "Load")]
    pub trajectory_start_min_ratio: f64,
    #[arg(long, default_value_t = 1.0, help_heading = "Load")]
    pub trajectory_start_max_ratio: f64,
    /// Extra one-token advances per lane after the t* primers (fork flag).
    #[arg(long, default_value_t = 0, help_heading = "Load")]
    pub warmup_requests_per_lane: u32,
    /// Per-tree idle cap, seconds: a tree idle longer has its pending
    /// timers advanced.
    #[arg(long, help_heading = "Load")]
    pub trace_idle_gap_cap_seconds: Option<f64>,
    /// Global idle cap, seconds (the scenario sets 10).
    #[arg(long, help_heading = "Load")]
    pub system_idle_gap_cap_seconds: Option<f64>,
    /// Longest wait for the warm-up phase, seconds.
    #[arg(long, default_value_t = 1800.0, help_heading = "Load")]
    pub warmup_grace_period: f64,
    /// Fire all warm-up primers at once instead of spreading them.
    #[arg(long, help_heading = "Load")]
    pub burst_phase_starts: bool,
    /// Forbidden by the scenario (replay without recorded delays).
    #[arg(long, help_heading = "Load")]
    pub ignore_trace_delays: bool,
    /// Forbidden by the scenario.
    #[arg(long, help_heading = "Load")]
    pub inter_turn_delay_cap_seconds: Option<f64>,
    /// Forbidden by the scenario (client-side input truncation).
    #[arg(long, help_heading = "Load")]
    pub synthesis_max_isl: Option<u64>,
    /// Cache-bust target; only `first_turn_prefix`.
    #[arg(long, default_value = "first_turn_prefix", help_heading = "Load")]
    pub cache_bust: String,

    /// Named trace corpus (a `semianalysis_cc_traces_weka*` alias).
    #[arg(long, help_heading = "Dataset")]
    pub public_dataset: Option<String>,
    /// Local traces: only `weka_trace` (with --input-file).
    #[arg(long, help_heading = "Dataset")]
    pub custom_dataset_type: Option<String>,
    /// A trace file (`.json`, `.jsonl`) or a directory of them.
    #[arg(long, help_heading = "Dataset")]
    pub input_file: Option<PathBuf>,
    /// A Hugging Face dataset repo holding `traces.jsonl`.
    #[arg(long, help_heading = "Dataset")]
    pub hf_weka_dataset: Option<String>,
    /// Drop traces whose peak `in + out` exceeds this many tokens.
    #[arg(long, help_heading = "Dataset")]
    pub max_context_length: Option<u64>,
    /// At most this many traces (a ceiling, not a target).
    #[arg(long, help_heading = "Dataset")]
    pub num_dataset_entries: Option<usize>,

    /// More Prometheus endpoints to scrape besides the --url /metrics one.
    #[arg(long, num_args = 1.., help_heading = "Server metrics")]
    pub server_metrics: Vec<String>,
    /// Do not scrape server metrics.
    #[arg(long, help_heading = "Server metrics")]
    pub no_server_metrics: bool,
    /// Time-slice length of the server-metrics export, seconds.
    #[arg(long, help_heading = "Server metrics")]
    pub slice_duration: Option<f64>,
    /// Accepted, ignored (JSON and CSV are written).
    #[arg(long, num_args = 1.., help_heading = "Server metrics")]
    pub server_metrics_formats: Vec<String>,

    /// Where the artifact files go.
    #[arg(long, default_value = "artifacts", help_heading = "Output")]
    pub output_artifact_dir: PathBuf,
    /// Console statistics cadence, seconds.
    #[arg(long, default_value_t = 30.0, help_heading = "Output")]
    pub stats_interval: f64,
    /// Accepted; `raw` is not written.
    #[arg(long, help_heading = "Output")]
    pub export_level: Option<String>,
    /// Accepted, ignored (no GPU telemetry here).
    #[arg(long, help_heading = "Output")]
    pub no_gpu_telemetry: bool,
    /// Accepted, ignored (Dynamo session control is not implemented).
    #[arg(long, help_heading = "Routing")]
    pub use_dynamo_conv_aware_routing: bool,
    /// Accepted, ignored.
    #[arg(long, help_heading = "Routing")]
    pub dynamo_session_timeout_seconds: Option<f64>,
}

/// The environment the replay reads (SPEC §3.2), read once by the binary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvSettings {
    /// `AIPERF_HTTP_X_SESSION_ID_FROM_CORRELATION_ID`: send `X-Session-ID`.
    pub x_session_id: bool,
    /// `AIPERF_HTTP_X_SMG_ROUTING_KEY_FROM_CORRELATION_ID`.
    pub x_smg_routing_key: bool,
    /// `AIPERF_HTTP_X_DYNAMO_SESSION_ID_FROM_CORRELATION_ID`.
    pub x_dynamo_session_id: bool,
    /// `AIPERF_SERVER_METRICS_COLLECTION_INTERVAL`, seconds.
    pub server_metrics_interval: Option<f64>,
    /// `AIPERF_LIVE_FAILED_REQUEST_THRESHOLD`.
    pub live_failed_request_threshold: Option<f64>,
    /// `AIPERF_DATASET_WEKA_LIVE_ASSISTANT_RESPONSES` was truthy (not
    /// implemented: a warning).
    pub live_assistant_responses: bool,
}

impl EnvSettings {
    /// Reads the variables through `env` (the binary passes `std::env::var`).
    pub fn read(env: &dyn Fn(&str) -> Option<String>) -> Result<EnvSettings, AgentxError> {
        let flag = |k: &str| {
            env(k).is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
        };
        let number = |k: &str| -> Result<Option<f64>, AgentxError> {
            match env(k) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .map(Some)
                    .ok_or_else(|| {
                        AgentxError::Options(format!("{k}={v:?}: expected a non-negative number"))
                    }),
            }
        };
        Ok(EnvSettings {
            x_session_id: flag("AIPERF_HTTP_X_SESSION_ID_FROM_CORRELATION_ID"),
            x_smg_routing_key: flag("AIPERF_HTTP_X_SMG_ROUTING_KEY_FROM_CORRELATION_ID"),
            x_dynamo_session_id: flag("AIPERF_HTTP_X_DYNAMO_SESSION_ID_FROM_CORRELATION_ID"),
            server_metrics_interval: number("AIPERF_SERVER_METRICS_COLLECTION_INTERVAL")?,
            live_failed_request_threshold: number("AIPERF_LIVE_FAILED_REQUEST_THRESHOLD")?,
            live_assistant_responses: flag("AIPERF_DATASET_WEKA_LIVE_ASSISTANT_RESPONSES"),
        })
    }
}

/// Where the traces come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceSource {
    /// `--custom-dataset-type weka_trace --input-file PATH`.
    File(PathBuf),
    /// A Hugging Face dataset repo (`--public-dataset` alias or
    /// `--hf-weka-dataset`).
    HfDataset(String),
}

/// The checked setting of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// `--url` + `--endpoint`.
    pub chat_url: String,
    /// `--url` + `/metrics` (auto-discovered endpoint) then --server-metrics.
    pub metrics_urls: Vec<String>,
    pub source: TraceSource,
    pub duration_s: f64,
    pub seed: u64,
    /// `true` when no --random-seed was given and one was drawn.
    pub seed_drawn: bool,
    pub failed_request_threshold: f64,
    pub system_idle_gap_cap_s: f64,
    pub trace_idle_gap_cap_s: Option<f64>,
    /// Body keys merged after the scenario's own (`ignore_eos` forced true).
    pub extra_inputs: serde_json::Map<String, serde_json::Value>,
    /// Scenario violations turned into warnings, and other notes.
    pub warnings: Vec<String>,
    /// `submission_invalid_reasons` so far (`unsafe_override`).
    pub invalid_reasons: Vec<String>,
}

impl ProfileOptions {
    /// Checks the flags against the scenario (§2.1) and resolves defaults.
    /// `drawn_seed` is used when `--random-seed` is absent.
    pub fn resolve(&self, env: &EnvSettings, drawn_seed: u64) -> Result<Resolved, AgentxError> {
        let opt = |m: String| AgentxError::Options(m);
        if self.scenario != SCENARIO {
            return Err(opt(format!(
                "--scenario {}: only {SCENARIO} is implemented",
                self.scenario
            )));
        }
        if self.endpoint_type != "chat" {
            return Err(opt(format!(
                "--endpoint-type {}: only chat is supported",
                self.endpoint_type
            )));
        }
        if self.concurrency == 0 {
            return Err(opt("--concurrency must be at least 1".into()));
        }
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(opt(format!("{name} must be a positive number, got {v}")))
            }
        };
        positive("--request-timeout-seconds", self.request_timeout_seconds)?;
        positive("--warmup-grace-period", self.warmup_grace_period)?;
        positive("--stats-interval", self.stats_interval)?;
        let (lo, hi) = (
            self.trajectory_start_min_ratio,
            self.trajectory_start_max_ratio,
        );
        if !(0.0..=1.0).contains(&lo) || !(0.0..=1.0).contains(&hi) || lo > hi {
            return Err(opt(format!(
                "--trajectory-start-min-ratio {lo} / --trajectory-start-max-ratio {hi}: need 0 <= min <= max <= 1"
            )));
        }

        let mut violations = Vec::new();
        let duration_s = match self.benchmark_duration {
            None => DEFAULT_DURATION_S,
            Some(d) => {
                let d = positive("--benchmark-duration", d)?;
                if d < MIN_DURATION_S {
                    violations.push(format!(
                        "--benchmark-duration: got {d}, the scenario requires >= {MIN_DURATION_S}"
                    ));
                }
                d
            }
        };
        if self.ignore_trace_delays {
            violations.push("--ignore-trace-delays is forbidden by the scenario".into());
        }
        if self.inter_turn_delay_cap_seconds.is_some() {
            violations.push("--inter-turn-delay-cap-seconds is forbidden by the scenario".into());
        }
        if self.synthesis_max_isl.is_some() {
            violations.push("--synthesis-max-isl is forbidden by the scenario".into());
        }
        if self.cache_bust != "first_turn_prefix" {
            violations.push(format!(
                "--cache-bust: got {}, required first_turn_prefix",
                self.cache_bust
            ));
        }
        let system_idle_gap_cap_s = match self.system_idle_gap_cap_seconds {
            None => SYSTEM_IDLE_GAP_CAP_S,
            Some(v) => {
                let v = positive("--system-idle-gap-cap-seconds", v)?;
                if v != SYSTEM_IDLE_GAP_CAP_S {
                    violations.push(format!(
                        "--system-idle-gap-cap-seconds: got {v}, required {SYSTEM_IDLE_GAP_CAP_S}"
                    ));
                }
                v
            }
        };
        let trace_idle_gap_cap_s = self
            .trace_idle_gap_cap_seconds
            .map(|v| positive("--trace-idle-gap-cap-seconds", v))
            .transpose()?;
        let source = self.source()?;
        if let TraceSource::HfDataset(repo) = &source {
            if self.hf_weka_dataset.is_some()
                && !repo.starts_with("semianalysisai/cc-traces-weka-062126")
            {
                violations.push(format!(
                    "--hf-weka-dataset {repo}: the scenario allows only the 062126 corpus"
                ));
            }
        }
        let mut extra_inputs = serde_json::Map::new();
        for item in &self.extra_inputs {
            parse_extra_input(item, &mut extra_inputs)?;
        }
        match extra_inputs.get("ignore_eos") {
            None | Some(serde_json::Value::Bool(true)) => {}
            Some(other) => violations.push(format!(
                "--extra-inputs ignore_eos:{other}: the scenario requires ignore_eos true"
            )),
        }
        extra_inputs.remove("ignore_eos");
        let failed_request_threshold = match self
            .failed_request_threshold
            .or(env.live_failed_request_threshold)
        {
            None => DEFAULT_FAILED_REQUEST_THRESHOLD,
            Some(v) if v.is_finite() && v >= 0.0 => v,
            Some(v) => {
                return Err(opt(format!(
                    "--failed-request-threshold must be a number >= 0, got {v}"
                )))
            }
        };

        let mut warnings = Vec::new();
        let mut invalid_reasons = Vec::new();
        if !violations.is_empty() {
            if !self.unsafe_override {
                return Err(opt(format!(
                    "scenario {SCENARIO} violated (pass --unsafe-override to run anyway, stamped invalid): {}",
                    violations.join("; ")
                )));
            }
            for v in violations {
                warnings.push(format!("Scenario violation (override active): {v}"));
            }
        }
        if self.unsafe_override {
            // aiperf stamps every --unsafe-override run invalid.
            invalid_reasons.push("unsafe_override".to_owned());
        }
        if env.live_assistant_responses {
            warnings.push(
                "AIPERF_DATASET_WEKA_LIVE_ASSISTANT_RESPONSES is set: live assistant mode is not implemented, pre-canned answers are replayed".into(),
            );
        }
        if self.export_level.as_deref() == Some("raw") {
            warnings.push(
                "--export-level raw: profile_export_raw.jsonl is not written (the other artifacts are)".into(),
            );
        }
        if self.use_dynamo_conv_aware_routing {
            warnings.push(
                "--use-dynamo-conv-aware-routing is accepted but not implemented (no nvext.session_control)".into(),
            );
        }
        let base = self.url.trim_end_matches('/');
        let endpoint = if self.endpoint.starts_with('/') {
            self.endpoint.clone()
        } else {
            format!("/{}", self.endpoint)
        };
        let mut metrics_urls = Vec::new();
        if !self.no_server_metrics {
            metrics_urls.push(format!("{base}/metrics"));
            for u in &self.server_metrics {
                if !metrics_urls.contains(u) {
                    metrics_urls.push(u.clone());
                }
            }
        }
        Ok(Resolved {
            chat_url: format!("{base}{endpoint}"),
            metrics_urls,
            source,
            duration_s,
            seed: self.random_seed.unwrap_or(drawn_seed),
            seed_drawn: self.random_seed.is_none(),
            failed_request_threshold,
            system_idle_gap_cap_s,
            trace_idle_gap_cap_s,
            extra_inputs,
            warnings,
            invalid_reasons,
        })
    }

    fn source(&self) -> Result<TraceSource, AgentxError> {
        let opt = |m: String| AgentxError::Options(m);
        match (
            &self.custom_dataset_type,
            &self.input_file,
            &self.public_dataset,
            &self.hf_weka_dataset,
        ) {
            (Some(kind), Some(path), None, None) => {
                if kind != "weka_trace" {
                    return Err(opt(format!(
                        "--custom-dataset-type {kind}: only weka_trace is supported"
                    )));
                }
                Ok(TraceSource::File(path.clone()))
            }
            (None, Some(path), None, None) => Ok(TraceSource::File(path.clone())),
            (None, None, Some(name), None) => PUBLIC_DATASETS
                .iter()
                .find(|(alias, _)| alias == name)
                .map(|(_, repo)| TraceSource::HfDataset((*repo).to_owned()))
                .ok_or_else(|| {
                    opt(format!(
                        "--public-dataset {name}: unknown loader (expected one of the semianalysis_cc_traces_weka* aliases)"
                    ))
                }),
            (None, None, None, Some(repo)) => Ok(TraceSource::HfDataset(repo.clone())),
            (Some(_), None, _, _) => Err(opt("--custom-dataset-type needs --input-file".into())),
            (None, None, None, None) => Err(opt(
                "no traces: give --public-dataset NAME, --hf-weka-dataset REPO or --custom-dataset-type weka_trace --input-file PATH".into(),
            )),
            _ => Err(opt(
                "give only one of --public-dataset, --hf-weka-dataset, --input-file".into(),
            )),
        }
    }
}

/// One `--extra-inputs` item: `key:value` or a JSON object.
fn parse_extra_input(
    item: &str,
    into: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), AgentxError> {
    let item = item.trim();
    if item.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(item).map_err(|e| {
            AgentxError::Options(format!("--extra-inputs {item}: invalid JSON: {e}"))
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(AgentxError::Options(format!(
                "--extra-inputs {item}: expected a JSON object"
            )));
        };
        into.extend(map);
        return Ok(());
    }
    let Some((key, value)) = item.split_once(':') else {
        return Err(AgentxError::Options(format!(
            "--extra-inputs {item}: expected key:value"
        )));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(AgentxError::Options(format!(
            "--extra-inputs {item}: empty key"
        )));
    }
    let value = value.trim();
    let parsed = serde_json::from_str::<serde_json::Value>(value)
        .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    into.insert(key.to_owned(), parsed);
    Ok(())
}

/// The `aiperf profile` command line of InferenceX's agentic-coding job
/// (SPEC §3.1), for the callers that run the replay (or aiperf itself) the
/// way the workflow does: the local sweep and `cargo xtask bench-agentx`.
/// The fixed flags are the workflow's; the optional ones are left out when
/// `None` or `false`.
#[derive(Debug, Clone)]
pub struct WorkflowCommand<'a> {
    pub url: &'a str,
    pub model: &'a str,
    pub tokenizer: &'a str,
    /// As the matrix gives it; the replay's parser checks it.
    pub concurrency: i64,
    pub duration_s: f64,
    pub warmup_grace_s: f64,
    /// `--warmup-requests-per-lane` (the workflow: 10; its fast mode: 1).
    pub warmup_requests_per_lane: Option<u32>,
    /// `--trace-idle-gap-cap-seconds 300`, `--num-dataset-entries 393` and
    /// `--server-metrics URL/metrics`, as the workflow passes them.
    pub workflow_extras: bool,
    pub artifacts: &'a std::path::Path,
    /// `--input-file`, read as `weka_trace`.
    pub traces: &'a std::path::Path,
    /// `--unsafe-override --burst-phase-starts`: shorter than the scenario's
    /// 900 s minimum, and the primers at once rather than over the ramp.
    pub local_overrides: bool,
}

impl WorkflowCommand<'_> {
    /// The arguments after the program name, starting with `profile`.
    pub fn argv(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let mut push = |args: &[&str]| v.extend(args.iter().map(|a| (*a).to_owned()));
        push(&["profile", "--scenario", SCENARIO, "--url", self.url]);
        push(&[
            "--endpoint",
            "/v1/chat/completions",
            "--endpoint-type",
            "chat",
        ]);
        push(&[
            "--streaming",
            "--model",
            self.model,
            "--tokenizer",
            self.tokenizer,
        ]);
        push(&["--concurrency", &self.concurrency.to_string()]);
        push(&["--benchmark-duration", &self.duration_s.to_string()]);
        push(&["--stats-interval", "30", "--random-seed", "42"]);
        push(&["--failed-request-threshold", "0.10"]);
        push(&["--trajectory-start-min-ratio", "0.25"]);
        push(&["--trajectory-start-max-ratio", "0.75"]);
        if let Some(n) = self.warmup_requests_per_lane {
            push(&["--warmup-requests-per-lane", &n.to_string()]);
        }
        if self.workflow_extras {
            push(&["--trace-idle-gap-cap-seconds", "300"]);
        }
        push(&["--warmup-grace-period", &self.warmup_grace_s.to_string()]);
        push(&["--use-server-token-count", "--no-gpu-telemetry"]);
        push(&["--tokenizer-trust-remote-code"]);
        if self.workflow_extras {
            push(&["--num-dataset-entries", "393"]);
        }
        push(&["--slice-duration", "1.0"]);
        if self.workflow_extras {
            push(&["--server-metrics", &format!("{}/metrics", self.url)]);
        }
        let artifacts = self.artifacts.display().to_string();
        push(&["--output-artifact-dir", &artifacts]);
        if self.local_overrides {
            push(&["--unsafe-override", "--burst-phase-starts"]);
        }
        let traces = self.traces.display().to_string();
        push(&[
            "--custom-dataset-type",
            "weka_trace",
            "--input-file",
            &traces,
        ]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_command_parses_and_resolves() {
        let artifacts = std::path::Path::new("/r/aiperf_artifacts");
        let traces = std::path::Path::new("/t/medium.jsonl");
        let command = WorkflowCommand {
            url: "http://127.0.0.1:9",
            model: "m",
            tokenizer: "tok",
            concurrency: 8,
            duration_s: 20.0,
            warmup_grace_s: 120.0,
            warmup_requests_per_lane: Some(1),
            workflow_extras: true,
            artifacts,
            traces,
            local_overrides: true,
        };
        let argv = command.argv();
        let line = argv.join(" ");
        assert!(
            line.starts_with("profile --scenario inferencex-agentx-mvp --url http://127.0.0.1:9 "),
            "{line}"
        );
        for part in [
            "--warmup-requests-per-lane 1 --trace-idle-gap-cap-seconds 300 --warmup-grace-period 120",
            "--num-dataset-entries 393",
            "--server-metrics http://127.0.0.1:9/metrics",
            "--output-artifact-dir /r/aiperf_artifacts --unsafe-override --burst-phase-starts",
            "--custom-dataset-type weka_trace --input-file /t/medium.jsonl",
        ] {
            assert!(line.contains(part), "{part}: {line}");
        }
        // What the replay's own parser makes of it.
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            command: Sub,
        }
        #[derive(clap::Subcommand)]
        enum Sub {
            Profile(ProfileOptions),
        }
        let cli =
            <Cli as clap::Parser>::try_parse_from(std::iter::once("aiperf".to_owned()).chain(argv))
                .expect("the workflow command parses");
        let Sub::Profile(options) = cli.command;
        assert_eq!(options.concurrency, 8);
        // Without the optional parts only the fixed flags are left.
        let bare = WorkflowCommand {
            warmup_requests_per_lane: None,
            workflow_extras: false,
            local_overrides: false,
            ..command
        };
        let line = bare.argv().join(" ");
        for gone in [
            "--warmup-requests-per-lane",
            "--server-metrics",
            "--num-dataset-entries",
            "--trace-idle-gap-cap-seconds",
            "--unsafe-override",
        ] {
            assert!(!line.contains(gone), "{gone}: {line}");
        }
    }
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Cmd {
        Profile(ProfileOptions),
    }

    fn parse(line: &str) -> Result<ProfileOptions, clap::Error> {
        let argv = std::iter::once("aiperf").chain(line.split_whitespace());
        Cli::try_parse_from(argv).map(|c| match c.cmd {
            Cmd::Profile(p) => p,
        })
    }

    /// The command line `build_replay_cmd` builds (SPEC §3.1), every flag.
    const INFERENCEX: &str = "profile --scenario inferencex-agentx-mvp --url http://localhost:8888 \
        --endpoint /v1/chat/completions --endpoint-type chat --streaming --model m --tokenizer org/m \
        --concurrency 4 --benchmark-duration 1800 --stats-interval 30 --random-seed 42 \
        --failed-request-threshold 0.10 --trajectory-start-min-ratio 0.25 --trajectory-start-max-ratio 0.75 \
        --warmup-requests-per-lane 10 --trace-idle-gap-cap-seconds 300 --warmup-grace-period 1800 \
        --use-server-token-count --extra-inputs temperature:0.5 top_p:1 --use-dynamo-conv-aware-routing \
        --dynamo-session-timeout-seconds 3600 --no-gpu-telemetry --tokenizer-trust-remote-code \
        --max-context-length 131072 --num-dataset-entries 393 --slice-duration 1.0 \
        --server-metrics http://a:1/metrics http://b:2/metrics --output-artifact-dir /r/aiperf_artifacts \
        --public-dataset semianalysis_cc_traces_weka_062126";

    #[test]
    fn inferencex_argv() {
        let p = parse(INFERENCEX).unwrap();
        assert_eq!(p.concurrency, 4);
        assert_eq!(p.warmup_requests_per_lane, 10);
        assert_eq!(p.server_metrics.len(), 2);
        assert_eq!(p.extra_inputs, ["temperature:0.5", "top_p:1"]);
        let r = p.resolve(&EnvSettings::default(), 7).unwrap();
        assert_eq!(r.chat_url, "http://localhost:8888/v1/chat/completions");
        assert_eq!(
            r.metrics_urls,
            [
                "http://localhost:8888/metrics",
                "http://a:1/metrics",
                "http://b:2/metrics"
            ]
        );
        assert_eq!(r.seed, 42);
        assert_eq!(r.trace_idle_gap_cap_s, Some(300.0));
        assert!(r.invalid_reasons.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.extra_inputs["temperature"], serde_json::json!(0.5));
        assert_eq!(
            r.source,
            TraceSource::HfDataset("semianalysisai/cc-traces-weka-062126".into())
        );
    }

    #[test]
    fn scenario_locks() {
        let short = INFERENCEX.replace("--benchmark-duration 1800", "--benchmark-duration 20");
        let err = parse(&short)
            .unwrap()
            .resolve(&EnvSettings::default(), 0)
            .unwrap_err();
        assert!(err.to_string().contains("--benchmark-duration"), "{err}");
        let r = parse(&format!("{short} --unsafe-override"))
            .unwrap()
            .resolve(&EnvSettings::default(), 0)
            .unwrap();
        assert_eq!(r.invalid_reasons, ["unsafe_override"]);
        assert!(r.warnings[0].contains("override active"));
        assert_eq!(r.duration_s, 20.0);
        for bad in [
            "--ignore-trace-delays",
            "--inter-turn-delay-cap-seconds 5",
            "--synthesis-max-isl 100",
            "--cache-bust none",
            "--system-idle-gap-cap-seconds 3",
            "--extra-inputs ignore_eos:false",
        ] {
            let e = parse(&format!("{INFERENCEX} {bad}"))
                .unwrap()
                .resolve(&EnvSettings::default(), 0);
            assert!(e.is_err(), "{bad}");
        }
        let file = INFERENCEX.replace(
            "--public-dataset semianalysis_cc_traces_weka_062126",
            "--custom-dataset-type weka_trace --input-file /t",
        );
        let r = parse(&file)
            .unwrap()
            .resolve(&EnvSettings::default(), 9)
            .unwrap();
        assert_eq!(r.source, TraceSource::File("/t".into()));
        let unknown = INFERENCEX.replace("weka_062126", "weka_999999");
        assert!(parse(&unknown)
            .unwrap()
            .resolve(&EnvSettings::default(), 0)
            .is_err());
        let no_seed = INFERENCEX.replace("--random-seed 42", "");
        let r = parse(&no_seed)
            .unwrap()
            .resolve(&EnvSettings::default(), 9)
            .unwrap();
        assert_eq!((r.seed, r.seed_drawn), (9, true));
    }

    #[test]
    fn env_and_extra_inputs() {
        let env = EnvSettings::read(&|k| match k {
            "AIPERF_HTTP_X_SESSION_ID_FROM_CORRELATION_ID" => Some("1".into()),
            "AIPERF_SERVER_METRICS_COLLECTION_INTERVAL" => Some("0.5".into()),
            _ => None,
        })
        .unwrap();
        assert!(env.x_session_id && !env.x_dynamo_session_id);
        assert_eq!(env.server_metrics_interval, Some(0.5));
        assert!(EnvSettings::read(&|_| Some("x".into())).is_err());
        let mut m = serde_json::Map::new();
        parse_extra_input("a:b", &mut m).unwrap();
        parse_extra_input("n:3", &mut m).unwrap();
        parse_extra_input(r#"{"c": [1]}"#, &mut m).unwrap();
        assert_eq!(
            serde_json::Value::Object(m),
            serde_json::json!({"a":"b","n":3,"c":[1]})
        );
        assert!(parse_extra_input("nocolon", &mut serde_json::Map::new()).is_err());
    }
}
