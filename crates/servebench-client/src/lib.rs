//! The OpenAI-compatible streaming benchmark client.
//!
//! This crate will own sending requests to a server, streaming the answers
//! and recording when every byte arrived. So far it holds the hot-path SSE
//! decoder ([`sse`]) and the backends' request bodies and response rules
//! ([`backend`]); the HTTP runner builds on them.
//!
//! It does not own prompts (`servebench-prompts`) or metric arithmetic
//! (`servebench-metrics`): it records raw timestamps only.

pub mod backend;
pub mod http;
pub mod run;
pub mod sse;
