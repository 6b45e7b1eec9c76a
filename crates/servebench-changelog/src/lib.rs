//! InferenceX's perf changelog (edition 2026-08): from the entries a branch
//! adds to `perf-changelog.yaml` to the benchmark and eval matrix that
//! `process_changelog` prints for the `run-sweep` workflow.
//!
//! This crate owns what `utils/process_changelog.py` does: reading the
//! changelog additions from the git history (no deletions allowed), the
//! `ChangelogEntry` schema, resolving config keys (with `*` wildcards)
//! against the master configs, which `generate_sweep_configs test-config`
//! runs each entry needs (each config and scenario generated once, evals
//! apart), `--trim-conc`, recipe fingerprints, append-only entries (scope
//! checks against the base revision and the delta of generated points),
//! and the output model: rows validated and normalised as pydantic does,
//! written as `model_dump_json(by_alias=True, exclude_none=True)`.
//!
//! It does not own the matrix rows themselves: they come from a
//! [`MatrixSource`], in the binary the `generate_sweep_configs` executable
//! ([`GeneratorExe`]), so the master config schema and the generation rules
//! live in one place (`servebench-matrix`). Nor does it own the command
//! line, or the contract edition switch (`servebench-contract`).
//!
//! ```no_run
//! use servebench_changelog::{process, GeneratorExe, Git, Request};
//!
//! let request = Request::new("origin/main", "HEAD", "perf-changelog.yaml");
//! let generator = GeneratorExe::new("generate_sweep_configs", "");
//! let line = process(&request, &Git::new(""), "".as_ref(), &generator)?;
//! println!("{line}");
//! # Ok::<(), servebench_changelog::ChangelogError>(())
//! ```

#![warn(unreachable_pub)]

mod append_only;
mod configs;
mod entry;
mod error;
mod generator;
mod git;
mod lax;
mod output;
mod recipe;
mod trim;

pub use append_only::{append_only_delta, validate_append_only_scope};
pub use configs::{
    load_master_configs, master_config_paths, resolve_config_keys, GENERATE_SWEEPS_PY_SCRIPT,
    MASTER_CONFIGS, RUNNER_CONFIG,
};
pub use entry::{added_lines, parse_entries, ChangelogEntry, Scenario};
pub use error::ChangelogError;
pub use generator::{GeneratorExe, MatrixSource};
pub use git::Git;
pub use recipe::recipe_fingerprint;
pub use trim::trim_conc;

use output::Model;
use servebench_pyjson::{Dict, Value};
use std::path::{Path, PathBuf};

/// One run of `process_changelog`: its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    pub base_ref: String,
    pub head_ref: String,
    pub changelog_file: String,
    pub trim_conc: bool,
    pub all_evals: bool,
    pub evals_only: bool,
}

impl Request {
    /// The three required options; every flag off.
    pub fn new(base_ref: &str, head_ref: &str, changelog_file: &str) -> Self {
        Request {
            base_ref: base_ref.to_owned(),
            head_ref: head_ref.to_owned(),
            changelog_file: changelog_file.to_owned(),
            trim_conc: false,
            all_evals: false,
            evals_only: false,
        }
    }
}

/// The matrix for `request`, as one line of JSON (no newline). `root` is
/// the repository's work tree (empty: the current directory), where the
/// master configs are read and the generator runs.
pub fn process(
    request: &Request,
    git: &Git,
    root: &Path,
    source: &dyn MatrixSource,
) -> Result<String, ChangelogError> {
    git::check_ref("--base-ref", &request.base_ref)?;
    git::check_ref("--head-ref", &request.head_ref)?;
    let diff = git.diff(
        &request.base_ref,
        &request.head_ref,
        &request.changelog_file,
    )?;
    let entries = parse_entries(&added_lines(&diff, &request.changelog_file)?)?;
    let has_append_only = entries.iter().any(|e| e.append_only);
    if has_append_only && !entries.iter().all(|e| e.append_only) {
        return Err(ChangelogError::MixedAppendOnly);
    }
    if has_append_only && (request.all_evals || request.evals_only) {
        return Err(ChangelogError::AppendOnlyWithModifiers);
    }

    let master = load_master_configs(&master_config_paths(root))?;
    let mut resolved = Vec::with_capacity(entries.len());
    for entry in &entries {
        resolved.push((entry, resolve_config_keys(&entry.config_keys, &master)?));
    }

    let base = if has_append_only {
        Some(BaseInputs::extract(
            git,
            &request.base_ref,
            &master,
            &resolved,
        )?)
    } else {
        None
    };

    // all-evals entries first, so their broader eval matrix wins.
    resolved.sort_by_key(|(entry, _)| !entry.all_evals);

    let head_files: Vec<String> = MASTER_CONFIGS.iter().map(|s| (*s).to_owned()).collect();
    let mut benchmarks: Vec<Dict> = Vec::new();
    let mut evals: Vec<Dict> = Vec::new();
    let mut benchmark_seen = Seen::default();
    let mut eval_seen = Seen::default();
    for (entry, configs) in &resolved {
        let wanted = entry.scenarios();
        let suppress_throughput = request.evals_only || entry.evals_only || entry.all_evals;
        if !suppress_throughput {
            for (scenarios, group) in benchmark_seen.groups(configs, &wanted) {
                let args = |files: &[String], runner: &str| {
                    let mut args = test_config_args(&group, files);
                    args.extend([
                        "--runner-config".to_owned(),
                        runner.to_owned(),
                        "--no-evals".to_owned(),
                    ]);
                    if scenarios != Scenario::ALL {
                        args.push("--scenario-type".to_owned());
                        args.extend(scenarios.iter().map(|s| s.as_str().to_owned()));
                    }
                    args
                };
                let head_rows = source.generate(&args(&head_files, RUNNER_CONFIG))?;
                let rows = match (&base, entry.append_only) {
                    (Some(base), true) => {
                        let base_rows =
                            source.generate(&args(&base.config_files, &base.runner_config))?;
                        append_only_delta(&base_rows, &head_rows)?
                    }
                    _ => head_rows,
                };
                benchmarks.extend(rows);
            }
        }
        if entry.append_only {
            continue;
        }
        for (scenarios, group) in eval_seen.groups(configs, &wanted) {
            let mut args = test_config_args(&group, &head_files);
            args.push("--evals-only".to_owned());
            if request.all_evals || entry.all_evals {
                args.push("--all-evals".to_owned());
            }
            args.push("--scenario-type".to_owned());
            args.extend(scenarios.iter().map(|s| s.as_str().to_owned()));
            let rows = source.generate(&args)?;
            evals.extend(filter_by_prefill_ep(rows, entry.eval_min_prefill_ep));
        }
    }
    drop(base);

    if request.trim_conc {
        benchmarks = trim_conc(benchmarks)?;
    }
    output_line(request, &entries, benchmarks, evals)
}

fn test_config_args(configs: &[String], files: &[String]) -> Vec<String> {
    let mut args = vec!["test-config".to_owned(), "--config-keys".to_owned()];
    args.extend(configs.iter().cloned());
    args.push("--config-files".to_owned());
    args.extend(files.iter().cloned());
    args
}

/// Which scenarios of which configs have been generated already.
#[derive(Default)]
struct Seen(Vec<(String, Vec<Scenario>)>);

impl Seen {
    /// The configs of one entry grouped by the scenarios not yet generated
    /// for them (first-seen order), which are then marked generated.
    fn groups(
        &mut self,
        configs: &[String],
        wanted: &[Scenario],
    ) -> Vec<(Vec<Scenario>, Vec<String>)> {
        let mut groups: Vec<(Vec<Scenario>, Vec<String>)> = Vec::new();
        for config in configs {
            let index = match self.0.iter().position(|(c, _)| c == config) {
                Some(i) => i,
                None => {
                    self.0.push((config.clone(), Vec::new()));
                    self.0.len() - 1
                }
            };
            let Some((_, seen)) = self.0.get_mut(index) else {
                continue;
            };
            let unseen: Vec<Scenario> = Scenario::ALL
                .into_iter()
                .filter(|s| wanted.contains(s) && !seen.contains(s))
                .collect();
            if unseen.is_empty() {
                continue;
            }
            seen.extend(unseen.iter().copied());
            match groups.iter_mut().find(|(s, _)| *s == unseen) {
                Some((_, members)) => members.push(config.clone()),
                None => groups.push((unseen, vec![config.clone()])),
            }
        }
        groups
    }
}

/// Drops multi-node eval rows whose `prefill.ep` (default 1) is below
/// `min`, or is not an integer.
fn filter_by_prefill_ep(rows: Vec<Dict>, min: Option<i128>) -> Vec<Dict> {
    let Some(min) = min else { return rows };
    rows.into_iter()
        .filter(|row| match row.get("prefill") {
            Some(Value::Dict(prefill)) => {
                let ep = prefill.get("ep").cloned().unwrap_or(Value::Int(1));
                python_int(&ep).is_some_and(|ep| ep >= min)
            }
            _ => true,
        })
        .collect()
}

/// Python `int(v)`: `None` where it raises `TypeError`/`ValueError`.
fn python_int(v: &Value) -> Option<i128> {
    match v {
        Value::Str(s) => servebench_pyjson::parse_int(s),
        other => servebench_pyjson::int_of(other),
    }
}

/// The base revision's config and runner files, extracted for append-only
/// entries into a temporary directory (removed on drop).
struct BaseInputs {
    dir: PathBuf,
    config_files: Vec<String>,
    runner_config: String,
}

impl BaseInputs {
    fn extract(
        git: &Git,
        rev: &str,
        head_master: &Dict,
        resolved: &[(&ChangelogEntry, Vec<String>)],
    ) -> Result<BaseInputs, ChangelogError> {
        let mut wanted: Vec<&str> = vec!["utils/matrix_logic"];
        wanted.extend(MASTER_CONFIGS);
        wanted.push(RUNNER_CONFIG);
        let present = git.ls_tree(rev, &wanted)?;
        let mut required: Vec<&str> = MASTER_CONFIGS.to_vec();
        required.extend([RUNNER_CONFIG, GENERATE_SWEEPS_PY_SCRIPT]);
        let mut missing: Vec<String> = required
            .into_iter()
            .filter(|p| !present.iter().any(|q| q == p))
            .map(str::to_owned)
            .collect();
        if !missing.is_empty() {
            missing.sort();
            return Err(ChangelogError::BaseMissingInputs(missing));
        }

        let dir = temp_dir()?;
        let inputs = BaseInputs {
            config_files: MASTER_CONFIGS
                .iter()
                .map(|p| dir.join(p).to_string_lossy().into_owned())
                .collect(),
            runner_config: dir.join(RUNNER_CONFIG).to_string_lossy().into_owned(),
            dir,
        };
        for path in MASTER_CONFIGS.iter().chain([&RUNNER_CONFIG]) {
            let bytes = git.show(rev, path)?;
            let dest = inputs.dir.join(path);
            let io = |source| ChangelogError::TempDir {
                path: dest.clone(),
                source,
            };
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(&dest, bytes).map_err(io)?;
        }
        let files: Vec<PathBuf> = inputs.config_files.iter().map(PathBuf::from).collect();
        let base_master = load_master_configs(&files)?;

        let mut selected: Vec<(String, Vec<Scenario>)> = Vec::new();
        for (entry, configs) in resolved {
            for config in configs {
                let scenarios = entry.scenarios();
                match selected.iter_mut().find(|(c, _)| c == config) {
                    Some((_, s)) => s.extend(
                        scenarios
                            .into_iter()
                            .filter(|x| !s.contains(x))
                            .collect::<Vec<_>>(),
                    ),
                    None => selected.push((config.clone(), scenarios)),
                }
            }
        }
        let mut missing: Vec<String> = selected
            .iter()
            .filter(|(c, _)| !base_master.contains_key(c))
            .map(|(c, _)| c.clone())
            .collect();
        if !missing.is_empty() {
            missing.sort();
            return Err(ChangelogError::BaseMissingConfigs(missing));
        }
        validate_append_only_scope(&base_master, head_master, &selected)?;
        Ok(inputs)
    }
}

impl Drop for BaseInputs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new private directory under the system's temporary directory.
fn temp_dir() -> Result<PathBuf, ChangelogError> {
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut last_err = None;
    for attempt in 0..16u32 {
        let dir = base.join(format!(
            "inferencex-append-only-{}-{stamp}-{attempt}",
            std::process::id()
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => {
                return Err(ChangelogError::TempDir {
                    path: dir,
                    source: e,
                });
            }
        }
    }
    Err(ChangelogError::TempDir {
        path: base,
        source: last_err.unwrap_or_else(|| std::io::Error::other("no free name")),
    })
}

/// Buckets the rows, validates them with the output model and writes the
/// one-line document.
fn output_line(
    request: &Request,
    entries: &[ChangelogEntry],
    benchmarks: Vec<Dict>,
    evals: Vec<Dict>,
) -> Result<String, ChangelogError> {
    let invalid = |section: String, index: usize| {
        move |message| ChangelogError::InvalidRow {
            section,
            index,
            message,
        }
    };
    let mut single_node: Vec<(String, Vec<Value>)> = Vec::new();
    let mut multi_node: Vec<(String, Vec<Value>)> = Vec::new();
    for mut row in benchmarks {
        let fingerprint = recipe_fingerprint(&row);
        row.insert("recipe-fingerprint", Value::from(fingerprint));
        let multi = has_prefill(&row);
        let bucket = if is_agentic(&row) {
            "agentic".to_owned()
        } else {
            seq_len_name(row.get("isl"), row.get("osl"))
        };
        let (buckets, models) = if multi {
            (&mut multi_node, [Model::MultiNode, Model::MultiNodeAgentic])
        } else {
            (
                &mut single_node,
                [Model::SingleNode, Model::SingleNodeAgentic],
            )
        };
        let index = match buckets.iter().position(|(b, _)| *b == bucket) {
            Some(i) => i,
            None => {
                buckets.push((bucket.clone(), Vec::new()));
                buckets.len() - 1
            }
        };
        let Some((_, list)) = buckets.get_mut(index) else {
            continue;
        };
        let section = format!(
            "{}.{bucket}",
            if multi { "multi_node" } else { "single_node" }
        );
        // A union of two models with extra keys forbidden: at most one fits.
        let row = models[0]
            .validate(&row)
            .or_else(|first| {
                models[1]
                    .validate(&row)
                    .map_err(|second| format!("{first} / {second}"))
            })
            .map_err(invalid(section, list.len()))?;
        list.push(Value::Dict(row));
    }

    let mut sections: [(&str, Model, Vec<Value>); 4] = [
        ("evals", Model::SingleNode, Vec::new()),
        ("agentic_evals", Model::SingleNodeAgentic, Vec::new()),
        ("multinode_evals", Model::MultiNode, Vec::new()),
        (
            "multinode_agentic_evals",
            Model::MultiNodeAgentic,
            Vec::new(),
        ),
    ];
    for row in evals {
        let slot = usize::from(has_prefill(&row)) * 2 + usize::from(is_agentic(&row));
        if let Some((name, model, list)) = sections.get_mut(slot) {
            let row = model
                .validate(&row)
                .map_err(invalid((*name).to_owned(), list.len()))?;
            list.push(Value::Dict(row));
        }
    }

    let buckets = |b: Vec<(String, Vec<Value>)>| -> Value {
        Value::Dict(b.into_iter().map(|(k, v)| (k, Value::List(v))).collect())
    };
    let mut doc = Dict::new();
    doc.insert("single_node", buckets(single_node));
    doc.insert("multi_node", buckets(multi_node));
    for (name, _, list) in sections {
        doc.insert(name, Value::List(list));
    }
    let mut meta = Dict::new();
    meta.insert("base_ref", Value::from(request.base_ref.as_str()));
    meta.insert("head_ref", Value::from(request.head_ref.as_str()));
    meta.insert(
        "entries",
        Value::List(entries.iter().map(ChangelogEntry::to_value).collect()),
    );
    doc.insert("changelog_metadata", Value::Dict(meta));
    let mut line = String::new();
    output::write_json(&mut line, &Value::Dict(doc));
    Ok(line)
}

fn has_prefill(row: &Dict) -> bool {
    row.get("prefill").is_some_and(|p| *p != Value::Null)
}

fn is_agentic(row: &Dict) -> bool {
    row.get("scenario-type")
        .is_some_and(|s| servebench_pyjson::eq(s, &Value::from("agentic-coding")))
}

/// `seq_len_to_str`: `1k1k`, `8k1k`, else `"{isl}_{osl}"`.
fn seq_len_name(isl: Option<&Value>, osl: Option<&Value>) -> String {
    let null = Value::Null;
    let (isl, osl) = (isl.unwrap_or(&null), osl.unwrap_or(&null));
    let is = |v: &Value, n: i64| servebench_pyjson::eq(v, &Value::from(n));
    if is(isl, 1024) && is(osl, 1024) {
        "1k1k".to_owned()
    } else if is(isl, 8192) && is(osl, 1024) {
        "8k1k".to_owned()
    } else {
        format!(
            "{}_{}",
            servebench_pyjson::to_str(isl),
            servebench_pyjson::to_str(osl)
        )
    }
}
