//! The output model (`ChangelogMatrixEntry` and the matrix row models of
//! `validation.py`): every row is validated with pydantic's lax types,
//! normalised (`"2"` becomes 2, defaults are filled, nulls dropped) and
//! written as `model_dump_json(by_alias=True, exclude_none=True)` writes it.

use crate::lax;
use servebench_pyjson::{Dict, Value};

/// The type of one model field.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    /// `str` with `min_length=1`.
    NonEmptyStr,
    Int,
    /// `int` with `ge=0`.
    NonNegInt,
    /// `int` with `gt=0, strict=True`.
    StrictPosInt,
    Bool,
    /// `Literal[False]`.
    False,
    Literal(&'static [&'static str]),
    /// `Union[int, List[int]]`.
    IntOrIntList,
    IntList,
    StrList,
    Worker,
    Component,
    Backend,
    /// `str` matching `^[0-9a-f]{64}$`.
    Fingerprint,
}

/// What a missing field becomes.
#[derive(Clone, Copy)]
enum Missing {
    Required,
    /// `Optional[...] = None`: dropped from the dump.
    Dropped,
    Bool(bool),
    Int(i128),
    Str(&'static str),
    EmptyList,
}

struct Field {
    name: &'static str,
    kind: Kind,
    missing: Missing,
    /// Whether an explicit null is accepted (and dropped).
    nullable: bool,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        missing: Missing::Required,
        nullable: false,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        missing: Missing::Dropped,
        nullable: true,
    }
}

const fn dflt(name: &'static str, kind: Kind, missing: Missing) -> Field {
    Field {
        name,
        kind,
        missing,
        nullable: false,
    }
}

const SPEC: Kind = Kind::Literal(&["mtp", "draft_model", "none"]);
const KV: Kind = Kind::Literal(&["none", "dram"]);

const SINGLE_NODE: &[Field] = &[
    req("image", Kind::Str),
    req("model", Kind::Str),
    req("model-prefix", Kind::Str),
    req("precision", Kind::Str),
    req("framework", Kind::Str),
    req("spec-decoding", SPEC),
    req("runner", Kind::Str),
    req("isl", Kind::Int),
    req("osl", Kind::Int),
    req("tp", Kind::Int),
    req("pp", Kind::StrictPosInt),
    req("dcp-size", Kind::StrictPosInt),
    req("pcp-size", Kind::StrictPosInt),
    req("ep", Kind::Int),
    req("dp-attn", Kind::Bool),
    req("conc", Kind::IntOrIntList),
    req("max-model-len", Kind::Int),
    req("exp-name", Kind::Str),
    req("disagg", Kind::False),
    req("run-eval", Kind::Bool),
    dflt("eval-only", Kind::Bool, Missing::Bool(false)),
    opt("router", Kind::Component),
    opt("recipe-fingerprint", Kind::Fingerprint),
];

const WORKER: &[Field] = &[
    req("num-worker", Kind::Int),
    req("tp", Kind::Int),
    dflt("pp", Kind::StrictPosInt, Missing::Int(1)),
    dflt("dcp-size", Kind::StrictPosInt, Missing::Int(1)),
    dflt("pcp-size", Kind::StrictPosInt, Missing::Int(1)),
    req("ep", Kind::Int),
    req("dp-attn", Kind::Bool),
    opt("hardware", Kind::NonEmptyStr),
    Field {
        name: "additional-settings",
        kind: Kind::StrList,
        missing: Missing::EmptyList,
        nullable: true,
    },
];

const MULTI_NODE: &[Field] = &[
    req("image", Kind::Str),
    req("model", Kind::Str),
    req("model-prefix", Kind::Str),
    req("precision", Kind::Str),
    req("framework", Kind::Str),
    req("spec-decoding", SPEC),
    req("runner", Kind::Str),
    req("isl", Kind::Int),
    req("osl", Kind::Int),
    req("prefill", Kind::Worker),
    req("decode", Kind::Worker),
    req("conc", Kind::IntList),
    req("max-model-len", Kind::Int),
    req("exp-name", Kind::Str),
    req("disagg", Kind::Bool),
    req("run-eval", Kind::Bool),
    dflt("eval-only", Kind::Bool, Missing::Bool(false)),
    opt("eval-conc", Kind::Int),
    dflt("eval-all-concs", Kind::Bool, Missing::Bool(false)),
    opt("router", Kind::Component),
    opt("kv-p2p-transfer", Kind::NonEmptyStr),
    opt("recipe-fingerprint", Kind::Fingerprint),
];

const SINGLE_NODE_AGENTIC: &[Field] = &[
    req("image", Kind::Str),
    req("model", Kind::Str),
    req("model-prefix", Kind::Str),
    req("precision", Kind::Str),
    req("framework", Kind::Str),
    req("runner", Kind::Str),
    req("tp", Kind::Int),
    req("pp", Kind::StrictPosInt),
    req("dcp-size", Kind::StrictPosInt),
    req("pcp-size", Kind::StrictPosInt),
    req("ep", Kind::Int),
    req("dp-attn", Kind::Bool),
    dflt("spec-decoding", SPEC, Missing::Str("none")),
    req("conc", Kind::Int),
    req("kv-offloading", KV),
    opt("kv-offload-backend", Kind::Backend),
    opt("router", Kind::Component),
    req("total-cpu-dram-gb", Kind::NonNegInt),
    req("duration", Kind::Int),
    req("exp-name", Kind::Str),
    req("scenario-type", Kind::Str),
    opt("run-eval", Kind::Bool),
    opt("eval-only", Kind::Bool),
    opt("recipe-fingerprint", Kind::Fingerprint),
];

const MULTI_NODE_AGENTIC: &[Field] = &[
    req("image", Kind::Str),
    req("model", Kind::Str),
    req("model-prefix", Kind::Str),
    req("precision", Kind::Str),
    req("framework", Kind::Str),
    req("spec-decoding", SPEC),
    req("runner", Kind::Str),
    req("prefill", Kind::Worker),
    req("decode", Kind::Worker),
    req("conc", Kind::IntList),
    req("kv-offloading", KV),
    opt("kv-offload-backend", Kind::Backend),
    opt("router", Kind::Component),
    opt("kv-p2p-transfer", Kind::NonEmptyStr),
    req("total-cpu-dram-gb", Kind::NonNegInt),
    req("duration", Kind::Int),
    req("exp-name", Kind::Str),
    req("disagg", Kind::Bool),
    req("scenario-type", Kind::Str),
    opt("run-eval", Kind::Bool),
    opt("eval-only", Kind::Bool),
    opt("eval-conc", Kind::Int),
    opt("recipe-fingerprint", Kind::Fingerprint),
];

const COMPONENT: &[Field] = &[
    req("name", Kind::NonEmptyStr),
    req("version", Kind::NonEmptyStr),
];

const BACKEND: &[Field] = &[
    req("name", Kind::NonEmptyStr),
    opt("version", Kind::NonEmptyStr),
];

/// The row models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    SingleNode,
    MultiNode,
    SingleNodeAgentic,
    MultiNodeAgentic,
}

impl Model {
    fn fields(self) -> &'static [Field] {
        match self {
            Model::SingleNode => SINGLE_NODE,
            Model::MultiNode => MULTI_NODE,
            Model::SingleNodeAgentic => SINGLE_NODE_AGENTIC,
            Model::MultiNodeAgentic => MULTI_NODE_AGENTIC,
        }
    }

    /// Validates and normalises one row.
    pub(crate) fn validate(self, row: &Dict) -> Result<Dict, String> {
        let out = model(self.fields(), row)?;
        let int = |k: &str| match out.get(k) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        };
        if matches!(self, Model::SingleNode | Model::SingleNodeAgentic) {
            tp_divisible(int("tp"), int("dcp-size"))?;
        }
        if matches!(self, Model::MultiNode | Model::MultiNodeAgentic) {
            let hw = |k: &str| {
                out.get(k)
                    .and_then(Value::as_dict)
                    .and_then(|w| w.get("hardware"))
                    .is_some_and(Value::is_truthy)
            };
            if hw("prefill") != hw("decode") {
                return Err(
                    "Value error, 'hardware' must be specified for both 'prefill' and 'decode', or neither".into(),
                );
            }
            if out.get("disagg") == Some(&Value::Bool(true)) && !out.contains_key("kv-p2p-transfer")
            {
                return Err("Value error, disagg=true requires kv-p2p-transfer".into());
            }
        }
        if matches!(self, Model::SingleNodeAgentic | Model::MultiNodeAgentic) {
            let backend = out.contains_key("kv-offload-backend");
            match out.get("kv-offloading").and_then(Value::as_str) {
                Some("none") if backend => {
                    return Err("Value error, kv-offload-backend can only be set when kv-offloading is not 'none'".into())
                }
                Some(kv) if kv != "none" && !backend => {
                    return Err(format!(
                        "Value error, kv-offload-backend is required when kv-offloading is '{kv}'"
                    ))
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

fn tp_divisible(tp: Option<i128>, dcp: Option<i128>) -> Result<(), String> {
    if let (Some(tp), Some(dcp)) = (tp, dcp) {
        if tp.checked_rem(dcp).is_some_and(|r| r != 0) {
            return Err(format!(
                "Value error, 'tp' ({tp}) must be divisible by 'dcp-size' ({dcp})"
            ));
        }
    }
    Ok(())
}

/// Validates `input` against `fields`: unknown keys refused, output in
/// field order.
fn model(fields: &[Field], input: &Dict) -> Result<Dict, String> {
    if let Some(extra) = input.keys().find(|k| !fields.iter().any(|f| f.name == *k)) {
        return Err(format!("{extra}: Extra inputs are not permitted"));
    }
    let mut out = Dict::new();
    for f in fields {
        let value = match input.get(f.name) {
            None => match f.missing {
                Missing::Required => return Err(format!("{}: Field required", f.name)),
                Missing::Dropped => continue,
                Missing::Bool(b) => Value::Bool(b),
                Missing::Int(i) => Value::Int(i),
                Missing::Str(s) => Value::from(s),
                Missing::EmptyList => Value::List(Vec::new()),
            },
            Some(Value::Null) if f.nullable => continue,
            Some(v) => convert(f.kind, v).map_err(|e| format!("{}: {e}", f.name))?,
        };
        out.insert(f.name, value);
    }
    Ok(out)
}

fn convert(kind: Kind, v: &Value) -> Result<Value, String> {
    let min1 = |s: &str| -> Result<Value, String> {
        if s.is_empty() {
            Err("String should have at least 1 character".into())
        } else {
            Ok(Value::from(s))
        }
    };
    let no_image = |d: &Dict| -> Result<(), String> {
        if d.get("version")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("image:"))
        {
            return Err("version: Value error, component version must be a release, package version, or source commit, not an image reference".into());
        }
        Ok(())
    };
    let sub = |fields: &[Field]| -> Result<Dict, String> {
        let d = v
            .as_dict()
            .ok_or_else(|| format!("Input should be a valid dictionary, got {}", v.type_name()))?;
        model(fields, d)
    };
    Ok(match kind {
        Kind::Str => Value::from(lax::string(v)?),
        Kind::NonEmptyStr => min1(lax::string(v)?)?,
        Kind::Int => Value::Int(lax::int(v)?),
        Kind::NonNegInt => {
            let i = lax::int(v)?;
            if i < 0 {
                return Err("Input should be greater than or equal to 0".into());
            }
            Value::Int(i)
        }
        Kind::StrictPosInt => Value::Int(lax::strict_pos_int(v)?),
        Kind::Bool => Value::Bool(lax::bool(v)?),
        Kind::False => match v {
            Value::Bool(false) => Value::Bool(false),
            _ => return Err("Input should be False".into()),
        },
        Kind::Literal(choices) => match v.as_str() {
            Some(s) if choices.contains(&s) => Value::from(s),
            _ => {
                let names: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
                return Err(format!("Input should be {}", names.join(" or ")));
            }
        },
        Kind::IntOrIntList => match v {
            Value::List(_) => convert(Kind::IntList, v)?,
            other => Value::Int(lax::int(other)?),
        },
        Kind::IntList => {
            let items = v
                .as_list()
                .ok_or_else(|| format!("Input should be a valid list, got {}", v.type_name()))?;
            let ints: Result<Vec<Value>, String> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    lax::int(item)
                        .map(Value::Int)
                        .map_err(|e| format!("{i}: {e}"))
                })
                .collect();
            Value::List(ints?)
        }
        Kind::StrList => Value::List(lax::string_list(v)?.into_iter().map(Value::from).collect()),
        Kind::Worker => {
            let w = sub(WORKER)?;
            let int = |k: &str| match w.get(k) {
                Some(Value::Int(i)) => Some(*i),
                _ => None,
            };
            tp_divisible(int("tp"), int("dcp-size"))?;
            Value::Dict(w)
        }
        Kind::Component => {
            let c = sub(COMPONENT)?;
            no_image(&c)?;
            Value::Dict(c)
        }
        Kind::Backend => {
            let c = sub(BACKEND)?;
            no_image(&c)?;
            Value::Dict(c)
        }
        Kind::Fingerprint => {
            let s = lax::string(v)?;
            if s.len() != 64
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err("String should match pattern '^[0-9a-f]{64}$'".into());
            }
            Value::from(s)
        }
    })
}

/// Appends `value` as pydantic's JSON: no spaces, non-ASCII characters as
/// raw UTF-8.
pub(crate) fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(_) => out.push_str(&servebench_pyjson::to_string(value)),
        Value::Str(s) => write_str(out, s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Dict(d) => {
            out.push('{');
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_json(out, v);
            }
            out.push('}');
        }
    }
}

/// A JSON string as serde_json (pydantic-core) escapes it.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(json: &str) -> Dict {
        match servebench_pyjson::from_str(json).unwrap() {
            Value::Dict(d) => d,
            other => panic!("{other:?}"),
        }
    }

    fn json(d: Dict) -> String {
        let mut s = String::new();
        write_json(&mut s, &Value::Dict(d));
        s
    }

    const FIXED: &str = r#""image": "i", "model": "m", "model-prefix": "p", "precision": "fp8", "framework": "vllm", "runner": "h100", "isl": 1024, "osl": 1024"#;

    #[test]
    fn single_node_rows_are_normalised_in_model_order() {
        let row = dict(&format!(
            r#"{{{FIXED}, "tp": "4", "pp": 1, "dcp-size": 1, "pcp-size": 1, "conc": 8.0, "max-model-len": 2304, "ep": 1, "dp-attn": "true", "spec-decoding": "none", "exp-name": "p_1k1k", "disagg": false, "run-eval": false, "router": {{"name": "r", "version": "1"}}}}"#
        ));
        assert_eq!(
            json(Model::SingleNode.validate(&row).unwrap()),
            r#"{"image":"i","model":"m","model-prefix":"p","precision":"fp8","framework":"vllm","spec-decoding":"none","runner":"h100","isl":1024,"osl":1024,"tp":4,"pp":1,"dcp-size":1,"pcp-size":1,"ep":1,"dp-attn":true,"conc":8,"max-model-len":2304,"exp-name":"p_1k1k","disagg":false,"run-eval":false,"eval-only":false,"router":{"name":"r","version":"1"}}"#
        );
    }

    #[test]
    fn multi_node_workers_get_their_defaults() {
        let w = r#"{"num-worker": 1, "tp": 4, "ep": 4, "dp-attn": false}"#;
        let w_null = r#"{"num-worker": 1, "tp": 4, "ep": 4, "dp-attn": false, "additional-settings": null, "pp": 2}"#;
        let row = dict(&format!(
            r#"{{{FIXED}, "spec-decoding": "mtp", "prefill": {w}, "decode": {w_null}, "conc": ["8", 16], "max-model-len": 2304, "exp-name": "e", "disagg": false, "run-eval": true, "eval-conc": 16}}"#
        ));
        assert_eq!(
            json(Model::MultiNode.validate(&row).unwrap()),
            r#"{"image":"i","model":"m","model-prefix":"p","precision":"fp8","framework":"vllm","spec-decoding":"mtp","runner":"h100","isl":1024,"osl":1024,"prefill":{"num-worker":1,"tp":4,"pp":1,"dcp-size":1,"pcp-size":1,"ep":4,"dp-attn":false,"additional-settings":[]},"decode":{"num-worker":1,"tp":4,"pp":2,"dcp-size":1,"pcp-size":1,"ep":4,"dp-attn":false},"conc":[8,16],"max-model-len":2304,"exp-name":"e","disagg":false,"run-eval":true,"eval-only":false,"eval-conc":16,"eval-all-concs":false}"#
        );
    }

    #[test]
    fn agentic_rows_drop_absent_eval_fields() {
        let row = dict(
            r#"{"image": "i", "model": "m", "model-prefix": "p", "precision": "fp8", "framework": "vllm", "runner": "cluster:x", "tp": 4, "pp": 1, "dcp-size": 1, "pcp-size": 1, "ep": 1, "dp-attn": false, "spec-decoding": "none", "conc": 1, "kv-offloading": "dram", "total-cpu-dram-gb": 100, "duration": 3600, "exp-name": "e", "scenario-type": "agentic-coding", "kv-offload-backend": {"name": "lmcache"}}"#,
        );
        assert_eq!(
            json(Model::SingleNodeAgentic.validate(&row).unwrap()),
            r#"{"image":"i","model":"m","model-prefix":"p","precision":"fp8","framework":"vllm","runner":"cluster:x","tp":4,"pp":1,"dcp-size":1,"pcp-size":1,"ep":1,"dp-attn":false,"spec-decoding":"none","conc":1,"kv-offloading":"dram","kv-offload-backend":{"name":"lmcache"},"total-cpu-dram-gb":100,"duration":3600,"exp-name":"e","scenario-type":"agentic-coding"}"#
        );
        // A fixed row is not an agentic row, and the other way round.
        assert!(Model::SingleNode.validate(&row).is_err());
    }

    #[test]
    fn invalid_rows_are_refused() {
        let base = format!(
            r#"{FIXED}, "tp": 4, "pp": 1, "dcp-size": 1, "pcp-size": 1, "conc": 8, "max-model-len": 2304, "ep": 1, "dp-attn": false, "spec-decoding": "none", "exp-name": "e", "disagg": false, "run-eval": false"#
        );
        for (extra, want) in [
            (r#""x": 1"#, "x: Extra inputs are not permitted"),
            (
                r#""recipe-fingerprint": "ABC""#,
                "recipe-fingerprint: String should match",
            ),
            (
                r#""router": {"name": "r", "version": "image:x"}"#,
                "not an image reference",
            ),
            (
                r#""router": {"name": "", "version": "1"}"#,
                "name: String should have at least 1",
            ),
            (
                r#""eval-only": null"#,
                "eval-only: Input should be a valid boolean",
            ),
        ] {
            let err = Model::SingleNode
                .validate(&dict(&format!("{{{base}, {extra}}}")))
                .unwrap_err();
            assert!(err.contains(want), "{extra}: {err}");
        }
        let err = Model::SingleNode
            .validate(&dict(&format!(
                "{{{}}}",
                base.replace(r#""pp": 1"#, r#""pp": true"#)
            )))
            .unwrap_err();
        assert!(err.starts_with("pp: "), "{err}");
        let err = Model::SingleNode
            .validate(&dict(&format!(
                "{{{}}}",
                base.replace(r#""dcp-size": 1"#, r#""dcp-size": 3"#)
            )))
            .unwrap_err();
        assert!(err.contains("must be divisible by 'dcp-size' (3)"), "{err}");
    }

    #[test]
    fn strings_are_written_as_pydantic_writes_them() {
        let mut s = String::new();
        write_json(&mut s, &Value::from("Ajout — 新增 \"q\" \\ \n\u{1}\u{7f}"));
        assert_eq!(s, "\"Ajout — 新增 \\\"q\\\" \\\\ \\n\\u0001\u{7f}\"");
    }
}
