//! `sim_server`: a simulated OpenAI-compatible inference server (vLLM wire
//! format) for running benchmarks without a GPU. Prints the address it
//! listens on, serves until Ctrl-C or SIGTERM, then drains open responses.

use clap::Parser;
use servebench_sim::{serve, SimOptions};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    about = "Simulated OpenAI-compatible inference server (vLLM wire format)",
    version
)]
struct Cli {
    /// Address to bind (use 0.0.0.0 to accept other hosts)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one; the address is printed)
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Served model name
    #[arg(long, default_value = "servebench-sim")]
    model: String,
    /// Fast mode: milliseconds to the first token
    #[arg(long, default_value_t = 50.0)]
    ttft_ms: f64,
    /// Fast mode: milliseconds between tokens (0 streams as fast as the socket allows)
    #[arg(long, default_value_t = 10.0)]
    itl_ms: f64,
    /// Inject a fault: status=CODE, cut=N, stall=N:MS, malformed=N, reset=N, slow-first-byte=MS
    /// (a request's x-sim-fault header overrides it)
    #[arg(long, value_parser = |s: &str| s.parse::<servebench_sim::fault::Fault>())]
    fault: Option<servebench_sim::fault::Fault>,
    /// Runtime worker threads (default: one per core)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Apply --fault to every N-th generation request
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    fault_every: u64,
}

fn millis(ms: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(ms / 1000.0)
        .map_err(|_| format!("--{flag} must be a non-negative number of milliseconds, got {ms}"))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(cli: Cli) -> Result<(), String> {
    let opts = SimOptions {
        model: cli.model,
        ttft: millis(cli.ttft_ms, "ttft-ms")?,
        itl: millis(cli.itl_ms, "itl-ms")?,
        fault: cli.fault,
        fault_every: cli.fault_every,
    };
    let ip: std::net::IpAddr = cli
        .host
        .parse()
        .map_err(|_| format!("--host {} is not an IP address", cli.host))?;
    let listener = servebench_sim::bind((ip, cli.port).into())
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", cli.host, cli.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "sim_server listening on http://{addr}").and_then(|()| stdout.flush());
    serve(listener, opts, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        builder.worker_threads(usize::from(threads));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "sim_server: error: cannot start the runtime: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sim_server: error: {e}");
            ExitCode::FAILURE
        }
    }
}
