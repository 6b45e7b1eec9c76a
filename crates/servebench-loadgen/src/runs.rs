//! The runs: a registry (state, progress, result), one run at a time with
//! an optional queue, and the executor that prepares prompts and runs the
//! benchmark (`servebench-bench`) with live metrics.

use crate::metrics::{Registry, RunMetrics};
use crate::spec::{TokenizerSource, ValidSpec};
use crate::store::Store;
use serde_json::{json, Value};
use servebench_bench::{BenchConfig, BenchOptions, LongRun, SaveConfig};
use servebench_client::{Observer, Quiet};
use servebench_prompts::Tokenizer;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

/// What the service needs from its host program.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub store: Store,
    /// Where results are written before they are stored.
    pub staging_dir: PathBuf,
    /// Environment lookup for tokenizer loading (HF cache variables).
    pub env: fn(&str) -> Option<String>,
    /// The local time, `YYYYmmdd-HHMMSS` (run ids, result dates).
    pub date: fn() -> String,
    /// `OPENAI_API_KEY` for the target; never shown anywhere.
    pub api_key: Option<String>,
}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Queued,
    Running,
    Done,
    Failed,
    Stopped,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Failed => "failed",
            RunState::Stopped => "stopped",
        }
    }

    fn finished(self) -> bool {
        matches!(self, RunState::Done | RunState::Failed | RunState::Stopped)
    }
}

/// Who asked a run to stop, for the service's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopper {
    /// `POST /runs/{id}/stop` ([`Service::stop`]).
    Api,
    /// SIGTERM or Ctrl-C ([`Service::stop_all`]).
    Shutdown,
}

impl Stopper {
    fn name(self) -> &'static str {
        match self {
            Stopper::Api => "api",
            Stopper::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug)]
struct RunInfo {
    state: RunState,
    created: String,
    /// The options, as accepted (no secrets are ever part of them).
    spec: Value,
    total: u64,
    metrics: Arc<RunMetrics>,
    stop: watch::Sender<bool>,
    result: Option<Value>,
    location: Option<String>,
    error: Option<String>,
    /// Set by the first stop request.
    stopped_by: Option<Stopper>,
}

#[derive(Debug, Default)]
struct Runs {
    order: Vec<String>,
    map: HashMap<String, RunInfo>,
    queue: VecDeque<(String, ValidSpec)>,
    active: Option<String>,
    /// Shutting down: the executor starts nothing more.
    closed: bool,
}

/// Why a start was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// A run is active and the spec did not ask to queue.
    Busy { active: String },
    /// `limit` runs wait already (the queue's length is capped).
    QueueFull { limit: usize },
}

/// Why a stop was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopError {
    NotFound,
    Finished(RunState),
}

/// The service state, shared by the HTTP handlers and the executor.
#[derive(Debug)]
pub struct Service {
    cfg: ServiceConfig,
    runs: Mutex<Runs>,
    registry: Registry,
    wake: Notify,
    counter: AtomicUsize,
}

/// Finished runs kept for `GET /runs` (their files stay in the store).
pub(crate) const KEPT_FINISHED: usize = 100;

/// The largest result (as saved) kept in memory for `GET /runs/{id}`;
/// larger ones are only in the store.
pub(crate) const MAX_RESULT_IN_MEMORY: u64 = 32 << 20;

/// Runs that may wait in the queue; more starts are refused (each holds
/// its options, up to a 1 MiB body, in memory).
pub(crate) const MAX_QUEUED: usize = 32;

impl Service {
    pub fn new(cfg: ServiceConfig) -> Arc<Service> {
        Arc::new(Service {
            cfg,
            runs: Mutex::new(Runs::default()),
            registry: Registry::default(),
            wake: Notify::new(),
            counter: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Runs> {
        // A handler that panicked mid-update leaves usable data behind.
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts a run: started at once when idle, queued when asked to and
    /// busy, else refused. Returns the generated run id.
    pub fn start(&self, spec: ValidSpec) -> Result<String, StartError> {
        let mut runs = self.lock();
        let busy = runs.active.is_some() || !runs.queue.is_empty();
        if busy && !spec.spec.queue {
            let active = runs
                .active
                .clone()
                .or_else(|| runs.queue.front().map(|(id, _)| id.clone()))
                .unwrap_or_default();
            return Err(StartError::Busy { active });
        }
        if runs.queue.len() >= MAX_QUEUED {
            return Err(StartError::QueueFull { limit: MAX_QUEUED });
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        // The random part keeps ids (and file names) unique across restarts
        // within the same second.
        let salt =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), n)
                & 0xffff;
        let id = format!("{}-{n:04}-{salt:04x}", (self.cfg.date)());
        let metrics = Arc::new(RunMetrics::new(&id, &spec.model, &spec.spec.backend));
        let (stop, _) = watch::channel(false);
        // What an operator needs to recognise the run (no secret is part of
        // a spec; the URL was checked to carry no credentials).
        info!(
            run_id = %id,
            model = %spec.model,
            target = %format!("{}{}", spec.base_url, spec.spec.endpoint),
            dataset = %spec.spec.dataset_name,
            dataset_path = %spec.spec.dataset_path.as_deref().unwrap_or("-"),
            num_prompts = spec.spec.num_prompts,
            runs_ahead = runs.queue.len() + usize::from(runs.active.is_some()),
            "run queued"
        );
        runs.map.insert(
            id.clone(),
            RunInfo {
                state: RunState::Queued,
                created: (self.cfg.date)(),
                spec: spec_json(&spec),
                total: spec.spec.num_prompts,
                metrics,
                stop,
                result: None,
                location: None,
                error: None,
                stopped_by: None,
            },
        );
        runs.order.push(id.clone());
        runs.queue.push_back((id.clone(), spec));
        forget_old(&mut runs);
        drop(runs);
        self.wake.notify_one();
        Ok(id)
    }

    /// Asks a queued or running run to stop (a running one saves its
    /// partial result): the API's stop.
    pub fn stop(&self, id: &str) -> Result<RunState, StopError> {
        self.stop_by(id, Stopper::Api)
    }

    fn stop_by(&self, id: &str, by: Stopper) -> Result<RunState, StopError> {
        let mut runs = self.lock();
        let Some(info) = runs.map.get_mut(id) else {
            return Err(StopError::NotFound);
        };
        match info.state {
            RunState::Queued => {
                info.state = RunState::Stopped;
                info.error = Some("stopped before it started".into());
                info.stopped_by = Some(by);
                runs.queue.retain(|(q, _)| q != id);
                info!(run_id = %id, by = %by.name(), "queued run dropped before it started");
                Ok(RunState::Stopped)
            }
            RunState::Running => {
                if info.stopped_by.is_none() {
                    info.stopped_by = Some(by);
                    info!(run_id = %id, by = %by.name(), "stopping run");
                }
                let _ = info.stop.send(true);
                Ok(RunState::Running)
            }
            done => Err(StopError::Finished(done)),
        }
    }

    /// Stops everything (shutdown): the queue is dropped, the active run
    /// stops and saves.
    pub fn stop_all(&self) {
        // Closed first, under the lock the executor takes to start a run:
        // otherwise the active run, stopping at once, let the executor
        // start the next queued one before its turn to be dropped came.
        let (queued, active): (Vec<String>, Option<String>) = {
            let mut runs = self.lock();
            runs.closed = true;
            let queued = runs.queue.iter().map(|(id, _)| id.clone()).collect();
            (queued, runs.active.clone())
        };
        for id in queued.iter().chain(active.iter()) {
            let _ = self.stop_by(id, Stopper::Shutdown);
        }
    }

    /// Whether nothing is running or queued.
    pub fn idle(&self) -> bool {
        let runs = self.lock();
        runs.active.is_none() && runs.queue.is_empty()
    }

    /// Shutdown: [`Service::stop_all`], then waits (checking every 100 ms)
    /// until the stopped run has saved its partial result, at most
    /// `timeout`.
    pub async fn drain(&self, timeout: Duration) {
        self.stop_all();
        let step = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        while waited < timeout {
            if self.idle() {
                return;
            }
            tokio::time::sleep(step).await;
            waited += step;
        }
        if !self.idle() {
            let active = self.lock().active.clone().unwrap_or_default();
            warn!(
                run_id = %active,
                waited_s = timeout.as_secs(),
                "the stopped run has not saved its partial result in time; exiting without it"
            );
        }
    }

    /// One run as JSON (`GET /runs/{id}`).
    pub fn get(&self, id: &str) -> Option<Value> {
        let runs = self.lock();
        runs.map.get(id).map(|info| run_json(id, info, true))
    }

    /// All runs, oldest first, without their options and results (`GET
    /// /runs`; `GET /runs/{id}` has them): the list stays small however big
    /// the bodies were.
    pub fn list(&self) -> Value {
        let runs = self.lock();
        Value::Array(
            runs.order
                .iter()
                .filter_map(|id| runs.map.get(id).map(|info| run_json(id, info, false)))
                .collect(),
        )
    }

    /// `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        let by_state = {
            let runs = self.lock();
            let mut counts = Vec::new();
            for state in [
                RunState::Queued,
                RunState::Running,
                RunState::Done,
                RunState::Failed,
                RunState::Stopped,
            ] {
                let n = runs.map.values().filter(|i| i.state == state).count();
                counts.push((state.name(), n));
            }
            counts
        };
        self.registry.render(&by_state)
    }

    /// Runs queued runs one after another, forever.
    pub async fn executor(self: Arc<Self>) {
        loop {
            let next = {
                let mut runs = self.lock();
                let next = if runs.closed {
                    None
                } else {
                    runs.queue.pop_front()
                };
                match next {
                    Some((id, spec)) => {
                        runs.active = Some(id.clone());
                        let info = runs.map.get_mut(&id).map(|info| {
                            info.state = RunState::Running;
                            (Arc::clone(&info.metrics), info.stop.subscribe())
                        });
                        info.map(|(m, s)| (id, spec, m, s))
                    }
                    None => None,
                }
            };
            let Some((id, spec, metrics, stop)) = next else {
                self.wake.notified().await;
                continue;
            };
            info!(run_id = %id, "run started");
            let started = Instant::now();
            self.registry.add(Arc::clone(&metrics));
            // The run is a task of its own: a panic in it ends that run as
            // failed, never the executor (which would wedge the service).
            let task = {
                let (me, id) = (Arc::clone(&self), id.clone());
                tokio::spawn(async move { me.execute(&id, spec, metrics, stop).await })
            };
            let outcome = match task.await {
                Ok(outcome) => outcome,
                Err(e) => Err(format!("internal error: the run {}", panic_reason(e))),
            };
            let mut runs = self.lock();
            runs.active = None;
            if let Some(info) = runs.map.get_mut(&id) {
                match outcome {
                    Ok(done) => {
                        info.state = if done.interrupted {
                            RunState::Stopped
                        } else {
                            RunState::Done
                        };
                        info.result = done.result;
                        info.location = Some(done.location);
                        info.error = done.warning;
                    }
                    Err(e) => {
                        info.state = if *info.stop.borrow() {
                            RunState::Stopped
                        } else {
                            RunState::Failed
                        };
                        info.error = Some(e);
                    }
                }
                log_end(&id, info, started.elapsed());
            }
        }
    }

    async fn execute(
        &self,
        id: &str,
        spec: ValidSpec,
        metrics: Arc<RunMetrics>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Finished, String> {
        let s = &spec.spec;
        let tokenizer_id = s.tokenizer.clone().unwrap_or_else(|| spec.model.clone());
        let env = self.cfg.env;
        let prepare_opts = s.prepare_options(spec.dataset.clone());
        let source = spec.tokenizer.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let cancelled = Arc::clone(&cancel);
        let preparing = tokio::task::spawn_blocking(move || {
            let tok = match &source {
                TokenizerSource::Path(path) => Tokenizer::load(&path.display().to_string(), &env),
                TokenizerSource::Hub(id) => Tokenizer::load_from_hub(id, &env),
            }
            .map_err(|e| e.to_string())?;
            let prepared = servebench_prompts::prepare_cancellable(&tok, &prepare_opts, &cancelled)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((tok, prepared))
        });
        // A stop while prompts are prepared ends the run at once; the
        // preparation sees the flag and gives up at its next prompt.
        let (tok, prepared) = tokio::select! {
            prepared = preparing => prepared.map_err(|e| format!("preparing prompts: {e}"))??,
            _ = stop.wait_for(|s| *s) => {
                cancel.store(true, Ordering::Relaxed);
                return Err("stopped while preparing prompts".into());
            }
        };
        if *stop.borrow() {
            return Err("stopped while preparing prompts".into());
        }
        let file_name = format!("{id}.json");
        // The service always saves, into its staging directory.
        let options = BenchOptions {
            save_result: true,
            result_dir: Some(self.cfg.staging_dir.display().to_string()),
            result_filename: Some(file_name.clone()),
            ..s.clone()
        };
        let cfg = BenchConfig {
            edition: crate::spec::EDITION,
            options,
            backend: spec.backend,
            metrics: spec.metrics.clone(),
            model: spec.model.clone(),
            tokenizer_id,
            // Built from the checked parts (host and port are unused).
            base_url: spec.base_url.clone(),
            api_key: self.cfg.api_key.clone(),
            new_connection_per_request: false,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(600),
            ca_file: None,
            save: Some(SaveConfig {
                date: self.cfg.date,
                pytorch_args: None,
            }),
            save_audit: true,
            fail_if_client_bound: false,
            long_run: s.duration_s.map(|d| LongRun {
                duration: Duration::from_secs_f64(d),
                spool: self.cfg.staging_dir.join(format!("{id}.requests.jsonl")),
            }),
        };
        std::fs::create_dir_all(&self.cfg.staging_dir)
            .map_err(|e| format!("creating {}: {e}", self.cfg.staging_dir.display()))?;
        // Warmups are not part of the run's numbers.
        let warmups = s.num_warmups > 0;
        let calls = AtomicUsize::new(0);
        let observer: Arc<dyn Observer> = metrics;
        let progress = move |_n: usize| -> Arc<dyn Observer> {
            if warmups && calls.fetch_add(1, Ordering::Relaxed) == 0 {
                Arc::new(Quiet)
            } else {
                Arc::clone(&observer)
            }
        };
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let mut report = Vec::new();
        let outcome =
            servebench_bench::run(&cfg, &tok, &prepared, &mut report, &progress, stopped).await;
        if let Some(long) = &cfg.long_run {
            let _ = std::fs::remove_file(&long.spool);
        }
        let outcome = outcome.map_err(|e| e.to_string())?;
        // Why requests failed, for the run's `error` (a run against a dead
        // server still finishes, with zero completed requests).
        let failures = outcome.failure_summary();
        let Some((doc, file)) = outcome.saved else {
            return Err("the run saved no result".into());
        };
        // Up to 100 finished runs are kept: big results (a detailed run of
        // many prompts) are served from their file only.
        let size = std::fs::metadata(&file).map_or(u64::MAX, |m| m.len());
        let result = (size <= MAX_RESULT_IN_MEMORY)
            .then(|| servebench_pyjson::to_serde_json(&servebench_pyjson::Value::Dict(doc)));
        // The staging file is the only copy until the store has the result:
        // it is removed only then. A failure keeps it (and the result is
        // served from memory by GET /runs/{id}).
        let stored = match std::fs::read(&file) {
            Ok(text) => (self.cfg.store.put(&file_name, text).await).map_err(|e| e.to_string()),
            Err(e) => Err(format!("reading {file}: {e}")),
        };
        let (location, store_warning) = match stored {
            Ok(stored) => {
                let _ = std::fs::remove_file(&file);
                if let Some(w) = &stored.warning {
                    warn!(run_id = %id, "result store failed: {w}");
                }
                (stored.location, stored.warning)
            }
            Err(e) => {
                warn!(run_id = %id, kept_at = %file, "result store failed: {e}");
                (
                    file.clone(),
                    Some(format!(
                        "storing the result failed ({e}); it is kept at {file}"
                    )),
                )
            }
        };
        let warning = match (failures, store_warning) {
            (Some(f), Some(s)) => Some(format!("{f}; {s}")),
            (f, s) => f.or(s),
        };
        Ok(Finished {
            result,
            location,
            warning,
            interrupted: outcome.interrupted,
        })
    }
}

/// The run's last log line: finished, stopped (by whom) or failed, with its
/// request counts, how long it took, and where its result is.
fn log_end(id: &str, info: &RunInfo, took: Duration) {
    let (completed, failed) = (info.metrics.completed(), info.metrics.failed());
    let duration = format!("{:.1}s", took.as_secs_f64());
    let result = info.location.as_deref().unwrap_or("-");
    let note = info.error.as_deref().unwrap_or("-");
    match info.state {
        RunState::Done => info!(
            run_id = %id, completed, failed, duration = %duration, result = %result, note = %note,
            "run finished"
        ),
        RunState::Stopped => info!(
            run_id = %id,
            by = %info.stopped_by.map_or("unknown", Stopper::name),
            completed, failed, duration = %duration, result = %result, note = %note,
            "run stopped"
        ),
        _ => warn!(
            run_id = %id, completed, failed, duration = %duration, reason = %note,
            "run failed"
        ),
    }
}

/// What a failed task says (a panic's message, when it has one).
fn panic_reason(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "was cancelled".into();
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("panicked: {message}")
}

struct Finished {
    result: Option<Value>,
    location: String,
    /// Why requests failed, and/or why the result is not where it was
    /// meant to go: the run's `error`.
    warning: Option<String>,
    interrupted: bool,
}

/// Keeps the registry bounded: the oldest finished runs are forgotten.
fn forget_old(runs: &mut Runs) {
    while runs.order.len() > KEPT_FINISHED {
        let Some(pos) = runs
            .order
            .iter()
            .position(|id| runs.map.get(id).is_none_or(|i| i.state.finished()))
        else {
            break;
        };
        let id = runs.order.remove(pos);
        runs.map.remove(&id);
    }
}

/// The options as accepted, defaults filled in (no secret is ever one of
/// them).
fn spec_json(spec: &ValidSpec) -> Value {
    serde_json::to_value(&spec.spec).unwrap_or(Value::Null)
}

fn run_json(id: &str, info: &RunInfo, full: bool) -> Value {
    let m = &info.metrics;
    let mut v = json!({
        "id": id,
        "state": info.state.name(),
        "created": info.created,
        "progress": {
            "total": info.total,
            "finished": m.finished_count(),
            "completed": m.completed(),
            "failed": m.failed(),
        },
        "result_location": info.location,
        "error": info.error,
    });
    if full {
        v["spec"] = info.spec.clone();
        v["result"] = info.result.clone().unwrap_or(Value::Null);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{self, Policy};
    use std::path::Path;
    use std::sync::atomic::AtomicUsize;

    /// The simulator (fast mode) on its own thread; its port.
    fn simulator() -> u16 {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
                    .await
                    .unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                let opts = servebench_sim::SimOptions {
                    model: "sim".into(),
                    ttft: Duration::from_millis(2),
                    itl: Duration::from_millis(1),
                    deployment: None,
                    text: Arc::new(servebench_sim::BuiltIn),
                    ground_truth: None,
                    fault: None,
                    fault_every: 1,
                    kv_cache_tokens: None,
                };
                servebench_sim::serve(listener, opts, std::future::pending())
                    .await
                    .unwrap();
            });
        });
        rx.recv().unwrap()
    }

    fn valid(sim: u16) -> ValidSpec {
        let tokenizers = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/tokenizers")
            .canonicalize()
            .unwrap();
        let body = format!(
            r#"{{"port": {sim}, "model": "sim", "tokenizer": "deepseek-r1", "dataset_name": "random", "random_input_len": 8, "random_output_len": 4, "num_prompts": 3, "queue": true}}"#
        );
        let policy = Policy {
            data_dirs: vec![tokenizers],
            ..Policy::default()
        };
        spec::validate(spec::parse(body.as_bytes()).unwrap(), &policy).unwrap()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loadgen-runs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn config(store: Store, staging: PathBuf, date: fn() -> String) -> ServiceConfig {
        ServiceConfig {
            store,
            staging_dir: staging,
            env: |_| None,
            date,
            api_key: None,
        }
    }

    async fn wait(service: &Service, id: &str) -> Value {
        for _ in 0..600 {
            let run = service.get(id).unwrap();
            if ["done", "failed", "stopped"].contains(&run["state"].as_str().unwrap_or("")) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} did not end");
    }

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Panics on its third call: the first run's save (start() takes two).
    fn date_that_panics_once() -> String {
        if CALLS.fetch_add(1, Ordering::SeqCst) == 2 {
            panic!("clock exploded");
        }
        "20261129-000000".into()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_run_fails_and_the_next_one_runs() {
        let sim = simulator();
        let dir = scratch("panic");
        let service = Service::new(config(
            Store::Dir(dir.join("results")),
            dir.join("staging"),
            date_that_panics_once,
        ));
        tokio::spawn(Arc::clone(&service).executor());
        let first = service.start(valid(sim)).unwrap();
        let run = wait(&service, &first).await;
        assert_eq!(run["state"], "failed", "{run}");
        let error = run["error"].as_str().unwrap();
        assert!(error.contains("panicked: clock exploded"), "{error}");
        let second = service.start(valid(sim)).unwrap();
        let run = wait(&service, &second).await;
        assert_eq!(run["state"], "done", "{run}");
        assert_eq!(run["result"]["completed"], 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// At shutdown the queue is dropped, never started: the active run
    /// stopping at once used to let the executor start the next queued
    /// run before `stop_all` reached it (seen in CI once prompts got fast).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_shutdown_the_executor_starts_nothing() {
        let sim = simulator();
        let dir = scratch("closed");
        let service = Service::new(config(
            Store::Dir(dir.join("results")),
            dir.join("staging"),
            || "20261129-000000".into(),
        ));
        tokio::spawn(Arc::clone(&service).executor());
        service.stop_all();
        // Queued while the executor may be between two runs.
        let late = service.start(valid(sim)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let run = service.get(&late).unwrap();
        assert_eq!(run["state"], "queued", "{run}");
        service.stop_all();
        let run = wait(&service, &late).await;
        assert_eq!(run["state"], "stopped", "{run}");
        assert_eq!(run["error"], "stopped before it started", "{run}");
        assert!(service.idle());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_result_the_store_refuses_is_kept_and_served() {
        let sim = simulator();
        let dir = scratch("unstorable");
        // Nothing can be created under a regular file, not even by root.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), b"").unwrap();
        let service = Service::new(config(
            Store::Dir(dir.join("file/results")),
            dir.join("staging"),
            || "20261129-000000".into(),
        ));
        tokio::spawn(Arc::clone(&service).executor());
        let id = service.start(valid(sim)).unwrap();
        let run = wait(&service, &id).await;
        assert_eq!(run["state"], "done", "{run}");
        assert_eq!(run["result"]["completed"], 3);
        let error = run["error"].as_str().unwrap();
        assert!(error.contains("storing the result failed"), "{error}");
        let kept = run["result_location"].as_str().unwrap();
        assert!(
            kept.starts_with(&dir.join("staging").display().to_string()),
            "{kept}"
        );
        let text = std::fs::read_to_string(kept).unwrap();
        assert!(text.contains("\"completed\": 3"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
