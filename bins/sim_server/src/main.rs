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
    /// Model mode: the simulated GPU (a key of gpus: in --sim-config, e.g. h100, mi355x)
    #[arg(long, requires = "sim_model")]
    gpu: Option<String>,
    /// Model mode: the simulated model (a key of models:, e.g. dense-8b, moe-671b)
    #[arg(long, requires = "gpu")]
    sim_model: Option<String>,
    /// Model mode: weight precision (bf16, fp8, fp4)
    #[arg(long, default_value = "bf16")]
    precision: String,
    /// Model mode: tensor parallelism
    #[arg(long, default_value_t = 1)]
    tp: u32,
    /// Model mode: run the simulated clock this many times faster
    #[arg(long, default_value_t = 1.0)]
    speedup: f64,
    /// Model mode: GPU, model and engine parameters
    #[arg(long, default_value = "configs/sim.yaml")]
    sim_config: std::path::PathBuf,
    /// Token text and prompt token counts from this tokenizer (a tokenizer.json, a directory,
    /// or a model id in the Hugging Face cache) instead of the built-in word list
    #[arg(long)]
    tokenizer: Option<String>,
    /// Write one JSON line per response to FILE: its arrival and when each token was written
    #[arg(long, value_name = "FILE")]
    ground_truth: Option<std::path::PathBuf>,
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

/// The simulated deployment, when --gpu/--sim-model ask for model mode.
fn deployment(cli: &Cli) -> Result<Option<(servebench_sim::model::Deployment, f64)>, String> {
    let (Some(gpu), Some(model)) = (&cli.gpu, &cli.sim_model) else {
        return Ok(None);
    };
    if !(cli.speedup.is_finite() && cli.speedup > 0.0) {
        return Err(format!(
            "--speedup must be a positive number, got {}",
            cli.speedup
        ));
    }
    let precision = servebench_sim::model::Precision::parse(&cli.precision)
        .ok_or_else(|| format!("--precision {} is not one of bf16, fp8, fp4", cli.precision))?;
    let path = &cli.sim_config;
    // The one YAML loader: regular files only, up to the config cap.
    let doc = servebench_yaml::load_file(path).map_err(|e| e.to_string())?;
    let d = servebench_sim::model::deployment(&doc, gpu, model, precision, cli.tp)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if d.kv_capacity_tokens() == 0 {
        return Err(format!(
            "{model} at {} does not fit on {} x {gpu}: raise --tp",
            cli.precision, cli.tp
        ));
    }
    Ok(Some((d, cli.speedup)))
}

/// A thread appending ground-truth lines to `path`; it flushes and ends
/// when the server drops its last sender.
type Truth = (
    tokio::sync::mpsc::UnboundedSender<servebench_sim::TokenLog>,
    std::thread::JoinHandle<()>,
);

fn ground_truth_writer(path: &std::path::Path) -> Result<Truth, String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<servebench_sim::TokenLog>();
    let shown = path.display().to_string();
    let handle = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::new(file);
        while let Some(log) = rx.blocking_recv() {
            if writeln!(out, "{}", log.json()).is_err() {
                let _ = writeln!(
                    std::io::stderr(),
                    "sim_server: error: writing {shown} failed; ground truth stops here"
                );
                return;
            }
        }
        let _ = out.flush();
    });
    Ok((tx, handle))
}

/// Text from a real tokenizer: prompts counted exactly; responses made of
/// tokens that decode to clean text on their own.
#[derive(Debug)]
struct TokenizerText {
    tokenizer: servebench_prompts::tokenizer::Tokenizer,
    pieces: Vec<String>,
}

impl servebench_sim::vocab::TextSource for TokenizerText {
    fn prompt_tokens(&self, text: &str) -> usize {
        self.tokenizer.encode(text).map_or_else(
            |_| servebench_sim::vocab::estimate_tokens(text),
            |ids| ids.len(),
        )
    }

    fn token(&self, seed: u64, k: usize) -> &str {
        let i = (seed as usize)
            .wrapping_mul(31)
            .wrapping_add(k.wrapping_mul(7919))
            % self.pieces.len().max(1);
        self.pieces.get(i).map_or(" ", String::as_str)
    }
}

fn text_source(
    tokenizer: Option<&str>,
) -> Result<std::sync::Arc<dyn servebench_sim::vocab::TextSource>, String> {
    let Some(name) = tokenizer else {
        return Ok(std::sync::Arc::new(servebench_sim::vocab::BuiltIn));
    };
    let env = |k: &str| std::env::var(k).ok();
    let tokenizer =
        servebench_prompts::tokenizer::Tokenizer::load(name, &env).map_err(|e| e.to_string())?;
    // Tokens whose text stands alone: valid UTF-8, no control characters.
    let pieces: Vec<String> = (0..tokenizer.vocab_size().min(50_000) as u32)
        .filter_map(|id| tokenizer.decode(&[id]).ok())
        .filter(|t| !t.is_empty() && !t.contains('\u{fffd}') && !t.chars().any(char::is_control))
        .collect();
    if pieces.is_empty() {
        return Err(format!("tokenizer {name}: no token decodes to clean text"));
    }
    Ok(std::sync::Arc::new(TokenizerText { tokenizer, pieces }))
}

async fn run(
    cli: Cli,
    ground_truth: Option<tokio::sync::mpsc::UnboundedSender<servebench_sim::TokenLog>>,
) -> Result<(), String> {
    let opts = SimOptions {
        model: cli.model.clone(),
        ttft: millis(cli.ttft_ms, "ttft-ms")?,
        itl: millis(cli.itl_ms, "itl-ms")?,
        fault: cli.fault,
        fault_every: cli.fault_every,
        deployment: deployment(&cli)?,
        ground_truth,
        text: text_source(cli.tokenizer.as_deref())?,
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
    let truth = match cli
        .ground_truth
        .as_deref()
        .map(ground_truth_writer)
        .transpose()
    {
        Ok(truth) => truth,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sim_server: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (sink, writer) = truth.map_or((None, None), |(tx, handle)| (Some(tx), Some(handle)));
    let result = runtime.block_on(run(cli, sink));
    // Dropping the runtime drops the last senders; then the writer flushes.
    drop(runtime);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sim_server: error: {e}");
            ExitCode::FAILURE
        }
    }
}
