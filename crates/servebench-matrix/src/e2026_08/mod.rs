//! Edition 2026-08 of `generate_sweep_configs` (InferenceX `843c6254f`):
//! master configs with `scenarios` (fixed sequence lengths and agentic
//! coding), the runner file with `labels` and `hardware`, the `full-sweep`
//! and `test-config` generators and the new eval policy.
//!
//! The entry points take plain data, so `process_changelog` can run the
//! generator in-process: [`generate`] loads and validates the files of a
//! [`Request`]; [`generate_from`] works on already loaded
//! [`MasterConfigs`] and [`RunnerFile`] (for example the base revision's,
//! parsed from `git show` output with [`MasterConfigs::from_documents`] and
//! [`RunnerFile::from_document`]).
//!
//! ```no_run
//! use servebench_matrix::e2026_08::{generate, EvalOptions, Request, Subcommand, TestConfigOptions};
//!
//! let request = Request {
//!     config_files: vec!["configs/amd-master.yaml".into(), "configs/nvidia-master.yaml".into()],
//!     runner_config: "configs/runners.yaml".into(),
//!     subcommand: Subcommand::TestConfig(TestConfigOptions::new(vec!["dsr1-*".into()])),
//!     evals: EvalOptions { no_evals: true, ..EvalOptions::default() },
//! };
//! let rows = generate(&request)?;
//! println!("{}", servebench_matrix::matrix_json(&rows));
//! # Ok::<(), servebench_matrix::MatrixError>(())
//! ```

mod evals;
mod schema;
mod sweep;

pub use schema::{load_master_configs, load_runner_file, Config, MasterConfigs, RunnerFile};

use crate::{MatrixEntry, MatrixError};
use servebench_pyjson::{self as pyops, Value};
use std::path::PathBuf;

/// The default `--runner-config` (relative to the working directory).
pub const DEFAULT_RUNNER_CONFIG: &str = "configs/runners.yaml";

/// `--scenario-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioType {
    FixedSeqLen,
    AgenticCoding,
}

impl ScenarioType {
    pub const ALL: [ScenarioType; 2] = [ScenarioType::FixedSeqLen, ScenarioType::AgenticCoding];

    pub fn name(self) -> &'static str {
        match self {
            ScenarioType::FixedSeqLen => "fixed-seq-len",
            ScenarioType::AgenticCoding => "agentic-coding",
        }
    }

    pub fn from_name(name: &str) -> Option<ScenarioType> {
        ScenarioType::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The named sequence-length pairs of 2026-08 (`--seq-lens`); `1k8k` is
/// gone in this edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqLen {
    OneKOneK,
    EightKOneK,
}

impl SeqLen {
    pub const ALL: [SeqLen; 2] = [SeqLen::OneKOneK, SeqLen::EightKOneK];

    pub fn name(self) -> &'static str {
        match self {
            SeqLen::OneKOneK => "1k1k",
            SeqLen::EightKOneK => "8k1k",
        }
    }

    /// `(isl, osl)`.
    pub fn lengths(self) -> (i128, i128) {
        match self {
            SeqLen::OneKOneK => (1024, 1024),
            SeqLen::EightKOneK => (8192, 1024),
        }
    }

    pub fn from_name(name: &str) -> Option<SeqLen> {
        SeqLen::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether YAML values `isl`, `osl` are this pair (Python equality).
    pub fn matches(self, isl: &Value, osl: &Value) -> bool {
        let (i, o) = self.lengths();
        pyops::eq(isl, &Value::Int(i)) && pyops::eq(osl, &Value::Int(o))
    }
}

/// `full-sweep` options. An empty list means "no filter"; neither node flag
/// means both node types.
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
    pub single_node: bool,
    pub multi_node: bool,
    /// Substring filter on node names; empty means none.
    pub runner_node_filter: Option<String>,
    /// Empty: both scenario types.
    pub scenario_types: Vec<ScenarioType>,
}

impl Default for FullSweepOptions {
    fn default() -> Self {
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
            single_node: false,
            multi_node: false,
            runner_node_filter: None,
            scenario_types: Vec::new(),
        }
    }
}

/// `test-config` options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestConfigOptions {
    /// Keys or shell-style globs (`*`, `?`, `[...]`), expanded in order.
    pub config_keys: Vec<String>,
    /// Keep only these concurrencies; empty keeps all.
    pub conc: Vec<i64>,
    pub seq_lens: Vec<SeqLen>,
    pub runner_node_filter: Option<String>,
    /// Empty: both scenario types.
    pub scenario_types: Vec<ScenarioType>,
}

impl TestConfigOptions {
    pub fn new(config_keys: Vec<String>) -> Self {
        TestConfigOptions {
            config_keys,
            ..TestConfigOptions::default()
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subcommand {
    FullSweep(FullSweepOptions),
    TestConfig(TestConfigOptions),
}

/// `--no-evals`, `--evals-only`, `--all-evals` (all off: the default eval
/// marking, every row kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvalOptions {
    pub no_evals: bool,
    pub evals_only: bool,
    pub all_evals: bool,
}

/// One 2026-08 `generate_sweep_configs` invocation, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub config_files: Vec<PathBuf>,
    pub runner_config: PathBuf,
    pub subcommand: Subcommand,
    pub evals: EvalOptions,
}

impl Request {
    /// The usage errors the original reports (exit 2) before reading any
    /// file, in its order; `None` when the request is usable.
    pub fn usage_error(&self) -> Option<&'static str> {
        if let Subcommand::FullSweep(opts) = &self.subcommand {
            if opts.step_size <= 1 {
                return Some("--step-size must be greater than 1");
            }
            if let (Some(min), Some(max)) = (opts.min_conc, opts.max_conc) {
                if min > max {
                    return Some("--min-conc must be less than or equal to --max-conc");
                }
            }
        }
        if self.evals.no_evals && self.evals.evals_only {
            return Some("argument --evals-only: not allowed with argument --no-evals");
        }
        if self.evals.no_evals && self.evals.all_evals {
            return Some("--all-evals cannot be combined with --no-evals");
        }
        None
    }
}

/// Runs a request in the original's order: usage checks, load and
/// validate the config files, load and validate the runner file, generate,
/// then eval marking.
pub fn generate(request: &Request) -> Result<Vec<MatrixEntry>, MatrixError> {
    if let Some(message) = request.usage_error() {
        return Err(MatrixError::Usage(message.to_owned()));
    }
    let configs = load_master_configs(&request.config_files)?;
    let runners = load_runner_file(&request.runner_config)?;
    generate_from(&configs, &runners, &request.subcommand, request.evals)
}

/// What [`generate`] does once the files are loaded and validated: the
/// subcommand's generator, then eval marking.
pub fn generate_from(
    configs: &MasterConfigs,
    runners: &RunnerFile,
    subcommand: &Subcommand,
    evals: EvalOptions,
) -> Result<Vec<MatrixEntry>, MatrixError> {
    let rows = match subcommand {
        Subcommand::FullSweep(opts) => sweep::full_sweep(configs, runners, opts)?,
        Subcommand::TestConfig(opts) => sweep::test_config(configs, runners, opts)?,
    };
    evals::apply(rows, evals)
}

/// `expand_config_keys`: the config keys `patterns` name (globs with `*`
/// or `?` expanded in merged order, duplicates dropped). `process_changelog`
/// resolves its own `*` patterns differently; this is test-config's rule.
pub fn expand_config_keys(
    patterns: &[String],
    configs: &MasterConfigs,
) -> Result<Vec<String>, MatrixError> {
    sweep::expand_config_keys(patterns, configs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use servebench_yaml::parse as parse_yaml;
    use std::path::Path;

    const CONFIGS: &str = r#"
sn:
  image: img:1
  model: org/m
  model-prefix: m
  precision: fp8
  framework: vllm
  runner: h100
  multinode: false
  router: { name: r, version: "1.0" }
  scenarios:
    fixed-seq-len:
    - isl: 8192
      osl: 1024
      search-space:
      - { tp: 8, pp: 2, conc-start: 4, conc-end: 64 }
      - { tp: 4, dcp-size: 2, conc-list: [32, 8] }
mn:
  image: img:2
  model: org/big
  model-prefix: big
  precision: fp4
  framework: dynamo-trt
  runner: cluster:gb200
  multinode: true
  disagg: true
  kv-p2p-transfer: nixl
  scenarios:
    fixed-seq-len:
    - isl: 8192
      osl: 1024
      search-space:
      - conc-list: [16, 64]
        prefill: { num-worker: 1, tp: 4, ep: 4, dp-attn: true, pp: 1 }
        decode: { num-worker: 2, tp: 8, ep: 8, dp-attn: false }
    agentic-coding:
    - dram-utilization: 0.5
      search-space:
      - conc-list: [8, 32]
        kv-offloading: dram
        kv-offload-backend: { name: mooncake }
        prefill: { num-worker: 1, tp: 2, ep: 1, dp-attn: false }
        decode: { num-worker: 1, tp: 4, ep: 4, dp-attn: true }
"#;

    const RUNNERS: &str = "
labels:
  h100: [h100-a_0, h100-b_1]
  cluster:gb200: [gb200-a_0]
hardware:
  cluster:gb200: { available-cpu-dram-mib: 1000000, gpus-per-node: 4 }
";

    fn fixtures() -> (MasterConfigs, RunnerFile) {
        let docs = vec![(PathBuf::from("t.yaml"), parse_yaml(CONFIGS).unwrap())];
        let configs = MasterConfigs::from_documents(docs).unwrap();
        let runners =
            RunnerFile::from_document(Path::new("r.yaml"), parse_yaml(RUNNERS).unwrap()).unwrap();
        (configs, runners)
    }

    fn column(rows: &[MatrixEntry], field: &str) -> Vec<String> {
        rows.iter()
            .map(|e| servebench_pyjson::to_string(e.get(field).unwrap_or(&Value::Null)))
            .collect()
    }

    fn sweep(opts: FullSweepOptions, evals: EvalOptions) -> Vec<MatrixEntry> {
        let (configs, runners) = fixtures();
        generate_from(&configs, &runners, &Subcommand::FullSweep(opts), evals).unwrap()
    }

    const NO_EVALS: EvalOptions = EvalOptions {
        no_evals: true,
        evals_only: false,
        all_evals: false,
    };

    #[test]
    fn full_sweep_rows_defaults_and_components() {
        let rows = sweep(FullSweepOptions::default(), NO_EVALS);
        // sn: 5 + 2 single-node rows; mn: one fixed row, two agentic rows.
        assert_eq!(rows.len(), 10);
        let keys: Vec<&str> = rows[0].keys().collect();
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
                "pp",
                "dcp-size",
                "pcp-size",
                "conc",
                "max-model-len",
                "ep",
                "dp-attn",
                "spec-decoding",
                "exp-name",
                "disagg",
                "run-eval",
                "router"
            ]
        );
        assert_eq!(column(&rows[..1], "max-model-len"), ["9472"]);
        assert_eq!(
            column(&rows[5..7], "conc"),
            ["32", "8"],
            "conc-list order kept"
        );
        assert_eq!(
            column(&rows[7..8], "prefill"),
            [
                r#"{"num-worker": 1, "tp": 4, "ep": 4, "dp-attn": true, "pp": 1, "dcp-size": 1, "pcp-size": 1}"#
            ]
        );
        assert_eq!(column(&rows[7..8], "kv-p2p-transfer"), [r#""nixl""#]);
        // Agentic multi-node: one row per concurrency, DRAM budget from the
        // prefill worker's share of the node: 1e6 MiB * 0.5 * 2/4.
        assert_eq!(column(&rows[8..], "conc"), ["[8]", "[32]"]);
        assert_eq!(column(&rows[8..], "total-cpu-dram-gb"), ["262", "262"]);
        assert_eq!(
            column(&rows[8..9], "exp-name"),
            [r#""big_p1x2_d1x4ep4dpa_conc8_kvdram-mooncake""#]
        );
    }

    #[test]
    fn full_sweep_filters_and_node_types() {
        let only = |f: fn(&mut FullSweepOptions)| {
            let mut o = FullSweepOptions::default();
            f(&mut o);
            sweep(o, NO_EVALS)
        };
        assert_eq!(only(|o| o.single_node = true).len(), 7);
        assert_eq!(only(|o| o.multi_node = true).len(), 3);
        let agentic = only(|o| o.scenario_types = vec![ScenarioType::AgenticCoding]);
        assert_eq!(agentic.len(), 2);
        let capped = only(|o| {
            o.single_node = true;
            o.max_conc = Some(6);
        });
        // Range 4..64 capped at 6 → 4, 6; the list [32, 8] has nothing ≤ 6 → [6].
        assert_eq!(column(&capped, "conc"), ["4", "6", "6"]);
        let nodes = only(|o| {
            o.single_node = true;
            o.runner_node_filter = Some("b_".into());
            o.min_conc = Some(64);
        });
        assert_eq!(column(&nodes, "runner"), [r#""h100-b_1""#]);
    }

    #[test]
    fn default_and_all_evals() {
        let rows = sweep(FullSweepOptions::default(), EvalOptions::default());
        let marked: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, e)| e.get("run-eval") == Some(&Value::Bool(true)))
            .map(|(i, _)| i)
            .collect();
        // Single-node 8k1k concs ≥ 16: 16, 32, 64 → 64 and 32 (two rows);
        // the multi-node row with eval-conc 64. Agentic rows stay unmarked.
        assert_eq!(marked, [3, 4, 5, 7]);
        assert_eq!(column(&rows[7..8], "eval-conc"), ["64"]);
        assert_eq!(column(&rows[8..], "run-eval"), ["false", "false"]);
        let all = sweep(
            FullSweepOptions::default(),
            EvalOptions {
                all_evals: true,
                ..EvalOptions::default()
            },
        );
        // Every 8k1k row, and the two agentic rows merged into one.
        assert_eq!(all.len(), 9);
        assert_eq!(column(&all[7..8], "eval-all-concs"), ["true"]);
        assert!(!all[7].contains_key("eval-conc"));
        assert_eq!(column(&all[8..], "conc"), ["[8, 32]"]);
        assert_eq!(column(&all[8..], "eval-conc"), ["32"]);
        assert!(all
            .iter()
            .all(|e| e.get("eval-only") == Some(&Value::Bool(true))));
    }

    #[test]
    fn test_config_patterns_and_errors() {
        let (configs, runners) = fixtures();
        let tc = |keys: &[&str]| {
            let opts = TestConfigOptions::new(keys.iter().map(|k| k.to_string()).collect());
            generate_from(&configs, &runners, &Subcommand::TestConfig(opts), NO_EVALS)
        };
        assert_eq!(tc(&["s?", "sn", "m*"]).unwrap().len(), 10);
        let err = tc(&["x*"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "Pattern 'x*' matched no config keys.\nAvailable keys: mn, sn"
        );
        let err = tc(&["sn", "nope"]).unwrap_err().to_string();
        assert!(err.starts_with("Config key(s) not found: nope."), "{err}");
    }

    #[track_caller]
    fn invalid(from: &str, to: &str, want: &str) {
        assert!(CONFIGS.contains(from), "fixture lacks {from:?}");
        let doc =
            parse_yaml(&CONFIGS.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{to:?}: {e}"));
        let err = MasterConfigs::from_documents(vec![(PathBuf::from("t.yaml"), doc)])
            .map(drop)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{to:?}: {err}");
    }

    #[test]
    fn schema_rules() {
        invalid("pp: 2,", "pp: 2.0,", "pp: Input should be a valid integer");
        invalid("pp: 2,", "pp: true,", "pp: Input should be a valid integer");
        invalid(
            "dcp-size: 2,",
            "dcp-size: 3,",
            "must be divisible by 'dcp-size' (3)",
        );
        invalid("conc-start: 4,", "conc-start: 0,", "must be greater than 0");
        invalid(
            "conc-list: [32, 8]",
            "conc-list: [32, 8], conc-start: 1, conc-end: 2",
            "Cannot specify both",
        );
        invalid(
            "version: \"1.0\"",
            "version: image:x",
            "not an image reference",
        );
        invalid("version: \"1.0\"", "version: \"\"", "at least 1 character");
        invalid(
            "  kv-p2p-transfer: nixl\n",
            "",
            "disagg=true requires kv-p2p-transfer",
        );
        invalid(
            "runner: cluster:gb200",
            "runner: gb200",
            "'cluster:<name>' runner",
        );
        invalid(
            "dram-utilization: 0.5",
            "dram-utilization: 1.5",
            "dram-utilization",
        );
        invalid(
            "dram-utilization: 0.5",
            "dram-utilization: null",
            "requires dram-utilization",
        );
        invalid(
            "kv-offload-backend: { name: mooncake }",
            "x: 1",
            "Extra inputs are not permitted",
        );
        invalid(
            "kv-offloading: dram",
            "kv-offloading: none",
            "can only be set when",
        );
        invalid(
            "prefill: { num-worker: 1, tp: 2,",
            "tp: 2\n        prefill: { num-worker: 1, tp: 2,",
            "either tp or both",
        );
        invalid(
            "prefill: { num-worker: 1, tp: 2,",
            "pp: 1\n        prefill: { num-worker: 1, tp: 2,",
            "cannot specify 'pp'",
        );
        invalid(
            "prefill: { num-worker: 1, tp: 2,",
            "prefill: { hardware: gb200, num-worker: 1, tp: 2,",
            "'hardware' must be specified for both",
        );
        invalid(
            "model-prefix: m\n",
            "model-prefix: m\n  kv-p2p-transfer: x\n",
            "Extra inputs are not permitted",
        );
        invalid(
            "{ tp: 8, pp: 2,",
            "{ tp: 8, pp: 2, router: { name: r, version: v },",
            "router must be declared either at the top level or in search-space entries",
        );
        invalid(
            "  router: { name: r, version: \"1.0\" }\n",
            "  router: { name: r, version: \"1.0\" }\n  seq-len-configs: []\n",
            "seq-len-configs: Extra inputs",
        );
    }

    /// A full sweep (no evals) of the fixture with one text replacement.
    fn sweep_edited(from: &str, to: &str) -> Result<Vec<MatrixEntry>, MatrixError> {
        sweep_edited_with(from, to, FullSweepOptions::default())
    }

    fn sweep_edited_with(
        from: &str,
        to: &str,
        opts: FullSweepOptions,
    ) -> Result<Vec<MatrixEntry>, MatrixError> {
        assert!(CONFIGS.contains(from), "fixture lacks {from:?}");
        let doc = parse_yaml(&CONFIGS.replacen(from, to, 1)).unwrap();
        let configs = MasterConfigs::from_documents(vec![(PathBuf::from("t.yaml"), doc)])?;
        let (_, runners) = fixtures();
        generate_from(&configs, &runners, &Subcommand::FullSweep(opts), NO_EVALS)
    }

    #[test]
    fn agentic_topology_is_read_before_the_conc_filter() {
        // diff-matrix: a single-node agentic entry (valid on its own) in a
        // multi-node config: the original reads `prefill` first and fails
        // with KeyError, even when --max-conc leaves the entry no rows.
        let workers = "        prefill: { num-worker: 1, tp: 2, ep: 1, dp-attn: false }\n        \
                       decode: { num-worker: 1, tp: 4, ep: 4, dp-attn: true }\n";
        let capped = FullSweepOptions {
            max_conc: Some(4),
            ..FullSweepOptions::default()
        };
        let err = sweep_edited_with(workers, "        tp: 2\n", capped).unwrap_err();
        assert!(err.to_string().contains("'prefill' is missing"), "{err}");
    }

    #[test]
    fn generated_rows_are_validated() {
        // diff-matrix: inputs that validate but make rows the original's
        // output models reject (exit 1 there).
        // An entry-level null kv-p2p-transfer hides the top-level one, and
        // the row of a disagg config then lacks it.
        let err = sweep_edited(
            "      - conc-list: [16, 64]",
            "      - conc-list: [16, 64]\n        kv-p2p-transfer: null",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("disagg=true requires kv-p2p-transfer"),
            "{err}"
        );
        // A negative tp makes a negative DRAM budget (`ge=0`).
        let err = sweep_edited(
            "prefill: { num-worker: 1, tp: 2,",
            "prefill: { num-worker: 1, tp: -2,",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("greater than or equal to 0"),
            "{err}"
        );
    }

    #[test]
    fn dram_budget_with_a_float_tp() {
        // diff-matrix: `tp: 8.0` passes validation and is copied as written.
        // A prefill replica of 8.0 GPUs spans two 4-GPU nodes, so the
        // original counts the int gpus-per-node and succeeds:
        // 1e6 MiB * 0.5 * 4/4 = 524 GB.
        let from = "prefill: { num-worker: 1, tp: 2,";
        let rows = sweep_edited(from, "prefill: { num-worker: 1, tp: 8.0,").unwrap();
        assert_eq!(column(&rows[8..], "total-cpu-dram-gb"), ["524", "524"]);
        assert_eq!(
            column(&rows[8..9], "prefill"),
            [
                r#"{"num-worker": 1, "tp": 8.0, "ep": 1, "dp-attn": false, "pp": 1, "dcp-size": 1, "pcp-size": 1}"#
            ]
        );
        // Within a node the float itself is the count: Decimal * float is a
        // TypeError in the original.
        let err = sweep_edited(from, "prefill: { num-worker: 1, tp: 2.0,").unwrap_err();
        assert!(err.to_string().contains("is a float"), "{err}");
        // A float replica that does not tile the nodes fails as an int would.
        let err = sweep_edited(from, "prefill: { num-worker: 1, tp: 6.0,").unwrap_err();
        assert!(err.to_string().contains("not a multiple"), "{err}");
    }

    #[test]
    fn runner_file_rules() {
        let bad = |text: &str, want: &str| {
            let err = RunnerFile::from_document(Path::new("r.yaml"), parse_yaml(text).unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        };
        bad("h100: [a]", "Runner config must define a labels mapping");
        bad(
            "labels: { h100: a }",
            "Runner config entry 'h100' must be a list, got str",
        );
        bad("labels: { h100: [1] }", "must contain only strings");
        bad("labels: { h100: [] }", "cannot be an empty list");
        bad(
            "labels: { h100: [a] }\nextra: 1",
            "extra: Extra inputs are not permitted",
        );
        bad(
            "labels: { h100: [a] }\nhardware: { h100: { available-cpu-dram-mib: 0, gpus-per-node: 8 } }",
            "greater than 0",
        );
    }

    #[test]
    fn usage_errors_in_the_originals_order() {
        let mut request = Request {
            config_files: vec![],
            runner_config: DEFAULT_RUNNER_CONFIG.into(),
            subcommand: Subcommand::FullSweep(FullSweepOptions {
                step_size: 1,
                min_conc: Some(9),
                max_conc: Some(8),
                ..FullSweepOptions::default()
            }),
            evals: EvalOptions {
                no_evals: true,
                all_evals: true,
                ..EvalOptions::default()
            },
        };
        assert_eq!(
            request.usage_error(),
            Some("--step-size must be greater than 1")
        );
        assert!(matches!(generate(&request), Err(MatrixError::Usage(_))));
        request.subcommand = Subcommand::TestConfig(TestConfigOptions::new(vec![]));
        assert_eq!(
            request.usage_error(),
            Some("--all-evals cannot be combined with --no-evals")
        );
    }
}
