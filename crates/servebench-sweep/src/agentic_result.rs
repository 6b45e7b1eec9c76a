//! The numbers of one agentic-coding entry, read from the artifacts the
//! replay wrote (`profile_export.jsonl`, `profile_export_aiperf.json`,
//! `server_metrics_export.json`), with InferenceX's definitions
//! (`process_agentic_result.py`, SPEC-agentx §7.3 and §7.5): profiled
//! successes only, throughput over the window from the first profiled
//! start to the last profiled end, latency statistics in seconds with
//! linear-interpolation percentiles and the population std, interactivity
//! as the reciprocal of the ITL statistic, the theoretical prefix-cache hit
//! rate from the aggregate and the server's from its vLLM counters.
//!
//! It owns nothing else: the replay writes the artifacts, the report draws
//! the summary.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `{mean, p50, p75, p90, p95, std}` of one per-request metric, the shape
/// of `request_metrics.latency.*` (values in seconds, or tok/s/user).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub std: f64,
}

impl Stats {
    /// The statistics of `values` (already filtered); `None` when empty.
    fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let var = sorted.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some(Stats {
            count: sorted.len(),
            mean,
            p50: percentile(&sorted, 50.0),
            p75: percentile(&sorted, 75.0),
            p90: percentile(&sorted, 90.0),
            p95: percentile(&sorted, 95.0),
            std: var.sqrt(),
        })
    }

    fn to_json(self) -> Value {
        json!({"count": self.count, "mean": self.mean, "p50": self.p50, "p75": self.p75,
               "p90": self.p90, "p95": self.p95, "std": self.std})
    }
}

/// Linear interpolation between the closest ranks, `k = (n-1)·p/100`
/// (numpy's default, which the InferenceX script uses). `sorted` is not
/// empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let last = sorted.len().saturating_sub(1);
    let k = last as f64 * p / 100.0;
    let lo = (k.floor() as usize).min(last);
    let hi = (k.ceil() as usize).min(last);
    let (a, b) = (sorted[lo], sorted[hi]);
    a + (b - a) * (k - lo as f64)
}

/// One agentic entry's result. Rates are per second of the profiled
/// window; hit rates are fractions (0..1).
#[derive(Debug, Clone, PartialEq)]
pub struct AgenticSummary {
    /// Concurrency (lanes) and GPUs (tp × pp × pcp) of the entry.
    pub conc: i64,
    pub gpus: i64,
    /// Every record of `profile_export.jsonl`, warm-up included.
    pub records_total: usize,
    pub warmup: usize,
    /// Profiled records that succeeded and that failed.
    pub ok: usize,
    pub failed: usize,
    /// Failed records (warm-up too) by category, as InferenceX counts them.
    pub error_categories: BTreeMap<String, usize>,
    /// `max(request_end_ns) − min(request_start_ns)` over profiled
    /// successes, seconds.
    pub duration_s: Option<f64>,
    pub input_tokens: f64,
    pub output_tokens: f64,
    /// Token throughputs over the window (tok/s), all GPUs together.
    pub input_tps: Option<f64>,
    pub output_tps: Option<f64>,
    pub total_tps: Option<f64>,
    /// Latencies in seconds.
    pub ttft: Option<Stats>,
    pub e2el: Option<Stats>,
    pub itl: Option<Stats>,
    /// Interactivity (tok/s/user): 1/ITL statistic; `std` of 1/itl.
    pub intvty: Option<Stats>,
    /// `theoretical_prefix_cache_hit` of the aggregate.
    pub theoretical_hit_rate: Option<f64>,
    /// Whether `server_metrics_export.json` was there with metrics.
    pub server_metrics_present: bool,
    /// `vllm:prefix_cache_hits` and `_queries` over the profiled window
    /// (summed over series), and hits ÷ queries (or the
    /// `vllm:prompt_tokens_by_source` local-hit share when present).
    pub prefix_cache_hits: Option<f64>,
    pub prefix_cache_queries: Option<f64>,
    pub server_hit_rate: Option<f64>,
    /// `metadata.submission_valid` and its reasons (the scenario's stamp).
    pub submission_valid: Option<bool>,
    pub invalid_reasons: Vec<String>,
}

impl AgenticSummary {
    /// Total token throughput per GPU (tok/s/GPU): InferenceX's
    /// `per_gpu.total_tput_tps`.
    pub fn tput_per_gpu(&self) -> Option<f64> {
        per_gpu(self.total_tps, self.gpus)
    }

    pub fn output_tput_per_gpu(&self) -> Option<f64> {
        per_gpu(self.output_tps, self.gpus)
    }

    /// Output tokens per second per user: 1 / mean ITL.
    pub fn tok_s_per_user(&self) -> Option<f64> {
        self.intvty.map(|s| s.mean).filter(|v| v.is_finite())
    }

    /// The summary as JSON (`sweep.json`, `agentic_summary.json`): the
    /// figures under InferenceX's names where it has one.
    pub fn to_json(&self) -> Value {
        let stats = |s: Option<Stats>| s.map_or(Value::Object(Map::new()), Stats::to_json);
        json!({
            "conc": self.conc,
            "num_gpus": self.gpus,
            "num_requests_total": self.records_total,
            "num_requests_warmup": self.warmup,
            "num_requests_successful": self.ok,
            "num_requests_failed": self.failed,
            "error_categories": self.error_categories,
            "throughput": {
                "duration_seconds": self.duration_s,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "input": {"tokens_per_second": self.input_tps},
                "output": {"tokens_per_second": self.output_tps},
                "total": {"tokens_per_second": self.total_tps},
                "per_gpu": {
                    "total_tput_tps": self.tput_per_gpu(),
                    "output_tput_tps": self.output_tput_per_gpu(),
                    "input_tput_tps": per_gpu(self.input_tps, self.gpus),
                },
            },
            "latency": {
                "ttft": stats(self.ttft),
                "e2el": stats(self.e2el),
                "itl": stats(self.itl),
                "intvty": stats(self.intvty),
            },
            "tok_s_per_user": self.tok_s_per_user(),
            "cache": {
                "theoretical_cache_hit_rate": self.theoretical_hit_rate,
                "server_metrics_present": self.server_metrics_present,
                "gpu_cache_hit_rate": self.server_hit_rate,
                "prefix_cache_hits": self.prefix_cache_hits,
                "prefix_cache_queries": self.prefix_cache_queries,
            },
            "submission_valid": self.submission_valid,
            "submission_invalid_reasons": self.invalid_reasons,
        })
    }
}

fn per_gpu(tps: Option<f64>, gpus: i64) -> Option<f64> {
    (gpus > 0).then_some(())?;
    tps.map(|t| t / gpus as f64)
}

/// Where the artifacts are: `dir` itself when it holds
/// `profile_export.jsonl`, else its first child directory (sorted) that
/// does, as the InferenceX readers look.
pub(crate) fn artifact_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("profile_export.jsonl").is_file() {
        return Some(dir.to_path_buf());
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    children.sort();
    children
        .into_iter()
        .find(|p| p.join("profile_export.jsonl").is_file())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = servebench_files::read_text(path, servebench_files::Limit::RESULT)
        .map_err(|e| e.to_string())?;
    // aiperf may write NaN/Infinity (Python json); read them as Python does.
    servebench_pyjson::from_str(&text)
        .map(|v| servebench_pyjson::to_serde_json(&v))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A per-record metric: `{"value": x, "unit": ...}` or a bare number.
fn metric(record: &Value, name: &str) -> Option<f64> {
    let m = record.get("metrics")?.get(name)?;
    let v = match m {
        Value::Object(o) => o.get("value")?,
        other => other,
    };
    v.as_f64()
}

/// Python truthiness of a record's `error` (absent, null, false, 0, "",
/// [] and {} are no error).
fn is_error(record: &Value) -> bool {
    match record.get("error") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// InferenceX's error category: for an object the first non-empty of
/// `type`, `error_type`, `code`, `class`, `status`, else the text before
/// the first `:` of the first line of `message`/`error` (120 characters at
/// most), else `unknown`.
fn error_category(error: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let from_message = |m: &str| {
        let first = m.lines().next().unwrap_or("");
        let head = first.split(':').next().unwrap_or("").trim();
        head.chars().take(120).collect::<String>()
    };
    let found = match error {
        Value::Object(o) => ["type", "error_type", "code", "class", "status"]
            .iter()
            .filter_map(|k| o.get(*k))
            .map(text)
            .find(|s| !s.is_empty())
            .or_else(|| {
                ["message", "error"]
                    .iter()
                    .filter_map(|k| o.get(*k))
                    .map(|v| from_message(&text(v)))
                    .find(|s| !s.is_empty())
            }),
        Value::String(s) => Some(from_message(s)).filter(|s| !s.is_empty()),
        _ => None,
    };
    found.unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a record belongs to the profiling phase (`benchmark_phase`
/// missing or `profiling`).
fn is_profiled(record: &Value) -> bool {
    match record
        .get("metadata")
        .and_then(|m| m.get("benchmark_phase"))
    {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s == "profiling",
        Some(_) => false,
    }
}

/// Positive, finite latencies in seconds (the script drops the rest).
fn seconds(records: &[&Value], name: &str) -> Vec<f64> {
    records
        .iter()
        .filter_map(|r| metric(r, name))
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|ms| ms / 1000.0)
        .collect()
}

/// Reads the artifacts under `dir` (the replay's `--output-artifact-dir`)
/// for an entry of `conc` lanes on `gpus` GPUs. Only a missing or
/// unreadable `profile_export.jsonl` is an error; the aggregate and the
/// server metrics are optional, as for the InferenceX script.
pub fn summarize(dir: &Path, conc: i64, gpus: i64) -> Result<AgenticSummary, String> {
    let dir = artifact_dir(dir).ok_or_else(|| {
        format!(
            "no profile_export.jsonl in {} (nor in a child directory)",
            dir.display()
        )
    })?;
    let jsonl = dir.join("profile_export.jsonl");
    let text = servebench_files::read_text(&jsonl, servebench_files::Limit::RESULT)
        .map_err(|e| e.to_string())?;
    let mut records: Vec<Value> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = servebench_pyjson::from_str(line)
            .map(|v| servebench_pyjson::to_serde_json(&v))
            .map_err(|e| format!("{} line {}: {e}", jsonl.display(), i + 1))?;
        records.push(v);
    }
    let mut error_categories = BTreeMap::new();
    let (mut warmup, mut failed) = (0, 0);
    let mut kept: Vec<&Value> = Vec::new();
    for r in &records {
        let profiled = is_profiled(r);
        if !profiled {
            warmup += 1;
        }
        if is_error(r) {
            let cat = error_category(r.get("error").unwrap_or(&Value::Null));
            *error_categories.entry(cat).or_insert(0usize) += 1;
            if profiled {
                failed += 1;
            }
        } else if profiled {
            kept.push(r);
        }
    }

    let ns = |r: &Value, key: &str| r.get("metadata")?.get(key)?.as_f64();
    let start = kept
        .iter()
        .filter_map(|r| ns(r, "request_start_ns"))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
    let end = kept
        .iter()
        .filter_map(|r| ns(r, "request_end_ns"))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let duration_s = match (start, end) {
        (Some(s), Some(e)) if e > s => Some((e - s) / 1e9),
        _ => None,
    };
    let sum = |name: &str| -> f64 {
        kept.iter()
            .filter_map(|r| metric(r, name))
            .filter(|v| v.is_finite())
            .sum()
    };
    let (input_tokens, output_tokens) =
        (sum("input_sequence_length"), sum("output_sequence_length"));
    let rate = |tokens: f64| duration_s.map(|d| tokens / d);

    let itl_values = seconds(&kept, "inter_token_latency");
    let itl = Stats::of(&itl_values);
    let intvty = itl.map(|s| {
        let per_request: Vec<f64> = itl_values.iter().map(|v| 1.0 / v).collect();
        Stats {
            count: s.count,
            mean: 1.0 / s.mean,
            p50: 1.0 / s.p50,
            p75: 1.0 / s.p75,
            p90: 1.0 / s.p90,
            p95: 1.0 / s.p95,
            std: Stats::of(&per_request).map_or(0.0, |p| p.std),
        }
    });

    let aggregate = read_json(&dir.join("profile_export_aiperf.json")).ok();
    let theoretical_hit_rate = aggregate
        .as_ref()
        .and_then(|a| a.get("theoretical_prefix_cache_hit"))
        .and_then(theoretical_rate);
    let stamp = aggregate.as_ref().and_then(|a| a.get("metadata"));
    let submission_valid = stamp
        .and_then(|m| m.get("submission_valid"))
        .and_then(Value::as_bool);
    let invalid_reasons = stamp
        .and_then(|m| m.get("submission_invalid_reasons"))
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();

    let server = read_json(&dir.join("server_metrics_export.json")).ok();
    let families = server
        .as_ref()
        .and_then(|s| s.get("metrics"))
        .and_then(Value::as_object);
    let server_metrics_present = families.is_some_and(|f| !f.is_empty());
    let hits = families.and_then(|f| counter_total(f, "vllm:prefix_cache_hits"));
    let queries = families.and_then(|f| counter_total(f, "vllm:prefix_cache_queries"));
    let by_source = families.and_then(local_hit_share);
    let server_hit_rate = by_source.or(match (hits, queries) {
        (Some(h), Some(q)) if q > 0.0 => Some(h / q),
        _ => None,
    });

    Ok(AgenticSummary {
        conc,
        gpus,
        records_total: records.len(),
        warmup,
        ok: kept.len(),
        failed,
        error_categories,
        duration_s,
        input_tokens,
        output_tokens,
        input_tps: rate(input_tokens),
        output_tps: rate(output_tokens),
        total_tps: rate(input_tokens + output_tokens),
        ttft: Stats::of(&seconds(&kept, "time_to_first_token")),
        e2el: Stats::of(&seconds(&kept, "request_latency")),
        itl,
        intvty,
        theoretical_hit_rate,
        server_metrics_present,
        prefix_cache_hits: hits,
        prefix_cache_queries: queries,
        server_hit_rate,
        submission_valid,
        invalid_reasons,
    })
}

/// `theoretical_prefix_cache_hit`: `sum/count` when both are there and
/// `count > 0`, else `avg` (÷ 100 when the unit is `%`).
fn theoretical_rate(m: &Value) -> Option<f64> {
    let get = |k: &str| m.get(k).and_then(Value::as_f64);
    if let (Some(sum), Some(count)) = (get("sum"), get("count")) {
        if count > 0.0 {
            return Some(sum / count);
        }
    }
    let avg = get("avg")?;
    let percent = m.get("unit").and_then(Value::as_str) == Some("%");
    Some(if percent { avg / 100.0 } else { avg })
}

/// A family's series (the `_total` suffix dropped by the scraper, or kept).
fn series<'a>(families: &'a Map<String, Value>, name: &str) -> Option<&'a Vec<Value>> {
    families
        .get(name)
        .or_else(|| families.get(&format!("{name}_total")))?
        .get("series")?
        .as_array()
}

/// A counter's increase over the window, summed over its series: each
/// series' first present of `total`, `sum`, `max`, `avg` (the script's
/// order).
fn counter_total(families: &Map<String, Value>, name: &str) -> Option<f64> {
    let values: Vec<f64> = series(families, name)?
        .iter()
        .filter_map(|s| {
            let stats = s.get("stats")?;
            ["total", "sum", "max", "avg"]
                .iter()
                .find_map(|k| stats.get(*k).and_then(Value::as_f64))
        })
        .filter(|v| v.is_finite())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// `vllm:prompt_tokens_by_source`: the `local_cache_hit` share of all
/// sources, which the script prefers to hits ÷ queries when present.
fn local_hit_share(families: &Map<String, Value>) -> Option<f64> {
    let mut by_source: BTreeMap<String, f64> = BTreeMap::new();
    for s in series(families, "vllm:prompt_tokens_by_source")? {
        let Some(source) = s
            .get("labels")
            .and_then(|l| l.get("source"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let total = s
            .get("stats")
            .and_then(|st| {
                ["total", "sum", "max", "avg"]
                    .iter()
                    .find_map(|k| st.get(*k)?.as_f64())
            })
            .filter(|v| v.is_finite());
        if let Some(t) = total {
            *by_source.entry(source.to_owned()).or_insert(0.0) += t;
        }
    }
    let all: f64 = by_source.values().sum();
    (all > 0.0).then(|| by_source.get("local_cache_hit").copied().unwrap_or(0.0) / all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/agentx/artifacts-sample/aiperf_artifacts")
    }

    /// `agentx_sample.json`: InferenceX HEAD's process_agentic_result.py on
    /// the same artifacts (values rounded to 5 decimals there).
    fn expected() -> Value {
        let path = sample_dir().join("../agentx_sample.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-5_f64.max(b.abs() * 1e-6)
    }

    #[test]
    fn the_sample_gives_the_inferencex_figures() {
        let s = summarize(&sample_dir(), 2, 1).unwrap();
        let x = expected();
        let rm = &x["request_metrics"];
        assert_eq!(s.records_total, 13);
        assert_eq!((s.ok, s.warmup, s.failed), (10, 3, 0));
        assert_eq!(x["num_requests_successful"], 10);
        let tp = &rm["throughput"];
        let f = |v: &Value| v.as_f64().unwrap();
        assert!(close(s.duration_s.unwrap(), f(&tp["duration_seconds"])));
        assert!(close(
            s.total_tps.unwrap(),
            f(&tp["total"]["tokens_per_second"])
        ));
        assert!(close(
            s.input_tps.unwrap(),
            f(&tp["input"]["tokens_per_second"])
        ));
        assert!(close(
            s.output_tps.unwrap(),
            f(&tp["output"]["tokens_per_second"])
        ));
        // "Throughput per GPU: 902 tok/s".
        assert_eq!(format!("{:.0}", s.tput_per_gpu().unwrap()), "902");
        assert!(close(
            s.tput_per_gpu().unwrap(),
            f(&tp["per_gpu"]["total_tput_tps"])
        ));
        let lat = &rm["latency"];
        for (ours, key) in [(s.ttft, "ttft"), (s.e2el, "e2el"), (s.intvty, "intvty")] {
            let o = ours.unwrap();
            for (v, k) in [
                (o.mean, "mean"),
                (o.p50, "p50"),
                (o.p75, "p75"),
                (o.p90, "p90"),
                (o.p95, "p95"),
                (o.std, "std"),
            ] {
                let want = f(&lat[key][k]);
                // The script rounds to 5 decimals.
                assert!(
                    (v - want).abs() <= 5e-6 * want.abs().max(1.0),
                    "{key}.{k}: {v} vs {want}"
                );
            }
        }
        assert!(close(
            s.tok_s_per_user().unwrap(),
            f(&lat["intvty"]["mean"])
        ));
        assert!(close(
            s.theoretical_hit_rate.unwrap(),
            f(&rm["cache"]["theoretical_cache_hit_rate"])
        ));
        // sim_server without a prefix cache: metrics, but no hit counters.
        assert!(s.server_metrics_present);
        assert_eq!((s.server_hit_rate, s.prefix_cache_hits), (None, None));
        assert_eq!(s.submission_valid, Some(false));
        assert_eq!(s.invalid_reasons, ["unsafe_override"]);
        let j = s.to_json();
        assert_eq!(j["num_requests_successful"], 10);
        assert!(j["throughput"]["per_gpu"]["total_tput_tps"]
            .as_f64()
            .is_some());
        // Two GPUs halve the per-GPU figure.
        let two = summarize(&sample_dir(), 2, 2).unwrap();
        assert!(close(
            two.tput_per_gpu().unwrap() * 2.0,
            s.tput_per_gpu().unwrap()
        ));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "servebench-sweep-agentic-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rec(phase: &str, start: u64, end: u64, isl: f64, osl: f64, error: Value) -> String {
        json!({"metadata": {"benchmark_phase": phase, "request_start_ns": start, "request_end_ns": end},
               "metrics": {"input_sequence_length": {"value": isl, "unit": "tokens"},
                           "output_sequence_length": osl,
                           "time_to_first_token": {"value": 20.0, "unit": "ms"},
                           "inter_token_latency": {"value": 2.0, "unit": "ms"},
                           "request_latency": {"value": 0.0, "unit": "ms"}},
               "error": error})
        .to_string()
    }

    /// Errors, warm-up, server counters (summed over series, `_total`
    /// kept), the by-source share winning, a child directory.
    #[test]
    fn errors_warmup_and_server_counters() {
        let dir = scratch("counters");
        let inner = dir.join("run");
        std::fs::create_dir_all(&inner).unwrap();
        let lines = [
            rec("warmup", 0, 1, 5.0, 1.0, Value::Null),
            rec("warmup", 0, 1, 5.0, 1.0, json!({"type": "Timeout"})),
            rec(
                "profiling",
                1_000_000_000,
                2_000_000_000,
                100.0,
                10.0,
                Value::Null,
            ),
            rec(
                "profiling",
                1_500_000_000,
                3_000_000_000,
                300.0,
                30.0,
                json!({}),
            ),
            rec(
                "profiling",
                1_500_000_000,
                9_000_000_000,
                1.0,
                1.0,
                json!({"message": "HTTP 500: boom\nmore"}),
            ),
        ];
        std::fs::write(inner.join("profile_export.jsonl"), lines.join("\n") + "\n").unwrap();
        let server = json!({"metrics": {
            "vllm:prefix_cache_hits": {"type": "counter", "series": [
                {"stats": {"total": 30.0}}, {"stats": {"sum": 10.0}}]},
            "vllm:prefix_cache_queries_total": {"type": "counter", "series": [{"stats": {"total": 80.0}}]}
        }});
        std::fs::write(inner.join("server_metrics_export.json"), server.to_string()).unwrap();
        let s = summarize(&dir, 4, 2).unwrap();
        assert_eq!((s.records_total, s.warmup, s.ok, s.failed), (5, 2, 2, 1));
        assert_eq!(
            s.error_categories.clone().into_iter().collect::<Vec<_>>(),
            [("HTTP 500".to_owned(), 1), ("Timeout".to_owned(), 1)]
        );
        // Window 1 s .. 3 s over the two successes; 440 tokens.
        assert_eq!(s.duration_s, Some(2.0));
        assert_eq!(s.total_tps, Some(220.0));
        assert_eq!(s.tput_per_gpu(), Some(110.0));
        assert_eq!(s.tok_s_per_user(), Some(500.0));
        assert_eq!(s.ttft.unwrap().mean, 0.02);
        // request_latency 0 is dropped, as the script drops values <= 0.
        assert!(s.e2el.is_none());
        assert_eq!(s.server_hit_rate, Some(0.5));
        assert_eq!(s.theoretical_hit_rate, None);

        let by_source = json!({"metrics": {
            "vllm:prefix_cache_hits": {"series": [{"stats": {"total": 1.0}}]},
            "vllm:prefix_cache_queries": {"series": [{"stats": {"total": 2.0}}]},
            "vllm:prompt_tokens_by_source": {"series": [
                {"labels": {"source": "local_cache_hit"}, "stats": {"total": 90.0}},
                {"labels": {"source": "local_compute"}, "stats": {"total": 10.0}}]}
        }});
        std::fs::write(
            inner.join("server_metrics_export.json"),
            by_source.to_string(),
        )
        .unwrap();
        let s = summarize(&dir, 4, 2).unwrap();
        assert_eq!(s.server_hit_rate, Some(0.9));

        let err = summarize(&dir.join("missing"), 1, 1).unwrap_err();
        assert!(err.contains("no profile_export.jsonl"), "{err}");
        std::fs::write(inner.join("profile_export.jsonl"), "{\"metadata\": \n").unwrap();
        assert!(summarize(&dir, 1, 1).unwrap_err().contains("line 1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn percentiles_interpolate_linearly() {
        let s = Stats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.mean, s.p50, s.p75), (2.5, 2.5, 3.25));
        assert!((s.std - 1.118_033_988_749_895).abs() < 1e-12);
        assert!(Stats::of(&[]).is_none());
        assert_eq!(
            theoretical_rate(&json!({"unit": "%", "avg": 50.0})),
            Some(0.5)
        );
        assert_eq!(
            theoretical_rate(&json!({"unit": "%", "avg": 50.0, "count": 0, "sum": 0})),
            Some(0.5)
        );
    }
}
