//! `process_result`: turns `${RESULT_FILENAME}.json` plus the workflow's
//! environment variables into `agg_${RESULT_FILENAME}.json`, printing the
//! same JSON (indent 2) on stdout, as `utils/process_result.py` does; under
//! contract edition 2026-08 it then runs the GPU power step (agg patch and
//! `power_validation_${RESULT_FILENAME}.json`), see SPEC-bench §3.
//! Command-line arguments are ignored, except `-h`/`--help`.

use servebench_cli::error_chain as chain;
use servebench_contract::Edition;
use servebench_pyjson::{to_string_indent2, Value};
use servebench_results::{
    power_step, process_result, read_json, result_filename, write_atomic, PowerPaths, ResultsError,
};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: process_result

Reads ${RESULT_FILENAME}.json from the current directory and writes
agg_${RESULT_FILENAME}.json (also printed on stdout). Under InferenceX contract
edition 2026-08 (INFERENCEX_CONTRACT unset or 2026-08) it then aggregates GPU power
into the agg file and writes power_validation_${RESULT_FILENAME}.json.

Required environment: RUNNER_TYPE FRAMEWORK PRECISION SPEC_DECODING RESULT_FILENAME
  ISL OSL DISAGG MODEL_PREFIX IMAGE, then either TP EP_SIZE DP_ATTENTION (single node)
  or, with IS_MULTINODE=true, PREFILL_GPUS DECODE_GPUS PREFILL_NUM_WORKERS PREFILL_TP
  PREFILL_EP PREFILL_DP_ATTN DECODE_NUM_WORKERS DECODE_TP DECODE_EP DECODE_DP_ATTN.
Optional (2026-08): RECIPE_FINGERPRINT ROUTER_METADATA KV_P2P_TRANSFER PP_SIZE DCP_SIZE
  PCP_SIZE, PREFILL_/DECODE_ PP_SIZE DCP_SIZE PCP_SIZE, PREFILL_HARDWARE DECODE_HARDWARE;
  power: GPU_METRICS_CSV (single node), POWER_ARTIFACT_DIR POWER_RESULT_ROOT
  POWER_PRODUCER_SHA (multinode), REQUIRE_POWER=1 (exit 1 when power is invalid).
";

fn env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn print(text: &str) -> Result<(), ResultsError> {
    // A closed pipe ends the printing quietly.
    servebench_cli::print(text.as_bytes()).map_err(|source| ResultsError::Io {
        path: "<stdout>".into(),
        source,
    })
}

/// The exit status (0, or 1 for invalid power under REQUIRE_POWER).
fn run(edition: Edition) -> Result<u8, ResultsError> {
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
    let processed = process_result(edition, &env, &result)?;
    let text = to_string_indent2(&Value::Dict(processed.record.clone()));
    if edition == Edition::E2026_02 {
        // Printed first, then written, as the original does; the file is
        // written even when stdout is closed.
        print(&format!("{text}\n"))?;
        write_atomic(&file_name("agg_"), &text)?;
        return Ok(0);
    }
    let paths = PowerPaths {
        bench_result: file_name(""),
        agg_result: file_name("agg_"),
        sidecar: file_name("power_validation_"),
    };
    write_atomic(&paths.agg_result, &text)?;
    let outcome = power_step(&env, processed.gpus, &result, &processed.record, &paths);
    {
        let mut stderr = std::io::stderr().lock();
        for line in &outcome.stderr {
            let _ = writeln!(stderr, "{line}");
        }
    }
    if let Some(line) = &outcome.stdout_line {
        print(&format!("{line}\n"))?;
    }
    // The original re-reads the (patched) agg file and prints it.
    let agg = read_json(&paths.agg_result)?;
    print(&format!("{}\n", to_string_indent2(&agg)))?;
    Ok(outcome.exit_status)
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
    let edition = match Edition::from_env() {
        Ok(e) => e,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "process_result: error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match run(edition) {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "process_result: error: {}", chain(&err));
            ExitCode::FAILURE
        }
    }
}
