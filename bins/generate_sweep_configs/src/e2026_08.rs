//! The command line of edition 2026-08 (InferenceX `843c6254f`):
//! `full-sweep` and `test-config` with `--no-evals`/`--evals-only`/
//! `--all-evals`, `--scenario-type` and the default runner file
//! `configs/runners.yaml`. `runner-model-sweep` and `--run-evals` are gone.

use clap::{Args, Parser, Subcommand};
use servebench_matrix::e2026_08 as matrix;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "generate_sweep_configs",
    about = "Generate benchmark configurations from YAML config files (InferenceX contract 2026-08)",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[command(args_override_self = true, infer_long_args = true)]
enum Command {
    /// Full sweep, optionally filtered by model, precision, framework, runner type, sequence lengths
    #[command(args_override_self = true, infer_long_args = true)]
    FullSweep {
        #[command(flatten)]
        common: Common,
        /// Config-key prefix(es) to include (e.g. dsr1 gptoss)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set)]
        model_prefix: Vec<String>,
        /// Precision(s) to include (e.g. fp4 fp8)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set)]
        precision: Vec<String>,
        /// Framework(s) to include (e.g. vllm sglang trt)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set)]
        framework: Vec<String>,
        /// Runner type(s) (runner labels) to include (e.g. h200 h100)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "RUNNER_TYPE")]
        runner_type: Vec<String>,
        /// Sequence lengths to include (default: all)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_parser = ["1k1k", "8k1k"])]
        seq_lens: Vec<String>,
        /// Multiply concurrency by this factor between range steps (must be greater than 1)
        #[arg(long, default_value = "2", value_parser = py_int, allow_negative_numbers = true)]
        step_size: i64,
        /// Drop concurrencies below this value
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        min_conc: Option<i64>,
        /// Drop concurrencies above this value
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        max_conc: Option<i64>,
        /// Skip single-node entries with a larger tensor parallelism
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        max_tp: Option<i64>,
        /// Cap single-node expert parallelism at this value
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        max_ep: Option<i64>,
        /// Single-node configurations (neither flag: both node types)
        #[arg(long)]
        single_node: bool,
        /// Multi-node configurations (neither flag: both node types)
        #[arg(long)]
        multi_node: bool,
    },
    /// Full expansion of the given config keys or glob patterns
    #[command(args_override_self = true, infer_long_args = true)]
    TestConfig {
        #[command(flatten)]
        common: Common,
        /// Config keys or shell-style patterns (* ? [...]) to expand, in this order
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true)]
        config_keys: Vec<String>,
        /// Keep only these concurrency values
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_parser = py_int, allow_negative_numbers = true)]
        conc: Vec<i64>,
        /// Sequence lengths to include (default: all)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_parser = ["1k1k", "8k1k"])]
        seq_lens: Vec<String>,
    },
}

#[derive(Args)]
struct Common {
    /// Master config YAML files, merged in this order
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true)]
    config_files: Vec<PathBuf>,
    /// Runner file YAML (labels -> node names, hardware facts)
    #[arg(long, default_value = matrix::DEFAULT_RUNNER_CONFIG)]
    runner_config: PathBuf,
    /// Skip eval marking (throughput rows only)
    #[arg(long, conflicts_with = "evals_only")]
    no_evals: bool,
    /// Keep only the rows selected for evals
    #[arg(long)]
    evals_only: bool,
    /// Select every 8k1k fixed row and every agentic row for evals (eval rows only)
    #[arg(long)]
    all_evals: bool,
    /// Keep runner nodes whose name contains this; one row per node
    #[arg(long)]
    runner_node_filter: Option<String>,
    /// Scenario type(s) to generate (default: both)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_parser = ["fixed-seq-len", "agentic-coding"])]
    scenario_type: Vec<String>,
}

/// Integer options use Python `int(str)`, as argparse's `type=int` does.
fn py_int(s: &str) -> Result<i64, String> {
    servebench_pyjson::parse_int(s)
        .and_then(|i| i64::try_from(i).ok())
        .ok_or_else(|| format!("invalid int value: '{s}'"))
}

fn seq_lens(names: &[String]) -> Vec<matrix::SeqLen> {
    names
        .iter()
        .filter_map(|s| matrix::SeqLen::from_name(s))
        .collect()
}

/// Parses the command line (clap exits 2 on a usage error).
pub(crate) fn parse_request() -> matrix::Request {
    let (common, subcommand) = match Cli::parse().command {
        Command::FullSweep {
            common,
            model_prefix,
            precision,
            framework,
            runner_type,
            seq_lens: names,
            step_size,
            min_conc,
            max_conc,
            max_tp,
            max_ep,
            single_node,
            multi_node,
        } => {
            let opts = matrix::FullSweepOptions {
                model_prefix,
                precision,
                framework,
                runner_type,
                seq_lens: seq_lens(&names),
                step_size,
                min_conc,
                max_conc,
                max_tp,
                max_ep,
                single_node,
                multi_node,
                runner_node_filter: common.runner_node_filter.clone(),
                scenario_types: scenario_types(&common.scenario_type),
            };
            (common, matrix::Subcommand::FullSweep(opts))
        }
        Command::TestConfig {
            common,
            config_keys,
            conc,
            seq_lens: names,
        } => {
            let opts = matrix::TestConfigOptions {
                config_keys,
                conc,
                seq_lens: seq_lens(&names),
                runner_node_filter: common.runner_node_filter.clone(),
                scenario_types: scenario_types(&common.scenario_type),
            };
            (common, matrix::Subcommand::TestConfig(opts))
        }
    };
    matrix::Request {
        config_files: common.config_files,
        runner_config: common.runner_config,
        subcommand,
        evals: matrix::EvalOptions {
            no_evals: common.no_evals,
            evals_only: common.evals_only,
            all_evals: common.all_evals,
        },
    }
}

fn scenario_types(names: &[String]) -> Vec<matrix::ScenarioType> {
    names
        .iter()
        .filter_map(|s| matrix::ScenarioType::from_name(s))
        .collect()
}
