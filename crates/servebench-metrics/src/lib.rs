//! The serving benchmark's numbers, identical to the Python original's.
//!
//! This crate owns the metric math of `benchmark_serving.py`
//! (`calculate_metrics`): per-request outputs in, [`BenchmarkMetrics`] out —
//! TTFT, TPOT (per request, excluding the first token), ITL (every gap), E2EL,
//! request/output/total throughput, goodput against `--goodput` SLOs, and the
//! `--metric-percentiles` of each metric. The statistics are NumPy's, bit for
//! bit ([`mean`], [`percentile`]). It also parses the three metric options exactly as the
//! original does.
//!
//! It does not own timing (the client records raw timestamps), tokenizers
//! (the caller passes a token counter), or how results are printed or saved.
//!
//! ```
//! use servebench_metrics::{calculate_metrics, MetricsOptions, RequestInput, RequestOutput};
//!
//! let requests = [RequestInput { prompt_len: 10, output_len: 3 }];
//! let outputs = [RequestOutput {
//!     success: true,
//!     ttft: 0.5,
//!     latency: 0.7,
//!     itl: vec![0.1, 0.1],
//!     output_tokens: Some(3),
//!     ..RequestOutput::failed(10)
//! }];
//! let opts = MetricsOptions::parse("ttft,tpot,itl", "99", &[])?;
//! let (m, _) = calculate_metrics(&requests, &outputs, 2.0, |t| t.chars().count() as i64, &opts)?;
//! assert_eq!(m.completed, 1);
//! assert_eq!(m.output_throughput, 1.5);
//! assert_eq!(m.tpot.mean_ms, (0.7 - 0.5) / 2.0 * 1000.0);
//! # Ok::<(), servebench_metrics::MetricsError>(())
//! ```

#![warn(unreachable_pub)]

mod stats;

pub use stats::{mean, or_zero, percentile, std, sum};

use servebench_contract::Edition;
use servebench_pyjson::parse_float;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    #[error(
        "Invalid format found for service level objectives ({pair:?}). Specify service level \
         objectives for goodput as \"KEY:VALUE\" pairs, where the key is a metric name, and the \
         value is a number in milliseconds."
    )]
    GoodputFormat { pair: String },
    #[error(
        "Invalid metric name found, {name}: {value}. The service level objective name should be \
         one of ['ttft', 'tpot', 'e2el']. "
    )]
    GoodputName { name: String, value: String },
    #[error(
        "Invalid value found, {name}: {value}. The service level objective value should be \
         non-negative."
    )]
    GoodputValue { name: String, value: String },
    #[error("invalid --metric-percentiles value {0:?}: not a number")]
    PercentileFormat(String),
    #[error("Percentiles must be in the range [0, 100], got {0}")]
    PercentileRange(String),
    #[error("{requests} requests but {outputs} outputs")]
    LengthMismatch { requests: usize, outputs: usize },
    #[error("the benchmark duration is zero, so no throughput can be computed")]
    ZeroDuration,
}

/// One dataset request, as far as the metrics need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInput {
    pub prompt_len: i64,
    pub output_len: i64,
}

/// What the client measured for one request (times in seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestOutput {
    pub success: bool,
    pub ttft: f64,
    /// From sending to the last token.
    pub latency: f64,
    /// Every gap between consecutive token chunks.
    pub itl: Vec<f64>,
    /// From the server's usage report; `None` means "count the text".
    pub output_tokens: Option<i64>,
    pub generated_text: String,
    pub prompt_len: i64,
    pub error: String,
}

impl RequestOutput {
    /// The original's defaults for a request that produced nothing
    /// (note `output_tokens` 0, not "unknown").
    pub fn failed(prompt_len: i64) -> Self {
        RequestOutput {
            success: false,
            ttft: 0.0,
            latency: 0.0,
            itl: Vec::new(),
            output_tokens: Some(0),
            generated_text: String::new(),
            prompt_len,
            error: String::new(),
        }
    }
}

/// The four latency metrics, in the fixed order the report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Ttft,
    Tpot,
    Itl,
    E2el,
}

impl Metric {
    pub const ALL: [Metric; 4] = [Metric::Ttft, Metric::Tpot, Metric::Itl, Metric::E2el];

    /// `ttft`, `tpot`, `itl`, `e2el`: option values and result-key infixes.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft",
            Metric::Tpot => "tpot",
            Metric::Itl => "itl",
            Metric::E2el => "e2el",
        }
    }

    /// `TTFT`, ...: the report's label.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Ttft => "TTFT",
            Metric::Tpot => "TPOT",
            Metric::Itl => "ITL",
            Metric::E2el => "E2EL",
        }
    }

    /// The report's section header.
    pub fn header(self) -> &'static str {
        match self {
            Metric::Ttft => "Time to First Token",
            Metric::Tpot => "Time per Output Token (excl. 1st token)",
            Metric::Itl => "Inter-token Latency",
            Metric::E2el => "End-to-end Latency",
        }
    }
}

/// The metric options, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsOptions {
    /// `--percentile-metrics`: which sections the report and result carry.
    pub selected: Vec<Metric>,
    /// `--metric-percentiles`, in the given order (duplicates kept).
    pub percentiles: Vec<f64>,
    /// `--goodput` SLOs in milliseconds, in first-seen order, last value
    /// winning. Empty means goodput is off.
    pub goodput: Vec<(Metric, f64)>,
}

impl MetricsOptions {
    /// The edition's defaults of `--percentile-metrics` and
    /// `--metric-percentiles` (2026-02: `ttft,tpot,itl` and `99`; 2026-08:
    /// `ttft,tpot,itl,e2el` and `90,99,99.9`).
    pub fn default_selection(edition: Edition) -> (&'static str, &'static str) {
        match edition {
            Edition::E2026_02 => ("ttft,tpot,itl", "99"),
            _ => ("ttft,tpot,itl,e2el", "90,99,99.9"),
        }
    }

    /// Parses the three options as the original does: `--percentile-metrics`
    /// split on `,` with exact names only (others silently ignored);
    /// `--metric-percentiles` split on `,`, each Python `float()` in [0, 100];
    /// `--goodput` `KEY:VALUE` pairs with `ttft`/`tpot`/`e2el` and values ≥ 0.
    pub fn parse(
        percentile_metrics: &str,
        metric_percentiles: &str,
        goodput: &[String],
    ) -> Result<Self, MetricsError> {
        let selected = Metric::ALL
            .into_iter()
            .filter(|m| percentile_metrics.split(',').any(|name| name == m.key()))
            .collect();
        let percentiles = metric_percentiles
            .split(',')
            .map(|p| {
                let value =
                    parse_float(p).ok_or_else(|| MetricsError::PercentileFormat(p.to_owned()))?;
                if (0.0..=100.0).contains(&value) {
                    Ok(value)
                } else {
                    Err(MetricsError::PercentileRange(p.trim().to_owned()))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(MetricsOptions {
            selected,
            percentiles,
            goodput: parse_goodput(goodput)?,
        })
    }

    pub fn is_selected(&self, metric: Metric) -> bool {
        self.selected.contains(&metric)
    }
}

fn parse_goodput(pairs: &[String]) -> Result<Vec<(Metric, f64)>, MetricsError> {
    let mut parsed: Vec<(String, f64)> = Vec::new();
    for pair in pairs {
        let parts: Vec<&str> = pair.split(':').collect();
        let value = match parts.as_slice() {
            [_, value] => parse_float(value),
            _ => None,
        };
        let Some(value) = value else {
            return Err(MetricsError::GoodputFormat { pair: pair.clone() });
        };
        let name = parts[0].to_owned();
        match parsed.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => parsed.push((name, value)),
        }
    }
    parsed
        .into_iter()
        .map(|(name, value)| {
            let shown = servebench_pyjson::float_repr(value);
            let metric = [Metric::Ttft, Metric::Tpot, Metric::E2el]
                .into_iter()
                .find(|m| m.key() == name)
                .ok_or_else(|| MetricsError::GoodputName {
                    name: name.clone(),
                    value: shown.clone(),
                })?;
            if value < 0.0 {
                return Err(MetricsError::GoodputValue { name, value: shown });
            }
            Ok((metric, value))
        })
        .collect()
}

/// Mean, median, population std and percentiles of one metric, in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStats {
    pub mean_ms: f64,
    pub median_ms: f64,
    pub std_ms: f64,
    /// `(p, value)` for each requested percentile, in order.
    pub percentiles_ms: Vec<(f64, f64)>,
}

impl MetricStats {
    /// Of `samples` (seconds), or of `[0]` when there are none, as the
    /// original's `np.mean(xs or 0)` does.
    fn of(samples: &[f64], percentiles: &[f64]) -> Self {
        let xs = stats::or_zero(samples);
        MetricStats {
            mean_ms: stats::mean(&xs) * 1000.0,
            median_ms: stats::median(&xs) * 1000.0,
            std_ms: stats::std(&xs) * 1000.0,
            percentiles_ms: percentiles
                .iter()
                .map(|&p| (p, stats::percentile(&xs, p) * 1000.0))
                .collect(),
        }
    }
}

/// `BenchmarkMetrics` of the original, field for field.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkMetrics {
    pub completed: i64,
    pub total_input: i64,
    pub total_output: i64,
    pub request_throughput: f64,
    /// Good requests per second; 0.0 when no SLOs were given.
    pub request_goodput: f64,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    pub ttft: MetricStats,
    pub tpot: MetricStats,
    pub itl: MetricStats,
    pub e2el: MetricStats,
}

impl BenchmarkMetrics {
    pub fn stats(&self, metric: Metric) -> &MetricStats {
        match metric {
            Metric::Ttft => &self.ttft,
            Metric::Tpot => &self.tpot,
            Metric::Itl => &self.itl,
            Metric::E2el => &self.e2el,
        }
    }
}

/// `calculate_metrics`: returns the metrics and the per-request output
/// token counts (0 for failures).
///
/// A successful request's token count is its `output_tokens`, or, when the
/// server reported none, `count_tokens(generated_text)`. Its TPOT is
/// `(latency − ttft) / (n − 1)` when `n > 1` (and counts as 0 for goodput
/// otherwise). Input tokens come from the dataset requests, not the outputs.
pub fn calculate_metrics(
    requests: &[RequestInput],
    outputs: &[RequestOutput],
    duration_s: f64,
    count_tokens: impl Fn(&str) -> i64,
    opts: &MetricsOptions,
) -> Result<(BenchmarkMetrics, Vec<i64>), MetricsError> {
    if requests.len() != outputs.len() {
        return Err(MetricsError::LengthMismatch {
            requests: requests.len(),
            outputs: outputs.len(),
        });
    }
    if duration_s == 0.0 {
        return Err(MetricsError::ZeroDuration);
    }
    let mut output_lens = Vec::with_capacity(outputs.len());
    let (mut total_input, mut completed) = (0i64, 0i64);
    let (mut itls, mut tpots, mut all_tpots, mut ttfts, mut e2els) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (request, output) in requests.iter().zip(outputs) {
        if !output.success {
            output_lens.push(0);
            continue;
        }
        let n = output
            .output_tokens
            .unwrap_or_else(|| count_tokens(&output.generated_text));
        output_lens.push(n);
        total_input += request.prompt_len;
        let mut tpot = 0.0;
        if n > 1 {
            tpot = (output.latency - output.ttft) / (n - 1) as f64;
            tpots.push(tpot);
        }
        all_tpots.push(tpot);
        itls.extend_from_slice(&output.itl);
        ttfts.push(output.ttft);
        e2els.push(output.latency);
        completed += 1;
    }
    let good = if opts.goodput.is_empty() {
        0
    } else {
        (0..ttfts.len())
            .filter(|&i| {
                opts.goodput.iter().all(|(metric, slo_ms)| {
                    let value = match metric {
                        Metric::Ttft => ttfts[i],
                        Metric::Tpot => all_tpots[i],
                        _ => e2els[i],
                    };
                    slo_ms / 1000.0 >= value
                })
            })
            .count()
    };
    let total_output: i64 = output_lens.iter().sum();
    let metrics = BenchmarkMetrics {
        completed,
        total_input,
        total_output,
        request_throughput: completed as f64 / duration_s,
        request_goodput: good as f64 / duration_s,
        output_throughput: total_output as f64 / duration_s,
        total_token_throughput: (total_input + total_output) as f64 / duration_s,
        ttft: MetricStats::of(&ttfts, &opts.percentiles),
        tpot: MetricStats::of(&tpots, &opts.percentiles),
        itl: MetricStats::of(&itls, &opts.percentiles),
        e2el: MetricStats::of(&e2els, &opts.percentiles),
    };
    Ok((metrics, output_lens))
}

/// The `p` of a result key or report line: `99`, `99.9`, `0.5`.
pub fn percentile_label(p: f64) -> String {
    if p.fract() == 0.0 && p.abs() < 1e15 {
        format!("{}", p as i64)
    } else {
        servebench_pyjson::float_repr(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ttft: f64, latency: f64, itl: &[f64], tokens: Option<i64>) -> RequestOutput {
        RequestOutput {
            success: true,
            ttft,
            latency,
            itl: itl.to_vec(),
            output_tokens: tokens,
            generated_text: "héllo".into(),
            prompt_len: 0,
            error: String::new(),
        }
    }

    fn run(outputs: &[RequestOutput], goodput: &[&str]) -> (BenchmarkMetrics, Vec<i64>) {
        let requests: Vec<_> = (0..outputs.len())
            .map(|i| RequestInput {
                prompt_len: 100 + i as i64,
                output_len: 4,
            })
            .collect();
        let goodput: Vec<String> = goodput.iter().map(|s| s.to_string()).collect();
        let opts = MetricsOptions::parse("ttft,tpot,itl,e2el", "50,99", &goodput).unwrap();
        calculate_metrics(&requests, outputs, 2.0, |t| t.chars().count() as i64, &opts).unwrap()
    }

    #[test]
    fn counts_throughput_and_tpot() {
        let (m, lens) = run(
            &[
                ok(0.1, 0.4, &[0.1, 0.1, 0.1], Some(4)),
                RequestOutput::failed(7),
                ok(0.2, 0.2, &[], None),
            ],
            &[],
        );
        assert_eq!(
            lens,
            [4, 0, 5],
            "failure counts 0; missing usage counts code points"
        );
        assert_eq!(
            (m.completed, m.total_input, m.total_output),
            (2, 100 + 102, 9)
        );
        assert_eq!(
            (
                m.request_throughput,
                m.output_throughput,
                m.total_token_throughput
            ),
            (1.0, 4.5, 105.5)
        );
        assert_eq!(m.request_goodput, 0.0);
        // tpots: (0.4 - 0.1) / 3 and (0.2 - 0.2) / 4
        assert_eq!(
            m.tpot.mean_ms,
            stats::mean(&[(0.4 - 0.1) / 3.0, 0.0]) * 1000.0
        );
        assert_eq!(m.itl.median_ms, 0.1 * 1000.0);
        // Sorted [0.2, 0.4], index 0.5: numpy takes `hi - d * (1 - g)`.
        assert_eq!(
            m.e2el.percentiles_ms[0],
            (50.0, (0.4 - (0.4 - 0.2) * 0.5) * 1000.0)
        );
    }

    #[test]
    fn single_token_requests_have_no_tpot() {
        let (m, _) = run(&[ok(0.1, 0.1, &[], Some(1))], &[]);
        assert_eq!(
            (m.tpot.mean_ms, m.tpot.std_ms, m.tpot.percentiles_ms[1].1),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn all_failed_is_all_zero() {
        let (m, lens) = run(&[RequestOutput::failed(1), RequestOutput::failed(2)], &[]);
        assert_eq!((m.completed, m.total_input, lens), (0, 0, vec![0, 0]));
        assert_eq!((m.ttft.mean_ms, m.e2el.median_ms), (0.0, 0.0));
    }

    #[test]
    fn goodput_uses_less_or_equal_and_all_slos() {
        let outs = [
            ok(0.1, 0.4, &[], Some(4)),
            ok(0.3, 0.4, &[], Some(2)),
            ok(0.1, 1.0, &[], Some(1)),
        ];
        assert_eq!(
            run(&outs, &["ttft:100"]).0.request_goodput,
            1.0,
            "0.1 <= 0.1 is good"
        );
        assert_eq!(run(&outs, &["ttft:100", "e2el:500"]).0.request_goodput, 0.5);
        // tpot of a 1-token request counts as 0; (0.4 - 0.1) / 3 is just above 0.1.
        assert_eq!(run(&outs, &["tpot:100"]).0.request_goodput, 0.5);
        assert_eq!(run(&outs, &["tpot:150"]).0.request_goodput, 1.5);
        assert_eq!(run(&outs, &["ttft:nan"]).0.request_goodput, 0.0);
    }

    #[test]
    fn option_parsing() {
        let o = MetricsOptions::parse(
            "e2el, tpot,foo,ttft,ttft",
            "99, 99.9 ,50,1_0",
            &["tpot:5".into(), "ttft:1".into(), "tpot:7".into()],
        )
        .unwrap();
        assert_eq!(
            o.selected,
            [Metric::Ttft, Metric::E2el],
            "exact names only, fixed order"
        );
        assert_eq!(o.percentiles, [99.0, 99.9, 50.0, 10.0]);
        assert_eq!(o.goodput, [(Metric::Tpot, 7.0), (Metric::Ttft, 1.0)]);
        let err = |pm: &str, goodput: &[&str]| {
            let g: Vec<String> = goodput.iter().map(|s| s.to_string()).collect();
            MetricsOptions::parse("ttft", pm, &g)
                .unwrap_err()
                .to_string()
        };
        assert!(err("100.5", &[]).starts_with("Percentiles must be in the range [0, 100]"));
        assert!(err("-1", &[]).contains("[0, 100]"));
        assert!(err("nan", &[]).contains("[0, 100]"));
        assert!(err("x", &[]).contains("not a number"));
        assert!(
            err("99", &["ttft"]).starts_with("Invalid format found for service level objectives")
        );
        assert!(err("99", &["ttft:1:2"]).starts_with("Invalid format"));
        assert!(err("99", &["ttft:abc"]).starts_with("Invalid format"));
        assert!(err("99", &["itl:5"]).starts_with("Invalid metric name found, itl: 5.0."));
        assert!(err("99", &["e2el:-1"]).starts_with("Invalid value found, e2el: -1.0."));
        assert!(
            err("99", &["bad:1", "x"]).starts_with("Invalid format"),
            "format errors come first"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(percentile_label(99.0), "99");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(percentile_label(0.5), "0.5");
        assert_eq!(percentile_label(-0.0), "0");
    }

    #[test]
    fn mismatched_lengths_and_zero_duration_are_errors() {
        let opts = MetricsOptions::parse("ttft", "99", &[]).unwrap();
        let req = [RequestInput {
            prompt_len: 1,
            output_len: 1,
        }];
        assert!(calculate_metrics(&req, &[], 1.0, |_| 0, &opts).is_err());
        assert_eq!(
            calculate_metrics(&req, &[RequestOutput::failed(1)], 0.0, |_| 0, &opts).unwrap_err(),
            MetricsError::ZeroDuration
        );
    }
}
