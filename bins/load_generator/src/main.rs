//! `load_generator`: the benchmark as a long-lived service. Binds
//! 127.0.0.1 unless told otherwise (elsewhere it requires `LOADGEN_TOKEN`),
//! runs the start-up spec's runs in order, then serves the API of
//! `servebench_loadgen::api` until Ctrl-C or SIGTERM, when the active run is
//! stopped and its partial result saved.

use clap::Parser;
use servebench_loadgen::{
    api, spec, store, ApiConfig, Policy, Service, ServiceConfig, Store, TargetPolicy,
};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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
    /// The only directory runs may read datasets and tokenizers from (dataset_path and tokenizer are resolved inside it; without it, runs can name no file)
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn local_date() -> String {
    chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()
}

/// The start-up spec's runs, validated (an error names the run and field).
fn startup_runs(path: &Path, policy: &Policy) -> Result<Vec<spec::ValidSpec>, String> {
    let doc = servebench_yaml::load_file(path).map_err(|e| e.to_string())?;
    let serde_json::Value::Array(items) = servebench_pyjson::to_serde_json(&doc) else {
        return Err(format!("{}: expected a YAML list of runs", path.display()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let body = item.to_string();
            spec::parse(body.as_bytes())
                .and_then(|s| spec::validate(s, policy))
                .map(|mut v| {
                    v.spec.queue = true;
                    v
                })
                .map_err(|e| format!("{}: run {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The S3 store for `s3://bucket/prefix`, configured from the AWS_*
/// environment (keys, region, session token), plus AWS_ENDPOINT_URL.
fn bucket(url: &str, fallback: &Path) -> Result<Store, String> {
    let (name, prefix) = store::parse_s3_url(url)?;
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&name);
    if let Some(endpoint) = env("AWS_ENDPOINT_URL").filter(|e| !e.is_empty()) {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    let s3 = builder
        .build()
        .map_err(|e| format!("--results-url {url}: {e}"))?;
    Ok(Store::Bucket {
        store: Arc::new(s3),
        url: url.to_owned(),
        prefix,
        fallback: fallback.to_owned(),
        retry_delays: vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(4),
        ],
    })
}

/// `LOADGEN_TOKEN`, if set: a value no `Authorization` header could carry
/// (blank, spaces around it, non-ASCII) would lock everyone out, or in.
fn token(value: Option<std::ffi::OsString>) -> Result<Option<String>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value
        .into_string()
        .map_err(|_| "LOADGEN_TOKEN is not valid UTF-8".to_owned())?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("LOADGEN_TOKEN must be visible ASCII characters only (no spaces, not blank): a bearer token cannot carry anything else".into());
    }
    Ok(Some(value))
}

/// The data directory, canonical (links resolved), so that a file's
/// resolved path can be checked to lie inside it.
fn data_dir(dir: Option<&Path>) -> Result<Option<PathBuf>, String> {
    dir.map(|d| {
        let canonical = d
            .canonicalize()
            .map_err(|e| format!("--data-dir {}: {e}", d.display()))?;
        if !canonical.is_dir() {
            return Err(format!("--data-dir {}: not a directory", d.display()));
        }
        Ok(canonical)
    })
    .transpose()
}

/// Checks at start that results can be written where they go (a run must
/// not find out after it finished).
fn check_writable(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--results-dir {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| format!("--results-dir {}: not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    let token = token(std::env::var_os("LOADGEN_TOKEN"))?;
    if !cli.host.is_loopback() && token.is_none() {
        return Err(format!(
            "binding to {} exposes the API beyond this machine: set LOADGEN_TOKEN (a bearer token every mutating call must carry)",
            cli.host
        ));
    }
    let targets = if cli.allow_target.is_empty() {
        TargetPolicy::default()
    } else {
        TargetPolicy {
            patterns: cli.allow_target.clone(),
        }
    };
    let policy = Policy {
        targets,
        data_dir: data_dir(cli.data_dir.as_deref())?,
    };
    let staging_dir = cli.results_dir.join(".staging");
    check_writable(&staging_dir)?;
    let max_connections = api::connection_limit();
    let startup = match &cli.startup_spec {
        Some(path) => startup_runs(path, &policy)?,
        None => Vec::new(),
    };
    let store = match &cli.results_url {
        None => Store::Dir(cli.results_dir.clone()),
        Some(url) => bucket(url, &cli.results_dir)?,
    };
    let service = Service::new(ServiceConfig {
        store,
        staging_dir,
        env,
        date: local_date,
        api_key: env("OPENAI_API_KEY"),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((cli.host, cli.port))
            .await
            .map_err(|e| format!("binding {}:{}: {e}", cli.host, cli.port))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("reading the bound address: {e}"))?;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "load_generator listening on http://{addr}");
        let _ = out.flush();
        tokio::spawn(Arc::clone(&service).executor());
        for s in startup {
            let _ = service.start(s);
        }
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        let cfg = ApiConfig {
            policy,
            token,
            max_connections,
        };
        api::serve(listener, Arc::clone(&service), cfg, shutdown)
            .await
            .map_err(|e| format!("serving: {e}"))?;
        // Stop what runs; its partial result is saved before we exit.
        service.stop_all();
        for _ in 0..300 {
            if service.idle() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    });
    // A stopped run's prompt preparation may still be inside one long
    // tokenizer call on a blocking thread; dropping the runtime would wait
    // for it. Everything worth saving is saved by now.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "load_generator: error: {e}");
            ExitCode::FAILURE
        }
    }
}
