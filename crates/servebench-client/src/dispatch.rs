//! The dispatcher: who launches each request, and how answers reach the
//! caller, without a thread waking another per request.
//!
//! Three parties share one book (a mutex held for a few map operations):
//! - the *collector* is the caller's own future (`block_on`'s thread in a
//!   binary): it feeds requests from the caller's iterator into the book
//!   and hands finished answers to the sink. It is woken only when a batch
//!   of answers is waiting, when the feed runs low, when everything is
//!   done, or by `stop`; never per request.
//! - the *pacer* is a task on the runtime: it sleeps until the next
//!   request is due and launches it when a concurrency slot is free.
//! - each *request task*, when its answer is complete, takes the next
//!   request that is already due into its slot and goes on with it, so a
//!   closed loop (`--max-concurrency` with no rate) never involves the
//!   pacer; it frees its slot (waking the pacer only if it idles) when
//!   nothing is due.
//!
//! Slots go first come, first served: the feed is in launch order and only
//! its front is ever taken, the order the original's asyncio tasks get by
//! waiting on one semaphore in creation order.

use crate::run::{failed, send_one, Observer, PreparedRequest, Shared};
use servebench_metrics::RequestOutput;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// Answers waiting before the collector is woken to hand them on.
const BATCH: usize = 64;
/// The feed holds at least this many requests ahead (more with a higher
/// concurrency limit), and is refilled when it falls below a quarter.
const FEED_MIN: usize = 4096;

/// A request taken from the caller's iterator, not yet launched.
struct Job {
    index: usize,
    /// Seconds after the run's start.
    due: f64,
    request: PreparedRequest,
}

/// What the collector, the pacer and the request tasks share.
struct Book {
    /// Requests not yet launched, in launch order.
    feed: VecDeque<Job>,
    /// The iterator has ended, or the run was stopped (which also empties
    /// the feed): nothing more is fed.
    exhausted: bool,
    /// The collector was told the feed runs low and has not refilled it.
    hungry: bool,
    /// Free concurrency slots (`usize::MAX`: no limit).
    free: usize,
    launched: usize,
    /// Index → prompt length, until its answer was handed on.
    pending: HashMap<usize, i64>,
    /// Answers (index, output, send lag: none for a task that died) the
    /// collector has not taken yet.
    done: Vec<(usize, RequestOutput, Option<f64>)>,
    /// The request tasks alive, to abort those that outlive the grace.
    tasks: HashMap<tokio::task::Id, AbortHandle>,
    /// The pacer waits to be told: the feed is empty, or its front is due
    /// with no slot free.
    pacer_idle: bool,
}

struct Dispatch {
    book: Mutex<Book>,
    collector: Notify,
    pacer: Notify,
    shared: Arc<Shared>,
    observer: Arc<dyn Observer>,
    start: tokio::time::Instant,
    start_s: f64,
    feed_cap: usize,
}

impl Dispatch {
    /// The book, even if a panicking task poisoned its lock (no update
    /// leaves it inconsistent halfway).
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds since the run's start.
    fn now(&self) -> f64 {
        self.shared.clock.now() - self.start_s
    }

    /// Wakes whoever the change to `book` concerns.
    fn after_change(&self, book: &mut Book) {
        let low = !book.exhausted && !book.hungry && book.feed.len() < self.feed_cap / 4;
        if low {
            book.hungry = true;
        }
        let all_done = book.feed.is_empty() && book.pending.is_empty();
        if low || all_done || book.done.len() >= BATCH {
            self.collector.notify_one();
        }
    }

    /// Books `job` as launched now, in a slot already taken; returns when
    /// it became ready (its due time, or now if later: the send lag's
    /// start).
    fn start(&self, book: &mut Book, job: &Job) -> f64 {
        book.launched += 1;
        book.pending.insert(job.index, job.request.prompt_len);
        self.shared.clock.now().max(self.start_s + job.due)
    }

    /// Launches `job` on a task of its own, in a slot already taken.
    fn launch(self: &Arc<Self>, book: &mut Book, job: Job) {
        let ready = self.start(book, &job);
        // Spawned with the lock held, so the task's entry is in the book
        // before the task could remove it.
        let handle = tokio::spawn(serve(Arc::clone(self), job, ready));
        book.tasks.insert(handle.id(), handle.abort_handle());
    }

    /// The front of the feed, if it is due, started in the caller's slot
    /// (with its ready time); otherwise the slot is freed.
    fn next_or_free(&self, book: &mut Book) -> Option<(Job, f64)> {
        if book.feed.front().is_some_and(|j| j.due <= self.now()) {
            let job = book.feed.pop_front()?;
            let ready = self.start(book, &job);
            return Some((job, ready));
        }
        book.free = book.free.saturating_add(1);
        self.wake_idle_pacer(book);
        None
    }

    /// Wakes the pacer if it waits to be told (not if it sleeps until its
    /// next due time: then nothing it waits for changed).
    fn wake_idle_pacer(&self, book: &mut Book) {
        if book.pacer_idle {
            book.pacer_idle = false;
            self.pacer.notify_one();
        }
    }
}

/// Sends the requests as they are due, at most `max_concurrency` at once,
/// hands each answer to `sink`; see [`crate::Client::run_stream`].
pub(crate) async fn stream(
    shared: Arc<Shared>,
    requests: impl Iterator<Item = (PreparedRequest, Option<f64>)>,
    observer: Arc<dyn Observer>,
    sink: &mut (dyn FnMut(usize, RequestOutput) + Send),
    stop: impl Future<Output = ()>,
) -> Dispatched {
    let limit = shared.opts.max_concurrency.filter(|&c| c > 0);
    let feed_cap = limit.map_or(FEED_MIN, |c| c.saturating_mul(2).max(FEED_MIN));
    let start_s = shared.clock.now();
    let d = Arc::new(Dispatch {
        book: Mutex::new(Book {
            feed: VecDeque::new(),
            exhausted: false,
            hungry: false,
            free: limit.unwrap_or(usize::MAX),
            launched: 0,
            pending: HashMap::new(),
            done: Vec::new(),
            tasks: HashMap::new(),
            pacer_idle: false,
        }),
        collector: Notify::new(),
        pacer: Notify::new(),
        shared,
        observer,
        start: tokio::time::Instant::now(),
        start_s,
        feed_cap,
    });
    let mut requests = requests.enumerate();
    let mut due = 0.0f64;
    let mut fed: Vec<Job> = Vec::new();
    // The first feed goes in before the pacer starts.
    refill(&d, &mut requests, &mut due, &mut fed);
    let pacer = tokio::spawn(pace(Arc::clone(&d)));
    tokio::pin!(stop);
    let mut lags = Vec::new();
    let mut interrupted = false;
    let mut grace_end = None;
    let mut answers = Vec::new();
    loop {
        let (all_done, hungry) = {
            let mut book = d.book();
            std::mem::swap(&mut answers, &mut book.done);
            let all_done = book.exhausted && book.feed.is_empty() && book.pending.is_empty();
            (all_done, book.hungry)
        };
        for (index, output, lag) in answers.drain(..) {
            lags.extend(lag);
            sink(index, output);
        }
        if all_done {
            break;
        }
        if hungry {
            refill(&d, &mut requests, &mut due, &mut fed);
            continue;
        }
        let grace = async {
            match grace_end {
                Some(end) => tokio::time::sleep_until(end).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut stop, if !interrupted => {
                interrupted = true;
                grace_end = Some(tokio::time::Instant::now() + d.shared.opts.interrupt_grace);
                let mut book = d.book();
                book.exhausted = true;
                book.feed.clear();
                d.pacer.notify_one();
            }
            () = d.collector.notified() => {}
            () = grace => {
                give_up(&d, &mut lags, sink);
                break;
            }
        }
    }
    pacer.abort();
    let launched = d.book().launched;
    Dispatched {
        launched,
        interrupted,
        lags,
    }
}

/// What the dispatcher reports of a run.
pub(crate) struct Dispatched {
    pub(crate) launched: usize,
    pub(crate) interrupted: bool,
    /// The send lag of every answer handed on.
    pub(crate) lags: Vec<f64>,
}

/// Tops the feed up from the iterator (pulled outside the lock).
fn refill(
    d: &Dispatch,
    requests: &mut impl Iterator<Item = (usize, (PreparedRequest, Option<f64>))>,
    due: &mut f64,
    fed: &mut Vec<Job>,
) {
    let room = {
        let mut book = d.book();
        if book.exhausted {
            book.hungry = false;
            return;
        }
        d.feed_cap.saturating_sub(book.feed.len())
    };
    let mut ended = false;
    for _ in 0..room {
        let Some((index, (request, gap))) = requests.next() else {
            ended = true;
            break;
        };
        fed.push(Job {
            index,
            due: *due,
            request,
        });
        if let Some(gap) = gap {
            *due += gap.max(0.0);
        }
    }
    let mut book = d.book();
    book.hungry = false;
    if book.exhausted {
        // Stopped while the lock was not held.
        fed.clear();
        return;
    }
    book.feed.extend(fed.drain(..));
    book.exhausted = ended;
    d.wake_idle_pacer(&mut book);
    d.after_change(&mut book);
}

/// Every request still in flight is marked failed and its task aborted.
fn give_up(d: &Dispatch, lags: &mut Vec<f64>, sink: &mut (dyn FnMut(usize, RequestOutput) + Send)) {
    let (answers, mut left, tasks) = {
        let mut book = d.book();
        let answers = std::mem::take(&mut book.done);
        let left: Vec<(usize, i64)> = book.pending.drain().collect();
        let tasks: Vec<AbortHandle> = book.tasks.drain().map(|(_, t)| t).collect();
        (answers, left, tasks)
    };
    for task in tasks {
        task.abort();
    }
    for (index, output, lag) in answers {
        lags.extend(lag);
        sink(index, output);
    }
    left.sort_unstable();
    for (index, prompt_len) in left {
        let error = "interrupted before the answer was complete".to_owned();
        sink(index, failed(prompt_len, error));
    }
}

/// The pacer: launches each request when it is due, while slots are free.
async fn pace(d: Arc<Dispatch>) {
    loop {
        let wake_at = {
            let mut book = d.book();
            match book.feed.front().map(|j| j.due) {
                None if book.exhausted => return,
                Some(due) if due > d.now() => Some(due),
                Some(_) if book.free > 0 => {
                    book.free -= 1;
                    if let Some(job) = book.feed.pop_front() {
                        d.launch(&mut book, job);
                    }
                    d.after_change(&mut book);
                    continue;
                }
                // Nothing fed yet, or due with no slot free: a request
                // task takes it when its own answer is complete.
                _ => {
                    book.pacer_idle = true;
                    None
                }
            }
        };
        match wake_at {
            Some(due) => {
                // A due time beyond any clock (an endless gap) saturates
                // to tokio's own far future: only a wake-up ends it.
                let deadline = Duration::try_from_secs_f64(due)
                    .ok()
                    .and_then(|s| d.start.checked_add(s))
                    .or_else(|| d.start.checked_add(Duration::from_secs(30 * 365 * 86_400)))
                    .unwrap_or(d.start);
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = d.pacer.notified() => {}
                }
            }
            None => d.pacer.notified().await,
        }
    }
}

/// A request task: sends `job`, then each due request it takes after it.
async fn serve(d: Arc<Dispatch>, job: Job, ready: f64) {
    let mut current = Current {
        d: &d,
        job: Some((job.index, job.request.prompt_len)),
    };
    let (mut job, mut ready) = (job, ready);
    loop {
        let (output, lag) = send_one(&d.shared, job.request, ready, &*d.observer).await;
        d.observer.finished(&output, lag);
        let next = {
            let mut book = d.book();
            if book.pending.remove(&job.index).is_some() {
                book.done.push((job.index, output, Some(lag)));
            }
            current.job = None;
            let next = d.next_or_free(&mut book);
            d.after_change(&mut book);
            next
        };
        let Some(next) = next else {
            break;
        };
        (job, ready) = next;
        current.job = Some((job.index, job.request.prompt_len));
    }
}

/// The request a task is serving. Dropped with the task: normally with no
/// request left; with one when the task panicked (or was cancelled) in the
/// middle of it, which then fails alone and frees its slot.
struct Current<'a> {
    d: &'a Dispatch,
    job: Option<(usize, i64)>,
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        let mut book = self.d.book();
        if let Some(id) = tokio::task::try_id() {
            book.tasks.remove(&id);
        }
        let Some((index, prompt_len)) = self.job.take() else {
            return;
        };
        if book.pending.remove(&index).is_none() {
            // Already given up on.
            return;
        }
        let why = if std::thread::panicking() {
            "it panicked"
        } else {
            "it was cancelled"
        };
        let error = format!("request task failed: {why}");
        book.done.push((index, failed(prompt_len, error), None));
        book.free = book.free.saturating_add(1);
        self.d.wake_idle_pacer(&mut book);
        self.d.after_change(&mut book);
    }
}
