//! What `benchmark_serving` prints and saves after a run (SPEC §6.9–6.10):
//! the report text, the result dictionary, the saved document and its file
//! name, and the `benchmark_serving metrics` test command's case format.

use crate::ResultsError;
use servebench_metrics::{
    percentile_label, BenchmarkMetrics, Metric, MetricsOptions, RequestOutput,
};
use servebench_pyjson::format::fixed;
use servebench_pyjson::{float_repr, Dict, Value};

/// The keys the original looks up after saving; if one is missing it exits
/// 1 (after the file was written).
pub const SUMMARY_KEYS: [&str; 12] = [
    "median_ttft_ms",
    "mean_ttft_ms",
    "std_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "std_tpot_ms",
    "p99_tpot_ms",
    "median_itl_ms",
    "mean_itl_ms",
    "std_itl_ms",
    "p99_itl_ms",
];

/// The per-request lists that only `--save-detailed` keeps.
pub const DETAIL_KEYS: [&str; 6] = [
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "generated_texts",
    "errors",
];

fn line_f(out: &mut String, label: &str, value: f64) {
    out.push_str(&format!("{label:<40} {:<10}\n", fixed(value, 2)));
}

fn line_i(out: &mut String, label: &str, value: i64) {
    out.push_str(&format!("{label:<40} {value:<10}\n"));
}

/// The report printed after a run, from the `=== Serving Benchmark Result
/// ===` line through the closing `=====` line, every line ending in `\n`.
pub fn report(metrics: &BenchmarkMetrics, duration_s: f64, opts: &MetricsOptions) -> String {
    let mut out = format!("{:=^50}\n", " Serving Benchmark Result ");
    line_i(&mut out, "Successful requests:", metrics.completed);
    line_f(&mut out, "Benchmark duration (s):", duration_s);
    line_i(&mut out, "Total input tokens:", metrics.total_input);
    line_i(&mut out, "Total generated tokens:", metrics.total_output);
    line_f(
        &mut out,
        "Request throughput (req/s):",
        metrics.request_throughput,
    );
    if !opts.goodput.is_empty() {
        line_f(
            &mut out,
            "Request goodput (req/s):",
            metrics.request_goodput,
        );
    }
    line_f(
        &mut out,
        "Output token throughput (tok/s):",
        metrics.output_throughput,
    );
    line_f(
        &mut out,
        "Total Token throughput (tok/s):",
        metrics.total_token_throughput,
    );
    for metric in Metric::ALL.into_iter().filter(|m| opts.is_selected(*m)) {
        let stats = metrics.stats(metric);
        let name = metric.label();
        out.push_str(&format!("{:-^50}\n", metric.header()));
        line_f(&mut out, &format!("Mean {name} (ms):"), stats.mean_ms);
        line_f(&mut out, &format!("Median {name} (ms):"), stats.median_ms);
        for (p, value) in &stats.percentiles_ms {
            line_f(
                &mut out,
                &format!("P{} {name} (ms):", percentile_label(*p)),
                *value,
            );
        }
    }
    out.push_str(&"=".repeat(50));
    out.push('\n');
    out
}

fn floats(xs: impl IntoIterator<Item = f64>) -> Value {
    Value::List(xs.into_iter().map(Value::Float).collect())
}

/// The result dictionary `benchmark()` returns: totals, throughputs,
/// per-request detail lists, then mean/median/std/percentiles of each
/// selected metric. `request_goodput:` (with its colon) is null unless
/// goodput SLOs were given.
pub fn result_dict(
    metrics: &BenchmarkMetrics,
    output_lens: &[i64],
    outputs: &[RequestOutput],
    duration_s: f64,
    opts: &MetricsOptions,
) -> Dict {
    let mut d = Dict::new();
    d.insert("duration", Value::Float(duration_s));
    d.insert("completed", Value::Int(metrics.completed.into()));
    d.insert("total_input_tokens", Value::Int(metrics.total_input.into()));
    d.insert(
        "total_output_tokens",
        Value::Int(metrics.total_output.into()),
    );
    d.insert(
        "request_throughput",
        Value::Float(metrics.request_throughput),
    );
    let goodput = if opts.goodput.is_empty() {
        Value::Null
    } else {
        Value::Float(metrics.request_goodput)
    };
    d.insert("request_goodput:", goodput);
    d.insert("output_throughput", Value::Float(metrics.output_throughput));
    d.insert(
        "total_token_throughput",
        Value::Float(metrics.total_token_throughput),
    );
    d.insert(
        "input_lens",
        Value::List(
            outputs
                .iter()
                .map(|o| Value::Int(o.prompt_len.into()))
                .collect(),
        ),
    );
    d.insert(
        "output_lens",
        Value::List(
            output_lens
                .iter()
                .map(|n| Value::Int((*n).into()))
                .collect(),
        ),
    );
    d.insert("ttfts", floats(outputs.iter().map(|o| o.ttft)));
    d.insert(
        "itls",
        Value::List(
            outputs
                .iter()
                .map(|o| floats(o.itl.iter().copied()))
                .collect(),
        ),
    );
    d.insert(
        "generated_texts",
        Value::List(
            outputs
                .iter()
                .map(|o| o.generated_text.clone().into())
                .collect(),
        ),
    );
    d.insert(
        "errors",
        Value::List(outputs.iter().map(|o| o.error.clone().into()).collect()),
    );
    for metric in Metric::ALL.into_iter().filter(|m| opts.is_selected(*m)) {
        let stats = metrics.stats(metric);
        let key = metric.key();
        d.insert(format!("mean_{key}_ms"), Value::Float(stats.mean_ms));
        d.insert(format!("median_{key}_ms"), Value::Float(stats.median_ms));
        d.insert(format!("std_{key}_ms"), Value::Float(stats.std_ms));
        for (p, value) in &stats.percentiles_ms {
            d.insert(
                format!("p{}_{key}_ms", percentile_label(*p)),
                Value::Float(*value),
            );
        }
    }
    d
}

/// The metrics object of the `metrics` test command (fields of §6.7).
pub fn metrics_value(metrics: &BenchmarkMetrics) -> Value {
    let mut d = Dict::new();
    d.insert("completed", Value::Int(metrics.completed.into()));
    d.insert("total_input", Value::Int(metrics.total_input.into()));
    d.insert("total_output", Value::Int(metrics.total_output.into()));
    d.insert(
        "request_throughput",
        Value::Float(metrics.request_throughput),
    );
    d.insert("request_goodput", Value::Float(metrics.request_goodput));
    d.insert("output_throughput", Value::Float(metrics.output_throughput));
    d.insert(
        "total_token_throughput",
        Value::Float(metrics.total_token_throughput),
    );
    for metric in Metric::ALL {
        let stats = metrics.stats(metric);
        let key = metric.key();
        d.insert(format!("mean_{key}_ms"), Value::Float(stats.mean_ms));
        d.insert(format!("median_{key}_ms"), Value::Float(stats.median_ms));
        d.insert(format!("std_{key}_ms"), Value::Float(stats.std_ms));
        let pairs = stats
            .percentiles_ms
            .iter()
            .map(|(p, v)| Value::List(vec![Value::Float(*p), Value::Float(*v)]));
        d.insert(
            format!("percentiles_{key}_ms"),
            Value::List(pairs.collect()),
        );
    }
    Value::Dict(d)
}

/// The `--save-result` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveOptions {
    pub backend: String,
    pub model_id: String,
    pub tokenizer_id: String,
    pub best_of: i64,
    pub num_prompts: i64,
    /// `--metadata` items, each `KEY=VALUE`.
    pub metadata: Vec<String>,
    pub request_rate: f64,
    pub burstiness: f64,
    pub max_concurrency: Option<i64>,
    pub save_detailed: bool,
    pub result_filename: Option<String>,
    pub result_dir: Option<String>,
    /// Local time after the run, `YYYYmmdd-HHMMSS`.
    pub date: String,
}

/// The saved document: run settings, `--metadata` items, traffic settings,
/// then the result dictionary (a result key that already exists keeps its
/// first position), without the detail lists unless `save_detailed`.
pub fn saved_document(result: &Dict, save: &SaveOptions) -> Result<Dict, ResultsError> {
    let mut d = Dict::new();
    d.insert("date", save.date.clone().into());
    d.insert("backend", save.backend.clone().into());
    d.insert("model_id", save.model_id.clone().into());
    d.insert("tokenizer_id", save.tokenizer_id.clone().into());
    d.insert("best_of", Value::Int(save.best_of.into()));
    d.insert("num_prompts", Value::Int(save.num_prompts.into()));
    for item in &save.metadata {
        if !item.contains('=') {
            return Err(ResultsError::Invalid(format!(
                "Invalid metadata format {item:?}. Please use KEY=VALUE format."
            )));
        }
        // Split on every `=`; only the first two pieces count (`a=b=c` → a: b).
        let mut pieces = item.split('=');
        let key = pieces.next().unwrap_or_default().trim();
        let value = pieces.next().unwrap_or_default().trim();
        d.insert(key, value.into());
    }
    let rate = if save.request_rate < f64::INFINITY {
        Value::Float(save.request_rate)
    } else {
        Value::from("inf")
    };
    d.insert("request_rate", rate);
    d.insert("burstiness", Value::Float(save.burstiness));
    d.insert(
        "max_concurrency",
        save.max_concurrency
            .map_or(Value::Null, |c| Value::Int(c.into())),
    );
    for (k, v) in result.iter() {
        d.insert(k, v.clone());
    }
    if !save.save_detailed {
        for k in DETAIL_KEYS {
            d.remove(k);
        }
    }
    Ok(d)
}

/// `{backend}-{rate}qps[-concurrency{N}]-{model basename}-{date}.json`,
/// replaced by `--result-filename`, joined to `--result-dir` as
/// `os.path.join` does.
pub fn saved_file_name(save: &SaveOptions) -> String {
    let name = match &save.result_filename {
        Some(name) => name.clone(),
        None => {
            let concurrency = save
                .max_concurrency
                .map_or(String::new(), |c| format!("-concurrency{c}"));
            let base = save.model_id.rsplit('/').next().unwrap_or_default();
            format!(
                "{}-{}qps{concurrency}-{base}-{}.json",
                save.backend,
                float_repr(save.request_rate),
                save.date
            )
        }
    };
    match save.result_dir.as_deref() {
        Some(dir) if !dir.is_empty() && !name.starts_with('/') => {
            if dir.ends_with('/') {
                format!("{dir}{name}")
            } else {
                format!("{dir}/{name}")
            }
        }
        _ => name,
    }
}

/// Whether the original exits 1 after saving this document (a summary key
/// such as `p99_tpot_ms` is missing).
pub fn exits_nonzero_after_save(doc: &Dict) -> bool {
    SUMMARY_KEYS.iter().any(|k| !doc.contains_key(k))
}

pub mod case;
