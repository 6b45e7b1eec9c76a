//! `aggregate_power`: validates one node's GPU power telemetry against a
//! benchmark window, patches the agg file and writes the validation
//! sidecar, as InferenceX's `utils/aggregate_power.py` (edition 2026-08).
//! Usage errors exit 2; an invalid measurement exits 1 only with
//! `--require-power` (or `REQUIRE_POWER=1/true/yes`); where the original
//! raises, the exception is printed and the exit status is 1.

use clap::Parser;
use servebench_contract::Edition;
use servebench_power::{run_single_node, SingleNode};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Validate and aggregate single-node GPU-board power into benchmark results.",
    args_override_self = true,
    infer_long_args = true
)]
struct Cli {
    /// Path to gpu_metrics.csv from start_gpu_monitor
    #[arg(long, default_value = "/workspace/gpu_metrics.csv")]
    csv: PathBuf,
    /// Path to the raw benchmark_serving.py result JSON
    #[arg(long, required = true)]
    bench_result: PathBuf,
    /// Path to the agg_<run>.json output of process_result.py (patched in place)
    // The doc comment is the --help text: `<run>` is meant literally.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, required = true)]
    agg_result: PathBuf,
    /// Expected single-node GPU count from TP * PP * PCP
    #[arg(long, required = true, allow_hyphen_values = true)]
    expected_num_gpus: String,
    /// Path for the power validation sidecar
    #[arg(long)]
    validation_result: Option<PathBuf>,
    /// Fail when power telemetry is invalid (also enabled by REQUIRE_POWER=1)
    #[arg(long)]
    require_power: bool,
}

const TOOL: &str = "aggregate_power";
const USAGE: &str = "usage: aggregate_power [-h] [--csv CSV] --bench-result BENCH_RESULT --agg-result AGG_RESULT --expected-num-gpus EXPECTED_NUM_GPUS [--validation-result VALIDATION_RESULT] [--require-power]";

fn usage_error(message: &str) -> ExitCode {
    let _ = write!(std::io::stderr(), "{USAGE}\n{TOOL}: error: {message}\n");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    match Edition::from_env() {
        Ok(Edition::E2026_02) => {
            let m =
                servebench_contract::not_in_edition(TOOL, Edition::E2026_02, &[Edition::E2026_08]);
            let _ = writeln!(std::io::stderr(), "{TOOL}: error: {m}");
            return ExitCode::FAILURE;
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{TOOL}: error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            let rendered = err.render().to_string();
            let message = rendered.lines().next().unwrap_or_default();
            return usage_error(message.strip_prefix("error: ").unwrap_or(message));
        }
    };
    let Some(expected) = servebench_pyjson::parse_int(&cli.expected_num_gpus) else {
        return usage_error(&format!(
            "argument --expected-num-gpus: invalid int value: '{}'",
            cli.expected_num_gpus
        ));
    };
    let require = cli.require_power || require_power_env();
    let req = SingleNode {
        csv: cli.csv,
        bench_result: cli.bench_result,
        agg_result: cli.agg_result,
        expected_num_gpus: expected,
        validation_result: cli.validation_result,
    };
    match run_single_node(&req) {
        Ok(report) => {
            for line in &report.stderr {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            if let Some(line) = &report.stdout_line {
                if let Err(e) = servebench_cli::print(format!("{line}\n").as_bytes()) {
                    let _ = writeln!(std::io::stderr(), "{TOOL}: error: writing stdout: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::from(report.exit_status(require))
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "Traceback (most recent call last):\n{}: {e}",
                e.python_type()
            );
            ExitCode::FAILURE
        }
    }
}

/// `REQUIRE_POWER` is 1, true or yes (any case).
fn require_power_env() -> bool {
    std::env::var("REQUIRE_POWER")
        .map(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}
