//! `collect_results RESULTS_DIR EXP_NAME`: every `*.json` under RESULTS_DIR
//! (recursively, sorted by path) parsed into one list, written to
//! `agg_EXP_NAME.json` (indent 2), as `utils/collect_results.py` does.

use servebench_cli::error_chain as chain;
use servebench_pyjson::{to_string_indent2, Value};
use servebench_results::{collect_file_name, collect_results, write_atomic, ResultsError};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "Usage: collect_results RESULTS_DIR EXP_NAME\n\nWrites agg_EXP_NAME.json: a list of every *.json file under RESULTS_DIR.\n";

fn run(dir: &OsStr, exp_name: &OsStr) -> Result<(), ResultsError> {
    let dir = Path::new(dir);
    let (values, walk) = collect_results(dir)?;
    if walk.json_paths.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "collect_results: warning: no *.json files under {}; writing an empty list",
            dir.display()
        );
    }
    for skipped in &walk.unreadable_dirs {
        let _ = writeln!(
            std::io::stderr(),
            "collect_results: warning: cannot list {}, skipped",
            skipped.display()
        );
    }
    write_atomic(
        &collect_file_name(exp_name),
        &to_string_indent2(&Value::List(values)),
    )
}

fn main() -> ExitCode {
    // OsStrings: a path or name that is not UTF-8 is used as given, as
    // Python's sys.argv does.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        let _ = std::io::stdout().write_all(USAGE.as_bytes());
        return ExitCode::SUCCESS;
    }
    // Extra arguments are ignored, as in the original.
    let [dir, exp_name, ..] = args.as_slice() else {
        let _ = write!(
            std::io::stderr(),
            "collect_results: error: expected RESULTS_DIR and EXP_NAME\n{USAGE}"
        );
        return ExitCode::FAILURE;
    };
    match run(dir, exp_name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "collect_results: error: {}", chain(&err));
            ExitCode::FAILURE
        }
    }
}
