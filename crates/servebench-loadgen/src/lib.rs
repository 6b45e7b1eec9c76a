//! The load-generator service behind `bins/load_generator`: benchmarks
//! started over HTTP, run one at a time (or queued), watched through
//! Prometheus metrics, their results stored.
//!
//! This crate owns the service: the API (`api`), the run specification and
//! its validation, target allow-list included (`spec`), the run registry and
//! executor (`runs`), live metrics (`metrics`) and result storage (`store`).
//! It does not own the benchmark itself (`servebench-bench` runs it, exactly
//! as `benchmark_serving` does, so a run's result is the same document as
//! `benchmark_serving --save-result`), nor reading the process environment
//! or the clock: the binary passes those in ([`Host`]).
//! [`Launch::run`] is the binary's whole run: start-up checks, the start-up
//! spec ([`load_startup`]), the store, serving, and the drain at shutdown
//! ([`Service::drain`]).

pub mod api;
mod launch;
pub mod metrics;
pub mod runs;
pub mod spec;
pub mod store;

pub use api::ApiConfig;
pub use launch::{load_startup, shutdown_signal, Host, Launch, LaunchError, DRAIN_TIMEOUT};
pub use runs::{Service, ServiceConfig};
pub use spec::{Policy, TargetPolicy};
pub use store::Store;
