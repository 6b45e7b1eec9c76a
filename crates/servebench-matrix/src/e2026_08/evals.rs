//! Eval marking of edition 2026-08: `mark_eval_entries`,
//! `mark_all_eval_entries` and the eval-only filter.

use super::EvalOptions;
use crate::{MatrixEntry, MatrixError};
use servebench_pyjson::{self as pyops, Dict, PyjsonError, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// `MIN_EVAL_CONC`.
const MIN_EVAL_CONC: i128 = 16;

fn py(e: PyjsonError) -> MatrixError {
    MatrixError::Generation {
        path: Default::default(),
        key: "eval marking".to_owned(),
        message: e.to_string(),
    }
}

fn field(e: &Dict, k: &str) -> Value {
    e.get(k).cloned().unwrap_or(Value::Null)
}

fn is_8k1k(e: &Dict) -> bool {
    pyops::eq(&field(e, "isl"), &Value::Int(8192)) && pyops::eq(&field(e, "osl"), &Value::Int(1024))
}

fn is_agentic(e: &Dict) -> bool {
    pyops::eq(&field(e, "scenario-type"), &Value::from("agentic-coding"))
}

fn conc_values(e: &Dict) -> Vec<Value> {
    match field(e, "conc") {
        Value::List(items) => items,
        other => vec![other],
    }
}

/// Python `sorted(values)`.
fn sorted(mut values: Vec<Value>) -> Result<Vec<Value>, MatrixError> {
    let failure = RefCell::new(None);
    values.sort_by(|a, b| match pyops::lt(a, b) {
        Ok(true) => std::cmp::Ordering::Less,
        Ok(false) => match pyops::lt(b, a) {
            Ok(true) => std::cmp::Ordering::Greater,
            Ok(false) => std::cmp::Ordering::Equal,
            Err(e) => {
                failure.borrow_mut().get_or_insert(e);
                std::cmp::Ordering::Equal
            }
        },
        Err(e) => {
            failure.borrow_mut().get_or_insert(e);
            std::cmp::Ordering::Equal
        }
    });
    match failure.into_inner() {
        Some(e) => Err(py(e)),
        None => Ok(values),
    }
}

/// Python `set(values)` (the first of equal values stays).
fn distinct(values: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if !out.iter().any(|o| pyops::eq(o, &v)) {
            out.push(v);
        }
    }
    out
}

/// `sorted(set(values))`.
fn sorted_distinct(values: Vec<Value>) -> Result<Vec<Value>, MatrixError> {
    sorted(distinct(values))
}

/// `_eligible_eval_concs`: the concurrencies ≥ 16, sorted.
fn eligible(e: &Dict) -> Result<Vec<Value>, MatrixError> {
    let min = Value::Int(MIN_EVAL_CONC);
    let mut kept = Vec::new();
    for c in conc_values(e) {
        if pyops::ge(&c, &min).map_err(py)? {
            kept.push(c);
        }
    }
    sorted(kept)
}

/// `_multinode_parallelism_key`: the row without its concurrency and eval
/// fields (compared as Python compares dicts: order-independent).
fn parallelism_key(e: &Dict) -> Value {
    const IGNORED: [&str; 6] = [
        "conc",
        "run-eval",
        "eval-only",
        "eval-conc",
        "eval-all-concs",
        "exp-name",
    ];
    Value::Dict(
        e.iter()
            .filter(|(k, _)| !IGNORED.contains(k))
            .map(|(k, v)| (k, v.clone()))
            .collect(),
    )
}

/// Groups in first-seen order; keys compared with Python equality.
struct Groups<T> {
    groups: Vec<(Value, Vec<T>)>,
}

impl<T> Default for Groups<T> {
    fn default() -> Self {
        Groups { groups: Vec::new() }
    }
}

impl<T> Groups<T> {
    fn push(&mut self, key: Value, item: T) {
        match self.groups.iter_mut().find(|(k, _)| pyops::eq(k, &key)) {
            Some((_, items)) => items.push(item),
            None => self.groups.push((key, vec![item])),
        }
    }
}

/// `max(entries, key=lambda item: item[1])`: the first of the largest.
fn first_max(items: &[(usize, Value)]) -> Result<Option<&(usize, Value)>, MatrixError> {
    let mut best: Option<&(usize, Value)> = None;
    for item in items {
        best = match best {
            Some(b) if !pyops::gt(&item.1, &b.1).map_err(py)? => Some(b),
            _ => Some(item),
        };
    }
    Ok(best)
}

/// Per multi-node group: the row with the highest eligible conc is marked
/// and gets that conc as its `eval-conc`.
fn pick_highest(
    groups: &Groups<(usize, Value)>,
    marked: &mut BTreeSet<usize>,
    eval_conc: &mut BTreeMap<usize, Value>,
) -> Result<(), MatrixError> {
    for (_, members) in &groups.groups {
        if let Some((i, c)) = first_max(members)? {
            marked.insert(*i);
            eval_conc.insert(*i, c.clone());
        }
    }
    Ok(())
}

/// `mark_eval_entries`.
fn mark(mut rows: Vec<Dict>, include_agentic: bool) -> Result<Vec<Dict>, MatrixError> {
    let mut marked: BTreeSet<usize> = BTreeSet::new();
    let mut eval_conc: BTreeMap<usize, Value> = BTreeMap::new();

    let mut sn: Groups<usize> = Groups::default();
    for (i, e) in rows.iter().enumerate() {
        if !e.contains_key("tp") || !is_8k1k(e) || eligible(e)?.is_empty() {
            continue;
        }
        let key: Vec<Value> = [
            "model",
            "runner",
            "framework",
            "precision",
            "isl",
            "osl",
            "spec-decoding",
            "dp-attn",
        ]
        .iter()
        .map(|k| field(e, k))
        .collect();
        sn.push(Value::List(key), i);
    }
    for (_, members) in &sn.groups {
        let concs = sorted_distinct(members.iter().map(|&i| field(&rows[i], "conc")).collect())?;
        let (Some(top), Some(median)) = (concs.last(), concs.get(concs.len() / 2)) else {
            continue;
        };
        for &i in members {
            let c = field(&rows[i], "conc");
            if pyops::eq(&c, top) || pyops::eq(&c, median) {
                marked.insert(i);
            }
        }
    }

    let mut mn: Groups<(usize, Value)> = Groups::default();
    for (i, e) in rows.iter().enumerate() {
        if e.contains_key("tp") || !e.contains_key("prefill") || !is_8k1k(e) {
            continue;
        }
        if let Some(top) = eligible(e)?.pop() {
            mn.push(parallelism_key(e), (i, top));
        }
    }
    pick_highest(&mn, &mut marked, &mut eval_conc)?;

    if include_agentic {
        let mut ag_sn: Groups<(usize, Value)> = Groups::default();
        let mut ag_mn: Groups<(usize, Value)> = Groups::default();
        for (i, e) in rows.iter().enumerate() {
            if !is_agentic(e) {
                continue;
            }
            if e.contains_key("prefill") {
                if let Some(top) = eligible(e)?.pop() {
                    ag_mn.push(parallelism_key(e), (i, top));
                }
                continue;
            }
            let conc = match field(e, "conc") {
                Value::List(items) => pyops::max(&items)
                    .map_err(py)?
                    .cloned()
                    .unwrap_or(Value::Null),
                other => other,
            };
            let key: Vec<Value> = ["model", "runner", "framework", "precision"]
                .iter()
                .map(|k| field(e, k))
                .collect();
            ag_sn.push(Value::List(key), (i, conc));
        }
        for (_, members) in &ag_sn.groups {
            if let Some((i, _)) = first_max(members)? {
                marked.insert(*i);
            }
        }
        pick_highest(&ag_mn, &mut marked, &mut eval_conc)?;
    }

    for (i, e) in rows.iter_mut().enumerate() {
        e.insert("run-eval", Value::Bool(marked.contains(&i)));
        if let Some(c) = eval_conc.remove(&i) {
            e.insert("eval-conc", c);
        }
    }
    Ok(rows)
}

/// `mark_all_eval_entries`: every 8k1k fixed row and every agentic row
/// becomes an eval row; multi-node rows of one topology merge.
fn mark_all(rows: Vec<Dict>) -> Result<Vec<Dict>, MatrixError> {
    let mut out: Vec<Dict> = Vec::new();
    let mut mn_fixed: Vec<(Value, usize)> = Vec::new();
    let mut mn_agentic: Vec<(Value, usize)> = Vec::new();
    let find = |index: &[(Value, usize)], key: &Value| {
        index
            .iter()
            .find(|(k, _)| pyops::eq(k, key))
            .map(|(_, at)| *at)
    };
    let merged = |existing: &Dict, values: Vec<Value>| -> Result<Vec<Value>, MatrixError> {
        let mut all = conc_values(existing);
        all.extend(values);
        sorted_distinct(all)
    };
    for mut e in rows {
        if is_agentic(&e) {
            if !e.contains_key("prefill") {
                e.insert("run-eval", Value::Bool(true));
                out.push(e);
                continue;
            }
            let values = conc_values(&e);
            let key = parallelism_key(&e);
            if let Some(at) = find(&mn_agentic, &key) {
                let all = merged(&out[at], values)?;
                let top = pyops::max(&all)
                    .map_err(py)?
                    .cloned()
                    .unwrap_or(Value::Null);
                out[at].insert("conc", Value::List(all));
                out[at].insert("eval-conc", top);
                continue;
            }
            let top = pyops::max(&values)
                .map_err(py)?
                .cloned()
                .unwrap_or(Value::Null);
            e.insert("conc", Value::List(sorted_distinct(values)?));
            e.insert("run-eval", Value::Bool(true));
            e.insert("eval-conc", top);
            mn_agentic.push((key, out.len()));
            out.push(e);
            continue;
        }
        if !is_8k1k(&e) {
            out.push(e);
            continue;
        }
        if e.contains_key("prefill") {
            let values = conc_values(&e);
            let key = parallelism_key(&e);
            if let Some(at) = find(&mn_fixed, &key) {
                let all = merged(&out[at], values)?;
                out[at].insert("conc", Value::List(all));
                continue;
            }
            e.insert("conc", Value::List(sorted_distinct(values)?));
            e.insert("run-eval", Value::Bool(true));
            e.insert("eval-all-concs", Value::Bool(true));
            e.remove("eval-conc");
            mn_fixed.push((key, out.len()));
            out.push(e);
            continue;
        }
        e.insert("run-eval", Value::Bool(true));
        out.push(e);
    }
    Ok(out)
}

/// The eval step of `main()`: marking unless `--no-evals` (agentic rows
/// included with `--evals-only`/`--all-evals`), the `--all-evals`
/// expansion, then the eval-only filter.
pub(crate) fn apply(
    rows: Vec<MatrixEntry>,
    opts: EvalOptions,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    let mut rows = rows;
    if !opts.no_evals {
        rows = mark(rows, opts.evals_only || opts.all_evals)?;
        if opts.all_evals {
            rows = mark_all(rows)?;
        }
    }
    if opts.evals_only || opts.all_evals {
        rows.retain(|e| e.get("run-eval").is_some_and(Value::is_truthy));
        for e in &mut rows {
            e.insert("eval-only", Value::Bool(true));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn_row(tp: i64, conc: i64) -> Dict {
        let mut d = Dict::new();
        for (k, v) in [
            ("model", "m"),
            ("runner", "h100"),
            ("framework", "vllm"),
            ("precision", "fp8"),
            ("spec-decoding", "none"),
        ] {
            d.insert(k, v.into());
        }
        d.insert("isl", Value::Int(8192));
        d.insert("osl", Value::Int(1024));
        d.insert("tp", tp.into());
        d.insert("conc", conc.into());
        d.insert("dp-attn", Value::Bool(false));
        d.insert("run-eval", Value::Bool(false));
        d
    }

    #[test]
    fn single_node_marks_the_top_and_upper_median_conc_from_16() {
        let rows: Vec<Dict> = [(4, 8), (4, 16), (4, 32), (8, 64), (8, 128), (8, 16)]
            .iter()
            .map(|&(tp, c)| sn_row(tp, c))
            .collect();
        let out = mark(rows, false).unwrap();
        let marked: Vec<bool> = out
            .iter()
            .map(|e| e.get("run-eval") == Some(&Value::Bool(true)))
            .collect();
        // Distinct concs ≥ 16: 16, 32, 64, 128 → top 128, median 64.
        assert_eq!(marked, [false, false, false, true, true, false]);
    }

    #[test]
    fn no_evals_leaves_rows_alone_and_evals_only_appends_eval_only() {
        let rows = vec![sn_row(4, 16)];
        let off = EvalOptions {
            no_evals: true,
            ..EvalOptions::default()
        };
        assert_eq!(apply(rows.clone(), off).unwrap(), rows);
        let only = EvalOptions {
            evals_only: true,
            ..EvalOptions::default()
        };
        let out = apply(rows, only).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].keys().last(), Some("eval-only"));
    }
}
