//! `sim_server`'s whole run as one call: the runtime, the ground-truth
//! file, the text source and deployment, the listener, and serving until
//! shutdown, with the binary's checks in the binary's order.

use crate::{vocab, Fault, ModelMode, SimError, SimOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the simulated server is told on its command line, as plain
/// values (the `sim_server` flags of the same names).
#[derive(Debug, Clone)]
pub struct Launch {
    /// An IP address to bind.
    pub host: String,
    pub port: u16,
    /// The served model name.
    pub model: String,
    pub ttft_ms: f64,
    pub itl_ms: f64,
    pub fault: Option<Fault>,
    pub fault_every: u64,
    /// `None` is fast mode.
    pub model_mode: Option<ModelMode>,
    /// See [`text_source`](crate::text_source).
    pub tokenizer: Option<String>,
    /// See [`crate::ground_truth_file`].
    pub ground_truth: Option<PathBuf>,
    /// Runtime worker threads (`None`: one per core).
    pub threads: Option<u16>,
    /// Model mode: write the simulated GPUs' power here (see
    /// [`GpuMetrics`](crate::GpuMetrics)).
    pub gpu_metrics_csv: Option<PathBuf>,
    /// The origin of the metrics' simulated clock, unix seconds (`None`:
    /// the server's start).
    pub clock_origin: Option<f64>,
    /// See [`SimOptions::kv_cache_tokens`]; checked to lie in
    /// [`BLOCK_TOKENS`](crate::BLOCK_TOKENS)..=[`MAX_KV_TOKENS`](crate::MAX_KV_TOKENS).
    pub kv_cache_tokens: Option<usize>,
}

/// How [`Launch::run`] reports to the binary that owns the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Report<K, L, T> {
    /// Called once the deployment is loaded, before binding, with the
    /// tokens the KV cache holds (vLLM states its size at start-up: see
    /// [`kv_cache_size_line`](crate::kv_cache_size_line)).
    pub kv_cache: K,
    /// Called once the listener is bound, with its address.
    pub listening: L,
    /// Called (on the writer thread, with the file's path) when writing the
    /// ground truth fails.
    pub ground_truth_failed: T,
}

impl Launch {
    /// Builds the runtime, creates the ground-truth file, then (in this
    /// order) checks the timings, loads the deployment and the text source,
    /// reports the KV cache's size, binds and serves until `shutdown`
    /// resolves. Returns after open responses are drained and every
    /// ground-truth line is flushed.
    pub fn run<S, K, L, T>(
        self,
        env: &dyn Fn(&str) -> Option<String>,
        shutdown: S,
        report: Report<K, L, T>,
    ) -> Result<(), SimError>
    where
        S: Future<Output = ()>,
        K: FnOnce(usize),
        L: FnOnce(SocketAddr),
        T: FnOnce(&std::path::Path) + Send + 'static,
    {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(threads) = self.threads {
            builder.worker_threads(usize::from(threads));
        }
        let runtime = builder.enable_all().build().map_err(SimError::Runtime)?;
        let truth = (self.ground_truth.as_deref())
            .map(|path| crate::ground_truth_file(path, report.ground_truth_failed))
            .transpose()?;
        let (sink, writer) = truth.unzip();
        let gpu_metrics = (self.gpu_metrics_csv.as_deref())
            .map(|path| crate::GpuMetrics::create(path, self.clock_origin))
            .transpose()?;
        let result = runtime.block_on(async {
            let opts = SimOptions {
                model: self.model,
                ttft: millis(self.ttft_ms, "ttft-ms")?,
                itl: millis(self.itl_ms, "itl-ms")?,
                fault: self.fault,
                fault_every: self.fault_every,
                deployment: self.model_mode.map(|m| m.load()).transpose()?,
                ground_truth: sink,
                text: vocab::text_source(self.tokenizer.as_deref(), env)?,
                kv_cache_tokens: self.kv_cache_tokens.map(kv_tokens).transpose()?,
            };
            (report.kv_cache)(opts.kv_tokens());
            let host = self.host;
            let ip: std::net::IpAddr = (host.parse()).map_err(|_| SimError::Host(host.clone()))?;
            let port = self.port;
            let listener = (crate::bind((ip, port).into()).await)
                .map_err(|source| SimError::Listen { host, port, source })?;
            // A signal future installs its handlers when first polled: poll
            // it once before anyone can learn the address, or a SIGTERM sent
            // right after "listening" would kill the process by default.
            let mut shutdown = std::pin::pin!(shutdown);
            let signalled = tokio::select! {
                biased;
                () = &mut shutdown => true,
                () = std::future::ready(()) => false,
            };
            (report.listening)(listener.local_addr()?);
            if signalled {
                return Ok(());
            }
            crate::serve_with_gpu_metrics(listener, opts, gpu_metrics, shutdown).await
        });
        // Dropping the runtime drops the last senders; then the writer flushes.
        drop(runtime);
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        result
    }
}

fn kv_tokens(n: usize) -> Result<usize, SimError> {
    if (crate::BLOCK_TOKENS..=crate::MAX_KV_TOKENS).contains(&n) {
        Ok(n)
    } else {
        Err(SimError::KvCacheTokens(n))
    }
}

fn millis(ms: f64, flag: &'static str) -> Result<Duration, SimError> {
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| SimError::Millis { flag, ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A signal future installs its handlers when first polled, so it must
    /// be polled before the address is announced: otherwise a SIGTERM sent
    /// on seeing "listening" meets no handler and kills the process.
    #[test]
    fn the_shutdown_future_is_polled_before_listening_is_announced() {
        let polled = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&polled);
        let shutdown = std::future::poll_fn(move |_| {
            seen.store(true, Ordering::SeqCst);
            // Resolves at once: the server then stops without serving.
            std::task::Poll::Ready(())
        });
        let announced_after_poll = Arc::new(AtomicBool::new(false));
        let announced = Arc::clone(&announced_after_poll);
        let launch = Launch {
            host: "127.0.0.1".to_owned(),
            port: 0,
            model: "m".to_owned(),
            ttft_ms: 1.0,
            itl_ms: 1.0,
            fault: None,
            fault_every: 1,
            model_mode: None,
            tokenizer: None,
            ground_truth: None,
            threads: Some(1),
            gpu_metrics_csv: None,
            clock_origin: None,
            kv_cache_tokens: None,
        };
        let report = Report {
            kv_cache: |_| {},
            listening: move |_| announced.store(polled.load(Ordering::SeqCst), Ordering::SeqCst),
            ground_truth_failed: |_: &std::path::Path| {},
        };
        let result = launch.run(&|_| None, shutdown, report);
        assert!(result.is_ok(), "{result:?}");
        assert!(announced_after_poll.load(Ordering::SeqCst));
    }
}
