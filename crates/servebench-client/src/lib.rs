//! The OpenAI-compatible streaming benchmark client.
//!
//! This crate owns sending requests to a server, streaming the answers and
//! recording when every byte arrived: the backends' request bodies and
//! response rules ([`Backend`], [`request_body`]), the hot-path SSE decoder
//! ([`Decoder`]), HTTP connections, and the runner with its self-audit
//! ([`run()`], [`Client`], [`Audit`]), and the runtime's park hooks that
//! coalesce its wake-ups ([`coalesce_wakeups`]). Everything that goes
//! wrong is a [`ClientError`].
//!
//! It does not own prompts (`servebench-prompts`) or metric arithmetic
//! (`servebench-metrics`): it records raw timestamps only.
//!
//! ```
//! use servebench_client::{decode_all, Backend, Kind};
//!
//! assert_eq!(Backend::parse("vllm").map(Backend::kind), Some(Kind::Completions));
//! let events = decode_all(b"data: {\"a\": 1}\n\ndata: [DONE]\n\n")?;
//! assert_eq!(events[1].data, "[DONE]");
//! # Ok::<(), servebench_client::ClientError>(())
//! ```

#![warn(unreachable_pub)]

mod backend;
mod chat;
mod chunk;
mod dispatch;
mod error;
mod http;
mod run;
mod sse;
mod wakeups;

pub use backend::{
    authorization, check_url, request_body, request_body_with, start_profile_extra_body, Backend,
    Kind, RequestSpec, CUT_OPENAI, CUT_TGI, MAX_EVENTS, MAX_TEXT_BYTES,
};
pub use chat::{
    ChatClient, ChatError, ChatErrorKind, ChatEvent, ChatExchange, ChatUsage, ERROR_BODY_EXCERPT,
};
pub use error::ClientError;
pub use run::{
    check_open_files, run, Audit, Client, Observer, PreparedRequest, Quiet, RunOptions, RunOutcome,
    StreamOutcome, MAX_BODY_BYTES,
};
pub use sse::{decode_all, Decoder, Event, EventRef, Events, MAX_EVENT_BYTES, MAX_LINE_BYTES};
pub use wakeups::coalesce_wakeups;
