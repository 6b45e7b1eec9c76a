//! Where the matrix rows come from: `generate_sweep_configs test-config`.

use crate::ChangelogError;
use servebench_pyjson::{Dict, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Something that answers `generate_sweep_configs ARGS` with its rows.
pub trait MatrixSource {
    /// The rows `generate_sweep_configs ARGS...` prints.
    fn generate(&self, args: &[String]) -> Result<Vec<Dict>, ChangelogError>;
}

/// Runs a `generate_sweep_configs` executable (no shell).
#[derive(Debug, Clone)]
pub struct GeneratorExe {
    program: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl GeneratorExe {
    /// `program`, run in `dir` (empty: the current directory).
    pub fn new(program: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Self {
        GeneratorExe {
            program: program.into(),
            dir: dir.into(),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every run (the contract edition).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The `generate_sweep_configs` beside `exe` (the running binary), or
    /// the one on PATH when there is none.
    pub fn locate(exe: Option<&Path>) -> PathBuf {
        let name = format!("generate_sweep_configs{}", std::env::consts::EXE_SUFFIX);
        exe.and_then(Path::parent)
            .map(|dir| dir.join(&name))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    }
}

impl MatrixSource for GeneratorExe {
    fn generate(&self, args: &[String]) -> Result<Vec<Dict>, ChangelogError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self.dir != Path::new("") {
            cmd.current_dir(&self.dir);
        }
        let out = cmd
            .output()
            .map_err(|source| ChangelogError::GeneratorSpawn {
                program: self.program.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(ChangelogError::GeneratorFailed {
                program: self.program.clone(),
                args: args.to_vec(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let bad = |message: String| ChangelogError::GeneratorOutput {
            program: self.program.clone(),
            message,
        };
        let text = String::from_utf8(out.stdout).map_err(|_| bad("stdout is not UTF-8".into()))?;
        rows_of(&text).map_err(bad)
    }
}

/// The rows of a generator's JSON output: a list of objects.
pub(crate) fn rows_of(text: &str) -> Result<Vec<Dict>, String> {
    match servebench_pyjson::from_str(text.trim()).map_err(|e| e.to_string())? {
        Value::List(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Dict(d) => Ok(d),
                other => Err(format!("a row is a {}, not an object", other.type_name())),
            })
            .collect(),
        other => Err(format!(
            "expected a list of rows, got {}",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_must_be_a_list_of_objects() {
        assert_eq!(rows_of("[]\n").map(|r| r.len()), Ok(0));
        assert_eq!(rows_of(r#"[{"a": 1}, {}]"#).map(|r| r.len()), Ok(2));
        assert!(rows_of("{}").is_err());
        assert!(rows_of("[1]").is_err());
        assert!(rows_of("not json").is_err());
    }

    #[test]
    fn the_generator_beside_the_binary_wins_over_path() {
        let dir =
            std::env::temp_dir().join(format!("servebench-changelog-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let me = dir.join("process_changelog");
        let name = format!("generate_sweep_configs{}", std::env::consts::EXE_SUFFIX);
        assert_eq!(GeneratorExe::locate(Some(&me)), PathBuf::from(&name));
        std::fs::write(dir.join(&name), "").unwrap();
        assert_eq!(GeneratorExe::locate(Some(&me)), dir.join(&name));
        assert_eq!(GeneratorExe::locate(None), PathBuf::from(&name));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_or_missing_generator_is_an_error() {
        let missing = GeneratorExe::new("/nonexistent/generate_sweep_configs", "");
        assert!(matches!(
            missing.generate(&[]),
            Err(ChangelogError::GeneratorSpawn { .. })
        ));
        if Path::new("/bin/sh").is_file() {
            let sh = GeneratorExe::new("/bin/sh", "");
            let err = sh
                .generate(&["-c".into(), "echo oops >&2; exit 1".into()])
                .unwrap_err();
            assert_eq!(err.generator_stderr(), Some("oops\n"));
            let rows = sh
                .generate(&["-c".into(), "echo '[{\"tp\": 8}]'".into()])
                .unwrap();
            assert_eq!(rows.len(), 1);
        }
    }
}
