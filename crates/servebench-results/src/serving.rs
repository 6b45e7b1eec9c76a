//! What `benchmark_serving` prints and saves after a run (SPEC §6.9–6.10):
//! the report text, the result dictionary, the saved document and its file
//! name, and the `benchmark_serving metrics` test command's case format.

use crate::ResultsError;
use servebench_contract::Edition;
use servebench_metrics::{
    percentile_label, BenchmarkMetrics, Metric, MetricsOptions, RequestOutput,
};
use servebench_pyjson::fixed;
use servebench_pyjson::{float_repr, Dict, Value};

/// The keys the original looks up after saving; if one is missing it exits
/// 1 (after the file was written).
pub(crate) const SUMMARY_KEYS: [&str; 12] = [
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

/// The per-request lists that only `--save-detailed` keeps (edition
/// 2026-02; from 2026-08 on the first two, the lengths, always stay).
pub(crate) const DETAIL_KEYS: [&str; 6] = [
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "generated_texts",
    "errors",
];

/// The per-request lists a saved result keeps without `--save-detailed`.
fn dropped_detail_keys(edition: Edition) -> &'static [&'static str] {
    match edition {
        Edition::E2026_02 => &DETAIL_KEYS,
        _ => &DETAIL_KEYS[2..],
    }
}

/// The share of failed requests above which a 2026-08 run fails.
pub const MAX_FAILURE_RATE: f64 = 0.05;

/// The failure gate of edition 2026-08 (SPEC-bench §2.6): the `FAIL: ...`
/// message when `1 - completed / num_prompts` (in doubles, as the original
/// computes it) exceeds 5 %, else `None`. One failure in 20 already trips
/// it (`1 - 19/20` is `0.050000000000000044`). `num_prompts` 0 is the
/// original's `ZeroDivisionError`, an error here.
pub fn failure_gate(completed: i64, num_prompts: i64) -> Result<Option<String>, ResultsError> {
    if num_prompts == 0 {
        return Err(ResultsError::Invalid(
            "the failure gate divides by --num-prompts, which is 0 (division by zero)".into(),
        ));
    }
    let rate = 1.0 - completed as f64 / num_prompts as f64;
    Ok((rate > MAX_FAILURE_RATE).then(|| {
        format!(
            "FAIL: request failure rate {:.1}% exceeds 5% threshold ({completed}/{num_prompts} completed)",
            rate * 100.0
        )
    }))
}

/// What the result dictionary holds besides the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResultShape {
    /// `benchmark_start_time_unix` and `benchmark_end_time_unix` (wall
    /// clock, seconds), right after `duration` (edition 2026-08).
    pub window: Option<(f64, f64)>,
    /// Build `input_lens` and `output_lens`.
    pub lens: bool,
    /// Build `ttfts`, `itls`, `generated_texts` and `errors`.
    pub details: bool,
}

impl ResultShape {
    /// The shape a run saves: 2026-08 keeps the lengths and has the window
    /// (`window` is ignored under 2026-02); the other lists only with
    /// `save_detailed`.
    pub fn saved(edition: Edition, window: (f64, f64), save_detailed: bool) -> Self {
        let newer = edition != Edition::E2026_02;
        ResultShape {
            window: newer.then_some(window),
            lens: save_detailed || newer,
            details: save_detailed,
        }
    }

    /// Everything (the `metrics` test command's result).
    pub fn full(edition: Edition, window: (f64, f64)) -> Self {
        ResultShape {
            details: true,
            lens: true,
            ..ResultShape::saved(edition, window, true)
        }
    }
}

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
/// goodput SLOs were given. `shape` says which per-request lists are built
/// (those the saved document drops are not: for a long run they are most
/// of the memory the result takes) and whether the wall-clock window
/// follows `duration`.
pub fn result_dict(
    metrics: &BenchmarkMetrics,
    output_lens: &[i64],
    outputs: &[RequestOutput],
    duration_s: f64,
    opts: &MetricsOptions,
    shape: ResultShape,
) -> Dict {
    let mut d = Dict::new();
    d.insert("duration", Value::Float(duration_s));
    if let Some((start, end)) = shape.window {
        d.insert("benchmark_start_time_unix", Value::Float(start));
        d.insert("benchmark_end_time_unix", Value::Float(end));
    }
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
    detail_lists(&mut d, output_lens, outputs, shape);
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

/// `input_lens`, `output_lens` (with `shape.lens`), `ttfts`, `itls`,
/// `generated_texts`, `errors` (with `shape.details`).
fn detail_lists(d: &mut Dict, output_lens: &[i64], outputs: &[RequestOutput], shape: ResultShape) {
    if shape.lens {
        lens_lists(d, output_lens, outputs);
    }
    if shape.details {
        other_lists(d, outputs);
    }
}

fn lens_lists(d: &mut Dict, output_lens: &[i64], outputs: &[RequestOutput]) {
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
}

fn other_lists(d: &mut Dict, outputs: &[RequestOutput]) {
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
}

/// The metrics object of the `metrics` test command (fields of §6.7).
pub(crate) fn metrics_value(metrics: &BenchmarkMetrics) -> Value {
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
    /// Which lists go without `save_detailed` (2026-08 keeps the lengths).
    pub edition: Edition,
}

/// The saved document: run settings, `--metadata` items, traffic settings,
/// then the result dictionary (a result key that already exists keeps its
/// first position), without the detail lists unless `save_detailed`. Takes
/// the result whole: its detail lists are moved, not copied.
pub fn saved_document(result: Dict, save: &SaveOptions) -> Result<Dict, ResultsError> {
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
    for (k, v) in result {
        d.insert(k, v);
    }
    if !save.save_detailed {
        for k in dropped_detail_keys(save.edition) {
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

/// The PyTorch OSS benchmark records the original writes beside the result
/// when `SAVE_TO_PYTORCH_BENCHMARK_FORMAT` is set (SPEC §6.10): one record
/// per summary key, each carrying every command-line option (`args`, in
/// argparse order) and the rest of the saved document. `None` when a summary
/// key is missing (the original exits before writing it).
pub fn pytorch_records(doc: &Dict, args: &Dict, model: &str) -> Option<Value> {
    const IGNORED: [&str; 4] = ["ttfts", "itls", "generated_texts", "errors"];
    let extra: Dict = doc
        .iter()
        .filter(|(k, _)| !SUMMARY_KEYS.contains(k) && !IGNORED.contains(k))
        .map(|(k, v)| (k, v.clone()))
        .collect();
    let mut records = Vec::with_capacity(SUMMARY_KEYS.len());
    for name in SUMMARY_KEYS {
        let value = doc.get(name)?.clone();
        let mut benchmark_extra = Dict::new();
        benchmark_extra.insert("args", Value::Dict(args.clone()));
        let mut benchmark = Dict::new();
        benchmark.insert("name", "vLLM benchmark".into());
        benchmark.insert("extra_info", Value::Dict(benchmark_extra));
        let mut model_d = Dict::new();
        model_d.insert("name", model.into());
        let mut metric = Dict::new();
        metric.insert("name", name.into());
        metric.insert("benchmark_values", Value::List(vec![value]));
        metric.insert("extra_info", Value::Dict(extra.clone()));
        let mut record = Dict::new();
        record.insert("benchmark", Value::Dict(benchmark));
        record.insert("model", Value::Dict(model_d));
        record.insert("metric", Value::Dict(metric));
        records.push(Value::Dict(record));
    }
    Some(Value::List(records))
}

/// `{os.path.splitext(result_file)[0]}.pytorch.json`: the last extension of
/// the base name goes (a base name's leading dots are not an extension).
pub fn pytorch_file_name(result_file: &str) -> String {
    let base_start = result_file.rfind('/').map_or(0, |i| i + 1);
    let base = &result_file[base_start..];
    let dots = base.len() - base.trim_start_matches('.').len();
    let root = match base[dots..].rfind('.') {
        Some(i) => &result_file[..base_start + dots + i],
        None => result_file,
    };
    format!("{root}.pytorch.json")
}

mod case;

pub use case::{CaseOutcome, MetricsCase};

#[cfg(test)]
mod tests {
    #[test]
    fn pytorch_file_name_follows_splitext() {
        use super::pytorch_file_name as f;
        assert_eq!(
            f("vllm-infqps-m-20260101-000000.json"),
            "vllm-infqps-m-20260101-000000.pytorch.json"
        );
        assert_eq!(f("/r/a.b/out.json"), "/r/a.b/out.pytorch.json");
        assert_eq!(f("/r/a.b/out"), "/r/a.b/out.pytorch.json");
        assert_eq!(f("dir/.hidden"), "dir/.hidden.pytorch.json");
        assert_eq!(f("..x.json"), "..x.pytorch.json");
        assert_eq!(f("res.1.5.json"), "res.1.5.pytorch.json");
    }

    #[test]
    fn pytorch_records_one_per_summary_key_without_raw_lists() {
        use super::{pytorch_records, SUMMARY_KEYS};
        let mut doc = Dict::new();
        doc.insert("date", "20260101-000000".into());
        for (i, k) in SUMMARY_KEYS.iter().enumerate() {
            doc.insert(*k, Value::Float(i as f64));
        }
        doc.insert("ttfts", Value::List(vec![Value::Float(0.1)]));
        doc.insert("errors", Value::List(vec!["".into()]));
        doc.insert("input_lens", Value::List(vec![Value::Int(3)]));
        let mut args = Dict::new();
        args.insert("backend", "vllm".into());
        args.insert("request_rate", Value::Float(f64::INFINITY));
        let v = pytorch_records(&doc, &args, "org/m").expect("all keys present");
        let text = servebench_pyjson::to_string(&v);
        let first = text.split("}}, {").next().unwrap_or_default();
        assert_eq!(
            first,
            "[{\"benchmark\": {\"name\": \"vLLM benchmark\", \"extra_info\": {\"args\": {\"backend\": \"vllm\", \"request_rate\": Infinity}}}, \"model\": {\"name\": \"org/m\"}, \"metric\": {\"name\": \"median_ttft_ms\", \"benchmark_values\": [0.0], \"extra_info\": {\"date\": \"20260101-000000\", \"input_lens\": [3]}"
        );
        assert_eq!(v.as_list().map(|l| l.len()), Some(12));
        doc.remove("p99_itl_ms");
        assert!(pytorch_records(&doc, &args, "m").is_none());
    }

    use super::*;
    use servebench_metrics::{calculate_metrics, RequestInput};

    #[test]
    fn failure_gate_follows_python_doubles() {
        let gate = |c, n| failure_gate(c, n).unwrap();
        assert_eq!(
            gate(19, 20).as_deref(),
            Some("FAIL: request failure rate 5.0% exceeds 5% threshold (19/20 completed)")
        );
        assert_eq!(
            gate(95, 100).as_deref(),
            Some("FAIL: request failure rate 5.0% exceeds 5% threshold (95/100 completed)")
        );
        assert_eq!(gate(20, 21), None, "4.76 % passes");
        assert_eq!(gate(3, 2), None, "more completed than asked: negative rate");
        assert_eq!(gate(20, 20), None);
        assert_eq!(
            gate(0, 4).as_deref(),
            Some("FAIL: request failure rate 100.0% exceeds 5% threshold (0/4 completed)")
        );
        assert!(failure_gate(0, 0).is_err());
    }

    #[test]
    fn edition_2026_08_result_has_the_window_and_keeps_the_lengths() {
        let (m, lens, opts) = run("ttft,tpot,itl", "99", &[]);
        let shape = ResultShape::saved(Edition::E2026_08, (10.5, 14.5), false);
        let result = result_dict(&m, &lens, &outputs(), 4.0, &opts, shape);
        let keys: Vec<&str> = result.keys().take(4).collect();
        assert_eq!(
            keys,
            [
                "duration",
                "benchmark_start_time_unix",
                "benchmark_end_time_unix",
                "completed"
            ]
        );
        assert!(result.contains_key("input_lens") && result.contains_key("output_lens"));
        assert!(!result.contains_key("ttfts") && !result.contains_key("errors"));
        let old = result_dict(
            &m,
            &lens,
            &outputs(),
            4.0,
            &opts,
            ResultShape::saved(Edition::E2026_02, (10.5, 14.5), false),
        );
        assert!(!old.contains_key("benchmark_start_time_unix") && !old.contains_key("input_lens"));
        let full = result_dict(
            &m,
            &lens,
            &outputs(),
            4.0,
            &opts,
            ResultShape::full(Edition::E2026_08, (0.0, 4.0)),
        );
        let save = |edition| SaveOptions {
            backend: "vllm".into(),
            model_id: "m".into(),
            tokenizer_id: "m".into(),
            best_of: 1,
            num_prompts: 3,
            metadata: Vec::new(),
            request_rate: f64::INFINITY,
            burstiness: 1.0,
            max_concurrency: None,
            save_detailed: false,
            result_filename: None,
            result_dir: None,
            date: "d".into(),
            edition,
        };
        let doc = saved_document(full.clone(), &save(Edition::E2026_08)).unwrap();
        assert!(doc.contains_key("input_lens") && doc.contains_key("output_lens"));
        assert!(!doc.contains_key("itls") && !doc.contains_key("generated_texts"));
        let doc = saved_document(full, &save(Edition::E2026_02)).unwrap();
        assert!(!doc.contains_key("input_lens") && !doc.contains_key("itls"));
    }

    fn outputs() -> Vec<RequestOutput> {
        let ok = |ttft: f64, latency: f64| RequestOutput {
            success: true,
            ttft,
            latency,
            itl: vec![0.01, 0.02],
            output_tokens: Some(3),
            generated_text: "abc".into(),
            prompt_len: 10,
            error: String::new(),
        };
        vec![
            ok(0.1, 0.5),
            RequestOutput {
                error: "boom".into(),
                ..RequestOutput::failed(11)
            },
            ok(0.3, 0.9),
        ]
    }

    fn run(pm: &str, pct: &str, goodput: &[&str]) -> (BenchmarkMetrics, Vec<i64>, MetricsOptions) {
        let goodput: Vec<String> = goodput.iter().map(|s| s.to_string()).collect();
        let opts = MetricsOptions::parse(pm, pct, &goodput).unwrap();
        let reqs = [RequestInput {
            prompt_len: 10,
            output_len: 3,
        }; 3];
        let (m, lens) = calculate_metrics(&reqs, &outputs(), 4.0, |_| 0, &opts).unwrap();
        (m, lens, opts)
    }

    #[test]
    fn report_layout() {
        let (m, _, opts) = run("ttft,e2el", "50,99.9", &["e2el:1000"]);
        let want = "\
============ Serving Benchmark Result ============
Successful requests:                     2         
Benchmark duration (s):                  4.00      
Total input tokens:                      20        
Total generated tokens:                  6         
Request throughput (req/s):              0.50      
Request goodput (req/s):                 0.50      
Output token throughput (tok/s):         1.50      
Total Token throughput (tok/s):          6.50      
---------------Time to First Token----------------
Mean TTFT (ms):                          200.00    
Median TTFT (ms):                        200.00    
P50 TTFT (ms):                           200.00    
P99.9 TTFT (ms):                         299.80    
----------------End-to-end Latency----------------
Mean E2EL (ms):                          700.00    
Median E2EL (ms):                        700.00    
P50 E2EL (ms):                           700.00    
P99.9 E2EL (ms):                         899.60    
==================================================
";
        assert_eq!(report(&m, 4.0, &opts), want);
    }

    #[test]
    fn result_dict_and_saved_document() {
        let (m, lens, opts) = run("ttft,tpot,itl", "99", &[]);
        let shape = ResultShape::full(Edition::E2026_02, (0.0, 0.0));
        let result = result_dict(&m, &lens, &outputs(), 4.0, &opts, shape);
        let keys: Vec<&str> = result.keys().collect();
        assert_eq!(
            keys,
            [
                "duration",
                "completed",
                "total_input_tokens",
                "total_output_tokens",
                "request_throughput",
                "request_goodput:",
                "output_throughput",
                "total_token_throughput",
                "input_lens",
                "output_lens",
                "ttfts",
                "itls",
                "generated_texts",
                "errors",
                "mean_ttft_ms",
                "median_ttft_ms",
                "std_ttft_ms",
                "p99_ttft_ms",
                "mean_tpot_ms",
                "median_tpot_ms",
                "std_tpot_ms",
                "p99_tpot_ms",
                "mean_itl_ms",
                "median_itl_ms",
                "std_itl_ms",
                "p99_itl_ms"
            ]
        );
        assert_eq!(result.get("request_goodput:"), Some(&Value::Null));
        assert_eq!(
            servebench_pyjson::to_string(result.get("ttfts").unwrap()),
            "[0.1, 0.0, 0.3]"
        );
        let mut save = SaveOptions {
            backend: "vllm".into(),
            model_id: "org/Model-X".into(),
            tokenizer_id: "org/Model-X".into(),
            best_of: 1,
            num_prompts: 3,
            metadata: vec![" tp = 8 ".into(), "a=b=c".into(), "duration=early".into()],
            request_rate: f64::INFINITY,
            burstiness: 1.0,
            max_concurrency: Some(64),
            save_detailed: false,
            result_filename: None,
            result_dir: None,
            date: "20260101-000001".into(),
            edition: Edition::E2026_02,
        };
        let doc = saved_document(result.clone(), &save).unwrap();
        let keys: Vec<&str> = doc.keys().take(14).collect();
        assert_eq!(
            keys,
            [
                "date",
                "backend",
                "model_id",
                "tokenizer_id",
                "best_of",
                "num_prompts",
                "tp",
                "a",
                "duration",
                "request_rate",
                "burstiness",
                "max_concurrency",
                "completed",
                "total_input_tokens"
            ],
            "a metadata key named like a result key keeps the metadata position"
        );
        assert_eq!(doc.get("duration"), Some(&Value::Float(4.0)));
        assert_eq!(doc.get("a"), Some(&Value::from("b")));
        assert_eq!(doc.get("request_rate"), Some(&Value::from("inf")));
        assert!(!doc.contains_key("itls") && !exits_nonzero_after_save(&doc));
        assert_eq!(
            saved_file_name(&save),
            "vllm-infqps-concurrency64-Model-X-20260101-000001.json"
        );
        save.request_rate = 12.0;
        save.max_concurrency = None;
        assert_eq!(
            saved_file_name(&save),
            "vllm-12.0qps-Model-X-20260101-000001.json"
        );
        save.result_dir = Some("out".into());
        save.result_filename = Some("res.json".into());
        assert_eq!(saved_file_name(&save), "out/res.json");
        save.result_filename = Some("/abs/res.json".into());
        assert_eq!(saved_file_name(&save), "/abs/res.json");
        save.metadata = vec!["novalue".into()];
        assert!(saved_document(result.clone(), &save)
            .unwrap_err()
            .to_string()
            .contains("KEY=VALUE"));
        let (m, lens, opts) = run("ttft", "50", &[]);
        save.metadata.clear();
        save.save_detailed = true;
        let doc =
            saved_document(result_dict(&m, &lens, &outputs(), 4.0, &opts, shape), &save).unwrap();
        assert!(
            doc.contains_key("itls") && exits_nonzero_after_save(&doc),
            "no p99 and no tpot: the original exits 1"
        );
    }
}
