//! Edition 2026-08 inputs: the master-config schema of `validation.py` at
//! `843c6254f` (scenarios, agentic coding, component metadata) and the
//! runner file with `labels` and `hardware`.
//!
//! Fields and their lax types are checked by the shared pydantic engine
//! (`crate::validate`); the model validators (`mode='after'`) are the rule
//! functions below, run once every field of the entry is valid. Only
//! acceptance matters (the report is for people), so running them after the
//! whole entry's fields rather than model by model accepts and rejects the
//! same entries.

use crate::config::{load_yaml, merge_documents};
use crate::validate::{check_model, coerce_int, conc_rule_with, default, opt, req, Model, Ty};
use crate::MatrixError;
use servebench_pyjson::{Dict, Value};
use std::path::{Path, PathBuf};

static STR: Ty = Ty::Str;
static INT: Ty = Ty::Int;

static COMPONENT: Model = Model {
    name: "ComponentMetadata",
    fields: &[
        req("name", Ty::NonEmptyStr),
        req("version", Ty::NonEmptyStr),
    ],
    conc_rule: false,
};

static BACKEND: Model = Model {
    name: "KVOffloadBackendMetadata",
    fields: &[
        req("name", Ty::NonEmptyStr),
        opt("version", Ty::NonEmptyStr),
    ],
    conc_rule: false,
};

static WORKER: Model = Model {
    name: "WorkerConfig",
    fields: &[
        req("num-worker", Ty::Int),
        req("tp", Ty::Int),
        default("pp", Ty::StrictPosInt),
        default("dcp-size", Ty::StrictPosInt),
        default("pcp-size", Ty::StrictPosInt),
        req("ep", Ty::Int),
        req("dp-attn", Ty::Bool),
        opt("hardware", Ty::NonEmptyStr),
        opt("additional-settings", Ty::List(&STR)),
    ],
    conc_rule: false,
};

static SN_SEARCH: Model = Model {
    name: "SingleNodeSearchSpaceEntry",
    fields: &[
        req("tp", Ty::Int),
        default("pp", Ty::StrictPosInt),
        default("dcp-size", Ty::StrictPosInt),
        default("pcp-size", Ty::StrictPosInt),
        opt("ep", Ty::Int),
        default("spec-decoding", Ty::SpecDecoding),
        opt("dp-attn", Ty::Bool),
        opt("router", Ty::Model(&COMPONENT)),
        opt("conc-start", Ty::Int),
        opt("conc-end", Ty::Int),
        opt("conc-list", Ty::List(&INT)),
    ],
    conc_rule: false,
};

static MN_SEARCH: Model = Model {
    name: "MultiNodeSearchSpaceEntry",
    fields: &[
        default("spec-decoding", Ty::SpecDecoding),
        req("prefill", Ty::Model(&WORKER)),
        req("decode", Ty::Model(&WORKER)),
        opt("router", Ty::Model(&COMPONENT)),
        opt("kv-p2p-transfer", Ty::NonEmptyStr),
        opt("conc-start", Ty::Int),
        opt("conc-end", Ty::Int),
        opt("conc-list", Ty::List(&INT)),
    ],
    conc_rule: false,
};

static SN_SEARCH_TY: Ty = Ty::Model(&SN_SEARCH);
static MN_SEARCH_TY: Ty = Ty::Model(&MN_SEARCH);

static SN_SEQ_LEN: Model = Model {
    name: "SingleNodeSeqLenConfig",
    fields: &[
        req("isl", Ty::Int),
        req("osl", Ty::Int),
        req("search-space", Ty::List(&SN_SEARCH_TY)),
    ],
    conc_rule: false,
};

static MN_SEQ_LEN: Model = Model {
    name: "MultiNodeSeqLenConfig",
    fields: &[
        req("isl", Ty::Int),
        req("osl", Ty::Int),
        req("search-space", Ty::List(&MN_SEARCH_TY)),
    ],
    conc_rule: false,
};

static AG_SEARCH: Model = Model {
    name: "AgenticCodingSearchSpaceEntry",
    fields: &[
        opt("tp", Ty::Int),
        default("pp", Ty::StrictPosInt),
        default("dcp-size", Ty::StrictPosInt),
        default("pcp-size", Ty::StrictPosInt),
        opt("ep", Ty::Int),
        opt("dp-attn", Ty::Bool),
        default("spec-decoding", Ty::SpecDecoding),
        opt("prefill", Ty::Model(&WORKER)),
        opt("decode", Ty::Model(&WORKER)),
        opt("kv-offloading", Ty::OneOf(&["none", "dram"])),
        opt("kv-offload-backend", Ty::Model(&BACKEND)),
        opt("router", Ty::Model(&COMPONENT)),
        opt("kv-p2p-transfer", Ty::NonEmptyStr),
        opt("conc-start", Ty::Int),
        opt("conc-end", Ty::Int),
        opt("conc-list", Ty::List(&INT)),
    ],
    conc_rule: false,
};

static AG_SEARCH_TY: Ty = Ty::Model(&AG_SEARCH);

static AG_CONFIG: Model = Model {
    name: "AgenticCodingConfig",
    fields: &[
        req("search-space", Ty::List(&AG_SEARCH_TY)),
        opt("dram-utilization", Ty::Fraction),
    ],
    conc_rule: false,
};

static SN_SEQ_LEN_TY: Ty = Ty::Model(&SN_SEQ_LEN);
static MN_SEQ_LEN_TY: Ty = Ty::Model(&MN_SEQ_LEN);
static AG_CONFIG_TY: Ty = Ty::Model(&AG_CONFIG);

static SN_SCENARIOS: Model = Model {
    name: "SingleNodeScenarios",
    fields: &[
        opt("fixed-seq-len", Ty::List(&SN_SEQ_LEN_TY)),
        opt("agentic-coding", Ty::List(&AG_CONFIG_TY)),
    ],
    conc_rule: false,
};

static MN_SCENARIOS: Model = Model {
    name: "MultiNodeScenarios",
    fields: &[
        opt("fixed-seq-len", Ty::List(&MN_SEQ_LEN_TY)),
        opt("agentic-coding", Ty::List(&AG_CONFIG_TY)),
    ],
    conc_rule: false,
};

static SN_MASTER: Model = Model {
    name: "SingleNodeMasterConfigEntry",
    fields: &[
        req("image", Ty::Str),
        req("model", Ty::Str),
        req("model-prefix", Ty::Str),
        req("precision", Ty::Str),
        req("framework", Ty::Str),
        req("runner", Ty::Str),
        req("multinode", Ty::LitBool(false)),
        default("disagg", Ty::LitBool(false)),
        opt("router", Ty::Model(&COMPONENT)),
        req("scenarios", Ty::Model(&SN_SCENARIOS)),
    ],
    conc_rule: false,
};

static MN_MASTER: Model = Model {
    name: "MultiNodeMasterConfigEntry",
    fields: &[
        req("image", Ty::Str),
        req("model", Ty::Str),
        req("model-prefix", Ty::Str),
        req("precision", Ty::Str),
        req("framework", Ty::Str),
        req("runner", Ty::Str),
        req("multinode", Ty::LitBool(true)),
        default("disagg", Ty::Bool),
        opt("router", Ty::Model(&COMPONENT)),
        opt("kv-p2p-transfer", Ty::NonEmptyStr),
        req("scenarios", Ty::Model(&MN_SCENARIOS)),
    ],
    conc_rule: false,
};

static HARDWARE: Model = Model {
    name: "RunnerHardwareConfig",
    fields: &[
        req("available-cpu-dram-mib", Ty::PosInt),
        req("gpus-per-node", Ty::PosInt),
    ],
    conc_rule: false,
};

static LABEL_NODES: Ty = Ty::List(&STR);
static HARDWARE_TY: Ty = Ty::Model(&HARDWARE);

static RUNNER_FILE: Model = Model {
    name: "RunnerConfig",
    fields: &[
        req("labels", Ty::Map(&LABEL_NODES)),
        default("hardware", Ty::Map(&HARDWARE_TY)),
    ],
    conc_rule: false,
};

/// A field as pydantic sees it: by alias or Python name, `None` when absent
/// or null.
fn field<'a>(d: &'a Dict, alias: &str) -> Option<&'a Value> {
    d.get(alias)
        .or_else(|| d.get(&alias.replace('-', "_")))
        .filter(|v| !matches!(v, Value::Null))
}

/// A field that was given at all (pydantic's `model_fields_set`).
fn given(d: &Dict, alias: &str) -> bool {
    d.contains_key(alias) || d.contains_key(&alias.replace('-', "_"))
}

fn dicts<'a>(d: &'a Dict, alias: &str) -> Vec<&'a Dict> {
    field(d, alias)
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_dict)
        .collect()
}

fn component_version(d: &Dict) -> Result<(), String> {
    match field(d, "version").and_then(Value::as_str) {
        Some(v) if v.starts_with("image:") => {
            Err("version: Value error, component version must be a \
             release, package version, or source commit, not an image reference"
                .to_owned())
        }
        _ => Ok(()),
    }
}

/// `_validate_tp_context_topology`.
fn tp_divisible(d: &Dict) -> Result<(), String> {
    let tp = field(d, "tp").map(coerce_int).and_then(Result::ok);
    let dcp = match field(d, "dcp-size") {
        Some(Value::Int(i)) => *i,
        _ => 1,
    };
    match tp {
        Some(tp) if dcp != 0 && tp.rem_euclid(dcp) != 0 => Err(format!(
            "Value error, 'tp' ({tp}) must be divisible by 'dcp-size' ({dcp})"
        )),
        _ => Ok(()),
    }
}

fn hardware_pair(d: &Dict) -> Result<(), String> {
    let has = |worker: &str| {
        field(d, worker)
            .and_then(Value::as_dict)
            .and_then(|w| field(w, "hardware"))
            .is_some_and(Value::is_truthy)
    };
    if has("prefill") != has("decode") {
        return Err(
            "Value error, 'hardware' must be specified for both 'prefill' and 'decode', \
                    or neither"
                .to_owned(),
        );
    }
    Ok(())
}

fn worker_rules(d: &Dict) -> Result<(), String> {
    for worker in ["prefill", "decode"] {
        if let Some(w) = field(d, worker).and_then(Value::as_dict) {
            tp_divisible(w).map_err(|e| format!("{worker}: {e}"))?;
        }
    }
    Ok(())
}

fn router_rule(d: &Dict) -> Result<(), String> {
    match field(d, "router").and_then(Value::as_dict) {
        Some(r) => component_version(r).map_err(|e| format!("router.{e}")),
        None => Ok(()),
    }
}

fn sn_search_rules(d: &Dict) -> Result<(), String> {
    router_rule(d)?;
    conc_rule_with(d, true).map_err(|e| format!("Value error, {e}"))?;
    tp_divisible(d)
}

fn mn_search_rules(d: &Dict) -> Result<(), String> {
    router_rule(d)?;
    worker_rules(d)?;
    conc_rule_with(d, true).map_err(|e| format!("Value error, {e}"))?;
    hardware_pair(d)
}

fn agentic_search_rules(d: &Dict) -> Result<(), String> {
    router_rule(d)?;
    worker_rules(d)?;
    if let Some(b) = field(d, "kv-offload-backend").and_then(Value::as_dict) {
        component_version(b).map_err(|e| format!("kv-offload-backend.{e}"))?;
    }
    conc_rule_with(d, true).map_err(|e| format!("Value error, {e}"))?;
    let offloading = field(d, "kv-offloading").and_then(Value::as_str);
    let backend = field(d, "kv-offload-backend").is_some();
    match (offloading, backend) {
        (None, true) => {
            return Err("Value error, kv-offload-backend requires kv-offloading".to_owned())
        }
        (Some("none"), true) => {
            return Err(
                "Value error, kv-offload-backend can only be set when kv-offloading is \
                        not 'none'"
                    .to_owned(),
            )
        }
        (Some(kv), false) if kv != "none" => {
            return Err(format!(
                "Value error, kv-offload-backend is required when kv-offloading is '{kv}'"
            ))
        }
        _ => {}
    }
    let single = field(d, "tp").is_some();
    let (prefill, decode) = (field(d, "prefill").is_some(), field(d, "decode").is_some());
    let valid = if single {
        !prefill && !decode
    } else {
        prefill && decode
    };
    if !valid {
        return Err(
            "Value error, Agentic search-space entries must specify either tp or both \
                    prefill and decode"
                .to_owned(),
        );
    }
    if single {
        if offloading.is_none() {
            return Err(
                "Value error, Single-node agentic search-space entries must specify \
                        kv-offloading"
                    .to_owned(),
            );
        }
        tp_divisible(d)?;
    } else {
        if ["pp", "dcp-size", "pcp-size"].iter().any(|f| given(d, f)) {
            return Err(
                "Value error, Multinode agentic search-space entries cannot specify \
                        'pp', 'dcp-size', 'pcp-size'"
                    .to_owned(),
            );
        }
        hardware_pair(d)?;
    }
    Ok(())
}

/// The model validators of a master-config entry whose fields are valid.
fn entry_rules(d: &Dict, multinode: bool) -> Result<(), String> {
    router_rule(d)?;
    let scenarios = field(d, "scenarios")
        .and_then(Value::as_dict)
        .cloned()
        .unwrap_or_default();
    let fixed = dicts(&scenarios, "fixed-seq-len");
    let agentic = dicts(&scenarios, "agentic-coding");
    let mut entries: Vec<&Dict> = Vec::new();
    for (i, seq) in fixed.iter().enumerate() {
        for (j, bmk) in dicts(seq, "search-space").into_iter().enumerate() {
            let rules = if multinode {
                mn_search_rules(bmk)
            } else {
                sn_search_rules(bmk)
            };
            rules.map_err(|e| format!("scenarios.fixed-seq-len.{i}.search-space.{j}: {e}"))?;
            entries.push(bmk);
        }
    }
    for (i, ag) in agentic.iter().enumerate() {
        let at = |e: String| format!("scenarios.agentic-coding.{i}: {e}");
        let bmks = dicts(ag, "search-space");
        for (j, bmk) in bmks.iter().enumerate() {
            agentic_search_rules(bmk).map_err(|e| at(format!("search-space.{j}: {e}")))?;
        }
        let dram = bmks
            .iter()
            .any(|b| field(b, "kv-offloading").and_then(Value::as_str) == Some("dram"));
        if dram && field(ag, "dram-utilization").is_none() {
            return Err(at(
                "Value error, kv-offloading='dram' requires dram-utilization with \
                           runner hardware metadata"
                    .to_owned(),
            ));
        }
        entries.extend(bmks);
    }
    if fixed.is_empty() && agentic.is_empty() {
        return Err(
            "scenarios: Value error, At least one scenario type must be specified".to_owned(),
        );
    }
    let runner = field(d, "runner").and_then(Value::as_str).unwrap_or("");
    if !agentic.is_empty() && !runner.starts_with("cluster:") {
        return Err(
            "Value error, Agentic master configs must use a 'cluster:<name>' runner so \
                    every point runs on one exact hardware fleet."
                .to_owned(),
        );
    }
    for name in ["router", "kv-p2p-transfer"] {
        let top = multinode || name == "router";
        if top && field(d, name).is_some() && entries.iter().any(|e| field(e, name).is_some()) {
            return Err(format!(
                "Value error, {name} must be declared either at the top level or in \
                 search-space entries, not both"
            ));
        }
    }
    let entry_transfer = |e: &&Dict| field(e, "kv-p2p-transfer").is_some();
    if !multinode && entries.iter().any(entry_transfer) {
        return Err("Value error, kv-p2p-transfer is only valid when multinode=true".to_owned());
    }
    let disagg = field(d, "disagg")
        .map(crate::validate::coerce_bool)
        .and_then(Result::ok)
        .unwrap_or(false);
    if disagg
        && field(d, "kv-p2p-transfer").is_none()
        && (entries.is_empty() || !entries.iter().all(entry_transfer))
    {
        return Err(
            "Value error, disagg=true requires kv-p2p-transfer at the top level or in \
                    every search-space entry"
                .to_owned(),
        );
    }
    Ok(())
}

/// Validates one 2026-08 master-config entry; the schema is chosen by the
/// truthiness of `multinode`. Returns pydantic-style issues; empty = valid.
pub(crate) fn check_master_entry(entry: &Value) -> Vec<String> {
    let Value::Dict(dict) = entry else {
        return vec![format!(
            "the entry must be a mapping, got {}",
            entry.type_name()
        )];
    };
    let multinode = dict.get("multinode").is_some_and(Value::is_truthy);
    let model = if multinode { &MN_MASTER } else { &SN_MASTER };
    let mut issues = Vec::new();
    check_model(dict, model, "", &mut issues);
    if issues.is_empty() {
        if let Err(e) = entry_rules(dict, multinode) {
            issues.push(e);
        }
    }
    issues
}

// ---------------------------------------------------------------------------
// Output rows: `validate_matrix_entry` / `validate_agentic_matrix_entry`,
// which the original runs on every row it generates. Validated inputs mostly
// make valid rows, but not always: a null `kv-offloading` (multi-node
// agentic), an entry-level null `kv-p2p-transfer` beside `disagg: true`, a
// negative DRAM budget, a null `tp` reaching a single-node agentic row.

static SN_ROW: Model = Model {
    name: "SingleNodeMatrixEntry",
    fields: &[
        req("image", Ty::Str),
        req("model", Ty::Str),
        req("model-prefix", Ty::Str),
        req("precision", Ty::Str),
        req("framework", Ty::Str),
        req("spec-decoding", Ty::SpecDecoding),
        req("runner", Ty::Str),
        req("isl", Ty::Int),
        req("osl", Ty::Int),
        req("tp", Ty::Int),
        req("pp", Ty::StrictPosInt),
        req("dcp-size", Ty::StrictPosInt),
        req("pcp-size", Ty::StrictPosInt),
        req("ep", Ty::Int),
        req("dp-attn", Ty::Bool),
        req("conc", Ty::IntOrIntList),
        req("max-model-len", Ty::Int),
        req("exp-name", Ty::Str),
        req("disagg", Ty::LitBool(false)),
        req("run-eval", Ty::Bool),
        default("eval-only", Ty::Bool),
        opt("router", Ty::Model(&COMPONENT)),
        opt("recipe-fingerprint", Ty::Str),
    ],
    conc_rule: false,
};

static MN_ROW: Model = Model {
    name: "MultiNodeMatrixEntry",
    fields: &[
        req("image", Ty::Str),
        req("model", Ty::Str),
        req("model-prefix", Ty::Str),
        req("precision", Ty::Str),
        req("framework", Ty::Str),
        req("spec-decoding", Ty::SpecDecoding),
        req("runner", Ty::Str),
        req("isl", Ty::Int),
        req("osl", Ty::Int),
        req("prefill", Ty::Model(&WORKER)),
        req("decode", Ty::Model(&WORKER)),
        req("conc", Ty::List(&INT)),
        req("max-model-len", Ty::Int),
        req("exp-name", Ty::Str),
        req("disagg", Ty::Bool),
        req("run-eval", Ty::Bool),
        default("eval-only", Ty::Bool),
        opt("eval-conc", Ty::Int),
        default("eval-all-concs", Ty::Bool),
        opt("router", Ty::Model(&COMPONENT)),
        opt("kv-p2p-transfer", Ty::NonEmptyStr),
        opt("recipe-fingerprint", Ty::Str),
    ],
    conc_rule: false,
};

static SN_AGENTIC_ROW: Model = Model {
    name: "SingleNodeAgenticMatrixEntry",
    fields: &[
        req("image", Ty::Str),
        req("model", Ty::Str),
        req("model-prefix", Ty::Str),
        req("precision", Ty::Str),
        req("framework", Ty::Str),
        req("runner", Ty::Str),
        req("tp", Ty::Int),
        req("pp", Ty::StrictPosInt),
        req("dcp-size", Ty::StrictPosInt),
        req("pcp-size", Ty::StrictPosInt),
        req("ep", Ty::Int),
        req("dp-attn", Ty::Bool),
        default("spec-decoding", Ty::SpecDecoding),
        req("conc", Ty::Int),
        req("kv-offloading", Ty::OneOf(&["none", "dram"])),
        opt("kv-offload-backend", Ty::Model(&BACKEND)),
        opt("router", Ty::Model(&COMPONENT)),
        req("total-cpu-dram-gb", Ty::Int),
        req("duration", Ty::Int),
        req("exp-name", Ty::Str),
        req("scenario-type", Ty::Str),
        opt("run-eval", Ty::Bool),
        opt("eval-only", Ty::Bool),
        opt("recipe-fingerprint", Ty::Str),
    ],
    conc_rule: false,
};

static MN_AGENTIC_ROW: Model = Model {
    name: "MultiNodeAgenticMatrixEntry",
    fields: &[
        req("image", Ty::Str),
        req("model", Ty::Str),
        req("model-prefix", Ty::Str),
        req("precision", Ty::Str),
        req("framework", Ty::Str),
        req("spec-decoding", Ty::SpecDecoding),
        req("runner", Ty::Str),
        req("prefill", Ty::Model(&WORKER)),
        req("decode", Ty::Model(&WORKER)),
        req("conc", Ty::List(&INT)),
        req("kv-offloading", Ty::OneOf(&["none", "dram"])),
        opt("kv-offload-backend", Ty::Model(&BACKEND)),
        opt("router", Ty::Model(&COMPONENT)),
        opt("kv-p2p-transfer", Ty::NonEmptyStr),
        req("total-cpu-dram-gb", Ty::Int),
        req("duration", Ty::Int),
        req("exp-name", Ty::Str),
        req("disagg", Ty::Bool),
        req("scenario-type", Ty::Str),
        opt("run-eval", Ty::Bool),
        opt("eval-only", Ty::Bool),
        opt("eval-conc", Ty::Int),
        opt("recipe-fingerprint", Ty::Str),
    ],
    conc_rule: false,
};

/// `_validate_kv_offload_fields` of a row (`kv-offloading` is required there).
fn row_offload_rule(d: &Dict) -> Result<(), String> {
    let backend = field(d, "kv-offload-backend");
    if let Some(b) = backend.and_then(Value::as_dict) {
        component_version(b).map_err(|e| format!("kv-offload-backend.{e}"))?;
    }
    match (field(d, "kv-offloading").and_then(Value::as_str), backend) {
        (Some("none"), Some(_)) => Err(
            "Value error, kv-offload-backend can only be set when kv-offloading is not 'none'"
                .to_owned(),
        ),
        (Some(kv), None) if kv != "none" => Err(format!(
            "Value error, kv-offload-backend is required when kv-offloading is '{kv}'"
        )),
        _ => Ok(()),
    }
}

/// `validate_disagg_transfer` of the multi-node rows.
fn row_disagg_rule(d: &Dict) -> Result<(), String> {
    let disagg = field(d, "disagg")
        .map(crate::validate::coerce_bool)
        .and_then(Result::ok)
        .unwrap_or(false);
    if disagg && field(d, "kv-p2p-transfer").is_none() {
        return Err("Value error, disagg=true requires kv-p2p-transfer".to_owned());
    }
    Ok(())
}

/// `total-cpu-dram-gb` has `ge=0`.
fn row_budget_rule(d: &Dict) -> Result<(), String> {
    match field(d, "total-cpu-dram-gb").map(coerce_int) {
        Some(Ok(gb)) if gb < 0 => Err(format!(
            "total-cpu-dram-gb: Input should be greater than or equal to 0, got {gb}"
        )),
        _ => Ok(()),
    }
}

/// Validates one generated row against the workflow's input schema, chosen
/// as the original does: agentic rows (with `scenario-type`) by whether they
/// have `prefill`, fixed rows by the config's `multinode`. Returns the
/// issues; empty = valid.
pub(crate) fn check_row(row: &Dict, multinode: bool) -> Vec<String> {
    let agentic = row.contains_key("scenario-type");
    let multinode = if agentic {
        row.contains_key("prefill")
    } else {
        multinode
    };
    let model = match (agentic, multinode) {
        (false, false) => &SN_ROW,
        (false, true) => &MN_ROW,
        (true, false) => &SN_AGENTIC_ROW,
        (true, true) => &MN_AGENTIC_ROW,
    };
    let mut issues = Vec::new();
    check_model(row, model, "", &mut issues);
    if !issues.is_empty() {
        return issues;
    }
    let mut rules = vec![router_rule(row)];
    if multinode {
        rules.push(worker_rules(row));
        rules.push(hardware_pair(row));
        rules.push(row_disagg_rule(row));
    } else {
        rules.push(tp_divisible(row));
    }
    if agentic {
        rules.push(row_offload_rule(row));
        rules.push(row_budget_rule(row));
    }
    rules.into_iter().filter_map(Result::err).collect()
}

/// One validated 2026-08 master-config entry, kept as the YAML mapping it
/// was written as: the generator copies its values unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub key: String,
    /// The file the entry came from, for error messages.
    pub source: PathBuf,
    pub raw: Dict,
}

/// All 2026-08 master-config entries, merged in file order then key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterConfigs {
    pub entries: Vec<Config>,
}

impl MasterConfigs {
    pub fn get(&self, key: &str) -> Option<&Config> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Merges parsed documents (file, YAML value) as `load_config_files`
    /// does, then validates every entry in merged order.
    pub fn from_documents(docs: Vec<(PathBuf, Value)>) -> Result<MasterConfigs, MatrixError> {
        let merged = merge_documents(docs)?;
        let mut entries = Vec::with_capacity(merged.len());
        for (key, path, value) in merged {
            let issues = check_master_entry(&value);
            if !issues.is_empty() {
                return Err(MatrixError::InvalidEntry { path, key, issues });
            }
            let raw = value.as_dict().cloned().unwrap_or_default();
            entries.push(Config {
                key,
                source: path,
                raw,
            });
        }
        Ok(MasterConfigs { entries })
    }
}

/// `load_config_files` of edition 2026-08.
pub fn load_master_configs(paths: &[PathBuf]) -> Result<MasterConfigs, MatrixError> {
    let mut docs = Vec::with_capacity(paths.len());
    for path in paths {
        let doc = load_yaml(path, || MatrixError::ConfigFileMissing(path.clone()))?;
        docs.push((path.clone(), doc));
    }
    MasterConfigs::from_documents(docs)
}

/// The 2026-08 runner file: labels (runner types) with their nodes, and
/// the hardware facts of some labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunnerFile {
    pub path: PathBuf,
    /// Label → node names, in file order.
    pub labels: Vec<(String, Vec<String>)>,
    /// Label → `{available-cpu-dram-mib, gpus-per-node}`, values as written.
    pub hardware: Dict,
}

impl RunnerFile {
    pub fn nodes(&self, label: &str) -> Option<&[String]> {
        self.labels
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, nodes)| nodes.as_slice())
    }

    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(|(l, _)| l.as_str())
    }

    /// `validate_runner_config` on a parsed document.
    pub fn from_document(path: &Path, doc: Value) -> Result<RunnerFile, MatrixError> {
        let invalid = |message: String| MatrixError::InvalidRunnerConfig {
            path: path.to_owned(),
            message,
        };
        let Value::Dict(doc) = doc else {
            return Err(invalid(format!(
                "the runner config must be a mapping with a labels mapping, got {}",
                doc.type_name()
            )));
        };
        let Some(Value::Dict(labels)) = doc.get("labels") else {
            return Err(invalid(
                "Runner config must define a labels mapping".to_owned(),
            ));
        };
        let mut out = Vec::new();
        for (key, value) in labels.iter() {
            let Value::List(items) = value else {
                return Err(invalid(format!(
                    "Runner config entry '{key}' must be a list, got {}",
                    value.type_name()
                )));
            };
            let nodes: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            let Some(nodes) = nodes else {
                return Err(invalid(format!(
                    "Runner config entry '{key}' must contain only strings"
                )));
            };
            if nodes.is_empty() {
                return Err(invalid(format!(
                    "Runner config entry '{key}' cannot be an empty list"
                )));
            }
            out.push((key.to_owned(), nodes));
        }
        let mut issues = Vec::new();
        check_model(&doc, &RUNNER_FILE, "", &mut issues);
        if !issues.is_empty() {
            return Err(invalid(format!(
                "Runner config failed validation: {}",
                issues.join("; ")
            )));
        }
        let hardware = match doc.get("hardware") {
            Some(Value::Dict(h)) => h.clone(),
            _ => Dict::new(),
        };
        Ok(RunnerFile {
            path: path.to_owned(),
            labels: out,
            hardware,
        })
    }
}

/// `load_runner_file` of edition 2026-08.
pub fn load_runner_file(path: &Path) -> Result<RunnerFile, MatrixError> {
    let doc = load_yaml(path, || MatrixError::RunnerFileMissing(path.to_owned()))?;
    RunnerFile::from_document(path, doc)
}
