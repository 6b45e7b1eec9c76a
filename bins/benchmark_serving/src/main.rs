//! `benchmark_serving`: the serving benchmark, with the command line of
//! `utils/bench_serving/benchmark_serving.py`.
//!
//! `main` parses the flags, then either runs the `metrics` test command,
//! or checks the options' ranges (README "Limits"; a usage error, exit 2),
//! prepares the requests (exactly as the Python client would for the same
//! seed) and prints them (`--dry-run`) or runs the benchmark (`serve::main`
//! → `servebench_bench::run`: warmups, profile, run, report, self-audit,
//! save). SIGINT and SIGTERM interrupt any phase (`interrupt`).

use clap::{CommandFactory, Parser, Subcommand};
use servebench_bench::BenchConfig;
use servebench_prompts::limits::LimitError;
use servebench_prompts::{DatasetFlags, PrepareOptions};
use servebench_pyjson::{Dict, Value};
use servebench_results::serving::case::MetricsCase;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod interrupt;
mod serve;

type Prepared = servebench_prompts::Prepared;

#[derive(Parser)]
#[command(
    about = "Benchmark the online serving throughput",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Compute metrics, report and saved result from recorded outputs (case.json) and print them as JSON
    Metrics {
        /// The case file: requests, outputs, duration_s, metric options, optional save settings
        #[arg(long)]
        input: PathBuf,
    },
}

/// The Python client's options, same names and defaults.
#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, default_value = "vllm", value_parser = ["tgi", "vllm", "lmdeploy", "deepspeed-mii", "openai", "openai-chat", "tensorrt-llm", "scalellm", "sglang"])]
    backend: String,
    /// Server base URL (overrides --host/--port)
    #[arg(long)]
    base_url: Option<String>,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, allow_negative_numbers = true, default_value_t = 8000)]
    port: u16,
    #[arg(long, default_value = "/v1/completions")]
    endpoint: String,
    /// Dataset to sample prompts from: random, sharegpt, sonnet, custom
    #[arg(long, default_value = "sharegpt")]
    dataset_name: String,
    /// The dataset file (sharegpt JSON, sonnet text, custom JSONL)
    #[arg(long)]
    dataset_path: Option<String>,
    /// At most this many requests in flight
    #[arg(long, allow_negative_numbers = true)]
    max_concurrency: Option<i64>,
    /// Model name (required)
    #[arg(long)]
    model: Option<String>,
    /// Tokenizer: a tokenizer.json, a directory, or a model id in the HF cache (default: --model)
    #[arg(long)]
    tokenizer: Option<String>,
    #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
    best_of: i64,
    #[arg(long)]
    use_beam_search: bool,
    #[arg(long, allow_negative_numbers = true, default_value_t = 1000)]
    num_prompts: usize,
    #[arg(long, allow_negative_numbers = true)]
    logprobs: Option<i64>,
    /// Requests per second (inf: all at once)
    #[arg(long, allow_negative_numbers = true, default_value = "inf", value_parser = py_float)]
    request_rate: f64,
    /// Gamma shape of the arrival gaps (1 = Poisson)
    #[arg(long, allow_negative_numbers = true, default_value = "1.0", value_parser = py_float)]
    burstiness: f64,
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    seed: u32,
    #[arg(long)]
    trust_remote_code: bool,
    #[arg(long)]
    disable_tqdm: bool,
    #[arg(long)]
    profile: bool,
    #[arg(long)]
    save_result: bool,
    #[arg(long)]
    save_detailed: bool,
    #[arg(long, num_args = 0..)]
    metadata: Option<Vec<String>>,
    #[arg(long)]
    result_dir: Option<String>,
    #[arg(long)]
    result_filename: Option<String>,
    #[arg(long)]
    ignore_eos: bool,
    #[arg(long, default_value = "ttft,tpot,itl")]
    percentile_metrics: String,
    #[arg(long, default_value = "99")]
    metric_percentiles: String,
    #[arg(long, num_args = 1..)]
    goodput: Vec<String>,
    #[arg(long, allow_negative_numbers = true, default_value_t = 550)]
    sonnet_input_len: i64,
    #[arg(long, allow_negative_numbers = true, default_value_t = 150)]
    sonnet_output_len: i64,
    #[arg(long, allow_negative_numbers = true, default_value_t = 200)]
    sonnet_prefix_len: i64,
    #[arg(long, allow_negative_numbers = true)]
    sharegpt_output_len: Option<i64>,
    #[arg(long)]
    hf_subset: Option<String>,
    #[arg(long)]
    hf_split: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    hf_output_len: Option<i64>,
    #[arg(long, default_value_t = 1024, allow_negative_numbers = true)]
    random_input_len: i64,
    #[arg(long, default_value_t = 128, allow_negative_numbers = true)]
    random_output_len: i64,
    #[arg(long, allow_negative_numbers = true, default_value = "1.0", value_parser = py_float)]
    random_range_ratio: f64,
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    random_prefix_len: i64,
    #[arg(long)]
    use_chat_template: bool,
    #[arg(long, default_value = "auto", value_parser = ["auto", "slow", "mistral", "custom"])]
    tokenizer_mode: String,
    #[arg(long)]
    served_model_name: Option<String>,
    #[arg(long, num_args = 1..)]
    lora_modules: Vec<String>,
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    num_warmups: i64,
    /// Prepare the requests and arrival gaps, print one JSON object per request, and send nothing
    #[arg(long)]
    dry_run: bool,
    /// Open a new connection for every request, as the Python client does (default: keep-alive reuse)
    #[arg(long)]
    new_connection_per_request: bool,
    /// Seconds to wait for a TCP connection
    #[arg(long, default_value = "30", allow_negative_numbers = true, value_parser = positive_seconds)]
    connect_timeout: Duration,
    /// Seconds to wait for the response head or for the next bytes of a stream before failing the request
    #[arg(long, default_value = "600", allow_negative_numbers = true, value_parser = positive_seconds)]
    read_timeout: Duration,
    /// Write the client self-audit into the saved result (key client_audit)
    #[arg(long)]
    save_audit: bool,
    /// Exit non-zero (3) when the self-audit finds the run client-bound
    #[arg(long)]
    fail_if_client_bound: bool,
}

impl ServeArgs {
    /// The options as the original's `vars(args)`: its own options only, in
    /// argparse order, with Python's types (for the PyTorch-format records).
    fn python_vars(&self) -> Dict {
        let s = |v: &str| Value::Str(v.to_owned());
        let os = |v: &Option<String>| v.as_deref().map_or(Value::Null, s);
        let oi = |v: Option<i64>| v.map_or(Value::Null, |v| Value::Int(v.into()));
        let i = |v: i64| Value::Int(v.into());
        let list = |v: &[String]| Value::List(v.iter().map(|x| s(x)).collect());
        let ol = |v: &[String]| if v.is_empty() { Value::Null } else { list(v) };
        let mut d = Dict::new();
        d.insert("backend", s(&self.backend));
        d.insert("base_url", os(&self.base_url));
        d.insert("host", s(&self.host));
        d.insert("port", i(self.port.into()));
        d.insert("endpoint", s(&self.endpoint));
        d.insert("dataset_name", s(&self.dataset_name));
        d.insert("dataset_path", os(&self.dataset_path));
        d.insert("max_concurrency", oi(self.max_concurrency));
        d.insert("model", os(&self.model));
        d.insert("tokenizer", os(&self.tokenizer));
        d.insert("best_of", i(self.best_of));
        d.insert("use_beam_search", Value::Bool(self.use_beam_search));
        d.insert("num_prompts", Value::Int(self.num_prompts as i128));
        d.insert("logprobs", oi(self.logprobs));
        d.insert("request_rate", Value::Float(self.request_rate));
        d.insert("burstiness", Value::Float(self.burstiness));
        d.insert("seed", i(self.seed.into()));
        d.insert("trust_remote_code", Value::Bool(self.trust_remote_code));
        d.insert("disable_tqdm", Value::Bool(self.disable_tqdm));
        d.insert("profile", Value::Bool(self.profile));
        d.insert("save_result", Value::Bool(self.save_result));
        d.insert("save_detailed", Value::Bool(self.save_detailed));
        d.insert(
            "metadata",
            self.metadata.as_deref().map_or(Value::Null, list),
        );
        d.insert("result_dir", os(&self.result_dir));
        d.insert("result_filename", os(&self.result_filename));
        d.insert("ignore_eos", Value::Bool(self.ignore_eos));
        d.insert("percentile_metrics", s(&self.percentile_metrics));
        d.insert("metric_percentiles", s(&self.metric_percentiles));
        d.insert("goodput", ol(&self.goodput));
        d.insert("sonnet_input_len", i(self.sonnet_input_len));
        d.insert("sonnet_output_len", i(self.sonnet_output_len));
        d.insert("sonnet_prefix_len", i(self.sonnet_prefix_len));
        d.insert("sharegpt_output_len", oi(self.sharegpt_output_len));
        d.insert("random_input_len", i(self.random_input_len));
        d.insert("random_output_len", i(self.random_output_len));
        d.insert("random_range_ratio", Value::Float(self.random_range_ratio));
        d.insert("random_prefix_len", i(self.random_prefix_len));
        d.insert("use_chat_template", Value::Bool(self.use_chat_template));
        d.insert("hf_subset", os(&self.hf_subset));
        d.insert("hf_split", os(&self.hf_split));
        d.insert("hf_output_len", oi(self.hf_output_len));
        d.insert("tokenizer_mode", s(&self.tokenizer_mode));
        d.insert("served_model_name", os(&self.served_model_name));
        d.insert("lora_modules", ol(&self.lora_modules));
        d.insert("num_warmups", i(self.num_warmups));
        d
    }
}

/// More than 0 and less than 10^9 seconds (not NaN).
fn positive_seconds(s: &str) -> Result<Duration, String> {
    let v = py_float(s)?;
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero() && v < 1e9)
        .ok_or_else(|| format!("expected a positive number of seconds below 1e9, got '{s}'"))
}

/// Python `float()`, as argparse's `type=float` applies it.
fn py_float(s: &str) -> Result<f64, String> {
    servebench_pyjson::builtins::parse_float(s).ok_or_else(|| format!("invalid float value: '{s}'"))
}

fn dataset_flags(args: &ServeArgs) -> DatasetFlags {
    DatasetFlags {
        name: args.dataset_name.clone(),
        path: args.dataset_path.clone(),
        num_prompts: args.num_prompts,
        random_input_len: args.random_input_len,
        random_output_len: args.random_output_len,
        random_prefix_len: args.random_prefix_len,
        random_range_ratio: args.random_range_ratio,
        use_chat_template: args.use_chat_template,
        sharegpt_output_len: args.sharegpt_output_len,
        sonnet_input_len: args.sonnet_input_len,
        sonnet_output_len: args.sonnet_output_len,
        sonnet_prefix_len: args.sonnet_prefix_len,
        chat_backend: args.backend == "openai-chat",
    }
}

/// The options' ranges (README "Limits"), before the tokenizer is loaded
/// or anything is sampled, sized or timed. A burstiness of 0 or less is
/// left to the sampling, which fails with the original's message (exit 1).
fn check_limits(flags: &DatasetFlags, cfg: &BenchConfig) -> Result<(), LimitError> {
    flags.check_limits()?;
    // `int(len * ratio)` in the original: NaN and infinities fail there.
    if flags.name == "random" && !flags.random_range_ratio.is_finite() {
        return Err(LimitError::new(
            "random_range_ratio",
            format!(
                "must be a finite number, not {}",
                servebench_pyjson::float_repr(flags.random_range_ratio)
            ),
        ));
    }
    if cfg.burstiness > 0.0 {
        servebench_bench::check_limits(cfg)
    } else {
        servebench_bench::check_limits(&BenchConfig {
            burstiness: 1.0,
            ..cfg.clone()
        })
    }
}

/// Checks the limits, then prepares and sends (or prints) the requests.
fn serve(args: &ServeArgs, model: &str) -> Result<ExitCode, String> {
    let flags = dataset_flags(args);
    let cfg = serve::config(args, model);
    if let Err(e) = check_limits(&flags, &cfg) {
        Cli::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!("argument {}: {}", e.flag(), e.reason),
            )
            .exit();
    }
    let opts = PrepareOptions {
        dataset: flags.dataset().map_err(|e| e.to_string())?,
        seed: args.seed,
        request_rate: args.request_rate,
        burstiness: args.burstiness,
        lora_modules: args.lora_modules.clone(),
    };
    let tokenizer = args.tokenizer.as_deref().unwrap_or(model).to_owned();
    serve::main(args, &cfg, tokenizer, opts)
}

fn metrics(input: &Path) -> Result<String, String> {
    let value = servebench_results::io::read_json(input).map_err(|e| e.to_string())?;
    let outcome = MetricsCase::from_value(&value)
        .and_then(|c| c.run())
        .map_err(|e| e.to_string())?;
    if outcome.all_failed {
        let _ = writeln!(std::io::stderr(), "warning: All requests failed. This is likely due to a misconfiguration on the benchmark arguments.");
    }
    Ok(format!(
        "{}\n",
        servebench_pyjson::to_string(&outcome.document)
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Metrics { input }) => metrics(&input)
            .and_then(|text| {
                std::io::stdout()
                    .write_all(text.as_bytes())
                    .map_err(|e| format!("writing stdout: {e}"))
            })
            .map(|()| ExitCode::SUCCESS),
        None => {
            let Some(model) = cli.args.model.as_deref() else {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "the following arguments are required: --model",
                    )
                    .exit();
            };
            serve(&cli.args, model)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "benchmark_serving: error: {err}");
            ExitCode::FAILURE
        }
    }
}
