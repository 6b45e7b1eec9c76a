//! The load-generator service behind `bins/load_generator`: benchmarks
//! started over HTTP, run one at a time (or queued), watched through
//! Prometheus metrics, their results stored.
//!
//! This crate owns the service: the HTTP API ([`serve`]), the run
//! specification and its validation, target allow-list included
//! ([`parse_spec`], [`validate_spec`], [`Policy`]), the run registry and
//! executor ([`Service`]), live metrics (`GET /metrics`) and result storage
//! ([`Store`]). Its one error type is [`LoadgenError`].
//! It does not own the benchmark itself (`servebench-bench` runs it, exactly
//! as `benchmark_serving` does, so a run's result is the same document as
//! `benchmark_serving --save-result`), nor reading the process environment
//! or the clock: the binary passes those in ([`Host`]).
//! [`Launch::run`] is the binary's whole run: start-up checks, the start-up
//! spec ([`load_startup`]), the store, serving, and the drain at shutdown
//! ([`Service::drain`]).

#![warn(unreachable_pub)]

mod api;
mod error;
mod launch;
mod metrics;
mod runs;
mod spec;
mod store;

pub use api::{serve, ApiConfig};
pub use error::LoadgenError;
pub use launch::{load_startup, shutdown_signal, Host, Launch, DRAIN_TIMEOUT};
pub use runs::{RunState, Service, ServiceConfig, StartError, StopError};
pub use spec::{FieldError, LoadSpec, Policy, TargetPolicy, TokenizerSource, ValidSpec};
pub use store::{s3_from_env, Store, Stored};

/// Parses a run specification (the JSON body of `POST /start-load`, or one
/// entry of a start-up spec) into benchmark_serving's options with their
/// defaults; [`LoadgenError::Spec`] names the offending field.
pub fn parse_spec(body: &[u8]) -> Result<LoadSpec, LoadgenError> {
    Ok(spec::parse(body)?)
}

/// Checks a parsed specification against `policy` (target allow-list, data
/// directory) and benchmark_serving's own rules, into what a run needs;
/// [`LoadgenError::Spec`] names the offending field.
pub fn validate_spec(spec: LoadSpec, policy: &Policy) -> Result<ValidSpec, LoadgenError> {
    Ok(spec::validate(spec, policy)?)
}
