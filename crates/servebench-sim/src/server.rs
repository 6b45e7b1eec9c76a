//! The HTTP server: routing, request bodies, streamed responses.

use crate::count::{self, Calibration};
use crate::engine::{Admission, Gauges};
use crate::fault::Fault;
use crate::metrics::Stats;
use crate::prefix::{Blocks, Counters, PrefixCache, BLOCK_TOKENS};
use crate::protocol::{self, ApiError, GenerationRequest};
use crate::rx_time::LastRx;
use crate::sse::{ChunkWriter, Usage, DONE};
use crate::{SimOptions, TokenLog};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use servebench_net::RxStream;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// What a stream's producer hands the body: bytes, or an abort (reset).
type Piece = Result<Bytes, BoxError>;

/// Request bodies above this are refused (prompts run to a few MB at most).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// How long a client may take to send a request's headers, and how long an
/// idle keep-alive connection is kept.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Chunks buffered per stream: a slow reader holds the generator back
/// instead of growing memory.
const STREAM_BUFFER: usize = 8;
/// How long in-flight responses may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

struct State {
    opts: SimOptions,
    stats: Stats,
    next_id: AtomicU64,
    /// Generation requests seen, for `fault_every`.
    generations: AtomicU64,
    /// Model mode: the engine and its gauges.
    engine: Option<(mpsc::UnboundedSender<Admission>, Arc<Gauges>)>,
    /// The server's start, the zero of ground-truth times.
    epoch: Instant,
    /// Tokens per byte of the prompts counted so far (slow text sources).
    calibration: Arc<Calibration>,
    /// The prefix cache's counters (the cache itself is the engine's in
    /// model mode, `fast_cache` in fast mode).
    prefix: Arc<Counters>,
    /// Fast mode: the prefix cache, consulted and filled as each prompt
    /// is counted (its prefill takes no simulated time).
    fast_cache: Option<Mutex<PrefixCache>>,
    /// Tokens the KV cache holds.
    kv_tokens: usize,
}

/// How a response's tokens are paced.
enum Pace {
    /// Fast mode: absolute deadlines from the request's arrival.
    Deadlines {
        arrived: Instant,
        ttft: Duration,
        itl: Duration,
    },
    /// Model mode: tokens as the engine produces them.
    Engine(mpsc::UnboundedReceiver<()>),
}

impl Pace {
    /// Waits for token `k` (plus `delay`); false when no token will come.
    async fn next(&mut self, k: usize, delay: Duration) -> bool {
        match self {
            Pace::Deadlines { arrived, ttft, itl } => {
                let due = *arrived + *ttft + *itl * u32::try_from(k).unwrap_or(u32::MAX) + delay;
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                }
                true
            }
            Pace::Engine(rx) => {
                let got = rx.recv().await.is_some();
                if got && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                got
            }
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting and lets open
/// responses finish (up to a grace period).
pub async fn serve(
    listener: TcpListener,
    opts: SimOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with_gpu_metrics(listener, opts, None, shutdown)
        .await
        .map_err(|e| match e {
            crate::SimError::Io(io) => io,
            other => std::io::Error::other(other),
        })
}

/// [`serve`], and in model mode the simulated GPUs' power draw written to
/// `gpu_metrics` (module `power`) from now until the drain ends, when a
/// last sample is written. Without a deployment (fast mode) `gpu_metrics`
/// is left empty. Errors: serving's I/O errors, else the first failed write
/// of the metrics file.
pub async fn serve_with_gpu_metrics(
    listener: TcpListener,
    opts: SimOptions,
    gpu_metrics: Option<crate::GpuMetrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), crate::SimError> {
    let prefix = Arc::new(Counters::default());
    let kv_tokens = opts.kv_tokens();
    let engine = opts.deployment.clone().map(|(deployment, speedup)| {
        let gauges = Arc::new(Gauges::default());
        let pool = crate::engine::Pool {
            capacity: kv_tokens,
            counters: Arc::clone(&prefix),
        };
        (
            crate::engine::spawn(deployment, speedup, Arc::clone(&gauges), pool),
            gauges,
        )
    });
    let fast_cache = engine
        .is_none()
        .then(|| Mutex::new(PrefixCache::new(kv_tokens / BLOCK_TOKENS)));
    let sampler = match (gpu_metrics, &opts.deployment, &engine) {
        (Some(out), Some((deployment, speedup)), Some((_, gauges))) => Some(
            crate::power::Sampler::start(out, deployment.clone(), *speedup, Arc::clone(gauges))?,
        ),
        _ => None,
    };
    let state = Arc::new(State {
        opts,
        stats: Stats::default(),
        next_id: AtomicU64::new(1),
        generations: AtomicU64::new(0),
        engine,
        epoch: Instant::now(),
        calibration: Arc::default(),
        prefix,
        fast_cache,
        kv_tokens,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    // Out of file descriptors and the like: keep serving the others.
                    Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
                };
                let _ = stream.set_nodelay(true);
                let last_rx = Arc::new(LastRx::default());
                let stream = RxStream::new(stream, Arc::clone(&last_rx));
                let state = Arc::clone(&state);
                let service = hyper::service::service_fn(move |req| {
                    handle(Arc::clone(&state), req, Arc::clone(&last_rx))
                });
                // A peer that never finishes its request headers (or keeps
                // an idle connection) is dropped after HEADER_TIMEOUT.
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let watched = graceful.watch(conn);
                tokio::spawn(async move { let _ = watched.await; });
            }
            () = &mut shutdown => break,
        }
    }
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    match sampler {
        Some(s) => tokio::task::spawn_blocking(move || s.stop())
            .await
            .unwrap_or(Err(crate::SimError::SamplerPanicked)),
        None => Ok(()),
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn error(e: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    full(status, "application/json", e.body())
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    last_rx: Arc<LastRx>,
) -> Result<Response<Body>, Infallible> {
    let route = (req.method().clone(), req.uri().path().to_owned());
    let response = match (route.0, route.1.as_str()) {
        (Method::GET, "/health") => full(StatusCode::OK, "text/plain", ""),
        (Method::GET, "/v1/models") => full(StatusCode::OK, "application/json", models(&state)),
        (Method::GET, "/metrics") => full(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            state.stats.render(
                &state.opts.model,
                state.engine.as_ref().map(|(_, g)| g.as_ref()),
                &state.prefix,
                state.kv_tokens,
            ),
        ),
        (Method::POST, "/start_profile" | "/stop_profile") => {
            full(StatusCode::OK, "text/plain", "")
        }
        (Method::POST, path @ ("/v1/completions" | "/v1/chat/completions")) => {
            let chat = path == "/v1/chat/completions";
            let fault = match choose_fault(&state, req.headers()) {
                Ok(fault) => fault,
                Err(e) => return Ok(error(&e)),
            };
            match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(body) => match protocol::parse(&body.to_bytes(), chat, &state.opts.model) {
                    Ok(request) => {
                        // Read whole: it arrived with the last bytes read.
                        let arrived = Instant::from_std(last_rx.arrival());
                        respond_with_fault(state, request, fault, arrived).await
                    }
                    Err(e) => error(&e),
                },
                Err(_) => error(&ApiError::bad_request("could not read the request body")),
            }
        }
        _ => full(
            StatusCode::NOT_FOUND,
            "application/json",
            "{\"detail\":\"Not Found\"}",
        ),
    };
    Ok(response)
}

/// The request's `x-sim-fault` header, else the configured fault for
/// every `fault_every`-th generation request.
fn choose_fault(state: &State, headers: &hyper::HeaderMap) -> Result<Option<Fault>, ApiError> {
    let nth = state.generations.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(spec) = headers.get("x-sim-fault") {
        let spec = spec
            .to_str()
            .map_err(|_| ApiError::bad_request("x-sim-fault is not text"))?;
        return (spec.parse::<Fault>().map(Some)).map_err(|e| ApiError::bad_request(e.to_string()));
    }
    Ok(state
        .opts
        .fault
        .filter(|_| nth.is_multiple_of(state.opts.fault_every.max(1))))
}

async fn respond_with_fault(
    state: Arc<State>,
    request: GenerationRequest,
    fault: Option<Fault>,
    arrived: Instant,
) -> Response<Body> {
    match fault {
        Some(Fault::Status(code)) => {
            state.stats.fault("status");
            let kind = match code {
                429 => "RateLimitError",
                503 => "ServiceUnavailableError",
                500.. => "InternalServerError",
                _ => "BadRequestError",
            };
            error(&ApiError {
                status: code,
                kind,
                message: format!("simulated fault: HTTP {code}"),
            })
        }
        Some(Fault::SlowFirstByte(delay)) => {
            state.stats.fault("slow_first_byte");
            tokio::time::sleep(delay).await;
            generate(state, request, None, arrived)
        }
        other => generate(state, request, other, arrived),
    }
}

fn models(state: &State) -> String {
    let model = crate::sse::json_string(&state.opts.model);
    format!(
        "{{\"object\":\"list\",\"data\":[{{\"id\":{model},\"object\":\"model\",\"created\":{},\"owned_by\":\"servebench\",\"root\":{model},\"parent\":null,\"permission\":[]}}]}}",
        unix_now()
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Streams (or returns at once) `max_tokens` tokens, the first after the
/// TTFT and the others one ITL apart, on absolute deadlines counted from
/// `arrived` (when the request reached the machine, see `rx_time`). A slow
/// text source counts the prompt meanwhile (see [`count`]).
fn generate(
    state: Arc<State>,
    mut request: GenerationRequest,
    fault: Option<Fault>,
    arrived: Instant,
) -> Response<Body> {
    let mut truth: Option<(TokenLog, Instant, mpsc::UnboundedSender<TokenLog>)> = None;
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let id = if request.chat {
        format!("chatcmpl-{n:032x}")
    } else {
        format!("cmpl-{n:032x}")
    };
    if let Some(sink) = &state.opts.ground_truth {
        let log = TokenLog {
            id: id.clone(),
            arrival_s: (arrived - state.epoch).as_secs_f64(),
            token_s: Vec::new(),
        };
        truth = Some((log, state.epoch, sink.clone()));
    }
    let writer = ChunkWriter::new(request.chat, &id, unix_now(), &state.opts.model);
    let blocks: Arc<OnceLock<Blocks>> = Arc::default();
    let counted = {
        let (state, blocks) = (Arc::clone(&state), Arc::clone(&blocks));
        move |n, ids: Vec<u32>| {
            state.stats.prompt_counted(n);
            let b = Blocks::new(n, &ids);
            drop(ids);
            match &state.fast_cache {
                Some(cache) => {
                    // A poisoned lock (a panic elsewhere) skips the cache.
                    if let Ok(mut cache) = cache.lock() {
                        let hit = cache.lookup(&b);
                        cache.insert(&b, usize::MAX);
                        drop(cache);
                        state.prefix.looked_up(b.tokens, hit);
                    }
                }
                None => {
                    let _ = blocks.set(b);
                }
            }
        }
    };
    // A slow count in model mode: the engine estimates the cached part
    // from the text meanwhile (module `engine`).
    let text_blocks = (state.engine.is_some() && state.opts.text.counts_slowly()).then(|| {
        (
            crate::prefix::text_block_hashes(&request.prompt),
            request.prompt.len(),
        )
    });
    let (prompt_tokens, mut prompt) = count::count(
        &state.opts.text,
        &state.calibration,
        std::mem::take(&mut request.prompt),
        counted,
    );
    let usage = |prompt_tokens: usize, done: usize| Usage {
        prompt_tokens,
        completion_tokens: done,
    };
    let (ttft, itl) = (state.opts.ttft, state.opts.itl);
    let mut pace = match &state.engine {
        Some((engine, _)) => {
            let (tokens, rx) = mpsc::unbounded_channel();
            let _ = engine.send(Admission {
                prompt_tokens,
                max_tokens: request.max_tokens,
                arrived: arrived.into_std(),
                tokens,
                prefix: blocks,
                text: text_blocks,
            });
            Pace::Engine(rx)
        }
        None => Pace::Deadlines { arrived, ttft, itl },
    };
    state.stats.started();
    // Fast mode's KV usage: what the request could grow to, as the engine
    // reserves it in model mode.
    let kv_hold = if state.engine.is_none() {
        prompt_tokens.saturating_add(request.max_tokens)
    } else {
        0
    };
    state.stats.reserve(kv_hold);
    if !request.stream {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let mut delay = Duration::ZERO;
            if let Some(Fault::Stall { pause, .. }) = fault {
                state.stats.fault("stall");
                delay = pause;
            }
            for k in 0..request.max_tokens {
                let last = k + 1 == request.max_tokens;
                if !pace
                    .next(k, if last { delay } else { Duration::ZERO })
                    .await
                {
                    break;
                }
            }
            let text: String = (0..request.max_tokens)
                .map(|k| state.opts.text.token(n, k))
                .collect();
            state.stats.finished(request.max_tokens, ttft, itl);
            state.stats.release(kv_hold);
            let prompt_tokens = prompt.exact().await;
            let body = writer.full(&text, "length", usage(prompt_tokens, request.max_tokens));
            let piece: Piece = match fault {
                Some(Fault::Reset { .. }) => {
                    state.stats.fault("reset");
                    Err("simulated connection reset".into())
                }
                // Whole responses are cut (or broken) halfway through the JSON.
                Some(f @ (Fault::Cut { .. } | Fault::Malformed { .. })) => {
                    state.stats.fault(f.kind());
                    Ok(Bytes::from(body[..body.len() / 2].to_owned()))
                }
                _ => Ok(Bytes::from(body)),
            };
            let _ = tx.send(piece).await;
        });
        let mut r = Response::new(
            ChannelBody {
                rx,
                log: truth.take(),
            }
            .boxed(),
        );
        if let Ok(v) = "application/json".parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        return r;
    }
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let mut sent = 0usize;
        let mut delay = Duration::ZERO;
        for k in 0..request.max_tokens {
            match fault {
                Some(Fault::Stall { after, pause }) if after == k => {
                    state.stats.fault("stall");
                    delay += pause;
                }
                Some(
                    f
                    @ (Fault::Cut { after } | Fault::Malformed { after } | Fault::Reset { after }),
                ) if after == k => {
                    state.stats.fault(f.kind());
                    let piece: Piece = match f {
                        Fault::Malformed { .. } => Ok(Bytes::from_static(
                            b"data: {\"id\": \"cmpl-broken\", \"choices\": [{\n\n",
                        )),
                        Fault::Reset { .. } => {
                            // Let the tokens already queued reach the socket
                            // first: hyper drops unflushed output on abort.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Err("simulated connection reset".into())
                        }
                        _ => break,
                    };
                    let _ = tx.send(piece).await;
                    break;
                }
                _ => {}
            }
            if !pace.next(k, delay).await {
                break;
            }
            let mut events = String::new();
            // Usage in every chunk waits for the count; usually it only
            // comes at the end, long after the count is done.
            let prompt_tokens = if request.continuous_usage_stats {
                prompt.exact().await
            } else {
                0
            };
            if k == 0 && request.chat {
                let so_far = request
                    .continuous_usage_stats
                    .then(|| usage(prompt_tokens, 0));
                events.push_str(&writer.token("", None, true, so_far));
            }
            let last = k + 1 == request.max_tokens;
            let so_far = request
                .continuous_usage_stats
                .then(|| usage(prompt_tokens, k + 1));
            events.push_str(&writer.token(
                state.opts.text.token(n, k),
                last.then_some("length"),
                false,
                so_far,
            ));
            if last {
                if request.include_usage {
                    let prompt_tokens = prompt.exact().await;
                    events.push_str(&writer.usage(usage(prompt_tokens, request.max_tokens)));
                }
                events.push_str(DONE);
            }
            if tx.send(Ok(Bytes::from(events))).await.is_err() {
                break; // the client went away
            }
            sent += 1;
        }
        state.stats.finished(sent, ttft, itl);
        state.stats.release(kv_hold);
    });
    let mut r = Response::new(
        ChannelBody {
            rx,
            log: truth.take(),
        }
        .boxed(),
    );
    if let Ok(v) = "text/event-stream; charset=utf-8".parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// A response body fed by a bounded channel.
struct ChannelBody {
    rx: mpsc::Receiver<Piece>,
    /// Ground truth being recorded, sent when the body is dropped.
    log: Option<(TokenLog, Instant, mpsc::UnboundedSender<TokenLog>)>,
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        if let Some((log, _, sink)) = self.log.take() {
            let _ = sink.send(log);
        }
    }
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // An error aborts the connection mid-body: the "reset" fault.
        let polled = self.rx.poll_recv(cx);
        if let (Poll::Ready(Some(Ok(_))), Some((log, epoch, _))) = (&polled, self.log.as_mut()) {
            log.token_s.push(epoch.elapsed().as_secs_f64());
        }
        polled.map(|piece| piece.map(|p| p.map(Frame::data)))
    }
}
