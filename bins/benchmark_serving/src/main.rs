//! `benchmark_serving`: the serving benchmark. For now it carries the
//! `metrics` test command (SPEC §7.3), which replays recorded per-request
//! outputs through the metric math, report and save logic of a real run;
//! the streaming client arrives later.

use clap::{Parser, Subcommand};
use servebench_results::serving::case::MetricsCase;
use servebench_results::{io, ResultsError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Benchmark the online serving throughput", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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

fn metrics(input: &Path) -> Result<String, ResultsError> {
    let case = MetricsCase::from_value(&io::read_json(input)?)?;
    let outcome = case.run()?;
    if outcome.all_failed {
        let _ = writeln!(
            std::io::stderr(),
            "warning: All requests failed. This is likely due to a misconfiguration on the benchmark arguments."
        );
    }
    Ok(servebench_pyjson::to_string(&outcome.document))
}

fn main() -> ExitCode {
    let Command::Metrics { input } = Cli::parse().command;
    let text = match metrics(&input) {
        Ok(text) => text,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "benchmark_serving: error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "benchmark_serving: error: writing stdout: {err}"
            );
            ExitCode::FAILURE
        }
    }
}
