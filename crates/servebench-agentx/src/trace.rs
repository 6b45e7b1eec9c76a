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
