//! One serving benchmark run, in the Python client's order (SPEC §6.2,
//! §6.4): request bodies, warmups, profiler start, the main run, profiler
//! stop, metrics, the report, the self-audit, the saved result (and the
//! PyTorch-format side file).
//!
//! This crate owns that program flow and nothing below it: prompts come
//! prepared (`servebench-prompts`), requests are sent by `servebench-client`,
//! numbers come from `servebench-metrics`, texts and documents from
//! `servebench-results`. It never prints and never reads the environment:
//! the stdout lines go to the writer it is given, progress to a callback,
//! and the caller decides what an interrupt is.

#![warn(unreachable_pub)]

use servebench_client::{
    self as client, Audit, Backend, ClientError, Observer, PreparedRequest, RequestSpec,
    RunOptions, RunOutcome,
};
pub use servebench_contract::Edition;
use servebench_metrics::{calculate_metrics, MetricsOptions, RequestInput, RequestOutput};
use servebench_prompts::{LimitError, Prepared, Tokenizer, MAX_PROMPTS};
use servebench_pyjson::{float_repr, Dict, Value};
use servebench_results::{
    exits_nonzero_after_save, pytorch_file_name, pytorch_records, report, result_dict,
    saved_document, saved_file_name, ResultShape, SaveOptions,
};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

mod options;

#[cfg(feature = "clap")]
pub use options::py_float;
pub use options::BenchOptions;

/// One run, configured: the options as given, the values parsed from them
/// (each front end parses them once, reporting errors its own way), and
/// what the front end adds.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The contract edition the run follows (request bodies, result keys,
    /// the failure gate).
    pub edition: Edition,
    /// The options as given; the plain values are read from here.
    pub options: BenchOptions,
    /// `options.backend`, parsed.
    pub backend: Backend,
    /// `options.percentile_metrics`, `metric_percentiles` and `goodput`,
    /// parsed.
    pub metrics: MetricsOptions,
    /// `options.model` (required).
    pub model: String,
    /// `options.tokenizer`, or the model.
    pub tokenizer_id: String,
    /// Where requests go: `options.base_url`, or `http://host:port` (the
    /// load generator's: built from the checked parts); the endpoint follows.
    pub base_url: String,
    /// `OPENAI_API_KEY`: sent as a bearer token, never printed or saved.
    pub api_key: Option<String>,
    pub new_connection_per_request: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// HTTPS: more trusted CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// `--save-result` and its settings.
    pub save: Option<SaveConfig>,
    /// Write `client_audit` into the saved result.
    pub save_audit: bool,
    /// A client-bound run ends as [`Ending::ClientBound`].
    pub fail_if_client_bound: bool,
    /// Run for a time instead of once through the requests (see
    /// [`LongRun`]).
    pub long_run: Option<LongRun>,
}

/// A long run: the prepared requests are sent over and over, with their
/// arrival gaps, until the schedule reaches `duration` (the rate must be
/// finite). Each finished request is written to the `spool` file (one JSON
/// line) instead of being kept in memory; the text of the answers only with
/// `save_detailed` (tokens are counted as answers arrive). The metrics are
/// computed from the spool at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct LongRun {
    pub duration: Duration,
    pub spool: PathBuf,
}

/// The result is saved (where and how: `metadata`, `save_detailed`,
/// `result_dir`, `result_filename` of the options).
#[derive(Debug, Clone)]
pub struct SaveConfig {
    /// The local time after the run, `YYYYmmdd-HHMMSS` (the caller's
    /// clock), called once when saving.
    pub date: fn() -> String,
    /// With `Some(args)` (the options' [`BenchOptions::python_vars`]), also
    /// write the PyTorch-format side file.
    pub pytorch_args: Option<Dict>,
}

/// How the run ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Ok,
    /// The saved result lacks a summary key (the original exits 1).
    MissingSummaryKeys,
    /// Edition 2026-08: more than 5 % of `num_prompts` failed (exit 1 with
    /// [`BenchOutcome::failure_gate`] on stderr).
    FailureGate,
    ClientBound,
    Interrupted,
}

/// The phase of a run an interrupt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmups,
    ProfilerStart,
    MainRun,
    ProfilerStop,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Warmups => "the warm-ups",
            Phase::ProfilerStart => "the profiler start",
            Phase::MainRun => "the main run",
            Phase::ProfilerStop => "the profiler stop",
        })
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct BenchOutcome {
    pub ending: Ending,
    /// `false` when every request failed (the caller may warn).
    pub any_completed: bool,
    pub audit: Audit,
    /// Requests of the main run that were launched (0 when an interrupt
    /// came before it).
    pub launched: usize,
    pub interrupted: bool,
    /// Where the interrupt came (`None`: the run was not interrupted).
    pub interrupted_in: Option<Phase>,
    /// The interrupt came after `/start_profile` was sent, and
    /// `/stop_profile` was not sent: the server may still be profiling.
    pub stop_profile_skipped: bool,
    /// The saved document and its path, with `--save-result`.
    pub saved: Option<(Dict, String)>,
    /// Why requests failed: each distinct reason (its first line) with how
    /// many requests it hit, in order of first appearance.
    pub failures: Vec<(String, usize)>,
    /// Edition 2026-08: the failure gate's `FAIL: ...` message, when it
    /// fired.
    pub failure_gate: Option<String>,
}

impl BenchOutcome {
    /// One line naming the first three failure reasons and their counts,
    /// or `None` when no request failed: `12 of 12 requests failed: cannot
    /// connect to 127.0.0.1:9: Connection refused (12)`.
    pub fn failure_summary(&self) -> Option<String> {
        let failed: usize = self.failures.iter().map(|(_, n)| n).sum();
        if failed == 0 {
            return None;
        }
        let mut text = format!("{failed} of {} requests failed: ", self.launched);
        let shown: Vec<String> = self
            .failures
            .iter()
            .take(3)
            .map(|(reason, n)| format!("{reason} ({n})"))
            .collect();
        text.push_str(&shown.join("; "));
        if self.failures.len() > 3 {
            let more = self.failures.len() - 3;
            let noun = if more == 1 { "reason" } else { "reasons" };
            text.push_str(&format!("; and {more} more {noun}"));
        }
        Some(text)
    }
}

/// Distinct failure reasons with their counts, in order of first
/// appearance (a reason is the error's first line, at most 300 bytes).
fn failure_reasons(outputs: &[RequestOutput]) -> Vec<(String, usize)> {
    let mut order: Vec<(String, usize)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for o in outputs.iter().filter(|o| !o.success) {
        let line = o.error.lines().next().unwrap_or("").trim();
        let mut end = line.len().min(300);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let reason = if line.is_empty() {
            "no error text".to_owned()
        } else {
            line[..end].to_owned()
        };
        match index.get(&reason) {
            Some(&i) => order[i].1 += 1,
            None => {
                index.insert(reason.clone(), order.len());
                order.push((reason, 1));
            }
        }
    }
    order
}

/// The most warm-up requests a run may ask for.
pub const MAX_WARMUPS: i64 = 1_000_000;

/// The most requests in flight `max_concurrency` may allow (each needs a
/// connection; beyond this no machine has the sockets).
pub const MAX_CONCURRENCY: i64 = 1_000_000;

/// The longest run: a week (a long run's duration, and far beyond any
/// once-through run's schedule).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The options' ranges (see `servebench_prompts`' `check_*`), checked before
/// anything is sized or timed from them.
pub fn check_limits(cfg: &BenchConfig) -> Result<(), LimitError> {
    cfg.options.check_limits()?;
    if let Some(long) = &cfg.long_run {
        if long.duration.is_zero() || long.duration > MAX_DURATION {
            return Err(LimitError::new(
                "duration_s",
                format!(
                    "must be more than 0 and at most {} seconds",
                    MAX_DURATION.as_secs()
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    #[error("Unknown backend: {0}")]
    Backend(String),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("there are no requests to send (the dataset gave none)")]
    NoRequests,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A value Python's `float()` refuses (`py_float`).
    #[error("invalid float value: '{0}'")]
    Float(String),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

fn invalid(e: impl std::fmt::Display) -> BenchError {
    BenchError::Invalid(e.to_string())
}

/// Makes the observer (progress, live metrics) for a phase of `n` requests.
pub type Progress<'a> = &'a (dyn Fn(usize) -> Arc<dyn Observer> + Sync);

fn say(out: &mut dyn Write, text: &str) {
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The caller's stop, awaited in every phase: once it resolved it stays
/// resolved (the caller's future is never polled again).
struct Stop<F> {
    pending: Option<Pin<Box<F>>>,
}

impl<F: Future<Output = ()>> Stop<F> {
    fn new(stop: F) -> Self {
        Stop {
            pending: Some(Box::pin(stop)),
        }
    }

    /// Resolves when the stop has (at once if it already had).
    fn wait(&mut self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let Some(stop) = self.pending.as_mut() else {
                return Poll::Ready(());
            };
            if stop.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pending = None;
            Poll::Ready(())
        })
    }
}

/// Runs the benchmark. `out` gets the stdout lines and the report; `stop`
/// resolving interrupts the run in any phase (warm-ups, profiler calls,
/// main run): nothing more is sent, in-flight requests get 5 s, and the
/// partial result (empty before the main run) is reported and saved,
/// marked `"interrupted": true`.
pub async fn run(
    cfg: &BenchConfig,
    tok: &Tokenizer,
    prepared: &Prepared,
    out: &mut (dyn Write + Send),
    progress: Progress<'_>,
    stop: impl Future<Output = ()>,
) -> Result<BenchOutcome, BenchError> {
    check_limits(cfg)?;
    let kind = cfg.backend.kind();
    let base_url = &cfg.base_url;
    let api_url = api_url(cfg.backend, base_url, &cfg.options.endpoint)?;
    let metric_opts = &cfg.metrics;
    let o = &cfg.options;
    let served = o.served_model_name.as_deref().unwrap_or(&cfg.model);
    let spec = |i: usize| {
        let r = &prepared.requests[i];
        RequestSpec {
            model: prepared.lora.get(i).map_or(served, String::as_str),
            prompt: &r.prompt,
            prompt_len: r.prompt_len as i64,
            output_len: r.output_len,
            best_of: o.best_of,
            logprobs: o.logprobs,
            ignore_eos: o.ignore_eos,
            content_as_parts: cfg.edition == Edition::E2026_02,
        }
    };
    let mut requests = Vec::with_capacity(prepared.requests.len());
    for i in 0..prepared.requests.len() {
        let body = client::request_body(kind, &spec(i)).map_err(invalid)?;
        requests.push(PreparedRequest {
            body: body.into(),
            prompt_len: prepared.requests[i].prompt_len as i64,
        });
    }
    let first = prepared.requests.first().ok_or(BenchError::NoRequests)?;
    let test_body = client::request_body(
        kind,
        &RequestSpec {
            model: served,
            ..spec(0)
        },
    )
    .map_err(invalid)?;
    let test_request = PreparedRequest {
        body: test_body.into(),
        prompt_len: first.prompt_len as i64,
    };
    // 2026-08 asks the profiler for one step, merged, by stage.
    let start_profile_request = match cfg.edition {
        Edition::E2026_02 => test_request.clone(),
        _ => PreparedRequest {
            body: client::request_body_with(
                kind,
                &RequestSpec {
                    model: served,
                    ..spec(0)
                },
                &client::start_profile_extra_body(),
            )
            .map_err(invalid)?
            .into(),
            prompt_len: first.prompt_len as i64,
        },
    };
    let max_concurrency = o
        .max_concurrency
        .and_then(|c| usize::try_from(c).ok())
        .filter(|&c| c > 0);
    client::check_open_files(max_concurrency.unwrap_or(requests.len()))?;

    let opts = RunOptions {
        kind,
        api_url,
        authorization: client::authorization(cfg.api_key.as_deref()),
        max_concurrency,
        reuse_connections: !cfg.new_connection_per_request,
        connect_timeout: cfg.connect_timeout,
        read_timeout: cfg.read_timeout,
        total_timeout: Duration::from_secs(6 * 3600),
        interrupt_grace: Duration::from_secs(5),
        ca_file: cfg.ca_file.clone(),
    };
    let client = client::Client::new(opts.clone())?;
    let mut stop = Stop::new(stop);
    let began = Instant::now();
    // An interrupt before the main run: where, and that phase's audit.
    let mut early: Option<(Phase, Audit)> = None;

    say(out, "Starting initial single prompt test run...");
    let warmups = usize::try_from(o.num_warmups).unwrap_or(0);
    // The connections the warm-ups opened: the audit counts them too.
    let mut warmup_connections = None;
    if warmups > 0 {
        say(out, &format!("Warming up with {warmups} requests..."));
        let reqs = vec![test_request.clone(); warmups];
        let warm = client
            .run(reqs, &vec![None; warmups], progress(warmups), stop.wait())
            .await?;
        warmup_connections = Some(warm.audit.connections_opened);
        if warm.interrupted {
            early = Some((Phase::Warmups, warm.audit));
        } else {
            say(out, "Warmup completed.");
        }
    }
    let profiling = o.profile && early.is_none();
    if profiling {
        let started = profile(
            &opts,
            base_url,
            "/start_profile",
            &start_profile_request,
            out,
            ("Starting profiler...", "Profiler started"),
            stop.wait(),
        )
        .await?;
        if started.interrupted {
            early = Some((Phase::ProfilerStart, started.audit));
        }
    }
    let start_time_unix = unix_now();
    let (mut outcome, mut interrupted_in) = match early {
        Some((phase, audit)) => {
            let empty = RunOutcome {
                outputs: Vec::new(),
                // The time the run took so far; never zero (the metrics
                // divide by it).
                duration: began.elapsed().as_secs_f64().max(1e-6),
                interrupted: true,
                audit,
            };
            (empty, Some(phase))
        }
        None => {
            let mut outcome = main_run(
                cfg, &client, requests, prepared, tok, out, progress, &mut stop,
            )
            .await?;
            let phase = outcome.interrupted.then_some(Phase::MainRun);
            if phase.is_some() {
                // Stopped before the first launch: never zero either.
                outcome.duration = outcome.duration.max(1e-6);
            }
            (outcome, phase)
        }
    };
    if let Some(warm) = warmup_connections {
        // Interrupted in the warm-ups, their audit is the run's already.
        if interrupted_in != Some(Phase::Warmups) {
            outcome.audit.connections_opened =
                outcome.audit.connections_opened.saturating_add(warm);
        }
        outcome.audit.warmup_connections_opened = Some(warm);
    }
    let mut stop_profile_skipped = false;
    if profiling {
        if interrupted_in.is_some() {
            stop_profile_skipped = true;
        } else {
            let stopped = profile(
                &opts,
                base_url,
                "/stop_profile",
                &test_request,
                out,
                ("Stopping profiler...", "Profiler stopped"),
                stop.wait(),
            )
            .await?;
            if stopped.interrupted {
                interrupted_in = Some(Phase::ProfilerStop);
            }
        }
    }
    let end_time_unix = unix_now();

    let inputs: Vec<RequestInput> = (0..outcome.outputs.len())
        .map(|k| &prepared.requests[k % prepared.requests.len()])
        .map(|r| RequestInput {
            prompt_len: r.prompt_len as i64,
            output_len: r.output_len,
        })
        .collect();
    let count = |text: &str| tok.encode(text).map_or(0, |ids| ids.len() as i64);
    let (metrics, lens) = calculate_metrics(
        &inputs,
        &outcome.outputs,
        outcome.duration,
        count,
        metric_opts,
    )
    .map_err(invalid)?;
    let _ = out.write_all(report(&metrics, outcome.duration, metric_opts).as_bytes());
    let _ = out.flush();

    let interrupted = interrupted_in.is_some();
    let mut ending = if interrupted {
        Ending::Interrupted
    } else if cfg.fail_if_client_bound && outcome.audit.client_bound {
        Ending::ClientBound
    } else {
        Ending::Ok
    };
    let mut saved = None;
    // The PyTorch export ended the original's run before the gate.
    let mut missing_summary_keys = false;
    if let Some(save_cfg) = &cfg.save {
        let result = result_dict(
            &metrics,
            &lens,
            &outcome.outputs,
            outcome.duration,
            metric_opts,
            ResultShape::saved(
                cfg.edition,
                (start_time_unix, end_time_unix),
                o.save_detailed,
            ),
        );
        let save = SaveOptions {
            backend: o.backend.clone(),
            model_id: cfg.model.clone(),
            tokenizer_id: cfg.tokenizer_id.clone(),
            best_of: o.best_of,
            num_prompts: i64::try_from(o.num_prompts).unwrap_or(i64::MAX),
            metadata: o.metadata.clone().unwrap_or_default(),
            request_rate: o.request_rate,
            burstiness: o.burstiness,
            max_concurrency: o.max_concurrency,
            save_detailed: o.save_detailed,
            result_filename: o.result_filename.clone(),
            result_dir: o.result_dir.clone(),
            date: (save_cfg.date)(),
            edition: cfg.edition,
        };
        let mut doc = saved_document(result, &save).map_err(invalid)?;
        if interrupted {
            doc.insert("interrupted", Value::Bool(true));
        }
        if cfg.save_audit {
            doc.insert("client_audit", audit_value(&outcome.audit));
        }
        let file = saved_file_name(&save);
        let text = servebench_pyjson::dict_to_string(&doc);
        let path = std::path::Path::new(&file);
        servebench_files::write_atomic(path, text.as_bytes()).map_err(|e| BenchError::Write {
            path: file.clone(),
            source: e.into_io_error(),
        })?;
        if exits_nonzero_after_save(&doc) {
            if ending == Ending::Ok {
                ending = Ending::MissingSummaryKeys;
            }
            missing_summary_keys = true;
        } else if let Some(args) = &save_cfg.pytorch_args {
            if let Some(records) = pytorch_records(&doc, args, &cfg.model) {
                let pt_file = pytorch_file_name(&file);
                let text = servebench_pyjson::to_string(&records);
                let path = std::path::Path::new(&pt_file);
                servebench_files::write_atomic(path, text.as_bytes()).map_err(|e| {
                    BenchError::Write {
                        path: pt_file.clone(),
                        source: e.into_io_error(),
                    }
                })?;
            }
        }
        saved = Some((doc, file));
    }
    // 2026-08: after everything else, the failure gate (an interrupted run
    // keeps its own ending).
    let mut failure_gate = None;
    if cfg.edition != Edition::E2026_02 && !missing_summary_keys && !interrupted {
        let num_prompts = i64::try_from(o.num_prompts).unwrap_or(i64::MAX);
        failure_gate =
            servebench_results::failure_gate(metrics.completed, num_prompts).map_err(invalid)?;
        if failure_gate.is_some() && ending == Ending::Ok {
            ending = Ending::FailureGate;
        }
    }
    Ok(BenchOutcome {
        ending,
        any_completed: metrics.completed > 0,
        audit: outcome.audit,
        launched: outcome.outputs.len(),
        interrupted,
        interrupted_in,
        stop_profile_skipped,
        saved,
        failures: failure_reasons(&outcome.outputs),
        failure_gate,
    })
}

/// The wall clock, seconds since the epoch (Python's `time.time()`).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The URL requests go to (`base_url` and the endpoint), checked against
/// the backend.
pub fn api_url(backend: Backend, base_url: &str, endpoint: &str) -> Result<String, BenchError> {
    let api_url = format!("{base_url}{endpoint}");
    client::check_url(backend.kind(), &api_url).map_err(invalid)?;
    Ok(api_url)
}

/// The main run (once through the requests, or a long run), after its
/// stdout lines.
// The run's pieces, each borrowed from `run`; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn main_run<F: Future<Output = ()>>(
    cfg: &BenchConfig,
    client: &client::Client,
    requests: Vec<PreparedRequest>,
    prepared: &Prepared,
    tok: &Tokenizer,
    out: &mut (dyn Write + Send),
    progress: Progress<'_>,
    stop: &mut Stop<F>,
) -> Result<RunOutcome, BenchError> {
    let o = &cfg.options;
    say(
        out,
        &format!("Traffic request rate: {}", float_repr(o.request_rate)),
    );
    let distribution = if o.burstiness == 1.0 {
        "Poisson process"
    } else {
        "Gamma distribution"
    };
    say(
        out,
        &format!(
            "Burstiness factor: {} ({distribution})",
            float_repr(o.burstiness)
        ),
    );
    say(
        out,
        &format!(
            "Maximum request concurrency: {}",
            o.max_concurrency
                .map_or("None".to_owned(), |c| c.to_string())
        ),
    );
    say(out, "Starting main benchmark run...");
    let n = requests.len();
    Ok(match &cfg.long_run {
        None => {
            client
                .run(requests, &prepared.gaps, progress(n), stop.wait())
                .await?
        }
        Some(long) => {
            let keep_text = cfg.save.is_some() && o.save_detailed;
            long_run(
                client,
                &requests,
                &prepared.gaps,
                long,
                tok,
                keep_text,
                progress(n),
                stop.wait(),
            )
            .await?
        }
    })
}

/// See [`LongRun`]. The outcome's outputs are read back from the spool.
#[allow(clippy::too_many_arguments)]
async fn long_run(
    client: &client::Client,
    requests: &[PreparedRequest],
    gaps: &[Option<f64>],
    long: &LongRun,
    tok: &Tokenizer,
    keep_text: bool,
    observer: Arc<dyn Observer>,
    stop: impl Future<Output = ()>,
) -> Result<RunOutcome, BenchError> {
    if gaps.iter().any(Option::is_none) {
        return Err(BenchError::Invalid(
            "a long run needs a finite request rate".into(),
        ));
    }
    let spool_error = |source| BenchError::Write {
        path: long.spool.display().to_string(),
        source,
    };
    let file = std::fs::File::create(&long.spool).map_err(spool_error)?;
    let mut writer = std::io::BufWriter::new(file);
    let mut write_error = None;
    let limit = long.duration.as_secs_f64();
    let mut due = 0.0;
    let paced = (0..).map_while(|k: usize| {
        let i = k % requests.len();
        // The metrics need every request's times at the end: the count is
        // bounded like a once-through run's.
        if due >= limit || k as u64 >= MAX_PROMPTS {
            return None;
        }
        let gap = gaps[i];
        due += gap.unwrap_or(0.0);
        Some((requests[i].clone(), gap))
    });
    let mut spool = |index: usize, mut output: RequestOutput| {
        if output.success && output.output_tokens.is_none() {
            let n = tok
                .encode(&output.generated_text)
                .map_or(0, |ids| ids.len() as i64);
            output.output_tokens = Some(n);
        }
        if !keep_text {
            output.generated_text = String::new();
        }
        let line = servebench_pyjson::to_string(&spool_line(index, &output));
        if let Err(e) = writeln!(writer, "{line}") {
            write_error.get_or_insert(e);
        }
    };
    let done = client.run_stream(paced, observer, &mut spool, stop).await;
    if let Some(e) = write_error {
        return Err(spool_error(e));
    }
    writer.flush().map_err(spool_error)?;
    drop(writer);
    let text = std::fs::read_to_string(&long.spool).map_err(spool_error)?;
    let mut outputs: Vec<Option<RequestOutput>> = vec![None; done.launched];
    for line in text.lines() {
        let (index, output) = read_spool_line(line).ok_or_else(|| {
            BenchError::Invalid(format!("{}: a malformed line", long.spool.display()))
        })?;
        if let Some(slot) = outputs.get_mut(index) {
            *slot = Some(output);
        }
    }
    Ok(RunOutcome {
        outputs: outputs
            .into_iter()
            .map(|o| o.unwrap_or_else(|| RequestOutput::failed(0)))
            .collect(),
        duration: done.duration,
        interrupted: done.interrupted,
        audit: done.audit,
    })
}

fn spool_line(index: usize, o: &RequestOutput) -> Value {
    let mut d = Dict::new();
    d.insert("i", Value::Int(index as i128));
    d.insert("success", Value::Bool(o.success));
    d.insert("ttft", Value::Float(o.ttft));
    d.insert("latency", Value::Float(o.latency));
    d.insert(
        "itl",
        Value::List(o.itl.iter().map(|&g| Value::Float(g)).collect()),
    );
    d.insert(
        "output_tokens",
        o.output_tokens
            .map_or(Value::Null, |n| Value::Int(n.into())),
    );
    d.insert("prompt_len", Value::Int(o.prompt_len.into()));
    d.insert("text", o.generated_text.clone().into());
    d.insert("error", o.error.clone().into());
    Value::Dict(d)
}

fn read_spool_line(line: &str) -> Option<(usize, RequestOutput)> {
    let v = servebench_pyjson::from_str(line).ok()?;
    let d = v.as_dict()?;
    let float = |k: &str| match d.get(k)? {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    };
    let int = |k: &str| match d.get(k)? {
        Value::Int(i) => i64::try_from(*i).ok(),
        _ => None,
    };
    let mut o = RequestOutput::failed(int("prompt_len")?);
    o.success = matches!(d.get("success")?, Value::Bool(true));
    o.ttft = float("ttft")?;
    o.latency = float("latency")?;
    o.itl = d
        .get("itl")?
        .as_list()?
        .iter()
        .map(|g| match g {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        })
        .collect::<Option<_>>()?;
    o.output_tokens = int("output_tokens");
    o.generated_text = d.get("text")?.as_str()?.to_owned();
    o.error = d.get("error")?.as_str()?.to_owned();
    Some((usize::try_from(int("i")?).ok()?, o))
}

/// One profiler call (`/start_profile` or `/stop_profile`) with the test
/// input; the success line only when it succeeded, as the original.
async fn profile(
    opts: &RunOptions,
    base_url: &str,
    path: &str,
    test_request: &PreparedRequest,
    out: &mut (dyn Write + Send),
    (start, done): (&str, &str),
    stop: impl Future<Output = ()>,
) -> Result<RunOutcome, BenchError> {
    say(out, start);
    let o = RunOptions {
        api_url: format!("{base_url}{path}"),
        max_concurrency: None,
        ..opts.clone()
    };
    let outcome = client::run(
        o,
        vec![test_request.clone()],
        &[None],
        Arc::new(client::Quiet),
        stop,
    )
    .await?;
    if outcome.outputs.first().is_some_and(|o| o.success) {
        say(out, done);
    }
    Ok(outcome)
}

/// The self-audit as one line (printed on stderr after the report); the
/// connections count the warm-ups' too (`N connections opened (M during
/// warm-ups)`).
pub fn audit_line(a: &Audit) -> String {
    let opt =
        |v: Option<f64>, unit: &str| v.map_or("unknown".to_owned(), |v| format!("{v:.2} {unit}"));
    let warmups = a
        .warmup_connections_opened
        .map_or(String::new(), |w| format!(" ({w} during warm-ups)"));
    let switches = a
        .context_switches
        .map_or(String::new(), |n| format!(", {n} context switches"));
    format!(
        "Client self-audit: send lag p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; CPU {}{switches}; peak RSS {} (at start {}); {} connections opened{warmups}; client_bound: {} ({})\n",
        a.send_lag_p50_ms,
        a.send_lag_p99_ms,
        a.send_lag_max_ms,
        opt(a.cpu_seconds, "s"),
        opt(a.peak_rss_mib, "MiB"),
        opt(a.start_rss_mib, "MiB"),
        a.connections_opened,
        a.client_bound,
        a.verdict
    )
}

/// The self-audit as the saved result's `client_audit`.
pub fn audit_value(a: &Audit) -> Value {
    let opt = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
    let mut d = Dict::new();
    d.insert("send_lag_p50_ms", Value::Float(a.send_lag_p50_ms));
    d.insert("send_lag_p99_ms", Value::Float(a.send_lag_p99_ms));
    d.insert("send_lag_max_ms", Value::Float(a.send_lag_max_ms));
    d.insert("cpu_seconds", opt(a.cpu_seconds));
    d.insert(
        "context_switches",
        a.context_switches
            .map_or(Value::Null, |n| Value::Int(n.into())),
    );
    d.insert("peak_rss_mib", opt(a.peak_rss_mib));
    d.insert("start_rss_mib", opt(a.start_rss_mib));
    d.insert(
        "connections_opened",
        Value::Int(a.connections_opened.into()),
    );
    d.insert(
        "warmup_connections_opened",
        Value::Int(a.warmup_connections_opened.unwrap_or(0).into()),
    );
    d.insert("client_bound", Value::Bool(a.client_bound));
    d.insert("verdict", a.verdict.clone().into());
    Value::Dict(d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn failures_are_summarised_by_reason() {
        let fail = |e: &str| {
            let mut o = RequestOutput::failed(1);
            o.error = e.into();
            o
        };
        let mut ok = RequestOutput::failed(1);
        ok.success = true;
        let outputs = vec![
            fail("cannot connect to 127.0.0.1:9: refused"),
            ok,
            fail("Internal Server Error"),
            fail("cannot connect to 127.0.0.1:9: refused\nTraceback ..."),
            fail(""),
            fail("e4"),
        ];
        let failures = failure_reasons(&outputs);
        assert_eq!(
            failures,
            vec![
                ("cannot connect to 127.0.0.1:9: refused".to_owned(), 2),
                ("Internal Server Error".to_owned(), 1),
                ("no error text".to_owned(), 1),
                ("e4".to_owned(), 1),
            ]
        );
    }

    use super::*;

    fn audit() -> Audit {
        Audit {
            send_lag_p50_ms: 0.01,
            send_lag_p99_ms: 0.5,
            send_lag_max_ms: 1.25,
            cpu_seconds: Some(0.5),
            context_switches: None,
            peak_rss_mib: None,
            start_rss_mib: Some(100.0),
            connections_opened: 3,
            warmup_connections_opened: None,
            client_bound: false,
            verdict: "fine".into(),
        }
    }

    #[tokio::test]
    async fn a_stop_stays_resolved_for_every_later_phase() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut stop = Stop::new(async {
            let _ = rx.await;
        });
        let waited = tokio::time::timeout(Duration::from_millis(20), stop.wait()).await;
        assert!(waited.is_err(), "not stopped yet");
        let _ = tx.send(());
        stop.wait().await;
        // The oneshot future is done: a second poll of it would panic.
        stop.wait().await;
        assert!(stop.pending.is_none());
    }

    #[test]
    fn limits_of_the_run_options() {
        let options = BenchOptions {
            max_concurrency: Some(8),
            num_prompts: 10,
            ..BenchOptions::default()
        };
        let cfg = BenchConfig {
            edition: Edition::E2026_02,
            options: options.clone(),
            backend: Backend::parse("vllm").unwrap(),
            metrics: MetricsOptions::parse("ttft", "99", &[]).unwrap(),
            model: "m".into(),
            tokenizer_id: "m".into(),
            base_url: "http://127.0.0.1:8000".into(),
            api_key: None,
            new_connection_per_request: false,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            ca_file: None,
            save: None,
            save_audit: false,
            fail_if_client_bound: false,
            long_run: None,
        };
        assert_eq!(check_limits(&cfg), Ok(()));
        let with = |options: BenchOptions| BenchConfig {
            options,
            ..cfg.clone()
        };
        for (bad, option) in [
            (
                BenchOptions {
                    max_concurrency: Some(-1),
                    ..options.clone()
                },
                "max_concurrency",
            ),
            (
                BenchOptions {
                    max_concurrency: Some(i64::MAX),
                    ..options.clone()
                },
                "max_concurrency",
            ),
            (
                BenchOptions {
                    num_warmups: 1_000_000_000_000,
                    ..options.clone()
                },
                "num_warmups",
            ),
            (
                BenchOptions {
                    request_rate: 0.0,
                    ..options.clone()
                },
                "request_rate",
            ),
        ] {
            assert_eq!(check_limits(&with(bad)).map_err(|e| e.option), Err(option));
        }
        let unlimited = BenchOptions {
            max_concurrency: Some(0),
            ..options
        };
        assert_eq!(check_limits(&with(unlimited)), Ok(()));
        let long = BenchConfig {
            long_run: Some(LongRun {
                duration: Duration::ZERO,
                spool: PathBuf::from("spool"),
            }),
            ..cfg
        };
        assert_eq!(check_limits(&long).map_err(|e| e.option), Err("duration_s"));
    }

    /// A gap beyond any clock (the limits bypassed) must not panic the
    /// runner: the next request waits until the stop.
    #[tokio::test]
    async fn an_endless_gap_waits_for_the_stop() {
        // Nothing listens there: the first request fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let opts = RunOptions {
            kind: Backend::parse("vllm").unwrap().kind(),
            api_url: format!("http://127.0.0.1:{port}/v1/completions"),
            authorization: String::new(),
            max_concurrency: None,
            reuse_connections: true,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(10),
            interrupt_grace: Duration::from_secs(1),
            ca_file: None,
        };
        for gap in [f64::INFINITY, 1e300, 1.8e19] {
            let request = PreparedRequest {
                body: String::from("{}").into(),
                prompt_len: 1,
            };
            let outcome = client::run(
                opts.clone(),
                vec![request.clone(), request],
                &[Some(gap), None],
                Arc::new(client::Quiet),
                tokio::time::sleep(Duration::from_millis(200)),
            )
            .await
            .unwrap();
            assert!(outcome.interrupted, "{gap}");
            assert_eq!(outcome.outputs.len(), 1, "{gap}");
        }
    }

    #[test]
    fn spool_lines_round_trip() {
        let mut o = RequestOutput::failed(12);
        o.success = true;
        o.ttft = 0.1 + 0.2;
        o.latency = 1e-7;
        o.itl = vec![0.01, 1.0 / 3.0];
        o.output_tokens = Some(3);
        o.generated_text = "h\u{e9}llo \"x\"".into();
        let line = servebench_pyjson::to_string(&spool_line(7, &o));
        let (i, back) = read_spool_line(&line).unwrap();
        assert_eq!(i, 7);
        assert_eq!(back, o);
        o.output_tokens = None;
        o.success = false;
        o.error = "boom".into();
        let (_, back) = read_spool_line(&servebench_pyjson::to_string(&spool_line(0, &o))).unwrap();
        assert_eq!(back, o);
        assert!(read_spool_line("{}").is_none());
    }

    #[test]
    fn audit_line_and_value() {
        let line = audit_line(&audit());
        assert!(line.starts_with("Client self-audit: send lag p50 0.010 ms, p99 0.500 ms, max 1.250 ms; CPU 0.50 s; peak RSS unknown (at start 100.00 MiB); 3 connections opened; client_bound: false (fine)"), "{line}");
        assert_eq!(
            servebench_pyjson::to_string(&audit_value(&audit())),
            r#"{"send_lag_p50_ms": 0.01, "send_lag_p99_ms": 0.5, "send_lag_max_ms": 1.25, "cpu_seconds": 0.5, "context_switches": null, "peak_rss_mib": null, "start_rss_mib": 100.0, "connections_opened": 3, "warmup_connections_opened": 0, "client_bound": false, "verdict": "fine"}"#
        );
        let warmed = Audit {
            warmup_connections_opened: Some(2),
            context_switches: Some(1234),
            ..audit()
        };
        let line = audit_line(&warmed);
        assert!(
            line.contains("; CPU 0.50 s, 1234 context switches; peak RSS")
                && line.contains("; 3 connections opened (2 during warm-ups); client_bound"),
            "{line}"
        );
        let value = audit_value(&warmed);
        assert_eq!(
            value
                .as_dict()
                .and_then(|d| d.get("warmup_connections_opened")),
            Some(&Value::Int(2))
        );
    }
}
