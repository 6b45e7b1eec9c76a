//! `collect_eval_results RESULTS_DIR EXP_NAME [SORT]`: the lm-eval results
//! of every eval set under RESULTS_DIR as GitHub tables on stdout and as
//! `agg_eval_{EXP_NAME}.json`, as InferenceX's
//! `utils/collect_eval_results.py` (contract edition 2026-08 only).

use servebench_cli::error_chain as chain;
use servebench_contract::Edition;
use servebench_pyjson::{to_string_indent2, Value};
use servebench_results::{collect_eval_results, eval_file_name, write_atomic, EvalSort};
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const TOOL: &str = "collect_eval_results";
const USAGE: &str =
    "Usage: collect_eval_results.py <results_dir> <exp_name> [sort_by: model_prefix|hw]";
const HELP: &str = "\
Usage: collect_eval_results RESULTS_DIR EXP_NAME [SORT]

Collects the lm-eval result files of every eval set (a directory holding
meta_env.json: RESULTS_DIR itself, then its sub-directories), prints the
single-node and multi-node tables (GitHub markdown) and writes every row to
agg_eval_EXP_NAME.json. SORT `hw` orders the tables hardware first; anything
else (or nothing) model prefix first. Part of InferenceX contract edition
2026-08 only.
";

fn error(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{TOOL}: error: {message}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    // OsStrings: a directory or experiment name that is not UTF-8 is used
    // as given.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        let _ = std::io::stdout().write_all(HELP.as_bytes());
        return ExitCode::SUCCESS;
    }
    match Edition::from_env() {
        Ok(Edition::E2026_02) => {
            return error(&servebench_contract::not_in_edition(
                TOOL,
                Edition::E2026_02,
                &[Edition::E2026_08],
            ))
        }
        Ok(_) => {}
        Err(e) => return error(&e.to_string()),
    }
    let [root, exp_name, rest @ ..] = args.as_slice() else {
        // The original prints its usage on stdout and exits 1.
        let _ = writeln!(std::io::stdout(), "{USAGE}");
        return ExitCode::FAILURE;
    };
    let sort = EvalSort::from_arg(rest.first().and_then(|a| a.to_str()));
    let collection = match collect_eval_results(Path::new(root), sort) {
        Ok(c) => c,
        Err(e) => return error(&chain(&e)),
    };
    if let Err(e) = servebench_cli::print(collection.stdout.as_bytes()) {
        return error(&format!("writing stdout: {e}"));
    }
    let text = to_string_indent2(&Value::List(collection.rows));
    match write_atomic(&eval_file_name(exp_name), &text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error(&chain(&e)),
    }
}
