//! The runs: a registry (state, progress, result), one run at a time with
//! an optional queue, and the executor that prepares prompts and runs the
//! benchmark (`servebench-bench`) with live metrics.

use crate::metrics::{Registry, RunMetrics};
use crate::spec::ValidSpec;
use crate::store::Store;
use serde_json::{json, Value};
use servebench_bench::{BenchConfig, LongRun, SaveConfig};
use servebench_client::run::{Observer, Quiet};
use servebench_prompts::tokenizer::Tokenizer;
use servebench_prompts::PrepareOptions;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

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
}

#[derive(Debug, Default)]
struct Runs {
    order: Vec<String>,
    map: HashMap<String, RunInfo>,
    queue: VecDeque<(String, ValidSpec)>,
    active: Option<String>,
}

/// Why a start was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// A run is active and the spec did not ask to queue.
    Busy { active: String },
}

/// Why a stop was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
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
pub const KEPT_FINISHED: usize = 100;

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
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        // The random part keeps ids (and file names) unique across restarts
        // within the same second.
        let salt =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), n)
                & 0xffff;
        let id = format!("{}-{n:04}-{salt:04x}", (self.cfg.date)());
        let metrics = Arc::new(RunMetrics::new(&id, &spec.model, &spec.spec.backend));
        let (stop, _) = watch::channel(false);
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
    /// partial result).
    pub fn stop(&self, id: &str) -> Result<RunState, StopError> {
        let mut runs = self.lock();
        let Some(info) = runs.map.get_mut(id) else {
            return Err(StopError::NotFound);
        };
        match info.state {
            RunState::Queued => {
                info.state = RunState::Stopped;
                info.error = Some("stopped before it started".into());
                runs.queue.retain(|(q, _)| q != id);
                Ok(RunState::Stopped)
            }
            RunState::Running => {
                let _ = info.stop.send(true);
                Ok(RunState::Running)
            }
            done => Err(StopError::Finished(done)),
        }
    }

    /// Stops everything (shutdown): the queue is dropped, the active run
    /// stops and saves.
    pub fn stop_all(&self) {
        let ids: Vec<String> = {
            let runs = self.lock();
            runs.order.clone()
        };
        for id in ids {
            let _ = self.stop(&id);
        }
    }

    /// Whether nothing is running or queued.
    pub fn idle(&self) -> bool {
        let runs = self.lock();
        runs.active.is_none() && runs.queue.is_empty()
    }

    /// One run as JSON (`GET /runs/{id}`).
    pub fn get(&self, id: &str) -> Option<Value> {
        let runs = self.lock();
        runs.map.get(id).map(|info| run_json(id, info, true))
    }

    /// All runs, oldest first, without their results (`GET /runs`).
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
                match runs.queue.pop_front() {
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
            self.registry.add(Arc::clone(&metrics));
            let outcome = self.execute(&id, spec, metrics, stop).await;
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
                        info.result = Some(done.result);
                        info.location = Some(done.location);
                        info.error = done.store_warning;
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
        let prepare_opts = PrepareOptions {
            dataset: spec.dataset.dataset().map_err(|e| e.to_string())?,
            seed: s.seed,
            request_rate: spec.request_rate,
            burstiness: s.burstiness,
            lora_modules: s.lora_modules.clone(),
        };
        let tok_id = tokenizer_id.clone();
        let (tok, prepared) = tokio::task::spawn_blocking(move || {
            let tok = Tokenizer::load(&tok_id, &env).map_err(|e| e.to_string())?;
            let prepared =
                servebench_prompts::prepare(&tok, &prepare_opts).map_err(|e| e.to_string())?;
            Ok::<_, String>((tok, prepared))
        })
        .await
        .map_err(|e| format!("preparing prompts: {e}"))??;
        if *stop.borrow() {
            return Err("stopped while preparing prompts".into());
        }
        let file_name = format!("{id}.json");
        let cfg = BenchConfig {
            backend: s.backend.clone(),
            base_url: s.base_url.clone(),
            host: s.host.clone(),
            port: s.port,
            endpoint: s.endpoint.clone(),
            model: spec.model.clone(),
            served_model_name: s.served_model_name.clone(),
            tokenizer_id,
            best_of: s.best_of,
            logprobs: s.logprobs,
            ignore_eos: s.ignore_eos,
            profile: s.profile,
            max_concurrency: s.max_concurrency,
            request_rate: spec.request_rate,
            burstiness: s.burstiness,
            num_prompts: i64::try_from(s.num_prompts).unwrap_or(i64::MAX),
            num_warmups: i64::try_from(s.num_warmups).unwrap_or(i64::MAX),
            percentile_metrics: s.percentile_metrics.clone(),
            metric_percentiles: s.metric_percentiles.clone(),
            goodput: s.goodput.clone(),
            api_key: self.cfg.api_key.clone(),
            new_connection_per_request: false,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(600),
            ca_file: None,
            save: Some(SaveConfig {
                metadata: s.metadata.clone(),
                save_detailed: s.save_detailed,
                result_dir: Some(self.cfg.staging_dir.display().to_string()),
                result_filename: Some(file_name.clone()),
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
        let Some((doc, file)) = outcome.saved else {
            return Err("the run saved no result".into());
        };
        let text = std::fs::read(&file).map_err(|e| format!("reading {file}: {e}"))?;
        let stored = self.cfg.store.put(&file_name, text).await;
        let _ = std::fs::remove_file(&file);
        let stored = stored?;
        Ok(Finished {
            result: servebench_pyjson::to_serde_json(&servebench_pyjson::Value::Dict(doc)),
            location: stored.location,
            store_warning: stored.warning,
            interrupted: outcome.interrupted,
        })
    }
}

struct Finished {
    result: Value,
    location: String,
    store_warning: Option<String>,
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

fn run_json(id: &str, info: &RunInfo, with_result: bool) -> Value {
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
        "spec": info.spec,
        "result_location": info.location,
        "error": info.error,
    });
    if with_result {
        v["result"] = info.result.clone().unwrap_or(Value::Null);
    }
    v
}
