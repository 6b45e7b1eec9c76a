//! An embedded simulated OpenAI-compatible inference server.
//!
//! It speaks the wire format of vLLM (and SGLang, which follows it):
//! `POST /v1/completions` and `/v1/chat/completions`, streamed as SSE
//! (`data: {...}\n\n` chunks, a final usage chunk with
//! `stream_options.include_usage`, then `data: [DONE]`) or returned whole;
//! `GET /v1/models`, `/health`, `/metrics` (Prometheus text, vLLM metric
//! names); `POST /start_profile`, `/stop_profile`. Bad requests get vLLM's
//! error JSON.
//!
//! Two timing modes. *Fast*: the first token after a fixed TTFT, the others
//! a fixed ITL apart (zero allowed), on absolute deadlines from the
//! request's arrival — so a client's measurements can be checked against
//! the truth ([`TokenLog`] records what was actually written). *Model*: a
//! simulated GPU running continuous batching with chunked prefill on step
//! times from a compute/memory roofline ([`Deployment`], loaded by
//! [`ModelMode`]), with KV-cache admission and a clock speed-up.
//!
//! Text and prompt token counts come from a [`TextSource`]: a small
//! built-in word list ([`BuiltIn`]), or a real tokenizer ([`text_source`],
//! with the `tokenizer` feature). The
//! simulator has no end-of-sequence token: it always generates `max_tokens`
//! (so `ignore_eos` changes nothing), and `logprobs` is accepted but answered
//! with `null`. Faults (errors, cut or stalled streams, malformed frames,
//! resets, slow first bytes) are injected on demand ([`Fault`]) and counted
//! in `/metrics`.
//!
//! A prefix cache (vLLM's automatic prefix caching: chained hashes of
//! 16-token blocks, LRU eviction, sized by the KV cache) counts hits in
//! `/metrics` under vLLM's names and, in model mode, lets cached tokens
//! skip prefill compute (module `prefix`).
//!
//! In model mode it can also log the simulated GPUs' power draw as
//! nvidia-smi would ([`GpuMetrics`], [`serve_with_gpu_metrics`]; the power
//! model is documented in module `power`).
//!
//! It does not own the benchmark client or any metric math.
//!
//! ```no_run
//! use servebench_sim::{serve, SimOptions};
//! use std::time::Duration;
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into()).await?;
//! let opts = SimOptions {
//!     model: "sim".into(),
//!     ttft: Duration::from_millis(50),
//!     itl: Duration::from_millis(10),
//!     fault: None,
//!     fault_every: 1,
//!     deployment: None,
//!     ground_truth: None,
//!     text: std::sync::Arc::new(servebench_sim::BuiltIn),
//!     kv_cache_tokens: None,
//! };
//! serve(listener, opts, std::future::pending()).await
//! # }
//! ```

#![warn(unreachable_pub)]

mod count;
mod engine;
mod error;
mod fault;
mod launch;
mod metrics;
mod model;
mod power;
mod prefix;
mod protocol;
mod rx_time;
mod server;
mod sse;
mod vocab;

pub use error::SimError;
pub use fault::Fault;
pub use launch::{Launch, Report};
pub use model::{Deployment, Gpu, Model, ModelMode, Precision, MEMORY_BOUND_ACTIVITY};
pub use power::{GpuMetrics, HEADER as GPU_METRICS_HEADER, SAMPLE_PERIOD_S};
pub use prefix::{kv_cache_size_line, BLOCK_TOKENS, FAST_MODE_KV_TOKENS, MAX_KV_TOKENS};
pub use server::{serve, serve_with_gpu_metrics};
pub use vocab::{text_source, BuiltIn, TextSource};

/// Binds a listener with a deep accept backlog (4096, capped by the
/// kernel's `somaxconn`): a benchmark may open thousands of connections at
/// once, and a full backlog makes the kernel reset them.
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

use std::time::Duration;

/// The ground truth of one response: when the request arrived and when
/// each body frame (one per streamed token; the last also carries the usage
/// chunk and `[DONE]`) was handed to the socket, in seconds since the
/// server started, on a monotonic clock.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLog {
    pub id: String,
    pub arrival_s: f64,
    pub token_s: Vec<f64>,
}

impl TokenLog {
    /// One JSON line.
    pub fn json(&self) -> String {
        let times: Vec<String> = self
            .token_s
            .iter()
            .map(|t| servebench_pyjson::float_repr(*t))
            .collect();
        format!(
            "{{\"id\": {}, \"arrival_s\": {}, \"token_s\": [{}]}}",
            sse::json_string(&self.id),
            servebench_pyjson::float_repr(self.arrival_s),
            times.join(", ")
        )
    }
}

/// The sender and the thread of a ground-truth file (see
/// [`ground_truth_file`]).
pub type GroundTruth = (
    tokio::sync::mpsc::UnboundedSender<TokenLog>,
    std::thread::JoinHandle<()>,
);

/// Creates (truncates) `path` and starts a thread that appends one
/// [`TokenLog::json`] line per response sent to it; the thread flushes and
/// ends when the server drops the last sender. The file is a stream, not an
/// atomic output: a run that is killed leaves the lines written so far. If
/// a write fails the thread calls `on_error` with `path` and stops logging.
pub fn ground_truth_file(
    path: &std::path::Path,
    on_error: impl FnOnce(&std::path::Path) + Send + 'static,
) -> Result<GroundTruth, SimError> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|source| SimError::GroundTruth {
        path: path.to_owned(),
        source,
    })?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<TokenLog>();
    let path = path.to_owned();
    let handle = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(file);
        while let Some(log) = rx.blocking_recv() {
            if writeln!(out, "{}", log.json()).is_err() {
                on_error(&path);
                return;
            }
        }
        let _ = out.flush();
    });
    Ok((tx, handle))
}

/// Resolves on Ctrl-C or SIGTERM (on Unix; where the SIGTERM handler cannot
/// be installed, never).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The served model name (`/v1/models`, the `model` field of responses).
    pub model: String,
    /// Fast mode: time to the first token.
    pub ttft: Duration,
    /// Fast mode: time between tokens.
    pub itl: Duration,
    /// Model mode: the simulated deployment and the clock's speed-up;
    /// `None` is fast mode.
    pub deployment: Option<(Deployment, f64)>,
    /// Response text and prompt token counts ([`BuiltIn`] unless a
    /// tokenizer is plugged in).
    pub text: std::sync::Arc<dyn TextSource>,
    /// Where to send the ground truth of every response (see [`TokenLog`]).
    pub ground_truth: Option<tokio::sync::mpsc::UnboundedSender<TokenLog>>,
    /// A fault for every `fault_every`-th request (the `x-sim-fault`
    /// header overrides it per request).
    pub fault: Option<Fault>,
    pub fault_every: u64,
    /// Tokens the KV cache holds, which bounds the prefix cache (blocks of
    /// [`BLOCK_TOKENS`]) and, in model mode, admission; `None`: the
    /// deployment's [`Deployment::kv_capacity_tokens`] in model mode,
    /// [`FAST_MODE_KV_TOKENS`] in fast mode.
    pub kv_cache_tokens: Option<usize>,
}

impl SimOptions {
    /// The tokens the KV cache holds: [`kv_cache_tokens`](Self::kv_cache_tokens)
    /// when given, else the default it documents.
    pub fn kv_tokens(&self) -> usize {
        self.kv_cache_tokens.unwrap_or_else(|| {
            (self.deployment.as_ref()).map_or(FAST_MODE_KV_TOKENS, |(d, _)| d.kv_capacity_tokens())
        })
    }
}
