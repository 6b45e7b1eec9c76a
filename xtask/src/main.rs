//! Development tasks, run as `cargo xtask <task>`.
//!
//! * `ci`: what `.ci/run` runs, in order: format check, clippy, the test
//!   suite, then the golden compatibility checks against the built binaries.
//! * `bench-matrix`: times `generate_sweep_configs` on a full sweep of the
//!   reference configs, next to the Python original when one is given.
//! * `diff-matrix`: differential testing of `generate_sweep_configs`
//!   (edition 2026-08) against the Python original on random inputs.
//! * `bench-prompts`: times random-prompt preparation with the real
//!   tokenizer (`benchmark_serving --dry-run`).
//! * `bench-sim`: `sim_server`'s own streaming ceiling in fast mode.
//! * `bench-client`: `benchmark_serving` against `sim_server`: its ceiling,
//!   its timing error against the simulator's ground truth, its memory.
//! * `bench-peers`: the same next to vllm-bench, in one sitting.
//! * `bench-agentx`: AgentX corpus preparation next to upstream aiperf,
//!   and `agentic_replay`'s dispatch lag and CPU with 64 trees.
//! * `bench-json`: parsing large JSON objects (40k to 1M keys, ~100 MB),
//!   next to Python's `json.loads`.
//! * `sweep`: builds the release binaries and runs `sweep` (`bins/sweep`),
//!   the whole benchmark on this machine.
//! * `install`: the release binaries, copied onto `PATH`.
//! * `readme`: the README's shell examples, run as written.
//! * `report-shot`: a sweep report rendered by headless Chromium.
//! * `soak`: the load generator at a constant rate for minutes; its memory.
//! * `fuzz`: random and adversarial input for the file tools and parsers.

// xtask is a developer tool whose whole job is to report on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench_agentx;
mod bench_client;
mod bench_json;
mod bench_matrix;
mod bench_peers;
mod bench_prompts;
mod bench_sim;
mod ci;
mod diff_matrix;
mod fuzz;
mod install;
mod readme;
mod report_shot;
mod soak;
mod sweep;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "servebench development tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every CI step (what .ci/run does)
    Ci,
    /// Benchmark generate_sweep_configs against the Python original
    BenchMatrix(bench_matrix::Args),
    /// Differential testing of generate_sweep_configs (2026-08) against the Python original on random configs and flags
    DiffMatrix(diff_matrix::Args),
    /// Time random-prompt preparation with the real tokenizer (benchmark_serving --dry-run)
    BenchPrompts(bench_prompts::Args),
    /// Measure sim_server's own streaming ceiling in fast mode (one server thread)
    BenchSim(bench_sim::Args),
    /// Measure benchmark_serving against sim_server: ceiling, timing error, memory
    BenchClient(bench_client::Args),
    /// benchmark_serving next to vllm-bench (built from a scratch export) against the same sim_server: issue 18's table
    BenchPeers(bench_peers::Args),
    /// AgentX: corpus preparation next to upstream aiperf; agentic_replay's dispatch lag and CPU with 64 trees
    BenchAgentx(bench_agentx::Args),
    /// Time parsing large JSON objects (40k to 1M keys, ~100 MB) against Python's json.loads
    BenchJson(bench_json::Args),
    /// Run the whole benchmark on this machine (the simulator by default): matrix, servers, benchmarks, results, report
    Sweep(sweep::Args),
    /// Build the release binaries and copy every tool onto PATH (~/.cargo/bin by default)
    Install(install::Args),
    /// Run the README's shell examples as written, against the simulator they start
    Readme(readme::Args),
    /// Screenshot a sweep's report.html in headless Chromium; fail on console messages
    ReportShot(report_shot::Args),
    /// Run load_generator at a constant rate for minutes and watch its memory
    Soak(soak::Args),
    /// Random and adversarial input for the file tools, the spec parser, the SSE decoder and pyjson: panics, hangs, memory
    Fuzz(fuzz::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Ci => ci::run(),
        Task::BenchMatrix(args) => bench_matrix::run(&args),
        Task::DiffMatrix(args) => diff_matrix::run(&args),
        Task::BenchPrompts(args) => bench_prompts::run(&args),
        Task::BenchSim(args) => bench_sim::run(&args),
        Task::BenchClient(args) => bench_client::run(&args),
        Task::BenchPeers(args) => bench_peers::run(&args),
        Task::BenchAgentx(args) => bench_agentx::run(&args),
        Task::BenchJson(args) => bench_json::run(&args),
        Task::Sweep(args) => sweep::run(&args),
        Task::Install(args) => install::run(&args),
        Task::Readme(args) => readme::run(&args),
        Task::ReportShot(args) => report_shot::run(&args),
        Task::Soak(args) => soak::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
    }
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// The release build of every binary of the workspace, as `cargo build
/// --release` makes it (so `sweep`, `install` and the README's build share
/// one compiled copy), with cargo's own progress shown: on a fresh clone
/// it takes minutes. Returns `target/release`.
pub(crate) fn build_release_workspace() -> anyhow::Result<std::path::PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--workspace", "--bins"])
        .current_dir(&root)
        .status()
        .map_err(|e| anyhow::anyhow!("running cargo build: {e}"))?;
    if !status.success() {
        anyhow::bail!("building the release binaries failed");
    }
    Ok(root.join("target/release"))
}

/// Builds release binaries of these packages; returns `target/release`.
pub(crate) fn build_release(packages: &[&str]) -> anyhow::Result<std::path::PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--release", "--bins", "--quiet"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd
        .current_dir(&root)
        .status()
        .map_err(|e| anyhow::anyhow!("running cargo build: {e}"))?;
    if !status.success() {
        anyhow::bail!(
            "building the release binaries ({}) failed",
            packages.join(", ")
        );
    }
    Ok(root.join("target/release"))
}
