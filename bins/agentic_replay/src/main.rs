//! `agentic_replay`: replays agentic-coding traces (AgentX) against an
//! OpenAI-compatible chat server, a drop-in for `aiperf profile --scenario
//! inferencex-agentx-mvp` (SPEC-agentx §3). Called as `agentic_replay
//! profile ...` or through a link named `aiperf` with the same argv.
//!
//! Thin: parse, read the environment once, load and plan the traces,
//! synthesise prompts, run the replay (`servebench_agentx::replay`) with the
//! server-metrics scraper beside it, write the artifacts and the audit.
//! Exit status: 0 ok; 1 an error, a warm-up failure or the live failure
//! threshold; 2 usage; 130 interrupted (the artifacts are still written).

use clap::Parser;
use servebench_agentx::audit::{server_prefix_counts, Audit};
use servebench_agentx::options::{EnvSettings, ProfileOptions, TraceSource, SCENARIO};
use servebench_agentx::plan::{self, TreePlan};
use servebench_agentx::record::{Phase, RequestRecord};
use servebench_agentx::replay::{self, EscapeCache, HeaderOptions, ReplayConfig, TreePrompts};
use servebench_agentx::scrape::{self, ScrapeOptions, Scraper};
use servebench_agentx::synth::{StreamShape, Synthesizer};
use servebench_agentx::trace::{self, Entry, Request, Trace};
use servebench_agentx::{artifacts, AgentxError};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `aiperf_version` in the artifacts, and the `User-Agent` product.
const VERSION: &str = concat!("servebench-", env!("CARGO_PKG_VERSION"));
const INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Replay agentic-coding traces (AgentX) against an OpenAI-compatible chat server: a drop-in for `aiperf profile --scenario inferencex-agentx-mvp`",
    after_help = "Also callable through a link named `aiperf` with the same arguments.\n\
        Environment: AIPERF_HTTP_X_SESSION_ID_FROM_CORRELATION_ID, AIPERF_HTTP_X_SMG_ROUTING_KEY_FROM_CORRELATION_ID,\n\
        AIPERF_HTTP_X_DYNAMO_SESSION_ID_FROM_CORRELATION_ID, AIPERF_SERVER_METRICS_COLLECTION_INTERVAL,\n\
        AIPERF_LIVE_FAILED_REQUEST_THRESHOLD, HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE / HF_ENDPOINT / HF_TOKEN.\n\
        Exit status: 0 ok; 1 error, warm-up failure or failure threshold; 2 usage; 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the benchmark (the only subcommand).
    Profile(Box<ProfileOptions>),
}

fn env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let name = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map_or("agentic_replay".to_owned(), |n| {
            n.to_string_lossy().into_owned()
        });
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let Command::Profile(opts) = cli.command;
    let command_line = argv
        .iter()
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    match profile(&opts, &command_line) {
        Ok(code) => code,
        Err(e) => {
            say(&format!(
                "{name}: error: {}",
                servebench_cli::error_chain(&e)
            ));
            ExitCode::FAILURE
        }
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn fresh_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ (u64::from(std::process::id()) << 40);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The request a turn of `tree` came from.
fn request_of<'a>(trace: &'a Trace, turn: &plan::TurnPlan) -> Option<&'a Request> {
    match (trace.entries.get(turn.outer_idx as usize)?, turn.inner_idx) {
        (Entry::Request(r), None) => Some(r),
        (Entry::Subagent(s), Some(i)) => s.requests.get(i as usize),
        _ => None,
    }
}

fn prompts_for(
    synth: &Synthesizer,
    trees: &[Arc<TreePlan>],
    traces: &HashMap<&str, &Trace>,
) -> Result<Vec<TreePrompts>, AgentxError> {
    let mut shapes = Vec::new();
    for tree in trees {
        let trace = traces
            .get(tree.trace_id.as_str())
            .ok_or_else(|| AgentxError::Run(format!("trace {} vanished", tree.trace_id)))?;
        for s in &tree.streams {
            let turns = s
                .turns
                .iter()
                .map(|t| request_of(trace, t))
                .collect::<Option<Vec<&Request>>>()
                .ok_or_else(|| {
                    AgentxError::Run(format!("{}: a turn has no request", s.conversation_id))
                })?;
            shapes.push(StreamShape {
                trace_id: &tree.trace_id,
                conversation_id: &s.conversation_id,
                prefix_tokens: s.prefix_tokens,
                block_size: tree.block_size,
                turns,
            });
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut streams = synth.streams(&shapes, threads)?.into_iter();
    let mut cache = EscapeCache::new();
    let mut out = Vec::with_capacity(trees.len());
    for tree in trees {
        let mine: Vec<_> = streams.by_ref().take(tree.streams.len()).collect();
        out.push(TreePrompts::from_messages(tree, &mine, &mut cache)?);
    }
    Ok(out)
}

fn profile(opts: &ProfileOptions, command_line: &str) -> Result<ExitCode, AgentxError> {
    let env_settings = EnvSettings::read(&env)?;
    let drawn = fresh_u64() % 1_000_000_000;
    let resolved = opts.resolve(&env_settings, drawn)?;
    for w in &resolved.warnings {
        say(&format!("WARNING: {w}"));
    }
    if resolved.seed_drawn {
        say(&format!("no --random-seed: using {}", resolved.seed));
    }
    let benchmark_id = format!("{:012x}", fresh_u64() & 0xFFFF_FFFF_FFFF);

    let started = std::time::Instant::now();
    let traces = match &resolved.source {
        TraceSource::File(p) => trace::load_path(p)?,
        TraceSource::HfDataset(repo) => trace::load_hf_dataset(repo, &env)?,
    };
    let (traces, report) = trace::select(traces, opts.max_context_length, opts.num_dataset_entries);
    say(&format!(
        "weka trace selection: loaded={} rejected_by_maxctx={} over_ceiling={} selected={}",
        report.loaded, report.rejected_by_maxctx, report.over_ceiling, report.selected
    ));
    let plans: Vec<TreePlan> = traces.iter().filter_map(plan::build).collect();
    let dropped: u32 = plans.iter().map(|p| p.dropped_subagents).sum();
    if dropped > 0 {
        say(&format!(
            "{dropped} subagent entries without a preceding parent request dropped"
        ));
    }
    let cfg = ReplayConfig {
        concurrency: opts.concurrency as usize,
        duration_s: resolved.duration_s,
        warmup_per_lane: opts.warmup_requests_per_lane,
        system_idle_cap_s: resolved.system_idle_gap_cap_s,
        trace_idle_cap_s: resolved.trace_idle_gap_cap_s,
        burst: opts.burst_phase_starts,
        warmup_grace_s: opts.warmup_grace_period,
        min_ratio: opts.trajectory_start_min_ratio,
        max_ratio: opts.trajectory_start_max_ratio,
        seed: resolved.seed,
        benchmark_id: benchmark_id.clone(),
        failed_request_threshold: resolved.failed_request_threshold,
        models: opts.model.clone(),
        extra_inputs: resolved.extra_inputs.clone(),
        headers: HeaderOptions {
            x_session_id: env_settings.x_session_id,
            x_smg_routing_key: env_settings.x_smg_routing_key,
            x_dynamo_session_id: env_settings.x_dynamo_session_id,
        },
        user_agent: format!("aiperf/{VERSION}"),
        stats_interval_s: opts.stats_interval,
    };
    let prepared = replay::prepare(plans, &cfg)?;
    if !prepared.unusable.is_empty() {
        say(&format!(
            "{} traces not usable (nothing left to profile after t*)",
            prepared.unusable.len()
        ));
    }

    let tokenizer_name = opts
        .tokenizer
        .clone()
        .or_else(|| opts.model.first().cloned())
        .unwrap_or_default();
    let tokenizer = servebench_prompts::Tokenizer::load(&tokenizer_name, &env)?;
    let synth = Synthesizer::new(Arc::new(tokenizer), resolved.seed)?;
    let by_id: HashMap<&str, &Trace> = traces.iter().map(|t| (t.id.as_str(), t)).collect();
    let prompts = prompts_for(&synth, &prepared.trees, &by_id)?;
    say(&format!(
        "{} usable traces, {} lanes; prompts ready in {:.1} s",
        prepared.trees.len(),
        cfg.concurrency,
        started.elapsed().as_secs_f64()
    ));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AgentxError::Run(format!("starting the async runtime: {e}")))?;
    runtime.block_on(run_async(
        opts,
        &resolved,
        &env_settings,
        cfg,
        prepared,
        prompts,
        command_line,
        benchmark_id,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn run_async(
    opts: &ProfileOptions,
    resolved: &servebench_agentx::options::Resolved,
    env_settings: &EnvSettings,
    cfg: ReplayConfig,
    prepared: replay::Prepared,
    prompts: Vec<TreePrompts>,
    command_line: &str,
    benchmark_id: String,
) -> Result<ExitCode, AgentxError> {
    let client = servebench_client::ChatClient::new(
        &resolved.chat_url,
        Duration::from_secs(10),
        Duration::from_secs_f64(opts.request_timeout_seconds),
        None,
    )?;
    servebench_client::check_open_files(cfg.concurrency.saturating_mul(4))?;
    let scraper = if opts.no_server_metrics {
        None
    } else {
        let mut so = ScrapeOptions::new(scrape::endpoints(&opts.url, &opts.server_metrics));
        if let Some(i) = env_settings.server_metrics_interval.filter(|i| *i > 0.0) {
            so.interval = Duration::from_secs_f64(i);
        }
        so.slice_duration = opts
            .slice_duration
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(Duration::from_secs_f64);
        let (scraper, warnings) = Scraper::start(so).await?;
        for w in warnings {
            say(&format!("WARNING: server metrics: {w}"));
        }
        Some(scraper)
    };

    let stop = async {
        match Signals::new() {
            Ok(mut s) => s.next().await,
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let progress = |p: &replay::Progress| {
        let mut line = format!(
            "[{:>8.1}s] {}: sent {}, completed {}, errors {}, in flight {}",
            p.elapsed_s, p.phase, p.sent, p.completed, p.errors, p.in_flight
        );
        if !p.note.is_empty() {
            line.push_str(" — ");
            line.push_str(&p.note);
        }
        say(&line);
    };
    say(&format!(
        "replaying against {} (scenario {SCENARIO}, benchmark id {benchmark_id})",
        resolved.chat_url
    ));
    let outcome = replay::run(&client, prepared, prompts, &cfg, &progress, stop).await?;

    let input_config = input_config(opts, resolved);
    let dir = &opts.output_artifact_dir;
    let mut server_prefix = None;
    if let Some(scraper) = scraper {
        scraper.mark_phase(
            Phase::Warmup,
            outcome.warmup_start_ns,
            outcome.warmup_end_ns,
        );
        if let Some(start) = outcome.profiling_start_ns {
            scraper.mark_phase(Phase::Profiling, start, outcome.profiling_end_ns);
        }
        let metrics = scraper.stop().await;
        for w in metrics.warnings() {
            say(&format!("WARNING: server metrics: {w}"));
        }
        let export = metrics.export_json(&benchmark_id, VERSION, &input_config);
        server_prefix = server_prefix_counts(&export);
        std::fs::create_dir_all(dir).map_err(|e| AgentxError::Write {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        metrics.write(dir, &benchmark_id, VERSION, &input_config)?;
    }
    let profiling_start_ns = outcome
        .profiling_start_ns
        .unwrap_or(outcome.warmup_start_ns);
    let run_info = artifacts::RunInfo {
        benchmark_id: benchmark_id.clone(),
        aiperf_version: VERSION.to_owned(),
        random_seed: resolved.seed,
        cli_command: command_line.to_owned(),
        input_config,
        scenario: SCENARIO.to_owned(),
        invalid_reasons: resolved.invalid_reasons.clone(),
        was_cancelled: outcome.cancelled,
        profiling_start_ns,
        profiling_end_ns: outcome.profiling_end_ns.unwrap_or(profiling_start_ns),
        warmup_start_ns: Some(outcome.warmup_start_ns),
        warmup_end_ns: outcome.warmup_end_ns,
        branch_stats: None,
    };
    artifacts::write_all(dir, &outcome.records, &run_info)?;
    let audit = Audit::compute(&outcome, server_prefix);
    for line in audit.lines() {
        say(&line);
    }
    audit.write(dir)?;
    let summary = summary(&outcome.records, &outcome, dir);
    let _ = servebench_cli::print(summary.as_bytes());
    if let Some(f) = &outcome.failure {
        say(&format!("agentic_replay: error: {f}"));
        return Ok(ExitCode::FAILURE);
    }
    if outcome.cancelled {
        say("agentic_replay: interrupted; the artifacts cover what ran");
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

fn input_config(
    opts: &ProfileOptions,
    r: &servebench_agentx::options::Resolved,
) -> serde_json::Value {
    serde_json::json!({
        "scenario": SCENARIO,
        "endpoint": {"url": opts.url, "path": opts.endpoint, "type": opts.endpoint_type,
                     "streaming": true, "model_names": opts.model},
        "tokenizer": {"name": opts.tokenizer},
        "loadgen": {"concurrency": opts.concurrency, "benchmark_duration": r.duration_s,
                    "warmup_requests_per_lane": opts.warmup_requests_per_lane,
                    "trace_idle_gap_cap_seconds": r.trace_idle_gap_cap_s,
                    "system_idle_gap_cap_seconds": r.system_idle_gap_cap_s,
                    "trajectory_start_min_ratio": opts.trajectory_start_min_ratio,
                    "trajectory_start_max_ratio": opts.trajectory_start_max_ratio,
                    "failed_request_threshold": r.failed_request_threshold,
                    "warmup_grace_period": opts.warmup_grace_period},
        "input": {"random_seed": r.seed, "public_dataset": opts.public_dataset,
                  "custom_dataset_type": opts.custom_dataset_type,
                  "input_file": opts.input_file.as_ref().map(|p| p.display().to_string()),
                  "max_context_length": opts.max_context_length,
                  "num_dataset_entries": opts.num_dataset_entries,
                  "extra": r.extra_inputs, "cache_bust": opts.cache_bust},
        "server_metrics": {"urls": r.metrics_urls, "slice_duration": opts.slice_duration},
        "output": {"artifact_directory": opts.output_artifact_dir.display().to_string()},
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = (sorted.len() - 1) as f64 * p;
    let lo = k.floor() as usize;
    let hi = (k.ceil() as usize).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo as f64)
}

fn summary(records: &[RequestRecord], o: &replay::ReplayOutcome, dir: &std::path::Path) -> String {
    let prof: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.phase == Phase::Profiling)
        .collect();
    let ok: Vec<&&RequestRecord> = prof.iter().filter(|r| r.error.is_none()).collect();
    let mut ttft: Vec<f64> = ok
        .iter()
        .filter_map(|r| {
            r.content_chunk_ns
                .first()
                .map(|t| t.saturating_sub(r.request_start_ns) as f64 / 1e6)
        })
        .collect();
    ttft.sort_by(f64::total_cmp);
    let mut e2e: Vec<f64> = ok
        .iter()
        .map(|r| r.request_end_ns.saturating_sub(r.request_start_ns) as f64 / 1e6)
        .collect();
    e2e.sort_by(f64::total_cmp);
    let isl: u64 = ok.iter().filter_map(|r| r.usage_prompt_tokens).sum();
    let osl: u64 = ok.iter().filter_map(|r| r.usage_completion_tokens).sum();
    let window = match (o.profiling_start_ns, o.profiling_end_ns) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => 0.0,
    };
    let warm = records.len() - prof.len();
    let sub = prof.iter().filter(|r| r.agent_depth > 0).count();
    let mut out = String::new();
    out.push_str("Agentic replay summary\n");
    out.push_str(&format!(
        "  Requests: {} successful / {} total ({} warmup, {} profiling errors, {} subagent)\n",
        ok.len(),
        records.len(),
        warm,
        prof.len() - ok.len(),
        sub
    ));
    out.push_str(&format!(
        "  Profiling window: {window:.1} s; recycles: {}\n",
        o.stats.recycles
    ));
    out.push_str(&format!(
        "  TTFT ms: p50 {:.1} p99 {:.1}; E2E ms: p50 {:.1} p99 {:.1}\n",
        percentile(&ttft, 0.5),
        percentile(&ttft, 0.99),
        percentile(&e2e, 0.5),
        percentile(&e2e, 0.99)
    ));
    if window > 0.0 {
        out.push_str(&format!(
            "  Tokens: input {isl}, output {osl}; throughput {:.0} tok/s total, {:.2} req/s\n",
            (isl + osl) as f64 / window,
            ok.len() as f64 / window
        ));
    }
    out.push_str(&format!("  Artifacts: {}\n", dir.display()));
    out
}

/// SIGINT or SIGTERM.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
