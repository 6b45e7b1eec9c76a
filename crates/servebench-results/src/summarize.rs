//! `summarize`: the GitHub step-summary markdown of every agg record under a
//! directory (see SPEC §5).

use crate::collect::find_json_files;
use crate::io::read_json;
use crate::tabulate;
use crate::ResultsError;
use servebench_pyjson::fixed;
use servebench_pyjson::{self as ops, PyjsonError};
use servebench_pyjson::{Dict, Value};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// The fixed disclaimer under each heading (it contains U+2122).
pub(crate) const DISCLAIMER: &str = "Only [InferenceX](https://github.com/SemiAnalysisAI/InferenceX) repo contains the Official InferenceX\u{2122} result, all other forks & repos are Unofficial. The benchmark setup & quality of machines/clouds in unofficial repos may be differ leading to subpar benchmarking. Unofficial must be explicitly labelled as Unofficial. Forks may not remove this disclaimer.";

const METRIC_HEADERS: [&str; 7] = [
    "TTFT (ms)",
    "TPOT (ms)",
    "Interactivity (tok/s/user)",
    "E2EL (s)",
    "TPUT per GPU",
    "Output TPUT per GPU",
    "Input TPUT per GPU",
];
const SINGLE_HEADERS: [&str; 11] = [
    "Model",
    "Served Model",
    "Hardware",
    "Framework",
    "Precision",
    "ISL",
    "OSL",
    "TP",
    "EP",
    "DP Attention",
    "Conc",
];
const MULTI_HEADERS: [&str; 18] = [
    "Model",
    "Served Model",
    "Hardware",
    "Framework",
    "Precision",
    "ISL",
    "OSL",
    "Prefill TP",
    "Prefill EP",
    "Prefill DP Attn",
    "Prefill Workers",
    "Prefill GPUs",
    "Decode TP",
    "Decode EP",
    "Decode DP Attn",
    "Decode Workers",
    "Decode GPUs",
    "Conc",
];
const SINGLE_SORT: [&str; 9] = [
    "infmax_model_prefix",
    "hw",
    "framework",
    "precision",
    "isl",
    "osl",
    "tp",
    "ep",
    "conc",
];
const MULTI_SORT: [&str; 11] = [
    "infmax_model_prefix",
    "hw",
    "framework",
    "precision",
    "isl",
    "osl",
    "prefill_tp",
    "prefill_ep",
    "decode_tp",
    "decode_ep",
    "conc",
];
const SINGLE_FIELDS: [&str; 11] = [
    "infmax_model_prefix",
    "model",
    "hw",
    "framework",
    "precision",
    "isl",
    "osl",
    "tp",
    "ep",
    "dp_attention",
    "conc",
];
const MULTI_FIELDS: [&str; 18] = [
    "infmax_model_prefix",
    "model",
    "hw",
    "framework",
    "precision",
    "isl",
    "osl",
    "prefill_tp",
    "prefill_ep",
    "prefill_dp_attention",
    "prefill_num_workers",
    "num_prefill_gpu",
    "decode_tp",
    "decode_ep",
    "decode_dp_attention",
    "decode_num_workers",
    "num_decode_gpu",
    "conc",
];
const UPPERCASED: [&str; 3] = ["hw", "framework", "precision"];

struct Record {
    path: PathBuf,
    fields: Dict,
}

impl Record {
    fn get(&self, key: &str) -> Result<&Value, ResultsError> {
        self.fields.get(key).ok_or_else(|| ResultsError::BadResult {
            path: self.path.clone(),
            message: format!("the record has no '{key}' field"),
        })
    }

    fn bad(&self, message: String) -> ResultsError {
        ResultsError::BadResult {
            path: self.path.clone(),
            message,
        }
    }
}

/// What [`summarize`] found.
#[derive(Debug, Default)]
pub struct Summary {
    /// The markdown for stdout; empty when there are no records.
    pub markdown: String,
    /// `*.json` files skipped because they could not be read or parsed,
    /// each with why: invalid JSON, a FIFO, device or directory, a file over
    /// [`servebench_files::Limit::RESULT`]. The original skips these
    /// silently (or blocks on a FIFO); the caller reports them.
    pub skipped: Vec<ResultsError>,
    /// Directories that could not be listed (also skipped).
    pub unreadable_dirs: Vec<PathBuf>,
}

/// The markdown for every agg record under `dir`. Files that cannot be
/// read or parsed are skipped, as in the original, and listed in
/// [`Summary::skipped`]; the markdown does not depend on them.
pub fn summarize(dir: &Path) -> Result<Summary, ResultsError> {
    let mut single = Vec::new();
    let mut multi = Vec::new();
    let walk = find_json_files(dir);
    let mut skipped = Vec::new();
    for path in walk.json_paths {
        let value = match read_json(&path) {
            Ok(value) => value,
            Err(err) => {
                skipped.push(err);
                continue;
            }
        };
        if !value.is_truthy() || !contains_is_multinode(&path, &value)? {
            continue;
        }
        let Value::Dict(fields) = value else {
            return Err(ResultsError::BadResult {
                path,
                message: format!(
                    "a {} mentioning is_multinode is not a record",
                    value.type_name()
                ),
            });
        };
        let record = Record { path, fields };
        if record.get("is_multinode")?.is_truthy() {
            multi.push(record);
        } else {
            single.push(record);
        }
    }
    let mut out = String::new();
    if !single.is_empty() {
        let table = table(single, &SINGLE_SORT, &SINGLE_FIELDS, &SINGLE_HEADERS)?;
        out.push_str(&format!(
            "## Single-Node Results\n\n{DISCLAIMER}\n\n{table}\n\n\n"
        ));
    }
    if !multi.is_empty() {
        let table = table(multi, &MULTI_SORT, &MULTI_FIELDS, &MULTI_HEADERS)?;
        out.push_str(&format!(
            "## Multi-Node Results\n\n{DISCLAIMER}\n\n{table}\n"
        ));
    }
    Ok(Summary {
        markdown: out,
        skipped,
        unreadable_dirs: walk.unreadable_dirs,
    })
}

/// Python's `'is_multinode' in value`.
fn contains_is_multinode(path: &Path, value: &Value) -> Result<bool, ResultsError> {
    match value {
        Value::Dict(d) => Ok(d.contains_key("is_multinode")),
        Value::List(items) => Ok(items.iter().any(|v| v.as_str() == Some("is_multinode"))),
        Value::Str(s) => Ok(s.contains("is_multinode")),
        other => Err(ResultsError::BadResult {
            path: path.to_owned(),
            message: format!(
                "a JSON {} is not a record (the original fails on it)",
                other.type_name()
            ),
        }),
    }
}

fn table(
    mut records: Vec<Record>,
    sort_keys: &[&str],
    fields: &[&str],
    headers: &[&str],
) -> Result<String, ResultsError> {
    let keys: Vec<Vec<Value>> = records
        .iter()
        .map(|r| {
            sort_keys
                .iter()
                .map(|k| r.get(k).cloned())
                .collect::<Result<_, _>>()
        })
        .collect::<Result<_, _>>()?;
    let mut order: Vec<usize> = (0..records.len()).collect();
    let mut failure: Option<PyjsonError> = None;
    order.sort_by(|&a, &b| match ops::cmp_tuples(&keys[a], &keys[b]) {
        Ok(ordering) => ordering.unwrap_or(Ordering::Equal),
        Err(e) => {
            failure.get_or_insert(e);
            Ordering::Equal
        }
    });
    if let Some(e) = failure {
        return Err(ResultsError::Invalid(format!(
            "cannot sort the records: {e}"
        )));
    }
    let mut slots: Vec<Option<Record>> = records.drain(..).map(Some).collect();
    let sorted: Vec<Record> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    let rows = sorted
        .iter()
        .map(|r| row(r, fields))
        .collect::<Result<Vec<_>, _>>()?;
    let all_headers: Vec<&str> = headers
        .iter()
        .chain(METRIC_HEADERS.iter())
        .copied()
        .collect();
    tabulate::github(&all_headers, &rows)
}

fn row(r: &Record, fields: &[&str]) -> Result<Vec<Value>, ResultsError> {
    let mut cells = Vec::with_capacity(fields.len() + 7);
    for &f in fields {
        let v = r.get(f)?;
        cells.push(if UPPERCASED.contains(&f) {
            match v {
                Value::Str(s) => Value::Str(s.to_uppercase()),
                other => {
                    return Err(r.bad(format!(
                        "field '{f}' is {}, not a string",
                        other.type_name()
                    )))
                }
            }
        } else {
            v.clone()
        });
    }
    for (key, scale) in [
        ("median_ttft", true),
        ("median_tpot", true),
        ("median_intvty", false),
        ("median_e2el", false),
        ("tput_per_gpu", false),
        ("output_tput_per_gpu", false),
        ("input_tput_per_gpu", false),
    ] {
        cells.push(Value::Str(four_decimals(r, key, scale)?));
    }
    Ok(cells)
}

/// `f"{x * 1000:.4f}"` or `f"{x:.4f}"`.
fn four_decimals(r: &Record, key: &str, times_1000: bool) -> Result<String, ResultsError> {
    let v = r.get(key)?;
    let x = match v {
        Value::Int(i) => *i as f64 * if times_1000 { 1000.0 } else { 1.0 },
        Value::Bool(b) => f64::from(u8::from(*b)) * if times_1000 { 1000.0 } else { 1.0 },
        Value::Float(f) => {
            if times_1000 {
                f * 1000.0
            } else {
                *f
            }
        }
        other => {
            return Err(r.bad(format!(
                "field '{key}' is {}, not a number",
                other.type_name()
            )))
        }
    };
    Ok(fixed(x, 4))
}
