//! What every servebench binary shares at its edge: the one-line message an
//! error becomes on stderr, and writing a result to stdout when the reader
//! may have gone away.
//!
//! This crate owns only that. It parses no arguments; each binary keeps its
//! own prefix (`collect_results: error: …`) and exit status.
//!
//! ```
//! let inner = std::io::Error::other("disk full");
//! let outer = std::io::Error::new(std::io::ErrorKind::Other, inner);
//! assert_eq!(servebench_cli::error_chain(&outer), "disk full");
//! ```
#![warn(unreachable_pub)]

use std::error::Error;
use std::io::Write;

/// Writes `bytes` to stdout and flushes. A reader that closed the pipe
/// (`generate_sweep_configs … | head`) is not an error: the output is simply
/// not wanted any more, so this returns `Ok` and the tool ends quietly with
/// its usual status. Other write errors are returned.
pub fn print(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `err`, then each cause whose text the message does not already contain,
/// as `: cause`. The libraries' messages usually include their causes
/// already; this adds only what would otherwise be lost, and never repeats.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn causes_are_appended_once() {
        let e = Layer(
            "reading x.json",
            Some(Box::new(Layer("permission denied", None))),
        );
        assert_eq!(error_chain(&e), "reading x.json: permission denied");
        let e = Layer(
            "x.json: permission denied",
            Some(Box::new(Layer(
                "permission denied",
                Some(Box::new(Layer("os error 13", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "x.json: permission denied: os error 13");
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}
