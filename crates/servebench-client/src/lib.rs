//! The OpenAI-compatible streaming benchmark client.
//!
//! This crate owns sending requests to a server, streaming the answers and
//! recording when every byte arrived: the backends' request bodies and
//! response rules ([`backend`]), the hot-path SSE decoder ([`sse`]), HTTP
//! connections ([`http`]) and the runner with its self-audit ([`run`]).
//!
//! It does not own prompts (`servebench-prompts`) or metric arithmetic
//! (`servebench-metrics`): it records raw timestamps only.

pub mod backend;
pub mod http;
pub mod run;
pub mod sse;
