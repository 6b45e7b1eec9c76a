//! `process_result`: turns `${RESULT_FILENAME}.json` plus the workflow's
//! environment variables into `agg_${RESULT_FILENAME}.json`, printing the
//! same JSON (indent 2) on stdout, as `utils/process_result.py` does.
//! Command-line arguments are ignored, except `-h`/`--help`.

use servebench_cli::error_chain as chain;
use servebench_pyjson::{to_string_indent2, Value};
use servebench_results::{process_result, read_json, result_filename, write_atomic, ResultsError};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: process_result

Reads ${RESULT_FILENAME}.json from the current directory and writes
agg_${RESULT_FILENAME}.json (also printed on stdout).

Required environment: RUNNER_TYPE FRAMEWORK PRECISION SPEC_DECODING RESULT_FILENAME
  ISL OSL DISAGG MODEL_PREFIX IMAGE, then either TP EP_SIZE DP_ATTENTION (single node)
  or, with IS_MULTINODE=true, PREFILL_GPUS DECODE_GPUS PREFILL_NUM_WORKERS PREFILL_TP
  PREFILL_EP PREFILL_DP_ATTN DECODE_NUM_WORKERS DECODE_TP DECODE_EP DECODE_DP_ATTN.
";

fn env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn run() -> Result<(), ResultsError> {
    // Checks every base variable; the file names then use RESULT_FILENAME's
    // own bytes (Python's os.environ and open round-trip non-UTF-8 too).
    result_filename(&env)?;
    let name = std::env::var_os("RESULT_FILENAME").unwrap_or_default();
    let file_name = |prefix: &str| {
        let mut file = OsString::from(prefix);
        file.push(&name);
        file.push(".json");
        PathBuf::from(file)
    };
    let result = read_json(&file_name(""))?;
    let text = to_string_indent2(&Value::Dict(process_result(&env, &result)?));
    // Printed first, then written, as the original does.
    // A closed pipe ends the printing quietly; the file is still written.
    servebench_cli::print(format!("{text}\n").as_bytes()).map_err(|source| ResultsError::Io {
        path: "<stdout>".into(),
        source,
    })?;
    write_atomic(&file_name("agg_"), &text)
}

fn main() -> ExitCode {
    // args_os: an argument that is not UTF-8 is ignored like any other.
    if std::env::args_os()
        .skip(1)
        .any(|a| a == "-h" || a == "--help")
    {
        let _ = std::io::stdout().write_all(HELP.as_bytes());
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "process_result: error: {}", chain(&err));
            ExitCode::FAILURE
        }
    }
}
