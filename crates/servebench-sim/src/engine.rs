//! The simulated engine: continuous batching on the model's step times.
//!
//! One task owns the batch. Each step it admits waiting requests while the
//! KV cache and `max_num_seqs` allow (oldest first), gives every running
//! sequence past its prefill one decode token, fills the rest of the token
//! budget with prompt chunks, sleeps the step's modelled time (divided by
//! the speed-up, on an absolute clock), then delivers the tokens: one per
//! decoding sequence, and the first token of every sequence whose prefill
//! completed in that step. The context a step reads is, per sequence, its
//! tokens so far (prompt chunks included).
//!
//! The engine runs on its own thread, not as a runtime task: tokio's timer
//! rounds sleeps up to whole milliseconds, which a `--speedup` of 20 turns
//! into 20 simulated milliseconds; a thread's sleep is precise to tens of
//! microseconds. An idle engine's clock restarts at the arrival of the
//! request that wakes it, so the server's own work before admission
//! overlaps the first step instead of adding to it. That only hides work
//! shorter than the step (in wall time, step ÷ speed-up), so a real
//! tokenizer's count is kept off that path altogether (module `count`).
//!
//! The engine owns the prefix cache (module `prefix`). A request's block
//! hashes come with its exact token ids: at once from the built-in text
//! source, later from a real tokenizer (counted on another thread). The
//! lookup happens when the request is admitted if its hashes are known
//! then, and its prefill starts after the cached tokens (they skip prefill
//! compute; attention still reads them: a chunk's context counts from the
//! prompt's start).
//!
//! A real tokenizer's count usually comes after the prefill (a 14k-token
//! prompt takes longer to encode than its prefill at `--speedup 20`), so
//! while it is pending the engine schedules on an estimate: a second cache
//! of the prompt *text*'s chained 64-byte block hashes (filled after each
//! prefill, evicted alike), whose hit in bytes times the prompt's
//! estimated tokens per byte, rounded down to whole blocks, is skipped.
//! When the ids arrive the exact lookup is what `/metrics` counts, and the
//! prefill then skips the part of the exact hit it has not reached yet;
//! the part of the exact hit it did compute is counted as *late*
//! (`servebench_sim_prefix_cache_late_hits_total`), so lost savings show
//! instead of hiding (an estimate that skipped more than the exact hit is
//! not corrected). A request's token blocks are cached once its prefill
//! is done and its ids are known (for a request that finished before its
//! count, when the count comes).
//! The cache may hold what the pool has left beside the running requests'
//! reservations; it shrinks as they grow, as vLLM reuses free cached
//! blocks for new allocations.

use crate::model::Deployment;
use crate::prefix::{Blocks, Counters, PrefixCache, BLOCK_TOKENS, TEXT_BLOCK_BYTES};
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A request handed to the engine; it receives one `()` per token.
#[derive(Debug)]
pub(crate) struct Admission {
    pub prompt_tokens: usize,
    pub max_tokens: usize,
    /// When the request reached the server.
    pub arrived: Instant,
    pub tokens: mpsc::UnboundedSender<()>,
    /// The prompt's exact count and block hashes, once counted.
    pub prefix: Arc<OnceLock<Blocks>>,
    /// While the count is pending: the prompt text's block hashes and
    /// length in bytes (`None` when the count came with the request).
    pub text: Option<(Vec<u64>, usize)>,
}

struct Seq {
    prompt: usize,
    prefilled: usize,
    generated: usize,
    max: usize,
    tokens: mpsc::UnboundedSender<()>,
    prefix: Arc<OnceLock<Blocks>>,
    /// The prefix cache was consulted.
    looked_up: bool,
    /// Its blocks were cached.
    inserted: bool,
    /// Text block hashes and bytes (see [`Admission::text`]); taken when
    /// cached.
    text: Option<(Vec<u64>, usize)>,
    /// Prompt tokens skipped on the text estimate.
    estimated: usize,
}

impl Seq {
    fn reserve(&self) -> usize {
        self.prompt + self.max
    }
}

/// Live numbers for `/metrics` and the power sampler.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    pub running: std::sync::atomic::AtomicU64,
    pub waiting: std::sync::atomic::AtomicU64,
    /// KV-cache use in millionths.
    pub kv_usage_ppm: std::sync::atomic::AtomicU64,
    /// The GPUs' activity over (wall) time, for module `power`.
    pub activity: std::sync::Mutex<Activity>,
}

/// A piecewise-constant activity level (0 idle, else the running step's
/// [`Deployment::step_activity`]) and its integral over wall time. The
/// engine sets it once per step; the sampler reads it once per sample.
#[derive(Debug)]
pub(crate) struct Activity {
    since: Instant,
    level: f64,
    /// ∫ level dt (seconds) up to `since`.
    integral: f64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            since: Instant::now(),
            level: 0.0,
            integral: 0.0,
        }
    }
}

impl Activity {
    /// From `now` on the level is `level`.
    pub(crate) fn set(&mut self, now: Instant, level: f64) {
        self.integral = self.integral_at(now);
        self.since = self.since.max(now);
        self.level = level;
    }

    /// ∫ level dt from the start up to `now` (no later change assumed).
    pub(crate) fn integral_at(&self, now: Instant) -> f64 {
        self.integral + self.level * now.saturating_duration_since(self.since).as_secs_f64()
    }

    /// The current level.
    pub(crate) fn level(&self) -> f64 {
        self.level
    }
}

impl Gauges {
    fn set_activity(&self, level: f64) {
        if let Ok(mut a) = self.activity.lock() {
            a.set(Instant::now(), level);
        }
    }
}

/// The KV pool and the prefix cache's counters, shared with `/metrics`.
pub(crate) struct Pool {
    /// Tokens the KV cache holds.
    pub capacity: usize,
    pub counters: Arc<Counters>,
}

/// Starts the engine; requests go in through the returned sender.
pub(crate) fn spawn(
    deployment: Deployment,
    speedup: f64,
    gauges: Arc<Gauges>,
    pool: Pool,
) -> mpsc::UnboundedSender<Admission> {
    let (tx, rx) = mpsc::unbounded_channel();
    // If the thread cannot start, the dropped receiver makes every
    // admission fail, which the server reports per request.
    let _ = std::thread::Builder::new()
        .name("sim-engine".into())
        .spawn(move || run(deployment, speedup, rx, gauges, pool));
    tx
}

/// The prefix cache as the engine drives it.
struct Cache {
    cache: PrefixCache,
    /// The prompt texts' blocks (the estimate while a count is pending).
    text: PrefixCache,
    counters: Arc<Counters>,
    /// Blocks in the pool.
    blocks: usize,
    /// Requests that finished before their count came, with their
    /// scheduled prompt and the tokens the estimate skipped.
    orphans: Vec<(Arc<OnceLock<Blocks>>, usize, usize)>,
}

impl Cache {
    /// Blocks the cache may keep beside `kv_used` reserved tokens.
    fn limit(&self, kv_used: usize) -> usize {
        self.blocks.saturating_sub(kv_used.div_ceil(BLOCK_TOKENS))
    }

    /// At admission: skips the cached tokens of `s`, exactly if its ids
    /// are known, else on the text estimate.
    fn admit(&mut self, s: &mut Seq) {
        self.look_up(s);
        if s.looked_up {
            return;
        }
        let Some((hashes, bytes)) = &s.text else {
            return;
        };
        let hit_bytes = self.text.lookup_hashes(hashes) * TEXT_BLOCK_BYTES;
        let tokens = (hit_bytes as f64 * s.prompt as f64 / (*bytes).max(1) as f64) as usize;
        let skip = (tokens / BLOCK_TOKENS * BLOCK_TOKENS).min(s.prompt.saturating_sub(1));
        s.prefilled = skip;
        s.estimated = skip;
    }

    /// Consults the cache for `s` once its hashes are known (no-op before,
    /// and after the first time).
    fn look_up(&mut self, s: &mut Seq) {
        if s.looked_up {
            return;
        }
        let Some(blocks) = s.prefix.get() else { return };
        s.looked_up = true;
        let hit = self.cache.lookup(blocks);
        self.counters.looked_up(blocks.tokens, hit);
        // The part of the hit computed so far: past the estimate's skip,
        // up to the prefill's progress.
        let late = hit.min(s.prefilled).saturating_sub(s.estimated);
        self.counters.late(late);
        // At least the last (scheduled) prompt token is computed.
        let skip_to = hit.min(s.prompt.saturating_sub(1));
        if s.prefilled < s.prompt {
            s.prefilled = s.prefilled.max(skip_to);
        }
    }

    /// Caches `s`'s text blocks once its prefill is done, and its token
    /// blocks once they are known too.
    fn insert(&mut self, s: &mut Seq, kv_used: usize) {
        if s.prefilled < s.prompt {
            return;
        }
        let limit = self.limit(kv_used);
        if let Some((hashes, _)) = s.text.take() {
            self.text.insert_hashes(&hashes, limit);
        }
        if s.inserted || !s.looked_up {
            return;
        }
        if let Some(blocks) = s.prefix.get() {
            self.cache.insert(blocks, limit);
            s.inserted = true;
        }
    }

    /// Looks up and caches the finished requests whose counts have come;
    /// drops those whose count will never come.
    fn adopt(&mut self, kv_used: usize) {
        let limit = self.limit(kv_used);
        let (cache, counters) = (&mut self.cache, &self.counters);
        self.orphans
            .retain(|(prefix, prompt, estimated)| match prefix.get() {
                Some(blocks) => {
                    let hit = cache.lookup(blocks);
                    counters.looked_up(blocks.tokens, hit);
                    counters.late(hit.min(*prompt).saturating_sub(*estimated));
                    cache.insert(blocks, limit);
                    false
                }
                // Only the engine holds it: the counting thread is gone.
                None => Arc::strong_count(prefix) > 1,
            });
    }
}

/// Sleeps until `deadline` (no-op when it has passed).
fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

fn run(
    d: Deployment,
    speedup: f64,
    mut rx: mpsc::UnboundedReceiver<Admission>,
    gauges: Arc<Gauges>,
    pool: Pool,
) {
    let capacity = pool.capacity;
    let mut cache = Cache {
        cache: PrefixCache::new(capacity / BLOCK_TOKENS),
        text: PrefixCache::new(capacity / BLOCK_TOKENS),
        counters: pool.counters,
        blocks: capacity / BLOCK_TOKENS,
        orphans: Vec::new(),
    };
    let mut waiting: VecDeque<Seq> = VecDeque::new();
    let mut running: Vec<Seq> = Vec::new();
    let mut kv_used = 0usize;
    let mut clock = Instant::now();
    loop {
        if running.is_empty() && waiting.is_empty() {
            gauges.set_activity(0.0);
            cache.adopt(kv_used);
            let next = if cache.orphans.is_empty() {
                rx.blocking_recv()
            } else {
                // Counts still to come: poll for them and for requests.
                match rx.try_recv() {
                    Ok(a) => Some(a),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match next {
                Some(a) => {
                    clock = a.arrived.min(Instant::now());
                    waiting.push_back(seq(a));
                }
                None => return,
            }
        }
        while let Ok(a) = rx.try_recv() {
            waiting.push_back(seq(a));
        }
        // Requests that can never fit are answered with what they got: nothing.
        waiting.retain(|s| s.reserve() <= capacity);
        while running.len() < d.max_num_seqs {
            match waiting.front() {
                Some(s) if kv_used + s.reserve() <= capacity => {
                    kv_used += s.reserve();
                    if let Some(mut s) = waiting.pop_front() {
                        cache.admit(&mut s);
                        running.push(s);
                    }
                }
                _ => break,
            }
        }
        for s in &mut running {
            cache.look_up(s);
            cache.insert(s, kv_used);
        }
        cache.adopt(kv_used);
        cache.cache.shrink(cache.limit(kv_used));
        cache.text.shrink(cache.limit(kv_used));
        publish(&gauges, &running, &waiting, kv_used, capacity);
        if running.is_empty() {
            // Nothing admissible: wait for a change.
            gauges.set_activity(0.0);
            std::thread::sleep(Duration::from_micros(200));
            clock = Instant::now();
            continue;
        }
        // Decodes first (one token each), then prompt chunks in arrival order.
        let mut budget = d.max_num_batched_tokens;
        let mut context = 0usize;
        let mut chunks = vec![0usize; running.len()];
        for (i, s) in running.iter().enumerate() {
            if s.prefilled == s.prompt && budget > 0 {
                chunks[i] = 1;
                budget -= 1;
                context += s.prompt + s.generated;
            }
        }
        for (i, s) in running.iter().enumerate() {
            if s.prefilled < s.prompt && budget > 0 {
                let chunk = (s.prompt - s.prefilled).min(budget);
                chunks[i] = chunk;
                budget -= chunk;
                context += s.prefilled + chunk;
            }
        }
        let tokens = d.max_num_batched_tokens - budget;
        let seconds = d.step_seconds(tokens, context) / speedup;
        gauges.set_activity(d.step_activity(tokens, context));
        clock += Duration::from_secs_f64(seconds);
        sleep_until(clock);
        for (s, chunk) in running.iter_mut().zip(&chunks) {
            if *chunk == 0 {
                continue;
            }
            let emits = if s.prefilled == s.prompt {
                true
            } else {
                s.prefilled += chunk;
                s.prefilled == s.prompt
            };
            if emits {
                s.generated += 1;
                if s.tokens.send(()).is_err() {
                    s.generated = s.max; // the client left: free its cache
                }
            }
            cache.insert(s, kv_used);
        }
        running.retain(|s| {
            let done = s.generated >= s.max;
            if done {
                kv_used -= s.reserve();
                if !s.looked_up {
                    (cache.orphans).push((Arc::clone(&s.prefix), s.prompt, s.estimated));
                }
            }
            !done
        });
        publish(&gauges, &running, &waiting, kv_used, capacity);
    }
}

fn publish(
    gauges: &Gauges,
    running: &[Seq],
    waiting: &VecDeque<Seq>,
    kv_used: usize,
    capacity: usize,
) {
    use std::sync::atomic::Ordering::Relaxed;
    gauges.running.store(running.len() as u64, Relaxed);
    gauges.waiting.store(waiting.len() as u64, Relaxed);
    gauges.kv_usage_ppm.store(
        (kv_used as f64 / capacity.max(1) as f64 * 1e6) as u64,
        Relaxed,
    );
}

fn seq(a: Admission) -> Seq {
    // An empty prompt still takes one token of prefill.
    Seq {
        prompt: a.prompt_tokens.max(1),
        prefilled: 0,
        generated: 0,
        max: a.max_tokens,
        tokens: a.tokens,
        prefix: a.prefix,
        looked_up: false,
        inserted: false,
        text: a.text,
        estimated: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_integrates_a_step_function() {
        let t0 = Instant::now();
        let mut a = Activity {
            since: t0,
            level: 0.0,
            integral: 0.0,
        };
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        a.set(at(100), 1.0);
        a.set(at(300), 0.5);
        assert!((a.integral_at(at(500)) - (0.2 + 0.1)).abs() < 1e-9);
        a.set(at(500), 0.0);
        assert!((a.integral_at(at(900)) - 0.3).abs() < 1e-9);
        assert_eq!(a.level(), 0.0);
        // A time before the last change adds nothing.
        assert!((a.integral_at(at(400)) - 0.3).abs() < 1e-9);
    }
}
