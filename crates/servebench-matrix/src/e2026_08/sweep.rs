//! The 2026-08 generators: `generate_full_sweep` and
//! `generate_test_config_sweep` over the `scenarios` schema (fixed
//! sequence lengths and agentic coding). The concurrency arithmetic (range
//! expansion, `--min-conc`/`--max-conc`) is the engine shared with 2026-02.

use super::schema::{Config, MasterConfigs, RunnerFile};
use super::{FullSweepOptions, ScenarioType, SeqLen, TestConfigOptions};
use crate::generate::{clamp_conc_list, expand_range, limit_conc_range, retain, Origin};
use crate::{MatrixEntry, MatrixError};
use servebench_pyjson::{self as pyops, show, Dict, Value};

/// `DEFAULT_AGENTIC_DURATION_SECONDS`.
const AGENTIC_DURATION: i64 = 3600;
/// `MAX_AGENTIC_AVAILABLE_CPU_DRAM_MIB`: 3 TB decimal, in MiB.
const MAX_AVAILABLE_CPU_DRAM_MIB: i128 = 2_861_022;
const BYTES_PER_MIB: i128 = 1024 * 1024;
const BYTES_PER_GB: i128 = 1_000_000_000;

/// One config being expanded: where errors point, and its YAML mapping.
struct Cx<'a> {
    cfg: &'a Config,
}

impl<'a> Cx<'a> {
    fn origin(&self) -> Origin<'_> {
        Origin {
            path: &self.cfg.source,
            key: &self.cfg.key,
        }
    }

    fn err(&self, message: impl Into<String>) -> MatrixError {
        self.origin().err(message)
    }

    /// `d[key]`: the original fails with KeyError when it is absent (a
    /// field spelled with underscores passes validation but is not read).
    fn need<'d>(&self, d: &'d Dict, key: &str) -> Result<&'d Value, MatrixError> {
        d.get(key).ok_or_else(|| {
            self.err(format!(
                "'{key}' is missing (validation accepts the underscore spelling, but the \
                 generator reads only '{key}'; the Python original fails with KeyError)"
            ))
        })
    }

    fn need_dict<'d>(&self, d: &'d Dict, key: &str) -> Result<&'d Dict, MatrixError> {
        self.need(d, key)?
            .as_dict()
            .ok_or_else(|| self.err(format!("'{key}' is not a mapping")))
    }

    /// Iterating a value the original iterates: a null list crashes it.
    fn items<'d>(&self, v: &'d Value, what: &str) -> Result<&'d [Value], MatrixError> {
        v.as_list().ok_or_else(|| {
            self.err(format!(
                "'{what}' is {} {}, not a list (the Python original fails with TypeError)",
                v.type_name(),
                show(v)
            ))
        })
    }
}

/// `d.get(key, default)`.
fn get_or(d: &Dict, key: &str, default: Value) -> Value {
    d.get(key).cloned().unwrap_or(default)
}

/// `d.get(key)` with null read as absent.
fn get_some(d: &Dict, key: &str) -> Option<Value> {
    d.get(key).filter(|v| !matches!(v, Value::Null)).cloned()
}

/// The original validates every row it generates against the workflow's
/// input schema (`validate_matrix_entry` with the config's `multinode`,
/// `validate_agentic_matrix_entry`); a failure ends the run.
fn validated(cx: &Cx, row: Dict, multinode: bool) -> Result<Dict, MatrixError> {
    let issues = super::schema::check_row(&row, multinode);
    if issues.is_empty() {
        return Ok(row);
    }
    Err(cx.err(format!(
        "The following parsed matrix entry failed validation:\n{}\n{}",
        servebench_pyjson::to_string(&Value::Dict(row)),
        issues.join("\n")
    )))
}

/// `seq_len_to_str` of 2026-08: `1k1k`, `8k1k`, else `{isl}_{osl}`.
pub(crate) fn seq_len_name(isl: &Value, osl: &Value) -> String {
    SeqLen::ALL
        .into_iter()
        .find(|s| s.matches(isl, osl))
        .map(|s| s.name().to_owned())
        .unwrap_or_else(|| format!("{}_{}", pyops::to_str(isl), pyops::to_str(osl)))
}

/// `with_worker_parallelism_defaults`: `pp`, `dcp-size`, `pcp-size` set to
/// their value or 1 (present keys keep their place).
fn worker_with_defaults(worker: &Dict) -> Value {
    let mut w = worker.clone();
    for key in ["pp", "dcp-size", "pcp-size"] {
        w.insert(key, get_or(worker, key, Value::Int(1)));
    }
    Value::Dict(w)
}

/// `component_metadata`: `router` then `kv-p2p-transfer`, from the entry
/// when it has the key (a null there means none), else from the config.
fn add_components(row: &mut Dict, bmk: &Dict, config: &Dict) {
    for key in ["router", "kv-p2p-transfer"] {
        let value = match bmk.get(key) {
            Some(v) => v.clone(),
            None => get_or(config, key, Value::Null),
        };
        if !matches!(value, Value::Null) {
            row.insert(key, value);
        }
    }
}

/// What every row of a config starts with.
struct Head {
    image: Value,
    model: Value,
    model_prefix: Value,
    precision: Value,
    framework: Value,
    runner: String,
    multinode: bool,
    disagg: Value,
}

impl Head {
    fn of(cx: &Cx) -> Result<Head, MatrixError> {
        let raw = &cx.cfg.raw;
        let runner = cx
            .need(raw, "runner")?
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default();
        Ok(Head {
            image: cx.need(raw, "image")?.clone(),
            model: cx.need(raw, "model")?.clone(),
            model_prefix: cx.need(raw, "model-prefix")?.clone(),
            precision: cx.need(raw, "precision")?.clone(),
            framework: cx.need(raw, "framework")?.clone(),
            runner,
            multinode: raw.get("multinode").is_some_and(Value::is_truthy),
            disagg: get_or(raw, "disagg", Value::Bool(false)),
        })
    }

    fn prefix(&self) -> String {
        pyops::to_str(&self.model_prefix)
    }

    fn start(&self, runner: &str) -> Dict {
        let mut d = Dict::new();
        d.insert("image", self.image.clone());
        d.insert("model", self.model.clone());
        d.insert("model-prefix", self.model_prefix.clone());
        d.insert("precision", self.precision.clone());
        d.insert("framework", self.framework.clone());
        d.insert("runner", runner.into());
        d
    }
}

/// The concurrency values of a search-space entry as full-sweep and the
/// agentic generators read them: a truthy `conc-list`, else the range.
fn conc_values(cx: &Cx, bmk: &Dict, step: &Value) -> Result<Vec<Value>, MatrixError> {
    match bmk.get("conc-list") {
        Some(list) if list.is_truthy() => Ok(cx.items(list, "conc-list")?.to_vec()),
        _ => {
            let start = cx.need(bmk, "conc-start")?;
            let end = cx.need(bmk, "conc-end")?;
            expand_range(&cx.origin(), start, end, step)
        }
    }
}

fn scenario_list<'d>(
    scenarios: &'d Dict,
    key: &str,
    wanted: &[ScenarioType],
    this: ScenarioType,
) -> Option<&'d Value> {
    if wanted.is_empty() || wanted.contains(&this) {
        scenarios.get(key)
    } else {
        None
    }
}

fn seq_len_selected(filter: &[SeqLen], isl: &Value, osl: &Value) -> bool {
    filter.is_empty() || filter.iter().any(|s| s.matches(isl, osl))
}

/// `generate_full_sweep` of 2026-08.
pub(crate) fn full_sweep(
    configs: &MasterConfigs,
    runners: &RunnerFile,
    opts: &FullSweepOptions,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    crate::generate::check_runner_types(
        &opts.runner_type,
        |t| runners.nodes(t).is_some(),
        runners.label_names(),
    )?;
    let (single_node, multi_node) = if !opts.single_node && !opts.multi_node {
        (true, true)
    } else {
        (opts.single_node, opts.multi_node)
    };
    let step = Value::Int(opts.step_size.into());
    let mut matrix = Vec::new();
    for cfg in &configs.entries {
        let cx = Cx { cfg };
        let raw = &cfg.raw;
        let text = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or_default();
        if (!opts.model_prefix.is_empty()
            && !opts
                .model_prefix
                .iter()
                .any(|p| cfg.key.starts_with(p.as_str())))
            || (!opts.precision.is_empty()
                && !opts.precision.iter().any(|p| p == text("precision")))
            || (!opts.framework.is_empty()
                && !opts.framework.iter().any(|f| f == text("framework")))
            || (!opts.runner_type.is_empty()
                && !opts.runner_type.iter().any(|r| r == text("runner")))
        {
            continue;
        }
        let head = Head::of(&cx)?;
        let scenarios = cx.need_dict(raw, "scenarios")?;
        let fixed = scenario_list(
            scenarios,
            "fixed-seq-len",
            &opts.scenario_types,
            ScenarioType::FixedSeqLen,
        );
        let runner_values: Vec<String> = match non_empty(&opts.runner_node_filter) {
            Some(filter) => {
                let nodes: Vec<String> = runners
                    .nodes(&head.runner)
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
            None => vec![head.runner.clone()],
        };
        for seq in fixed
            .map(|v| cx.items(v, "fixed-seq-len"))
            .transpose()?
            .unwrap_or_default()
        {
            let seq = seq.as_dict().cloned().unwrap_or_default();
            let isl = cx.need(&seq, "isl")?;
            let osl = cx.need(&seq, "osl")?;
            if !seq_len_selected(&opts.seq_lens, isl, osl) {
                continue;
            }
            let space = cx.need(&seq, "search-space")?;
            for bmk in cx.items(space, "search-space")? {
                let bmk = bmk.as_dict().cloned().unwrap_or_default();
                if head.multinode && !multi_node || !head.multinode && !single_node {
                    continue;
                }
                if head.multinode {
                    let values = conc_values(&cx, &bmk, &step)?;
                    let Some(values) =
                        clamp_conc_list(&cx.origin(), values, opts.min_conc, opts.max_conc)?
                    else {
                        continue;
                    };
                    for runner in &runner_values {
                        matrix.push(fixed_mn_row(
                            &cx,
                            &head,
                            &seq,
                            &bmk,
                            runner,
                            values.clone(),
                        )?);
                    }
                } else {
                    let tp = cx.need(&bmk, "tp")?;
                    if let Some(max_tp) = opts.max_tp {
                        if max_tp <= 0
                            || pyops::gt(tp, &Value::Int(max_tp.into()))
                                .map_err(cx.origin().py("tp"))?
                        {
                            continue;
                        }
                    }
                    let mut ep = get_some(&bmk, "ep");
                    if let Some(max_ep) = opts.max_ep {
                        if max_ep <= 0 {
                            continue;
                        }
                        let limit = Value::Int(max_ep.into());
                        if let Some(e) = &ep {
                            if pyops::gt(e, &limit).map_err(cx.origin().py("ep"))? {
                                ep = Some(limit);
                            }
                        }
                    }
                    let values = match bmk.get("conc-list") {
                        Some(list) if list.is_truthy() => {
                            let values = cx.items(list, "conc-list")?.to_vec();
                            match sn_list_limits(&cx, values, opts.min_conc, opts.max_conc)? {
                                Some(v) => v,
                                None => continue,
                            }
                        }
                        _ => {
                            let start = cx.need(&bmk, "conc-start")?.clone();
                            let end = cx.need(&bmk, "conc-end")?.clone();
                            let Some((start, end)) = limit_conc_range(
                                &cx.origin(),
                                start,
                                end,
                                opts.min_conc,
                                opts.max_conc,
                            )?
                            else {
                                continue;
                            };
                            expand_range(&cx.origin(), &start, &end, &step)?
                        }
                    };
                    for conc in values {
                        for runner in &runner_values {
                            matrix.push(fixed_sn_row(
                                &cx,
                                &head,
                                &seq,
                                &bmk,
                                runner,
                                conc.clone(),
                                ep.clone(),
                            )?);
                        }
                    }
                }
            }
        }
        if head.multinode && !multi_node || !head.multinode && !single_node {
            continue;
        }
        let agentic = scenario_list(
            scenarios,
            "agentic-coding",
            &opts.scenario_types,
            ScenarioType::AgenticCoding,
        );
        agentic_rows(
            &cx,
            &head,
            agentic,
            runners,
            &runner_values,
            &step,
            &mut matrix,
            |values| {
                let mut values = values;
                if let Some(m) = opts.min_conc {
                    let m = Value::Int(m.into());
                    values = retain(&cx.origin(), values, |c| pyops::ge(c, &m))?;
                }
                if let Some(x) = opts.max_conc {
                    let x = Value::Int(x.into());
                    values = retain(&cx.origin(), values, |c| pyops::le(c, &x))?;
                }
                Ok(values)
            },
        )?;
    }
    Ok(matrix)
}

fn non_empty(filter: &Option<String>) -> Option<&str> {
    filter.as_deref().filter(|f| !f.is_empty())
}

/// The single-node `conc-list` rules of `--min-conc` / `--max-conc`.
fn sn_list_limits(
    cx: &Cx,
    mut values: Vec<Value>,
    min_conc: Option<i64>,
    max_conc: Option<i64>,
) -> Result<Option<Vec<Value>>, MatrixError> {
    if let Some(m) = min_conc {
        if m <= 0 {
            return Ok(None);
        }
        let m = Value::Int(m.into());
        values = retain(&cx.origin(), values, |c| pyops::ge(c, &m))?;
        if values.is_empty() {
            return Ok(None);
        }
    }
    if let Some(x) = max_conc {
        if x <= 0 {
            return Ok(None);
        }
        let limit = Value::Int(x.into());
        let kept = retain(&cx.origin(), values, |c| pyops::le(c, &limit))?;
        values = if kept.is_empty() { vec![limit] } else { kept };
    }
    Ok(Some(values))
}

fn max_model_len(cx: &Cx, isl: &Value, osl: &Value) -> Result<Value, MatrixError> {
    let py = cx.origin();
    let py = py.py("isl/osl");
    pyops::add(&pyops::add(isl, osl).map_err(&py)?, &Value::Int(256)).map_err(&py)
}

fn fixed_mn_row(
    cx: &Cx,
    head: &Head,
    seq: &Dict,
    bmk: &Dict,
    runner: &str,
    conc: Vec<Value>,
) -> Result<Dict, MatrixError> {
    let isl = cx.need(seq, "isl")?;
    let osl = cx.need(seq, "osl")?;
    let mut d = head.start(runner);
    d.insert("isl", isl.clone());
    d.insert("osl", osl.clone());
    d.insert("spec-decoding", get_or(bmk, "spec-decoding", "none".into()));
    d.insert(
        "prefill",
        worker_with_defaults(cx.need_dict(bmk, "prefill")?),
    );
    d.insert("decode", worker_with_defaults(cx.need_dict(bmk, "decode")?));
    d.insert("conc", Value::List(conc));
    d.insert("max-model-len", max_model_len(cx, isl, osl)?);
    d.insert(
        "exp-name",
        format!("{}_{}", head.prefix(), seq_len_name(isl, osl)).into(),
    );
    d.insert("disagg", head.disagg.clone());
    d.insert("run-eval", Value::Bool(false));
    add_components(&mut d, bmk, &cx.cfg.raw);
    validated(cx, d, true)
}

fn fixed_sn_row(
    cx: &Cx,
    head: &Head,
    seq: &Dict,
    bmk: &Dict,
    runner: &str,
    conc: Value,
    ep: Option<Value>,
) -> Result<Dict, MatrixError> {
    let isl = cx.need(seq, "isl")?;
    let osl = cx.need(seq, "osl")?;
    let mut d = head.start(runner);
    d.insert("isl", isl.clone());
    d.insert("osl", osl.clone());
    d.insert("tp", cx.need(bmk, "tp")?.clone());
    for key in ["pp", "dcp-size", "pcp-size"] {
        d.insert(key, get_or(bmk, key, Value::Int(1)));
    }
    d.insert("conc", conc);
    d.insert("max-model-len", max_model_len(cx, isl, osl)?);
    d.insert("ep", ep.unwrap_or(Value::Int(1)));
    d.insert(
        "dp-attn",
        get_some(bmk, "dp-attn").unwrap_or(Value::Bool(false)),
    );
    d.insert("spec-decoding", get_or(bmk, "spec-decoding", "none".into()));
    d.insert(
        "exp-name",
        format!("{}_{}", head.prefix(), seq_len_name(isl, osl)).into(),
    );
    d.insert("disagg", head.disagg.clone());
    d.insert("run-eval", Value::Bool(false));
    add_components(&mut d, bmk, &cx.cfg.raw);
    validated(cx, d, false)
}

/// The agentic-coding rows of one config (both generators; `filter` is the
/// generator's concurrency filter).
#[allow(clippy::too_many_arguments)] // the generator's loop state
fn agentic_rows(
    cx: &Cx,
    head: &Head,
    agentic: Option<&Value>,
    runners: &RunnerFile,
    runner_values: &[String],
    step: &Value,
    matrix: &mut Vec<Dict>,
    filter: impl Fn(Vec<Value>) -> Result<Vec<Value>, MatrixError>,
) -> Result<(), MatrixError> {
    let Some(agentic) = agentic else {
        return Ok(());
    };
    for ag in cx.items(agentic, "agentic-coding")? {
        let ag = ag.as_dict().cloned().unwrap_or_default();
        let space = cx.need(&ag, "search-space")?;
        for bmk in cx.items(space, "search-space")? {
            let bmk = bmk.as_dict().cloned().unwrap_or_default();
            let spec = get_or(&bmk, "spec-decoding", "none".into());
            let backend = get_some(&bmk, "kv-offload-backend");
            // The topology is read first (KeyError in the original: a
            // single-node entry in a multi-node config has no `prefill`, a
            // multi-node one in a single-node config no `tp`), even when the
            // concurrency filter leaves the entry no rows.
            let (workers, tp) = if head.multinode {
                let prefill = worker_with_defaults(cx.need_dict(&bmk, "prefill")?);
                let decode = worker_with_defaults(cx.need_dict(&bmk, "decode")?);
                (Some((prefill, decode)), Value::Null)
            } else {
                (None, cx.need(&bmk, "tp")?.clone())
            };
            let kv = if head.multinode {
                get_or(&bmk, "kv-offloading", "none".into())
            } else {
                cx.need(&bmk, "kv-offloading")?.clone()
            };
            let total = dram_offload_gb(cx, &ag, &bmk, &head.runner, runners)?;
            let values = filter(conc_values(cx, &bmk, step)?)?;
            if values.is_empty() {
                continue;
            }
            if let Some((prefill, decode)) = workers {
                let suffix = if kv.as_str() == Some("none") {
                    String::new()
                } else {
                    format!("_{}", kv_suffix(cx, &kv, backend.as_ref())?)
                };
                for runner in runner_values {
                    for conc in &values {
                        let mut d = head.start(runner);
                        d.insert("spec-decoding", spec.clone());
                        d.insert("prefill", prefill.clone());
                        d.insert("decode", decode.clone());
                        d.insert("conc", Value::List(vec![conc.clone()]));
                        d.insert("kv-offloading", kv.clone());
                        d.insert("total-cpu-dram-gb", Value::Int(total));
                        d.insert("duration", AGENTIC_DURATION.into());
                        let name = format!(
                            "{}_{}_{}_conc{}{suffix}",
                            head.prefix(),
                            worker_tag(cx, &prefill, 'p')?,
                            worker_tag(cx, &decode, 'd')?,
                            pyops::to_str(conc)
                        );
                        d.insert("exp-name", name.into());
                        d.insert("disagg", head.disagg.clone());
                        d.insert("scenario-type", "agentic-coding".into());
                        if let Some(b) = &backend {
                            d.insert("kv-offload-backend", b.clone());
                        }
                        add_components(&mut d, &bmk, &cx.cfg.raw);
                        matrix.push(validated(cx, d, head.multinode)?);
                    }
                }
            } else {
                let suffix = kv_suffix(cx, &kv, backend.as_ref())?;
                let spec_suffix = if spec.as_str() == Some("none") {
                    String::new()
                } else {
                    format!("_spec-{}", pyops::to_str(&spec))
                };
                for conc in &values {
                    for runner in runner_values {
                        let mut d = head.start(runner);
                        d.insert("tp", tp.clone());
                        for key in ["pp", "dcp-size", "pcp-size"] {
                            d.insert(key, get_or(&bmk, key, Value::Int(1)));
                        }
                        d.insert("ep", get_some(&bmk, "ep").unwrap_or(Value::Int(1)));
                        d.insert(
                            "dp-attn",
                            get_some(&bmk, "dp-attn").unwrap_or(Value::Bool(false)),
                        );
                        d.insert("spec-decoding", spec.clone());
                        d.insert("conc", conc.clone());
                        d.insert("kv-offloading", kv.clone());
                        d.insert("total-cpu-dram-gb", Value::Int(total));
                        d.insert("duration", AGENTIC_DURATION.into());
                        let name = format!(
                            "{}_tp{}_conc{}_{suffix}{spec_suffix}",
                            head.prefix(),
                            pyops::to_str(&tp),
                            pyops::to_str(conc)
                        );
                        d.insert("exp-name", name.into());
                        d.insert("scenario-type", "agentic-coding".into());
                        if let Some(b) = &backend {
                            d.insert("kv-offload-backend", b.clone());
                        }
                        add_components(&mut d, &bmk, &cx.cfg.raw);
                        matrix.push(validated(cx, d, head.multinode)?);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `agentic_kv_offload_suffix`.
fn kv_suffix(cx: &Cx, kv: &Value, backend: Option<&Value>) -> Result<String, MatrixError> {
    if kv.as_str() == Some("none") {
        return Ok("kvnone".to_owned());
    }
    let name = backend
        .and_then(Value::as_dict)
        .and_then(|b| b.get("name"))
        .ok_or_else(|| {
            cx.err(format!(
                "kv-offloading {} has no kv-offload-backend name (the Python original fails with \
                 TypeError)",
                show(kv)
            ))
        })?;
    Ok(format!("kv{}-{}", pyops::to_str(kv), pyops::to_str(name)))
}

/// A worker's part of a multi-node agentic exp-name: `p1x4ep4dpa`.
fn worker_tag(cx: &Cx, worker: &Value, role: char) -> Result<String, MatrixError> {
    let w = worker.as_dict().cloned().unwrap_or_default();
    let ep = get_or(&w, "ep", Value::Int(1));
    let mut tag = format!(
        "{role}{}x{}",
        pyops::to_str(cx.need(&w, "num-worker")?),
        pyops::to_str(cx.need(&w, "tp")?)
    );
    if !pyops::eq(&ep, &Value::Int(1)) {
        tag.push_str(&format!("ep{}", pyops::to_str(&ep)));
    }
    if get_or(&w, "dp-attn", Value::Bool(false)).is_truthy() {
        tag.push_str("dpa");
    }
    Ok(tag)
}

/// An integer the DRAM budget computes with (bools count as 0/1; anything
/// else makes the original's Decimal arithmetic fail).
fn int_for_budget(cx: &Cx, v: &Value, what: &str) -> Result<i128, MatrixError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i128::from(*b)),
        _ => Err(cx.err(format!(
            "{what} is {} {}: the DRAM offload budget needs an integer (the Python original \
             fails with TypeError)",
            v.type_name(),
            show(v)
        ))),
    }
}

/// `agentic_dram_offload_gb`: 0 unless the entry offloads KV to DRAM.
fn dram_offload_gb(
    cx: &Cx,
    ag: &Dict,
    bmk: &Dict,
    runner: &str,
    runners: &RunnerFile,
) -> Result<i128, MatrixError> {
    if get_or(bmk, "kv-offloading", "none".into()).as_str() != Some("dram") {
        return Ok(0);
    }
    let hardware = runners.hardware.get(runner).and_then(Value::as_dict);
    let hw_field = |field: &str| -> Result<Value, MatrixError> {
        hardware
            .and_then(|h| h.get(field))
            .filter(|v| !matches!(v, Value::Null))
            .cloned()
            .ok_or_else(|| {
                let mut keys: Vec<&str> = runners.hardware.keys().collect();
                keys.sort_unstable();
                cx.err(format!(
                    "Runner '{runner}' requires '{field}' in runner hardware metadata. \
                     Available hardware keys: {}",
                    keys.join(", ")
                ))
            })
    };
    let available = hw_field("available-cpu-dram-mib")?;
    let available = match available {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => f as i128,
        other => int_for_budget(cx, &other, "available-cpu-dram-mib")?,
    };
    let available = available.min(MAX_AVAILABLE_CPU_DRAM_MIB);
    let utilization = cx.need(ag, "dram-utilization")?;
    let (u_num, u_den) = decimal_of(utilization).ok_or_else(|| {
        cx.err(format!(
            "dram-utilization {} is not a decimal number (the Python original fails in Decimal())",
            show(utilization)
        ))
    })?;
    let per_node = int_for_budget(cx, &hw_field("gpus-per-node")?, "gpus-per-node")?;
    let count = match bmk.get("prefill") {
        Some(worker) => {
            let w = worker.as_dict().cloned().unwrap_or_default();
            let replica = topology_gpus(cx, &w)?;
            if replica.gt(per_node) {
                if per_node == 0 || !replica.divisible_by(per_node) {
                    return Err(cx.err(format!(
                        "worker tp*pp*pcp-size={replica} spans multiple nodes but is not a \
                         multiple of gpus-per-node={per_node}"
                    )));
                }
                // A whole node: an int even when the replica size is a float.
                per_node
            } else {
                if replica.is_zero() || !replica.divides(per_node) {
                    return Err(cx.err(format!(
                        "worker tp*pp*pcp-size={replica} does not divide \
                         gpus-per-node={per_node} evenly"
                    )));
                }
                replica.int_for_decimal(cx)?
            }
        }
        None => {
            let count = topology_gpus(cx, bmk)?;
            if count.gt(per_node) {
                return Err(cx.err(format!(
                    "tp={} with pp={} and pcp-size={} requires {count} GPUs and exceeds \
                     gpus-per-node={per_node} for runner '{runner}'",
                    pyops::to_str(&get_or(bmk, "tp", Value::Null)),
                    pyops::to_str(&get_or(bmk, "pp", Value::Int(1))),
                    pyops::to_str(&get_or(bmk, "pcp-size", Value::Int(1)))
                )));
            }
            count.int_for_decimal(cx)?
        }
    };
    let overflow = || cx.err("the DRAM offload budget overflows");
    let numerator = available
        .checked_mul(BYTES_PER_MIB)
        .and_then(|x| x.checked_mul(u_num))
        .and_then(|x| x.checked_mul(count))
        .ok_or_else(overflow)?;
    let denominator = u_den
        .checked_mul(per_node)
        .and_then(|x| x.checked_mul(BYTES_PER_GB))
        .ok_or_else(overflow)?;
    if denominator == 0 {
        return Err(cx.err("gpus-per-node is 0"));
    }
    // Non-negative operands: truncation is Python's int() of the quotient.
    Ok(numerator / denominator)
}

/// A GPU count as Python computes `tp * pp * pcp-size`: an int, or a float
/// when `tp` is one (pydantic's lax int accepts `tp: 8.0` and the generator
/// copies it as written; `pp`/`pcp-size` are strict ints).
#[derive(Clone, Copy, Debug)]
enum Gpus {
    Int(i128),
    Float(f64),
}

impl Gpus {
    fn as_f64(self) -> f64 {
        match self {
            Gpus::Int(i) => i as f64,
            Gpus::Float(f) => f,
        }
    }

    fn gt(self, n: i128) -> bool {
        match self {
            Gpus::Int(i) => i > n,
            Gpus::Float(f) => f > n as f64,
        }
    }

    fn is_zero(self) -> bool {
        self.as_f64() == 0.0
    }

    /// `self % n == 0`.
    fn divisible_by(self, n: i128) -> bool {
        match self {
            Gpus::Int(i) => i % n == 0,
            Gpus::Float(f) => f % n as f64 == 0.0,
        }
    }

    /// `n % self == 0` (`self` non-zero).
    fn divides(self, n: i128) -> bool {
        match self {
            Gpus::Int(i) => n % i == 0,
            Gpus::Float(f) => n as f64 % f == 0.0,
        }
    }

    /// The count as a factor of the budget's `Decimal` product, which an
    /// int can be and a float cannot.
    fn int_for_decimal(self, cx: &Cx) -> Result<i128, MatrixError> {
        match self {
            Gpus::Int(i) => Ok(i),
            Gpus::Float(f) => Err(cx.err(format!(
                "the GPU count {} is a float: the DRAM offload budget needs an integer (the \
                 Python original fails with TypeError)",
                servebench_pyjson::float_repr(f)
            ))),
        }
    }
}

impl std::fmt::Display for Gpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gpus::Int(i) => write!(f, "{i}"),
            Gpus::Float(x) => f.write_str(&servebench_pyjson::float_repr(*x)),
        }
    }
}

/// `tp * pp * pcp-size` of an entry or worker (`pp`/`pcp-size` default 1).
fn topology_gpus(cx: &Cx, d: &Dict) -> Result<Gpus, MatrixError> {
    let tp = cx.need(d, "tp")?;
    let pp = int_for_budget(cx, &get_or(d, "pp", Value::Int(1)), "pp")?;
    let pcp = int_for_budget(cx, &get_or(d, "pcp-size", Value::Int(1)), "pcp-size")?;
    if let Value::Float(f) = tp {
        return Ok(Gpus::Float(f * pp as f64 * pcp as f64));
    }
    let tp = int_for_budget(cx, tp, "tp")?;
    tp.checked_mul(pp)
        .and_then(|x| x.checked_mul(pcp))
        .map(Gpus::Int)
        .ok_or_else(|| cx.err("tp*pp*pcp-size overflows"))
}

/// `Decimal(str(v))` as an exact fraction `num / den` (den a power of 10).
fn decimal_of(v: &Value) -> Option<(i128, i128)> {
    let text = match v {
        Value::Float(f) => servebench_pyjson::float_repr(*f),
        Value::Int(i) => i.to_string(),
        Value::Str(s) => s.trim().to_owned(),
        _ => return None,
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text.as_str(), 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mut num: i128 = digits.parse().ok()?;
    let scale = i32::try_from(frac_part.len()).ok()?.checked_sub(exponent)?;
    let mut den: i128 = 1;
    if scale >= 0 {
        den = 10i128.checked_pow(u32::try_from(scale).ok()?)?;
    } else {
        num = num.checked_mul(10i128.checked_pow(u32::try_from(-scale).ok()?)?)?;
    }
    Some((if negative { -num } else { num }, den))
}

/// `fnmatch.fnmatchcase(name, pattern)`: `*`, `?`, `[seq]`, `[!seq]`.
pub(crate) fn fnmatch(name: &str, pattern: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    glob(&n, &p)
}

/// `[...]` at the start of `p`: `(matches c, length)`, `None` when the
/// bracket is not closed (then `[` is a literal character).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let body_start = i;
    // A `]` right after `[` or `[!` belongs to the set.
    if p.get(i) == Some(&']') {
        i += 1;
    }
    while i < p.len() && p[i] != ']' {
        i += 1;
    }
    if i >= p.len() {
        return None;
    }
    let body = &p[body_start..i];
    let mut matched = false;
    let mut j = 0;
    while j < body.len() {
        if j + 2 < body.len() && body[j + 1] == '-' {
            if body[j] <= c && c <= body[j + 2] {
                matched = true;
            }
            j += 3;
        } else {
            if body[j] == c {
                matched = true;
            }
            j += 1;
        }
    }
    Some((matched != negate, i + 1))
}

fn glob(n: &[char], p: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|k| glob(&n[k..], &p[1..])),
        Some('?') => !n.is_empty() && glob(&n[1..], &p[1..]),
        Some('[') => match class(p, n.first().copied().unwrap_or('\0')) {
            Some((ok, len)) => !n.is_empty() && ok && glob(&n[1..], &p[len..]),
            None => n.first() == Some(&'[') && glob(&n[1..], &p[1..]),
        },
        Some(c) => n.first() == Some(c) && glob(&n[1..], &p[1..]),
    }
}

/// `expand_config_keys`: globs (`*` or `?`) expand over the merged keys in
/// order, other keys must exist; duplicates keep their first position.
pub(crate) fn expand_config_keys(
    wanted: &[String],
    configs: &MasterConfigs,
) -> Result<Vec<String>, MatrixError> {
    let available: Vec<&str> = configs.entries.iter().map(|e| e.key.as_str()).collect();
    let sorted = || {
        let mut s: Vec<String> = available.iter().map(|k| (*k).to_owned()).collect();
        s.sort();
        s
    };
    let mut out: Vec<String> = Vec::new();
    for key in wanted {
        if key.contains(['*', '?']) {
            let matches: Vec<&str> = available
                .iter()
                .copied()
                .filter(|k| fnmatch(k, key))
                .collect();
            if matches.is_empty() {
                return Err(MatrixError::PatternNoMatch {
                    pattern: key.clone(),
                    available: sorted(),
                });
            }
            for m in matches {
                if !out.iter().any(|k| k == m) {
                    out.push(m.to_owned());
                }
            }
        } else {
            if !available.contains(&key.as_str()) {
                return Err(MatrixError::UnknownConfigKeys {
                    missing: vec![key.clone()],
                    available: sorted(),
                });
            }
            if !out.contains(key) {
                out.push(key.clone());
            }
        }
    }
    Ok(out)
}

/// `_runner_values_for_filter`.
fn runner_values_for_filter(
    runner: &str,
    runners: &RunnerFile,
    filter: Option<&str>,
) -> Vec<String> {
    let Some(filter) = filter else {
        return vec![runner.to_owned()];
    };
    let mut candidates: Vec<&str> = Vec::new();
    if runner.contains(filter) {
        candidates.push(runner);
    }
    candidates.extend(
        runners
            .nodes(runner)
            .unwrap_or_default()
            .iter()
            .map(String::as_str),
    );
    let mut out: Vec<String> = Vec::new();
    for c in candidates {
        if c.contains(filter) && !out.iter().any(|o| o == c) {
            out.push(c.to_owned());
        }
    }
    out
}

/// `generate_test_config_sweep` of 2026-08.
pub(crate) fn test_config(
    configs: &MasterConfigs,
    runners: &RunnerFile,
    opts: &TestConfigOptions,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    let keys = expand_config_keys(&opts.config_keys, configs)?;
    let wanted: Vec<Value> = opts.conc.iter().map(|c| Value::Int((*c).into())).collect();
    let step = Value::Int(2);
    let keep = |values: Vec<Value>| -> Vec<Value> {
        if wanted.is_empty() {
            values
        } else {
            values
                .into_iter()
                .filter(|v| wanted.iter().any(|w| pyops::eq(v, w)))
                .collect()
        }
    };
    let mut matrix = Vec::new();
    for key in &keys {
        let Some(cfg) = configs.get(key) else {
            continue;
        };
        let cx = Cx { cfg };
        let head = Head::of(&cx)?;
        let runner_values =
            runner_values_for_filter(&head.runner, runners, non_empty(&opts.runner_node_filter));
        if runner_values.is_empty() {
            continue;
        }
        let scenarios = cx.need_dict(&cfg.raw, "scenarios")?;
        let fixed = scenario_list(
            scenarios,
            "fixed-seq-len",
            &opts.scenario_types,
            ScenarioType::FixedSeqLen,
        );
        for seq in fixed
            .map(|v| cx.items(v, "fixed-seq-len"))
            .transpose()?
            .unwrap_or_default()
        {
            let seq = seq.as_dict().cloned().unwrap_or_default();
            let isl = cx.need(&seq, "isl")?;
            let osl = cx.need(&seq, "osl")?;
            if !seq_len_selected(&opts.seq_lens, isl, osl) {
                continue;
            }
            let space = cx.need(&seq, "search-space")?;
            for bmk in cx.items(space, "search-space")? {
                let bmk = bmk.as_dict().cloned().unwrap_or_default();
                let values = match bmk.get("conc-list") {
                    Some(list) => cx.items(list, "conc-list")?.to_vec(),
                    None => {
                        let start = cx.need(&bmk, "conc-start")?;
                        let end = cx.need(&bmk, "conc-end")?;
                        expand_range(&cx.origin(), start, end, &step)?
                    }
                };
                let values = if wanted.is_empty() {
                    values
                } else {
                    let kept = keep(values);
                    if kept.is_empty() {
                        continue;
                    }
                    kept
                };
                if head.multinode {
                    for runner in &runner_values {
                        matrix.push(fixed_mn_row(
                            &cx,
                            &head,
                            &seq,
                            &bmk,
                            runner,
                            values.clone(),
                        )?);
                    }
                } else {
                    let ep = get_some(&bmk, "ep");
                    for conc in &values {
                        for runner in &runner_values {
                            matrix.push(fixed_sn_row(
                                &cx,
                                &head,
                                &seq,
                                &bmk,
                                runner,
                                conc.clone(),
                                ep.clone(),
                            )?);
                        }
                    }
                }
            }
        }
        let agentic = scenario_list(
            scenarios,
            "agentic-coding",
            &opts.scenario_types,
            ScenarioType::AgenticCoding,
        );
        agentic_rows(
            &cx,
            &head,
            agentic,
            runners,
            &runner_values,
            &step,
            &mut matrix,
            |values| Ok(keep(values)),
        )?;
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_python() {
        assert!(fnmatch("dsr1-fp4-b200-sglang", "dsr1-*"));
        assert!(fnmatch("dsr1-fp4-b200", "dsr1-fp?-b200"));
        assert!(!fnmatch("dsr1-fp4-b200", "dsr1-fp?"));
        assert!(fnmatch("a-fp8", "a-fp[48]"));
        assert!(!fnmatch("a-fp6", "a-fp[48]"));
        assert!(fnmatch("a-fp6", "a-fp[!48]"));
        assert!(fnmatch("a-fp6", "a-fp[0-9]"));
        assert!(fnmatch("a[b", "a[b"), "an unclosed bracket is literal");
        assert!(!fnmatch("A-x", "a-*"), "case-sensitive");
        assert!(fnmatch("]x", "[]]*"));
        assert!(!fnmatch("x]", "[]]*"));
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal_of(&Value::Float(0.9)), Some((9, 10)));
        assert_eq!(decimal_of(&Value::Float(1e-05)), Some((1, 100_000)));
        assert_eq!(decimal_of(&Value::Int(1)), Some((1, 1)));
        assert_eq!(decimal_of(&Value::from(" 0.25 ")), Some((25, 100)));
        assert_eq!(decimal_of(&Value::from("5e-1")), Some((5, 10)));
        assert_eq!(decimal_of(&Value::Bool(true)), None);
        assert_eq!(decimal_of(&Value::from("x")), None);
    }

    #[test]
    fn seq_len_names() {
        let i = |x: i128| Value::Int(x);
        assert_eq!(seq_len_name(&i(1024), &i(1024)), "1k1k");
        assert_eq!(seq_len_name(&Value::Float(8192.0), &i(1024)), "8k1k");
        assert_eq!(seq_len_name(&i(1024), &i(8192)), "1024_8192");
    }
}
