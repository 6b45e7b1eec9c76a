//! From matrix entries to jobs: the names, flags and environment the
//! InferenceX workflow derives from each entry (`benchmark-tmpl.yml`,
//! `benchmark_lib.sh`; SPEC §3.4 and §6.11).

use crate::SweepError;
use serde_json::Value;
use servebench_contract::Edition;
use servebench_matrix::{MatrixEntry, RunnerConfig};

/// One single-node matrix entry, typed: the fields the workflow reads,
/// parsed once from the row `servebench-matrix` produces
/// ([`Entry::from_row`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `runner`: a runner type, or a node name (`--runner-node-filter`).
    pub runner: String,
    pub exp_name: String,
    pub image: String,
    pub model: String,
    pub model_prefix: String,
    pub precision: String,
    pub framework: String,
    pub isl: i64,
    pub osl: i64,
    pub tp: i64,
    pub ep: i64,
    pub dp_attn: bool,
    pub spec_decoding: String,
    pub conc: i64,
    pub max_model_len: i64,
    pub disagg: bool,
    /// Edition 2026-08 rows: `pp`, `dcp-size`, `pcp-size` (always 1 here:
    /// [`Entry::from_row`] refuses others); 1 for 2026-02 rows.
    pub pp: i64,
    pub dcp_size: i64,
    pub pcp_size: i64,
    /// Edition 2026-08 rows: `recipe-fingerprint` (`RECIPE_FINGERPRINT`,
    /// and the `_recipe-<first 16>` suffix of the result name).
    pub recipe_fingerprint: Option<String>,
}

/// One job: a typed entry on the node it runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The workflow's `RESULT_FILENAME` (unique per entry and node).
    pub name: String,
    pub entry: Entry,
    /// The runner type (`RUNNER_TYPE`, the agg record's `hw`).
    pub runner_type: String,
    /// The node it ran on (`runner.name` in the workflow).
    pub node: String,
    /// The entry as `generate_sweep_configs` prints it (kept in the records).
    pub row: Value,
    /// The contract edition the job runs under: the form of its result
    /// name and the environment `process_result` gets.
    pub edition: Edition,
}

/// The matrix entry as JSON (the same text `generate_sweep_configs` prints).
pub(crate) fn entry_json(entry: &MatrixEntry) -> Value {
    servebench_pyjson::to_serde_json(&servebench_pyjson::Value::Dict(entry.clone()))
}

/// Jobs for single-node entries, in matrix order, under contract edition
/// `edition`. `runners` names the node an entry runs on when its `runner`
/// is a runner type (the first node of that type), as a GitHub runner
/// would report its name.
pub fn jobs(
    matrix: &[MatrixEntry],
    runners: &RunnerConfig,
    edition: Edition,
) -> Result<Vec<Job>, SweepError> {
    matrix
        .iter()
        .enumerate()
        .map(|(i, e)| job(i, e, runners, edition))
        .collect()
}

fn job(
    index: usize,
    row: &MatrixEntry,
    runners: &RunnerConfig,
    edition: Edition,
) -> Result<Job, SweepError> {
    let entry = Entry::from_row(index, row)?;
    let runner = &entry.runner;
    let (runner_type, node) = match runners.nodes(runner) {
        // A runner type: it runs on that type's first node.
        Some(nodes) => (
            runner.clone(),
            nodes.first().cloned().unwrap_or_else(|| runner.clone()),
        ),
        // A node name (`--runner-node-filter`): find its type.
        None => match runners
            .runners
            .iter()
            .find(|(_, nodes)| nodes.contains(runner))
        {
            Some((ty, _)) => (ty.to_owned(), runner.clone()),
            None => (runner.clone(), runner.clone()),
        },
    };
    let mut job = Job {
        name: String::new(),
        entry,
        runner_type,
        node,
        row: entry_json(row),
        edition,
    };
    job.name = result_filename(&job);
    Ok(job)
}

impl Entry {
    /// Reads a single-node row (either edition's; a 2026-08 row's `pp`,
    /// `dcp-size` and `pcp-size` must be 1). Strings may also be numbers or booleans
    /// (spelled as `generate_sweep_configs` prints them), integers may be
    /// strings Python's `int()` accepts, flags may be `"true"`/`"false"` in
    /// any case or absent (false). Multi-node rows (`prefill`, a `conc`
    /// list) and non-positive `conc`/`tp`/`isl`/`osl` are errors naming
    /// the entry and the field.
    pub fn from_row(index: usize, row: &MatrixEntry) -> Result<Entry, SweepError> {
        let row = Row { index, row };
        if row.get("prefill").is_some_and(|p| !p.is_null()) {
            return Err(row.bad(
                "prefill",
                "multi-node (disaggregated) entries cannot run on one machine; use --single-node filters",
            ));
        }
        if row
            .get("scenario-type")
            .is_some_and(|t| t == "agentic-coding")
        {
            return Err(row.bad(
                "scenario-type",
                "an agentic-coding row (the sweep runs those with agentic_replay, not benchmark_serving)",
            ));
        }
        // Edition 2026-08 rows: pipeline and context parallelism, which
        // neither the simulator nor process_result (2026-02) model.
        for field in ["pp", "dcp-size", "pcp-size"] {
            if row.get(field).is_some_and(|v| !v.is_null()) {
                let value = row.int(field)?;
                if value != 1 {
                    return Err(row.bad(
                        field,
                        &format!(
                            "{value}: the sweep runs entries with pp, dcp-size and pcp-size 1 only"
                        ),
                    ));
                }
            }
        }
        let entry = Entry {
            runner: row.text("runner")?,
            exp_name: row.text("exp-name")?,
            image: row.text("image")?,
            model: row.text("model")?,
            model_prefix: row.text("model-prefix")?,
            precision: row.text("precision")?,
            framework: row.text("framework")?,
            isl: row.int("isl")?,
            osl: row.int("osl")?,
            tp: row.int("tp")?,
            ep: row.int("ep")?,
            dp_attn: row.flag("dp-attn")?,
            spec_decoding: row.text("spec-decoding")?,
            conc: match row.get("conc") {
                Some(Value::Array(_)) => return Err(row.bad("conc", "a list (multi-node) entry")),
                _ => row.int("conc")?,
            },
            max_model_len: row.int("max-model-len")?,
            disagg: row.flag("disagg")?,
            pp: 1,
            dcp_size: 1,
            pcp_size: 1,
            recipe_fingerprint: match row.get("recipe-fingerprint") {
                None | Some(Value::Null) => None,
                Some(_) => Some(row.text("recipe-fingerprint")?),
            },
        };
        if entry.conc < 1 || entry.tp < 1 || entry.isl < 1 || entry.osl < 1 {
            return Err(row.bad(
                "conc/tp/isl/osl",
                &format!(
                    "must be positive (conc {}, tp {}, isl {}, osl {})",
                    entry.conc, entry.tp, entry.isl, entry.osl
                ),
            ));
        }
        Ok(entry)
    }
}

/// A matrix row being read into an [`Entry`], for its errors.
struct Row<'a> {
    index: usize,
    row: &'a MatrixEntry,
}

impl Row<'_> {
    fn bad(&self, field: &str, why: &str) -> SweepError {
        SweepError::Entry {
            index: self.index,
            message: format!("{field}: {why}"),
        }
    }

    /// A field as `generate_sweep_configs` prints it.
    fn get(&self, field: &str) -> Option<Value> {
        self.row.get(field).map(servebench_pyjson::to_serde_json)
    }

    fn text(&self, field: &str) -> Result<String, SweepError> {
        match self.get(field) {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(self.bad(field, "missing or not a string")),
        }
    }

    fn int(&self, field: &str) -> Result<i64, SweepError> {
        match self.get(field) {
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| self.bad(field, "not an integer")),
            Some(Value::String(s)) => servebench_pyjson::parse_int(&s)
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| self.bad(field, &format!("{s:?} is not an integer"))),
            _ => Err(self.bad(field, "missing or not an integer")),
        }
    }

    fn flag(&self, field: &str) -> Result<bool, SweepError> {
        match self.get(field) {
            Some(Value::Bool(b)) => Ok(b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            None | Some(Value::Null) => Ok(false),
            Some(other) => Err(self.bad(field, &format!("{other} is not a boolean"))),
        }
    }
}

/// `benchmark-tmpl.yml`'s RESULT_FILENAME. Edition 2026-02:
/// `..._tp{TP}-ep{EP}-dpa{DPA}_...`; 2026-08 (SPEC-bench §0, §2.9):
/// `..._tp{TP}-pp{PP}-dcp{DCP}-pcp{PCP}-ep{EP}-dpa{DPA}_...`, plus
/// `_recipe-<first 16 characters>` when the row has a recipe fingerprint.
pub(crate) fn result_filename(j: &Job) -> String {
    let e = &j.entry;
    let parallel = match j.edition {
        Edition::E2026_02 => format!("tp{}-ep{}-dpa{}", e.tp, e.ep, e.dp_attn),
        _ => format!(
            "tp{}-pp{}-dcp{}-pcp{}-ep{}-dpa{}",
            e.tp, e.pp, e.dcp_size, e.pcp_size, e.ep, e.dp_attn
        ),
    };
    let recipe = match (j.edition, &e.recipe_fingerprint) {
        (Edition::E2026_02, _) | (_, None) => String::new(),
        (_, Some(f)) if f.is_empty() => String::new(),
        (_, Some(f)) => format!("_recipe-{}", f.chars().take(16).collect::<String>()),
    };
    format!(
        "{}_{}_{}_{parallel}_disagg-{}_spec-{}_conc{}_{}{recipe}",
        e.exp_name, e.precision, e.framework, e.disagg, e.spec_decoding, e.conc, j.node
    )
}

/// The knobs of the workflow's benchmark step.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSettings {
    /// `NUM_PROMPTS = CONC * prompts_per_conc` (the workflow: 10).
    pub prompts_per_conc: i64,
    /// `--num-warmups = CONC * warmups_per_conc` (the workflow: 2).
    pub warmups_per_conc: i64,
    /// `RANDOM_RANGE_RATIO` (the workflow: 0.8).
    pub random_range_ratio: f64,
    /// `--tokenizer`, when the model id is not a tokenizer on this machine.
    pub tokenizer: Option<String>,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            prompts_per_conc: 10,
            warmups_per_conc: 2,
            random_range_ratio: 0.8,
            tokenizer: None,
        }
    }
}

/// The workflow's backend: `openai` for the TensorRT-LLM scripts, else `vllm`.
pub(crate) fn backend(job: &Job) -> &'static str {
    if job.entry.framework.contains("trt") {
        "openai"
    } else {
        "vllm"
    }
}

/// `benchmark_serving`'s arguments, as `run_benchmark_serving` passes them.
pub(crate) fn bench_args(
    job: &Job,
    base_url: &str,
    result_dir: &str,
    s: &BenchSettings,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--model",
        &job.entry.model,
        "--backend",
        backend(job),
        "--base-url",
        base_url,
        "--dataset-name",
        "random",
        "--random-input-len",
        &job.entry.isl.to_string(),
        "--random-output-len",
        &job.entry.osl.to_string(),
        "--random-range-ratio",
        &servebench_pyjson::float_repr(s.random_range_ratio),
        "--num-prompts",
        &(job.entry.conc * s.prompts_per_conc).to_string(),
        "--max-concurrency",
        &job.entry.conc.to_string(),
        "--request-rate",
        "inf",
        "--ignore-eos",
        "--save-result",
        "--num-warmups",
        &(job.entry.conc * s.warmups_per_conc).to_string(),
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--result-dir",
        result_dir,
        "--result-filename",
        &format!("{}.json", job.name),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(t) = &s.tokenizer {
        args.extend(["--tokenizer".to_owned(), t.clone()]);
    }
    // The log is a file: no progress bar redraws in it.
    args.push("--disable-tqdm".to_owned());
    args
}

/// The job's environment, as the workflow exports it to the benchmark
/// scripts and `process_result` (a `--server-cmd` sees it too). Edition
/// 2026-08 adds `PP_SIZE`, `DCP_SIZE`, `PCP_SIZE` (process_result's GPU
/// count is `TP × PP_SIZE × PCP_SIZE`, the GPUs it expects in the power CSV)
/// and `RECIPE_FINGERPRINT`.
pub(crate) fn env(job: &Job, s: &BenchSettings) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("RUNNER_TYPE", job.runner_type.clone()),
        ("IMAGE", job.entry.image.clone()),
        ("MODEL", job.entry.model.clone()),
        ("MODEL_PREFIX", job.entry.model_prefix.clone()),
        ("FRAMEWORK", job.entry.framework.clone()),
        ("PRECISION", job.entry.precision.clone()),
        ("SPEC_DECODING", job.entry.spec_decoding.clone()),
        ("ISL", job.entry.isl.to_string()),
        ("OSL", job.entry.osl.to_string()),
        ("MAX_MODEL_LEN", job.entry.max_model_len.to_string()),
        ("CONC", job.entry.conc.to_string()),
        ("TP", job.entry.tp.to_string()),
        ("EP_SIZE", job.entry.ep.to_string()),
        ("DP_ATTENTION", job.entry.dp_attn.to_string()),
        ("DISAGG", job.entry.disagg.to_string()),
        ("EXP_NAME", job.entry.exp_name.clone()),
        ("RESULT_FILENAME", job.name.clone()),
        (
            "NUM_PROMPTS",
            (job.entry.conc * s.prompts_per_conc).to_string(),
        ),
        (
            "RANDOM_RANGE_RATIO",
            servebench_pyjson::float_repr(s.random_range_ratio),
        ),
    ];
    if job.edition != Edition::E2026_02 {
        env.extend([
            ("PP_SIZE", job.entry.pp.to_string()),
            ("DCP_SIZE", job.entry.dcp_size.to_string()),
            ("PCP_SIZE", job.entry.pcp_size.to_string()),
            (
                "RECIPE_FINGERPRINT",
                job.entry.recipe_fingerprint.clone().unwrap_or_default(),
            ),
        ]);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runners() -> RunnerConfig {
        let nodes = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect();
        RunnerConfig {
            path: "runners.yaml".into(),
            runners: vec![
                ("sim-h100".into(), nodes(&["sim-h100_0", "sim-h100_1"])),
                ("h200".into(), nodes(&["h200-lab_0"])),
            ],
        }
    }

    fn entry(runner: &str) -> MatrixEntry {
        let row = serde_json::json!({
            "image": "img", "model": "servebench-sim/dense-8b", "model-prefix": "dense8b",
            "precision": "bf16", "framework": "sim", "runner": runner, "isl": 1024, "osl": 1024,
            "tp": 2, "conc": 4, "max-model-len": 2248, "ep": 1, "dp-attn": false,
            "spec-decoding": "none", "exp-name": "dense8b_1k1k", "disagg": false, "run-eval": false
        });
        match servebench_pyjson::from_str(&row.to_string()) {
            Ok(servebench_pyjson::Value::Dict(d)) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn result_filename_follows_the_workflow() {
        let j = job(0, &entry("sim-h100"), &runners(), Edition::E2026_02).unwrap();
        assert_eq!(
            j.name,
            "dense8b_1k1k_bf16_sim_tp2-ep1-dpafalse_disagg-false_spec-none_conc4_sim-h100_0"
        );
        assert_eq!(j.runner_type, "sim-h100");
        assert_eq!((j.entry.tp, j.entry.conc, j.entry.dp_attn), (2, 4, false));
        assert_eq!(j.row["max-model-len"], 2248);
        let j = job(0, &entry("sim-h100_1"), &runners(), Edition::E2026_02).unwrap();
        assert_eq!(
            (j.runner_type.as_str(), j.node.as_str()),
            ("sim-h100", "sim-h100_1")
        );
    }

    #[test]
    fn bench_args_are_the_workflow_s() {
        let j = job(0, &entry("h200"), &runners(), Edition::E2026_02).unwrap();
        let s = BenchSettings::default();
        let args = bench_args(&j, "http://127.0.0.1:9", "/r", &s).join(" ");
        assert!(args.contains("--num-prompts 40 --max-concurrency 4 --request-rate inf --ignore-eos --save-result --num-warmups 8"), "{args}");
        assert!(args.contains("--random-range-ratio 0.8"));
        assert!(args.contains("--result-filename dense8b_1k1k_bf16_sim_tp2-ep1-dpafalse_disagg-false_spec-none_conc4_h200-lab_0.json"));
        let env = env(&j, &s);
        assert!(env.contains(&("EP_SIZE", "1".to_owned())));
        assert!(env.contains(&("DP_ATTENTION", "false".to_owned())));
    }

    #[test]
    fn edition_2026_08_rows_map_to_the_same_jobs() {
        let mut e = entry("sim-h100");
        for key in ["pp", "dcp-size", "pcp-size"] {
            e.insert(key, servebench_pyjson::Value::Int(1));
        }
        e.insert("max-model-len", servebench_pyjson::Value::Int(2304));
        let j = job(0, &e, &runners(), Edition::E2026_08).unwrap();
        assert_eq!(
            j.name,
            "dense8b_1k1k_bf16_sim_tp2-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc4_sim-h100_0"
        );
        assert_eq!(j.entry.max_model_len, 2304);
        assert_eq!(j.row["pp"], 1);
        let env = env(&j, &BenchSettings::default());
        for kv in [
            ("PP_SIZE", "1"),
            ("DCP_SIZE", "1"),
            ("PCP_SIZE", "1"),
            ("RECIPE_FINGERPRINT", ""),
        ] {
            assert!(env.contains(&(kv.0, kv.1.to_owned())), "{kv:?}");
        }
        // A recipe fingerprint: the full value in the environment, its
        // first 16 characters in the name (the golden pr- cases' form).
        let mut r = e.clone();
        r.insert(
            "recipe-fingerprint",
            servebench_pyjson::Value::Str("0123456789abcdef0123456789abcdef".into()),
        );
        let j = job(0, &r, &runners(), Edition::E2026_08).unwrap();
        assert!(
            j.name
                .ends_with("_conc4_sim-h100_0_recipe-0123456789abcdef"),
            "{}",
            j.name
        );
        let env2 = super::env(&j, &BenchSettings::default());
        assert!(env2.contains(&(
            "RECIPE_FINGERPRINT",
            "0123456789abcdef0123456789abcdef".to_owned()
        )));
        // The same row under 2026-02 keeps the old name and environment.
        let j = job(0, &r, &runners(), Edition::E2026_02).unwrap();
        assert_eq!(
            j.name,
            "dense8b_1k1k_bf16_sim_tp2-ep1-dpafalse_disagg-false_spec-none_conc4_sim-h100_0"
        );
        assert!(!super::env(&j, &BenchSettings::default())
            .iter()
            .any(|(k, _)| *k == "PP_SIZE" || *k == "RECIPE_FINGERPRINT"));

        let mut e2 = e.clone();
        e2.insert("pp", servebench_pyjson::Value::Int(2));
        let err = job(5, &e2, &runners(), Edition::E2026_02)
            .unwrap_err()
            .to_string();
        assert!(err.contains("entry 5: pp: 2"), "{err}");
        let mut e2 = e.clone();
        e2.insert("dcp-size", servebench_pyjson::Value::Int(2));
        let err = job(0, &e2, &runners(), Edition::E2026_02)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dcp-size"), "{err}");

        e.insert(
            "scenario-type",
            servebench_pyjson::Value::Str("agentic-coding".into()),
        );
        let err = job(0, &e, &runners(), Edition::E2026_02)
            .unwrap_err()
            .to_string();
        assert!(err.contains("an agentic-coding row"), "{err}");
    }

    #[test]
    fn bad_entries_are_named() {
        let mut e = entry("h200");
        let list = vec![
            servebench_pyjson::Value::Int(1),
            servebench_pyjson::Value::Int(2),
        ];
        e.insert("conc", servebench_pyjson::Value::List(list));
        let err = job(3, &e, &runners(), Edition::E2026_02)
            .unwrap_err()
            .to_string();
        assert!(err.contains("entry 3") && err.contains("conc"), "{err}");
        let mut e = entry("h200");
        e.insert("tp", servebench_pyjson::Value::Str("x".into()));
        assert!(job(0, &e, &runners(), Edition::E2026_02).is_err());
    }
}
