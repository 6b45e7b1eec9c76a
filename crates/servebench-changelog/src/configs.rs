//! The master configs as `load_config_files` merges them, and the config
//! keys a changelog entry names.

use crate::ChangelogError;
use servebench_pyjson::{Dict, Value};
use std::path::{Path, PathBuf};

/// The master config files, merged in this order (`MASTER_CONFIGS`).
pub const MASTER_CONFIGS: [&str; 2] = ["configs/amd-master.yaml", "configs/nvidia-master.yaml"];
/// The runner file.
pub const RUNNER_CONFIG: &str = "configs/runners.yaml";
/// The generator script whose presence in the base revision append-only
/// requires (`GENERATE_SWEEPS_PY_SCRIPT`; never executed).
pub const GENERATE_SWEEPS_PY_SCRIPT: &str = "utils/matrix_logic/generate_sweep_configs.py";

/// Loads and merges config files: each a YAML mapping, no `*` in a key, no
/// key in two files. The entries themselves are validated by the
/// generator, which every run of this tool starts before it prints.
pub fn load_master_configs(paths: &[PathBuf]) -> Result<Dict, ChangelogError> {
    let mut merged = Dict::new();
    for path in paths {
        let doc = servebench_yaml::load_file(path).map_err(ChangelogError::ConfigFile)?;
        let Value::Dict(doc) = doc else {
            return Err(ChangelogError::ConfigNotMapping {
                path: path.clone(),
                found: doc.type_name(),
            });
        };
        if let Some(key) = doc.keys().find(|k| k.contains('*')) {
            return Err(ChangelogError::WildcardKey {
                key: key.to_owned(),
            });
        }
        let mut duplicates: Vec<String> = doc
            .keys()
            .filter(|k| merged.contains_key(k))
            .map(str::to_owned)
            .collect();
        if !duplicates.is_empty() {
            duplicates.sort();
            return Err(ChangelogError::DuplicateKeys {
                path: path.clone(),
                keys: duplicates,
            });
        }
        for (k, v) in doc.iter() {
            merged.insert(k, v.clone());
        }
    }
    Ok(merged)
}

/// `MASTER_CONFIGS` under `root` (empty: the current directory).
pub fn master_config_paths(root: &Path) -> Vec<PathBuf> {
    MASTER_CONFIGS.iter().map(|p| root.join(p)).collect()
}

/// The config keys an entry names, resolved against the merged configs: a
/// key with `*` matches every key it fully matches (`*` = any run of
/// characters but a newline, as the original's `.*`), in config order; a
/// plain key must exist. Duplicates keep their first position.
pub fn resolve_config_keys(
    patterns: &[String],
    master: &Dict,
) -> Result<Vec<String>, ChangelogError> {
    let mut resolved: Vec<String> = Vec::new();
    let add = |key: &str, resolved: &mut Vec<String>| {
        if !resolved.iter().any(|k| k == key) {
            resolved.push(key.to_owned());
        }
    };
    for pattern in patterns {
        if pattern.contains('*') {
            let matched: Vec<&str> = master
                .keys()
                .filter(|k| wildcard_match(pattern, k))
                .collect();
            if matched.is_empty() {
                return Err(ChangelogError::NoWildcardMatch(pattern.clone()));
            }
            for key in matched {
                add(key, &mut resolved);
            }
        } else if master.contains_key(pattern) {
            add(pattern, &mut resolved);
        } else {
            return Err(ChangelogError::KeyNotFound(pattern.clone()));
        }
    }
    Ok(resolved)
}

/// Whether `text` fully matches `pattern`, where `*` is any run of
/// characters other than `\n` and every other character is literal.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // reachable[j]: the pattern prefix read so far matches t[..j].
    let mut reachable = vec![false; t.len() + 1];
    reachable[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            let mut open = false;
            for j in 0..=t.len() {
                if reachable[j] {
                    open = true;
                }
                if open {
                    next[j] = true;
                }
                if t.get(j) == Some(&'\n') {
                    open = false;
                }
            }
        } else {
            for j in 0..t.len() {
                if reachable[j] && t[j] == pc {
                    next[j + 1] = true;
                }
            }
        }
        reachable = next;
    }
    reachable[t.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(keys: &[&str]) -> Dict {
        keys.iter().map(|k| (*k, Value::Null)).collect()
    }

    fn keys(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn wildcards_match_whole_keys_with_literal_punctuation() {
        assert!(wildcard_match("dsr1-*-sglang", "dsr1-fp8-b200-sglang"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
        assert!(!wildcard_match("dsr1-*", "xdsr1-a"));
        assert!(!wildcard_match("a.*", "abc"));
        assert!(wildcard_match("a.*", "a.c"));
        assert!(!wildcard_match("a?*", "ab"));
        assert!(!wildcard_match("a*", "a\nb"));
        assert!(!wildcard_match("a*c", "abcd"));
    }

    #[test]
    fn keys_resolve_in_order_without_duplicates() {
        let m = master(&["b-1", "a-1", "a-2", "c"]);
        assert_eq!(
            resolve_config_keys(&keys(&["a-2", "a-*", "c", "a-1"]), &m).unwrap(),
            keys(&["a-2", "a-1", "c"])
        );
        assert!(matches!(
            resolve_config_keys(&keys(&["z-*"]), &m),
            Err(ChangelogError::NoWildcardMatch(p)) if p == "z-*"
        ));
        assert!(matches!(
            resolve_config_keys(&keys(&["a"]), &m),
            Err(ChangelogError::KeyNotFound(k)) if k == "a"
        ));
    }

    #[test]
    fn config_files_merge_and_refuse_bad_shapes() {
        let dir =
            std::env::temp_dir().join(format!("servebench-changelog-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let a = write("a.yaml", "k1: {x: 1}\nk2: {}\n");
        let b = write("b.yaml", "k3: 1\n");
        let m = load_master_configs(&[a.clone(), b]).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["k1", "k2", "k3"]);
        let dup = write("dup.yaml", "k2: 1\nk1: 2\n");
        let err = load_master_configs(&[a.clone(), dup])
            .unwrap_err()
            .to_string();
        assert!(err.ends_with(": k1, k2"), "{err}");
        let star = write("star.yaml", "'a*': 1\n");
        assert!(matches!(
            load_master_configs(&[star]),
            Err(ChangelogError::WildcardKey { .. })
        ));
        let list = write("list.yaml", "- 1\n");
        assert!(matches!(
            load_master_configs(&[list]),
            Err(ChangelogError::ConfigNotMapping { found: "list", .. })
        ));
        let empty = write("empty.yaml", "");
        assert!(matches!(
            load_master_configs(&[empty]),
            Err(ChangelogError::ConfigNotMapping {
                found: "NoneType",
                ..
            })
        ));
        let err = load_master_configs(&[dir.join("missing.yaml")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Input file '") && err.ends_with("' does not exist."),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
