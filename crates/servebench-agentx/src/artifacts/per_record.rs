//! One `profile_export.jsonl` line: metadata, metrics and error of one
//! [`RequestRecord`] (SPEC §2.7, §4.1), with the keys, units and value
//! types of aiperf 0.13.0's streaming-chat records.

use serde_json::{json, Map, Value};

use crate::record::{Phase, RecordError, RequestRecord, SourceKind};

/// A metric value as the JSONL writes it: token and chunk counts are
/// integers, durations and rates floats, `inter_chunk_latency` a list.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Int(u64),
    Float(f64),
    List(Vec<f64>),
}

impl Val {
    fn to_json(&self) -> Value {
        match self {
            Val::Int(v) => Value::from(*v),
            Val::Float(v) => float(*v),
            Val::List(vs) => Value::Array(vs.iter().map(|v| float(*v)).collect()),
        }
    }

    /// The values this metric contributes to the aggregate (a list
    /// contributes each element, as aiperf flattens `inter_chunk_latency`).
    pub(super) fn samples(&self) -> Vec<f64> {
        match self {
            Val::Int(v) => vec![*v as f64],
            Val::Float(v) => vec![*v],
            Val::List(vs) => vs.clone(),
        }
    }
}

/// A finite float as JSON; a non-finite one would be written as `null`,
/// which the metric builders never produce (they skip such values).
fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// One metric of a record.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Metric {
    pub(super) name: &'static str,
    pub(super) unit: &'static str,
    pub(super) value: Val,
}

const NS_PER_MS: f64 = 1_000_000.0;
/// aiperf's `KB` is 1024 bytes (3626 bytes are written as 3.541015625 KB).
const BYTES_PER_KB: f64 = 1024.0;

/// `b - a` in milliseconds (0 when the clock ran backwards).
fn ms(a: u64, b: u64) -> f64 {
    b.saturating_sub(a) as f64 / NS_PER_MS
}

/// aiperf's OSL-mismatch threshold: `min(requested × 5 %, 50 tokens)`.
fn osl_mismatch_threshold(requested: u64) -> f64 {
    (requested as f64 * 0.05).min(50.0)
}

/// Whether the output length differs from the requested one by more than
/// aiperf's threshold (`osl_mismatch_count`).
pub(super) fn osl_mismatched(r: &RequestRecord) -> bool {
    match r.usage_completion_tokens {
        Some(osl) if r.max_completion_tokens > 0 => {
            (osl as f64 - r.max_completion_tokens as f64).abs()
                > osl_mismatch_threshold(r.max_completion_tokens)
        }
        _ => false,
    }
}

/// Whether a record is a success: answered without an error and not cut
/// short by the end of the run.
pub(super) fn is_success(r: &RequestRecord) -> bool {
    r.error.is_none() && !r.was_cancelled
}

/// The per-request metrics, in aiperf's order where it has one. Only what
/// the record supports is present: no TTFT without a content chunk, no ITL
/// for one output token, no usage metrics without a `usage` chunk.
///
/// `http_req_duration` is the whole request (send start to last byte),
/// `http_req_waiting`/`http_req_receiving` split it at the first content
/// chunk. Deliberately absent (no measurement behind them in a
/// [`RequestRecord`]):
/// `http_req_sending`, `http_req_blocked`, `http_req_connecting`,
/// `http_req_dns_lookup`, `http_req_connection_reused`,
/// `http_req_connection_overhead`, `http_req_total`, `http_req_chunks_sent`
/// and `http_req_chunks_received` (transport reads, not SSE events).
pub(super) fn metrics(r: &RequestRecord) -> Vec<Metric> {
    let mut out = Vec::new();
    let mut push = |name: &'static str, unit: &'static str, value: Val| {
        let finite = match &value {
            Val::Float(v) => v.is_finite(),
            Val::List(vs) => vs.iter().all(|v| v.is_finite()),
            Val::Int(_) => true,
        };
        if finite {
            out.push(Metric { name, unit, value });
        }
    };
    let success = is_success(r);
    let latency = ms(r.request_start_ns, r.request_end_ns);
    let first = r.content_chunk_ns.first().copied();
    let ttft = first.map(|f| ms(r.request_start_ns, f));
    let osl = r.usage_completion_tokens;
    let isl = r.usage_prompt_tokens;

    if let Some(osl) = osl.filter(|_| success) {
        push("output_token_count", "tokens", Val::Int(osl));
    }
    push("http_req_duration", "ms", Val::Float(latency));
    if let Some(t) = ttft {
        push("time_to_first_output_token", "ms", Val::Float(t));
    }
    if success {
        if let Some(total) = r.usage_total_tokens {
            push("usage_total_tokens", "tokens", Val::Int(total));
        }
    }
    if r.content_chunk_ns.len() >= 2 {
        let gaps = r
            .content_chunk_ns
            .windows(2)
            .map(|w| ms(w[0], w[1]))
            .collect();
        push("inter_chunk_latency", "ms", Val::List(gaps));
    }
    if let Some(osl) = osl.filter(|_| success) {
        push("output_sequence_length", "tokens", Val::Int(osl));
    }
    push("request_latency", "ms", Val::Float(latency));
    if let Some(f) = first {
        // aiperf times receiving from the first body chunk, which in an SSE
        // stream is the first delta; the record's first content chunk stands
        // for it (the role-only delta before it arrives in the same read on
        // the servers observed). Response headers (`request_ack_ns`) come
        // earlier on servers that flush them at once, so they are not used.
        push(
            "http_req_receiving",
            "ms",
            Val::Float(ms(f, r.request_end_ns)),
        );
    }
    if let Some(isl) = isl.filter(|_| success) {
        push("input_sequence_length", "tokens", Val::Int(isl));
    }
    if success {
        if let Some(p) = r.usage_prompt_tokens {
            push("usage_prompt_tokens", "tokens", Val::Int(p));
        }
        if let Some(c) = r.usage_completion_tokens {
            push("usage_completion_tokens", "tokens", Val::Int(c));
        }
    }
    push(
        "http_req_data_received",
        "KB",
        Val::Float(r.bytes_received as f64 / BYTES_PER_KB),
    );
    if let (Some(a), Some(b)) = (r.content_chunk_ns.first(), r.content_chunk_ns.get(1)) {
        push("time_to_second_token", "ms", Val::Float(ms(*a, *b)));
    }
    if let Some(f) = first {
        // Up to the first body chunk; the time spent writing the request
        // (aiperf's separate `http_req_sending`) is not measured and falls
        // in here.
        push(
            "http_req_waiting",
            "ms",
            Val::Float(ms(r.request_start_ns, f)),
        );
    }
    if let Some(t) = ttft {
        push("time_to_first_token", "ms", Val::Float(t));
    }
    push(
        "http_req_data_sent",
        "KB",
        Val::Float(r.bytes_sent as f64 / BYTES_PER_KB),
    );
    if success {
        if let Some(osl) = osl {
            if latency > 0.0 {
                push(
                    "e2e_output_token_throughput",
                    "tokens/sec/user",
                    Val::Float(osl as f64 / (latency / 1000.0)),
                );
            }
        }
        if let (Some(isl), Some(t)) = (isl, ttft) {
            if t > 0.0 {
                push(
                    "prefill_throughput_per_user",
                    "tokens/sec/user",
                    Val::Float(isl as f64 / (t / 1000.0)),
                );
            }
        }
        if let Some(t) = ttft {
            let decode = (latency - t).max(0.0);
            push("decode_duration", "ms", Val::Float(decode));
            if let Some(osl) = osl.filter(|&o| o > 1) {
                // SPEC §2.7/§8.3: the decode time per token after the first;
                // the fork's full-response ITL has the same definition.
                let itl = decode / (osl - 1) as f64;
                push("inter_token_latency", "ms", Val::Float(itl));
                push("full_response_inter_token_latency", "ms", Val::Float(itl));
                if itl > 0.0 {
                    push(
                        "output_token_throughput_per_user",
                        "tokens/sec/user",
                        Val::Float(1000.0 / itl),
                    );
                }
            }
        }
        if let Some(osl) = osl {
            if r.max_completion_tokens > 0 {
                let requested = r.max_completion_tokens as f64;
                push(
                    "osl_mismatch_diff_pct",
                    "%",
                    Val::Float((osl as f64 - requested) / requested * 100.0),
                );
            }
        }
    }
    out
}

/// The `error` object of a failed or cancelled record, shaped like aiperf's
/// `ErrorDetails` (`code`, `type`, `message`). `type` is the first key the
/// InferenceX categoriser reads (SPEC §7.3), so it is never empty.
pub(super) fn error_details(r: &RequestRecord) -> Option<RecordError> {
    match (&r.error, r.was_cancelled) {
        (Some(e), _) => {
            let kind = if e.kind.trim().is_empty() {
                "RequestError".to_owned()
            } else {
                e.kind.clone()
            };
            Some(RecordError {
                code: e.code,
                kind,
                message: e.message.clone(),
            })
        }
        // aiperf reports a request still open when the run ends as a
        // cancellation with the nginx-style 499 code.
        (None, true) => Some(RecordError {
            code: Some(499),
            kind: "RequestCancellationError".to_owned(),
            message: "request cancelled at the end of the run".to_owned(),
        }),
        (None, false) => None,
    }
}

pub(super) fn error_json(e: &RecordError) -> Value {
    json!({"code": e.code, "type": e.kind, "message": e.message})
}

/// Whether a failed record is a context overflow: an HTTP 400 (or 413)
/// whose message says the prompt exceeds the model's context (the wording
/// of vLLM, SGLang, TRT-LLM and OpenAI).
pub fn is_context_overflow(r: &RequestRecord) -> bool {
    let Some(e) = &r.error else {
        return false;
    };
    if !matches!(e.code, Some(400) | Some(413)) {
        return false;
    }
    let m = e.message.to_ascii_lowercase();
    [
        "context length",
        "context_length",
        "context window",
        "maximum context",
        "max_model_len",
        "prompt is too long",
        "too many tokens",
        "input is too long",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The JSONL object of one record: `{"metadata", "metrics"[, "error"]}`;
/// `error` is absent on successes, as in aiperf 0.13.0.
pub fn record_json(r: &RequestRecord) -> Value {
    let mut meta = Map::new();
    meta.insert("session_num".into(), r.session_num.into());
    meta.insert("x_request_id".into(), r.x_request_id.clone().into());
    meta.insert("x_correlation_id".into(), r.x_correlation_id.clone().into());
    meta.insert("conversation_id".into(), r.conversation_id.clone().into());
    meta.insert("turn_index".into(), r.turn_index.into());
    meta.insert("source_trace_id".into(), r.source_trace_id.clone().into());
    meta.insert("source_outer_idx".into(), r.source_outer_idx.into());
    if let Some(inner) = r.source_inner_idx {
        meta.insert("source_inner_idx".into(), inner.into());
    }
    let kind = match r.source_kind {
        SourceKind::Main => "weka_main",
        SourceKind::Subagent => "weka_subagent",
    };
    meta.insert("source_kind".into(), kind.into());
    meta.insert("credit_issued_ns".into(), r.credit_issued_ns.into());
    meta.insert("request_start_ns".into(), r.request_start_ns.into());
    if let Some(ack) = r.request_ack_ns {
        meta.insert("request_ack_ns".into(), ack.into());
    }
    meta.insert("request_end_ns".into(), r.request_end_ns.into());
    // One process plays every request and processes every record.
    meta.insert("worker_id".into(), "worker_00000000".into());
    meta.insert(
        "record_processor_id".into(),
        "record_processor_00000000".into(),
    );
    match r.phase {
        Phase::Warmup => {
            meta.insert("benchmark_phase".into(), "warmup".into());
            meta.insert("phase_name".into(), "agentic.warmup".into());
            meta.insert("phase_kind".into(), "warmup".into());
        }
        Phase::Profiling => {
            meta.insert("benchmark_phase".into(), "profiling".into());
            meta.insert("phase_index".into(), 0.into());
            meta.insert("profiling_index".into(), 0.into());
            meta.insert("phase_name".into(), "profiling".into());
            meta.insert("phase_kind".into(), "profiling".into());
        }
    }
    meta.insert("was_cancelled".into(), r.was_cancelled.into());
    // The replay sends every request; it never skips one for its length.
    meta.insert("context_overflow_skip".into(), false.into());
    meta.insert("agent_depth".into(), r.agent_depth.into());
    if let Some(parent) = &r.parent_correlation_id {
        meta.insert("parent_correlation_id".into(), parent.clone().into());
    }
    meta.insert(
        "root_correlation_id".into(),
        r.root_correlation_id.clone().into(),
    );

    let mut values = Map::new();
    for m in metrics(r) {
        values.insert(
            m.name.into(),
            json!({"value": m.value.to_json(), "unit": m.unit}),
        );
    }
    let mut obj = Map::new();
    obj.insert("metadata".into(), Value::Object(meta));
    obj.insert("metrics".into(), Value::Object(values));
    if let Some(e) = error_details(r) {
        obj.insert("error".into(), error_json(&e));
    }
    Value::Object(obj)
}
