//! The replay scheduler (SPEC §2.2-2.7): lanes of session trees, the
//! warm-up primers and per-lane advances, the profiling phase with
//! recorded end-to-start think times, subagent spawn/join, idle caps,
//! recycling, the live failure threshold, and one [`RequestRecord`] per
//! request sent.
//!
//! One task dispatches: a single heap of pending timers (`core`), request
//! tasks spawned per send, completions back through a channel. The
//! dispatcher never serialises prompts: each turn's messages are JSON
//! escaped once before the run ([`TurnBody`]); the request task
//! concatenates them and splices the cache-bust marker into the first user
//! message. Timers within 3 ms are met by short blocking sleeps rather than
//! by tokio's millisecond timer.

mod body;
pub(crate) mod core;

pub use body::{EscapeCache, TreePrompts, TurnBody, USER_AGENT};

use crate::plan::{self, Split, TreePlan};
use crate::record::{Phase, RecordError, RequestRecord};
use crate::AgentxError;
use body::BodyTemplate;
use core::{Core, CoreConfig, Dispatch, Kind};
use servebench_client::{ChatClient, ChatExchange};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Live error ratio checks start after this many profiled completions, so
/// one early failure does not stop a run (aiperf's minimum is not known).
pub const FAILURE_CHECK_MIN_COMPLETED: u64 = 10;
/// After a stop, how long in-flight requests may still finish.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Timers closer than this are met by yielding, not sleeping.
const SPIN_S: f64 = 0.003;
/// Blocking sleep slice inside the last [`SPIN_S`] before a timer.
const SLEEP_SLICE_S: f64 = 0.0002;

/// Optional routing headers taken from the correlation id (SPEC §2.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderOptions {
    pub x_session_id: bool,
    pub x_smg_routing_key: bool,
    pub x_dynamo_session_id: bool,
}

/// How to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// Lanes (`--concurrency`).
    pub concurrency: usize,
    pub duration_s: f64,
    pub warmup_per_lane: u32,
    pub system_idle_cap_s: f64,
    pub trace_idle_cap_s: Option<f64>,
    /// `--burst-phase-starts`: primers all at once.
    pub burst: bool,
    pub warmup_grace_s: f64,
    pub min_ratio: f64,
    pub max_ratio: f64,
    pub seed: u64,
    /// Keys the cache-bust markers (fresh per run).
    pub benchmark_id: String,
    pub failed_request_threshold: f64,
    /// `--model` names (SPEC §2.9).
    pub models: Vec<String>,
    /// Merged into every body (`ignore_eos` is always true).
    pub extra_inputs: serde_json::Map<String, serde_json::Value>,
    pub headers: HeaderOptions,
    pub user_agent: String,
    /// Progress callback cadence.
    pub stats_interval_s: f64,
}

/// The usable trees and where each lane starts.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The usable pool, in sampler order.
    pub trees: Vec<Arc<TreePlan>>,
    /// Per lane: pool index and its split at t*.
    pub lanes: Vec<(usize, Split)>,
    /// Trace ids left out: nothing to profile at any t*.
    pub unusable: Vec<String>,
}

/// Picks the usable trees (at least one profiled turn at their t*) and the
/// lanes' starting points; lanes beyond the pool wrap around it with
/// lane-salted t* (SPEC §2.2-2.3). An empty pool is an error.
pub fn prepare(trees: Vec<TreePlan>, cfg: &ReplayConfig) -> Result<Prepared, AgentxError> {
    let mut pool = Vec::new();
    let mut splits = Vec::new();
    let mut unusable = Vec::new();
    for tree in trees {
        let t = plan::trajectory_start(&tree, cfg.seed, None, cfg.min_ratio, cfg.max_ratio);
        match Split::at(&tree, t) {
            Some(split) => {
                splits.push(split);
                pool.push(Arc::new(tree));
            }
            None => unusable.push(tree.trace_id.clone()),
        }
    }
    if pool.is_empty() {
        return Err(AgentxError::EmptyTracePool(format!(
            "none of the traces can be split into history and at least one profiled turn ({} unusable)",
            unusable.len()
        )));
    }
    let n = pool.len();
    let mut lanes = Vec::with_capacity(cfg.concurrency);
    for lane in 0..cfg.concurrency {
        let index = lane % n;
        if lane < n {
            lanes.push((index, splits[index].clone()));
            continue;
        }
        let tree = &pool[index];
        let t = plan::trajectory_start(
            tree,
            cfg.seed,
            Some(lane as u32),
            cfg.min_ratio,
            cfg.max_ratio,
        );
        let split = Split::at(tree, t).unwrap_or_else(|| splits[index].clone());
        lanes.push((index, split));
    }
    Ok(Prepared {
        trees: pool,
        lanes,
        unusable,
    })
}

/// The cache-bust marker of a play (SPEC §2.5).
pub fn marker(benchmark_id: &str, recycle_pass: u32, trajectory: u32, trace_id: &str) -> String {
    let digest =
        Sha256::digest(format!("{benchmark_id}:{recycle_pass}:{trajectory}:{trace_id}").as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("[rid:{hex}]\n\n")
}

/// A progress report, every `stats_interval_s` and at phase changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// `warmup`, `profiling`, `draining`.
    pub phase: &'static str,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    pub sent: u64,
    pub completed: u64,
    pub errors: u64,
    pub in_flight: usize,
    /// A one-off note (phase change, stop reason) or empty.
    pub note: String,
}

/// One dispatch, for the audit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DispatchSample {
    pub phase: Phase,
    /// Sent minus scheduled, seconds.
    pub lateness_s: f64,
    /// Of that, the dispatcher's part: decided (credit issued) minus
    /// scheduled. The rest is the request task's start.
    pub issue_lateness_s: f64,
    /// Due before the dispatcher had taken in the completion that allowed
    /// it (a zero or short gap after a request it was told of late): its
    /// lateness is reaction time, not timer precision.
    pub reaction: bool,
    /// With a same-stream predecessor: recorded end-to-start gap, the gap
    /// the schedule asked for (after idle caps and joins), the actual gap.
    pub gap: Option<(f64, f64, f64)>,
}

/// What the scheduler counted (see the audit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayStats {
    pub global_idle_jumps: u64,
    pub global_idle_skipped_s: f64,
    pub tree_idle_jumps: u64,
    pub tree_idle_skipped_s: f64,
    pub recycles: u64,
    pub primers: u64,
    pub advances: u64,
    /// Lane-seconds busy over the profiling window.
    pub busy_lane_s: f64,
    pub warmup_grace_exceeded: bool,
}

/// What a replay produced.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// Every request sent, in completion order.
    pub records: Vec<RequestRecord>,
    /// Stopped by the caller's stop signal.
    pub cancelled: bool,
    /// Why the run failed (warm-up failure, failure threshold).
    pub failure: Option<String>,
    pub warmup_start_ns: u64,
    pub warmup_end_ns: Option<u64>,
    pub profiling_start_ns: Option<u64>,
    pub profiling_end_ns: Option<u64>,
    pub stats: ReplayStats,
    pub samples: Vec<DispatchSample>,
    pub concurrency: usize,
}

/// What one play (a tree replayed once) sends with every request.
#[derive(Debug)]
struct PlayInfo {
    tree: Arc<TreePlan>,
    prompts: Arc<TreePrompts>,
    marker: Arc<str>,
    /// Per stream: correlation id and session number (assigned at the
    /// stream's first dispatch; `u64::MAX` until then).
    correlation: Vec<String>,
    session_num: Vec<AtomicU64>,
    /// Per stream: the model index sent (SPEC §2.9).
    models: Vec<Vec<usize>>,
}

struct Flight {
    record: RequestRecord,
    /// Core seconds of the end.
    end_s: f64,
    id: u64,
    sample: DispatchSample,
}

/// A fresh UUID v4 (random per process; ids must differ between runs).
#[derive(Debug)]
struct Uuids(AtomicU64);

impl Uuids {
    fn new() -> Uuids {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Uuids(AtomicU64::new(
            nanos ^ (u64::from(std::process::id()) << 32),
        ))
    }

    fn next(&self) -> String {
        let mut a = splitmix(self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed));
        let mut b = splitmix(a ^ 0xD1B5_4A32_D192_ED03);
        a = (a & !0xF000) | 0x4000; // version 4
        b = (b & !(0xC000 << 48)) | (0x8000 << 48); // RFC 4122 variant
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which `--model` each turn sends: the main model maps to the first,
/// other models to the next in first-appearance order, wrapping.
fn model_map(tree: &TreePlan, n: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<&str> = vec![tree.main_model.as_str()];
    let mut map = Vec::new();
    for s in &tree.streams {
        let mut per = Vec::new();
        for t in &s.turns {
            let i = match order.iter().position(|m| *m == t.model) {
                Some(i) => i,
                None => {
                    order.push(&t.model);
                    order.len() - 1
                }
            };
            per.push(i % n.max(1));
        }
        map.push(per);
    }
    map
}

/// Runs the replay against `client` until the profiling phase and its
/// drain are over, a failure stops it, or `stop` resolves (then it is
/// marked cancelled; in-flight requests get [`STOP_GRACE`]).
/// `prompts[i]` are the messages of `prepared.trees[i]`.
pub async fn run(
    client: &ChatClient,
    prepared: Prepared,
    prompts: Vec<TreePrompts>,
    cfg: &ReplayConfig,
    progress: &(dyn Fn(&Progress) + Send + Sync),
    stop: impl Future<Output = ()>,
) -> Result<ReplayOutcome, AgentxError> {
    if prompts.len() != prepared.trees.len() {
        return Err(AgentxError::Run(format!(
            "{} prompt sets for {} trees",
            prompts.len(),
            prepared.trees.len()
        )));
    }
    for (tree, p) in prepared.trees.iter().zip(&prompts) {
        p.check(tree)?;
    }
    if cfg.models.is_empty() {
        return Err(AgentxError::Options("no --model given".into()));
    }
    let prompts: Vec<Arc<TreePrompts>> = prompts.into_iter().map(Arc::new).collect();
    let template = Arc::new(BodyTemplate::new(&cfg.models, &cfg.extra_inputs)?);
    let uuids = Uuids::new();
    let mut core = Core::new(
        CoreConfig {
            concurrency: cfg.concurrency,
            duration_s: cfg.duration_s,
            warmup_per_lane: cfg.warmup_per_lane,
            system_idle_cap_s: cfg.system_idle_cap_s,
            trace_idle_cap_s: cfg.trace_idle_cap_s,
            burst: cfg.burst,
            warmup_grace_s: cfg.warmup_grace_s,
        },
        prepared.trees.clone(),
        prepared.lanes,
    );
    let start = Instant::now();
    let start_ns = client.ns_at(start);
    let to_ns = |s: f64| start_ns.saturating_add((s.max(0.0) * 1e9) as u64);
    let now_s = || start.elapsed().as_secs_f64();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Flight>();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut plays: HashMap<u64, Arc<PlayInfo>> = HashMap::new();
    let mut flying: HashMap<u64, RequestRecord> = HashMap::new();
    let mut records = Vec::new();
    let mut samples = Vec::new();
    let (mut sent, mut completed, mut errors) = (0u64, 0u64, 0u64);
    let (mut prof_completed, mut prof_errors) = (0u64, 0u64);
    let mut next_session = 0u64;
    let mut failure: Option<String> = None;
    let mut cancelled = false;
    let mut stop_at: Option<f64> = None;
    let mut next_stats = cfg.stats_interval_s.max(0.1);
    let mut was_profiling = false;
    // When the dispatcher last took in completions (core seconds).
    let mut last_taken = f64::NEG_INFINITY;
    tokio::pin!(stop);
    progress(&Progress {
        phase: "warmup",
        elapsed_s: 0.0,
        sent: 0,
        completed: 0,
        errors: 0,
        in_flight: 0,
        note: format!(
            "WARMUP spread: {:.1}s ramp (recorded, before idle caps) aligning {} lane(s) on t*",
            core.ramp_s(),
            cfg.concurrency
        ),
    });

    loop {
        let now = now_s();
        for d in core.poll(now) {
            let Some(play) = play_info(&mut plays, &core, &d, &prompts, cfg, &uuids) else {
                continue;
            };
            let s = d.turn.stream as usize;
            if let Some(slot) = play.session_num.get(s) {
                if slot.load(Ordering::Relaxed) == u64::MAX {
                    slot.store(next_session, Ordering::Relaxed);
                    next_session += 1;
                }
            }
            let mut record = base_record(&play, &d, &uuids, to_ns(now));
            record.credit_issued_ns = to_ns(now);
            flying.insert(d.id, record.clone());
            sent += 1;
            let client = client.clone();
            let template = Arc::clone(&template);
            let tx = tx.clone();
            let headers_cfg = cfg.headers;
            let user_agent = cfg.user_agent.clone();
            let due_ns = to_ns(d.due);
            let issue_lateness_s = now - d.due;
            let reaction = d.due <= last_taken;
            let predecessor = d.predecessor;
            let id = d.id;
            let phase = d.phase;
            let turn = d.turn;
            tasks.spawn(async move {
                let body = match play.prompts.body(turn) {
                    Some(b) => b,
                    None => return,
                };
                let model = play
                    .models
                    .get(turn.stream as usize)
                    .and_then(|m| m.get(turn.turn as usize))
                    .copied()
                    .unwrap_or(0);
                let json = template.render(body, &play.marker, model, record.max_completion_tokens);
                let parent = play.correlation.first().cloned().unwrap_or_default();
                let mut headers: Vec<(&str, &str)> = vec![
                    ("User-Agent", user_agent.as_str()),
                    ("X-Request-ID", record.x_request_id.as_str()),
                    ("X-Correlation-ID", record.x_correlation_id.as_str()),
                    ("Accept", "text/event-stream"),
                    ("Content-Type", "application/json"),
                    ("X-Session-Affinity", record.x_correlation_id.as_str()),
                ];
                if headers_cfg.x_session_id {
                    headers.push(("X-Session-ID", record.x_correlation_id.as_str()));
                }
                if headers_cfg.x_smg_routing_key {
                    headers.push(("X-SMG-Routing-Key", record.x_correlation_id.as_str()));
                }
                if headers_cfg.x_dynamo_session_id {
                    headers.push(("X-Dynamo-Session-ID", record.x_correlation_id.as_str()));
                    if record.parent_correlation_id.is_some() {
                        headers.push(("X-Dynamo-Parent-Session-ID", parent.as_str()));
                    }
                }
                let exchange = client.send(bytes::Bytes::from(json), &headers).await;
                let end_ns = exchange.end_ns;
                let lateness_s = (exchange.start_ns as f64 - due_ns as f64) / 1e9;
                let gap = predecessor.map(|(done_s, recorded)| {
                    let done_ns = start_ns.saturating_add((done_s.max(0.0) * 1e9) as u64);
                    (
                        recorded,
                        (due_ns as f64 - done_ns as f64) / 1e9,
                        (exchange.start_ns as f64 - done_ns as f64) / 1e9,
                    )
                });
                fill(&mut record, exchange);
                let _ = tx.send(Flight {
                    record,
                    end_s: end_ns.saturating_sub(start_ns) as f64 / 1e9,
                    id,
                    sample: DispatchSample {
                        phase,
                        lateness_s,
                        issue_lateness_s,
                        reaction,
                        gap,
                    },
                });
            });
        }
        if core.is_done() && flying.is_empty() {
            break;
        }
        if core.is_profiling() && !was_profiling {
            was_profiling = true;
            progress(&Progress {
                phase: "profiling",
                elapsed_s: now,
                sent,
                completed,
                errors,
                in_flight: core.in_flight(),
                note: format!(
                    "warm-up done ({} primers, {} advances); profiling for {} s",
                    core.stats.primers, core.stats.advances, cfg.duration_s
                ),
            });
        }
        if now >= next_stats {
            next_stats = now + cfg.stats_interval_s.max(0.1);
            progress(&Progress {
                phase: phase_name(&core),
                elapsed_s: now,
                sent,
                completed,
                errors,
                in_flight: core.in_flight(),
                note: String::new(),
            });
        }
        // After a stop: give in-flight requests their grace, then cancel.
        if let Some(at) = stop_at {
            if now - at > STOP_GRACE.as_secs_f64() {
                tasks.abort_all();
                let end = to_ns(now);
                let mut left: Vec<(u64, RequestRecord)> = flying.drain().collect();
                left.sort_by_key(|(id, _)| *id);
                for (id, mut r) in left {
                    r.request_end_ns = end;
                    r.was_cancelled = true;
                    r.error = Some(RecordError {
                        code: None,
                        kind: "Cancelled".into(),
                        message: "the run stopped before the answer was complete".into(),
                    });
                    core.complete(id, now);
                    records.push(r);
                }
                break;
            }
        }
        let wake = core.next_due();
        let spin = wake.is_some_and(|w| w - now < SPIN_S);
        let sleep_for = match (wake, stop_at) {
            _ if spin => Duration::ZERO,
            (_, Some(at)) => Duration::from_secs_f64(
                (at + STOP_GRACE.as_secs_f64() - now).clamp(0.0, STOP_GRACE.as_secs_f64()),
            ),
            (Some(w), None) => Duration::from_secs_f64((w - now - SPIN_S).max(0.0)),
            (None, None) => Duration::from_secs_f64((next_stats - now).max(0.001)),
        };
        let sleep_for = sleep_for.min(Duration::from_secs_f64((next_stats - now).max(0.0005)));
        let flight = if spin {
            // Short blocking sleeps (Linux hrtimers: tens of microseconds
            // late) instead of tokio's millisecond timer or a busy loop
            // that would take a core from the request tasks; completions
            // are looked at between them. The caller's runtime must be
            // multi-threaded (request tasks run on its workers).
            let left = wake.map_or(0.0, |w| w - now_s());
            match rx.try_recv() {
                Ok(f) => Some(f),
                Err(_) if left > SLEEP_SLICE_S => {
                    std::thread::sleep(Duration::from_secs_f64(
                        (left - SLEEP_SLICE_S).min(SLEEP_SLICE_S * 2.0),
                    ));
                    rx.try_recv().ok()
                }
                Err(_) => {
                    std::hint::spin_loop();
                    tokio::task::yield_now().await;
                    rx.try_recv().ok()
                }
            }
        } else {
            tokio::select! {
                biased;
                () = &mut stop, if stop_at.is_none() => {
                    cancelled = true;
                    stop_at = Some(now_s());
                    core.stop(now_s());
                    progress(&Progress { phase: "draining", elapsed_s: now_s(), sent, completed, errors, in_flight: core.in_flight(), note: "stop requested: no new requests, in-flight requests get a grace period".into() });
                    None
                }
                f = rx.recv() => f,
                () = tokio::time::sleep(sleep_for) => None,
            }
        };
        let mut next = flight;
        while let Some(f) = next.take() {
            flying.remove(&f.id);
            completed += 1;
            let failed = f.record.error.is_some();
            if failed {
                errors += 1;
            }
            match f.record.phase {
                Phase::Warmup if failed && failure.is_none() => {
                    let e = f
                        .record
                        .error
                        .as_ref()
                        .map_or(String::new(), |e| e.message.clone());
                    failure = Some(format!(
                        "a warm-up request failed ({}): {e}",
                        f.record.conversation_id
                    ));
                }
                Phase::Profiling => {
                    prof_completed += 1;
                    if failed {
                        prof_errors += 1;
                    }
                }
                Phase::Warmup => {}
            }
            if failure.is_none()
                && prof_completed >= FAILURE_CHECK_MIN_COMPLETED
                && prof_errors as f64 / prof_completed as f64 > cfg.failed_request_threshold
            {
                failure = Some(format!(
                    "the live error ratio {prof_errors}/{prof_completed} exceeded --failed-request-threshold {}",
                    cfg.failed_request_threshold
                ));
            }
            core.complete(f.id, f.end_s.min(now_s()));
            last_taken = now_s();
            samples.push(f.sample);
            records.push(f.record);
            next = rx.try_recv().ok();
        }
        if failure.is_some() && stop_at.is_none() {
            stop_at = Some(now_s());
            core.stop(now_s());
            progress(&Progress {
                phase: "draining",
                elapsed_s: now_s(),
                sent,
                completed,
                errors,
                in_flight: core.in_flight(),
                note: format!("stopping: {}", failure.as_deref().unwrap_or("")),
            });
        }
        // A task that ended without reporting (its prompt was missing).
        while let Some(Ok(_)) = tasks.try_join_next() {}
        if flying.len() > tasks.len() + rx.len() {
            let ids: Vec<u64> = flying.keys().copied().collect();
            if tasks.is_empty() && rx.is_empty() {
                for id in ids {
                    if let Some(mut r) = flying.remove(&id) {
                        r.request_end_ns = to_ns(now_s());
                        r.error = Some(RecordError {
                            code: None,
                            kind: "InternalError".into(),
                            message: "the request task ended without an answer".into(),
                        });
                        core.complete(id, now_s());
                        records.push(r);
                    }
                }
            }
        }
    }
    let s = &core.stats;
    Ok(ReplayOutcome {
        records,
        cancelled,
        failure,
        warmup_start_ns: to_ns(s.warmup_start),
        warmup_end_ns: s.warmup_end.map(to_ns),
        profiling_start_ns: s.profiling_start.map(to_ns),
        profiling_end_ns: s.profiling_end.map(to_ns),
        stats: ReplayStats {
            global_idle_jumps: s.global_jumps,
            global_idle_skipped_s: s.global_skipped_s,
            tree_idle_jumps: s.tree_jumps,
            tree_idle_skipped_s: s.tree_skipped_s,
            recycles: s.recycles,
            primers: s.primers,
            advances: s.advances,
            busy_lane_s: s.busy_lane_s,
            warmup_grace_exceeded: s.warmup_grace_exceeded,
        },
        samples,
        concurrency: cfg.concurrency,
    })
}

fn phase_name(core: &Core) -> &'static str {
    if core.is_profiling() {
        "profiling"
    } else if core.stats.profiling_start.is_some() {
        "draining"
    } else {
        "warmup"
    }
}

fn play_info(
    plays: &mut HashMap<u64, Arc<PlayInfo>>,
    core: &Core,
    d: &Dispatch,
    prompts: &[Arc<TreePrompts>],
    cfg: &ReplayConfig,
    uuids: &Uuids,
) -> Option<Arc<PlayInfo>> {
    if let Some(p) = plays.get(&d.play) {
        return Some(Arc::clone(p));
    }
    let play = core.play(d.lane)?;
    let tree = Arc::clone(core.tree(play.tree)?);
    let info = Arc::new(PlayInfo {
        marker: marker(&cfg.benchmark_id, play.recycle_pass, d.lane, &tree.trace_id).into(),
        correlation: tree.streams.iter().map(|_| uuids.next()).collect(),
        session_num: tree
            .streams
            .iter()
            .map(|_| AtomicU64::new(u64::MAX))
            .collect(),
        models: model_map(&tree, cfg.models.len()),
        prompts: Arc::clone(prompts.get(play.tree)?),
        tree,
    });
    // Plays that no lane holds any more are dropped (requests in flight
    // hold their own reference).
    let live = core.live_plays();
    plays.retain(|id, _| live.contains(id));
    plays.insert(d.play, Arc::clone(&info));
    Some(info)
}

fn base_record(play: &PlayInfo, d: &Dispatch, uuids: &Uuids, now_ns: u64) -> RequestRecord {
    let tree = &play.tree;
    let s = d.turn.stream as usize;
    let stream = &tree.streams[s];
    let turn = &stream.turns[d.turn.turn as usize];
    let root = play.correlation.first().cloned().unwrap_or_default();
    RequestRecord {
        session_num: play
            .session_num
            .get(s)
            .map_or(0, |n| n.load(Ordering::Relaxed)),
        x_request_id: uuids.next(),
        x_correlation_id: play.correlation.get(s).cloned().unwrap_or_default(),
        conversation_id: stream.conversation_id.clone(),
        turn_index: d.turn.turn,
        source_trace_id: tree.trace_id.clone(),
        source_outer_idx: turn.outer_idx,
        source_inner_idx: turn.inner_idx,
        source_kind: stream.kind,
        phase: d.phase,
        agent_depth: stream.agent_depth,
        parent_correlation_id: stream.parent.map(|_| root.clone()),
        root_correlation_id: root,
        cache_bust_marker: play.marker.to_string(),
        hash_ids: Arc::clone(&turn.hash_ids),
        prior_hit_blocks: turn.prior_hit_blocks,
        max_completion_tokens: match d.kind {
            Kind::Turn => turn.output_tokens.max(1),
            Kind::Primer | Kind::Advance => 1,
        },
        credit_issued_ns: now_ns,
        request_start_ns: now_ns,
        request_ack_ns: None,
        request_end_ns: now_ns,
        content_chunk_ns: Vec::new(),
        usage_prompt_tokens: None,
        usage_completion_tokens: None,
        usage_total_tokens: None,
        bytes_sent: 0,
        bytes_received: 0,
        was_cancelled: false,
        error: None,
    }
}

fn fill(record: &mut RequestRecord, x: ChatExchange) {
    record.request_start_ns = x.start_ns;
    record.request_ack_ns = x.head_ns;
    record.request_end_ns = x.end_ns;
    record.content_chunk_ns = x
        .events
        .iter()
        .filter(|e| e.content)
        .map(|e| e.at_ns)
        .collect();
    record.usage_prompt_tokens = x.usage.prompt_tokens;
    record.usage_completion_tokens = x.usage.completion_tokens;
    record.usage_total_tokens = x.usage.total_tokens;
    record.bytes_sent = x.bytes_sent;
    record.bytes_received = x.bytes_received;
    record.error = x.error.map(|e| RecordError {
        code: e.status,
        kind: e.kind.name().to_owned(),
        message: e.message,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(concurrency: usize) -> ReplayConfig {
        ReplayConfig {
            concurrency,
            duration_s: 10.0,
            warmup_per_lane: 0,
            system_idle_cap_s: 10.0,
            trace_idle_cap_s: None,
            burst: false,
            warmup_grace_s: 10.0,
            min_ratio: 0.25,
            max_ratio: 0.75,
            seed: 42,
            benchmark_id: "b".into(),
            failed_request_threshold: 0.1,
            models: vec!["m".into()],
            extra_inputs: serde_json::Map::new(),
            headers: HeaderOptions::default(),
            user_agent: "u".into(),
            stats_interval_s: 1.0,
        }
    }

    #[test]
    fn markers_ids_and_lanes() {
        let m = marker("bench", 0, 1, "T");
        assert_eq!(m, marker("bench", 0, 1, "T"));
        assert_ne!(m, marker("bench", 1, 1, "T"));
        assert_ne!(m, marker("bench", 0, 2, "T"));
        assert!(m.starts_with("[rid:") && m.ends_with("]\n\n") && m.len() == 20);
        let u = Uuids::new();
        let (a, b) = (u.next(), u.next());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");

        let tree = plan::build(&plan::tests::sample()).unwrap();
        // Three lanes over one trace: lanes 1 and 2 wrap with their own t*.
        let p = prepare(vec![tree.clone()], &cfg(3)).unwrap();
        assert_eq!(p.trees.len(), 1);
        assert_eq!(p.lanes.len(), 3);
        assert!(p.lanes.iter().all(|(i, _)| *i == 0));
        assert!(
            p.lanes[1].1.t_star != p.lanes[0].1.t_star
                || p.lanes[2].1.t_star != p.lanes[0].1.t_star
        );
        // Model rewriting: one name for all, or the main model first.
        let mut other = plan::tests::sample();
        if let crate::trace::Entry::Subagent(s) = &mut other.entries[3] {
            s.requests[0].model = "haiku".into();
        }
        let map = model_map(&plan::build(&other).unwrap(), 2);
        assert_eq!(map[0], [0, 0, 0, 0]);
        assert_eq!(map[1], [1, 0]);
        assert_eq!(model_map(&tree, 1)[1], [0, 0]);
    }

    #[test]
    fn empty_pool_is_an_error() {
        assert!(matches!(
            prepare(Vec::new(), &cfg(1)),
            Err(AgentxError::EmptyTracePool(_))
        ));
    }
}
