//! One replayed request as the artifacts record it: what the scheduler
//! decided, what was sent and what came back (SPEC §2.7, §4.1).

use std::sync::Arc;

/// Which phase a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A primer (`max_completion_tokens` 1) that fills the prefix cache.
    Warmup,
    Profiling,
}

/// Where in its trace a request came from (`source_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A top-level request (`weka_main`).
    Main,
    /// A request inside a subagent entry (`weka_subagent`).
    Subagent,
}

/// A failed request.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    /// HTTP status, when the server answered with one.
    pub code: Option<u16>,
    /// A short category (`HTTPError`, `Timeout`, `StreamError`, `Cancelled`, ...).
    pub kind: String,
    pub message: String,
}

/// One request of the replay, finished or cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// Index of the play (root or child session) in dispatch order.
    pub session_num: u64,
    pub x_request_id: String,
    /// The session's correlation id (fresh per play).
    pub x_correlation_id: String,
    /// `T`, `T::sa:<agent_id>`.
    pub conversation_id: String,
    /// Index of the turn within its session.
    pub turn_index: u32,
    pub source_trace_id: String,
    /// Index of the entry in the trace's `requests` list.
    pub source_outer_idx: u32,
    /// Index inside the subagent entry (subagent rows only).
    pub source_inner_idx: Option<u32>,
    pub source_kind: SourceKind,
    pub phase: Phase,
    /// 0 for roots, 1 for subagents.
    pub agent_depth: u32,
    pub root_correlation_id: String,
    pub parent_correlation_id: Option<String>,
    pub cache_bust_marker: String,
    /// Hash ids of the prompt (theoretical prefix-cache hit accounting).
    pub hash_ids: Arc<[u64]>,
    /// How many of `hash_ids` already occur in an earlier request of the
    /// same trace in file order (subagent requests flattened in place), as
    /// [`crate::artifacts::prior_hit_blocks`] computes it: the definition
    /// that reproduces aiperf's `theoretical_prefix_cache_hit`. `None` makes
    /// the artifacts fall back to a seen-set over the profiled records.
    pub prior_hit_blocks: Option<u64>,
    /// `max_completion_tokens` asked for.
    pub max_completion_tokens: u64,
    /// Wall-clock epoch nanoseconds: scheduler decided, sent, response
    /// head, last byte.
    pub credit_issued_ns: u64,
    pub request_start_ns: u64,
    pub request_ack_ns: Option<u64>,
    pub request_end_ns: u64,
    /// Arrival (epoch ns) of every SSE chunk that carried content, in order.
    pub content_chunk_ns: Vec<u64>,
    /// From the final `usage` chunk.
    pub usage_prompt_tokens: Option<u64>,
    pub usage_completion_tokens: Option<u64>,
    pub usage_total_tokens: Option<u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Cut short by the end of the run (not by the server).
    pub was_cancelled: bool,
    pub error: Option<RecordError>,
}
