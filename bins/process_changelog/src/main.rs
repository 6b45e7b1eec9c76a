//! `process_changelog`: the benchmark and eval matrix for the entries a
//! branch adds to the perf changelog, as one line of JSON. Same flags,
//! output and exit statuses as InferenceX's `utils/process_changelog.py`
//! (edition 2026-08): usage errors exit 2, every other error exits 1 with
//! one line on stderr.
//!
//! The matrix rows come from the `generate_sweep_configs` executable beside
//! this one (else the one on PATH), run in the current directory.

use clap::Parser;
use servebench_changelog::{process, GeneratorExe, Git, Request};
use servebench_cli::error_chain as chain;
use servebench_contract::{Edition, ENV_VAR};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Print the sweep matrix for the entries added to the perf changelog between two git refs",
    version,
    args_override_self = true,
    infer_long_args = true
)]
struct Cli {
    /// Git ref the changelog is compared against (e.g. origin/main)
    #[arg(long, required = true)]
    base_ref: String,
    /// Git ref holding the new changelog entries (e.g. HEAD)
    #[arg(long, required = true)]
    head_ref: String,
    /// The changelog file, relative to the repository root
    #[arg(long, required = true)]
    changelog_file: String,
    /// Keep one concurrency point per parallelism config (the lowest)
    #[arg(long)]
    trim_conc: bool,
    /// Expand every changelog entry's eval selection without changing throughput
    #[arg(long)]
    all_evals: bool,
    /// Suppress throughput for every changelog entry without expanding eval selection
    #[arg(long)]
    evals_only: bool,
}

const TOOL: &str = "process_changelog";
const USAGE: &str = "usage: process_changelog [-h] --base-ref BASE_REF --head-ref HEAD_REF --changelog-file CHANGELOG_FILE [--trim-conc] [--all-evals] [--evals-only]";

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{TOOL}: error: {message}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let edition = match Edition::from_env() {
        Ok(edition) => edition,
        Err(err) => return fail(&err.to_string()),
    };
    if edition == Edition::E2026_02 {
        return fail(&servebench_contract::not_in_edition(
            TOOL,
            edition,
            &[Edition::E2026_08],
        ));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            // argparse's shape: the usage line, then `prog: error: message`.
            let rendered = err.render().to_string();
            let message = rendered.lines().next().unwrap_or_default();
            let message = message.strip_prefix("error: ").unwrap_or(message);
            let _ = write!(std::io::stderr(), "{USAGE}\n{TOOL}: error: {message}\n");
            return ExitCode::from(2);
        }
    };
    let mut request = Request::new(&cli.base_ref, &cli.head_ref, &cli.changelog_file);
    request.trim_conc = cli.trim_conc;
    request.all_evals = cli.all_evals;
    request.evals_only = cli.evals_only;

    let exe = std::env::current_exe().ok();
    let generator =
        GeneratorExe::new(GeneratorExe::locate(exe.as_deref()), "").env(ENV_VAR, edition.as_str());
    match process(&request, &Git::new(""), Path::new(""), &generator) {
        Ok(line) => match servebench_cli::print(format!("{line}\n").as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&format!("writing stdout: {err}")),
        },
        Err(err) => {
            // The original prints a failed generator's stderr on stdout.
            if let Some(stderr) = err.generator_stderr() {
                let _ = servebench_cli::print(format!("{stderr}\n").as_bytes());
            }
            fail(&chain(&err))
        }
    }
}
