//! `load_generator`: the benchmark as a long-lived service. Binds
//! 127.0.0.1 unless told otherwise (elsewhere it requires `LOADGEN_TOKEN`),
//! runs the start-up spec's runs in order, then serves the API of
//! `servebench_loadgen::serve` until Ctrl-C or SIGTERM, when the active run is
//! stopped and its partial result saved.

use clap::Parser;
use servebench_cli::error_chain as chain;
use servebench_loadgen::{Host, Launch};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Benchmark service: start runs over HTTP (POST /start-load), watch /metrics, collect results",
    version
)]
struct Cli {
    /// Address to bind; anything but loopback requires LOADGEN_TOKEN
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port (0 picks a free one; the address is printed)
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Directory for finished runs' result files (<run-id>.json); with --results-url, where results go when uploads fail
    // The doc comment is the --help text: `<run-id>` is meant literally.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, default_value = "loadgen-results")]
    results_dir: PathBuf,
    /// Upload results to an S3-compatible bucket, s3://BUCKET[/PREFIX] (credentials and region from the AWS_* environment; AWS_ENDPOINT_URL for a non-AWS server)
    #[arg(long)]
    results_url: Option<String>,
    /// Target hosts runs may benchmark: patterns with * and an optional :port (default: 127.0.0.1 localhost ::1)
    #[arg(long = "allow-target", num_args = 1..)]
    allow_target: Vec<String>,
    /// YAML list of runs (the /start-load JSON bodies) to execute at start, in order
    #[arg(long)]
    startup_spec: Option<PathBuf>,
    /// A directory runs may read datasets and tokenizers from; repeat it for several (e.g. a datasets and a tokenizers volume). A relative dataset_path or tokenizer is looked up in each in order (the first that has it), an absolute one must lie inside one of them, both after following links; without any, runs can name no file
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Vec<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn local_date() -> String {
    chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()
}

/// The service's log: one line per event of a run's life (queued, started,
/// finished, stopped, failed) and of the service's (listening, shutdown),
/// on stderr; `RUST_LOG` filters it (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second subscriber cannot be set; the first one stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let launch = Launch {
        host: cli.host,
        port: cli.port,
        results_dir: cli.results_dir,
        results_url: cli.results_url,
        allow_target: cli.allow_target,
        startup_spec: cli.startup_spec,
        data_dirs: cli.data_dir,
    };
    let host = Host {
        token: std::env::var_os("LOADGEN_TOKEN"),
        env,
        vars: std::env::vars_os().collect(),
        date: local_date,
    };
    let listening = |addr| {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "load_generator listening on http://{addr}");
        let _ = out.flush();
    };
    match launch.run(host, servebench_loadgen::shutdown_signal(), listening) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "load_generator: error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
