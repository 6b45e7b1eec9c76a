//! One `agentic_replay profile` run, from parsed options to written
//! artifacts (SPEC §2): resolve the options, load and select the traces,
//! plan the trees, synthesise every turn's prompt, replay with the
//! server-metrics scraper beside it, then write the artifacts and the
//! audit and summarise the profiling phase.
//!
//! The binary owns what touches the process: argv, the environment (a
//! lookup it hands in), the stop signal, where the operator's lines go
//! (a callback: this module never prints) and the exit status (from
//! [`Ending`]).
//!
//! ```no_run
//! use servebench_agentx::session::{self, Ending};
//! # fn demo(opts: &servebench_agentx::options::ProfileOptions) -> Result<(), servebench_agentx::AgentxError> {
//! let env = |name: &str| std::env::var(name).ok();
//! let say = |line: &str| eprintln!("{line}");
//! let report = session::run(opts, &env, "aiperf profile ...", std::future::pending(), &say)?;
//! print!("{}", report.summary);
//! assert!(matches!(report.ending, Ending::Completed | Ending::Failed(_) | Ending::Interrupted));
//! # Ok(()) }
//! ```

use crate::audit::{server_prefix_counts, Audit};
use crate::options::{EnvSettings, ProfileOptions, Resolved, TraceSource, SCENARIO};
use crate::plan::{self, TreePlan, TurnPlan};
use crate::record::{Phase, RequestRecord};
use crate::replay::{
    self, EscapeCache, HeaderOptions, Prepared, Progress, ReplayConfig, ReplayOutcome, TreePrompts,
};
use crate::scrape::{self, ScrapeOptions, Scraper};
use crate::synth::{StreamShape, Synthesizer};
use crate::trace::{self, Entry, Request, Trace};
use crate::{artifacts, AgentxError};
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `aiperf_version` in the artifacts, and the `User-Agent` product
/// (`aiperf/<this>`).
pub const AIPERF_VERSION: &str = concat!("servebench-", env!("CARGO_PKG_VERSION"));

/// Where the operator's lines go (stderr, in the binary): warnings,
/// progress, the audit.
pub type Say<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// How a run that got as far as writing its artifacts ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Completed,
    /// A warm-up failure or the live failure threshold: the reason.
    Failed(String),
    /// The stop signal arrived (`was_cancelled` in the artifacts).
    Interrupted,
}

/// What a run leaves for the caller once the artifacts are written.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The short summary of the profiling phase (several lines, each ending
    /// in `\n`), for stdout.
    pub summary: String,
    pub ending: Ending,
}

/// Runs one profile: everything `aiperf profile --scenario
/// inferencex-agentx-mvp` does. `env` looks up environment variables
/// (read for the routing headers, the scrape interval, the failure
/// threshold and the Hugging Face cache); `cli_command` is written as
/// `run_info.cli_command`; `stop` is polled inside the run's async runtime
/// (so it may create tokio signal handlers) and cancels the replay when it
/// resolves; `say` gets every line for the operator.
///
/// Errors before or during the replay are returned; a run that replayed
/// writes its artifacts and reports how it ended in [`RunReport::ending`].
pub fn run(
    opts: &ProfileOptions,
    env: &dyn Fn(&str) -> Option<String>,
    cli_command: &str,
    stop: impl Future<Output = ()>,
    say: Say<'_>,
) -> Result<RunReport, AgentxError> {
    let env_settings = EnvSettings::read(env)?;
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
        TraceSource::HfDataset(repo) => trace::load_hf_dataset(repo, env)?,
    };
    let (traces, report) = trace::select(traces, opts.max_context_length, opts.num_dataset_entries);
    say(&format!(
        "weka trace selection: loaded={} rejected_by_maxctx={} over_ceiling={} selected={}",
        report.loaded, report.rejected_by_maxctx, report.over_ceiling, report.selected
    ));
    let plans: Vec<TreePlan> = traces.iter().filter_map(plan::build).collect();
    let dropped: u32 = plans
        .iter()
        .fold(0, |n, p| n.saturating_add(p.dropped_subagents));
    if dropped > 0 {
        say(&format!(
            "{dropped} subagent entries without a preceding parent request dropped"
        ));
    }
    let cfg = replay_config(opts, &resolved, &env_settings, benchmark_id);
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
    let tokenizer = servebench_prompts::Tokenizer::load(&tokenizer_name, env)?;
    let synth = Synthesizer::new(Arc::new(tokenizer), resolved.seed)?;
    let by_id: HashMap<&str, &Trace> = traces.iter().map(|t| (t.id.as_str(), t)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let prompts = prompts_for(&synth, &prepared.trees, &by_id, threads)?;
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
    let replay = Replay {
        opts,
        resolved: &resolved,
        env: &env_settings,
        cfg,
        cli_command,
        say,
    };
    runtime.block_on(replay.run(prepared, prompts, stop))
}

/// The scheduler's settings for the resolved options.
fn replay_config(
    opts: &ProfileOptions,
    resolved: &Resolved,
    env: &EnvSettings,
    benchmark_id: String,
) -> ReplayConfig {
    ReplayConfig {
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
        benchmark_id,
        failed_request_threshold: resolved.failed_request_threshold,
        models: opts.model.clone(),
        extra_inputs: resolved.extra_inputs.clone(),
        headers: HeaderOptions {
            x_session_id: env.x_session_id,
            x_smg_routing_key: env.x_smg_routing_key,
            x_dynamo_session_id: env.x_dynamo_session_id,
        },
        user_agent: format!("aiperf/{AIPERF_VERSION}"),
        stats_interval_s: opts.stats_interval,
    }
}

/// The async half of a run: everything after the prompts are ready.
struct Replay<'a> {
    opts: &'a ProfileOptions,
    resolved: &'a Resolved,
    env: &'a EnvSettings,
    cfg: ReplayConfig,
    cli_command: &'a str,
    say: Say<'a>,
}

impl Replay<'_> {
    async fn run(
        self,
        prepared: Prepared,
        prompts: Vec<TreePrompts>,
        stop: impl Future<Output = ()>,
    ) -> Result<RunReport, AgentxError> {
        let (opts, resolved, cfg, say) = (self.opts, self.resolved, &self.cfg, self.say);
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
            Some(self.start_scraper().await?)
        };
        let progress = |p: &Progress| say(&progress_line(p));
        say(&format!(
            "replaying against {} (scenario {SCENARIO}, benchmark id {})",
            resolved.chat_url, cfg.benchmark_id
        ));
        let outcome = replay::run(&client, prepared, prompts, cfg, &progress, stop).await?;

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
            let export = metrics.export_json(&cfg.benchmark_id, AIPERF_VERSION, &input_config);
            server_prefix = server_prefix_counts(&export);
            std::fs::create_dir_all(dir).map_err(|e| AgentxError::Write {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            metrics.write(dir, &cfg.benchmark_id, AIPERF_VERSION, &input_config)?;
        }
        let profiling_start_ns = outcome
            .profiling_start_ns
            .unwrap_or(outcome.warmup_start_ns);
        let run_info = artifacts::RunInfo {
            benchmark_id: cfg.benchmark_id.clone(),
            aiperf_version: AIPERF_VERSION.to_owned(),
            random_seed: resolved.seed,
            cli_command: self.cli_command.to_owned(),
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
        Ok(RunReport {
            summary: summary(&outcome, dir),
            ending: ending(&outcome),
        })
    }

    async fn start_scraper(&self) -> Result<Scraper, AgentxError> {
        let opts = self.opts;
        let mut so = ScrapeOptions::new(scrape::endpoints(&opts.url, &opts.server_metrics));
        if let Some(i) = self.env.server_metrics_interval.filter(|i| *i > 0.0) {
            so.interval = Duration::from_secs_f64(i);
        }
        so.slice_duration = opts
            .slice_duration
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(Duration::from_secs_f64);
        let (scraper, warnings) = Scraper::start(so).await?;
        for w in warnings {
            (self.say)(&format!("WARNING: server metrics: {w}"));
        }
        Ok(scraper)
    }
}

/// A failure outranks a stop: a run stopped by the failure threshold is
/// a failure even when the stop signal came too.
fn ending(o: &ReplayOutcome) -> Ending {
    match (&o.failure, o.cancelled) {
        (Some(f), _) => Ending::Failed(f.clone()),
        (None, true) => Ending::Interrupted,
        (None, false) => Ending::Completed,
    }
}

/// The request a turn of a tree came from.
fn request_of<'a>(trace: &'a Trace, turn: &TurnPlan) -> Option<&'a Request> {
    match (trace.entries.get(turn.outer_idx as usize)?, turn.inner_idx) {
        (Entry::Request(r), None) => Some(r),
        (Entry::Subagent(s), Some(i)) => s.requests.get(i as usize),
        _ => None,
    }
}

/// The synthesis shapes of every stream of `trees`, tree by tree, stream
/// by stream; `traces` maps a trace id to the trace the tree came from.
pub fn stream_shapes<'a>(
    trees: &'a [Arc<TreePlan>],
    traces: &HashMap<&str, &'a Trace>,
) -> Result<Vec<StreamShape<'a>>, AgentxError> {
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
    Ok(shapes)
}

/// Every turn's messages of `trees` (synthesised on `threads` workers),
/// JSON-escaped once into request bodies: `out[i]` belongs to `trees[i]`.
pub fn prompts_for(
    synth: &Synthesizer,
    trees: &[Arc<TreePlan>],
    traces: &HashMap<&str, &Trace>,
    threads: usize,
) -> Result<Vec<TreePrompts>, AgentxError> {
    let shapes = stream_shapes(trees, traces)?;
    let mut streams = synth.streams(&shapes, threads)?.into_iter();
    let mut cache = EscapeCache::new();
    let mut out = Vec::with_capacity(trees.len());
    for tree in trees {
        let mine: Vec<_> = streams.by_ref().take(tree.streams.len()).collect();
        out.push(TreePrompts::from_messages(tree, &mine, &mut cache)?);
    }
    Ok(out)
}

/// A fresh 64-bit value (time, pid, splitmix64 finaliser) for the drawn
/// seed and the benchmark id: fresh per run by design, so not seeded.
fn fresh_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ (u64::from(std::process::id()) << 40);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `argv` as one POSIX shell line (`run_info.cli_command`): a word made of
/// safe characters stays bare, any other is single-quoted.
pub fn shell_join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
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

/// One progress line: `[ elapsed s] phase: counts`, then ` — note`.
pub fn progress_line(p: &Progress) -> String {
    let mut line = format!(
        "[{:>8.1}s] {}: sent {}, completed {}, errors {}, in flight {}",
        p.elapsed_s, p.phase, p.sent, p.completed, p.errors, p.in_flight
    );
    if !p.note.is_empty() {
        line.push_str(" — ");
        line.push_str(&p.note);
    }
    line
}

/// `input_config` of the artifacts: the resolved configuration in the
/// shape of aiperf's user config (the fields InferenceX's scripts and a
/// reader need).
fn input_config(opts: &ProfileOptions, r: &Resolved) -> serde_json::Value {
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

/// `np.percentile(xs or [0], p)`: 0 for an empty sample, as the summary
/// has always shown it.
fn percentile_or_zero(xs: &[f64], p: f64) -> f64 {
    servebench_metrics::percentile(&servebench_metrics::or_zero(xs), p)
}

/// The summary for stdout: request counts, the profiling window, TTFT and
/// end-to-end latency percentiles (numpy linear, ms) of the successful
/// profiled requests, token totals and throughput.
fn summary(o: &ReplayOutcome, dir: &Path) -> String {
    const NS_PER_MS: f64 = 1e6;
    let records = &o.records;
    let prof: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.phase == Phase::Profiling)
        .collect();
    let ok: Vec<&RequestRecord> = prof.iter().copied().filter(|r| r.error.is_none()).collect();
    let ttft: Vec<f64> = ok
        .iter()
        .filter_map(|r| {
            r.content_chunk_ns
                .first()
                .map(|t| t.saturating_sub(r.request_start_ns) as f64 / NS_PER_MS)
        })
        .collect();
    let e2e: Vec<f64> = ok
        .iter()
        .map(|r| r.request_end_ns.saturating_sub(r.request_start_ns) as f64 / NS_PER_MS)
        .collect();
    let tokens = |f: fn(&RequestRecord) -> Option<u64>| -> u64 {
        ok.iter().filter_map(|r| f(r)).fold(0, u64::saturating_add)
    };
    let isl = tokens(|r| r.usage_prompt_tokens);
    let osl = tokens(|r| r.usage_completion_tokens);
    let window = match (o.profiling_start_ns, o.profiling_end_ns) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => 0.0,
    };
    let warm = records.len().saturating_sub(prof.len());
    let errors = prof.len().saturating_sub(ok.len());
    let sub = prof.iter().filter(|r| r.agent_depth > 0).count();
    let mut out = String::new();
    out.push_str("Agentic replay summary\n");
    out.push_str(&format!(
        "  Requests: {} successful / {} total ({warm} warmup, {errors} profiling errors, {sub} subagent)\n",
        ok.len(),
        records.len(),
    ));
    out.push_str(&format!(
        "  Profiling window: {window:.1} s; recycles: {}\n",
        o.stats.recycles
    ));
    out.push_str(&format!(
        "  TTFT ms: p50 {:.1} p99 {:.1}; E2E ms: p50 {:.1} p99 {:.1}\n",
        percentile_or_zero(&ttft, 50.0),
        percentile_or_zero(&ttft, 99.0),
        percentile_or_zero(&e2e, 50.0),
        percentile_or_zero(&e2e, 99.0)
    ));
    if window > 0.0 {
        out.push_str(&format!(
            "  Tokens: input {isl}, output {osl}; throughput {:.0} tok/s total, {:.2} req/s\n",
            isl.saturating_add(osl) as f64 / window,
            ok.len() as f64 / window
        ));
    }
    out.push_str(&format!("  Artifacts: {}\n", dir.display()));
    out
}

#[cfg(test)]
mod tests;
