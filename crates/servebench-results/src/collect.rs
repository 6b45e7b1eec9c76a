//! `collect_results` and the directory walk `summarize` shares with it.

use crate::io::read_json;
use crate::ResultsError;
use servebench_pyjson::Value;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// What a walk found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Walk {
    /// Every path whose name ends in `.json`, in deterministic order.
    pub json_paths: Vec<PathBuf>,
    /// Directories that could not be listed (the original skips them too).
    pub unreadable_dirs: Vec<PathBuf>,
}

/// `Path(dir).rglob('*.json')`, sorted: a directory's own matches by name,
/// then each sub-directory by name, depth first. Names starting with `.`
/// match; matching is case-sensitive; symlinked directories are listed
/// (a symlink named `x.json` matches) but not descended into. A missing
/// directory yields nothing, as in Python.
pub(crate) fn find_json_files(dir: &Path) -> Walk {
    let mut walk = Walk::default();
    visit(dir, &mut walk);
    walk
}

fn visit(dir: &Path, walk: &mut Walk) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            if err.kind() != std::io::ErrorKind::NotFound {
                walk.unreadable_dirs.push(dir.to_owned());
            }
            return;
        }
    };
    let mut entries: Vec<(std::ffi::OsString, PathBuf, bool)> = entries
        .flatten()
        .map(|e| {
            let is_real_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (e.file_name(), e.path(), is_real_dir)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, path, _) in &entries {
        if name.as_encoded_bytes().ends_with(b".json") {
            walk.json_paths.push(path.clone());
        }
    }
    for (_, path, is_dir) in &entries {
        if *is_dir {
            visit(path, walk);
        }
    }
}

/// Parses every `*.json` under `dir` into a list, in the order of
/// `Path(dir).rglob('*.json')`, sorted: a directory's own matches by name,
/// then each sub-directory by name, depth first (symlinked directories are
/// listed, not descended into).
/// Any unreadable or invalid file is an error: the original writes nothing
/// then either. That includes a FIFO, a device (a symlink to `/dev/zero`) or
/// a directory named `*.json`, and a file over
/// [`servebench_files::Limit::RESULT`]: refused at once, naming the file,
/// where the original blocks on the FIFO or runs out of memory.
pub fn collect_results(dir: &Path) -> Result<(Vec<Value>, Walk), ResultsError> {
    let walk = find_json_files(dir);
    let values = walk
        .json_paths
        .iter()
        .map(|p| read_json(p))
        .collect::<Result<_, _>>()?;
    Ok((values, walk))
}

/// `agg_{exp_name}.json`, keeping the bytes of a name that is not UTF-8
/// (Python's `sys.argv` and `open` round-trip them too).
pub fn collect_file_name(exp_name: &OsStr) -> PathBuf {
    let mut name = OsString::from("agg_");
    name.push(exp_name);
    name.push(".json");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("servebench-collect-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn walks_in_sorted_pre_order() {
        let d = scratch("order");
        for (p, body) in [
            ("b/agg_b.json", "2"),
            ("a/deeper/agg_c.json", "3"),
            ("a/agg_a.json", "1"),
            ("z.json", "0"),
            (".hidden.json", "{}"),
            ("notes.txt", "x"),
            ("A.JSON", "x"),
        ] {
            let path = d.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let (values, walk) = collect_results(&d).unwrap();
        let names: Vec<String> = walk
            .json_paths
            .iter()
            .map(|p| p.strip_prefix(&d).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                ".hidden.json",
                "z.json",
                "a/agg_a.json",
                "a/deeper/agg_c.json",
                "b/agg_b.json"
            ]
        );
        assert_eq!(
            servebench_pyjson::to_string(&Value::List(values)),
            "[{}, 0, 1, 3, 2]"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_dir_is_empty_and_bad_files_fail() {
        let d = scratch("bad");
        assert!(collect_results(&d.join("nope")).unwrap().0.is_empty());
        std::fs::create_dir_all(d.join("x.json")).unwrap();
        assert!(
            collect_results(&d).is_err(),
            "a directory named x.json cannot be read"
        );
        std::fs::remove_dir_all(d.join("x.json")).unwrap();
        std::fs::write(d.join("broken.json"), "{").unwrap();
        let err = collect_results(&d).unwrap_err().to_string();
        assert!(err.contains("broken.json: invalid JSON"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
