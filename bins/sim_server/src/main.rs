//! `sim_server`: a simulated OpenAI-compatible inference server (vLLM wire
//! format) for running benchmarks without a GPU. States its KV cache size
//! in vLLM's words on stderr (InferenceX reads it from `server.log`), prints
//! the address it listens on, serves until Ctrl-C or SIGTERM, then drains
//! open responses.

use clap::Parser;
use servebench_cli::error_chain as chain;
use servebench_sim::{Launch, ModelMode, Report};
use std::io::Write;
use std::process::ExitCode;

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
    #[arg(long, value_parser = |s: &str| s.parse::<servebench_sim::Fault>())]
    fault: Option<servebench_sim::Fault>,
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
    /// Model mode: write the simulated GPUs' power draw to FILE as nvidia-smi's CSV
    /// (timestamp, index, power.draw [W], ...), one sample per GPU every 100 ms of simulated time
    // The doc comment is the --help text: `[W]` is meant literally.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "FILE", requires = "gpu")]
    gpu_metrics_csv: Option<std::path::PathBuf>,
    /// Timestamps in --gpu-metrics-csv are simulated time: ORIGIN + (wall - ORIGIN) x --speedup,
    /// ORIGIN in unix seconds (default: the server's start)
    #[arg(long, value_name = "ORIGIN", requires = "gpu_metrics_csv")]
    clock_origin: Option<f64>,
    /// Runtime worker threads (default: one per core)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Tokens the KV cache holds: the prefix cache's size (blocks of 16 tokens, LRU eviction) and,
    /// in model mode, admission [default: 1048576 in fast mode; in model mode
    /// (tp x memory_gb x gpu_memory_utilization - weights) / kv_bytes_per_token]
    #[arg(long, value_name = "N")]
    kv_cache_tokens: Option<usize>,
    /// Apply --fault to every N-th generation request
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    fault_every: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let launch = Launch {
        model_mode: cli.gpu.zip(cli.sim_model).map(|(gpu, model)| ModelMode {
            sim_config: cli.sim_config,
            gpu,
            model,
            precision: cli.precision,
            tp: cli.tp,
            speedup: cli.speedup,
        }),
        host: cli.host,
        port: cli.port,
        model: cli.model,
        ttft_ms: cli.ttft_ms,
        itl_ms: cli.itl_ms,
        fault: cli.fault,
        fault_every: cli.fault_every,
        tokenizer: cli.tokenizer,
        ground_truth: cli.ground_truth,
        threads: cli.threads,
        gpu_metrics_csv: cli.gpu_metrics_csv,
        clock_origin: cli.clock_origin,
        kv_cache_tokens: cli.kv_cache_tokens,
    };
    let report = Report {
        // vLLM's wording on stderr (stdout's first line is the address).
        kv_cache: |tokens| {
            let line = servebench_sim::kv_cache_size_line(tokens);
            let _ = writeln!(std::io::stderr(), "sim_server: {line}");
        },
        listening: |addr| {
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "sim_server listening on http://{addr}")
                .and_then(|()| stdout.flush());
        },
        ground_truth_failed: |path: &std::path::Path| {
            let path = path.display();
            let line = format!("writing {path} failed; ground truth stops here");
            let _ = writeln!(std::io::stderr(), "sim_server: error: {line}");
        },
    };
    let env = |k: &str| std::env::var(k).ok();
    match launch.run(&env, servebench_sim::shutdown_signal(), report) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sim_server: error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
