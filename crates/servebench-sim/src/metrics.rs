//! `/metrics`: Prometheus text with vLLM's metric names.

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

    pub(crate) fn fault(&self, kind: &str) {
        if let Some(i) = crate::fault::Fault::KINDS.iter().position(|k| *k == kind) {
            self.faults[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Prometheus text; in model mode the engine's gauges replace the
    /// HTTP-level running count.
    pub(crate) fn render(&self, model: &str, engine: Option<&crate::engine::Gauges>) -> String {
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
        let kv = engine.map_or(0.0, |g| g.kv_usage_ppm.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(
            out,
            "# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{{{labels}}} {kv}"
        );
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
