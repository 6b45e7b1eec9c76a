//! The git history, read through the `git` command line (no shell).

use crate::ChangelogError;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `git` run in one work tree (the repository root).
#[derive(Debug, Clone)]
pub struct Git {
    program: PathBuf,
    dir: PathBuf,
}

impl Git {
    /// `git` from PATH, run in `dir` (empty: the current directory).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Git {
            program: PathBuf::from("git"),
            dir: dir.into(),
        }
    }

    fn output(&self, args: &[&str]) -> Result<Output, ChangelogError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.dir != Path::new("") {
            cmd.current_dir(&self.dir);
        }
        cmd.output().map_err(|source| ChangelogError::GitSpawn {
            args: args.join(" "),
            source,
        })
    }

    fn checked(&self, args: &[&str]) -> Result<Vec<u8>, ChangelogError> {
        let out = self.output(args)?;
        if !out.status.success() {
            return Err(ChangelogError::GitFailed {
                args: args.join(" "),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
            });
        }
        Ok(out.stdout)
    }

    /// stdout of `git diff BASE HEAD -- PATH` as Python's `text=True` reads
    /// it (universal newlines). Its exit status is not looked at: an
    /// unknown ref prints nothing, which reads as "no additions".
    pub fn diff(&self, base: &str, head: &str, path: &str) -> Result<String, ChangelogError> {
        let args = ["diff", base, head, "--", path];
        let out = self.output(&args)?;
        let text = String::from_utf8(out.stdout).map_err(|_| ChangelogError::GitNotUtf8 {
            args: args.join(" "),
        })?;
        Ok(universal_newlines(&text))
    }

    /// `git ls-tree -r --name-only REV -- PATHS...`: the files under PATHS.
    pub fn ls_tree(&self, rev: &str, paths: &[&str]) -> Result<Vec<String>, ChangelogError> {
        let mut args = vec!["ls-tree", "-r", "--name-only", rev, "--"];
        args.extend_from_slice(paths);
        let out = self.checked(&args)?;
        let text = String::from_utf8(out).map_err(|_| ChangelogError::GitNotUtf8 {
            args: args.join(" "),
        })?;
        Ok(universal_newlines(&text)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// The bytes of `git show REV:PATH`.
    pub fn show(&self, rev: &str, path: &str) -> Result<Vec<u8>, ChangelogError> {
        let spec = format!("{rev}:{path}");
        self.checked(&["show", &spec])
    }
}

/// Python's universal newlines: `\r\n` and a lone `\r` become `\n`.
fn universal_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A ref must not be read by git as an option.
pub(crate) fn check_ref(flag: &'static str, value: &str) -> Result<(), ChangelogError> {
    if value.starts_with('-') {
        return Err(ChangelogError::RefLooksLikeOption {
            flag,
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_are_read_as_python_text_mode_reads_them() {
        assert_eq!(universal_newlines("a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(universal_newlines("plain\n"), "plain\n");
    }

    #[test]
    fn refs_that_look_like_options_are_refused() {
        assert!(check_ref("--base-ref", "main").is_ok());
        let err = check_ref("--base-ref", "--output=x").unwrap_err();
        assert!(err.to_string().starts_with("--base-ref must not start"));
    }
}
