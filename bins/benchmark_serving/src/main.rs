//! `benchmark_serving`: the serving benchmark, with the command line of
//! `utils/bench_serving/benchmark_serving.py`.
//!
//! `main` parses the flags, then either runs the `metrics` test command,
//! or checks the options' ranges (README "Limits"; a usage error, exit 2),
//! prepares the requests (exactly as the Python client would for the same
//! seed) and prints them (`--dry-run`) or runs the benchmark (`serve::main`
//! → `servebench_bench::run`: warmups, profile, run, report, self-audit,
//! save). SIGINT and SIGTERM interrupt any phase (`interrupt`).

use clap::{CommandFactory, Parser, Subcommand};
use servebench_bench::{py_float, BenchOptions};
use servebench_cli::error_chain as chain;
use servebench_contract::Edition;
use servebench_prompts::LimitError;
use servebench_results::MetricsCase;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod interrupt;
mod serve;

/// jemalloc rather than the system allocator: measured with
/// `cargo xtask bench-client`, the streaming hot path spent less CPU
/// per token (16–20 %) with it than with glibc malloc at the same peak RSS.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Prepared = servebench_prompts::Prepared;

/// What `serve` and `metrics` fail with: the libraries' errors, whose
/// causes [`chain`] prints, or a message.
type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(
    about = "Benchmark the online serving throughput",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Compute metrics, report and saved result from recorded outputs (case.json) and print them as JSON
    Metrics {
        /// The case file: requests, outputs, duration_s, metric options, optional save settings
        #[arg(long)]
        input: PathBuf,
    },
}

/// The Python client's options (`BenchOptions`: same names, defaults and
/// order), plus ours.
#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    run: BenchOptions,
    /// Prepare the requests and arrival gaps, print one JSON object per request, and send nothing
    #[arg(long)]
    dry_run: bool,
    /// Open a new connection for every request, as the Python client does (default: keep-alive reuse)
    #[arg(long)]
    new_connection_per_request: bool,
    /// Seconds to wait for a TCP connection
    #[arg(long, default_value = "30", allow_negative_numbers = true, value_parser = positive_seconds)]
    connect_timeout: Duration,
    /// Seconds to wait for the response head or for the next bytes of a stream before failing the request
    #[arg(long, default_value = "600", allow_negative_numbers = true, value_parser = positive_seconds)]
    read_timeout: Duration,
    /// Write the client self-audit into the saved result (key client_audit)
    #[arg(long)]
    save_audit: bool,
    /// Exit non-zero (3) when the self-audit finds the run client-bound
    #[arg(long)]
    fail_if_client_bound: bool,
}

/// More than 0 and less than 10^9 seconds (not NaN).
fn positive_seconds(s: &str) -> Result<Duration, String> {
    let v = py_float(s).map_err(|e| e.to_string())?;
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero() && v < 1e9)
        .ok_or_else(|| format!("expected a positive number of seconds below 1e9, got '{s}'"))
}

/// The options' ranges (README "Limits"), before the tokenizer is loaded
/// or anything is sampled, sized or timed. A burstiness of 0 or less is
/// left to the sampling, which fails with the original's message (exit 1).
fn check_limits(run: &BenchOptions) -> Result<(), LimitError> {
    run.check_dataset_limits()?;
    // `int(len * ratio)` in the original: NaN and infinities fail there.
    if run.dataset_name == "random" && !run.random_range_ratio.is_finite() {
        return Err(LimitError::new(
            "random_range_ratio",
            format!(
                "must be a finite number, not {}",
                servebench_pyjson::float_repr(run.random_range_ratio)
            ),
        ));
    }
    if run.burstiness > 0.0 {
        run.check_limits()
    } else {
        BenchOptions {
            burstiness: 1.0,
            ..run.clone()
        }
        .check_limits()
    }
}

/// Checks the limits, then prepares and sends (or prints) the requests.
fn serve(args: &ServeArgs, model: &str, edition: Edition) -> Result<ExitCode, Error> {
    let run = &args.run;
    if let Err(e) = run.check_edition(edition).and_then(|()| check_limits(run)) {
        Cli::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!("argument {}: {}", e.flag(), e.reason),
            )
            .exit();
    }
    let dataset = run.dataset(run.dataset_path.as_deref(), edition, cpu_count());
    let opts = run.prepare_options(dataset?);
    serve::main(args, model, opts, edition)
}

/// The `metrics` test command: the output document, and the failure
/// gate's message (2026-08; the command then exits 1 after printing).
/// Python's `os.cpu_count()`: the CPUs online in the system (not this
/// process's affinity), from `/sys/devices/system/cpu/online`; where that
/// cannot be read, the parallelism available to the process.
fn cpu_count() -> usize {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| count_cpu_list(text.trim()));
    online.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The number of CPUs in a kernel CPU list (`0-3,8,10-11` → 7).
fn count_cpu_list(list: &str) -> Option<usize> {
    let mut total = 0usize;
    for part in list.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let a = part.parse::<usize>().ok()?;
                (a, a)
            }
        };
        total = total.checked_add(b.checked_sub(a)?.checked_add(1)?)?;
    }
    (total > 0).then_some(total)
}

fn metrics(input: &Path, edition: Edition) -> Result<(String, Option<String>), Error> {
    let value = servebench_results::read_json(input)?;
    let outcome = MetricsCase::from_value(&value, edition).and_then(|c| c.run())?;
    if outcome.all_failed {
        let _ = writeln!(std::io::stderr(), "warning: All requests failed. This is likely due to a misconfiguration on the benchmark arguments.");
    }
    Ok((
        format!("{}\n", servebench_pyjson::to_string(&outcome.document)),
        outcome.failure_gate,
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The contract edition, read once: everything below takes it as a value.
    let edition = match Edition::from_env() {
        Ok(edition) => edition,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "benchmark_serving: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Metrics { input }) => metrics(&input, edition).and_then(|(text, gate)| {
            servebench_cli::print(text.as_bytes())
                .map_err(|e| Error::from(format!("writing stdout: {e}")))?;
            Ok(match gate {
                Some(message) => {
                    let _ = writeln!(std::io::stderr(), "{message}");
                    ExitCode::FAILURE
                }
                None => ExitCode::SUCCESS,
            })
        }),
        None => {
            let Some(model) = cli.args.run.model.as_deref() else {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "the following arguments are required: --model",
                    )
                    .exit();
            };
            serve(&cli.args, model, edition)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "benchmark_serving: error: {}",
                chain(err.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(count_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("3-1"), None);
        assert!(cpu_count() >= 1);
    }

    #[test]
    fn the_flags_defaults_are_the_options_defaults() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["benchmark_serving"]).unwrap();
        assert!(cli.args.run == BenchOptions::default());
        assert!(!cli.args.dry_run);
    }

    /// Every flag `--help` shows (of the command and its subcommands) has
    /// a description, one line in `-h` and in `--help`.
    #[test]
    fn every_shown_flag_has_a_one_line_description() {
        fn check(cmd: &clap::Command, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                let name = format!("{} --{}", cmd.get_name(), arg.get_id());
                let short = arg.get_help().map(ToString::to_string);
                let long = arg.get_long_help().map(ToString::to_string);
                match short.or(long) {
                    Some(text) if !text.trim().is_empty() && !text.contains('\n') => {}
                    other => missing.push(format!("{name}: {other:?}")),
                }
            }
            for sub in cmd.get_subcommands() {
                check(sub, missing);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        check(&cmd, &mut missing);
        assert!(
            missing.is_empty(),
            "flags without a one-line description: {missing:#?}"
        );
    }
}
