//! Where a sweep's numbers came from, beyond its options: when it ran,
//! which servebench, from which git revision, and the command line. The
//! report and `sweep.json` show it.

use std::path::Path;
use std::process::{Command, Stdio};

/// When, with what and how a sweep (or its report) was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Local time, `YYYY-mm-dd HH:MM:SS ±hh:mm`.
    pub date: String,
    /// servebench's version (`CARGO_PKG_VERSION` of this crate).
    pub version: String,
    /// `git rev-parse --short HEAD` in the sweep's root, with ` (modified)`
    /// when tracked files differ from it; `unknown` outside a checkout or
    /// without git.
    pub git_revision: String,
    /// The command as run (program and arguments); empty when not known.
    pub command_line: Vec<String>,
}

impl Provenance {
    /// The provenance of a sweep run now from `root` by `command_line`.
    pub fn collect(root: &Path, command_line: Vec<String>) -> Provenance {
        Provenance {
            date: chrono::Local::now()
                .format("%Y-%m-%d %H:%M:%S %:z")
                .to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_revision: git_revision(root),
            command_line,
        }
    }

    /// The command line as one shell-quoted line.
    pub fn command(&self) -> String {
        self.command_line
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs git in `dir`; its trimmed stdout when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The checkout's short revision, marked ` (modified)` when tracked files
/// changed; `unknown` when `dir` is not in a git checkout (or git is
/// missing).
pub(crate) fn git_revision(dir: &Path) -> String {
    match git(dir, &["rev-parse", "--short", "HEAD"]) {
        Some(rev) if !rev.is_empty() => {
            let modified = git(dir, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if modified {
                format!("{rev} (modified)")
            } else {
                rev
            }
        }
        _ => "unknown".to_owned(),
    }
}

/// `arg` as a POSIX shell word: bare when it only has safe characters,
/// else in single quotes.
fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_for_the_shell() {
        let p = Provenance {
            date: String::new(),
            version: String::new(),
            git_revision: String::new(),
            command_line: vec![
                "target/release/sweep".into(),
                "--server-cmd".into(),
                "vllm serve {model} --port {port}".into(),
                "it's".into(),
                String::new(),
            ],
        };
        assert_eq!(
            p.command(),
            r"target/release/sweep --server-cmd 'vllm serve {model} --port {port}' 'it'\''s' ''"
        );
    }

    #[test]
    fn revision_of_a_checkout_or_unknown() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let rev = git_revision(here);
        // This crate is built from a checkout, or from a copy without one.
        assert!(
            rev == "unknown"
                || rev
                    .chars()
                    .take_while(|c| *c != ' ')
                    .all(|c| c.is_ascii_hexdigit()),
            "{rev}"
        );
        let outside = std::env::temp_dir().join(format!("no-git-{}", std::process::id()));
        std::fs::create_dir_all(&outside).expect("temp dir");
        // The temp dir is not in a checkout (unless someone made it one).
        if git(&outside, &["rev-parse", "--show-toplevel"]).is_none() {
            assert_eq!(git_revision(&outside), "unknown");
        }
        assert_eq!(git_revision(&outside.join("missing")), "unknown");
        let _ = std::fs::remove_dir_all(&outside);
        let p = Provenance::collect(here, vec!["sweep".into()]);
        assert_eq!(p.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(p.command(), "sweep");
        assert_eq!(
            p.date.len(),
            "2026-01-02 03:04:05 +00:00".len(),
            "{}",
            p.date
        );
    }
}
