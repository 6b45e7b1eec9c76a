//! The runner: a run's options and outcome, one request's exchange
//! (send, stream, record when its bytes were read) and the self-audit.
//! Which request goes when, and how answers reach the caller, is the
//! dispatcher's ([`crate::dispatch`]).
//!
//! Arrivals are paced by absolute deadlines (request k is due at the sum of
//! the gaps before it), so sleeping never accumulates drift. Timestamps are
//! seconds on one monotonic clock, taken right after each read returns.

use crate::backend::{Kind, StreamParser};
use crate::error::ClientError;
use crate::http::{Connections, Endpoint};
use crate::sse;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use servebench_metrics::RequestOutput;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub kind: Kind,
    pub api_url: String,
    /// The `Authorization` header value.
    pub authorization: String,
    /// `None`: unlimited.
    pub max_concurrency: Option<usize>,
    /// Keep-alive reuse (default) or a new connection per request.
    pub reuse_connections: bool,
    pub connect_timeout: Duration,
    /// Longest wait for the response head or for the next bytes of a body.
    pub read_timeout: Duration,
    /// Longest a whole request may take (the original: 6 hours).
    pub total_timeout: Duration,
    /// After an interrupt, how long in-flight requests may still finish.
    pub interrupt_grace: Duration,
    /// HTTPS: certificate authorities (PEM) to trust besides Mozilla's
    /// roots (the binary passes `SSL_CERT_FILE`).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Told about each request as it starts and as it ends: progress bars,
/// live metrics. Called from the request's task, so it must be cheap.
pub trait Observer: Send + Sync {
    /// The request is being sent (its TTFT clock has started).
    fn started(&self) {}
    /// The request ended, successfully or not; `send_lag_s` as in [`Audit`].
    fn finished(&self, _output: &RequestOutput, _send_lag_s: f64) {}
}

/// An observer that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// One request, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub body: Bytes,
    pub prompt_len: i64,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// One per launched request, in request order. After an interrupt,
    /// only the requests launched before it.
    pub outputs: Vec<RequestOutput>,
    /// Seconds from the first launch to the last answer.
    pub duration: f64,
    pub interrupted: bool,
    pub audit: Audit,
}

/// The client's account of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// Send lag: from when a request was due (its arrival deadline, or the
    /// moment it got a concurrency slot if later) to when it was handed to
    /// its connection. Milliseconds.
    pub send_lag_p50_ms: f64,
    pub send_lag_p99_ms: f64,
    pub send_lag_max_ms: f64,
    /// User + system CPU seconds of the whole process during the run.
    pub cpu_seconds: Option<f64>,
    /// Context switches (voluntary and not) of the process's threads
    /// during the run: each one a thread woken or preempted, the cost a
    /// dispatcher that wakes a thread per request pays.
    pub context_switches: Option<u64>,
    /// Peak resident set of the process, in MiB.
    pub peak_rss_mib: Option<f64>,
    /// Resident set when the run started (prompts and tokenizer loaded),
    /// in MiB: the peak minus this is what the run itself cost.
    pub start_rss_mib: Option<f64>,
    /// TCP connections opened: by this run, or, in a benchmark's audit, by
    /// its warm-ups and main run together.
    pub connections_opened: u64,
    /// Of `connections_opened`, those the warm-ups opened (`None`: no
    /// warm-ups; a single run's own audit has none). With keep-alive the
    /// main run reuses them, so it may open none itself.
    pub warmup_connections_opened: Option<u64>,
    pub client_bound: bool,
    /// Why `client_bound` is what it is.
    pub verdict: String,
}

/// The send lag above which a run is client-bound: the client, not the
/// server, then decides when requests start, and TTFT includes its delay.
pub(crate) const CLIENT_BOUND_P99_LAG_MS: f64 = 5.0;
/// CPU use (fraction of all cores) above which a run is client-bound.
pub(crate) const CLIENT_BOUND_CPU_SHARE: f64 = 0.9;

/// The largest whole (not streamed) response body read: 16 MiB, the
/// generated-text cap ([`crate::backend::MAX_TEXT_BYTES`]) of the one
/// backend that answers in one piece (DeepSpeed-MII).
pub const MAX_BODY_BYTES: usize = crate::backend::MAX_TEXT_BYTES;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(Instant);

impl Clock {
    pub(crate) fn now(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }

    /// `at` on this clock (0 if before its start).
    pub(crate) fn at(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.0).as_secs_f64()
    }
}

pub(crate) struct Shared {
    pub(crate) opts: RunOptions,
    pub(crate) conns: Arc<Connections>,
    pub(crate) clock: Clock,
}

/// A client for one API URL. Its idle connections outlive a run, so the
/// connections warmups opened serve the main run, as with any keep-alive
/// client.
#[derive(Debug)]
pub struct Client {
    opts: RunOptions,
    conns: Arc<Connections>,
}

impl Client {
    pub fn new(opts: RunOptions) -> Result<Client, ClientError> {
        let endpoint = Endpoint::parse(&opts.api_url)?;
        let conns = Connections::new(
            endpoint,
            opts.reuse_connections,
            opts.connect_timeout,
            opts.ca_file.as_deref(),
        )?;
        Ok(Client {
            opts,
            conns: Arc::new(conns),
        })
    }

    /// See [`run`].
    pub async fn run(
        &self,
        requests: Vec<PreparedRequest>,
        gaps: &[Option<f64>],
        observer: Arc<dyn Observer>,
        stop: impl Future<Output = ()>,
    ) -> Result<RunOutcome, ClientError> {
        if gaps.len() != requests.len() {
            return Err(ClientError::Gaps {
                gaps: gaps.len(),
                requests: requests.len(),
            });
        }
        let mut slots: Vec<Option<RequestOutput>> = Vec::with_capacity(requests.len());
        let mut keep = |index: usize, output: RequestOutput| {
            if slots.len() <= index {
                slots.resize_with(index + 1, || None);
            }
            slots[index] = Some(output);
        };
        let paced = requests.into_iter().zip(gaps.iter().copied());
        let done = self.run_stream(paced, observer, &mut keep, stop).await;
        let outputs = slots
            .into_iter()
            .map(|o| o.unwrap_or_else(|| failed(0, "no result was recorded".into())))
            .collect();
        Ok(RunOutcome {
            outputs,
            duration: done.duration,
            interrupted: done.interrupted,
            audit: done.audit,
        })
    }

    /// Sends requests as `requests` yields them, each with the gap before
    /// the next launch (`None`: at once), and hands every finished request
    /// to `sink` with its launch index, as it finishes. Nothing is kept per
    /// request but its send lag, so a run of any length holds only what is
    /// in flight: the way to run for hours. `stop` as in [`run`].
    pub async fn run_stream(
        &self,
        requests: impl Iterator<Item = (PreparedRequest, Option<f64>)>,
        observer: Arc<dyn Observer>,
        sink: &mut (dyn FnMut(usize, RequestOutput) + Send),
        stop: impl Future<Output = ()>,
    ) -> StreamOutcome {
        stream_with(
            self.opts.clone(),
            Arc::clone(&self.conns),
            requests,
            observer,
            sink,
            stop,
        )
        .await
    }
}

/// What a streamed run did (its outputs went to the sink).
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    pub launched: usize,
    pub duration: f64,
    pub interrupted: bool,
    pub audit: Audit,
}

/// Sends `requests` (with `gaps[k]` seconds between launching k and k+1,
/// `None` for all at once) and collects the answers. `observer` hears of
/// each request's start and end (progress); `stop` resolving interrupts the
/// run: nothing more is launched, in-flight requests get `interrupt_grace`
/// to finish, the rest are marked failed.
pub async fn run(
    opts: RunOptions,
    requests: Vec<PreparedRequest>,
    gaps: &[Option<f64>],
    observer: Arc<dyn Observer>,
    stop: impl Future<Output = ()>,
) -> Result<RunOutcome, ClientError> {
    Client::new(opts)?.run(requests, gaps, observer, stop).await
}

async fn stream_with(
    opts: RunOptions,
    conns: Arc<Connections>,
    requests: impl Iterator<Item = (PreparedRequest, Option<f64>)>,
    observer: Arc<dyn Observer>,
    sink: &mut (dyn FnMut(usize, RequestOutput) + Send),
    stop: impl Future<Output = ()>,
) -> StreamOutcome {
    let cpu_before = process_cpu_seconds();
    let switches_before = context_switches();
    let start_rss = rss_mib("VmRSS:");
    let opened_before = conns.opened();
    let clock = Clock(Instant::now());
    let shared = Arc::new(Shared { conns, opts, clock });
    let start_s = clock.now();
    let done = crate::dispatch::stream(Arc::clone(&shared), requests, observer, sink, stop).await;
    let duration = clock.now() - start_s;
    let cpu_seconds = match (cpu_before, process_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let mut audit = audit(
        &done.lags,
        cpu_seconds,
        duration,
        shared.conns.opened() - opened_before,
        peak_rss_mib(),
    );
    audit.start_rss_mib = start_rss;
    audit.context_switches = match (switches_before, context_switches()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    StreamOutcome {
        launched: done.launched,
        duration,
        interrupted: done.interrupted,
        audit,
    }
}

/// Far enough never to come (a limit past the clock's range).
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The stream-stall timeout of one response: one timer for the whole
/// response, re-armed only when it fires before the stall is real (a
/// `tokio::time::timeout` per frame registered and removed a timer, and
/// read the clock, for every streamed token).
struct Stall {
    clock: Clock,
    limit: Duration,
    /// When data last came (seconds on `clock`).
    last: f64,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Stall {
    fn new(clock: Clock, limit: Duration) -> Stall {
        Stall {
            clock,
            limit,
            last: clock.now(),
            timer: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn data_at(&mut self, now: f64) {
        self.last = now;
    }

    /// `fut`'s output, or `None` once no data came for the limit.
    async fn within<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
                return std::task::Poll::Ready(Some(out));
            }
            while self.timer.as_mut().poll(cx).is_ready() {
                // The stall counts from the last data, not the arming.
                let due = Duration::try_from_secs_f64(self.last)
                    .ok()
                    .and_then(|d| d.checked_add(self.limit))
                    .and_then(|d| self.clock.0.checked_add(d));
                match due {
                    Some(due) if due <= Instant::now() => return std::task::Poll::Ready(None),
                    Some(due) => self.timer.as_mut().reset(due.into()),
                    // Past the clock's range: no stall is ever reached.
                    None => self.timer.as_mut().reset(tokio::time::Instant::now() + FAR),
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

pub(crate) fn failed(prompt_len: i64, error: String) -> RequestOutput {
    let mut out = RequestOutput::failed(prompt_len);
    out.error = error;
    out
}

/// Sends one request and reads its answer; also returns its send lag.
pub(crate) async fn send_one(
    shared: &Shared,
    request: PreparedRequest,
    ready: f64,
    observer: &dyn Observer,
) -> (RequestOutput, f64) {
    let clock = shared.clock;
    // As the original: the clock starts before the connection is made.
    let sent = clock.now();
    let lag = sent - ready;
    observer.started();
    let parser = StreamParser::new(shared.opts.kind, sent, request.prompt_len);
    let out = match tokio::time::timeout(
        shared.opts.total_timeout,
        exchange(shared, request.body, parser),
    )
    .await
    {
        Ok(out) => out,
        Err(_) => failed(
            request.prompt_len,
            format!(
                "the request did not finish within {:?}",
                shared.opts.total_timeout
            ),
        ),
    };
    (out, lag)
}

async fn exchange(shared: &Shared, body: Bytes, mut parser: StreamParser) -> RequestOutput {
    let opts = &shared.opts;
    let endpoint = shared.conns.endpoint();
    let mut conn = match shared.conns.get().await {
        Ok(c) => c,
        Err(e) => return parser.fail(e),
    };
    let request = hyper::Request::post(endpoint.path.as_str())
        .header(hyper::header::HOST, endpoint.host.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::AUTHORIZATION, opts.authorization.as_str())
        .body(Full::new(body));
    let request = match request {
        Ok(r) => r,
        Err(e) => return parser.fail(format!("building the request: {e}")),
    };
    // Nothing read before the request times its answer.
    conn.arrivals.reset();
    let handed = Instant::now();
    let response =
        match tokio::time::timeout(opts.read_timeout, conn.sender.send_request(request)).await {
            Err(_) => {
                return parser.fail(format!(
                    "no response from the server within {:?}",
                    opts.read_timeout
                ))
            }
            Ok(Err(e)) => return parser.fail(format!("sending the request: {e}")),
            Ok(Ok(r)) => r,
        };
    // The request's clock started before its connection was taken, as the
    // original's; the time it then waited for the connection's task to be
    // scheduled and write it is the client's, not the server's (the
    // Python client writes at once, in the caller's coroutine).
    let written = conn.arrivals.written();
    let queued = written.map_or(0.0, |w| w.saturating_duration_since(handed).as_secs_f64());
    parser.start_later(queued);
    // Nothing of the answer came before the request went out.
    let mut floor = written.unwrap_or(handed);
    // The head's read is taken, so the first frame's is the next one.
    conn.arrived(&mut floor);
    let status = response.status();
    if status != hyper::StatusCode::OK {
        // The original records the reason phrase.
        let reason = status.canonical_reason().unwrap_or("").to_owned();
        return parser.fail(if reason.is_empty() {
            status.as_u16().to_string()
        } else {
            reason
        });
    }
    let mut body = response.into_body();
    let mut decoder = sse::Decoder::new();
    let mut whole = Vec::new();
    let mut stall = Stall::new(shared.clock, opts.read_timeout);
    loop {
        let frame = match stall.within(body.frame()).await {
            None => {
                return parser.fail(format!(
                    "the stream stalled: no data for {:?}",
                    opts.read_timeout
                ))
            }
            Some(None) => break,
            Some(Some(Err(e))) => return parser.fail(format!("the stream was cut: {e}")),
            Some(Some(Ok(frame))) => frame,
        };
        // When the frame's bytes reached the machine.
        let now = shared.clock.at(conn.arrived(&mut floor));
        stall.data_at(now);
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if opts.kind == Kind::DeepspeedMii {
            if whole.len().saturating_add(data.len()) > MAX_BODY_BYTES {
                return parser.fail(
                    ClientError::Body {
                        limit: MAX_BODY_BYTES,
                    }
                    .to_string(),
                );
            }
            whole.extend_from_slice(&data);
            continue;
        }
        // A read's events are parsed once the whole read decoded: a
        // decoding error fails the request before any of them counts.
        let events = match decoder.feed_events(&data) {
            Ok(events) => events,
            Err(e) => return parser.fail(e.to_string()),
        };
        for event in events {
            if let Err(e) = parser.on_data(event.data, now) {
                return parser.fail(e.to_string());
            }
        }
    }
    if opts.kind != Kind::DeepspeedMii {
        // A last line or event the server did not end: read it as the
        // original would; if it does not parse, the stream was cut in it.
        let now = shared.clock.now();
        let events = match decoder.finish_events() {
            Ok(events) => events,
            Err(e) => return parser.fail(format!("the stream was cut inside its last event: {e}")),
        };
        for event in events {
            if let Err(e) = parser.on_data(event.data, now) {
                return parser.fail(format!("the stream was cut inside its last event: {e}"));
            }
        }
    }
    if opts.kind == Kind::DeepspeedMii {
        let now = shared.clock.now();
        let text = match std::str::from_utf8(&whole) {
            Ok(t) => t,
            Err(e) => return parser.fail(format!("invalid UTF-8 in the response: {e}")),
        };
        if let Err(e) = parser.on_data(text, now) {
            return parser.fail(e.to_string());
        }
    }
    shared.conns.put(conn);
    parser.finish()
}

fn audit(
    lags: &[f64],
    cpu_seconds: Option<f64>,
    duration: f64,
    connections_opened: u64,
    peak_rss_mib: Option<f64>,
) -> Audit {
    use servebench_metrics::{or_zero, percentile};
    let ms: Vec<f64> = lags.iter().map(|s| s * 1000.0).collect();
    let ms = or_zero(&ms);
    let p50 = percentile(&ms, 50.0);
    let p99 = percentile(&ms, 99.0);
    let max = ms.iter().copied().fold(0.0, f64::max);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu_share = match cpu_seconds {
        Some(cpu) if duration > 0.0 => Some(cpu / (duration * cores)),
        _ => None,
    };
    let (client_bound, verdict) = if p99 > CLIENT_BOUND_P99_LAG_MS {
        (
            true,
            format!(
                "p99 send lag {p99:.2} ms > {CLIENT_BOUND_P99_LAG_MS} ms: the client delayed requests"
            ),
        )
    } else if let Some(share) = cpu_share.filter(|&s| s > CLIENT_BOUND_CPU_SHARE) {
        (
            true,
            format!(
                "client CPU use {:.0}% of {cores} cores > {:.0}%",
                share * 100.0,
                CLIENT_BOUND_CPU_SHARE * 100.0
            ),
        )
    } else {
        (
            false,
            format!(
                "p99 send lag {p99:.2} ms <= {CLIENT_BOUND_P99_LAG_MS} ms and CPU use {} of {cores} cores",
                cpu_share.map_or("unknown".to_owned(), |s| format!("{:.0}%", s * 100.0))
            ),
        )
    };
    Audit {
        send_lag_p50_ms: p50,
        send_lag_p99_ms: p99,
        send_lag_max_ms: max,
        cpu_seconds,
        context_switches: None,
        peak_rss_mib,
        start_rss_mib: None,
        connections_opened,
        warmup_connections_opened: None,
        client_bound,
        verdict,
    }
}

/// User + system CPU seconds of this process (Linux `/proc`; `None`
/// elsewhere).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI Rust supports.
    Some((utime + stime) / 100.0)
}

/// Context switches of all of this process's threads so far (Linux
/// `/proc`; `None` elsewhere). Threads that ended are not counted.
fn context_switches() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            // The thread ended while we looked.
            continue;
        };
        for line in status.lines() {
            let count = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"));
            if let Some(n) = count.and_then(|n| n.trim().parse::<u64>().ok()) {
                total = total.saturating_add(n);
            }
        }
    }
    (total > 0).then_some(total)
}

/// Peak resident set (`VmHWM`), MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    rss_mib("VmHWM:")
}

fn rss_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Makes room for `connections` sockets (plus slack for the runtime):
/// raises the soft open-file limit towards the hard one when it is too low,
/// and fails early, naming the `ulimit -n` needed, when even that is not
/// enough.
pub fn check_open_files(connections: usize) -> Result<(), ClientError> {
    let needed = (connections as u64).saturating_add(64);
    if open_files_limit().is_some_and(|limit| limit < needed) {
        // A failure leaves the limit as it was; the check below reports it.
        let _ = rlimit::increase_nofile_limit(needed);
    }
    match open_files_limit() {
        Some(limit) if limit < needed => Err(ClientError::OpenFiles {
            connections,
            needed,
            limit,
        }),
        _ => Ok(()),
    }
}

/// The soft limit on open files, if known (Linux `/proc`).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_rule() {
        let a = audit(&[0.001, 0.002, 0.0005], Some(0.1), 10.0, 3, None);
        assert!(!a.client_bound, "{}", a.verdict);
        assert_eq!(a.connections_opened, 3);
        assert!((a.send_lag_max_ms - 2.0).abs() < 1e-9);
        let a = audit(&[0.001, 0.002, 0.050], Some(0.1), 10.0, 3, None);
        assert!(a.client_bound);
        assert!(a.verdict.contains("send lag"), "{}", a.verdict);
        let a = audit(&[], None, 0.0, 0, None);
        assert!(!a.client_bound);
        assert_eq!(a.send_lag_p99_ms, 0.0);
    }

    #[test]
    fn proc_readers() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu_seconds().is_some());
            let before = context_switches().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(2));
            assert!(context_switches().is_some_and(|after| after > before));
            assert!(peak_rss_mib().is_some_and(|m| m > 0.0));
            assert!(open_files_limit().is_some_and(|n| n > 0));
            assert!(matches!(
                check_open_files(usize::MAX / 2),
                Err(ClientError::OpenFiles { .. })
            ));
            assert!(check_open_files(1).is_ok());
        }
    }
}
