//! `/metrics`: Prometheus text with vLLM's metric names.
//!
//! The prefix cache's families are vLLM's (V1 engine):
//! `vllm:prefix_cache_queries_total` and `vllm:prefix_cache_hits_total`
//! count tokens looked up and found; `vllm:prompt_tokens_by_source_total`
//! splits the looked-up tokens into `local_cache_hit` and `local_compute`
//! (and `external_kv_transfer`, always 0) by what the simulated GPU did:
//! hit tokens it prefilled anyway because their ids came late (module
//! `engine`) count as computed there, while `prefix_cache_hits` counts
//! them as hits. `vllm:kv_cache_usage_perc` (and its older name
//! `vllm:gpu_cache_usage_perc`) is the share of the KV pool the running
//! requests reserve (cached blocks no request uses are free in vLLM);
//! fast mode reserves each in-flight request's prompt plus `max_tokens`
//! against `--kv-cache-tokens`. The simulator never preempts:
//! `vllm:num_preemptions_total` stays 0.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket bounds (seconds), as vLLM uses for TTFT and ITL.
const TTFT_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const ITL_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    /// Sum in microseconds (atomics hold integers).
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, bounds: &[f64; 12], seconds: f64, times: u64) {
        for (bucket, bound) in self.buckets.iter().zip(bounds) {
            if seconds <= *bound {
                bucket.fetch_add(times, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(times, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds * 1e6) as u64 * times, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, bounds: &[f64; 12], labels: &str) {
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bucket, bound) in self.buckets.iter().zip(bounds) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
}

/// Counters and gauges of the server.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    running: AtomicU64,
    requests: AtomicU64,
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    ttft: Histogram,
    itl: Histogram,
    faults: [AtomicU64; 6],
    /// Fast mode: tokens reserved by the requests in flight.
    kv_reserved: AtomicU64,
}

impl Stats {
    pub(crate) fn started(&self) {
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    /// A prompt was counted (exactly; perhaps after its request started).
    pub(crate) fn prompt_counted(&self, prompt_tokens: usize) {
        self.prompt_tokens
            .fetch_add(prompt_tokens as u64, Ordering::Relaxed);
    }

    /// A response ended after `tokens` tokens, spaced as scheduled.
    pub(crate) fn finished(&self, tokens: usize, ttft: Duration, itl: Duration) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.generation_tokens
            .fetch_add(tokens as u64, Ordering::Relaxed);
        if tokens > 0 {
            self.ttft.observe(&TTFT_BUCKETS, ttft.as_secs_f64(), 1);
            self.itl
                .observe(&ITL_BUCKETS, itl.as_secs_f64(), tokens as u64 - 1);
        }
    }

    /// Fast mode: a request in flight holds `tokens` of KV cache.
    pub(crate) fn reserve(&self, tokens: usize) {
        self.kv_reserved.fetch_add(tokens as u64, Ordering::Relaxed);
    }

    /// Fast mode: the request holding `tokens` ended.
    pub(crate) fn release(&self, tokens: usize) {
        let _ = (self.kv_reserved).fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(tokens as u64))
        });
    }

    pub(crate) fn fault(&self, kind: &str) {
        if let Some(i) = crate::fault::Fault::KINDS.iter().position(|k| *k == kind) {
            self.faults[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Prometheus text; in model mode the engine's gauges replace the
    /// HTTP-level running count and the fast-mode KV reservations (against
    /// `kv_tokens`).
    pub(crate) fn render(
        &self,
        model: &str,
        engine: Option<&crate::engine::Gauges>,
        prefix: &crate::prefix::Counters,
        kv_tokens: usize,
    ) -> String {
        let model = model.replace('\\', "\\\\").replace('"', "\\\"");
        let labels = format!("model_name=\"{model}\"");
        let labels = labels.as_str();
        let running = engine.map_or(self.running.load(Ordering::Relaxed), |g| {
            g.running.load(Ordering::Relaxed)
        });
        let waiting = engine.map_or(0, |g| g.waiting.load(Ordering::Relaxed));
        let mut out = String::new();
        for (name, kind, value) in [
            ("vllm:num_requests_running", "gauge", running),
            ("vllm:num_requests_waiting", "gauge", waiting),
            (
                "vllm:request_success_total",
                "counter",
                self.requests.load(Ordering::Relaxed),
            ),
            (
                "vllm:prompt_tokens_total",
                "counter",
                self.prompt_tokens.load(Ordering::Relaxed),
            ),
            (
                "vllm:generation_tokens_total",
                "counter",
                self.generation_tokens.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name}{{{labels}}} {value}");
        }
        let kv = engine.map_or_else(
            || {
                let reserved = self.kv_reserved.load(Ordering::Relaxed) as f64;
                (reserved / kv_tokens.max(1) as f64).min(1.0)
            },
            |g| g.kv_usage_ppm.load(Ordering::Relaxed) as f64 / 1e6,
        );
        for name in ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"] {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name}{{{labels}}} {kv}");
        }
        let queries = prefix.queries.load(Ordering::Relaxed);
        let hits = prefix.hits.load(Ordering::Relaxed);
        let late = prefix.late.load(Ordering::Relaxed).min(hits);
        for (name, value) in [
            ("vllm:prefix_cache_queries_total", queries),
            ("vllm:prefix_cache_hits_total", hits),
            ("vllm:num_preemptions_total", 0),
            ("servebench_sim_prefix_cache_late_hits_total", late),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter\n{name}{{{labels}}} {value}");
        }
        let name = "vllm:prompt_tokens_by_source_total";
        let _ = writeln!(out, "# TYPE {name} counter");
        for (source, value) in [
            (
                "local_compute",
                queries.saturating_sub(hits).saturating_add(late),
            ),
            ("local_cache_hit", hits - late),
            ("external_kv_transfer", 0),
        ] {
            let _ = writeln!(out, "{name}{{{labels},source=\"{source}\"}} {value}");
        }
        let _ = writeln!(out, "# TYPE servebench_sim_faults_total counter");
        for (kind, count) in crate::fault::Fault::KINDS.iter().zip(&self.faults) {
            let _ = writeln!(
                out,
                "servebench_sim_faults_total{{{labels},kind=\"{kind}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            &TTFT_BUCKETS,
            labels,
        );
        self.itl.render(
            &mut out,
            "vllm:time_per_output_token_seconds",
            &ITL_BUCKETS,
            labels,
        );
        out
    }
}
