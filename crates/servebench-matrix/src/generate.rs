//! The three sweep generators of `generate_sweep_configs.py` and eval
//! marking. Pure functions from configs and options to matrix entries.

use crate::config::{
    ConcSpec, ConfigEntry, MasterConfigs, RunnerConfig, SearchSpace, SeqLenConfig,
};
use crate::validate::check_matrix_entry;
use crate::MatrixError;
use servebench_pyjson::{self as pyops, show, PyjsonError};
use servebench_pyjson::{Dict, Value};

/// One entry of the job matrix, keys in the order the workflow receives them.
pub type MatrixEntry = Dict;

/// `--single-node` / `--multi-node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    SingleNode,
    MultiNode,
}

/// The named sequence-length pairs (`--seq-lens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqLen {
    OneKOneK,
    OneKEightK,
    EightKOneK,
}

impl SeqLen {
    pub const ALL: [SeqLen; 3] = [SeqLen::OneKOneK, SeqLen::OneKEightK, SeqLen::EightKOneK];

    pub fn name(self) -> &'static str {
        match self {
            SeqLen::OneKOneK => "1k1k",
            SeqLen::OneKEightK => "1k8k",
            SeqLen::EightKOneK => "8k1k",
        }
    }

    /// `(isl, osl)`.
    pub fn lengths(self) -> (i128, i128) {
        match self {
            SeqLen::OneKOneK => (1024, 1024),
            SeqLen::OneKEightK => (1024, 8192),
            SeqLen::EightKOneK => (8192, 1024),
        }
    }

    pub fn from_name(name: &str) -> Option<SeqLen> {
        SeqLen::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// `full-sweep` options. An empty list means "no filter".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullSweepOptions {
    pub model_prefix: Vec<String>,
    pub precision: Vec<String>,
    pub framework: Vec<String>,
    pub runner_type: Vec<String>,
    pub seq_lens: Vec<SeqLen>,
    pub step_size: i64,
    pub min_conc: Option<i64>,
    pub max_conc: Option<i64>,
    pub max_tp: Option<i64>,
    pub max_ep: Option<i64>,
    pub node_type: NodeType,
    /// Substring filter on node names; empty means none (as in Python).
    pub runner_node_filter: Option<String>,
}

impl FullSweepOptions {
    pub fn new(node_type: NodeType) -> Self {
        FullSweepOptions {
            model_prefix: Vec::new(),
            precision: Vec::new(),
            framework: Vec::new(),
            runner_type: Vec::new(),
            seq_lens: Vec::new(),
            step_size: 2,
            min_conc: None,
            max_conc: None,
            max_tp: None,
            max_ep: None,
            node_type,
            runner_node_filter: None,
        }
    }
}

/// `runner-model-sweep` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerModelSweepOptions {
    pub runner_type: String,
    pub model_prefix: Vec<String>,
    pub precision: Vec<String>,
    pub framework: Vec<String>,
    pub conc: Option<i64>,
    pub node_type: NodeType,
    pub runner_node_filter: Option<String>,
}

/// `test-config` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestConfigOptions {
    pub config_keys: Vec<String>,
    /// Keep only these concurrencies; empty keeps all.
    pub conc: Vec<i64>,
}

/// `--run-evals` / `--evals-only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvalMode {
    #[default]
    Off,
    RunEvals,
    EvalsOnly,
}

/// Errors in generation name the config entry they came from.
struct Ctx<'a> {
    entry: &'a ConfigEntry,
}

impl Ctx<'_> {
    fn origin(&self) -> Origin<'_> {
        Origin {
            path: &self.entry.source,
            key: &self.entry.key,
        }
    }
    fn err(&self, message: impl Into<String>) -> MatrixError {
        self.origin().err(message)
    }
    fn py(&self, field: &str) -> impl Fn(PyjsonError) -> MatrixError + '_ {
        let field = field.to_owned();
        move |e: PyjsonError| self.err(format!("{field}: {e}"))
    }
}

/// The config entry (file and key) a generation error names; the part of
/// the expansion engine both editions share is written against it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) path: &'a std::path::Path,
    pub(crate) key: &'a str,
}

impl Origin<'_> {
    pub(crate) fn err(&self, message: impl Into<String>) -> MatrixError {
        MatrixError::Generation {
            path: self.path.to_owned(),
            key: self.key.to_owned(),
            message: message.into(),
        }
    }
    pub(crate) fn py(&self, field: &str) -> impl Fn(PyjsonError) -> MatrixError + '_ {
        let field = field.to_owned();
        move |e: PyjsonError| self.err(format!("{field}: {e}"))
    }
}

fn non_empty(filter: &Option<String>) -> Option<&str> {
    filter.as_deref().filter(|f| !f.is_empty())
}

fn matches_filters(
    entry: &ConfigEntry,
    model_prefix: &[String],
    precision: &[String],
    framework: &[String],
) -> bool {
    (model_prefix.is_empty()
        || model_prefix
            .iter()
            .any(|p| entry.key.starts_with(p.as_str())))
        && (precision.is_empty() || precision.contains(&entry.precision))
        && (framework.is_empty() || framework.contains(&entry.framework))
}

/// `--runner-type` values the runner file does not define: the error names
/// them and every defined type, both sorted (both editions check this
/// before expanding anything).
pub(crate) fn check_runner_types<'a>(
    requested: &[String],
    defined: impl Fn(&str) -> bool,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), MatrixError> {
    let mut invalid: Vec<String> = requested.iter().filter(|t| !defined(t)).cloned().collect();
    if invalid.is_empty() {
        return Ok(());
    }
    invalid.sort();
    invalid.dedup();
    let mut valid: Vec<String> = names.map(str::to_owned).collect();
    valid.sort();
    Err(MatrixError::InvalidRunnerTypes { invalid, valid })
}

/// `generate_full_sweep`.
pub fn full_sweep(
    configs: &MasterConfigs,
    runners: &RunnerConfig,
    opts: &FullSweepOptions,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    check_runner_types(
        &opts.runner_type,
        |t| runners.nodes(t).is_some(),
        runners.types(),
    )?;
    let step = Value::Int(opts.step_size.into());
    let mut matrix = Vec::new();
    for entry in &configs.entries {
        let cx = Ctx { entry };
        if !matches_filters(entry, &opts.model_prefix, &opts.precision, &opts.framework)
            || !(opts.runner_type.is_empty() || opts.runner_type.contains(&entry.runner))
        {
            continue;
        }
        let nodes: Vec<String> = match non_empty(&opts.runner_node_filter) {
            Some(filter) => {
                let nodes: Vec<String> = runners
                    .nodes(&entry.runner)
                    .unwrap_or_default()
                    .iter()
                    .filter(|n| n.contains(filter))
                    .cloned()
                    .collect();
                if nodes.is_empty() {
                    continue;
                }
                nodes
            }
            None => vec![entry.runner.clone()],
        };
        for seq in &entry.seq_len_configs {
            if !opts.seq_lens.is_empty()
                && !opts.seq_lens.iter().any(|s| {
                    let (isl, osl) = s.lengths();
                    pyops::eq(&seq.isl, &Value::Int(isl)) && pyops::eq(&seq.osl, &Value::Int(osl))
                })
            {
                continue;
            }
            for bmk in &seq.search_space {
                match bmk {
                    SearchSpace::MultiNode(mn) => {
                        if opts.node_type != NodeType::MultiNode {
                            continue;
                        }
                        let conc = match &mn.conc.list {
                            Some(list) if list.is_truthy() => list_items(&cx, list)?,
                            _ => {
                                let (start, end) = range_bounds(&cx, &mn.conc)?;
                                expand_range(&cx.origin(), start, end, &step)?
                            }
                        };
                        let Some(conc) =
                            clamp_conc_list(&cx.origin(), conc, opts.min_conc, opts.max_conc)?
                        else {
                            continue;
                        };
                        for node in &nodes {
                            let e = multi_node_entry(
                                &cx,
                                seq,
                                bmk,
                                node,
                                Value::List(conc.clone()),
                                mn.prefill.clone().into(),
                                mn.decode.clone().into(),
                            )?;
                            matrix.push(e);
                        }
                    }
                    SearchSpace::SingleNode(sn) => {
                        if opts.node_type != NodeType::SingleNode {
                            continue;
                        }
                        let (start, end) = match (&sn.conc.start, &sn.conc.end) {
                            (Some(start), Some(end)) => (start.clone(), end.clone()),
                            _ => {
                                return Err(cx.err(
                                    "a single-node search-space entry with 'conc-list' cannot be expanded by \
                                     full-sweep (the Python original fails with KeyError: 'conc-start'); \
                                     use 'conc-start'/'conc-end', or test-config",
                                ))
                            }
                        };
                        let Some((start, end, ep)) =
                            apply_sn_limits(&cx, sn.tp.clone(), start, end, sn.ep.clone(), opts)?
                        else {
                            continue;
                        };
                        for conc in expand_range(&cx.origin(), &start, &end, &step)? {
                            for node in &nodes {
                                let e = single_node_entry_a(
                                    &cx,
                                    seq,
                                    &sn.tp,
                                    conc.clone(),
                                    ep.clone(),
                                    sn.dp_attn.clone(),
                                    &sn.spec_decoding,
                                    node,
                                )?;
                                matrix.push(e);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(matrix)
}

/// The full-sweep single-node filters, in the original's order:
/// `--max-tp`, `--max-ep`, `--min-conc`, `--max-conc`. `None` = skip.
#[allow(clippy::type_complexity)] // a private tuple of the three adjusted values
fn apply_sn_limits(
    cx: &Ctx,
    tp: Value,
    start: Value,
    end: Value,
    mut ep: Option<Value>,
    opts: &FullSweepOptions,
) -> Result<Option<(Value, Value, Option<Value>)>, MatrixError> {
    if let Some(max_tp) = opts.max_tp {
        if max_tp <= 0 || pyops::gt(&tp, &Value::Int(max_tp.into())).map_err(cx.py("tp"))? {
            return Ok(None);
        }
    }
    if let Some(max_ep) = opts.max_ep {
        if max_ep <= 0 {
            return Ok(None);
        }
        let limit = Value::Int(max_ep.into());
        if let Some(e) = &ep {
            if pyops::gt(e, &limit).map_err(cx.py("ep"))? {
                ep = Some(limit);
            }
        }
    }
    Ok(
        limit_conc_range(&cx.origin(), start, end, opts.min_conc, opts.max_conc)?
            .map(|(start, end)| (start, end, ep)),
    )
}

/// The single-node range rules of `--min-conc` / `--max-conc` (both
/// editions): `None` = skip the entry, else the new `(start, end)`.
pub(crate) fn limit_conc_range(
    cx: &Origin,
    mut start: Value,
    mut end: Value,
    min_conc: Option<i64>,
    max_conc: Option<i64>,
) -> Result<Option<(Value, Value)>, MatrixError> {
    if let Some(min_conc) = min_conc {
        let limit = Value::Int(min_conc.into());
        if min_conc <= 0 || pyops::lt(&end, &limit).map_err(cx.py("conc-end"))? {
            return Ok(None);
        }
        // max(start, M): `start` unless M is larger.
        if pyops::gt(&limit, &start).map_err(cx.py("conc-start"))? {
            start = limit;
        }
    }
    if let Some(max_conc) = max_conc {
        let limit = Value::Int(max_conc.into());
        if max_conc <= 0 {
            return Ok(None);
        }
        if pyops::gt(&start, &limit).map_err(cx.py("conc-start"))? {
            start = limit.clone();
            end = limit;
        } else if pyops::lt(&limit, &end).map_err(cx.py("conc-end"))? {
            end = limit;
        }
    }
    Ok(Some((start, end)))
}

/// The multi-node `--min-conc` / `--max-conc` rules (both editions).
/// `None` = skip.
pub(crate) fn clamp_conc_list(
    cx: &Origin,
    mut conc: Vec<Value>,
    min_conc: Option<i64>,
    max_conc: Option<i64>,
) -> Result<Option<Vec<Value>>, MatrixError> {
    if let Some(min_conc) = min_conc {
        if min_conc <= 0 {
            return Ok(None);
        }
        let limit = Value::Int(min_conc.into());
        conc = retain(cx, conc, |c| pyops::ge(c, &limit))?;
        if conc.is_empty() {
            return Ok(None);
        }
    }
    if let Some(max_conc) = max_conc {
        let limit = Value::Int(max_conc.into());
        let kept = retain(cx, conc, |c| pyops::le(c, &limit))?;
        conc = if !kept.is_empty() {
            kept
        } else if max_conc > 0 {
            vec![limit]
        } else {
            return Ok(None);
        };
    }
    Ok(Some(conc))
}

pub(crate) fn retain(
    cx: &Origin,
    values: Vec<Value>,
    keep: impl Fn(&Value) -> Result<bool, PyjsonError>,
) -> Result<Vec<Value>, MatrixError> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if keep(&v).map_err(cx.py("conc"))? {
            out.push(v);
        }
    }
    Ok(out)
}

fn list_items(cx: &Ctx, list: &Value) -> Result<Vec<Value>, MatrixError> {
    match list {
        Value::List(items) => Ok(items.clone()),
        other => Err(cx.err(format!(
            "'conc-list' is {} {}, not a list (the Python original fails with TypeError)",
            other.type_name(),
            show(other)
        ))),
    }
}

fn range_bounds<'a>(cx: &Ctx, conc: &'a ConcSpec) -> Result<(&'a Value, &'a Value), MatrixError> {
    match (&conc.start, &conc.end) {
        (Some(start), Some(end)) => Ok((start, end)),
        (None, _) => {
            Err(cx.err("'conc-start' is missing (the Python original fails with KeyError)"))
        }
        (_, None) => Err(cx.err("'conc-end' is missing (the Python original fails with KeyError)")),
    }
}

/// The original's geometric range: `c = start; while c <= end: emit c;
/// stop at end; c *= step; clamp to end`. The first value is the start as
/// written, later ones are computed (so `4.0` gives `4.0, 8.0, ...`).
///
/// The original never stops when `start < end` and either the step is below
/// 2 or the start is not positive; that is an error here.
pub(crate) fn expand_range(
    cx: &Origin,
    start: &Value,
    end: &Value,
    step: &Value,
) -> Result<Vec<Value>, MatrixError> {
    let py = cx.py("conc");
    // Short-circuits like the original: with start == end nothing else is compared.
    let never_ends = pyops::lt(start, end).map_err(&py)?
        && !(pyops::ge(step, &Value::Int(2)).map_err(&py)?
            && pyops::gt(start, &Value::Int(0)).map_err(&py)?);
    if never_ends {
        return Err(cx.err(format!(
            "the concurrency range {} to {} with step size {} never ends (the Python original loops \
             forever): the step size must be at least 2 and 'conc-start' at least 1",
            show(start),
            show(end),
            show(step)
        )));
    }
    let mut values = Vec::new();
    let mut c = start.clone();
    while pyops::le(&c, end).map_err(&py)? {
        values.push(c.clone());
        if pyops::eq(&c, end) {
            break;
        }
        c = pyops::mul(&c, step).map_err(&py)?;
        if pyops::gt(&c, end).map_err(&py)? {
            c = end.clone();
        }
    }
    Ok(values)
}

/// `seq_len_to_str`: `1k1k`, `1k8k`, `8k1k`, else `{isl}_{osl}`.
fn seq_len_name(isl: &Value, osl: &Value) -> String {
    SeqLen::ALL
        .into_iter()
        .find(|s| {
            let (i, o) = s.lengths();
            pyops::eq(isl, &Value::Int(i)) && pyops::eq(osl, &Value::Int(o))
        })
        .map(|s| s.name().to_owned())
        .unwrap_or_else(|| format!("{}_{}", pyops::to_str(isl), pyops::to_str(osl)))
}

fn head(entry: &ConfigEntry, runner: &str, isl: Value, osl: Value) -> Dict {
    let mut d = Dict::new();
    d.insert("image", entry.image.clone().into());
    d.insert("model", entry.model.clone().into());
    d.insert("model-prefix", entry.model_prefix.clone().into());
    d.insert("precision", entry.precision.clone().into());
    d.insert("framework", entry.framework.clone().into());
    d.insert("runner", runner.into());
    d.insert("isl", isl);
    d.insert("osl", osl);
    d
}

fn finish(cx: &Ctx, mut d: Dict, exp_name: String, multinode: bool) -> Result<Dict, MatrixError> {
    d.insert("exp-name", exp_name.into());
    d.insert("disagg", cx.entry.disagg.clone());
    d.insert("run-eval", Value::Bool(false));
    let issues = check_matrix_entry(&d, multinode);
    if !issues.is_empty() {
        return Err(cx.err(format!(
            "the generated matrix entry failed validation: {}",
            issues.join("; ")
        )));
    }
    Ok(d)
}

fn max_model_len(cx: &Ctx, seq: &SeqLenConfig) -> Result<Value, MatrixError> {
    let py = cx.py("isl/osl");
    pyops::add(
        &pyops::add(&seq.isl, &seq.osl).map_err(&py)?,
        &Value::Int(200),
    )
    .map_err(&py)
}

/// Layout SN-A (full-sweep and test-config single-node).
#[allow(clippy::too_many_arguments)] // mirrors the original's flat dict literal
fn single_node_entry_a(
    cx: &Ctx,
    seq: &SeqLenConfig,
    tp: &Value,
    conc: Value,
    ep: Option<Value>,
    dp_attn: Option<Value>,
    spec_decoding: &Value,
    runner: &str,
) -> Result<Dict, MatrixError> {
    let mut d = head(cx.entry, runner, seq.isl.clone(), seq.osl.clone());
    d.insert("tp", tp.clone());
    d.insert("conc", conc);
    d.insert("max-model-len", max_model_len(cx, seq)?);
    d.insert("ep", ep.unwrap_or(Value::Int(1)));
    d.insert("dp-attn", dp_attn.unwrap_or(Value::Bool(false)));
    d.insert("spec-decoding", spec_decoding.clone());
    let name = format!(
        "{}_{}",
        cx.entry.model_prefix,
        seq_len_name(&seq.isl, &seq.osl)
    );
    finish(cx, d, name, false)
}

/// Layout MN (all multi-node entries).
fn multi_node_entry(
    cx: &Ctx,
    seq: &SeqLenConfig,
    bmk: &SearchSpace,
    runner: &str,
    conc: Value,
    prefill: Value,
    decode: Value,
) -> Result<Dict, MatrixError> {
    let mut d = head(cx.entry, runner, seq.isl.clone(), seq.osl.clone());
    d.insert("spec-decoding", bmk.spec_decoding().clone());
    d.insert("prefill", prefill);
    d.insert("decode", decode);
    d.insert("conc", conc);
    d.insert("max-model-len", max_model_len(cx, seq)?);
    let name = format!(
        "{}_{}",
        cx.entry.model_prefix,
        seq_len_name(&seq.isl, &seq.osl)
    );
    finish(cx, d, name, true)
}

/// `generate_runner_model_sweep_config`: every config of one runner type on
/// every node of that type, at 1k1k with one concurrency.
pub fn runner_model_sweep(
    configs: &MasterConfigs,
    runners: &RunnerConfig,
    opts: &RunnerModelSweepOptions,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    let unknown = || MatrixError::UnknownRunner {
        runner: opts.runner_type.clone(),
        path: runners.path.clone(),
        valid: runners.types().map(str::to_owned).collect(),
    };
    let mut nodes: Vec<String> = runners
        .nodes(&opts.runner_type)
        .ok_or_else(unknown)?
        .to_vec();
    if let Some(filter) = non_empty(&opts.runner_node_filter) {
        nodes.retain(|n| n.contains(filter));
        if nodes.is_empty() {
            return Err(MatrixError::NoMatchingNodes {
                filter: filter.to_owned(),
                runner: opts.runner_type.clone(),
            });
        }
    }
    let one_k = Value::Int(1024);
    let mut matrix = Vec::new();
    for entry in &configs.entries {
        let cx = Ctx { entry };
        if entry.runner != opts.runner_type
            || !matches_filters(entry, &opts.model_prefix, &opts.precision, &opts.framework)
            || (opts.node_type == NodeType::SingleNode && entry.multinode)
            || (opts.node_type == NodeType::MultiNode && !entry.multinode)
        {
            continue;
        }
        let Some(target) = entry
            .seq_len_configs
            .iter()
            .find(|s| pyops::eq(&s.isl, &one_k) && pyops::eq(&s.osl, &one_k))
        else {
            continue;
        };
        let exp_name = format!("{}_test", entry.model_prefix);
        if entry.multinode {
            let lowest = lowest_conc_entry(&cx, &target.search_space)?;
            let SearchSpace::MultiNode(mn) = lowest else {
                continue;
            };
            let conc = match opts.conc {
                Some(c) => Value::Int(c.into()),
                None => match &mn.conc.list {
                    Some(Value::List(list)) if !list.is_empty() => first_min(&cx, list)?.clone(),
                    _ => mn.conc.start.clone().unwrap_or(Value::Int(1)),
                },
            };
            let prefill = rebuilt_worker(&cx, &mn.prefill, "prefill")?;
            let decode = rebuilt_worker(&cx, &mn.decode, "decode")?;
            for node in &nodes {
                let mut d = head(entry, node, one_k.clone(), one_k.clone());
                d.insert("spec-decoding", mn.spec_decoding.clone());
                d.insert("prefill", prefill.clone());
                d.insert("decode", decode.clone());
                d.insert("conc", Value::List(vec![conc.clone()]));
                d.insert("max-model-len", Value::Int(2048));
                matrix.push(finish(&cx, d, exp_name.clone(), true)?);
            }
        } else {
            let mut highest: Option<&crate::config::SingleNodeSearch> = None;
            for bmk in &target.search_space {
                if let SearchSpace::SingleNode(sn) = bmk {
                    highest = match highest {
                        Some(h) if !pyops::gt(&sn.tp, &h.tp).map_err(cx.py("tp"))? => Some(h),
                        _ => Some(sn),
                    };
                }
            }
            let Some(sn) = highest else {
                return Err(cx.err(
                    "the 1k1k 'search-space' is empty (the Python original fails with ValueError)",
                ));
            };
            let conc = match opts.conc {
                Some(c) => Value::Int(c.into()),
                // `bmk.get('conc-start') or min(bmk.get('conc-list', [1]))`
                None => match &sn.conc.start {
                    Some(start) if start.is_truthy() => start.clone(),
                    _ => match &sn.conc.list {
                        None => Value::Int(1),
                        Some(Value::List(list)) if !list.is_empty() => first_min(&cx, list)?.clone(),
                        Some(other) => {
                            return Err(cx.err(format!(
                                "'conc-start' is falsy and 'conc-list' is {}, so no concurrency can be \
                                 chosen (the Python original fails in min())",
                                show(other)
                            )))
                        }
                    },
                },
            };
            for node in &nodes {
                let mut d = head(entry, node, one_k.clone(), one_k.clone());
                d.insert("tp", sn.tp.clone());
                d.insert("ep", sn.ep.clone().unwrap_or(Value::Int(1)));
                d.insert("dp-attn", sn.dp_attn.clone().unwrap_or(Value::Bool(false)));
                d.insert("spec-decoding", sn.spec_decoding.clone());
                d.insert("conc", conc.clone());
                d.insert("max-model-len", Value::Int(2048));
                matrix.push(finish(&cx, d, exp_name.clone(), false)?);
            }
        }
    }
    Ok(matrix)
}

fn first_min<'a>(cx: &Ctx, list: &'a [Value]) -> Result<&'a Value, MatrixError> {
    pyops::min(list)
        .map_err(cx.py("conc-list"))?
        .ok_or_else(|| cx.err("'conc-list' is empty"))
}

/// The entry whose `min(conc-list)` is smallest (entries without a list
/// rank last; the first wins ties).
fn lowest_conc_entry<'a>(
    cx: &Ctx,
    search_space: &'a [SearchSpace],
) -> Result<&'a SearchSpace, MatrixError> {
    let mut best: Option<(&SearchSpace, Option<&Value>)> = None;
    for bmk in search_space {
        let lowest = match &bmk.conc().list {
            Some(Value::List(list)) if !list.is_empty() => Some(first_min(cx, list)?),
            _ => None,
        };
        let better = match (&best, lowest) {
            (None, _) => true,
            (Some((_, None)), Some(_)) => true,
            (Some((_, Some(b))), Some(l)) => pyops::lt(l, b).map_err(cx.py("conc-list"))?,
            (Some(_), None) => false,
        };
        if better {
            best = Some((bmk, lowest));
        }
    }
    best.map(|(b, _)| b).ok_or_else(|| {
        cx.err("the 1k1k 'search-space' is empty (the Python original fails with ValueError)")
    })
}

/// `{num-worker, tp, ep, dp-attn, additional-settings}` in that order;
/// `additional-settings` defaults to `[]`, an explicit null stays null.
fn rebuilt_worker(cx: &Ctx, block: &Dict, name: &str) -> Result<Value, MatrixError> {
    let mut d = Dict::new();
    for key in ["num-worker", "tp", "ep", "dp-attn"] {
        let v = block.get(key).ok_or_else(|| {
            cx.err(format!(
                "{name}.{key} is missing (the Python original fails with KeyError)"
            ))
        })?;
        d.insert(key, v.clone());
    }
    d.insert(
        "additional-settings",
        block
            .get("additional-settings")
            .cloned()
            .unwrap_or(Value::List(Vec::new())),
    );
    Ok(Value::Dict(d))
}

/// `generate_test_config_sweep`: the named configs, fully expanded (step 2),
/// optionally restricted to some concurrencies.
pub fn test_config(
    configs: &MasterConfigs,
    opts: &TestConfigOptions,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    let missing: Vec<String> = opts
        .config_keys
        .iter()
        .filter(|k| configs.get(k).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        let mut available: Vec<String> = configs.entries.iter().map(|e| e.key.clone()).collect();
        available.sort();
        return Err(MatrixError::UnknownConfigKeys { missing, available });
    }
    let wanted: Vec<Value> = opts.conc.iter().map(|c| Value::Int((*c).into())).collect();
    let step = Value::Int(2);
    let mut matrix = Vec::new();
    for key in &opts.config_keys {
        let Some(entry) = configs.get(key) else {
            continue;
        };
        let cx = Ctx { entry };
        for seq in &entry.seq_len_configs {
            for bmk in &seq.search_space {
                let conc = bmk.conc();
                let mut values = match &conc.list {
                    Some(list) => list_items(&cx, list)?,
                    None => {
                        let (start, end) = range_bounds(&cx, conc)?;
                        expand_range(&cx.origin(), start, end, &step)?
                    }
                };
                if !wanted.is_empty() {
                    values.retain(|v| wanted.iter().any(|w| pyops::eq(v, w)));
                    if values.is_empty() {
                        continue;
                    }
                }
                match bmk {
                    SearchSpace::MultiNode(mn) => {
                        let e = multi_node_entry(
                            &cx,
                            seq,
                            bmk,
                            &entry.runner,
                            Value::List(values),
                            mn.prefill.clone().into(),
                            mn.decode.clone().into(),
                        )?;
                        matrix.push(e);
                    }
                    SearchSpace::SingleNode(sn) => {
                        for conc in values {
                            let e = single_node_entry_a(
                                &cx,
                                seq,
                                &sn.tp,
                                conc,
                                sn.ep.clone(),
                                sn.dp_attn.clone(),
                                &sn.spec_decoding,
                                &entry.runner,
                            )?;
                            matrix.push(e);
                        }
                    }
                }
            }
        }
    }
    Ok(matrix)
}

/// `mark_eval_entries`, then for `EvalsOnly` the filter to marked entries.
///
/// Among single-node 1k8k entries grouped by (model, runner, framework,
/// precision, isl, osl, spec-decoding, dp-attn), marks the highest-conc
/// entries of the highest tp and, when different, of the lowest tp; every
/// entry's `run-eval` becomes whether it was marked.
pub fn apply_evals(
    matrix: Vec<MatrixEntry>,
    mode: EvalMode,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    if mode == EvalMode::Off {
        return Ok(matrix);
    }
    let py = |e: PyjsonError| MatrixError::Generation {
        path: Default::default(),
        key: "eval marking".to_owned(),
        message: e.to_string(),
    };
    const GROUP_KEYS: [&str; 8] = [
        "model",
        "runner",
        "framework",
        "precision",
        "isl",
        "osl",
        "spec-decoding",
        "dp-attn",
    ];
    let field = |e: &Dict, k: &str| e.get(k).cloned().unwrap_or(Value::Null);
    let mut groups: Vec<(Vec<Value>, Vec<usize>)> = Vec::new();
    for (i, e) in matrix.iter().enumerate() {
        if !e.contains_key("tp")
            || !pyops::eq(&field(e, "isl"), &Value::Int(1024))
            || !pyops::eq(&field(e, "osl"), &Value::Int(8192))
        {
            continue;
        }
        let key: Vec<Value> = GROUP_KEYS.iter().map(|k| field(e, k)).collect();
        match groups
            .iter_mut()
            .find(|(k, _)| k.iter().zip(&key).all(|(a, b)| pyops::eq(a, b)))
        {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    let mut marked = vec![false; matrix.len()];
    for (_, members) in &groups {
        let tps: Vec<Value> = members.iter().map(|&i| field(&matrix[i], "tp")).collect();
        let (Some(min_tp), Some(max_tp)) =
            (pyops::min(&tps).map_err(py)?, pyops::max(&tps).map_err(py)?)
        else {
            continue;
        };
        let mut mark_top_conc = |tp: &Value| -> Result<(), MatrixError> {
            let at_tp: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| pyops::eq(&field(&matrix[i], "tp"), tp))
                .collect();
            let concs: Vec<Value> = at_tp.iter().map(|&i| field(&matrix[i], "conc")).collect();
            if let Some(top) = pyops::max(&concs).map_err(py)? {
                for (&i, c) in at_tp.iter().zip(&concs) {
                    if pyops::eq(c, top) {
                        marked[i] = true;
                    }
                }
            }
            Ok(())
        };
        mark_top_conc(max_tp)?;
        if !pyops::eq(min_tp, max_tp) {
            mark_top_conc(min_tp)?;
        }
    }
    let mut out = Vec::with_capacity(matrix.len());
    for (mut e, mark) in matrix.into_iter().zip(marked) {
        e.insert("run-eval", Value::Bool(mark));
        if mode == EvalMode::RunEvals || mark {
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::merge_master_documents;
    use servebench_yaml::parse as parse_yaml;
    use std::path::{Path, PathBuf};

    const CONFIGS: &str = r#"
llama-fp8-h100-vllm:
  image: vllm:1
  model: org/llama
  model-prefix: llama
  precision: fp8
  framework: vllm
  runner: h100
  multinode: false
  seq-len-configs:
  - isl: 1024
    osl: 1024
    search-space:
    - { tp: 2, conc-start: 4, conc-end: 64 }
    - { tp: 8, ep: 8, dp-attn: true, conc-start: 1, conc-end: 9 }
  - isl: 1024
    osl: 8192
    search-space:
    - { tp: 2, conc-start: 4, conc-end: 16 }
    - { tp: 4, conc-start: 4, conc-end: 32 }
    - { tp: 8, conc-start: 4, conc-end: 8 }
    - { tp: 8, spec-decoding: mtp, conc-start: 2, conc-end: 4 }
llama-fp4-h200-sglang:
  image: sglang:1
  model: org/llama
  model-prefix: llama
  precision: fp4
  framework: sglang
  runner: h200
  multinode: false
  disagg: yes
  seq-len-configs:
  - isl: 8192.0
    osl: 1024
    search-space:
    - { tp: 4.0, conc-start: 4.0, conc-end: 16 }
  - isl: 2048
    osl: 512
    search-space:
    - { tp: 1, conc-list: [8, 2] }
big-fp4-gb200-dynamo:
  image: dyn:1
  model: org/big
  model-prefix: big
  precision: fp4
  framework: dynamo-trt
  runner: gb200
  multinode: true
  seq-len-configs:
  - isl: 1024
    osl: 1024
    search-space:
    - conc-list: [64, 16, 256]
      prefill: { num-worker: 2, tp: 4, ep: 4, dp-attn: false }
      decode: { num-worker: 1, tp: 8, ep: 8, dp-attn: true, additional-settings: ["X=1"] }
    - spec-decoding: mtp
      conc-start: 8
      conc-end: 32
      prefill: { tp: 4, num-worker: 1, ep: 4, dp-attn: false }
      decode: { num-worker: 1, tp: 8, ep: 8, dp-attn: true }
"#;

    const RUNNERS: &str =
        "h100:\n- h100-nv_0\n- h100-amd_1\n- h100-nv_2\nh200:\n- h200-nv_0\ngb200:\n- gb200-nv_0\n";

    fn fixtures() -> (MasterConfigs, RunnerConfig) {
        let configs = merge_master_documents(vec![(
            PathBuf::from("t.yaml"),
            parse_yaml(CONFIGS).unwrap(),
        )])
        .unwrap();
        let runners =
            RunnerConfig::from_document(Path::new("r.yaml"), parse_yaml(RUNNERS).unwrap()).unwrap();
        (configs, runners)
    }

    /// `field=value` per entry, JSON-spelled values, for compact assertions.
    fn column(matrix: &[MatrixEntry], field: &str) -> Vec<String> {
        matrix
            .iter()
            .map(|e| servebench_pyjson::to_string(e.get(field).unwrap_or(&Value::Null)))
            .collect()
    }

    fn sn(f: impl FnOnce(&mut FullSweepOptions)) -> Vec<MatrixEntry> {
        let (configs, runners) = fixtures();
        let mut opts = FullSweepOptions::new(NodeType::SingleNode);
        f(&mut opts);
        full_sweep(&configs, &runners, &opts).unwrap()
    }

    #[track_caller]
    fn check_range(start: Value, end: Value, step: i128, want: &str) {
        let (configs, _) = fixtures();
        let cx = Ctx {
            entry: &configs.entries[0],
        };
        let got = expand_range(&cx.origin(), &start, &end, &Value::Int(step))
            .map(|v| servebench_pyjson::to_string(&Value::List(v)))
            .unwrap_or_else(|e| format!("error: {e}"));
        assert!(
            got.starts_with(want),
            "{start:?}..{end:?} step {step}: {got}"
        );
    }

    #[test]
    fn range_expansion() {
        use Value::{Float, Int};
        check_range(Int(4), Int(64), 2, "[4, 8, 16, 32, 64]");
        check_range(Int(1), Int(9), 2, "[1, 2, 4, 8, 9]");
        check_range(Int(4), Int(64), 3, "[4, 12, 36, 64]");
        check_range(Int(16), Int(16), 1, "[16]");
        check_range(Int(0), Int(0), 2, "[0]");
        check_range(Float(4.0), Int(16), 2, "[4.0, 8.0, 16.0]");
        check_range(Int(4), Float(10.0), 2, "[4, 8, 10.0]");
        check_range(Value::Bool(true), Int(4), 2, "[true, 2, 4]");
        check_range(Int(4), Int(64), 1, "error: t.yaml: config 'llama-fp8-h100-vllm': the concurrency range 4 to 64 with step size 1 never ends");
        check_range(Int(0), Int(4), 2, "error:");
        check_range(Int(-2), Int(4), 2, "error:");
        check_range(Int(4), Int(64), -2, "error:");
        check_range(
            Value::from("4"),
            Int(64),
            2,
            "error: t.yaml: config 'llama-fp8-h100-vllm': conc: cannot compare str '4' with int 64",
        );
        check_range(Value::from("4"), Value::from("4"), 2, r#"["4"]"#);
    }

    #[test]
    fn single_node_layout_and_values() {
        let m = sn(|o| {
            o.model_prefix = vec!["llama-fp4".into()];
            o.seq_lens = vec![SeqLen::EightKOneK];
        });
        let keys: Vec<&str> = m[0].keys().collect();
        assert_eq!(
            keys,
            [
                "image",
                "model",
                "model-prefix",
                "precision",
                "framework",
                "runner",
                "isl",
                "osl",
                "tp",
                "conc",
                "max-model-len",
                "ep",
                "dp-attn",
                "spec-decoding",
                "exp-name",
                "disagg",
                "run-eval"
            ]
        );
        // Raw YAML values are copied; arithmetic follows Python.
        assert_eq!(column(&m, "conc"), ["4.0", "8.0", "16.0"]);
        assert_eq!(column(&m, "isl"), ["8192.0"; 3]);
        assert_eq!(column(&m, "tp"), ["4.0"; 3]);
        assert_eq!(column(&m, "max-model-len"), ["9416.0"; 3]);
        assert_eq!(column(&m, "exp-name"), [r#""llama_8k1k""#; 3]);
        assert_eq!(column(&m, "disagg"), ["true"; 3]);
        assert_eq!(column(&m, "ep"), ["1"; 3]);
        assert_eq!(column(&m, "dp-attn"), ["false"; 3]);
    }

    #[test]
    fn single_node_conc_list_cannot_be_full_swept() {
        let (configs, runners) = fixtures();
        let err = full_sweep(
            &configs,
            &runners,
            &FullSweepOptions::new(NodeType::SingleNode),
        )
        .unwrap_err();
        assert!(err.to_string().contains("'llama-fp4-h200-sglang'"), "{err}");
        assert!(err.to_string().contains("KeyError: 'conc-start'"), "{err}");
    }

    #[test]
    fn full_sweep_filters() {
        let h100 = |f: fn(&mut FullSweepOptions)| {
            sn(|o| {
                o.runner_type = vec!["h100".into()];
                f(o)
            })
        };
        assert_eq!(h100(|_| {}).len(), 5 + 5 + 3 + 4 + 2 + 2);
        // The model-prefix filter matches the config key, not the field.
        assert_eq!(sn(|o| o.model_prefix = vec!["llama-fp8".into()]).len(), 21);
        assert_eq!(
            sn(|o| {
                o.precision = vec!["fp8".into()];
                o.seq_lens = vec![SeqLen::OneKOneK]
            })
            .len(),
            10
        );
        assert_eq!(h100(|o| o.framework = vec!["sglang".into()]).len(), 0);
        assert_eq!(h100(|o| o.seq_lens = vec![SeqLen::EightKOneK]).len(), 0);
        let m = h100(|o| o.max_tp = Some(4));
        assert_eq!(column(&m, "tp").iter().filter(|t| *t == "8").count(), 0);
        assert!(h100(|o| o.max_tp = Some(0)).is_empty());
        let m = h100(|o| {
            o.max_ep = Some(2);
            o.seq_lens = vec![SeqLen::OneKOneK]
        });
        assert_eq!(
            column(&m, "ep"),
            ["1", "1", "1", "1", "1", "2", "2", "2", "2", "2"]
        );
        let m = h100(|o| {
            o.min_conc = Some(32);
            o.seq_lens = vec![SeqLen::OneKOneK]
        });
        assert_eq!(column(&m, "conc"), ["32", "64"]);
        let m = h100(|o| {
            o.max_conc = Some(2);
            o.seq_lens = vec![SeqLen::OneKOneK]
        });
        assert_eq!(
            column(&m, "conc"),
            ["2", "1", "2"],
            "below every value: that value itself"
        );
        let m = h100(|o| {
            o.min_conc = Some(128);
            o.max_conc = Some(16);
            o.seq_lens = vec![SeqLen::OneKOneK]
        });
        assert_eq!(column(&m, "conc"), [] as [&str; 0], "min-conc skips first");
        let m = h100(|o| {
            o.min_conc = Some(8);
            o.max_conc = Some(4);
            o.seq_lens = vec![SeqLen::OneKOneK]
        });
        assert_eq!(column(&m, "conc"), ["4", "4"]);
        let m = h100(|o| {
            o.step_size = 4;
            o.seq_lens = vec![SeqLen::OneKOneK]
        });
        assert_eq!(column(&m, "conc"), ["4", "16", "64", "1", "4", "9"]);
        assert!(h100(|o| o.min_conc = Some(0)).is_empty());
        assert!(h100(|o| o.min_conc = Some(-1)).is_empty());
        assert!(h100(|o| o.max_conc = Some(0)).is_empty());
        assert!(h100(|o| o.max_ep = Some(-3)).is_empty());
    }

    #[test]
    fn node_filter_expands_entries_per_node() {
        let m = sn(|o| {
            o.runner_type = vec!["h100".into()];
            o.seq_lens = vec![SeqLen::OneKOneK];
            o.max_conc = Some(1);
            o.runner_node_filter = Some("nv".into());
        });
        assert_eq!(
            column(&m, "runner"),
            [
                r#""h100-nv_0""#,
                r#""h100-nv_2""#,
                r#""h100-nv_0""#,
                r#""h100-nv_2""#
            ]
        );
        let none = sn(|o| {
            o.runner_type = vec!["h100".into()];
            o.runner_node_filter = Some("zz".into());
        });
        assert!(none.is_empty());
        let empty_filter = sn(|o| {
            o.runner_type = vec!["h100".into()];
            o.runner_node_filter = Some(String::new());
        });
        assert_eq!(
            column(&empty_filter, "runner")[0],
            r#""h100""#,
            "an empty filter is no filter"
        );
    }

    #[test]
    fn invalid_runner_types_are_rejected_first() {
        let (configs, runners) = fixtures();
        let mut opts = FullSweepOptions::new(NodeType::SingleNode);
        opts.runner_type = vec!["tpu".into(), "h100".into(), "abc".into()];
        let err = full_sweep(&configs, &runners, &opts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Invalid runner type(s): {'abc', 'tpu'}. Valid runner types are: gb200, h100, h200"
        );
    }

    #[test]
    fn multi_node_full_sweep() {
        let (configs, runners) = fixtures();
        let mut opts = FullSweepOptions::new(NodeType::MultiNode);
        let m = full_sweep(&configs, &runners, &opts).unwrap();
        let keys: Vec<&str> = m[0].keys().collect();
        assert_eq!(
            keys,
            [
                "image",
                "model",
                "model-prefix",
                "precision",
                "framework",
                "runner",
                "isl",
                "osl",
                "spec-decoding",
                "prefill",
                "decode",
                "conc",
                "max-model-len",
                "exp-name",
                "disagg",
                "run-eval"
            ]
        );
        assert_eq!(column(&m, "conc"), ["[64, 16, 256]", "[8, 16, 32]"]);
        // Worker blocks are copied as written: key order kept, nothing added.
        assert_eq!(
            column(&m, "prefill")[1],
            r#"{"tp": 4, "num-worker": 1, "ep": 4, "dp-attn": false}"#
        );
        opts.max_conc = Some(4);
        opts.max_tp = Some(1);
        let m = full_sweep(&configs, &runners, &opts).unwrap();
        assert_eq!(
            column(&m, "conc"),
            ["[4]", "[4]"],
            "max-tp does not apply; max-conc below all gives itself"
        );
        opts.max_conc = None;
        opts.min_conc = Some(20);
        let m = full_sweep(&configs, &runners, &opts).unwrap();
        assert_eq!(column(&m, "conc"), ["[64, 256]", "[32]"]);
        opts.min_conc = Some(0);
        assert!(full_sweep(&configs, &runners, &opts).unwrap().is_empty());
    }

    fn rms(
        node_type: NodeType,
        runner: &str,
        f: impl FnOnce(&mut RunnerModelSweepOptions),
    ) -> Result<Vec<MatrixEntry>, MatrixError> {
        let (configs, runners) = fixtures();
        let mut opts = RunnerModelSweepOptions {
            runner_type: runner.into(),
            model_prefix: vec![],
            precision: vec![],
            framework: vec![],
            conc: None,
            node_type,
            runner_node_filter: None,
        };
        f(&mut opts);
        runner_model_sweep(&configs, &runners, &opts)
    }

    #[test]
    fn runner_model_sweep_single_node() {
        let m = rms(NodeType::SingleNode, "h100", |_| {}).unwrap();
        let keys: Vec<&str> = m[0].keys().collect();
        assert_eq!(
            keys,
            [
                "image",
                "model",
                "model-prefix",
                "precision",
                "framework",
                "runner",
                "isl",
                "osl",
                "tp",
                "ep",
                "dp-attn",
                "spec-decoding",
                "conc",
                "max-model-len",
                "exp-name",
                "disagg",
                "run-eval"
            ]
        );
        assert_eq!(
            column(&m, "runner"),
            [r#""h100-nv_0""#, r#""h100-amd_1""#, r#""h100-nv_2""#]
        );
        assert_eq!(column(&m, "tp"), ["8"; 3], "the largest tp");
        assert_eq!(column(&m, "conc"), ["1"; 3], "its conc-start");
        assert_eq!(column(&m, "exp-name"), [r#""llama_test""#; 3]);
        assert_eq!(column(&m, "max-model-len"), ["2048"; 3]);
        let m = rms(NodeType::SingleNode, "h100", |o| {
            o.conc = Some(0);
            o.runner_node_filter = Some("amd".into())
        })
        .unwrap();
        assert_eq!(
            (column(&m, "conc"), column(&m, "runner")),
            (vec!["0".to_owned()], vec![r#""h100-amd_1""#.to_owned()])
        );
        // No 1k1k seq-len config: skipped.
        assert!(rms(NodeType::SingleNode, "h200", |_| {})
            .unwrap()
            .is_empty());
        assert!(rms(NodeType::MultiNode, "h100", |_| {}).unwrap().is_empty());
        let err = rms(NodeType::SingleNode, "tpu", |_| {})
            .unwrap_err()
            .to_string();
        assert_eq!(err, "Runner 'tpu' does not exist in runner config 'r.yaml'. Must choose from existing runner types: 'h100, h200, gb200'.");
        let err = rms(NodeType::SingleNode, "h100", |o| {
            o.runner_node_filter = Some("zz".into())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "No runner nodes found matching filter 'zz' for runner type 'h100'."
        );
    }

    #[test]
    fn runner_model_sweep_multi_node() {
        let m = rms(NodeType::MultiNode, "gb200", |_| {}).unwrap();
        assert_eq!(
            column(&m, "conc"),
            ["[16]"],
            "the smallest conc-list minimum"
        );
        assert_eq!(column(&m, "spec-decoding"), [r#""none""#]);
        assert_eq!(
            column(&m, "prefill"),
            [r#"{"num-worker": 2, "tp": 4, "ep": 4, "dp-attn": false, "additional-settings": []}"#]
        );
        assert_eq!(
            column(&m, "decode"),
            [
                r#"{"num-worker": 1, "tp": 8, "ep": 8, "dp-attn": true, "additional-settings": ["X=1"]}"#
            ]
        );
        let m = rms(NodeType::MultiNode, "gb200", |o| o.conc = Some(3)).unwrap();
        assert_eq!(column(&m, "conc"), ["[3]"]);
    }

    fn tc(keys: &[&str], conc: &[i64]) -> Result<Vec<MatrixEntry>, MatrixError> {
        let (configs, _) = fixtures();
        test_config(
            &configs,
            &TestConfigOptions {
                config_keys: keys.iter().map(|k| k.to_string()).collect(),
                conc: conc.to_vec(),
            },
        )
    }

    #[test]
    fn test_config_expansion() {
        let m = tc(&["llama-fp4-h200-sglang"], &[]).unwrap();
        assert_eq!(
            column(&m, "conc"),
            ["4.0", "8.0", "16.0", "8", "2"],
            "conc-list works here, order kept"
        );
        assert_eq!(column(&m, "exp-name")[3], r#""llama_2048_512""#);
        let m = tc(&["llama-fp4-h200-sglang"], &[2, 16]).unwrap();
        assert_eq!(column(&m, "conc"), ["16.0", "2"], "16.0 == 16");
        let m = tc(&["big-fp4-gb200-dynamo", "big-fp4-gb200-dynamo"], &[16, 32]).unwrap();
        assert_eq!(
            column(&m, "conc"),
            ["[16]", "[16, 32]", "[16]", "[16, 32]"],
            "a repeated key expands twice"
        );
        let err = tc(&["zz", "llama-fp4-h200-sglang", "aa"], &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Config key(s) not found: zz, aa. Available keys: big-fp4-gb200-dynamo, llama-fp4-h200-sglang, llama-fp8-h100-vllm"
        );
    }

    #[test]
    fn eval_marking() {
        let m = tc(&["llama-fp8-h100-vllm", "big-fp4-gb200-dynamo"], &[]).unwrap();
        let marked = |m: &[MatrixEntry]| -> Vec<String> {
            m.iter()
                .filter(|e| e.get("run-eval") == Some(&Value::Bool(true)))
                .map(|e| {
                    format!(
                        "tp{}-c{}-{}",
                        column(std::slice::from_ref(e), "tp")[0],
                        column(std::slice::from_ref(e), "conc")[0],
                        e.get("spec-decoding").and_then(Value::as_str).unwrap_or("")
                    )
                })
                .collect()
        };
        let all = apply_evals(m.clone(), EvalMode::RunEvals).unwrap();
        assert_eq!(all.len(), m.len());
        // Group (none): tp 2/4/8 → highest tp's top conc and lowest tp's top
        // conc; group (mtp) has a single tp.
        assert_eq!(marked(&all), ["tp2-c16-none", "tp8-c8-none", "tp8-c4-mtp"]);
        let only = apply_evals(m, EvalMode::EvalsOnly).unwrap();
        assert_eq!(marked(&only).len(), only.len());
        assert_eq!(only.len(), 3);
        let mn = tc(&["big-fp4-gb200-dynamo"], &[]).unwrap();
        assert!(
            apply_evals(mn, EvalMode::EvalsOnly).unwrap().is_empty(),
            "multi-node entries are never marked"
        );
    }
}
