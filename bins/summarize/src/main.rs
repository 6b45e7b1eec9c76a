//! `summarize RESULTS_DIR`: the markdown results table of every agg record
//! under RESULTS_DIR on stdout (for `$GITHUB_STEP_SUMMARY`), byte for byte
//! as `utils/summarize.py` prints it.

use servebench_cli::error_chain as chain;
use servebench_results::summarize;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Said in `--help`: the tool works the same under both editions.
const EDITION_NOTE: &str = "not part of InferenceX edition 2026-08 (upstream removed utils/summarize.py); kept as a servebench tool";

fn main() -> ExitCode {
    // OsStrings: a directory name that is not UTF-8 is used as given.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        let _ = writeln!(
            std::io::stdout(),
            "Usage: summarize <results_dir>\n\n{EDITION_NOTE}"
        );
        return ExitCode::SUCCESS;
    }
    let Some(dir) = args.first() else {
        // The original prints its usage on stdout and exits 1.
        let _ = writeln!(std::io::stdout(), "Usage: summarize <results_dir>");
        return ExitCode::FAILURE;
    };
    let dir = Path::new(dir);
    let summary = match summarize(dir) {
        Ok(summary) => summary,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "summarize: error: {}", chain(&err));
            return ExitCode::FAILURE;
        }
    };
    // Skipped as the original skips them (stdout unchanged), but named.
    let mut stderr = std::io::stderr().lock();
    for err in &summary.skipped {
        let _ = writeln!(stderr, "summarize: warning: skipped {}", chain(err));
    }
    for skipped in &summary.unreadable_dirs {
        let _ = writeln!(
            stderr,
            "summarize: warning: cannot list {}, skipped",
            skipped.display()
        );
    }
    let markdown = summary.markdown;
    if markdown.is_empty() {
        // stdout stays empty, as in the original; say why on stderr.
        let _ = writeln!(
            stderr,
            "summarize: warning: no benchmark records (agg *.json files) under {}",
            dir.display()
        );
    }
    drop(stderr);
    match servebench_cli::print(markdown.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "summarize: error: writing stdout: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_says_the_tool_is_outside_edition_2026_08() {
        assert_eq!(
            super::EDITION_NOTE,
            "not part of InferenceX edition 2026-08 (upstream removed utils/summarize.py); kept as a servebench tool"
        );
    }
}
