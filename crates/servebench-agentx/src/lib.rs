//! AgentX: replaying recorded agentic-coding sessions against an
//! OpenAI-compatible server, as `aiperf profile --scenario
//! inferencex-agentx-mvp` does for InferenceX (contract:
//! `reference/agentx/SPEC-agentx.md`).
//!
//! This crate owns the trace record format and its checks ([`trace`]), the
//! prompts synthesised from hash ids ([`synth`]), the session trees a trace
//! becomes ([`plan`]), the replay scheduler and its self-audit ([`replay`],
//! [`audit`]), the per-request records ([`record`]), the artifact files the
//! InferenceX scripts read ([`artifacts`]), the server-metrics scraper
//! ([`scrape`]) and one whole run from options to artifacts ([`session`]).
//!
//! It does not own HTTP connections or SSE decoding (`servebench-client`),
//! tokenizers or the Hugging Face Hub (`servebench-prompts`), or argument
//! parsing (the `agentic_replay` binary's [`options`] are declared here so
//! the sweep can build them, and parsed there).

#![warn(unreachable_pub)]

pub mod artifacts;
pub mod audit;
mod error;
pub mod options;
pub mod plan;
pub mod record;
pub mod replay;
pub mod scrape;
pub mod session;
pub mod synth;
pub mod trace;

pub use error::AgentxError;
