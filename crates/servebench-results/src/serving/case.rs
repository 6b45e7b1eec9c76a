//! The input of `benchmark_serving metrics --input case.json` (SPEC §7.3):
//! dataset requests, per-request outputs and a duration, replayed through
//! the same metric, report and save code as a real run.

use super::{
    exits_nonzero_after_save, failure_gate, metrics_value, report, result_dict, saved_document,
    saved_file_name, ResultShape, SaveOptions,
};
use crate::ResultsError;
use servebench_contract::Edition;
use servebench_metrics::{calculate_metrics, MetricsOptions, RequestInput, RequestOutput};
use servebench_pyjson::parse_float;
use servebench_pyjson::{Dict, Value};

/// A parsed case file.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsCase {
    pub requests: Vec<RequestInput>,
    pub outputs: Vec<RequestOutput>,
    pub duration_s: f64,
    pub options: MetricsOptions,
    pub save: Option<SaveOptions>,
    /// The contract edition the case follows.
    pub edition: Edition,
    /// 2026-08: the wall-clock window (`start_time_unix`, default
    /// 1787313600.0; `end_time_unix`, default start + duration).
    pub window: (f64, f64),
}

/// The command's output document and whether every request failed (the
/// original then warns on stderr).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOutcome {
    pub document: Value,
    pub all_failed: bool,
    /// 2026-08: the failure gate's message (the command then exits 1).
    pub failure_gate: Option<String>,
}

fn bad(at: &str, message: &str) -> ResultsError {
    ResultsError::Invalid(format!("{at}: {message}"))
}

fn number(v: &Value, at: &str) -> Result<f64, ResultsError> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        _ => Err(bad(
            at,
            &format!("expected a number, got {}", v.type_name()),
        )),
    }
}

fn integer(v: &Value, at: &str) -> Result<i64, ResultsError> {
    match v {
        Value::Int(i) => i64::try_from(*i).map_err(|_| bad(at, "integer out of range")),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(*f as i64),
        _ => Err(bad(
            at,
            &format!("expected an integer, got {}", v.type_name()),
        )),
    }
}

fn text(v: &Value, at: &str) -> Result<String, ResultsError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(at, &format!("expected a string, got {}", v.type_name())))
}

fn list<'a>(d: &'a Dict, key: &str) -> Result<&'a [Value], ResultsError> {
    d.get(key)
        .and_then(Value::as_list)
        .ok_or_else(|| bad(key, "expected a list"))
}

impl MetricsCase {
    /// Reads a case of `edition`; missing output fields take the
    /// original's defaults (`output_tokens` 0, `prompt_len` the request's),
    /// missing metric options the edition's.
    pub fn from_value(value: &Value, edition: Edition) -> Result<Self, ResultsError> {
        let d = value
            .as_dict()
            .ok_or_else(|| bad("case", "expected a JSON object"))?;
        let mut requests = Vec::new();
        for (i, r) in list(d, "requests")?.iter().enumerate() {
            let at = format!("requests[{i}]");
            let r = r.as_dict().ok_or_else(|| bad(&at, "expected an object"))?;
            let field = |k: &str| r.get(k).ok_or_else(|| bad(&at, &format!("missing '{k}'")));
            requests.push(RequestInput {
                prompt_len: integer(field("prompt_len")?, &format!("{at}.prompt_len"))?,
                output_len: integer(field("output_len")?, &format!("{at}.output_len"))?,
            });
        }
        if requests.is_empty() {
            return Err(bad(
                "requests",
                "there are no requests (the original fails on an empty dataset)",
            ));
        }
        let raw_outputs = list(d, "outputs")?;
        if raw_outputs.len() != requests.len() {
            return Err(bad(
                "outputs",
                &format!(
                    "{} outputs for {} requests",
                    raw_outputs.len(),
                    requests.len()
                ),
            ));
        }
        let mut outputs = Vec::new();
        for (i, (o, req)) in raw_outputs.iter().zip(&requests).enumerate() {
            let at = |k: &str| format!("outputs[{i}].{k}");
            let o = o
                .as_dict()
                .ok_or_else(|| bad(&format!("outputs[{i}]"), "expected an object"))?;
            let mut out = RequestOutput::failed(req.prompt_len);
            if let Some(v) = o.get("success") {
                out.success = match v {
                    Value::Bool(b) => *b,
                    _ => return Err(bad(&at("success"), "expected a boolean")),
                };
            }
            if let Some(v) = o.get("ttft") {
                out.ttft = number(v, &at("ttft"))?;
            }
            if let Some(v) = o.get("latency") {
                out.latency = number(v, &at("latency"))?;
            }
            if let Some(v) = o.get("itl") {
                let items = v
                    .as_list()
                    .ok_or_else(|| bad(&at("itl"), "expected a list"))?;
                out.itl = items
                    .iter()
                    .map(|x| number(x, &at("itl")))
                    .collect::<Result<_, _>>()?;
            }
            if let Some(v) = o.get("output_tokens") {
                out.output_tokens = match v {
                    Value::Null => None,
                    other => Some(integer(other, &at("output_tokens"))?),
                };
            }
            if let Some(v) = o.get("generated_text") {
                out.generated_text = text(v, &at("generated_text"))?;
            }
            if let Some(v) = o.get("prompt_len") {
                out.prompt_len = integer(v, &at("prompt_len"))?;
            }
            if let Some(v) = o.get("error") {
                out.error = text(v, &at("error"))?;
            }
            outputs.push(out);
        }
        let duration_s = number(
            d.get("duration_s")
                .ok_or_else(|| bad("duration_s", "missing"))?,
            "duration_s",
        )?;
        let opt_text = |k: &str, default: &str| match d.get(k) {
            None | Some(Value::Null) => Ok(default.to_owned()),
            Some(v) => text(v, k),
        };
        let goodput: Vec<String> = match d.get("goodput") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::List(items)) => items
                .iter()
                .map(|v| text(v, "goodput"))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("goodput", "expected null or a list of strings")),
        };
        let (metrics_default, percentiles_default) = MetricsOptions::default_selection(edition);
        let options = MetricsOptions::parse(
            &opt_text("percentile_metrics", metrics_default)?,
            &opt_text("metric_percentiles", percentiles_default)?,
            &goodput,
        )?;
        let opt_number = |k: &str| match d.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(v, k).map(Some),
        };
        let start = opt_number("start_time_unix")?.unwrap_or(DEFAULT_START_TIME_UNIX);
        let end = opt_number("end_time_unix")?.unwrap_or(start + duration_s);
        let save = match d.get("save") {
            None | Some(Value::Null) => None,
            Some(Value::Dict(s)) => Some(save_options(s, requests.len(), edition)?),
            Some(_) => return Err(bad("save", "expected an object")),
        };
        Ok(MetricsCase {
            requests,
            outputs,
            duration_s,
            options,
            save,
            edition,
            window: (start, end),
        })
    }

    /// Computes everything a real run prints and saves, as one document:
    /// `metrics`, `actual_output_lens`, `result`, `report`, `saved`.
    pub fn run(&self) -> Result<CaseOutcome, ResultsError> {
        // The test rule for uncounted outputs: one token per code point.
        let count = |t: &str| t.chars().count() as i64;
        let (metrics, lens) = calculate_metrics(
            &self.requests,
            &self.outputs,
            self.duration_s,
            count,
            &self.options,
        )?;
        let result = result_dict(
            &metrics,
            &lens,
            &self.outputs,
            self.duration_s,
            &self.options,
            ResultShape::full(self.edition, self.window),
        );
        // The PyTorch export's exit comes before the gate.
        let mut exits_after_save = false;
        let saved = match &self.save {
            None => Value::Null,
            Some(save) => {
                let doc = saved_document(result.clone(), save)?;
                let mut s = Dict::new();
                s.insert("file_name", saved_file_name(save).into());
                exits_after_save = exits_nonzero_after_save(&doc);
                s.insert("exit_nonzero_after_save", Value::Bool(exits_after_save));
                s.insert(
                    "text",
                    servebench_pyjson::to_string(&Value::Dict(doc)).into(),
                );
                Value::Dict(s)
            }
        };
        let mut out = Dict::new();
        out.insert("metrics", metrics_value(&metrics));
        out.insert(
            "actual_output_lens",
            Value::List(lens.iter().map(|n| Value::Int((*n).into())).collect()),
        );
        out.insert("result", Value::Dict(result));
        out.insert(
            "report",
            report(&metrics, self.duration_s, &self.options).into(),
        );
        out.insert("saved", saved);
        let mut gate = None;
        if self.edition != Edition::E2026_02 {
            if !exits_after_save {
                let num_prompts = match &self.save {
                    Some(save) => save.num_prompts,
                    None => i64::try_from(self.requests.len()).unwrap_or(i64::MAX),
                };
                gate = failure_gate(metrics.completed, num_prompts)?;
            }
            out.insert(
                "failure_gate",
                gate.clone().map_or(Value::Null, Value::from),
            );
        }
        Ok(CaseOutcome {
            document: Value::Dict(out),
            all_failed: metrics.completed == 0,
            failure_gate: gate,
        })
    }
}

/// The default `start_time_unix` of a 2026-08 case (2026-08-21 12:00 UTC).
pub(crate) const DEFAULT_START_TIME_UNIX: f64 = 1_787_313_600.0;

fn save_options(
    s: &Dict,
    n_requests: usize,
    edition: Edition,
) -> Result<SaveOptions, ResultsError> {
    let get = |k: &str| s.get(k).filter(|v| !matches!(v, Value::Null));
    let string = |k: &str, default: &str| {
        get(k).map_or(Ok(default.to_owned()), |v| text(v, &format!("save.{k}")))
    };
    let model = string("model", "test-org/test-model")?;
    let metadata = match get("metadata") {
        None => Vec::new(),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| text(v, "save.metadata"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("save.metadata", "expected a list of strings")),
    };
    let rate_text = string("request_rate", "inf")?;
    let request_rate = parse_float(&rate_text).ok_or_else(|| {
        bad(
            "save.request_rate",
            &format!("{rate_text:?} is not a number"),
        )
    })?;
    Ok(SaveOptions {
        backend: string("backend", "vllm")?,
        tokenizer_id: string("tokenizer", &model)?,
        best_of: get("best_of").map_or(Ok(1), |v| integer(v, "save.best_of"))?,
        num_prompts: get("num_prompts")
            .map_or(Ok(n_requests as i64), |v| integer(v, "save.num_prompts"))?,
        metadata,
        request_rate,
        burstiness: get("burstiness").map_or(Ok(1.0), |v| number(v, "save.burstiness"))?,
        max_concurrency: get("max_concurrency")
            .map(|v| integer(v, "save.max_concurrency"))
            .transpose()?,
        save_detailed: matches!(get("save_detailed"), Some(Value::Bool(true))),
        result_filename: get("result_filename")
            .map(|v| text(v, "save.result_filename"))
            .transpose()?,
        result_dir: get("result_dir")
            .map(|v| text(v, "save.result_dir"))
            .transpose()?,
        date: string("date", "20260219-000000")?,
        model_id: model,
        edition,
    })
}
