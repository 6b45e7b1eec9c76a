//! The success table of a sweep run by hardware bucket, as InferenceX's
//! `utils/calc_success_rate.py` (contract edition 2026-08) computes it:
//! the hardware buckets from the runners file's `cluster:` labels
//! ([`hardware_labels`]), a job's bucket from its name ([`Matcher`]), the
//! count of successful and of finished (not skipped) jobs per bucket
//! ([`tally`]), and the printed table and JSON file ([`table`],
//! [`to_json`]). [`calculate`] drives the GitHub Actions API
//! ([`GitHub`]) through the same requests and messages as the original.
//!
//! A crate of its own rather than a module of `servebench-results`: it is
//! the workspace's only GitHub API client, and its blocking HTTPS stack
//! (ureq, already built for the prompts crate's Hub downloads) is kept out
//! of the result tools, which read local files only.
//!
//! ```
//! use servebench_successrate::{hardware_labels, tally, Matcher};
//!
//! let runners = servebench_yaml::parse("labels:\n  cluster:b200: [a]\n  cluster:mi355x: [b]\n  h100: [c]\n")?;
//! let labels = hardware_labels(&runners)?;
//! assert_eq!(labels, ["b200", "mi355x"]);
//! let matcher = Matcher::new(&labels);
//! assert_eq!(matcher.extract("bmk (B200-nv, 1k1k)"), Some("b200"));
//! let rates = tally(&matcher, [("bmk b200", Some("success")), ("bmk mi355x", Some("skipped"))]);
//! assert_eq!((rates.entries[0].n_success, rates.entries[0].total), (1, 1));
//! assert_eq!(rates.entries[1].total, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(unreachable_pub)]

mod github;

pub use github::{
    ApiError, GitHub, GitHubOptions, Job, Repo, Run, DEFAULT_API_URL, MAX_BODY_BYTES, MAX_PAGES,
};

use servebench_pyjson::{Dict, Value};
use std::path::Path;

/// The prefix of the runners file's hardware labels.
pub const CLUSTER_LABEL_PREFIX: &str = "cluster:";

/// Why the success table could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuccessRateError {
    /// The runners file could not be read or parsed.
    #[error(transparent)]
    Runners(#[from] servebench_yaml::YamlError),

    /// The runners file is YAML but not the mapping the original expects
    /// (where Python fails with an `AttributeError`).
    #[error("runners file: {0}")]
    RunnersShape(String),

    /// `GITHUB_RUN_ID` or `GITHUB_REPOSITORY` is missing or unusable. The
    /// message is the one Python's exception carries.
    #[error("{0}")]
    Settings(String),

    /// A GitHub API request failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The hardware buckets: the `cluster:` keys of the runners file's `labels`
/// mapping (or of the whole file when it has no `labels`), without the
/// prefix; when there are none, the keys of its `hardware` mapping. Sorted
/// and without repeats, as the keys of the original's result dict.
pub fn hardware_labels(runners: &Value) -> Result<Vec<String>, SuccessRateError> {
    let shape = |what: &str| SuccessRateError::RunnersShape(what.to_owned());
    let doc = runners
        .as_dict()
        .ok_or_else(|| shape("the file is not a mapping"))?;
    let labels = match doc.get("labels") {
        Some(v) => v
            .as_dict()
            .ok_or_else(|| shape("`labels` is not a mapping"))?,
        None => doc,
    };
    let mut keys: Vec<&str> = labels
        .keys()
        .filter(|k| k.starts_with(CLUSTER_LABEL_PREFIX))
        .collect();
    if keys.is_empty() {
        keys = match doc.get("hardware") {
            Some(v) => v
                .as_dict()
                .ok_or_else(|| shape("`hardware` is not a mapping"))?
                .keys()
                .collect(),
            None => Vec::new(),
        };
    }
    let mut out: Vec<String> = keys
        .into_iter()
        .map(|k| normalize_hardware_label(k).to_owned())
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// [`hardware_labels`] of the YAML file at `path`.
pub fn load_hardware_labels(path: &Path) -> Result<Vec<String>, SuccessRateError> {
    hardware_labels(&servebench_yaml::load_file(path)?)
}

/// `cluster:b200` → `b200`; any other label as it is.
pub fn normalize_hardware_label(label: &str) -> &str {
    label.strip_prefix(CLUSTER_LABEL_PREFIX).unwrap_or(label)
}

/// Finds a job's hardware bucket in its name.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Each bucket with the two spellings searched for: `b200` and
    /// `cluster:b200`.
    patterns: Vec<(String, [String; 2])>,
}

impl Matcher {
    /// `labels` in the order they are tried (the original's: sorted).
    pub fn new(labels: &[String]) -> Self {
        let patterns = labels
            .iter()
            .map(|l| (l.clone(), [l.clone(), format!("{CLUSTER_LABEL_PREFIX}{l}")]))
            .collect();
        Matcher { patterns }
    }

    /// The first bucket (in label order) whose name occurs in the lowercased
    /// job name with neither an ASCII lowercase letter nor a digit right
    /// before or after it: `b200` is found in `bmk_b200-nv_1k` but not in
    /// `gb200`, `mi300` not in `mi300x`. Labels are not lowercased, so one
    /// with capitals never matches, as in the original.
    pub fn extract(&self, job_name: &str) -> Option<&str> {
        let lower = job_name.to_lowercase();
        self.patterns
            .iter()
            .find(|(_, pats)| pats.iter().any(|p| occurs_bounded(&lower, p)))
            .map(|(label, _)| label.as_str())
    }
}

/// Whether `needle` occurs in `hay` at some position (overlapping ones
/// included, as a regex search tries every start) with no `[a-z0-9]` next
/// to it: `(?<![a-z0-9])NEEDLE(?![a-z0-9])`.
fn occurs_bounded(hay: &str, needle: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    hay.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(hay.len()))
        .any(|i| {
            hay[i..].starts_with(needle)
                && !alnum(hay[..i].chars().next_back())
                && !alnum(hay[i + needle.len()..].chars().next())
        })
}

/// One bucket's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareStats {
    pub hardware: String,
    /// Jobs that concluded `success`.
    pub n_success: u64,
    /// Jobs that were not skipped (successful, failed, cancelled, still
    /// running, ...).
    pub total: u64,
}

/// Every bucket's counts, in label order (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    pub entries: Vec<HardwareStats>,
}

/// Counts `jobs` (name, conclusion) by bucket. A job in no bucket, or in
/// the bucket named by the empty string (false in Python), is left out; so
/// is a skipped one.
pub fn tally<'a>(
    matcher: &Matcher,
    jobs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Rates {
    let mut entries: Vec<HardwareStats> = matcher
        .patterns
        .iter()
        .map(|(label, _)| HardwareStats {
            hardware: label.clone(),
            n_success: 0,
            total: 0,
        })
        .collect();
    for (name, conclusion) in jobs {
        let Some(hardware) = matcher.extract(name).filter(|h| !h.is_empty()) else {
            continue;
        };
        if conclusion == Some("skipped") {
            continue;
        }
        if let Some(e) = entries.iter_mut().find(|e| e.hardware == hardware) {
            e.total += 1;
            if conclusion == Some("success") {
                e.n_success += 1;
            }
        }
    }
    Rates { entries }
}

/// The table the original prints (`print_success_rates`), lines ending in
/// `\n`; `None` (authentication failed) is `No data to display`. Buckets
/// without jobs are not shown.
pub fn table(rates: Option<&Rates>) -> String {
    let Some(rates) = rates else {
        return "No data to display\n".to_owned();
    };
    let rule = "=".repeat(60);
    let mut out = format!(
        "\n{rule}\nHardware Success Rates\n{rule}\n{:<20} {:<10} {:<10} {:<10}\n{}\n",
        "Hardware",
        "Success",
        "Total",
        "Rate",
        "-".repeat(60)
    );
    let mut entries: Vec<&HardwareStats> = rates.entries.iter().collect();
    entries.sort_by(|a, b| a.hardware.cmp(&b.hardware));
    for e in entries.into_iter().filter(|e| e.total > 0) {
        let rate = (e.n_success as f64 / e.total as f64) * 100.0;
        out.push_str(&format!(
            "{:<20} {:<10} {:<10} {:<10}%\n",
            e.hardware,
            e.n_success,
            e.total,
            servebench_pyjson::fixed(rate, 2)
        ));
    }
    out.push_str(&rule);
    out.push('\n');
    out
}

/// The stats file: `json.dump(run_stats, f, indent=2)` (no final newline);
/// `null` when authentication failed.
pub fn to_json(rates: Option<&Rates>) -> String {
    let value = match rates {
        None => Value::Null,
        Some(rates) => {
            let mut dict = Dict::new();
            for e in &rates.entries {
                let mut stats = Dict::new();
                stats.insert("n_success", Value::Int(i128::from(e.n_success)));
                stats.insert("total", Value::Int(i128::from(e.total)));
                dict.insert(e.hardware.clone(), Value::Dict(stats));
            }
            Value::Dict(dict)
        }
    };
    servebench_pyjson::to_string_indent2(&value)
}

/// What [`calculate`] needs from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `GITHUB_REPOSITORY` (`OWNER/NAME`).
    pub repository: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
}

/// The original's `calculate_hardware_success_rates`: `GET /user`, the
/// repository, the run, then every job of every attempt
/// (`filter=all`, following `Link: rel="next"`). `log` receives the lines
/// the original prints meanwhile (`Authenticated as user: …`,
/// `Found repo: …`, `Found run: … - …`, `Error: …`).
///
/// `Ok(None)` when `GET /user` failed: the original prints
/// `Authentication failed: …` and carries on with no data. A failure
/// finding the repository or the run is logged as `Error: …` and returned;
/// one while listing jobs is returned only.
pub fn calculate(
    api: &GitHub,
    settings: &Settings,
    labels: &[String],
    log: &mut dyn FnMut(&str),
) -> Result<Option<Rates>, SuccessRateError> {
    match api.user_login() {
        Ok(login) => log(&format!(
            "Authenticated as user: {}",
            servebench_pyjson::to_str(&login)
        )),
        Err(e) => {
            log(&format!("Authentication failed: {e}"));
            return Ok(None);
        }
    }
    let found = (|| -> Result<Run, SuccessRateError> {
        let repository = settings
            .repository
            .as_deref()
            .ok_or_else(|| SuccessRateError::Settings("None".to_owned()))?;
        let repo = api.repo(repository)?;
        log(&format!(
            "Found repo: {}",
            servebench_pyjson::to_str(&repo.full_name)
        ));
        let id = parse_run_id(settings.run_id.as_deref())?;
        let run = api.run(&repo, id)?;
        log(&format!(
            "Found run: {} - {}",
            servebench_pyjson::to_str(&run.id),
            servebench_pyjson::to_str(&run.name)
        ));
        Ok(run)
    })();
    let run = match found {
        Ok(run) => run,
        Err(e) => {
            log(&format!("Error: {e}"));
            return Err(e);
        }
    };
    let matcher = Matcher::new(labels);
    let jobs = api.jobs(&run, "all")?;
    Ok(Some(tally(
        &matcher,
        jobs.iter()
            .map(|j| (j.name.as_str(), j.conclusion.as_deref())),
    )))
}

/// `int(RUN_ID)` with Python's messages. Only a positive id is usable in a
/// URL.
fn parse_run_id(run_id: Option<&str>) -> Result<u64, SuccessRateError> {
    let Some(text) = run_id else {
        return Err(SuccessRateError::Settings(
            "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'"
                .to_owned(),
        ));
    };
    let invalid = || {
        SuccessRateError::Settings(format!(
            "invalid literal for int() with base 10: {}",
            python_repr(text)
        ))
    };
    let n = servebench_pyjson::parse_int(text).ok_or_else(invalid)?;
    u64::try_from(n)
        .map_err(|_| SuccessRateError::Settings(format!("GITHUB_RUN_ID {n} is not a run id")))
}

/// `repr(s)` for the plain strings an environment variable holds.
fn python_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn bounded_occurrences() {
        assert!(occurs_bounded("bmk b200-nv", "b200"));
        assert!(!occurs_bounded("bmk gb200", "b200"));
        assert!(!occurs_bounded("mi300x", "mi300"));
        assert!(occurs_bounded("x_mi300 mi300x", "mi300"));
        // Overlapping starts: the second `aa` is bounded.
        assert!(occurs_bounded("aaa_aa", "aa"));
        assert!(occurs_bounded("é b200é", "b200"));
        assert!(occurs_bounded("", ""));
    }

    #[test]
    fn first_sorted_label_wins_and_capitals_never_match() {
        let m = Matcher::new(&labels(&["B300", "b200", "b200-nv"]));
        assert_eq!(m.extract("run b200-nv"), Some("b200"));
        assert_eq!(m.extract("run B300"), None);
        assert_eq!(m.extract("on cluster:b200-nv"), Some("b200"));
    }

    #[test]
    fn labels_from_the_runners_file() {
        let doc = servebench_yaml::parse("cluster:b: 1\ncluster:a: 2\nx: 3\n").unwrap();
        assert_eq!(hardware_labels(&doc).unwrap(), labels(&["a", "b"]));
        let doc =
            servebench_yaml::parse("labels: {x: 1}\nhardware: {h2: 1, cluster:h1: 2, h1: 3}\n")
                .unwrap();
        assert_eq!(hardware_labels(&doc).unwrap(), labels(&["h1", "h2"]));
        let doc = servebench_yaml::parse("labels: {x: 1}\n").unwrap();
        assert!(hardware_labels(&doc).unwrap().is_empty());
        let doc = servebench_yaml::parse("labels: [1]\n").unwrap();
        assert!(hardware_labels(&doc).is_err());
        assert!(hardware_labels(&Value::List(vec![])).is_err());
    }

    #[test]
    fn empty_bucket_is_false() {
        let m = Matcher::new(&labels(&["", "b200"]));
        let r = tally(&m, [("b200 ", Some("success")), ("b200", Some("success"))]);
        assert_eq!(r.entries[1].total, 1);
    }

    #[test]
    fn table_and_json() {
        let m = Matcher::new(&labels(&["a1", "b2"]));
        let r = tally(
            &m,
            [
                ("x a1", Some("success")),
                ("x a1", Some("failure")),
                ("x a1", None),
                ("x a1", Some("skipped")),
            ],
        );
        let t = table(Some(&r));
        assert!(
            t.contains("\na1                   1          3          33.33     %\n"),
            "{t}"
        );
        assert!(!t.contains("b2"));
        assert_eq!(
            to_json(Some(&r)),
            "{\n  \"a1\": {\n    \"n_success\": 1,\n    \"total\": 3\n  },\n  \"b2\": {\n    \"n_success\": 0,\n    \"total\": 0\n  }\n}"
        );
        assert_eq!(to_json(None), "null");
        assert_eq!(table(None), "No data to display\n");
    }

    #[test]
    fn run_ids() {
        assert_eq!(parse_run_id(Some(" 12 ")).unwrap(), 12);
        assert_eq!(
            parse_run_id(Some("x1")).unwrap_err().to_string(),
            "invalid literal for int() with base 10: 'x1'"
        );
        assert!(parse_run_id(None)
            .unwrap_err()
            .to_string()
            .ends_with("not 'NoneType'"));
    }
}
