//! `calc_success_rate STATS_FILENAME`: the success table of a GitHub
//! Actions run by hardware bucket, on stdout and as `STATS_FILENAME.json`,
//! as InferenceX's `utils/calc_success_rate.py` (contract edition 2026-08
//! only). The work is `servebench-successrate`'s; this is its edge:
//! arguments, environment, stdout, the file, the exit status.

use servebench_contract::Edition;
use servebench_successrate::{
    calculate, load_hardware_labels, table, to_json, GitHub, GitHubOptions, Settings,
    DEFAULT_API_URL,
};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const TOOL: &str = "calc_success_rate";
const RUNNERS: &str = "configs/runners.yaml";
const HELP: &str = "\
Usage: calc_success_rate STATS_FILENAME

Counts the jobs of a GitHub Actions run (every attempt) by hardware bucket,
prints the success table and writes the counts to STATS_FILENAME.json.
The buckets are the `cluster:` labels of configs/runners.yaml (relative to
the working directory, the InferenceX checkout); a job belongs to the first
bucket whose name appears in its name.

Environment: GITHUB_TOKEN (required), GITHUB_REPOSITORY (OWNER/NAME),
GITHUB_RUN_ID, GITHUB_API_URL (default https://api.github.com).

Exit status 0 with the table (or `No data to display` and `null` when the
token cannot read /user); 1 when the repository, the run or its jobs
cannot be read, or on any other error. Part of InferenceX contract edition
2026-08 only.
";

fn error(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{TOOL}: error: {message}");
    ExitCode::FAILURE
}

fn out(text: &str) -> Result<(), ExitCode> {
    servebench_cli::print(text.as_bytes()).map_err(|e| error(&format!("writing stdout: {e}")))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn run() -> Result<(), ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return out(HELP);
    }
    match Edition::from_env() {
        Ok(Edition::E2026_02) => {
            return Err(error(&servebench_contract::not_in_edition(
                TOOL,
                Edition::E2026_02,
                &[Edition::E2026_08],
            )))
        }
        Ok(_) => {}
        Err(e) => return Err(error(&e.to_string())),
    }
    // The original fails on a missing argument only when writing the file,
    // after the API calls; this fails before them (same status).
    let Some(stats) = args.first() else {
        return Err(error(
            "missing STATS_FILENAME (usage: calc_success_rate STATS_FILENAME)",
        ));
    };
    let labels = load_hardware_labels(Path::new(RUNNERS))
        .map_err(|e| error(&servebench_cli::error_chain(&e)))?;
    // PyGithub's Auth.Token asserts a non-empty string.
    let token = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| error("GITHUB_TOKEN is not set"))?;
    let api_url = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let api = GitHub::new(&api_url, &token, GitHubOptions::default())
        .map_err(|e| error(&e.to_string()))?;
    let settings = Settings {
        repository: std::env::var("GITHUB_REPOSITORY").ok(),
        run_id: std::env::var("GITHUB_RUN_ID").ok(),
    };
    let mut written: Result<(), ExitCode> = Ok(());
    let rates = calculate(&api, &settings, &labels, &mut |line| {
        if written.is_ok() {
            written = out(&format!("{line}\n"));
        }
    });
    written?;
    let rates = rates.map_err(|e| error(&servebench_cli::error_chain(&e)))?;
    out(&table(rates.as_ref()))?;
    let mut file = stats.clone();
    file.push(".json");
    servebench_files::write_atomic(&PathBuf::from(file), to_json(rates.as_ref()).as_bytes())
        .map_err(|e| error(&servebench_cli::error_chain(&e)))
}
