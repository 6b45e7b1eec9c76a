//! `agentic_replay`: replays agentic-coding traces (AgentX) against an
//! OpenAI-compatible chat server, a drop-in for `aiperf profile --scenario
//! inferencex-agentx-mvp` (SPEC-agentx §3). Called as `agentic_replay
//! profile ...` or through a link named `aiperf` with the same argv.
//!
//! Thin: parse argv, read the environment once, hand both with the stop
//! signal (SIGINT/SIGTERM) and stderr to `servebench_agentx::session::run`
//! (traces, plan, prompts, replay with the server-metrics scraper, the
//! artifacts and the audit), print its summary on stdout.
//! Exit status: 0 ok; 1 an error, a warm-up failure or the live failure
//! threshold; 2 usage; 130 interrupted (the artifacts are still written).

use clap::Parser;
use servebench_agentx::options::ProfileOptions;
use servebench_agentx::session::{self, Ending};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

const INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Replay agentic-coding traces (AgentX) against an OpenAI-compatible chat server: a drop-in for `aiperf profile --scenario inferencex-agentx-mvp`",
    after_help = "Also callable through a link named `aiperf` with the same arguments.\n\
        Environment: AIPERF_HTTP_X_SESSION_ID_FROM_CORRELATION_ID, AIPERF_HTTP_X_SMG_ROUTING_KEY_FROM_CORRELATION_ID,\n\
        AIPERF_HTTP_X_DYNAMO_SESSION_ID_FROM_CORRELATION_ID, AIPERF_SERVER_METRICS_COLLECTION_INTERVAL,\n\
        AIPERF_LIVE_FAILED_REQUEST_THRESHOLD, HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE / HF_ENDPOINT / HF_TOKEN.\n\
        Exit status: 0 ok; 1 error, warm-up failure or failure threshold; 2 usage; 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the benchmark (the only subcommand).
    Profile(Box<ProfileOptions>),
}

fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

fn lossy(s: std::ffi::OsString) -> String {
    s.to_string_lossy().into_owned()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let Command::Profile(opts) = cli.command;
    let words: Vec<String> = std::env::args_os().map(lossy).collect();
    let name = (words.first().map(std::path::Path::new))
        .and_then(|p| p.file_name()?.to_str())
        .unwrap_or("agentic_replay");
    // The environment, read once: the library only looks names up here.
    let vars: HashMap<String, String> = std::env::vars_os()
        .map(|(k, v)| (lossy(k), lossy(v)))
        .collect();
    let env = |k: &str| vars.get(k).cloned();
    let report = match session::run(
        &opts,
        &env,
        &session::shell_join(&words),
        stop_signal(),
        &say,
    ) {
        Ok(r) => r,
        Err(e) => {
            say(&format!(
                "{name}: error: {}",
                servebench_cli::error_chain(&e)
            ));
            return ExitCode::FAILURE;
        }
    };
    let _ = servebench_cli::print(report.summary.as_bytes());
    match report.ending {
        Ending::Completed => ExitCode::SUCCESS,
        Ending::Failed(why) => {
            say(&format!("agentic_replay: error: {why}"));
            ExitCode::FAILURE
        }
        Ending::Interrupted => {
            say("agentic_replay: interrupted; the artifacts cover what ran");
            ExitCode::from(INTERRUPTED)
        }
    }
}

/// SIGINT or SIGTERM (polled inside the run's runtime); never, when the
/// handlers cannot be installed.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        },
        _ => std::future::pending().await,
    }
}
