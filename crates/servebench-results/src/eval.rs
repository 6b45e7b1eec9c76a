//! `collect_eval_results` (edition 2026-08, SPEC-bench §7): lm-eval result
//! files of every eval set under a directory → rows, GitHub tables on
//! stdout and the `agg_eval_{EXP_NAME}.json` list, as
//! `utils/collect_eval_results.py` builds them.
//!
//! Where the original would crash on a value of an unexpected type, the
//! collection fails with [`ResultsError::Invalid`] naming the value.

use crate::power::path_str;
use crate::pyrepr;
use crate::tabulate::github;
use crate::ResultsError;
use servebench_files::Limit;
use servebench_pyjson::{cmp_tuples, eq, fixed, float_of, int_of, Dict, Value};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The order of the tables (the optional third argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalSort {
    /// `model_prefix` first (the default, and any value but `hw`).
    ModelPrefix,
    /// Hardware first (`hw`).
    Hardware,
}

impl EvalSort {
    /// The order the argument selects: `hw`, or anything else.
    pub fn from_arg(arg: Option<&str>) -> EvalSort {
        if arg == Some("hw") {
            EvalSort::Hardware
        } else {
            EvalSort::ModelPrefix
        }
    }
}

/// The collected rows and the text for stdout.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalCollection {
    /// The rows in discovery order (eval sets and files by name).
    pub rows: Vec<Value>,
    /// What the original prints, with its trailing newline.
    pub stdout: String,
}

/// `agg_eval_{exp_name}.json`.
pub fn eval_file_name(exp_name: &std::ffi::OsStr) -> PathBuf {
    let mut name = std::ffi::OsString::from("agg_eval_");
    name.push(exp_name);
    name.push(".json");
    PathBuf::from(name)
}

fn crash(message: String) -> ResultsError {
    ResultsError::Invalid(message)
}

/// `load_json`: the parsed file, or `None` on any error.
fn load_json(path: &Path) -> Option<Value> {
    let text = servebench_files::read_text(path, Limit::RESULT).ok()?;
    servebench_pyjson::from_str(&text).ok()
}

/// Names in a directory, sorted (the original uses listing order).
fn sorted_names(dir: &Path) -> Option<Vec<std::ffi::OsString>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    Some(names)
}

/// `find_eval_sets`: RESULTS_DIR itself when it holds `meta_env.json`,
/// then each sub-directory that does.
fn find_eval_sets(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if std::fs::metadata(root.join("meta_env.json")).is_ok() {
        out.push(root.to_path_buf());
    }
    for name in sorted_names(root).unwrap_or_default() {
        let d = root.join(name);
        if std::fs::metadata(&d).is_ok_and(|m| m.is_dir())
            && std::fs::metadata(d.join("meta_env.json")).is_ok()
        {
            out.push(d);
        }
    }
    out
}

/// `_conc(\d+)(?:_\d+)?\.json$`, searched in a file name: N.
fn result_concurrency(name: &str) -> Option<i128> {
    let stem = name.strip_suffix(".json")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut from = 0;
    while let Some(i) = stem[from..].find("_conc") {
        let rest = &stem[from + i + 5..];
        let (n, tail) = rest.split_once('_').unwrap_or((rest, ""));
        if digits(n) && (tail.is_empty() && !rest.contains('_') || digits(tail)) {
            return n.parse().ok();
        }
        from += i + 1;
    }
    None
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `detect_lm_eval_jsons`: the set's lm-eval files (`*.json` but
/// `meta_env.json`, parsing to an object with `lm_eval_version`); legacy:
/// the newest; batched: the newest per `_concN`, N ascending.
fn detect_lm_eval_jsons(d: &Path, batched: bool) -> Vec<(PathBuf, Option<i128>)> {
    let lm: Vec<(PathBuf, String)> = sorted_names(d)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.ends_with(".json") && n != "meta_env.json")
        .map(|n| (d.join(&n), n))
        .filter(|(p, _)| {
            matches!(load_json(p), Some(Value::Dict(data)) if data.contains_key("lm_eval_version"))
        })
        .collect();
    if !batched {
        let mut best: Option<(&PathBuf, SystemTime)> = None;
        for (p, _) in &lm {
            let t = mtime(p);
            if best.is_none_or(|(_, b)| t > b) {
                best = Some((p, t));
            }
        }
        return best.map(|(p, _)| (p.clone(), None)).into_iter().collect();
    }
    let mut latest: Vec<(i128, &PathBuf, SystemTime)> = Vec::new();
    for (p, name) in &lm {
        let Some(conc) = result_concurrency(name) else {
            continue;
        };
        let t = mtime(p);
        match latest.iter_mut().find(|(c, _, _)| *c == conc) {
            Some(entry) if t > entry.2 => *entry = (conc, p, t),
            Some(_) => {}
            None => latest.push((conc, p, t)),
        }
    }
    latest.sort_by_key(|(c, _, _)| *c);
    latest
        .into_iter()
        .map(|(c, p, _)| (p.clone(), Some(c)))
        .collect()
}

/// `dict.get(key)` on a value that must be a dict.
fn get<'a>(v: &'a Value, key: &str, what: &str) -> Result<Option<&'a Value>, ResultsError> {
    match v {
        Value::Dict(d) => Ok(d.get(key)),
        other => Err(crash(format!(
            "{what} is {} {}, not an object ('{}' object has no attribute 'get')",
            other.type_name(),
            servebench_pyjson::show(other),
            other.type_name()
        ))),
    }
}

/// `needle in haystack` for a filter name.
fn contains(haystack: &Value, needle: &str) -> Result<bool, ResultsError> {
    match haystack {
        Value::Str(s) => Ok(s.contains(needle)),
        Value::List(items) => Ok(items.iter().any(|i| eq(i, &Value::from(needle)))),
        Value::Dict(d) => Ok(d.contains_key(needle)),
        other => Err(crash(format!(
            "filter name {} is {}: argument of type '{}' is not iterable",
            servebench_pyjson::show(other),
            other.type_name(),
            other.type_name()
        ))),
    }
}

/// The metrics of one task (`extract_lm_metrics`).
struct TaskMetrics {
    task: String,
    strict: Value,
    strict_se: Value,
    flex: Value,
    flex_se: Value,
    accuracy: Value,
    accuracy_se: Value,
    n_eff: Value,
    model: Value,
    source: String,
}

fn or_null(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or(Value::Null)
}

fn extract_lm_metrics(path: &Path, source: String) -> Result<Vec<TaskMetrics>, ResultsError> {
    let data = match load_json(path) {
        Some(v) if v.is_truthy() => v,
        _ => Value::Dict(Dict::new()),
    };
    let empty = Value::Dict(Dict::new());
    let results = get(&data, "results", "the lm-eval file")?.unwrap_or(&empty);
    let configs = get(&data, "configs", "the lm-eval file")?.unwrap_or(&empty);
    if !results.is_truthy() {
        return Ok(Vec::new());
    }
    let Value::Dict(results) = results else {
        return Err(crash(format!(
            "{source}: 'results' is {}, not an object",
            results.type_name()
        )));
    };
    let mut out = Vec::new();
    for (task, task_results) in results.iter() {
        let task_config = get(configs, task, "'configs'")?.unwrap_or(&empty);
        let metric_list = get(task_config, "metric_list", "a task config")?;
        let base = match metric_list {
            Some(list) if list.is_truthy() => {
                let first = match list {
                    Value::List(items) => items.first(),
                    other => {
                        return Err(crash(format!(
                            "{source}: metric_list of {task} is {}, not a list",
                            other.type_name()
                        )))
                    }
                };
                let metric = first
                    .map(|f| get(f, "metric", "a metric_list entry"))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| {
                        crash(format!("{source}: metric_list of {task} has no 'metric'"))
                    })?;
                pyrepr::to_str(metric)
            }
            _ => "exact_match".to_owned(),
        };
        let filter_list = get(task_config, "filter_list", "a task config")?;
        let field = |key: &str| -> Result<Value, ResultsError> {
            Ok(or_null(get(task_results, key, "a task's results")?))
        };
        let (mut strict, mut strict_se) = (Value::Null, Value::Null);
        let (mut flex, mut flex_se) = (Value::Null, Value::Null);
        let (mut accuracy, mut accuracy_se) = (Value::Null, Value::Null);
        match filter_list.filter(|f| f.is_truthy()) {
            None => {
                if get(task_results, "acc", "a task's results")?.is_some() {
                    accuracy = field("acc")?;
                    accuracy_se = field("acc_stderr")?;
                } else {
                    strict = field(&base)?;
                    strict_se = field(&format!("{base}_stderr"))?;
                }
            }
            Some(filters) => {
                let Value::List(filters) = filters else {
                    return Err(crash(format!(
                        "{source}: filter_list of {task} is {}, not a list",
                        filters.type_name()
                    )));
                };
                for f in filters {
                    let name = get(f, "name", "a filter_list entry")?.ok_or_else(|| {
                        crash(format!("{source}: a filter of {task} has no 'name'"))
                    })?;
                    let name_str = pyrepr::to_str(name);
                    let pair = || -> Result<(Value, Value), ResultsError> {
                        Ok((
                            field(&format!("{base},{name_str}"))?,
                            field(&format!("{base}_stderr,{name_str}"))?,
                        ))
                    };
                    if contains(name, "strict")? || contains(name, "resolved")? {
                        (strict, strict_se) = pair()?;
                    } else if contains(name, "flex")? || contains(name, "extract")? {
                        (flex, flex_se) = pair()?;
                    }
                }
            }
        }
        let n_samples = get(&data, "n-samples", "the lm-eval file")?.unwrap_or(&empty);
        let per_task = get(n_samples, task, "'n-samples'")?.unwrap_or(&empty);
        let n_eff = or_null(get(per_task, "effective", "an 'n-samples' entry")?);
        let model = match get(&data, "model_name", "the lm-eval file")? {
            Some(m) if m.is_truthy() => m.clone(),
            _ => {
                let metadata = get(task_config, "metadata", "a task config")?.unwrap_or(&empty);
                or_null(get(metadata, "model", "a task's metadata")?)
            }
        };
        out.push(TaskMetrics {
            task: task.to_owned(),
            strict,
            strict_se,
            flex,
            flex_se,
            accuracy,
            accuracy_se,
            n_eff,
            model,
            source: source.clone(),
        });
    }
    Ok(out)
}

/// `as_int(x, default)`: Python `int(x)`, or the default where it raises.
fn as_int(v: Option<&Value>, default: i128) -> i128 {
    v.and_then(int_of).unwrap_or(default)
}

/// `as_bool`: booleans as they are, null false, else `str(v).lower() == "true"`.
fn as_bool(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => false,
        Some(other) => pyrepr::to_str(other).to_lowercase() == "true",
    }
}

/// `str(v).lower()`.
fn lower(v: &Value) -> String {
    pyrepr::to_str(v).to_lowercase()
}

/// `meta.get(key, 'unknown').upper()/.lower()`: the value must be a string.
fn meta_str(meta: &Dict, key: &str) -> Result<String, ResultsError> {
    match meta.get(key) {
        None => Ok("unknown".to_owned()),
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(other) => Err(crash(format!(
            "meta_env.json '{key}' is {} {}, not a string",
            other.type_name(),
            servebench_pyjson::show(other)
        ))),
    }
}

/// `build_row`: one output row, key for key.
fn build_row(meta: &Dict, m: TaskMetrics) -> Result<Dict, ResultsError> {
    let is_multinode = as_bool(meta.get("is_multinode"));
    let either = |key: &str, fallback: &str| meta.get(key).or_else(|| meta.get(fallback));
    let prefill_tp = match either("prefill_tp", "tp") {
        Some(v) => as_int(Some(v), 1),
        None => 1,
    };
    let prefill_ep = as_int(either("prefill_ep", "ep"), 1);
    let prefill_workers = as_int(meta.get("prefill_num_workers"), 1);
    let decode_tp = as_int(either("decode_tp", "tp"), 1);
    let decode_ep = as_int(either("decode_ep", "ep"), 1);
    let decode_workers = as_int(meta.get("decode_num_workers"), 1);
    let mut dp = meta
        .get("dp_attention")
        .cloned()
        .unwrap_or_else(|| Value::from("none"));
    let role = |key: &str| match meta.get(key) {
        None | Some(Value::Null) => dp.clone(),
        Some(v) => v.clone(),
    };
    let (prefill_dp, decode_dp) = (role("prefill_dp_attention"), role("decode_dp_attention"));
    if is_multinode {
        dp = if eq(&prefill_dp, &decode_dp) {
            prefill_dp.clone()
        } else {
            Value::from(format!(
                "prefill={},decode={}",
                lower(&prefill_dp),
                lower(&decode_dp)
            ))
        };
    }
    let model = if m.model.is_truthy() {
        m.model.clone()
    } else {
        meta.get("model")
            .cloned()
            .unwrap_or_else(|| Value::from("unknown"))
    };
    let mut row = Dict::new();
    row.insert("is_multinode", Value::Bool(is_multinode));
    row.insert(
        "model_prefix",
        meta.get("infmax_model_prefix")
            .cloned()
            .unwrap_or_else(|| Value::from("unknown")),
    );
    row.insert("model", model);
    row.insert("hw", meta_str(meta, "hw")?.to_uppercase().into());
    row.insert(
        "framework",
        meta_str(meta, "framework")?.to_lowercase().into(),
    );
    row.insert(
        "precision",
        meta_str(meta, "precision")?.to_lowercase().into(),
    );
    row.insert(
        "spec_decoding",
        meta.get("spec_decoding")
            .cloned()
            .unwrap_or_else(|| Value::from("unknown")),
    );
    row.insert("isl", Value::Int(as_int(meta.get("isl"), 0)));
    row.insert("osl", Value::Int(as_int(meta.get("osl"), 0)));
    let tp = match meta.get("tp") {
        Some(v) => as_int(Some(v), prefill_tp),
        None => prefill_tp,
    };
    let ep = match meta.get("ep") {
        Some(v) => as_int(Some(v), prefill_ep),
        None => prefill_ep,
    };
    row.insert("tp", Value::Int(tp));
    row.insert("ep", Value::Int(ep));
    row.insert("prefill_tp", Value::Int(prefill_tp));
    row.insert("prefill_ep", Value::Int(prefill_ep));
    row.insert("prefill_num_workers", Value::Int(prefill_workers));
    row.insert("decode_tp", Value::Int(decode_tp));
    row.insert("decode_ep", Value::Int(decode_ep));
    row.insert("decode_num_workers", Value::Int(decode_workers));
    row.insert("conc", Value::Int(as_int(meta.get("conc"), 0)));
    row.insert("dp_attention", lower(&dp).into());
    row.insert("prefill_dp_attention", lower(&prefill_dp).into());
    row.insert("decode_dp_attention", lower(&decode_dp).into());
    row.insert("task", m.task.into());
    let (score, name, score_se) = if !matches!(m.strict, Value::Null) {
        (
            m.strict.clone(),
            Value::from("em_strict"),
            m.strict_se.clone(),
        )
    } else if !matches!(m.accuracy, Value::Null) {
        (m.accuracy, Value::from("accuracy"), m.accuracy_se)
    } else {
        (Value::Null, Value::Null, Value::Null)
    };
    row.insert("em_strict", m.strict);
    row.insert("em_strict_se", m.strict_se);
    row.insert("em_flexible", m.flex);
    row.insert("em_flexible_se", m.flex_se);
    row.insert("n_eff", m.n_eff);
    row.insert("source", m.source.into());
    row.insert("score", score);
    row.insert("score_name", name);
    row.insert("score_se", score_se);
    Ok(row)
}

/// `collect_eval_rows`: every row, in discovery order.
pub fn eval_rows(root: &Path) -> Result<Vec<Dict>, ResultsError> {
    let mut rows = Vec::new();
    for d in find_eval_sets(root) {
        let meta = match load_json(&d.join("meta_env.json")) {
            Some(Value::Dict(m)) => m,
            Some(v) if v.is_truthy() => {
                return Err(crash(format!(
                    "{}: meta_env.json holds {}, not an object",
                    d.display(),
                    v.type_name()
                )))
            }
            _ => Dict::new(),
        };
        let batched = matches!(meta.get("eval_concs"), Some(Value::List(_)));
        let allowed: Option<Vec<i128>> = if batched {
            match meta.get("completed_eval_concs").or(meta.get("eval_concs")) {
                Some(Value::List(items)) => {
                    Some(items.iter().map(|c| as_int(Some(c), -1)).collect())
                }
                _ => None,
            }
        } else {
            None
        };
        for (path, conc) in detect_lm_eval_jsons(&d, batched) {
            let mut row_meta = meta.clone();
            if batched {
                let Some(conc) = conc else { continue };
                if allowed.as_ref().is_some_and(|a| !a.contains(&conc)) {
                    continue;
                }
                row_meta.insert("conc", Value::Int(conc));
            }
            for m in extract_lm_metrics(&path, path_str(&path))? {
                rows.push(build_row(&row_meta, m)?);
            }
        }
    }
    Ok(rows)
}

fn field<'a>(row: &'a Dict, key: &str) -> &'a Value {
    row.get(key).unwrap_or(&Value::Null)
}

const SINGLE_SORT: [&str; 9] = [
    "hw",
    "framework",
    "precision",
    "spec_decoding",
    "isl",
    "osl",
    "tp",
    "ep",
    "conc",
];
const MULTI_SORT: [&str; 13] = [
    "hw",
    "framework",
    "precision",
    "spec_decoding",
    "isl",
    "osl",
    "prefill_tp",
    "prefill_ep",
    "prefill_num_workers",
    "decode_tp",
    "decode_ep",
    "decode_num_workers",
    "conc",
];

/// A stable sort by Python tuple comparison; incomparable values fail.
fn sort_rows(rows: &mut [&Dict], keys: &[&str], sort: EvalSort) -> Result<(), ResultsError> {
    let key = |r: &Dict| -> Vec<Value> {
        let lead = (sort == EvalSort::ModelPrefix).then_some("model_prefix");
        lead.into_iter()
            .chain(keys.iter().copied())
            .map(|k| field(r, k).clone())
            .collect()
    };
    let mut failure = None;
    rows.sort_by(|a, b| match cmp_tuples(&key(a), &key(b)) {
        Ok(o) => o.unwrap_or(Ordering::Equal),
        Err(e) => {
            failure.get_or_insert(e);
            Ordering::Equal
        }
    });
    match failure {
        Some(e) => Err(crash(format!("sorting the rows: {e}"))),
        None => Ok(()),
    }
}

/// `pct(x)` then `se(se)`: `12.34% ±0.56%`, `N/A` where `float()` fails.
fn score_cell(value: &Value, se: &Value) -> Value {
    let mut s = match float_of(value) {
        Some(v) => format!("{}%", fixed(v * 100.0, 2)),
        None => "N/A".to_owned(),
    };
    if let Some(v) = float_of(se) {
        s.push_str(&format!(" ±{}%", fixed(v * 100.0, 2)));
    }
    Value::from(s)
}

fn upper(v: &Value) -> Value {
    Value::from(pyrepr::to_str(v).to_uppercase())
}

fn table_cells(r: &Dict, multinode: bool) -> Vec<Value> {
    let f = |k: &str| field(r, k).clone();
    let mut cells = vec![
        f("model_prefix"),
        f("hw"),
        upper(field(r, "framework")),
        upper(field(r, "precision")),
        f("spec_decoding"),
        f("isl"),
        f("osl"),
    ];
    if multinode {
        for k in [
            "prefill_tp",
            "prefill_ep",
            "prefill_dp_attention",
            "prefill_num_workers",
            "decode_tp",
            "decode_ep",
            "decode_dp_attention",
            "decode_num_workers",
            "conc",
        ] {
            cells.push(f(k));
        }
    } else {
        for k in ["tp", "ep", "conc", "dp_attention"] {
            cells.push(f(k));
        }
    }
    cells.push(f("task"));
    cells.push(score_cell(field(r, "score"), field(r, "score_se")));
    cells.push(score_cell(field(r, "em_strict"), field(r, "em_strict_se")));
    cells.push(score_cell(
        field(r, "em_flexible"),
        field(r, "em_flexible_se"),
    ));
    let n = field(r, "n_eff");
    cells.push(if n.is_truthy() {
        n.clone()
    } else {
        Value::from("")
    });
    cells.push(f("model"));
    cells
}

const SINGLE_HEADERS: [&str; 17] = [
    "Model Prefix",
    "Hardware",
    "Framework",
    "Precision",
    "Spec Decode",
    "ISL",
    "OSL",
    "TP",
    "EP",
    "Conc",
    "DP Attention",
    "Task",
    "Score",
    "EM Strict",
    "EM Flexible",
    "N (eff)",
    "Model",
];
const MULTI_HEADERS: [&str; 22] = [
    "Model Prefix",
    "Hardware",
    "Framework",
    "Precision",
    "Spec Decode",
    "ISL",
    "OSL",
    "Prefill TP",
    "Prefill EP",
    "Prefill DP Attn",
    "Prefill Workers",
    "Decode TP",
    "Decode EP",
    "Decode DP Attn",
    "Decode Workers",
    "Conc",
    "Task",
    "Score",
    "EM Strict",
    "EM Flexible",
    "N (eff)",
    "Model",
];

/// The stdout text for `rows` (sorted per table as `sort` says).
pub fn eval_tables(rows: &[Dict], sort: EvalSort) -> Result<String, ResultsError> {
    if rows.is_empty() {
        return Ok("> No eval results found to summarize.\n".to_owned());
    }
    let multi = |r: &&Dict| matches!(r.get("is_multinode"), Some(Value::Bool(true)));
    let mut single: Vec<&Dict> = rows.iter().filter(|r| !multi(r)).collect();
    let mut multinode: Vec<&Dict> = rows.iter().filter(multi).collect();
    sort_rows(&mut single, &SINGLE_SORT, sort)?;
    sort_rows(&mut multinode, &MULTI_SORT, sort)?;
    let mut out = String::new();
    if !single.is_empty() {
        let cells: Vec<Vec<Value>> = single.iter().map(|r| table_cells(r, false)).collect();
        out.push_str("### Single-Node Eval Results\n\n");
        out.push_str(&github(&SINGLE_HEADERS, &cells)?);
        out.push('\n');
    }
    if !multinode.is_empty() {
        if !single.is_empty() {
            out.push_str("\n\n");
        }
        let cells: Vec<Vec<Value>> = multinode.iter().map(|r| table_cells(r, true)).collect();
        out.push_str("### Multi-Node Eval Results\n\n");
        out.push_str(&github(&MULTI_HEADERS, &cells)?);
        out.push('\n');
    }
    Ok(out)
}

/// Everything `collect_eval_results RESULTS_DIR EXP_NAME [SORT]` computes:
/// the rows (for the JSON file) and the stdout text.
pub fn collect_eval_results(root: &Path, sort: EvalSort) -> Result<EvalCollection, ResultsError> {
    let rows = eval_rows(root)?;
    let stdout = eval_tables(&rows, sort)?;
    Ok(EvalCollection {
        rows: rows.into_iter().map(Value::Dict).collect(),
        stdout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use servebench_pyjson::from_str;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "servebench-results-eval-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const LM: &str = r#"{"lm_eval_version": "0.4", "model_name": "org/m",
        "results": {"gsm8k": {"exact_match,strict-match": 0.5, "exact_match_stderr,strict-match": 0.01,
                              "exact_match,flexible-extract": 0.25, "exact_match_stderr,flexible-extract": "N/A"},
                    "gpqa": {"acc": 0.7, "acc_stderr": 0.03}},
        "configs": {"gsm8k": {"filter_list": [{"name": "strict-match"}, {"name": "flexible-extract"}]}},
        "n-samples": {"gsm8k": {"effective": 1319}}}"#;

    #[test]
    fn the_conc_suffix_is_searched_as_the_regex_does() {
        for (name, want) in [
            ("results_conc8.json", Some(8)),
            ("results_2026_conc256_1.json", Some(256)),
            ("a_conc1_conc2.json", Some(2)),
            ("results_conc8_x.json", None),
            ("results_conc.json", None),
            ("results_conc8.jsonl", None),
            ("results_noconc.json", None),
        ] {
            assert_eq!(result_concurrency(name), want, "{name}");
        }
    }

    #[test]
    fn rows_scores_and_tables() {
        let root = scratch("rows");
        write(
            &root,
            "a/meta_env.json",
            r#"{"hw": "h200", "framework": "SGLang", "precision": "FP8", "tp": "8", "conc": 4, "dp_attention": true, "infmax_model_prefix": "dsr1"}"#,
        );
        write(&root, "a/results.json", LM);
        write(&root, "a/other.json", r#"{"not": "lm-eval"}"#);
        write(
            &root,
            "b/meta_env.json",
            r#"{"hw": "gb200", "is_multinode": "True", "prefill_dp_attention": true, "decode_dp_attention": false, "prefill_tp": 4}"#,
        );
        write(&root, "b/results.json", LM);
        write(&root, "c/nometa.json", LM);
        let rows = eval_rows(&root).unwrap();
        assert_eq!(rows.len(), 4);
        let text = servebench_pyjson::to_string(&Value::Dict(rows[0].clone()));
        let src = path_str(&root.join("a/results.json"));
        assert_eq!(
            text,
            format!(
                r#"{{"is_multinode": false, "model_prefix": "dsr1", "model": "org/m", "hw": "H200", "framework": "sglang", "precision": "fp8", "spec_decoding": "unknown", "isl": 0, "osl": 0, "tp": 8, "ep": 1, "prefill_tp": 8, "prefill_ep": 1, "prefill_num_workers": 1, "decode_tp": 8, "decode_ep": 1, "decode_num_workers": 1, "conc": 4, "dp_attention": "true", "prefill_dp_attention": "true", "decode_dp_attention": "true", "task": "gsm8k", "em_strict": 0.5, "em_strict_se": 0.01, "em_flexible": 0.25, "em_flexible_se": "N/A", "n_eff": 1319, "source": "{src}", "score": 0.5, "score_name": "em_strict", "score_se": 0.01}}"#
            )
        );
        let gpqa = servebench_pyjson::to_string(&Value::Dict(rows[1].clone()));
        assert!(gpqa.contains(r#""em_strict": null, "em_strict_se": null, "em_flexible": null, "em_flexible_se": null, "n_eff": null"#), "{gpqa}");
        assert!(
            gpqa.ends_with(r#""score": 0.7, "score_name": "accuracy", "score_se": 0.03}"#),
            "{gpqa}"
        );
        let mn = servebench_pyjson::to_string(&Value::Dict(rows[2].clone()));
        assert!(mn.contains(r#""dp_attention": "prefill=true,decode=false", "prefill_dp_attention": "true", "decode_dp_attention": "false""#), "{mn}");
        assert!(mn.contains(r#""tp": 4, "ep": 1, "prefill_tp": 4"#), "{mn}");
        let out = eval_tables(&rows, EvalSort::Hardware).unwrap();
        assert!(
            out.starts_with("### Single-Node Eval Results\n\n| Model Prefix "),
            "{out}"
        );
        assert!(
            out.contains("| 50.00% ±1.00% | 50.00% ±1.00% | 25.00%        | 1319      |"),
            "{out}"
        );
        assert!(
            out.contains("| 70.00% ±3.00% | N/A           | N/A           |           |"),
            "{out}"
        );
        assert!(
            out.contains("|\n\n\n### Multi-Node Eval Results\n\n"),
            "{out}"
        );
        assert!(out.ends_with("|\n"), "{out}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn batched_sets_give_one_row_per_allowed_concurrency() {
        let root = scratch("batched");
        write(
            &root,
            "meta_env.json",
            r#"{"hw": "h100", "eval_concs": [8, 64, "256"], "completed_eval_concs": ["8", 256, "x"]}"#,
        );
        let one = r#"{"lm_eval_version": "1", "results": {"t": {"exact_match": 0.5}}}"#;
        for name in [
            "r_conc8.json",
            "r_conc64.json",
            "r_conc256_3.json",
            "r.json",
        ] {
            write(&root, name, one);
        }
        let rows = eval_rows(&root).unwrap();
        let concs: Vec<&Value> = rows.iter().map(|r| field(r, "conc")).collect();
        assert_eq!(concs, [&Value::Int(8), &Value::Int(256)]);
        // completed_eval_concs present but not a list: no filter.
        write(
            &root,
            "meta_env.json",
            r#"{"eval_concs": [8], "completed_eval_concs": null}"#,
        );
        assert_eq!(eval_rows(&root).unwrap().len(), 3);
        // Not batched: only the newest file counts.
        write(&root, "meta_env.json", r#"{}"#);
        assert_eq!(eval_rows(&root).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn empty_missing_and_crashing_inputs() {
        let root = scratch("empty");
        assert!(eval_rows(&root.join("missing")).unwrap().is_empty());
        assert_eq!(
            eval_tables(&[], EvalSort::ModelPrefix).unwrap(),
            "> No eval results found to summarize.\n"
        );
        write(&root, "a/meta_env.json", "{broken");
        write(
            &root,
            "a/r.json",
            r#"{"lm_eval_version": 1, "results": {"t": {}}}"#,
        );
        let rows = eval_rows(&root).unwrap();
        assert_eq!(field(&rows[0], "hw"), &Value::from("UNKNOWN"));
        assert_eq!(field(&rows[0], "score"), &Value::Null);
        write(&root, "a/meta_env.json", r#"{"hw": 5}"#);
        assert!(eval_rows(&root)
            .unwrap_err()
            .to_string()
            .contains("'hw' is int 5"));
        let mixed: Vec<Dict> = [
            r#"{"is_multinode": false, "model_prefix": 1}"#,
            r#"{"is_multinode": false, "model_prefix": "a"}"#,
        ]
        .iter()
        .map(|t| from_str(t).unwrap().as_dict().unwrap().clone())
        .collect();
        assert!(eval_tables(&mixed, EvalSort::ModelPrefix).is_err());
        assert!(eval_tables(&mixed, EvalSort::Hardware).is_ok());
        let _ = std::fs::remove_dir_all(&root);
    }
}
