//! The typed model of master configs and `runners.yaml`, and their loading.

use crate::validate::check_master_entry;
use crate::MatrixError;
use servebench_pyjson::{Dict, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// All master-config entries, merged in file order then key order.
#[derive(Debug, Clone, Default)]
pub struct MasterConfigs {
    pub entries: Vec<ConfigEntry>,
}

impl MasterConfigs {
    pub fn get(&self, key: &str) -> Option<&ConfigEntry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// One validated master-config entry.
///
/// Numbers and booleans stay the YAML values they were written as: the
/// original copies them into the matrix unchanged (`tp: 8.0` stays `8.0`),
/// so the generator computes on them with Python semantics (`servebench-pyjson`'s operators).
/// Fields are read under their hyphenated keys only, as the generator reads
/// them, even where validation also accepted the Python spelling
/// (`conc_start`): an optional field spelled that way is therefore absent,
/// exactly as in the original.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub key: String,
    /// The file the entry came from, for error messages.
    pub source: PathBuf,
    pub image: String,
    pub model: String,
    pub model_prefix: String,
    pub precision: String,
    pub framework: String,
    pub runner: String,
    /// `multinode` by truthiness; decides which schema applied.
    pub multinode: bool,
    /// `disagg`, default `false`.
    pub disagg: Value,
    pub seq_len_configs: Vec<SeqLenConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeqLenConfig {
    pub isl: Value,
    pub osl: Value,
    pub search_space: Vec<SearchSpace>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SearchSpace {
    SingleNode(SingleNodeSearch),
    MultiNode(MultiNodeSearch),
}

impl SearchSpace {
    pub fn conc(&self) -> &ConcSpec {
        match self {
            SearchSpace::SingleNode(s) => &s.conc,
            SearchSpace::MultiNode(m) => &m.conc,
        }
    }

    pub fn spec_decoding(&self) -> &Value {
        match self {
            SearchSpace::SingleNode(s) => &s.spec_decoding,
            SearchSpace::MultiNode(m) => &m.spec_decoding,
        }
    }
}

/// A single-node search-space entry (one server, `tp` GPUs).
#[derive(Debug, Clone, PartialEq)]
pub struct SingleNodeSearch {
    pub tp: Value,
    /// `None` when absent or null (the generator defaults it to 1).
    pub ep: Option<Value>,
    /// `None` when absent or null (the generator defaults it to false).
    pub dp_attn: Option<Value>,
    /// `"none"` when absent.
    pub spec_decoding: Value,
    pub conc: ConcSpec,
}

/// A multi-node disaggregated entry: prefill and decode worker pools.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiNodeSearch {
    /// `"none"` when absent.
    pub spec_decoding: Value,
    /// The worker blocks as written (the matrix copies them verbatim).
    pub prefill: Dict,
    pub decode: Dict,
    pub conc: ConcSpec,
}

/// The concurrency fields. `None` = key absent; `Some(Value::Null)` =
/// written as null. The generators tell these apart, as the original does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConcSpec {
    pub start: Option<Value>,
    pub end: Option<Value>,
    pub list: Option<Value>,
}

impl ConfigEntry {
    /// Builds the typed view of an entry that passed validation.
    fn from_validated(key: &str, source: &Path, raw: &Dict) -> Result<Self, MatrixError> {
        let missing = |field: &str| {
            MatrixError::Generation {
            path: source.to_owned(),
            key: key.to_owned(),
            message: format!(
                "field '{field}' is spelled with underscores; validation accepts that but the \
                 generator (like the Python original, which fails with KeyError) reads only '{field}'"
            ),
        }
        };
        let text = |field: &str| {
            raw.get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| missing(field))
        };
        let multinode = raw.get("multinode").is_some_and(Value::is_truthy);
        let mut seq_len_configs = Vec::new();
        for seq in raw
            .get("seq-len-configs")
            .ok_or_else(|| missing("seq-len-configs"))?
            .as_list()
            .unwrap_or_default()
        {
            let seq = seq.as_dict().cloned().unwrap_or_default();
            let mut search_space = Vec::new();
            for bmk in seq
                .get("search-space")
                .ok_or_else(|| missing("search-space"))?
                .as_list()
                .unwrap_or_default()
            {
                let bmk = bmk.as_dict().cloned().unwrap_or_default();
                let conc = ConcSpec {
                    start: bmk.get("conc-start").cloned(),
                    end: bmk.get("conc-end").cloned(),
                    list: bmk.get("conc-list").cloned(),
                };
                let spec_decoding = bmk
                    .get("spec-decoding")
                    .cloned()
                    .unwrap_or_else(|| Value::from("none"));
                let present = |field: &str| {
                    bmk.get(field)
                        .filter(|v| !matches!(v, Value::Null))
                        .cloned()
                };
                search_space.push(if multinode {
                    let block = |field: &str| {
                        bmk.get(field)
                            .and_then(Value::as_dict)
                            .cloned()
                            .ok_or_else(|| missing(field))
                    };
                    SearchSpace::MultiNode(MultiNodeSearch {
                        spec_decoding,
                        prefill: block("prefill")?,
                        decode: block("decode")?,
                        conc,
                    })
                } else {
                    SearchSpace::SingleNode(SingleNodeSearch {
                        tp: bmk.get("tp").cloned().ok_or_else(|| missing("tp"))?,
                        ep: present("ep"),
                        dp_attn: present("dp-attn"),
                        spec_decoding,
                        conc,
                    })
                });
            }
            seq_len_configs.push(SeqLenConfig {
                isl: seq.get("isl").cloned().ok_or_else(|| missing("isl"))?,
                osl: seq.get("osl").cloned().ok_or_else(|| missing("osl"))?,
                search_space,
            });
        }
        Ok(ConfigEntry {
            key: key.to_owned(),
            source: source.to_owned(),
            image: text("image")?,
            model: text("model")?,
            model_prefix: text("model-prefix")?,
            precision: text("precision")?,
            framework: text("framework")?,
            runner: text("runner")?,
            multinode,
            disagg: raw.get("disagg").cloned().unwrap_or(Value::Bool(false)),
            seq_len_configs,
        })
    }
}

/// `runners.yaml`: runner type → node names, in file order.
#[derive(Debug, Clone, Default)]
pub struct RunnerConfig {
    pub path: PathBuf,
    pub runners: Vec<(String, Vec<String>)>,
}

impl RunnerConfig {
    pub fn nodes(&self, runner_type: &str) -> Option<&[String]> {
        self.runners
            .iter()
            .find(|(t, _)| t == runner_type)
            .map(|(_, nodes)| nodes.as_slice())
    }

    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.runners.iter().map(|(t, _)| t.as_str())
    }
}

/// `load_config_files`: loads every file in order, then merges them: each
/// must be a mapping without `*` in its keys and without keys an earlier
/// file defined; then every entry is validated in merged order (the first
/// invalid entry is the error).
pub fn load_master_configs(paths: &[PathBuf]) -> Result<MasterConfigs, MatrixError> {
    let mut docs = Vec::with_capacity(paths.len());
    for path in paths {
        let doc = load_yaml(path, || MatrixError::ConfigFileMissing(path.clone()))?;
        docs.push((path.clone(), doc));
    }
    merge_master_documents(docs)
}

/// Merges parsed master-config documents as `load_config_files` does:
/// each must be a mapping without `*` in its keys and without keys an
/// earlier document defined; then every entry is validated in merged order
/// (the first invalid entry is the error).
pub(crate) fn merge_master_documents(
    docs: Vec<(PathBuf, Value)>,
) -> Result<MasterConfigs, MatrixError> {
    let merged = merge_documents(docs)?;
    for (key, path, value) in &merged {
        let issues = check_master_entry(value);
        if !issues.is_empty() {
            return Err(MatrixError::InvalidEntry {
                path: path.clone(),
                key: key.clone(),
                issues,
            });
        }
    }
    let entries = merged
        .iter()
        .map(|(key, path, value)| {
            ConfigEntry::from_validated(key, path, value.as_dict().unwrap_or(&Dict::new()))
        })
        .collect::<Result<_, _>>()?;
    Ok(MasterConfigs { entries })
}

/// The merge both editions share, before validation: each document must be
/// a mapping without `*` in its keys and without keys an earlier document
/// defined. Returns `(key, file, value)` in merged order.
pub(crate) fn merge_documents(
    docs: Vec<(PathBuf, Value)>,
) -> Result<Vec<(String, PathBuf, Value)>, MatrixError> {
    // (key, file, value) in merged order.
    let mut merged: Vec<(String, PathBuf, Value)> = Vec::new();
    // The keys in `merged`, so the duplicate check is one lookup per key
    // rather than a scan of every earlier document's keys.
    let mut seen: HashSet<String> = HashSet::new();
    for (path, doc) in docs {
        let Value::Dict(doc) = doc else {
            return Err(MatrixError::ConfigNotMapping {
                path,
                found: doc.type_name(),
            });
        };
        if let Some(key) = doc.keys().find(|k| k.contains('*')) {
            return Err(MatrixError::WildcardKey {
                path,
                key: key.to_owned(),
            });
        }
        let mut duplicates: Vec<String> = doc
            .keys()
            .filter(|k| seen.contains(*k))
            .map(str::to_owned)
            .collect();
        if !duplicates.is_empty() {
            duplicates.sort();
            return Err(MatrixError::DuplicateKeys {
                path,
                keys: duplicates,
            });
        }
        for (key, value) in doc.iter() {
            seen.insert(key.to_owned());
            merged.push((key.to_owned(), path.clone(), value.clone()));
        }
    }
    Ok(merged)
}

/// `load_runner_file`: each value must be a list, of strings, non-empty
/// (checked in that order, per key in file order).
pub fn load_runner_config(path: &Path) -> Result<RunnerConfig, MatrixError> {
    let doc = load_yaml(path, || MatrixError::RunnerFileMissing(path.to_owned()))?;
    RunnerConfig::from_document(path, doc)
}

/// [`servebench_yaml::load_file`]; `missing` words a file that does not
/// exist, because the original words that differently for master configs
/// and runner configs.
pub(crate) fn load_yaml(
    path: &Path,
    missing: impl FnOnce() -> MatrixError,
) -> Result<Value, MatrixError> {
    servebench_yaml::load_file(path).map_err(|err| match err {
        servebench_yaml::YamlError::NotFound(_) => missing(),
        err => MatrixError::Yaml(err),
    })
}

impl RunnerConfig {
    /// Validates a parsed runner config (see [`load_runner_config`]).
    pub fn from_document(path: &Path, doc: Value) -> Result<RunnerConfig, MatrixError> {
        let invalid = |message: String| MatrixError::InvalidRunnerConfig {
            path: path.to_owned(),
            message,
        };
        let Value::Dict(doc) = doc else {
            return Err(invalid(format!(
                "the runner config must be a mapping of runner type to node names, got {}",
                doc.type_name()
            )));
        };
        let mut runners = Vec::new();
        for (key, value) in doc.iter() {
            let Value::List(items) = value else {
                return Err(invalid(format!(
                    "Runner config entry '{key}' must be a list, got {}",
                    value.type_name()
                )));
            };
            let nodes: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            let Some(nodes) = nodes else {
                return Err(invalid(format!(
                    "Runner config entry '{key}' must contain only strings"
                )));
            };
            if nodes.is_empty() {
                return Err(invalid(format!(
                    "Runner config entry '{key}' cannot be an empty list"
                )));
            }
            runners.push((key.to_owned(), nodes));
        }
        Ok(RunnerConfig {
            path: path.to_owned(),
            runners,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(keys: &[&str]) -> Value {
        Value::Dict(keys.iter().map(|k| (*k, Value::Null)).collect())
    }

    #[test]
    fn a_key_an_earlier_document_defined_is_reported_sorted() {
        let docs = vec![
            (PathBuf::from("one.yaml"), doc(&["b", "a", "c"])),
            (PathBuf::from("two.yaml"), doc(&["x", "c", "a"])),
        ];
        match merge_master_documents(docs) {
            Err(MatrixError::DuplicateKeys { path, keys }) => {
                assert_eq!(path, PathBuf::from("two.yaml"));
                assert_eq!(keys, ["a", "c"]);
            }
            other => panic!("expected DuplicateKeys, got {other:?}"),
        }
    }
}
