//! `process_result`: one benchmark result file plus the workflow's
//! environment variables → the "agg" record the dashboards read.

use crate::ResultsError;
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

/// Builds the agg record from the parsed result file and the environment,
/// key for key as `process_result.py` does (see SPEC §3).
pub fn process_result(env: &dyn Env, result: &Value) -> Result<Dict, ResultsError> {
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
    record.insert("isl", Value::Int(env_int("ISL", &isl)?));
    record.insert("osl", Value::Int(env_int("OSL", &osl)?));

    let multinode = env
        .get("IS_MULTINODE")
        .is_some_and(|v| v.to_lowercase() == "true");
    if multinode {
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
    } else {
        if disagg {
            return Err(ResultsError::DisaggWithoutMultinode);
        }
        let vars = required(env, &SINGLE_NODE_ENV)?;
        let tp = env_int("TP", &vars[0])?;
        let ep = env_int("EP_SIZE", &vars[1])?;
        record.insert("is_multinode", Value::Bool(false));
        record.insert("tp", Value::Int(tp));
        record.insert("ep", Value::Int(ep));
        record.insert("dp_attention", vars[2].clone().into());
        insert_per_gpu(&mut record, result, [tp, tp, tp])?;
    }

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
    Ok(record)
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

    fn run(vars: &[(&str, &str)], result: &str) -> Result<String, String> {
        let result = from_str(result).map_err(|e| e.to_string())?;
        process_result(&env(vars), &result)
            .map(|d| to_string(&Value::Dict(d)))
            .map_err(|e| e.to_string())
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
        let with = |extra: &[(&'static str, &'static str)]| {
            BASE.iter().chain(extra).copied().collect::<Vec<_>>()
        };
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
