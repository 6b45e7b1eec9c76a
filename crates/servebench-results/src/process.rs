//! `process_result`: one benchmark result file plus the workflow's
//! environment variables → the "agg" record the dashboards read.

use crate::ResultsError;
use servebench_contract::Edition;
use servebench_pyjson::{float_of, int_of, parse_int};
use servebench_pyjson::{Dict, Value};

/// The variables every run needs, checked together, in this order.
pub(crate) const BASE_ENV: [&str; 10] = [
    "RUNNER_TYPE",
    "FRAMEWORK",
    "PRECISION",
    "SPEC_DECODING",
    "RESULT_FILENAME",
    "ISL",
    "OSL",
    "DISAGG",
    "MODEL_PREFIX",
    "IMAGE",
];
const MULTINODE_ENV: [&str; 10] = [
    "PREFILL_GPUS",
    "DECODE_GPUS",
    "PREFILL_NUM_WORKERS",
    "PREFILL_TP",
    "PREFILL_EP",
    "PREFILL_DP_ATTN",
    "DECODE_NUM_WORKERS",
    "DECODE_TP",
    "DECODE_EP",
    "DECODE_DP_ATTN",
];
const SINGLE_NODE_ENV: [&str; 3] = ["TP", "EP_SIZE", "DP_ATTENTION"];

/// The environment as the tool sees it: `None` = not set (an empty string
/// counts as set).
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// `get_required_env_vars`: all of `names`, or one error listing every
/// missing one.
fn required(env: &dyn Env, names: &[&str]) -> Result<Vec<String>, ResultsError> {
    let values: Vec<Option<String>> = names.iter().map(|n| env.get(n)).collect();
    let missing: Vec<String> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| (*n).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(ResultsError::MissingEnv(missing));
    }
    Ok(values.into_iter().flatten().collect())
}

/// `RESULT_FILENAME`, after checking that every base variable is set: the
/// caller reads `{RESULT_FILENAME}.json` next.
pub fn result_filename(env: &dyn Env) -> Result<String, ResultsError> {
    let base = required(env, &BASE_ENV)?;
    Ok(base[4].clone())
}

fn env_int(name: &str, value: &str) -> Result<i128, ResultsError> {
    parse_int(value).ok_or_else(|| ResultsError::EnvNotInt {
        name: name.to_owned(),
        value: value.to_owned(),
    })
}

fn not_a(what: &str, key: &str, v: &Value) -> ResultsError {
    let hint = if matches!(v, Value::Null) && key == "max_concurrency" {
        " (run benchmark_serving with --max-concurrency)"
    } else {
        ""
    };
    ResultsError::Invalid(format!(
        "result field '{key}' is {} {}, not {what}{hint}",
        v.type_name(),
        servebench_pyjson::show(v)
    ))
}

/// Python `float(v)` of a result field.
fn to_float(key: &str, v: &Value) -> Result<f64, ResultsError> {
    float_of(v).ok_or_else(|| not_a("a number", key, v))
}

/// Python `int(v)` of a result field.
fn to_int(key: &str, v: &Value) -> Result<i128, ResultsError> {
    int_of(v).ok_or_else(|| not_a("an integer", key, v))
}

fn field<'a>(result: &'a Dict, key: &str) -> Result<&'a Value, ResultsError> {
    result
        .get(key)
        .ok_or_else(|| ResultsError::Invalid(format!("the result has no '{key}' field")))
}

fn div(numerator: f64, denominator: f64, what: &str) -> Result<f64, ResultsError> {
    if denominator == 0.0 {
        return Err(ResultsError::Invalid(format!(
            "division by zero computing {what}"
        )));
    }
    Ok(numerator / denominator)
}

/// `tput_per_gpu` = total / all GPUs, `output_tput_per_gpu` = output /
/// output GPUs, `input_tput_per_gpu` = (total − output) / input GPUs.
fn insert_per_gpu(
    record: &mut Dict,
    result: &Dict,
    [all, output_gpus, input_gpus]: [i128; 3],
) -> Result<(), ResultsError> {
    let total = to_float(
        "total_token_throughput",
        field(result, "total_token_throughput")?,
    )?;
    let output = to_float("output_throughput", field(result, "output_throughput")?)?;
    for (key, value, gpus) in [
        ("tput_per_gpu", total, all),
        ("output_tput_per_gpu", output, output_gpus),
        ("input_tput_per_gpu", total - output, input_gpus),
    ] {
        record.insert(key, Value::Float(div(value, gpus as f64, key)?));
    }
    Ok(())
}

/// The GPUs a run used, as the power step needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuCount {
    /// Single node: `G = tp × pp × pcp` (2026-02: `tp`).
    Single(i128),
    /// Multinode: `PREFILL_GPUS` and `DECODE_GPUS`.
    Multinode { prefill: i128, decode: i128 },
}

/// What [`process_result`] builds: the agg record and the GPU count.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// The agg record, key for key as the original.
    pub record: Dict,
    /// The GPUs behind the record.
    pub gpus: GpuCount,
}

/// An optional integer variable, Python `int(os.environ.get(name, '1'))`.
fn env_int_or_one(env: &dyn Env, name: &str) -> Result<i128, ResultsError> {
    match env.get(name) {
        Some(v) => env_int(name, &v),
        None => Ok(1),
    }
}

/// `get_optional_component_metadata('ROUTER_METADATA')` (edition 2026-08).
fn router_metadata(env: &dyn Env) -> Result<Option<Value>, ResultsError> {
    const VAR: &str = "ROUTER_METADATA";
    let raw = match env.get(VAR) {
        None => return Ok(None),
        Some(v) if v.is_empty() || v == "null" => return Ok(None),
        Some(v) => v,
    };
    let parsed = servebench_pyjson::from_str(&raw)
        .map_err(|_| ResultsError::BadEnv(format!("{VAR} must contain valid JSON")))?;
    let exact_keys = match &parsed {
        Value::Dict(d) => {
            let mut keys: Vec<&str> = d.keys().collect();
            keys.sort_unstable();
            keys.dedup();
            keys == ["name", "version"]
        }
        _ => false,
    };
    if !exact_keys {
        return Err(ResultsError::BadEnv(format!(
            "{VAR} must contain exactly 'name' and 'version'"
        )));
    }
    if let Value::Dict(d) = &parsed {
        if !d
            .iter()
            .all(|(_, v)| matches!(v, Value::Str(s) if !s.is_empty()))
        {
            return Err(ResultsError::BadEnv(format!(
                "{VAR} name and version must be non-empty strings"
            )));
        }
    }
    Ok(Some(parsed))
}

/// Builds the agg record from the parsed result file and the environment,
/// key for key as `process_result.py` of `edition` does (SPEC §3; 2026-08:
/// SPEC-bench §3.2–3.4). Every check happens before anything is written.
pub fn process_result(
    edition: Edition,
    env: &dyn Env,
    result: &Value,
) -> Result<Processed, ResultsError> {
    let new = edition >= Edition::E2026_08;
    let base = required(env, &BASE_ENV)?;
    let [hw, framework, precision, spec_decoding, _, isl, osl, disagg, model_prefix, image] =
        <[String; 10]>::try_from(base).map_err(|_| ResultsError::Invalid("environment".into()))?;
    let Value::Dict(result) = result else {
        return Err(ResultsError::Invalid(format!(
            "the result file holds a {}, not an object",
            result.type_name()
        )));
    };
    let disagg = disagg.to_lowercase() == "true";
    let mut record = Dict::new();
    record.insert("hw", hw.into());
    record.insert(
        "conc",
        Value::Int(to_int(
            "max_concurrency",
            field(result, "max_concurrency")?,
        )?),
    );
    record.insert("image", image.into());
    record.insert("model", field(result, "model_id")?.clone());
    record.insert("infmax_model_prefix", model_prefix.into());
    record.insert("framework", framework.into());
    record.insert("precision", precision.into());
    record.insert("spec_decoding", spec_decoding.into());
    record.insert("disagg", Value::Bool(disagg));
    if new {
        let fingerprint = env.get("RECIPE_FINGERPRINT").unwrap_or_default();
        record.insert("recipe_fingerprint", fingerprint.into());
    }
    record.insert("isl", Value::Int(env_int("ISL", &isl)?));
    record.insert("osl", Value::Int(env_int("OSL", &osl)?));
    if new {
        if let Some(router) = router_metadata(env)? {
            record.insert("router", router);
        }
        if let Some(kv) = env.get("KV_P2P_TRANSFER").filter(|v| !v.is_empty()) {
            record.insert("kv_p2p_transfer", kv.into());
        }
    }

    let multinode = env
        .get("IS_MULTINODE")
        .is_some_and(|v| v.to_lowercase() == "true");
    let gpus = if multinode && new {
        multinode_2026_08(env, result, &mut record)?
    } else if multinode {
        let vars = required(env, &MULTINODE_ENV)?;
        let int = |i: usize| env_int(MULTINODE_ENV[i], &vars[i]);
        let (prefill_gpus, decode_gpus) = (int(0)?, int(1)?);
        let (prefill_workers, prefill_tp, prefill_ep) = (int(2)?, int(3)?, int(4)?);
        let (decode_workers, decode_tp, decode_ep) = (int(6)?, int(7)?, int(8)?);
        record.insert("is_multinode", Value::Bool(true));
        record.insert("prefill_tp", Value::Int(prefill_tp));
        record.insert("prefill_ep", Value::Int(prefill_ep));
        record.insert("prefill_dp_attention", vars[5].clone().into());
        record.insert("prefill_num_workers", Value::Int(prefill_workers));
        record.insert("decode_tp", Value::Int(decode_tp));
        record.insert("decode_ep", Value::Int(decode_ep));
        record.insert("decode_dp_attention", vars[9].clone().into());
        record.insert("decode_num_workers", Value::Int(decode_workers));
        record.insert("num_prefill_gpu", Value::Int(prefill_gpus));
        record.insert("num_decode_gpu", Value::Int(decode_gpus));
        insert_per_gpu(
            &mut record,
            result,
            [prefill_gpus + decode_gpus, decode_gpus, prefill_gpus],
        )?;
        GpuCount::Multinode {
            prefill: prefill_gpus,
            decode: decode_gpus,
        }
    } else {
        if disagg {
            return Err(ResultsError::DisaggWithoutMultinode);
        }
        let vars = required(env, &SINGLE_NODE_ENV)?;
        let tp = env_int("TP", &vars[0])?;
        let ep = env_int("EP_SIZE", &vars[1])?;
        record.insert("is_multinode", Value::Bool(false));
        record.insert("tp", Value::Int(tp));
        let gpus = if new {
            let pp = env_int_or_one(env, "PP_SIZE")?;
            let dcp = env_int_or_one(env, "DCP_SIZE")?;
            let pcp = env_int_or_one(env, "PCP_SIZE")?;
            if pp <= 0 || dcp <= 0 || pcp <= 0 {
                return Err(ResultsError::BadEnv(
                    "PP_SIZE, DCP_SIZE, and PCP_SIZE must be positive integers.".into(),
                ));
            }
            record.insert("pp", Value::Int(pp));
            record.insert("dcp_size", Value::Int(dcp));
            record.insert("pcp_size", Value::Int(pcp));
            tp.checked_mul(pp)
                .and_then(|g| g.checked_mul(pcp))
                .ok_or_else(|| ResultsError::Invalid("TP × PP_SIZE × PCP_SIZE overflows".into()))?
        } else {
            tp
        };
        record.insert("ep", Value::Int(ep));
        record.insert("dp_attention", vars[2].clone().into());
        insert_per_gpu(&mut record, result, [gpus, gpus, gpus])?;
        GpuCount::Single(gpus)
    };
    // Every key ending in `ms` gets a seconds twin without `_ms`; every key
    // containing `tpot` an interactivity twin (1000 / value), in file order.
    for (key, value) in result.iter() {
        if key.ends_with("ms") {
            record.insert(
                key.replace("_ms", ""),
                Value::Float(to_float(key, value)? / 1000.0),
            );
        }
        if key.contains("tpot") {
            let derived = key.replace("_ms", "").replace("tpot", "intvty");
            let v = to_float(key, value)?;
            record.insert(
                derived,
                Value::Float(div(
                    1000.0,
                    v,
                    &format!(
                        "interactivity from '{key}' (a zero TPOT, e.g. from a single request)"
                    ),
                )?),
            );
        }
    }
    Ok(Processed { record, gpus })
}

/// The multinode part of edition 2026-08 (SPEC-bench §3.4).
fn multinode_2026_08(
    env: &dyn Env,
    result: &Dict,
    record: &mut Dict,
) -> Result<GpuCount, ResultsError> {
    let vars = required(env, &MULTINODE_ENV)?;
    let prefill_hw = env.get("PREFILL_HARDWARE").unwrap_or_default();
    let decode_hw = env.get("DECODE_HARDWARE").unwrap_or_default();
    if prefill_hw.is_empty() != decode_hw.is_empty() {
        return Err(ResultsError::BadEnv(
            "PREFILL_HARDWARE and DECODE_HARDWARE must be specified together.".into(),
        ));
    }
    let int = |i: usize| env_int(MULTINODE_ENV[i], &vars[i]);
    let opt = |name: &str| env_int_or_one(env, name);
    // Python's order of int() calls.
    let (prefill_gpus, decode_gpus) = (int(0)?, int(1)?);
    let (prefill_workers, prefill_tp) = (int(2)?, int(3)?);
    let prefill_sizes = [
        opt("PREFILL_PP_SIZE")?,
        opt("PREFILL_DCP_SIZE")?,
        opt("PREFILL_PCP_SIZE")?,
    ];
    let prefill_ep = int(4)?;
    let (decode_workers, decode_tp) = (int(6)?, int(7)?);
    let decode_sizes = [
        opt("DECODE_PP_SIZE")?,
        opt("DECODE_DCP_SIZE")?,
        opt("DECODE_PCP_SIZE")?,
    ];
    let decode_ep = int(8)?;
    if prefill_sizes.iter().chain(&decode_sizes).any(|&v| v <= 0) {
        return Err(ResultsError::BadEnv(
            "Multinode PP, DCP, and PCP sizes must be positive integers.".into(),
        ));
    }
    let total = prefill_gpus + decode_gpus;
    if total <= 0 {
        return Err(ResultsError::BadEnv(
            "Multinode results require at least one GPU.".into(),
        ));
    }
    if prefill_gpus <= 0 {
        return Err(ResultsError::BadEnv(
            "Multinode results require at least one prefill GPU.".into(),
        ));
    }
    let has_decode = decode_gpus > 0;
    let (decode_tp, decode_ep, decode_sizes) = if has_decode {
        (decode_tp, decode_ep, decode_sizes)
    } else {
        (0, 0, [1, 1, 1])
    };
    record.insert("is_multinode", Value::Bool(true));
    record.insert("prefill_tp", Value::Int(prefill_tp));
    for (key, v) in ["prefill_pp", "prefill_dcp_size", "prefill_pcp_size"]
        .into_iter()
        .zip(prefill_sizes)
    {
        record.insert(key, Value::Int(v));
    }
    record.insert("prefill_ep", Value::Int(prefill_ep));
    record.insert("prefill_dp_attention", vars[5].clone().into());
    record.insert("prefill_num_workers", Value::Int(prefill_workers));
    record.insert("decode_tp", Value::Int(decode_tp));
    for (key, v) in ["decode_pp", "decode_dcp_size", "decode_pcp_size"]
        .into_iter()
        .zip(decode_sizes)
    {
        record.insert(key, Value::Int(v));
    }
    record.insert("decode_ep", Value::Int(decode_ep));
    record.insert("decode_dp_attention", vars[9].clone().into());
    record.insert("decode_num_workers", Value::Int(decode_workers));
    record.insert("num_prefill_gpu", Value::Int(prefill_gpus));
    record.insert("num_decode_gpu", Value::Int(decode_gpus));
    let output_gpus = if has_decode { decode_gpus } else { total };
    insert_per_gpu(record, result, [total, output_gpus, prefill_gpus])?;
    if !prefill_hw.is_empty() {
        record.insert("prefill_hw", prefill_hw.into());
        record.insert("decode_hw", decode_hw.into());
    }
    Ok(GpuCount::Multinode {
        prefill: prefill_gpus,
        decode: decode_gpus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use servebench_pyjson::{from_str, to_string};
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 13] = [
        ("RUNNER_TYPE", "h200"),
        ("FRAMEWORK", "sglang"),
        ("PRECISION", "fp8"),
        ("SPEC_DECODING", "none"),
        ("RESULT_FILENAME", "r"),
        ("ISL", "1024"),
        ("OSL", "1_024"),
        ("DISAGG", "False"),
        ("MODEL_PREFIX", "dsr1"),
        ("IMAGE", ""),
        ("TP", " 08 "),
        ("EP_SIZE", "-1"),
        ("DP_ATTENTION", "false"),
    ];

    fn run_in(edition: Edition, vars: &[(&str, &str)], result: &str) -> Result<String, String> {
        let result = from_str(result).map_err(|e| e.to_string())?;
        process_result(edition, &env(vars), &result)
            .map(|p| to_string(&Value::Dict(p.record)))
            .map_err(|e| e.to_string())
    }

    fn run(vars: &[(&str, &str)], result: &str) -> Result<String, String> {
        run_in(Edition::E2026_02, vars, result)
    }

    fn run08(vars: &[(&str, &str)], result: &str) -> Result<String, String> {
        run_in(Edition::E2026_08, vars, result)
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    const GOOD: &str = r#"{"model_id": "m", "max_concurrency": 4, "total_token_throughput": 1200, "output_throughput": 400}"#;

    #[test]
    fn edition_2026_08_single_node_adds_fingerprint_parallelism_and_optional_keys() {
        let out = run08(&BASE, GOOD).unwrap();
        assert!(out.contains(r#""disagg": false, "recipe_fingerprint": "", "isl": 1024, "osl": 1024, "is_multinode": false, "tp": 8, "pp": 1, "dcp_size": 1, "pcp_size": 1, "ep": -1, "dp_attention": "false", "tput_per_gpu": 150.0"#), "{out}");
        assert!(!out.contains("router") && !out.contains("kv_p2p"), "{out}");
        let vars = with(&[
            ("RECIPE_FINGERPRINT", "0123456789abcdef0123"),
            ("ROUTER_METADATA", r#"{"version": "1.2", "name": "dynamo"}"#),
            ("KV_P2P_TRANSFER", "nixl"),
            ("PP_SIZE", "2"),
            ("DCP_SIZE", "4"),
            ("PCP_SIZE", "3"),
        ]);
        let out = run08(&vars, GOOD).unwrap();
        // G = tp × pp × pcp = 48; dcp is not a factor.
        assert!(out.contains(r#""recipe_fingerprint": "0123456789abcdef0123", "isl": 1024, "osl": 1024, "router": {"version": "1.2", "name": "dynamo"}, "kv_p2p_transfer": "nixl", "is_multinode": false, "tp": 8, "pp": 2, "dcp_size": 4, "pcp_size": 3, "ep": -1, "dp_attention": "false", "tput_per_gpu": 25.0, "output_tput_per_gpu": 8.333333333333334, "input_tput_per_gpu": 16.666666666666668}"#), "{out}");
        // Empty values and the text null mean "absent".
        let out = run08(
            &with(&[("ROUTER_METADATA", "null"), ("KV_P2P_TRANSFER", "")]),
            GOOD,
        )
        .unwrap();
        assert!(!out.contains("router") && !out.contains("kv_p2p"), "{out}");
        // 2026-02 ignores all of them.
        let out = run(&vars, GOOD).unwrap();
        assert!(
            !out.contains("recipe")
                && !out.contains("\"pp\"")
                && out.contains(r#""tput_per_gpu": 150.0"#),
            "{out}"
        );
    }

    #[test]
    fn edition_2026_08_refusals() {
        for (extra, message) in [
            (
                ("ROUTER_METADATA", "{"),
                "ROUTER_METADATA must contain valid JSON",
            ),
            (
                ("ROUTER_METADATA", "[1]"),
                "ROUTER_METADATA must contain exactly 'name' and 'version'",
            ),
            (
                (
                    "ROUTER_METADATA",
                    r#"{"name": "a", "version": "1", "x": 1}"#,
                ),
                "ROUTER_METADATA must contain exactly 'name' and 'version'",
            ),
            (
                ("ROUTER_METADATA", r#"{"name": "a", "version": ""}"#),
                "ROUTER_METADATA name and version must be non-empty strings",
            ),
            (
                ("ROUTER_METADATA", r#"{"name": "a", "version": 1}"#),
                "ROUTER_METADATA name and version must be non-empty strings",
            ),
            (
                ("PP_SIZE", "0"),
                "PP_SIZE, DCP_SIZE, and PCP_SIZE must be positive integers.",
            ),
            (
                ("DCP_SIZE", "-1"),
                "PP_SIZE, DCP_SIZE, and PCP_SIZE must be positive integers.",
            ),
        ] {
            assert_eq!(
                run08(&with(&[extra]), GOOD).unwrap_err(),
                message,
                "{extra:?}"
            );
        }
        assert!(run08(&with(&[("PCP_SIZE", "x")]), GOOD)
            .unwrap_err()
            .contains("PCP_SIZE=\"x\" is not an integer"));
        // The result is read before ROUTER_METADATA is looked at.
        assert!(run08(
            &with(&[("ROUTER_METADATA", "{")]),
            r#"{"max_concurrency": 1}"#
        )
        .unwrap_err()
        .contains("no 'model_id'"));
    }

    const MULTI: [(&str, &str); 12] = [
        ("IS_MULTINODE", "true"),
        ("DISAGG", "true"),
        ("PREFILL_GPUS", "4"),
        ("DECODE_GPUS", "8"),
        ("PREFILL_NUM_WORKERS", "1"),
        ("PREFILL_TP", "4"),
        ("PREFILL_EP", "4"),
        ("PREFILL_DP_ATTN", "true"),
        ("DECODE_NUM_WORKERS", "1"),
        ("DECODE_TP", "8"),
        ("DECODE_EP", "8"),
        ("DECODE_DP_ATTN", "false"),
    ];

    fn multi(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(&MULTI).chain(extra).copied().collect()
    }

    #[test]
    fn edition_2026_08_multinode() {
        let out = run08(
            &multi(&[
                ("PREFILL_PP_SIZE", "2"),
                ("DECODE_PCP_SIZE", "2"),
                ("PREFILL_HARDWARE", "gb200"),
                ("DECODE_HARDWARE", "gb300"),
            ]),
            GOOD,
        )
        .unwrap();
        assert!(out.contains(r#""is_multinode": true, "prefill_tp": 4, "prefill_pp": 2, "prefill_dcp_size": 1, "prefill_pcp_size": 1, "prefill_ep": 4, "prefill_dp_attention": "true", "prefill_num_workers": 1, "decode_tp": 8, "decode_pp": 1, "decode_dcp_size": 1, "decode_pcp_size": 2, "decode_ep": 8, "decode_dp_attention": "false", "decode_num_workers": 1, "num_prefill_gpu": 4, "num_decode_gpu": 8, "tput_per_gpu": 100.0, "output_tput_per_gpu": 50.0, "input_tput_per_gpu": 200.0, "prefill_hw": "gb200", "decode_hw": "gb300"}"#), "{out}");
        // Prefill only: decode values replaced, output over all GPUs.
        let out = run08(
            &multi(&[("DECODE_GPUS", "0"), ("DECODE_PP_SIZE", "3")]),
            GOOD,
        )
        .unwrap();
        assert!(out.contains(r#""decode_tp": 0, "decode_pp": 1, "decode_dcp_size": 1, "decode_pcp_size": 1, "decode_ep": 0, "decode_dp_attention": "false", "decode_num_workers": 1, "num_prefill_gpu": 4, "num_decode_gpu": 0, "tput_per_gpu": 300.0, "output_tput_per_gpu": 100.0, "input_tput_per_gpu": 200.0}"#), "{out}");
        for (extra, message) in [
            (
                vec![("PREFILL_HARDWARE", "gb200")],
                "PREFILL_HARDWARE and DECODE_HARDWARE must be specified together.",
            ),
            (
                vec![("DECODE_DCP_SIZE", "0"), ("PREFILL_GPUS", "0")],
                "Multinode PP, DCP, and PCP sizes must be positive integers.",
            ),
            (
                vec![("DECODE_GPUS", "0"), ("PREFILL_GPUS", "0")],
                "Multinode results require at least one GPU.",
            ),
            (
                vec![("PREFILL_GPUS", "0")],
                "Multinode results require at least one prefill GPU.",
            ),
        ] {
            assert_eq!(
                run08(&multi(&extra), GOOD).unwrap_err(),
                message,
                "{extra:?}"
            );
        }
        // 2026-02: no new keys, DECODE_GPUS=0 divides by zero.
        let out = run(&multi(&[("PREFILL_HARDWARE", "gb200")]), GOOD).unwrap();
        assert!(
            !out.contains("prefill_pp") && !out.contains("prefill_hw"),
            "{out}"
        );
        assert!(run(&multi(&[("DECODE_GPUS", "0")]), GOOD)
            .unwrap_err()
            .contains("division by zero"));
    }

    #[test]
    fn single_node_record() {
        let out = run(&BASE, r#"{"model_id": "org/m", "max_concurrency": 4.9, "total_token_throughput": 800, "output_throughput": "200.0",
            "median_tpot_ms": 40.0, "p99.9_tpot_ms": 50, "algorithms": 5, "conc_ms": 7, "request_goodput:": null, "ttfts": [1]}"#).unwrap();
        assert_eq!(
            out,
            r#"{"hw": "h200", "conc": 0.007, "image": "", "model": "org/m", "infmax_model_prefix": "dsr1", "framework": "sglang", "precision": "fp8", "spec_decoding": "none", "disagg": false, "isl": 1024, "osl": 1024, "is_multinode": false, "tp": 8, "ep": -1, "dp_attention": "false", "tput_per_gpu": 100.0, "output_tput_per_gpu": 25.0, "input_tput_per_gpu": 75.0, "median_tpot": 0.04, "median_intvty": 25.0, "p99.9_tpot": 0.05, "p99.9_intvty": 20.0, "algorithms": 0.005}"#
        );
    }

    #[test]
    fn multi_node_record() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("IS_MULTINODE", "TRUE"),
            ("DISAGG", "true"),
            ("PREFILL_GPUS", "4"),
            ("DECODE_GPUS", "16"),
            ("PREFILL_NUM_WORKERS", "1"),
            ("PREFILL_TP", "4"),
            ("PREFILL_EP", "4"),
            ("PREFILL_DP_ATTN", "true"),
            ("DECODE_NUM_WORKERS", "2"),
            ("DECODE_TP", "8"),
            ("DECODE_EP", "8"),
            ("DECODE_DP_ATTN", "True"),
        ]);
        let out = run(&vars, r#"{"model_id": 5, "max_concurrency": 12, "total_token_throughput": 2000, "output_throughput": 800}"#).unwrap();
        assert!(out.contains(r#""disagg": true"#));
        assert!(out.contains(r#""is_multinode": true, "prefill_tp": 4, "prefill_ep": 4, "prefill_dp_attention": "true", "prefill_num_workers": 1, "decode_tp": 8, "decode_ep": 8, "decode_dp_attention": "True", "decode_num_workers": 2, "num_prefill_gpu": 4, "num_decode_gpu": 16, "tput_per_gpu": 100.0, "output_tput_per_gpu": 50.0, "input_tput_per_gpu": 300.0}"#), "{out}");
    }

    #[test]
    fn errors() {
        let good = r#"{"model_id": "m", "max_concurrency": 4, "total_token_throughput": 1, "output_throughput": 1}"#;
        let without = |names: &[&str]| {
            BASE.iter()
                .copied()
                .filter(|(k, _)| !names.contains(k))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(&without(&["IMAGE", "ISL"]), good).unwrap_err(),
            "Missing required environment variables: ISL, IMAGE"
        );
        assert_eq!(
            run(&without(&["TP"]), good).unwrap_err(),
            "Missing required environment variables: TP"
        );
        // Later pairs override earlier ones.
        assert_eq!(
            run(&with(&[("DISAGG", "TRUE")]), good).unwrap_err(),
            "Disaggregated mode requires multinode setup."
        );
        assert!(run(&with(&[("OSL", "8.0")]), good)
            .unwrap_err()
            .contains("OSL=\"8.0\" is not an integer"));
        assert!(run(&with(&[("ISL", "")]), good)
            .unwrap_err()
            .contains("ISL=\"\" is not an integer"));
        assert!(run(&BASE, r#"{"max_concurrency": 4}"#)
            .unwrap_err()
            .contains("no 'model_id'"));
        assert!(run(&BASE, r#"{"model_id": "m", "max_concurrency": null}"#)
            .unwrap_err()
            .contains("--max-concurrency"));
        assert!(run(&BASE, r#"[1]"#).unwrap_err().contains("not an object"));
        let zero_tpot = r#"{"model_id": "m", "max_concurrency": 4, "total_token_throughput": 1, "output_throughput": 1, "std_tpot_ms": 0.0}"#;
        assert!(run(&BASE, zero_tpot).unwrap_err().contains("zero TPOT"));
        assert!(run(&with(&[("TP", "0")]), good)
            .unwrap_err()
            .contains("division by zero"));
    }
}
