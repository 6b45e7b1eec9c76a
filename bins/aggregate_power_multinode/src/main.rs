//! `aggregate_power_multinode`: validates an srt-slurm DCGM power package
//! (v1) for a disaggregated multinode run, patches the agg file and writes
//! the validation sidecar, as InferenceX's
//! `utils/aggregate_power_multinode.py` (edition 2026-08). Usage errors
//! exit 2; an invalid measurement exits 1 only with `--require-power` (or
//! `REQUIRE_POWER=1/true/yes`); where the original raises, exit 1.

use clap::Parser;
use servebench_contract::Edition;
use servebench_power::{run_multinode, Multinode};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Validate and aggregate multinode srt-slurm DCGM power artifacts.",
    args_override_self = true,
    infer_long_args = true
)]
struct Cli {
    /// The srt-slurm power artifact dir (default: POWER_ARTIFACT_DIR or LOGS/power)
    #[arg(long)]
    power_dir: Option<PathBuf>,
    /// Root that window result_path values resolve under (default: POWER_RESULT_ROOT or LOGS)
    #[arg(long)]
    logs_root: Option<PathBuf>,
    /// Path to the raw benchmark_serving.py result JSON
    #[arg(long, required = true)]
    bench_result: PathBuf,
    /// Path to the agg_<run>.json output of process_result.py (patched in place)
    // The doc comment is the --help text: `<run>` is meant literally.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, required = true)]
    agg_result: PathBuf,
    /// Expected prefill GPU count (PREFILL_GPUS)
    #[arg(long, required = true, allow_hyphen_values = true)]
    prefill_gpus: String,
    /// Expected decode GPU count (DECODE_GPUS)
    #[arg(long, required = true, allow_hyphen_values = true)]
    decode_gpus: String,
    /// Required srt-slurm producer git commit (env POWER_PRODUCER_SHA)
    #[arg(long)]
    expected_producer_sha: Option<String>,
    /// Path for the power validation sidecar
    #[arg(long)]
    validation_result: Option<PathBuf>,
    /// Fail when power telemetry is invalid (also enabled by REQUIRE_POWER=1)
    #[arg(long)]
    require_power: bool,
}

const TOOL: &str = "aggregate_power_multinode";
const USAGE: &str = "usage: aggregate_power_multinode [-h] [--power-dir POWER_DIR] [--logs-root LOGS_ROOT] --bench-result BENCH_RESULT --agg-result AGG_RESULT --prefill-gpus PREFILL_GPUS --decode-gpus DECODE_GPUS [--expected-producer-sha EXPECTED_PRODUCER_SHA] [--validation-result VALIDATION_RESULT] [--require-power]";

fn usage_error(message: &str) -> ExitCode {
    let _ = write!(std::io::stderr(), "{USAGE}\n{TOOL}: error: {message}\n");
    ExitCode::from(2)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
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
    let int = |name: &str, v: &str| {
        servebench_pyjson::parse_int(v)
            .ok_or_else(|| format!("argument --{name}: invalid int value: '{v}'"))
    };
    let (prefill, decode) = match (
        int("prefill-gpus", &cli.prefill_gpus),
        int("decode-gpus", &cli.decode_gpus),
    ) {
        (Ok(p), Ok(d)) => (p, d),
        (Err(m), _) | (_, Err(m)) => return usage_error(&m),
    };
    let require = cli.require_power
        || env("REQUIRE_POWER")
            .is_some_and(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes"));
    let req = Multinode {
        power_dir: cli.power_dir.unwrap_or_else(|| {
            PathBuf::from(env("POWER_ARTIFACT_DIR").unwrap_or("LOGS/power".into()))
        }),
        logs_root: cli
            .logs_root
            .unwrap_or_else(|| PathBuf::from(env("POWER_RESULT_ROOT").unwrap_or("LOGS".into()))),
        bench_result: cli.bench_result,
        agg_result: cli.agg_result,
        prefill_gpus: prefill,
        decode_gpus: decode,
        expected_producer_sha: cli
            .expected_producer_sha
            .or_else(|| env("POWER_PRODUCER_SHA").filter(|s| !s.is_empty())),
        validation_result: cli.validation_result,
    };
    match run_multinode(&req) {
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
