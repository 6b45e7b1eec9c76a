//! The master-config schema of `validation.py`, checked the way pydantic v2
//! checks it in its default ("lax") mode.
//!
//! Validation only accepts or rejects: the generator copies the original
//! YAML values, so nothing here normalises them. The rules reproduced:
//! every mapping rejects unknown keys; a field may be spelled by its alias
//! (`conc-start`) or its Python name (`conc_start`, `populate_by_name`), but
//! not both; `str` accepts only strings; `int` accepts ints, bools, integral
//! floats and integer strings (`" 8 "`, `"1_000"`, `"8.0"`); `bool` accepts
//! bools, 0/1 and `yes/no/on/off/t/f/y/n/true/false/0/1` in any case;
//! `Literal[False]` accepts `False`, `0`, `0.0`. The concurrency rule runs
//! only when the search-space entry's own fields are valid, as a pydantic
//! `model_validator(mode='after')` does.

use servebench_pyjson::show;
use servebench_pyjson::{Dict, Value};

#[derive(Clone, Copy)]
pub(crate) enum Ty {
    Str,
    Int,
    Bool,
    /// `Literal[True]` / `Literal[False]`.
    LitBool(bool),
    /// `Literal["mtp", "draft_model", "none"]`.
    SpecDecoding,
    List(&'static Ty),
    Model(&'static Model),
    // Edition 2026-08 additions (never used by the 2026-02 models).
    /// `str` with `min_length=1`.
    NonEmptyStr,
    /// `int` with `Field(gt=0, strict=True)`: a real int (not a bool) > 0.
    StrictPosInt,
    /// Lax `int` with `gt=0`.
    PosInt,
    /// Lax `float` with `gt=0, le=1`.
    Fraction,
    /// `Literal[...]` of strings.
    OneOf(&'static [&'static str]),
    /// `Dict[str, T]`.
    Map(&'static Ty),
    /// `Union[int, List[int]]` (a generated single-node row's `conc`).
    IntOrIntList,
}

pub(crate) struct Field {
    alias: &'static str,
    ty: Ty,
    /// `Optional[...]`: null is accepted.
    nullable: bool,
    /// No default: a missing key is an error.
    required: bool,
}

pub(crate) struct Model {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
    /// Runs `_validate_conc_fields` after the fields validated.
    pub(crate) conc_rule: bool,
}

pub(crate) const fn req(alias: &'static str, ty: Ty) -> Field {
    Field {
        alias,
        ty,
        nullable: false,
        required: true,
    }
}
pub(crate) const fn opt(alias: &'static str, ty: Ty) -> Field {
    Field {
        alias,
        ty,
        nullable: true,
        required: false,
    }
}
pub(crate) const fn default(alias: &'static str, ty: Ty) -> Field {
    Field {
        alias,
        ty,
        nullable: false,
        required: false,
    }
}

static INT: Ty = Ty::Int;
static STR: Ty = Ty::Str;

static WORKER: Model = Model {
    name: "WorkerConfig",
    fields: &[
        req("num-worker", Ty::Int),
        req("tp", Ty::Int),
        req("ep", Ty::Int),
        req("dp-attn", Ty::Bool),
        opt("additional-settings", Ty::List(&STR)),
    ],
    conc_rule: false,
};

static SN_SEARCH: Model = Model {
    name: "SingleNodeSearchSpaceEntry",
    fields: &[
        req("tp", Ty::Int),
        opt("ep", Ty::Int),
        default("spec-decoding", Ty::SpecDecoding),
        opt("dp-attn", Ty::Bool),
        opt("conc-start", Ty::Int),
        opt("conc-end", Ty::Int),
        opt("conc-list", Ty::List(&INT)),
    ],
    conc_rule: true,
};

static MN_SEARCH: Model = Model {
    name: "MultiNodeSearchSpaceEntry",
    fields: &[
        default("spec-decoding", Ty::SpecDecoding),
        req("prefill", Ty::Model(&WORKER)),
        req("decode", Ty::Model(&WORKER)),
        opt("conc-start", Ty::Int),
        opt("conc-end", Ty::Int),
        opt("conc-list", Ty::List(&INT)),
    ],
    conc_rule: true,
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

static SN_SEQ_LEN_TY: Ty = Ty::Model(&SN_SEQ_LEN);
static MN_SEQ_LEN_TY: Ty = Ty::Model(&MN_SEQ_LEN);

macro_rules! master_entry {
    ($name:literal, $multinode:literal, $seq:expr) => {
        Model {
            name: $name,
            fields: &[
                req("image", Ty::Str),
                req("model", Ty::Str),
                req("model-prefix", Ty::Str),
                req("precision", Ty::Str),
                req("framework", Ty::Str),
                req("runner", Ty::Str),
                req("multinode", Ty::LitBool($multinode)),
                default("disagg", Ty::Bool),
                req("seq-len-configs", Ty::List($seq)),
            ],
            conc_rule: false,
        }
    };
}

static SN_MASTER: Model = master_entry!("SingleNodeMasterConfigEntry", false, &SN_SEQ_LEN_TY);
static MN_MASTER: Model = master_entry!("MultiNodeMasterConfigEntry", true, &MN_SEQ_LEN_TY);

static SN_MATRIX: Model = Model {
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
        req("ep", Ty::Int),
        req("dp-attn", Ty::Bool),
        // `Union[int, List[int]]` is checked by hand in `check_matrix_entry`.
        req("max-model-len", Ty::Int),
        req("exp-name", Ty::Str),
        req("disagg", Ty::Bool),
        req("run-eval", Ty::Bool),
    ],
    conc_rule: false,
};

static MN_MATRIX: Model = Model {
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
    ],
    conc_rule: false,
};

/// Validates one master-config entry; the schema is chosen by the
/// truthiness of its `multinode` value. Returns pydantic-style issues
/// (`field.path: message`); empty means valid.
pub(crate) fn check_master_entry(entry: &Value) -> Vec<String> {
    let mut issues = Vec::new();
    let Value::Dict(dict) = entry else {
        issues.push(format!(
            "the entry must be a mapping, got {}",
            entry.type_name()
        ));
        return issues;
    };
    let multinode = dict.get("multinode").is_some_and(Value::is_truthy);
    let model = if multinode { &MN_MASTER } else { &SN_MASTER };
    check_model(dict, model, "", &mut issues);
    issues
}

/// `validate_matrix_entry`: the generated entry against the workflow's
/// input schema. Never fails for inputs that passed `check_master_entry`,
/// except where the original crashes too.
pub(crate) fn check_matrix_entry(entry: &Dict, multinode: bool) -> Vec<String> {
    let mut issues = Vec::new();
    if multinode {
        check_model(entry, &MN_MATRIX, "", &mut issues);
    } else {
        let mut without_conc = entry.clone();
        let conc = without_conc.remove("conc");
        check_model(&without_conc, &SN_MATRIX, "", &mut issues);
        match conc {
            None => issues.push("conc: Field required".to_owned()),
            Some(v @ Value::List(_)) => check(&v, Ty::List(&INT), "conc", &mut issues),
            Some(v) => check(&v, Ty::Int, "conc", &mut issues),
        }
    }
    issues
}

fn join(loc: &str, part: &str) -> String {
    if loc.is_empty() {
        part.to_owned()
    } else {
        format!("{loc}.{part}")
    }
}

/// `key` is `alias` spelled with underscores (pydantic's field name, which
/// `populate_by_name` accepts too); compared without allocating, as this
/// runs for every key of every entry and generated row.
fn is_python_name(key: &str, alias: &str) -> bool {
    alias.contains('-')
        && key.len() == alias.len()
        && key
            .bytes()
            .zip(alias.bytes())
            .all(|(k, a)| k == if a == b'-' { b'_' } else { a })
}

pub(crate) fn check_model(dict: &Dict, model: &Model, loc: &str, issues: &mut Vec<String>) {
    let before = issues.len();
    for field in model.fields {
        let value = dict.get(field.alias).or_else(|| {
            dict.iter()
                .find(|(k, _)| is_python_name(k, field.alias))
                .map(|(_, v)| v)
        });
        match value {
            None if field.required => {
                issues.push(format!("{}: Field required", join(loc, field.alias)));
            }
            None => {}
            Some(Value::Null) if field.nullable => {}
            Some(v) => check(v, field.ty, &join(loc, field.alias), issues),
        }
    }
    for key in dict.keys() {
        let known = model.fields.iter().any(|f| {
            key == f.alias || (is_python_name(key, f.alias) && !dict.contains_key(f.alias))
        });
        if !known {
            issues.push(format!(
                "{}: Extra inputs are not permitted",
                join(loc, key)
            ));
        }
    }
    if model.conc_rule && issues.len() == before {
        if let Err(message) = conc_rule(dict) {
            let at = if loc.is_empty() {
                String::new()
            } else {
                format!("{loc}: ")
            };
            issues.push(format!("{at}Value error, {message}"));
        }
    }
}

fn check(value: &Value, ty: Ty, loc: &str, issues: &mut Vec<String>) {
    let result = match ty {
        Ty::Str => match value {
            Value::Str(_) => Ok(()),
            _ => Err("Input should be a valid string".to_owned()),
        },
        Ty::Int => coerce_int(value).map(drop),
        Ty::Bool => coerce_bool(value).map(drop),
        Ty::LitBool(want) => {
            let ok = match value {
                Value::Bool(b) => *b == want,
                Value::Int(i) => *i == i128::from(want),
                Value::Float(f) => *f == f64::from(u8::from(want)),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "Input should be {}",
                    if want { "True" } else { "False" }
                ))
            }
        }
        Ty::SpecDecoding => match value.as_str() {
            Some("mtp" | "draft_model" | "none") => Ok(()),
            _ => Err("Input should be 'mtp', 'draft_model' or 'none'".to_owned()),
        },
        Ty::List(item) => match value {
            Value::List(items) => {
                for (i, v) in items.iter().enumerate() {
                    check(v, *item, &join(loc, &i.to_string()), issues);
                }
                Ok(())
            }
            _ => Err("Input should be a valid list".to_owned()),
        },
        Ty::Model(model) => match value {
            Value::Dict(d) => {
                check_model(d, model, loc, issues);
                Ok(())
            }
            _ => Err(format!(
                "Input should be a valid dictionary or instance of {}",
                model.name
            )),
        },
        Ty::NonEmptyStr => match value {
            Value::Str(s) if !s.is_empty() => Ok(()),
            Value::Str(_) => Err("String should have at least 1 character".to_owned()),
            _ => Err("Input should be a valid string".to_owned()),
        },
        Ty::StrictPosInt => match value {
            Value::Int(i) if *i > 0 => Ok(()),
            Value::Int(_) => Err("Input should be greater than 0".to_owned()),
            _ => Err("Input should be a valid integer".to_owned()),
        },
        Ty::PosInt => coerce_int(value).and_then(|i| {
            if i > 0 {
                Ok(())
            } else {
                Err("Input should be greater than 0".to_owned())
            }
        }),
        Ty::Fraction => coerce_float(value).and_then(|f| {
            if f > 0.0 && f <= 1.0 {
                Ok(())
            } else {
                Err("Input should be greater than 0 and less than or equal to 1".to_owned())
            }
        }),
        Ty::OneOf(choices) => match value.as_str() {
            Some(s) if choices.contains(&s) => Ok(()),
            _ => Err(format!(
                "Input should be {}",
                choices
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        },
        Ty::IntOrIntList => match value {
            Value::List(items) => {
                for (i, v) in items.iter().enumerate() {
                    check(v, Ty::Int, &join(loc, &i.to_string()), issues);
                }
                Ok(())
            }
            _ => coerce_int(value).map(drop),
        },
        Ty::Map(item) => match value {
            Value::Dict(d) => {
                for (k, v) in d.iter() {
                    check(v, *item, &join(loc, k), issues);
                }
                Ok(())
            }
            _ => Err("Input should be a valid dictionary".to_owned()),
        },
    };
    if let Err(message) = result {
        issues.push(format!(
            "{loc}: {message}, got {} {}",
            value.type_name(),
            show(value)
        ));
    }
}

/// pydantic's lax `int`.
pub(crate) fn coerce_int(value: &Value) -> Result<i128, String> {
    match value {
        Value::Bool(b) => Ok(i128::from(*b)),
        Value::Int(i) => Ok(*i),
        Value::Float(f) if !f.is_finite() => Err("Input should be a finite number".to_owned()),
        Value::Float(f) if f.fract() != 0.0 => {
            Err("Input should be a valid integer, got a number with a fractional part".to_owned())
        }
        // Integral and finite: the conversion is exact below 2^127.
        Value::Float(f) if f.abs() < 1.7e38 => Ok(*f as i128),
        Value::Str(s) => parse_int_str(s).ok_or_else(|| {
            "Input should be a valid integer, unable to parse string as an integer".to_owned()
        }),
        _ => Err("Input should be a valid integer".to_owned()),
    }
}

/// pydantic's lax `float`: numbers and bools, and numeric strings.
pub(crate) fn coerce_float(value: &Value) -> Result<f64, String> {
    let f = match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => servebench_pyjson::parse_float(s).ok_or_else(|| {
            "Input should be a valid number, unable to parse string as a number".to_owned()
        })?,
        _ => return Err("Input should be a valid number".to_owned()),
    };
    if f.is_finite() {
        Ok(f)
    } else {
        Err("Input should be a finite number".to_owned())
    }
}

/// `^\s*[+-]?\d(_?\d)*(\.0+)?\s*$`, the strings pydantic turns into ints.
fn parse_int_str(s: &str) -> Option<i128> {
    let t = s.trim();
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let int_part = match body.split_once('.') {
        Some((int_part, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => {
            int_part
        }
        Some(_) => return None,
        None => body,
    };
    let bytes = int_part.as_bytes();
    let well_formed = bytes.first()?.is_ascii_digit()
        && bytes.last()?.is_ascii_digit()
        && bytes.iter().all(|b| b.is_ascii_digit() || *b == b'_')
        && !int_part.contains("__");
    if !well_formed {
        return None;
    }
    let digits: String = int_part.chars().filter(|c| *c != '_').collect();
    let magnitude: i128 = digits.parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// pydantic's lax `bool`.
pub(crate) fn coerce_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Float(f) if *f == 0.0 => Ok(false),
        Value::Float(f) if *f == 1.0 => Ok(true),
        Value::Str(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Ok(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Ok(true),
            _ => Err("Input should be a valid boolean, unable to interpret input".to_owned()),
        },
        _ => Err("Input should be a valid boolean".to_owned()),
    }
}

/// `_validate_conc_fields` on the validated (coerced) values (edition
/// 2026-02: a range may start at 0 or below).
fn conc_rule(dict: &Dict) -> Result<(), String> {
    conc_rule_with(dict, false)
}

/// `_validate_conc_fields`; `positive_range` adds edition 2026-08's check
/// that both range ends are greater than 0.
pub(crate) fn conc_rule_with(dict: &Dict, positive_range: bool) -> Result<(), String> {
    let field = |alias: &str| {
        dict.get(alias)
            .or_else(|| dict.get(&alias.replace('-', "_")))
            .filter(|v| !matches!(v, Value::Null))
    };
    let int = |v: &Value| coerce_int(v).unwrap_or_default();
    let start = field("conc-start").map(int);
    let end = field("conc-end").map(int);
    let list: Option<Vec<i128>> = field("conc-list")
        .and_then(Value::as_list)
        .map(|items| items.iter().map(int).collect());
    let has_range = start.is_some() && end.is_some();
    let has_list = list.as_ref().is_some_and(|l| !l.is_empty());
    if has_range && has_list {
        return Err(
            "Cannot specify both 'conc-list' list and 'conc-start'/'conc-end'. \
                    Use either a list or a range, not both."
                .to_owned(),
        );
    }
    if !has_range && !has_list {
        return Err(
            "Must specify either 'conc-list' list or both 'conc-start' and 'conc-end'.".to_owned(),
        );
    }
    if let (Some(start), Some(end)) = (start, end) {
        if positive_range && (start <= 0 || end <= 0) {
            return Err("Input 'conc-start' and 'conc-end' must be greater than 0.".to_owned());
        }
        if start > end {
            return Err(format!(
                "'conc-start' ({start}) must be <= 'conc-end' ({end})."
            ));
        }
    }
    if list.is_some_and(|l| l.iter().any(|x| *x <= 0)) {
        return Err("Input 'conc-list' entries must be greater than 0.".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use servebench_yaml::parse as parse_yaml;

    #[test]
    fn python_names_match_without_allocating() {
        assert!(is_python_name("model_prefix", "model-prefix"));
        assert!(is_python_name("dp_attn", "dp-attn"));
        assert!(!is_python_name("model-prefix", "model-prefix"));
        assert!(
            !is_python_name("tp", "tp"),
            "no dash: only the alias itself"
        );
        assert!(!is_python_name("model_prefi", "model-prefix"));
        assert!(!is_python_name("model_prefiy", "model-prefix"));
    }

    const SN: &str = "
image: img:1
model: org/m
model-prefix: m
precision: fp8
framework: vllm
runner: h100
multinode: false
seq-len-configs:
- isl: 1024
  osl: 1024
  search-space:
  - { tp: 8, conc-start: 4, conc-end: 64 }
";

    const MN: &str = "
image: img:1
model: org/m
model-prefix: m
precision: fp4
framework: dynamo-trt
runner: gb200
multinode: true
seq-len-configs:
- isl: 1024
  osl: 1024
  search-space:
  - spec-decoding: mtp
    conc-list: [1, 2]
    prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false }
    decode: { num-worker: 1, tp: 8, ep: 8, dp-attn: true, additional-settings: [\"A=1\"] }
";

    /// Validates `base` with `from` replaced by `to`; `want` is `None` for
    /// valid, else a substring of the (single) joined message.
    #[track_caller]
    fn check(base: &str, from: &str, to: &str, want: Option<&str>) {
        assert!(base.contains(from), "fixture lacks {from:?}");
        let doc = base.replacen(from, to, 1);
        let value = parse_yaml(&doc).unwrap_or_else(|e| panic!("{to:?}: {e}"));
        let issues = check_master_entry(&value).join("; ");
        match want {
            None => assert!(issues.is_empty(), "{to:?}: unexpected {issues}"),
            Some(w) => assert!(issues.contains(w), "{to:?}: {issues:?} lacks {w:?}"),
        }
    }

    #[test]
    fn top_level_fields() {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("image: img:1\n", "", Some("image: Field required")),
            (
                "image: img:1",
                "image: 5",
                Some("image: Input should be a valid string, got int 5"),
            ),
            (
                "image: img:1",
                "image: ~",
                Some("image: Input should be a valid string"),
            ),
            ("model-prefix: m", "model_prefix: m", None),
            (
                "model-prefix: m",
                "model-prefix: m\nmodel_prefix: n",
                Some("model_prefix: Extra inputs are not permitted"),
            ),
            ("multinode: false\n", "", Some("multinode: Field required")),
            ("multinode: false", "multinode: 0", None),
            ("multinode: false", "multinode: 0.0", None),
            ("multinode: false", "multinode: off", None),
            (
                "multinode: false",
                "multinode: []",
                Some("multinode: Input should be False"),
            ),
            (
                "multinode: false",
                "multinode: '0'",
                Some("Input should be True"),
            ),
            ("multinode: false", "multinode: false\ndisagg: yes", None),
            ("multinode: false", "multinode: false\ndisagg: 'on'", None),
            (
                "multinode: false",
                "multinode: false\ndisagg: 2",
                Some("disagg: Input should be a valid boolean"),
            ),
            (
                "multinode: false",
                "multinode: false\nowner: me",
                Some("owner: Extra inputs are not permitted"),
            ),
            (
                "seq-len-configs:\n- isl",
                "seq-len-configs: ~\nx:\n- isl",
                Some("seq-len-configs: Input should be a valid list"),
            ),
        ];
        for (from, to, want) in table {
            check(SN, from, to, *want);
        }
    }

    #[test]
    fn single_node_search_space() {
        let base = "{ tp: 8, conc-start: 4, conc-end: 64 }";
        let table: &[(&str, Option<&str>)] = &[
            ("{ tp: '8', conc-start: 4, conc-end: 64 }", None),
            ("{ tp: 8.0, conc-start: 4, conc-end: 64 }", None),
            ("{ tp: true, conc-start: 4, conc-end: 64 }", None),
            (
                "{ tp: two, conc-start: 4, conc-end: 64 }",
                Some("search-space.0.tp: Input should be a valid integer, unable to parse string"),
            ),
            (
                "{ tp: 8.5, conc-start: 4, conc-end: 64 }",
                Some("fractional part"),
            ),
            (
                "{ tp: .inf, conc-start: 4, conc-end: 64 }",
                Some("finite number"),
            ),
            (
                "{ conc-start: 4, conc-end: 64 }",
                Some("search-space.0.tp: Field required"),
            ),
            (
                "{ tp: 8, ep: ~, dp-attn: ~, conc-start: 4, conc-end: 64 }",
                None,
            ),
            ("{ tp: 8, dp-attn: 'y', conc-start: 4, conc-end: 64 }", None),
            (
                "{ tp: 8, dp-attn: 2, conc-start: 4, conc-end: 64 }",
                Some("dp-attn: Input should be a valid boolean"),
            ),
            (
                "{ tp: 8, spec-decoding: draft_model, conc-start: 4, conc-end: 64 }",
                None,
            ),
            (
                "{ tp: 8, spec-decoding: MTP, conc-start: 4, conc-end: 64 }",
                Some("spec-decoding: Input should be 'mtp', 'draft_model' or 'none'"),
            ),
            (
                "{ tp: 8, spec-decoding: ~, conc-start: 4, conc-end: 64 }",
                Some("spec-decoding"),
            ),
            ("{ tp: 8, conc_start: 4, conc-end: 64 }", None),
            (
                "{ tp: 8, conc-start: 4, conc-end: 64, extra: 1 }",
                Some("search-space.0.extra: Extra inputs are not permitted"),
            ),
            ("{ tp: 8, conc-list: [4, 8] }", None),
            (
                "{ tp: 8, conc-list: [4, 8], conc-start: 1, conc-end: 2 }",
                Some("Cannot specify both"),
            ),
            ("{ tp: 8, conc-list: [], conc-start: 1, conc-end: 2 }", None),
            ("{ tp: 8, conc-list: ~, conc-start: 1, conc-end: 2 }", None),
            ("{ tp: 8, conc-list: [] }", Some("Must specify either")),
            ("{ tp: 8, conc-start: 4 }", Some("Must specify either")),
            ("{ tp: 8 }", Some("Must specify either")),
            (
                "{ tp: 8, conc-start: 64, conc-end: 4 }",
                Some("'conc-start' (64) must be <= 'conc-end' (4)."),
            ),
            (
                "{ tp: 8, conc-start: '64', conc-end: 4.0 }",
                Some("'conc-start' (64) must be <= 'conc-end' (4)."),
            ),
            ("{ tp: 8, conc-start: 0, conc-end: 4 }", None),
            ("{ tp: 8, conc-start: -4, conc-end: 4 }", None),
            (
                "{ tp: 8, conc-list: [4, 0] }",
                Some("entries must be greater than 0"),
            ),
            (
                "{ tp: 8, conc-list: [4, x] }",
                Some("conc-list.1: Input should be a valid integer"),
            ),
            (
                "{ tp: 8, conc-list: 4 }",
                Some("conc-list: Input should be a valid list"),
            ),
            // The concurrency rule only runs once the fields are valid.
            (
                "{ tp: x, conc-list: [1], conc-start: 1, conc-end: 2 }",
                Some("tp: Input"),
            ),
        ];
        for (to, want) in table {
            check(SN, base, to, *want);
        }
        check(
            SN,
            base,
            "{ tp: x, conc-list: [1], conc-start: 1, conc-end: 2 }",
            Some("tp"),
        );
        let issues = check_master_entry(
            &parse_yaml(&SN.replace(
                base,
                "{ tp: x, conc-list: [1], conc-start: 1, conc-end: 2 }",
            ))
            .unwrap(),
        );
        assert_eq!(issues.len(), 1, "{issues:?}");
    }

    #[test]
    fn multi_node_entries() {
        check(MN, "spec-decoding: mtp", "spec-decoding: mtp", None);
        let table: &[(&str, &str, Option<&str>)] = &[
            ("multinode: true", "multinode: 1", None),
            ("multinode: true", "multinode: 1.0", None),
            ("multinode: true", "multinode: 'no'", Some("multinode: Input should be True")),
            ("multinode: true", "multinode: 2", Some("Input should be True")),
            ("prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false }", "prefill: { tp: 4, ep: 4, dp-attn: false }", Some("search-space.0.prefill.num-worker: Field required")),
            ("prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false }", "prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false, extra: x }", Some("prefill.extra: Extra inputs are not permitted")),
            ("prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false }", "prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false, additional-settings: ~ }", None),
            ("prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false }", "prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false, additional-settings: [1] }", Some("prefill.additional-settings.0: Input should be a valid string")),
            ("prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false }", "prefill: { num-worker: 1, tp: 4, ep: ~, dp-attn: false }", Some("prefill.ep: Input should be a valid integer")),
            ("prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: false }", "prefill: [1]", Some("prefill: Input should be a valid dictionary or instance of WorkerConfig")),
            ("    decode:", "    tp: 8\n    decode:", Some("search-space.0.tp: Extra inputs are not permitted")),
            ("conc-list: [1, 2]", "conc-start: 1", Some("Must specify either")),
        ];
        for (from, to, want) in table {
            check(MN, from, to, *want);
        }
    }

    #[test]
    fn an_entry_must_be_a_mapping() {
        let issues = check_master_entry(&Value::from("x"));
        assert_eq!(issues, ["the entry must be a mapping, got str"]);
    }

    /// Expected answers were produced by pydantic 2.14 in lax mode.
    #[test]
    fn lax_int_and_bool_coercions() {
        let ints: &[(Value, Option<i128>)] = &[
            (Value::Bool(true), Some(1)),
            (Value::Float(8.0), Some(8)),
            (Value::Float(8.5), None),
            (Value::Float(f64::INFINITY), None),
            (Value::from("8"), Some(8)),
            (Value::from(" 8 "), Some(8)),
            (Value::from("\t8\n"), Some(8)),
            (Value::from("+8"), Some(8)),
            (Value::from("-8"), Some(-8)),
            (Value::from("08"), Some(8)),
            (Value::from("0008"), Some(8)),
            (Value::from("1_000"), Some(1000)),
            (Value::from(" 1_0 "), Some(10)),
            (Value::from("8.0"), Some(8)),
            (Value::from("8.00"), Some(8)),
            (Value::from("+8.0"), Some(8)),
            (Value::from("-8.0"), Some(-8)),
            (Value::from("1_0.0"), Some(10)),
            (Value::from("-0"), Some(0)),
            (Value::from("8."), None),
            (Value::from("8.0000000001"), None),
            (Value::from(".0"), None),
            (Value::from("1__0"), None),
            (Value::from("_1"), None),
            (Value::from("1_"), None),
            (Value::from("8e0"), None),
            (Value::from("0x10"), None),
            (Value::from(""), None),
            (Value::from("1e3"), None),
            (Value::from("\u{ff18}"), None),
            (Value::Null, None),
            (Value::List(vec![]), None),
        ];
        for (v, want) in ints {
            assert_eq!(coerce_int(v).ok(), *want, "int {v:?}");
        }
        let bools: &[(Value, Option<bool>)] = &[
            (Value::Int(1), Some(true)),
            (Value::Int(0), Some(false)),
            (Value::Int(2), None),
            (Value::Int(-1), None),
            (Value::Float(1.0), Some(true)),
            (Value::Float(0.0), Some(false)),
            (Value::Float(0.5), None),
            (Value::Float(f64::NAN), None),
            (Value::from("Y"), Some(true)),
            (Value::from("yEs"), Some(true)),
            (Value::from("On"), Some(true)),
            (Value::from("TRUE"), Some(true)),
            (Value::from("t"), Some(true)),
            (Value::from("1"), Some(true)),
            (Value::from("oFF"), Some(false)),
            (Value::from("nO"), Some(false)),
            (Value::from("F"), Some(false)),
            (Value::from("N"), Some(false)),
            (Value::from("0"), Some(false)),
            (Value::from(" true "), None),
            (Value::from("true "), None),
            (Value::from("2"), None),
            (Value::from("1.0"), None),
            (Value::from(""), None),
        ];
        for (v, want) in bools {
            assert_eq!(coerce_bool(v).ok(), *want, "bool {v:?}");
        }
    }
}
