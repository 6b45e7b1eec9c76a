//! Live metrics in the Prometheus text format: per run (label `run_id`,
//! plus `model` and `backend`), counters of requests and tokens, the
//! in-flight gauge, and histograms of TTFT, ITL, end-to-end latency and the
//! client's own send lag. Each run's [`RunMetrics`] is the run's client
//! [`Observer`], so the numbers move while the run goes.

use servebench_client::Observer;
use servebench_metrics::RequestOutput;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

const TTFT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const ITL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const E2EL_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 300.0, 600.0,
];
const LAG_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Cumulative counts are built when rendering; these are per bucket,
    /// the last one for +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        let i = self.bounds.partition_point(|&b| b < v);
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// One run's live numbers.
#[derive(Debug)]
pub(crate) struct RunMetrics {
    labels: String,
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicI64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    histograms: Mutex<[Histogram; 4]>,
}

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

impl RunMetrics {
    pub(crate) fn new(run_id: &str, model: &str, backend: &str) -> Self {
        RunMetrics {
            labels: format!(
                "run_id=\"{}\",model=\"{}\",backend=\"{}\"",
                label(run_id),
                label(model),
                label(backend)
            ),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
            histograms: Mutex::new([
                Histogram::new(TTFT_BUCKETS),
                Histogram::new(ITL_BUCKETS),
                Histogram::new(E2EL_BUCKETS),
                Histogram::new(LAG_BUCKETS),
            ]),
        }
    }

    /// Requests finished (completed + failed), for progress.
    pub(crate) fn finished_count(&self) -> u64 {
        self.completed.load(Relaxed) + self.failed.load(Relaxed)
    }

    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Relaxed)
    }

    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }
}

impl Observer for RunMetrics {
    fn started(&self) {
        self.started.fetch_add(1, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
    }

    fn finished(&self, output: &RequestOutput, send_lag_s: f64) {
        self.in_flight.fetch_sub(1, Relaxed);
        let Ok(mut h) = self.histograms.lock() else {
            return;
        };
        h[3].observe(send_lag_s);
        if !output.success {
            self.failed.fetch_add(1, Relaxed);
            return;
        }
        self.completed.fetch_add(1, Relaxed);
        self.input_tokens
            .fetch_add(u64::try_from(output.prompt_len).unwrap_or(0), Relaxed);
        // Without a usage report every streamed chunk is one token.
        let out = output
            .output_tokens
            .filter(|&n| n > 0)
            .unwrap_or(output.itl.len() as i64 + 1);
        self.output_tokens
            .fetch_add(u64::try_from(out).unwrap_or(0), Relaxed);
        h[0].observe(output.ttft);
        for &gap in &output.itl {
            h[1].observe(gap);
        }
        h[2].observe(output.latency);
    }
}

/// A single-valued series: name, help text, Prometheus type, reading.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RunMetrics) -> i64,
);

fn count(a: &AtomicU64) -> i64 {
    i64::try_from(a.load(Relaxed)).unwrap_or(i64::MAX)
}

/// Every run's metrics, rendered together.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Oldest first; only the most recent runs are kept.
    runs: Mutex<Vec<Arc<RunMetrics>>>,
}

/// How many runs' series `/metrics` keeps (bounded label cardinality).
pub(crate) const KEPT_RUNS: usize = 20;

impl Registry {
    pub(crate) fn add(&self, run: Arc<RunMetrics>) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.push(run);
            let extra = runs.len().saturating_sub(KEPT_RUNS);
            runs.drain(..extra);
        }
    }

    /// The Prometheus text exposition; `service` lines (runs by state)
    /// come first.
    pub(crate) fn render(&self, runs_by_state: &[(&str, usize)]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP loadgen_runs Runs known to the service, by state.\n# TYPE loadgen_runs gauge\n",
        );
        for (state, n) in runs_by_state {
            let _ = writeln!(out, "loadgen_runs{{state=\"{state}\"}} {n}");
        }
        let runs = match self.runs.lock() {
            Ok(r) => r.clone(),
            Err(_) => Vec::new(),
        };
        let series: [Series; 6] = [
            (
                "loadgen_requests_started_total",
                "Requests sent.",
                "counter",
                |m| count(&m.started),
            ),
            (
                "loadgen_requests_completed_total",
                "Requests answered successfully.",
                "counter",
                |m| count(&m.completed),
            ),
            (
                "loadgen_requests_failed_total",
                "Requests that failed.",
                "counter",
                |m| count(&m.failed),
            ),
            (
                "loadgen_input_tokens_total",
                "Prompt tokens of completed requests.",
                "counter",
                |m| count(&m.input_tokens),
            ),
            (
                "loadgen_output_tokens_total",
                "Output tokens of completed requests.",
                "counter",
                |m| count(&m.output_tokens),
            ),
            (
                "loadgen_requests_in_flight",
                "Requests sent and not yet answered.",
                "gauge",
                |m| m.in_flight.load(Relaxed),
            ),
        ];
        for (name, help, kind, get) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for m in &runs {
                let _ = writeln!(out, "{name}{{{}}} {}", m.labels, get(m));
            }
        }
        let names = [
            ("loadgen_ttft_seconds", "Time to first token."),
            ("loadgen_itl_seconds", "Time between streamed tokens."),
            ("loadgen_e2el_seconds", "End-to-end request latency."),
            (
                "loadgen_send_lag_seconds",
                "How late the client sent requests against their schedule.",
            ),
        ];
        for (i, (name, help)) in names.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for m in &runs {
                let Ok(h) = m.histograms.lock() else { continue };
                let h = &h[i];
                let mut cumulative = 0;
                for (bound, count) in h.bounds.iter().zip(&h.counts) {
                    cumulative += count;
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{{},le=\"{}\"}} {cumulative}",
                        m.labels,
                        servebench_pyjson::float_repr(*bound)
                    );
                }
                let _ = writeln!(out, "{name}_bucket{{{},le=\"+Inf\"}} {}", m.labels, h.count);
                let _ = writeln!(
                    out,
                    "{name}_sum{{{}}} {}",
                    m.labels,
                    servebench_pyjson::float_repr(h.sum)
                );
                let _ = writeln!(out, "{name}_count{{{}}} {}", m.labels, h.count);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(success: bool) -> RequestOutput {
        let mut o = RequestOutput::failed(10);
        o.success = success;
        o.ttft = 0.02;
        o.itl = vec![0.01, 0.01];
        o.latency = 0.05;
        o.output_tokens = Some(3);
        o
    }

    #[test]
    fn counters_and_histograms_render() {
        let reg = Registry::default();
        let m = Arc::new(RunMetrics::new("r1", "org/m", "vllm"));
        reg.add(Arc::clone(&m));
        m.started();
        m.started();
        m.finished(&output(true), 0.0002);
        m.finished(&output(false), 0.0002);
        let text = reg.render(&[("running", 1)]);
        for line in [
            "loadgen_runs{state=\"running\"} 1",
            "# TYPE loadgen_requests_started_total counter",
            "# TYPE loadgen_requests_in_flight gauge",
            "# TYPE loadgen_ttft_seconds histogram",
            "loadgen_requests_started_total{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 2",
            "loadgen_requests_completed_total{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 1",
            "loadgen_requests_failed_total{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 1",
            "loadgen_requests_in_flight{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 0",
            "loadgen_input_tokens_total{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 10",
            "loadgen_output_tokens_total{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 3",
            "loadgen_ttft_seconds_bucket{run_id=\"r1\",model=\"org/m\",backend=\"vllm\",le=\"0.01\"} 0",
            "loadgen_ttft_seconds_bucket{run_id=\"r1\",model=\"org/m\",backend=\"vllm\",le=\"0.025\"} 1",
            "loadgen_itl_seconds_count{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 2",
            "loadgen_send_lag_seconds_count{run_id=\"r1\",model=\"org/m\",backend=\"vllm\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    /// Every series the shipped Grafana dashboard queries exists.
    #[test]
    fn the_dashboard_queries_metrics_we_export() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/grafana/dashboard.json"
        );
        let dashboard = std::fs::read_to_string(path).unwrap();
        let reg = Registry::default();
        let m = Arc::new(RunMetrics::new("r", "m", "vllm"));
        reg.add(Arc::clone(&m));
        let exported = reg.render(&[("running", 0)]);
        let mut names: Vec<&str> = dashboard
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("loadgen_"))
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 8, "{names:?}");
        for name in names {
            assert!(
                exported.lines().any(|l| l.starts_with(name)),
                "the dashboard queries {name}, which /metrics does not export"
            );
        }
    }

    #[test]
    fn only_recent_runs_are_kept() {
        let reg = Registry::default();
        for i in 0..KEPT_RUNS + 5 {
            reg.add(Arc::new(RunMetrics::new(&format!("r{i}"), "m", "vllm")));
        }
        let text = reg.render(&[]);
        assert!(!text.contains("run_id=\"r0\""));
        assert!(text.contains(&format!("run_id=\"r{}\"", KEPT_RUNS + 4)));
        assert!(text.contains("\\\"") || !text.contains("\"\"\""));
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
