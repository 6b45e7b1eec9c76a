//! The Weka trace record format (SPEC §1.1-1.4): loading from local files
//! or the Hugging Face cache/Hub, and the schema checks, with errors naming
//! the file, trace, request and field.
//!
//! The types below are the crate's model of a trace; every other module
//! reads traces through them.

use std::sync::Arc;

/// One recorded session (SPEC §1.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub id: String,
    pub models: Vec<String>,
    /// Tokens per KV block (the corpus always uses 64).
    pub block_size: u32,
    pub tool_tokens: u64,
    pub system_tokens: u64,
    /// Requests and subagent entries, in file order.
    pub entries: Vec<Entry>,
}

/// An element of a trace's `requests` list.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Request(Request),
    Subagent(Subagent),
}

/// One recorded request (`type` `n` or `s`, SPEC §1.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Start, seconds from the trace start (root clock).
    pub t: f64,
    /// `true` for `type: "s"` (replay ignores it).
    pub streaming: bool,
    pub model: String,
    /// Prompt tokens (`in`).
    pub input_tokens: u64,
    /// Output tokens (`out`): the request's `max_completion_tokens`.
    pub output_tokens: u64,
    /// KV-block ids, one per `block_size` tokens.
    pub hash_ids: Arc<[u64]>,
    /// Recorded server time, seconds.
    pub api_time: Option<f64>,
    pub think_time: Option<f64>,
    pub ttft: Option<f64>,
}

/// A subagent entry (`type: "subagent"`, SPEC §1.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Subagent {
    /// Spawn time (root clock).
    pub t: f64,
    pub agent_id: String,
    pub subagent_type: String,
    pub duration_ms: Option<f64>,
    pub status: String,
    pub models: Vec<String>,
    pub tool_tokens: u64,
    pub system_tokens: u64,
    /// Inner requests, chronological; `t` already on the root clock (an
    /// inner `t` below the entry's `t` was relative and has been shifted).
    pub requests: Vec<Request>,
}

// ---------------------------------------------------------------------------
// Loading and schema checks.

use crate::AgentxError;
use serde_json::{Map, Value};
use servebench_files::{Limit, MIB};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A trace file (`traces.jsonl` of the 062126 corpus is tens of MB).
pub const TRACE_FILE_LIMIT: Limit = Limit {
    max_bytes: 1024 * MIB,
    what: "a trace file",
};

/// The longest `.jsonl` line (one trace) accepted; the longest medium-corpus
/// line is about 200 KB.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// The most tokens one request may declare (`in`, `out`): far above any
/// context window, low enough that prompt buffers sized from it are safe.
pub const MAX_REQUEST_TOKENS: u64 = 1 << 24;

/// The largest `block_size` accepted (the corpus uses 64).
pub const MAX_BLOCK_SIZE: u64 = 1 << 16;

const TRACE_KEYS: &[&str] = &[
    "id",
    "models",
    "block_size",
    "hash_id_scope",
    "tool_tokens",
    "system_tokens",
    "requests",
    "totals",
];
const REQUEST_KEYS: &[&str] = &[
    "t",
    "type",
    "model",
    "in",
    "out",
    "hash_ids",
    "input_types",
    "output_types",
    "stop",
    "api_time",
    "think_time",
    "ttft",
];
const SUBAGENT_KEYS: &[&str] = &[
    "t",
    "type",
    "agent_id",
    "subagent_type",
    "duration_ms",
    "total_tokens",
    "tool_use_count",
    "status",
    "requests",
    "models",
    "tool_tokens",
    "system_tokens",
];

/// Loads traces from `path`: a `.jsonl` file (one trace per line, blank
/// lines ignored), a `.json` file (one trace), or a directory (every
/// `*.json` and `*.jsonl` directly in it, by file name). Trace ids must be
/// unique over everything loaded.
pub fn load_path(path: &Path) -> Result<Vec<Trace>, AgentxError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| AgentxError::Input(format!("{}: {e}", path.display())))?;
    let files = if meta.is_dir() {
        let files = trace_files(path)?;
        if files.is_empty() {
            return Err(AgentxError::Input(format!(
                "{}: the directory has no *.json or *.jsonl file",
                path.display()
            )));
        }
        files
    } else {
        vec![path.to_owned()]
    };
    load_files(&files)
}

/// The `*.json` and `*.jsonl` files directly in `dir` (regular files and
/// links to them), sorted by name.
fn trace_files(dir: &Path) -> Result<Vec<PathBuf>, AgentxError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| AgentxError::Input(format!("{}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AgentxError::Input(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        if file_kind(&path).is_some() && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Json,
    Jsonl,
}

fn file_kind(path: &Path) -> Option<FileKind> {
    match path.extension()?.to_str()? {
        "json" => Some(FileKind::Json),
        "jsonl" => Some(FileKind::Jsonl),
        _ => None,
    }
}

/// Loads the given files in order, with ids unique over all of them.
fn load_files(files: &[PathBuf]) -> Result<Vec<Trace>, AgentxError> {
    let mut traces = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        let text = servebench_files::read_text(file, TRACE_FILE_LIMIT)?;
        let parsed = match file_kind(file) {
            Some(FileKind::Json) => vec![(None, parse_json_value(&text, file, None)?)],
            // Anything not named .json is read as JSON Lines (a
            // `traces.jsonl` renamed by a download tool still loads).
            _ => parse_jsonl(&text, file)?,
        };
        for (line, trace) in parsed {
            if let Some(first) = seen.get(&trace.id) {
                return Err(AgentxError::Trace {
                    file: file.clone(),
                    trace: label(Some(&trace.id), line),
                    message: format!("duplicate trace id (first in {})", first.display()),
                });
            }
            seen.insert(trace.id.clone(), file.clone());
            traces.push(trace);
        }
    }
    Ok(traces)
}

/// `ID (line N)`, `ID`, `line N` or `(no id)`.
fn label(id: Option<&str>, line: Option<usize>) -> String {
    match (id, line) {
        (Some(id), Some(n)) => format!("{id} (line {n})"),
        (Some(id), None) => id.to_owned(),
        (None, Some(n)) => format!("line {n}"),
        (None, None) => "(no id)".to_owned(),
    }
}

/// Parses JSON Lines text: one trace per non-blank line, with its line
/// number (from 1).
fn parse_jsonl(text: &str, file: &Path) -> Result<Vec<(Option<usize>, Trace)>, AgentxError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i.saturating_add(1);
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(AgentxError::Trace {
                file: file.to_owned(),
                trace: label(None, Some(n)),
                message: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        out.push((Some(n), parse_json_value(line, file, Some(n))?));
    }
    Ok(out)
}

/// Parses one trace from JSON text (`line` only labels errors).
fn parse_json_value(text: &str, file: &Path, line: Option<usize>) -> Result<Trace, AgentxError> {
    let value: Value = serde_json::from_str(text).map_err(|e| AgentxError::Trace {
        file: file.to_owned(),
        trace: label(None, line),
        message: format!("invalid JSON: {e}"),
    })?;
    let id = value.get("id").and_then(Value::as_str);
    parse_trace(&value).map_err(|message| AgentxError::Trace {
        file: file.to_owned(),
        trace: label(id, line),
        message,
    })
}

/// A JSON value, shortened for a message.
fn show(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let mut cut = 57;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Field access with the path (`requests[3].`) for messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: &'a str,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, at: &'a str, allowed: &[&str]) -> Result<Self, String> {
        let what = if at.is_empty() {
            "the trace".to_owned()
        } else {
            at.trim_end_matches('.').to_owned()
        };
        let map = v
            .as_object()
            .ok_or_else(|| format!("{what}: expected an object, got {}", show(v)))?;
        // pydantic `extra="forbid"`: an unknown key is an error.
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("{at}{key}: unknown field"));
        }
        Ok(Obj { map, at })
    }

    fn field(&self, key: &str) -> String {
        format!("{}{key}", self.at)
    }

    /// The value, `None` when absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn required(&self, key: &str) -> Result<&'a Value, String> {
        self.get(key)
            .ok_or_else(|| format!("{}: field required", self.field(key)))
    }

    fn string(&self, key: &str) -> Result<String, String> {
        let v = self.required(key)?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: expected a string, got {}", self.field(key), show(v)))
    }

    fn opt_string(&self, key: &str) -> Result<String, String> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(_) => self.string(key),
        }
    }

    fn strings(&self, key: &str, required: bool) -> Result<Vec<String>, String> {
        let v = match self.get(key) {
            None if !required => return Ok(Vec::new()),
            _ => self.required(key)?,
        };
        let items = v.as_array().ok_or_else(|| {
            format!(
                "{}: expected a list of strings, got {}",
                self.field(key),
                show(v)
            )
        })?;
        items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str().map(str::to_owned).ok_or_else(|| {
                    format!(
                        "{}[{i}]: expected a string, got {}",
                        self.field(key),
                        show(s)
                    )
                })
            })
            .collect()
    }

    /// A non-negative integer (an integral float such as `3.0` passes, as
    /// in pydantic's lax mode); `default` when absent.
    fn uint(&self, key: &str, default: Option<u64>) -> Result<u64, String> {
        let v = match (self.get(key), default) {
            (None, Some(d)) => return Ok(d),
            _ => self.required(key)?,
        };
        as_uint(v).ok_or_else(|| {
            format!(
                "{}: expected a non-negative integer, got {}",
                self.field(key),
                show(v)
            )
        })
    }

    /// [`Self::uint`] for a token count: at most [`MAX_REQUEST_TOKENS`].
    fn tokens(&self, key: &str, default: Option<u64>) -> Result<u64, String> {
        let n = self.uint(key, default)?;
        if n > MAX_REQUEST_TOKENS {
            return Err(format!(
                "{}: {n} is more than {MAX_REQUEST_TOKENS} tokens",
                self.field(key)
            ));
        }
        Ok(n)
    }

    /// A non-negative integer or null (absent = null).
    fn opt_uint(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.uint(key, None).map(Some),
        }
    }

    /// A finite non-negative number.
    fn seconds(&self, key: &str) -> Result<f64, String> {
        let v = self.required(key)?;
        v.as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| {
                format!(
                    "{}: expected a non-negative number, got {}",
                    self.field(key),
                    show(v)
                )
            })
    }

    /// A finite non-negative number or null (absent = null).
    fn opt_seconds(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.seconds(key).map(Some),
        }
    }
}

fn as_uint(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    // 2^53: above it a float no longer holds every integer.
    v.as_f64()
        .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x <= 9_007_199_254_740_992.0)
        .map(|x| x as u64)
}

/// Checks one trace object; the error is the message (field path first).
fn parse_trace(v: &Value) -> Result<Trace, String> {
    let o = Obj::new(v, "", TRACE_KEYS)?;
    let id = o.string("id")?;
    if id.is_empty() {
        return Err("id: must not be empty".into());
    }
    let models = o.strings("models", true)?;
    let block_size = o.uint("block_size", None)?;
    if block_size == 0 || block_size > MAX_BLOCK_SIZE {
        return Err(format!(
            "block_size: must be between 1 and {MAX_BLOCK_SIZE}, got {block_size}"
        ));
    }
    let scope = o.required("hash_id_scope")?;
    if scope.as_str() != Some("local") {
        return Err(format!(
            "hash_id_scope: only \"local\" is supported, got {}",
            show(scope)
        ));
    }
    let tool_tokens = o.tokens("tool_tokens", Some(0))?;
    let system_tokens = o.tokens("system_tokens", Some(0))?;
    match o.get("totals") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => {
            return Err(format!(
                "totals: expected an object or null, got {}",
                show(other)
            ))
        }
    }
    let list = o.required("requests")?;
    let items = list
        .as_array()
        .ok_or_else(|| format!("requests: expected a list, got {}", show(list)))?;
    let mut entries = Vec::with_capacity(items.len());
    let mut agent_ids = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("requests[{i}].");
        let kind = item.get("type").and_then(Value::as_str);
        if kind == Some("subagent") {
            let sub = parse_subagent(item, &at)?;
            if !agent_ids.insert(sub.agent_id.clone()) {
                return Err(format!(
                    "{at}agent_id: duplicate agent_id {:?} (session ids would clash)",
                    sub.agent_id
                ));
            }
            entries.push(Entry::Subagent(sub));
        } else {
            entries.push(Entry::Request(parse_request(item, &at, true)?));
        }
    }
    Ok(Trace {
        id,
        models,
        // Bounded by MAX_BLOCK_SIZE above.
        block_size: u32::try_from(block_size).unwrap_or(u32::MAX),
        tool_tokens,
        system_tokens,
        entries,
    })
}

fn parse_request(v: &Value, at: &str, top_level: bool) -> Result<Request, String> {
    let o = Obj::new(v, at, REQUEST_KEYS)?;
    let t = o.seconds("t")?;
    let kind = o.required("type")?;
    let streaming = match kind.as_str() {
        Some("s") => true,
        Some("n") => false,
        Some("subagent") if !top_level => {
            return Err(format!(
                "{at}type: a subagent entry cannot be nested in a subagent"
            ))
        }
        _ => {
            return Err(format!(
                "{at}type: expected \"n\", \"s\"{}, got {}",
                if top_level { " or \"subagent\"" } else { "" },
                show(kind)
            ))
        }
    };
    let model = o.string("model")?;
    let input_tokens = o.tokens("in", None)?;
    let output_tokens = o.tokens("out", None)?;
    let hash_ids: Arc<[u64]> = match o.get("hash_ids") {
        None => Arc::from(Vec::new()),
        Some(list) => {
            let items = list.as_array().ok_or_else(|| {
                format!(
                    "{at}hash_ids: expected a list of non-negative integers, got {}",
                    show(list)
                )
            })?;
            items
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    as_uint(h).ok_or_else(|| {
                        format!(
                            "{at}hash_ids[{i}]: expected a non-negative integer, got {}",
                            show(h)
                        )
                    })
                })
                .collect::<Result<Vec<u64>, String>>()?
                .into()
        }
    };
    o.strings("input_types", false)?;
    o.strings("output_types", false)?;
    o.opt_string("stop")?;
    let api_time = o.opt_seconds("api_time")?;
    let think_time = o.opt_seconds("think_time")?;
    let ttft = o.opt_seconds("ttft")?;
    if ttft.is_some() && !streaming {
        return Err(format!("{at}ttft: only a type \"s\" request has a ttft"));
    }
    Ok(Request {
        t,
        streaming,
        model,
        input_tokens,
        output_tokens,
        hash_ids,
        api_time,
        think_time,
        ttft,
    })
}

fn parse_subagent(v: &Value, at: &str) -> Result<Subagent, String> {
    let o = Obj::new(v, at, SUBAGENT_KEYS)?;
    let t = o.seconds("t")?;
    let agent_id = o.string("agent_id")?;
    if agent_id.is_empty() {
        return Err(format!("{at}agent_id: must not be empty"));
    }
    let subagent_type = o.string("subagent_type")?;
    let duration_ms = o.opt_seconds("duration_ms")?;
    o.opt_uint("total_tokens")?;
    o.opt_uint("tool_use_count")?;
    let status = o.string("status")?;
    let models = o.strings("models", true)?;
    let tool_tokens = o.tokens("tool_tokens", Some(0))?;
    let system_tokens = o.tokens("system_tokens", Some(0))?;
    let list = o.required("requests")?;
    let items = list
        .as_array()
        .ok_or_else(|| format!("{at}requests: expected a list, got {}", show(list)))?;
    let mut requests = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let inner_at = format!("{at}requests[{i}].");
        let mut r = parse_request(item, &inner_at, false)?;
        // Older fixtures wrote inner times relative to the spawn (SPEC §1.4).
        if r.t < t {
            r.t += t;
        }
        requests.push(r);
    }
    Ok(Subagent {
        t,
        agent_id,
        subagent_type,
        duration_ms,
        status,
        models,
        tool_tokens,
        system_tokens,
        requests,
    })
}

// ---------------------------------------------------------------------------
// Selection (SPEC §2.2).

/// What [`select`] kept and dropped, for the "weka trace selection" log
/// line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectionReport {
    /// Traces offered.
    pub loaded: usize,
    /// Dropped because a request's `in + out` exceeds
    /// `--max-context-length`.
    pub rejected_by_maxctx: usize,
    /// Dropped by the `--num-dataset-entries` ceiling.
    pub over_ceiling: usize,
    /// Traces kept.
    pub selected: usize,
}

impl Trace {
    /// Every `n`/`s` request, top level and inside subagents, in file order.
    pub fn all_requests(&self) -> impl Iterator<Item = &Request> {
        self.entries.iter().flat_map(|e| match e {
            Entry::Request(r) => std::slice::from_ref(r).iter(),
            Entry::Subagent(s) => s.requests.iter(),
        })
    }

    /// The largest `in + out` over every request (0 without requests).
    pub fn peak_context(&self) -> u64 {
        self.all_requests()
            .map(|r| r.input_tokens.saturating_add(r.output_tokens))
            .max()
            .unwrap_or(0)
    }
}

/// `--max-context-length L` drops whole traces whose peak `in + out` (root
/// and subagent requests) exceeds `L`; then `--num-dataset-entries N` keeps
/// the first `min(N, available)` in order (a ceiling, not a target).
pub fn select(
    traces: Vec<Trace>,
    max_context_length: Option<u64>,
    num_dataset_entries: Option<usize>,
) -> (Vec<Trace>, SelectionReport) {
    let loaded = traces.len();
    let mut kept: Vec<Trace> = traces
        .into_iter()
        .filter(|t| max_context_length.is_none_or(|l| t.peak_context() <= l))
        .collect();
    let rejected_by_maxctx = loaded.saturating_sub(kept.len());
    let before = kept.len();
    if let Some(n) = num_dataset_entries {
        kept.truncate(n);
    }
    let report = SelectionReport {
        loaded,
        rejected_by_maxctx,
        over_ceiling: before.saturating_sub(kept.len()),
        selected: kept.len(),
    };
    (kept, report)
}

// ---------------------------------------------------------------------------
// Hugging Face datasets (SPEC §1.1, §3.3).

/// `WEKA_LOADER_OVERRIDE` / `--public-dataset` names and their datasets.
pub const HF_DATASETS: [(&str, &str); 14] = [
    (
        "semianalysis_cc_traces_weka_with_subagents",
        "semianalysisai/cc-traces-weka-061526",
    ),
    (
        "semianalysis_cc_traces_weka_with_subagents_256k",
        "semianalysisai/cc-traces-weka-061526-256k",
    ),
    (
        "semianalysis_cc_traces_weka_with_subagents_060226",
        "semianalysisai/cc-traces-weka-with-subagents-060226",
    ),
    (
        "semianalysis_cc_traces_weka_with_subagents_060226_256k",
        "semianalysisai/cc-traces-weka-with-subagents-060226-256k",
    ),
    (
        "semianalysis_cc_traces_weka_with_subagents_060526",
        "semianalysisai/cc-traces-weka-with-subagents-060526",
    ),
    (
        "semianalysis_cc_traces_weka_with_subagents_060526_256k",
        "semianalysisai/cc-traces-weka-with-subagents-060526-256k",
    ),
    (
        "semianalysis_cc_traces_weka_with_subagents_060826",
        "semianalysisai/cc-traces-weka-with-subagents-060826",
    ),
    (
        "semianalysis_cc_traces_weka_with_subagents_060826_256k",
        "semianalysisai/cc-traces-weka-with-subagents-060826-256k",
    ),
    (
        "semianalysis_cc_traces_weka_061326",
        "semianalysisai/cc-traces-weka-061326",
    ),
    (
        "semianalysis_cc_traces_weka_061326_256k",
        "semianalysisai/cc-traces-weka-061326-256k",
    ),
    (
        "semianalysis_cc_traces_weka_061526",
        "semianalysisai/cc-traces-weka-061526",
    ),
    (
        "semianalysis_cc_traces_weka_061526_256k",
        "semianalysisai/cc-traces-weka-061526-256k",
    ),
    (
        "semianalysis_cc_traces_weka_062126",
        "semianalysisai/cc-traces-weka-062126",
    ),
    (
        "semianalysis_cc_traces_weka_062126_256k",
        "semianalysisai/cc-traces-weka-062126-256k",
    ),
];

/// The dataset repository of a loader alias; an `ORG/NAME` repository id is
/// taken as is. An unknown alias is an error listing the valid ones.
pub fn hf_repo(name_or_repo: &str) -> Result<String, AgentxError> {
    if let Some((_, repo)) = HF_DATASETS.iter().find(|(alias, _)| *alias == name_or_repo) {
        return Ok((*repo).to_owned());
    }
    let valid_repo = name_or_repo.split('/').count() == 2
        && name_or_repo.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if valid_repo {
        return Ok(name_or_repo.to_owned());
    }
    let names: Vec<&str> = HF_DATASETS.iter().map(|(alias, _)| *alias).collect();
    Err(AgentxError::Input(format!(
        "unknown public dataset '{name_or_repo}'; valid names: {}",
        names.join(", ")
    )))
}

/// The Hugging Face hub cache: `$HF_HUB_CACHE`, else
/// `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub` (the order `process_agentic_result.py` uses).
pub fn hub_cache_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(dir) = set("HF_HUB_CACHE").or_else(|| set("HUGGINGFACE_HUB_CACHE")) {
        return PathBuf::from(dir);
    }
    if let Some(home) = set("HF_HOME") {
        return Path::new(&home).join("hub");
    }
    Path::new(&env("HOME").unwrap_or_default()).join(".cache/huggingface/hub")
}

/// The newest snapshot (by modification time) holding a `*.jsonl` or
/// `*.json`, over every `datasets--ORG--NAME*` directory of `cache` whose
/// name starts with `dir_prefix` (a full `datasets--ORG--NAME` for one
/// dataset; `datasets--semianalysisai--cc-traces-weka` for §7.4's any).
pub fn newest_snapshot(cache: &Path, dir_prefix: &str, exact: bool) -> Option<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for repo in std::fs::read_dir(cache).ok()?.flatten() {
        let name = repo.file_name();
        let name = name.to_string_lossy();
        let matches = if exact {
            name == dir_prefix
        } else {
            name.starts_with(dir_prefix)
        };
        if !matches {
            continue;
        }
        let Ok(snapshots) = std::fs::read_dir(repo.path().join("snapshots")) else {
            continue;
        };
        for snap in snapshots.flatten() {
            let dir = snap.path();
            let has_traces = std::fs::read_dir(&dir)
                .map(|it| {
                    it.flatten()
                        .any(|f| file_kind(&f.path()).is_some() && f.path().is_file())
                })
                .unwrap_or(false);
            if !has_traces {
                continue;
            }
            let Ok(mtime) = snap.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            // Ties go to the larger path, so the choice does not depend on
            // directory order.
            if best.as_ref().is_none_or(|(t, p)| (mtime, &dir) > (*t, p)) {
                best = Some((mtime, dir));
            }
        }
    }
    best.map(|(_, dir)| dir)
}

/// The trace files of a dataset snapshot: its `*.jsonl` files when it has
/// any (the published `traces.jsonl`), else its `*.json` files. A stats
/// `*.json` next to `traces.jsonl` is not a trace.
fn snapshot_files(dir: &Path) -> Result<Vec<PathBuf>, AgentxError> {
    let files = trace_files(dir)?;
    let jsonl: Vec<PathBuf> = files
        .iter()
        .filter(|f| file_kind(f) == Some(FileKind::Jsonl))
        .cloned()
        .collect();
    Ok(if jsonl.is_empty() { files } else { jsonl })
}

/// Loads a public dataset (`--public-dataset NAME`, SPEC §3.3): a loader
/// alias or an `ORG/NAME` dataset id. From the local Hugging Face cache
/// when a snapshot holds trace files, else `traces.jsonl` downloaded from
/// `$HF_ENDPOINT` (with `$HF_TOKEN`) into that cache, unless
/// `$HF_HUB_OFFLINE` is set. `env` looks up environment variables.
pub fn load_hf_dataset(
    name_or_repo: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Trace>, AgentxError> {
    let repo = hf_repo(name_or_repo)?;
    let cache = hub_cache_dir(env);
    let dir_name = format!("datasets--{}", repo.replace('/', "--"));
    if let Some(snapshot) = newest_snapshot(&cache, &dir_name, true) {
        return load_files(&snapshot_files(&snapshot)?);
    }
    let offline = env("HF_HUB_OFFLINE").is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    if offline {
        return Err(AgentxError::Input(format!(
            "dataset {repo} is not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set",
            cache.display()
        )));
    }
    let file = servebench_prompts::download_dataset_file(&repo, "traces.jsonl", &cache, env)?;
    load_files(&[file])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/agentx/traces")
            .join(name)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("agentx-trace-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const GOOD: &str = r#"{"id":"T1","models":["m"],"block_size":64,"hash_id_scope":"local","tool_tokens":10,"system_tokens":5,"requests":[{"t":0.0,"type":"s","model":"m","in":100,"out":7,"hash_ids":[0,1],"input_types":["text"],"output_types":["text"],"stop":"end_turn","api_time":1.5,"think_time":null,"ttft":0.2},{"t":2,"type":"subagent","agent_id":"subagent_001_x","subagent_type":"Explore","duration_ms":1000,"total_tokens":9,"tool_use_count":null,"status":"completed","models":["m"],"requests":[{"t":0.5,"type":"n","model":"m","in":70,"out":2,"hash_ids":[5,6]},{"t":2.75,"type":"n","model":"m","in":80,"out":3}],"tool_tokens":0,"system_tokens":0},{"t":4.0,"type":"n","model":"m","in":200,"out":1,"hash_ids":[0,1,2,3]}]}"#;

    /// Replaces the first `from` in GOOD by `to` and returns the error text.
    #[track_caller]
    fn check_error(from: &str, to: &str, expected: &str) {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replacen(from, to, 1);
        let err = parse_jsonl(&text, Path::new("x.jsonl"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, expected);
    }

    #[test]
    fn a_good_trace_parses_with_relative_inner_times_shifted() {
        let traces = parse_jsonl(&format!("\n{GOOD}\n\n"), Path::new("x.jsonl")).unwrap();
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].0, Some(2));
        let t = &traces[0].1;
        assert_eq!(
            (t.id.as_str(), t.block_size, t.tool_tokens, t.system_tokens),
            ("T1", 64, 10, 5)
        );
        assert_eq!(t.entries.len(), 3);
        let Entry::Request(first) = &t.entries[0] else {
            panic!()
        };
        assert!(first.streaming);
        assert_eq!((first.input_tokens, first.output_tokens), (100, 7));
        assert_eq!(&*first.hash_ids, &[0, 1]);
        assert_eq!(
            (first.api_time, first.think_time, first.ttft),
            (Some(1.5), None, Some(0.2))
        );
        let Entry::Subagent(sub) = &t.entries[1] else {
            panic!()
        };
        assert_eq!(sub.agent_id, "subagent_001_x");
        assert_eq!(sub.duration_ms, Some(1000.0));
        // 0.5 < 2 is relative to the spawn; 2.75 is already on the root clock.
        assert_eq!(sub.requests[0].t, 2.5);
        assert_eq!(sub.requests[1].t, 2.75);
        assert!(sub.requests[1].hash_ids.is_empty());
        assert_eq!(t.peak_context(), 201);
        assert_eq!(t.all_requests().count(), 4);
    }

    #[test]
    fn schema_errors_name_file_trace_request_and_field() {
        let x = "x.jsonl: trace T1 (line 1): ";
        check_error(
            r#""block_size":64,"#,
            r#""block_size":64,"extra":1,"#,
            &format!("{x}extra: unknown field"),
        );
        check_error(
            r#""local""#,
            r#""global""#,
            &format!("{x}hash_id_scope: only \"local\" is supported, got \"global\""),
        );
        check_error(
            r#""block_size":64"#,
            r#""block_size":0"#,
            &format!("{x}block_size: must be between 1 and 65536, got 0"),
        );
        check_error(
            r#""in":100"#,
            r#""in":-5"#,
            &format!("{x}requests[0].in: expected a non-negative integer, got -5"),
        );
        check_error(
            r#""in":100"#,
            r#""in":"100""#,
            &format!("{x}requests[0].in: expected a non-negative integer, got \"100\""),
        );
        check_error(
            r#""in":100"#,
            r#""in":100.5"#,
            &format!("{x}requests[0].in: expected a non-negative integer, got 100.5"),
        );
        check_error(
            r#""in":100,"#,
            "",
            &format!("{x}requests[0].in: field required"),
        );
        check_error(
            r#""t":0.0"#,
            r#""t":-1"#,
            &format!("{x}requests[0].t: expected a non-negative number, got -1"),
        );
        check_error(
            r#""type":"s""#,
            r#""type":"x""#,
            &format!("{x}requests[0].type: expected \"n\", \"s\" or \"subagent\", got \"x\""),
        );
        check_error(
            r#""hash_ids":[0,1]"#,
            r#""hash_ids":[0,-1]"#,
            &format!("{x}requests[0].hash_ids[1]: expected a non-negative integer, got -1"),
        );
        check_error(
            r#""ttft":0.2"#,
            r#""ttft":0.2,"bogus":true"#,
            &format!("{x}requests[0].bogus: unknown field"),
        );
        check_error(
            r#""type":"n","model":"m","in":70"#,
            r#""type":"n","model":"m","in":70,"x":1"#,
            &format!("{x}requests[1].requests[0].x: unknown field"),
        );
        check_error(
            r#""type":"n","model":"m","in":80"#,
            r#""type":"subagent","model":"m","in":80"#,
            &format!(
                "{x}requests[1].requests[1].type: a subagent entry cannot be nested in a subagent"
            ),
        );
        check_error(
            r#""in":80"#,
            r#""in":80.0,"ttft":1"#,
            &format!("{x}requests[1].requests[1].ttft: only a type \"s\" request has a ttft"),
        );
        check_error(
            r#""status":"completed","#,
            "",
            &format!("{x}requests[1].status: field required"),
        );
        check_error(
            r#""models":["m"],"block"#,
            r#""models":"m","block"#,
            &format!("{x}models: expected a list of strings, got \"m\""),
        );
        check_error(
            r#""requests":[{"#,
            r#""totals":3,"requests":[{"#,
            &format!("{x}totals: expected an object or null, got 3"),
        );
        check_error(
            r#""in":200"#,
            r#""in":99999999999"#,
            &format!("{x}requests[2].in: 99999999999 is more than 16777216 tokens"),
        );
        check_error(
            r#"{"id":"T1","#,
            r#"{"id":7,"#,
            "x.jsonl: trace line 1: id: expected a string, got 7",
        );
        check_error(
            r#""hash_id_scope""#,
            r#""x""#,
            &format!("{x}x: unknown field"),
        );
    }

    #[test]
    fn invalid_json_and_duplicates_are_errors() {
        let err = parse_jsonl(&format!("{GOOD}\n{{nope\n"), Path::new("a.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a.jsonl: trace line 2: invalid JSON: "),
            "{err}"
        );
        let dir = scratch("dup");
        std::fs::write(dir.join("a.json"), GOOD).unwrap();
        std::fs::write(dir.join("b.jsonl"), format!("{GOOD}\n")).unwrap();
        std::fs::write(dir.join("README.md"), "not a trace").unwrap();
        let err = load_path(&dir).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: trace T1 (line 1): duplicate trace id (first in {})",
                dir.join("b.jsonl").display(),
                dir.join("a.json").display()
            )
        );
        std::fs::write(
            dir.join("b.jsonl"),
            format!("{}\n", GOOD.replace("\"T1\"", "\"T2\"")),
        )
        .unwrap();
        let ids: Vec<String> = load_path(&dir).unwrap().into_iter().map(|t| t.id).collect();
        assert_eq!(ids, ["T1", "T2"]);
        let one = load_path(&dir.join("a.json")).unwrap();
        assert_eq!(one.len(), 1);
        let empty = scratch("empty");
        assert!(load_path(&empty)
            .unwrap_err()
            .to_string()
            .contains("no *.json or *.jsonl"));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&empty);
    }

    #[test]
    fn reference_traces_load() {
        let tiny = load_path(&reference("tiny.jsonl")).unwrap();
        assert_eq!(tiny.len(), 3);
        assert_eq!(tiny[0].id, "tiny-0001");
        let medium = load_path(&reference("medium.jsonl")).unwrap();
        assert_eq!(medium.len(), 40);
        assert_eq!(
            medium
                .iter()
                .map(|t| t.all_requests().count())
                .sum::<usize>(),
            1421
        );
        let subagents = medium
            .iter()
            .flat_map(|t| &t.entries)
            .filter(|e| matches!(e, Entry::Subagent(_)))
            .count();
        assert_eq!(subagents, 81);
    }

    #[test]
    fn selection_drops_by_peak_context_then_caps() {
        let mut traces = load_path(&reference("tiny.jsonl")).unwrap();
        let peaks: Vec<u64> = traces.iter().map(Trace::peak_context).collect();
        let mut sorted = peaks.clone();
        sorted.sort();
        let limit = sorted[1];
        let (kept, report) = select(traces.clone(), Some(limit), None);
        assert_eq!(kept.len(), peaks.iter().filter(|&&p| p <= limit).count());
        assert_eq!(report.rejected_by_maxctx, 3 - kept.len());
        let (kept, report) = select(traces.clone(), None, Some(2));
        assert_eq!(
            kept.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["tiny-0001", "tiny-0002"]
        );
        assert_eq!(
            report,
            SelectionReport {
                loaded: 3,
                rejected_by_maxctx: 0,
                over_ceiling: 1,
                selected: 2
            }
        );
        let (kept, report) = select(traces.clone(), None, Some(393));
        assert_eq!((kept.len(), report.over_ceiling), (3, 0));
        traces.truncate(0);
        assert_eq!(select(traces, Some(1), Some(1)).1.selected, 0);
    }

    #[test]
    fn hf_aliases_and_the_local_cache() {
        assert_eq!(
            hf_repo("semianalysis_cc_traces_weka_062126_256k").unwrap(),
            "semianalysisai/cc-traces-weka-062126-256k"
        );
        assert_eq!(
            hf_repo("semianalysis_cc_traces_weka_with_subagents").unwrap(),
            "semianalysisai/cc-traces-weka-061526"
        );
        assert_eq!(
            hf_repo("semianalysis_cc_traces_weka_with_subagents_060826_256k").unwrap(),
            "semianalysisai/cc-traces-weka-with-subagents-060826-256k"
        );
        assert_eq!(hf_repo("org/name").unwrap(), "org/name");
        let err = hf_repo("semianalysis_nope").unwrap_err().to_string();
        assert!(
            err.contains("unknown public dataset 'semianalysis_nope'")
                && err.contains("semianalysis_cc_traces_weka_061326_256k"),
            "{err}"
        );
        let aliases: HashSet<&str> = HF_DATASETS.iter().map(|(a, _)| *a).collect();
        assert_eq!(aliases.len(), 14);

        let cache = scratch("hf");
        let repo = cache.join("datasets--semianalysisai--cc-traces-weka-062126");
        let old = repo.join("snapshots/aaa");
        let new = repo.join("snapshots/bbb");
        let empty = repo.join("snapshots/ccc");
        for d in [&old, &new, &empty] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(old.join("traces.jsonl"), format!("{GOOD}\n")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::copy(reference("tiny.jsonl"), new.join("traces.jsonl")).unwrap();
        std::fs::write(new.join("stats.json"), "{\"traces\": 3}").unwrap();
        std::fs::write(empty.join("README.md"), "x").unwrap();
        let env = |k: &str| match k {
            "HUGGINGFACE_HUB_CACHE" => Some(cache.display().to_string()),
            "HF_HUB_OFFLINE" => Some("1".to_owned()),
            _ => None,
        };
        assert_eq!(hub_cache_dir(&env), cache);
        let traces = load_hf_dataset("semianalysis_cc_traces_weka_062126", &env).unwrap();
        assert_eq!(
            traces.len(),
            3,
            "the newest snapshot with traces; stats.json is not one"
        );
        let err = load_hf_dataset("semianalysis_cc_traces_weka_061326", &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not in the Hugging Face cache") && err.contains("HF_HUB_OFFLINE"),
            "{err}"
        );
        assert_eq!(
            newest_snapshot(&cache, "datasets--semianalysisai--cc-traces-weka", false),
            Some(new)
        );
        let _ = std::fs::remove_dir_all(&cache);
    }

    #[test]
    fn hub_cache_dir_order() {
        let env = |k: &str| match k {
            "HF_HOME" => Some("/h".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(hub_cache_dir(&env), Path::new("/h/hub"));
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(
            hub_cache_dir(&env),
            Path::new("/home/u/.cache/huggingface/hub")
        );
    }
}
