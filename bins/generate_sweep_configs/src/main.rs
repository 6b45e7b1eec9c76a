//! `generate_sweep_configs`: prints the InferenceX benchmark matrix as one
//! line of JSON. Same subcommands, flags, defaults and exit statuses as
//! `utils/matrix_logic/generate_sweep_configs.py` (usage errors exit 2,
//! every other error exits 1 with one line on stderr).
//!
//! `INFERENCEX_CONTRACT` (read once, at start) picks the edition: `2026-08`
//! (the default; `e2026_08`) or `2026-02` (this file's command line).

mod e2026_08;

use clap::{Args, Parser, Subcommand};
use servebench_cli::error_chain as chain;
use servebench_contract::Edition;
use servebench_matrix as matrix;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Generate benchmark configurations from YAML config files",
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
        #[command(flatten)]
        filters: Filters,
        /// Runner type(s) to filter by (e.g. h200 h100)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "RUNNER_TYPE")]
        runner_type: Vec<String>,
        /// Sequence lengths to include (default: all)
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_parser = ["1k1k", "1k8k", "8k1k"])]
        seq_lens: Vec<String>,
        /// Multiply concurrency by this factor between range steps
        #[arg(long, default_value = "2", value_parser = py_int, allow_negative_numbers = true)]
        step_size: i64,
        /// Drop concurrencies below this value
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        min_conc: Option<i64>,
        /// Drop concurrencies above this value (use it when none remain)
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        max_conc: Option<i64>,
        /// Skip single-node entries with a larger tensor parallelism
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        max_tp: Option<i64>,
        /// Cap single-node expert parallelism at this value
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        max_ep: Option<i64>,
        #[command(flatten)]
        node: NodeTypeArgs,
    },
    /// Run every config of one runner type on every node of that type (1k1k, one concurrency)
    #[command(args_override_self = true, infer_long_args = true)]
    RunnerModelSweep {
        #[command(flatten)]
        common: Common,
        /// Runner type (e.g. b200-trt, h100)
        #[arg(long, required = true)]
        runner_type: String,
        #[command(flatten)]
        filters: Filters,
        /// Concurrency for all runs (default: the lowest of each config)
        #[arg(long, value_parser = py_int, allow_negative_numbers = true)]
        conc: Option<i64>,
        #[command(flatten)]
        node: NodeTypeArgs,
    },
    /// Full expansion of the given config keys (no filters)
    #[command(args_override_self = true, infer_long_args = true)]
    TestConfig {
        #[command(flatten)]
        common: Common,
        /// Config keys to expand, in this order
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true)]
        config_keys: Vec<String>,
        /// Keep only these concurrency values
        #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_parser = py_int, allow_negative_numbers = true)]
        conc: Vec<i64>,
    },
}

#[derive(Args)]
struct Common {
    /// Master config YAML files, merged in this order
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, required = true)]
    config_files: Vec<PathBuf>,
    /// Runner config YAML (runner type -> node names)
    #[arg(long, default_value = ".github/configs/runners.yaml")]
    runner_config: PathBuf,
    /// Also mark a subset of entries to run evals
    #[arg(long, conflicts_with = "evals_only")]
    run_evals: bool,
    /// Keep only the entries marked for evals
    #[arg(long)]
    evals_only: bool,
    /// Keep runner nodes whose name contains this; one entry per node (ignored by test-config)
    #[arg(long)]
    runner_node_filter: Option<String>,
}

#[derive(Args)]
struct Filters {
    /// Config-key prefix(es) to include (e.g. dsr1 gptoss)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set)]
    model_prefix: Vec<String>,
    /// Precision(s) to include (e.g. fp4 fp8)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set)]
    precision: Vec<String>,
    /// Framework(s) to include (e.g. vllm sglang trt)
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set)]
    framework: Vec<String>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct NodeTypeArgs {
    /// Only single-node configurations
    #[arg(long)]
    single_node: bool,
    /// Only multi-node configurations
    #[arg(long)]
    multi_node: bool,
}

/// Integer options use Python `int(str)`, as argparse's `type=int` does.
fn py_int(s: &str) -> Result<i64, String> {
    servebench_pyjson::parse_int(s)
        .and_then(|i| i64::try_from(i).ok())
        .ok_or_else(|| format!("invalid int value: '{s}'"))
}

fn main() -> ExitCode {
    let edition = match Edition::from_env() {
        Ok(edition) => edition,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "generate_sweep_configs: error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = if edition == Edition::E2026_02 {
        matrix::generate(&Cli::parse().command.into_request())
    } else {
        let request = e2026_08::parse_request();
        if let Some(message) = request.usage_error() {
            let _ = writeln!(
                std::io::stderr(),
                "usage: generate_sweep_configs [-h] {{full-sweep,test-config}} ...\n\
                 generate_sweep_configs: error: {message}"
            );
            return ExitCode::from(2);
        }
        matrix::e2026_08::generate(&request)
    };
    let entries = match result {
        Ok(entries) => entries,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "generate_sweep_configs: error: {}",
                chain(&err)
            );
            return ExitCode::FAILURE;
        }
    };
    let text = format!("{}\n", matrix::matrix_json(&entries));
    match servebench_cli::print(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "generate_sweep_configs: error: writing stdout: {err}"
            );
            ExitCode::FAILURE
        }
    }
}

impl Command {
    fn into_request(self) -> matrix::Request {
        let node_type = |n: NodeTypeArgs| {
            if n.multi_node {
                matrix::NodeType::MultiNode
            } else {
                matrix::NodeType::SingleNode
            }
        };
        let (common, subcommand) = match self {
            Command::FullSweep {
                common,
                filters,
                runner_type,
                seq_lens,
                step_size,
                min_conc,
                max_conc,
                max_tp,
                max_ep,
                node,
            } => {
                let opts = matrix::FullSweepOptions {
                    model_prefix: filters.model_prefix,
                    precision: filters.precision,
                    framework: filters.framework,
                    runner_type,
                    seq_lens: seq_lens
                        .iter()
                        .filter_map(|s| matrix::SeqLen::from_name(s))
                        .collect(),
                    step_size,
                    min_conc,
                    max_conc,
                    max_tp,
                    max_ep,
                    node_type: node_type(node),
                    runner_node_filter: common.runner_node_filter.clone(),
                };
                (common, matrix::Subcommand::FullSweep(opts))
            }
            Command::RunnerModelSweep {
                common,
                runner_type,
                filters,
                conc,
                node,
            } => {
                let opts = matrix::RunnerModelSweepOptions {
                    runner_type,
                    model_prefix: filters.model_prefix,
                    precision: filters.precision,
                    framework: filters.framework,
                    conc,
                    node_type: node_type(node),
                    runner_node_filter: common.runner_node_filter.clone(),
                };
                (common, matrix::Subcommand::RunnerModelSweep(opts))
            }
            Command::TestConfig {
                common,
                config_keys,
                conc,
            } => (
                common,
                matrix::Subcommand::TestConfig(matrix::TestConfigOptions { config_keys, conc }),
            ),
        };
        let evals = match (common.run_evals, common.evals_only) {
            (_, true) => matrix::EvalMode::EvalsOnly,
            (true, false) => matrix::EvalMode::RunEvals,
            (false, false) => matrix::EvalMode::Off,
        };
        matrix::Request {
            config_files: common.config_files,
            runner_config: common.runner_config,
            subcommand,
            evals,
        }
    }
}
