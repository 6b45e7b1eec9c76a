//! `summarize RESULTS_DIR`: the markdown results table of every agg record
//! under RESULTS_DIR on stdout (for `$GITHUB_STEP_SUMMARY`), byte for byte
//! as `utils/summarize.py` prints it.

use servebench_results::summarize::summarize;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        let _ = writeln!(std::io::stdout(), "Usage: summarize <results_dir>");
        return ExitCode::SUCCESS;
    }
    let Some(dir) = args.first() else {
        // The original prints its usage on stdout and exits 1.
        let _ = writeln!(std::io::stdout(), "Usage: summarize <results_dir>");
        return ExitCode::FAILURE;
    };
    let markdown = match summarize(Path::new(dir)) {
        Ok(markdown) => markdown,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "summarize: error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if markdown.is_empty() {
        // stdout stays empty, as in the original; say why on stderr.
        let _ = writeln!(
            std::io::stderr(),
            "summarize: warning: no benchmark records (agg *.json files) under {dir}"
        );
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(markdown.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "summarize: error: writing stdout: {err}");
            ExitCode::FAILURE
        }
    }
}
