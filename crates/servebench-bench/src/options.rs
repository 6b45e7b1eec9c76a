//! [`BenchOptions`]: the options of one run as given, declared once for both
//! front ends. `benchmark_serving` parses them from its command line
//! (feature `clap`: the Python client's flags, defaults and help order);
//! the load generator from a JSON body or start-up spec (feature `serde`:
//! the same names in snake_case, the same defaults, unknown names refused).
//! Each front end then parses the values that need it (backend, metric
//! options, dataset) once, into a [`BenchConfig`](crate::BenchConfig).

use crate::{MAX_CONCURRENCY, MAX_WARMUPS};
use servebench_contract::Edition;
use servebench_metrics::{MetricsError, MetricsOptions};
use servebench_prompts::{
    check_burstiness, check_max_len, check_prompts, check_rate, check_total, require_path,
    resolve_workers, Dataset, LimitError, Padding, PrepareOptions, PromptsError, RandomOptions,
    SonnetOptions,
};
use servebench_pyjson::{Dict, Value};

/// benchmark_serving's options, with its names and defaults, plus the
/// load generator's `duration_s` and `queue`.
///
/// The load generator's fields come first, in the order its JSON echoes
/// them and its errors list them; the command line shows them in the
/// Python client's order (`display_order`, argparse's order). Options only
/// the command line has are skipped by serde (a body naming one is
/// refused), the load generator's own are skipped by clap.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields, default)
)]
pub struct BenchOptions {
    /// Server API: sets the request body and the URL path it must end with
    #[cfg_attr(feature = "clap", arg(long, display_order = 0, default_value = "vllm", value_parser = ["tgi", "vllm", "lmdeploy", "deepspeed-mii", "openai", "openai-chat", "tensorrt-llm", "scalellm", "sglang"]))]
    pub backend: String,
    /// Server base URL (overrides --host/--port)
    #[cfg_attr(feature = "clap", arg(long, display_order = 1))]
    pub base_url: Option<String>,
    /// Server host, when --base-url is not given
    #[cfg_attr(
        feature = "clap",
        arg(long, display_order = 2, default_value = "127.0.0.1")
    )]
    pub host: String,
    /// Server port, when --base-url is not given
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 3,
            allow_negative_numbers = true,
            default_value_t = 8000
        )
    )]
    pub port: u16,
    /// API path appended to the base URL
    #[cfg_attr(
        feature = "clap",
        arg(long, display_order = 4, default_value = "/v1/completions")
    )]
    pub endpoint: String,
    /// Model name (required)
    #[cfg_attr(feature = "clap", arg(long, display_order = 8))]
    pub model: Option<String>,
    /// Tokenizer: a tokenizer.json, a directory, or a model id in the HF cache (default: --model)
    #[cfg_attr(feature = "clap", arg(long, display_order = 9))]
    pub tokenizer: Option<String>,
    /// Model name sent in each request (default: --model)
    #[cfg_attr(feature = "clap", arg(long, display_order = 42))]
    pub served_model_name: Option<String>,
    /// Dataset to sample prompts from: random, sharegpt, sonnet, custom
    #[cfg_attr(
        feature = "clap",
        arg(long, display_order = 5, default_value = "sharegpt")
    )]
    pub dataset_name: String,
    /// The dataset file (sharegpt JSON, sonnet text, custom JSONL)
    #[cfg_attr(feature = "clap", arg(long, display_order = 6))]
    pub dataset_path: Option<String>,
    // usize on the command line (its error texts), u64 in JSON.
    /// Number of requests to send
    #[cfg_attr(feature = "clap", arg(long, display_order = 12, allow_negative_numbers = true, default_value_t = 1000, value_parser = parse_count))]
    pub num_prompts: u64,
    /// Requests per second (inf: all at once)
    // JSON: a number or "inf" (any other text is refused by validation).
    #[cfg_attr(feature = "clap", arg(long, display_order = 14, allow_negative_numbers = true, default_value = "inf", value_parser = py_float))]
    #[cfg_attr(feature = "serde", serde(with = "rate"))]
    pub request_rate: f64,
    /// Gamma shape of the arrival gaps (1 = Poisson)
    #[cfg_attr(feature = "clap", arg(long, display_order = 15, allow_negative_numbers = true, default_value = "1.0", value_parser = py_float))]
    pub burstiness: f64,
    /// At most this many requests in flight
    #[cfg_attr(
        feature = "clap",
        arg(long, display_order = 7, allow_negative_numbers = true)
    )]
    pub max_concurrency: Option<i64>,
    /// Seed of the prompt sampling, arrival gaps and LoRA choices
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 16,
            allow_negative_numbers = true,
            default_value_t = 0
        )
    )]
    pub seed: u32,
    // Negative means none on the command line; JSON takes a u64.
    /// Requests (copies of the first prompt) sent before the run, not measured
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 44,
            allow_negative_numbers = true,
            default_value_t = 0
        )
    )]
    #[cfg_attr(feature = "serde", serde(with = "unsigned"))]
    pub num_warmups: i64,
    /// best_of sent in each request
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 10,
            allow_negative_numbers = true,
            default_value_t = 1
        )
    )]
    pub best_of: i64,
    /// logprobs sent in each completions request
    #[cfg_attr(
        feature = "clap",
        arg(long, display_order = 13, allow_negative_numbers = true)
    )]
    pub logprobs: Option<i64>,
    /// Ask the server to ignore end-of-sequence and generate the full output length
    #[cfg_attr(feature = "clap", arg(long, display_order = 25))]
    pub ignore_eos: bool,
    /// POST /start_profile before the run and /stop_profile after it
    #[cfg_attr(feature = "clap", arg(long, display_order = 19))]
    pub profile: bool,
    /// Sonnet dataset: input tokens per request
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 29,
            allow_negative_numbers = true,
            default_value_t = 550
        )
    )]
    pub sonnet_input_len: i64,
    /// Sonnet dataset: output tokens per request
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 30,
            allow_negative_numbers = true,
            default_value_t = 150
        )
    )]
    pub sonnet_output_len: i64,
    /// Sonnet dataset: tokens of the prefix all prompts share
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 31,
            allow_negative_numbers = true,
            default_value_t = 200
        )
    )]
    pub sonnet_prefix_len: i64,
    /// ShareGPT dataset: output tokens per request (default: the conversation's answer)
    #[cfg_attr(
        feature = "clap",
        arg(long, display_order = 32, allow_negative_numbers = true)
    )]
    pub sharegpt_output_len: Option<i64>,
    /// Random dataset: input tokens per request
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 36,
            default_value_t = 1024,
            allow_negative_numbers = true
        )
    )]
    pub random_input_len: i64,
    /// Random dataset: output tokens per request
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 37,
            default_value_t = 128,
            allow_negative_numbers = true
        )
    )]
    pub random_output_len: i64,
    /// Random dataset: lengths are drawn from [len * ratio, len]
    #[cfg_attr(feature = "clap", arg(long, display_order = 38, allow_negative_numbers = true, default_value = "1.0", value_parser = py_float))]
    pub random_range_ratio: f64,
    /// Random dataset: tokens of the prefix all prompts share
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 39,
            allow_negative_numbers = true,
            default_value_t = 0
        )
    )]
    pub random_prefix_len: i64,
    /// Random dataset: wrap each prompt in the tokenizer's chat template
    #[cfg_attr(feature = "clap", arg(long, display_order = 40))]
    pub use_chat_template: bool,
    /// Random dataset: prompts are built in this many chunks, each padded from its own seed (0 or less: min(CPUs, 8); 1: one serial pass); 2026-08 only
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            display_order = 40,
            allow_negative_numbers = true,
            default_value_t = 0
        )
    )]
    pub random_num_workers: i64,
    /// Random dataset: wrap each prompt in the DeepSeek-V4 chat encoding instead of the tokenizer's template (needs --use-chat-template); 2026-08 only
    #[cfg_attr(feature = "clap", arg(long, display_order = 40))]
    pub dsv4: bool,
    // `None`: the edition's default (`BenchOptions::metric_selection`).
    /// Metrics to report percentiles of (comma-separated: ttft, tpot, itl, e2el; default ttft,tpot,itl,e2el, under 2026-02 ttft,tpot,itl)
    #[cfg_attr(feature = "clap", arg(long, display_order = 26))]
    pub percentile_metrics: Option<String>,
    /// Percentiles to report (comma-separated; default 90,99,99.9, under 2026-02 99)
    #[cfg_attr(feature = "clap", arg(long, display_order = 27))]
    pub metric_percentiles: Option<String>,
    /// Service-level objectives KEY:MS (ttft, tpot, e2el) for the goodput metric
    #[cfg_attr(feature = "clap", arg(long, display_order = 28, num_args = 1..))]
    pub goodput: Vec<String>,
    // `--metadata` alone is `[]`, its absence `None` (argparse's
    // `nargs="*"`); JSON takes a list, absent or not.
    /// KEY=VALUE pairs added to the saved result
    #[cfg_attr(feature = "clap", arg(long, display_order = 22, num_args = 0..))]
    #[cfg_attr(feature = "serde", serde(with = "list"))]
    pub metadata: Option<Vec<String>>,
    /// LoRA adapters: each request uses one, drawn at random, as its model
    #[cfg_attr(feature = "clap", arg(long, display_order = 43, num_args = 1..))]
    pub lora_modules: Vec<String>,
    /// With --save-result, also save each request (texts, TTFT, ITLs, errors)
    #[cfg_attr(feature = "clap", arg(long, display_order = 21))]
    pub save_detailed: bool,

    // The load generator's own.
    /// Stress mode: send the `num_prompts` prompts over and over at
    /// `request_rate` for this many seconds, with bounded memory.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub duration_s: Option<f64>,
    /// Wait behind a running run instead of being refused with 409.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub queue: bool,

    // The command line's own (accepted as the original accepts them; the
    // load generator always saves, to its own place).
    /// Accepted for compatibility; ignored
    #[cfg_attr(feature = "clap", arg(long, display_order = 11))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub use_beam_search: bool,
    /// Accepted for compatibility; ignored (tokenizers load no code)
    #[cfg_attr(feature = "clap", arg(long, display_order = 17))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub trust_remote_code: bool,
    /// Do not draw the progress bar (stderr)
    #[cfg_attr(feature = "clap", arg(long, display_order = 18))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub disable_tqdm: bool,
    /// Save the result as JSON (see --result-dir, --result-filename)
    #[cfg_attr(feature = "clap", arg(long, display_order = 20))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub save_result: bool,
    /// Directory of the saved result (default: the current directory)
    #[cfg_attr(feature = "clap", arg(long, display_order = 23))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub result_dir: Option<String>,
    /// File name of the saved result (default: BACKEND-RATEqps[-concurrencyN]-MODEL-DATE.json)
    #[cfg_attr(feature = "clap", arg(long, display_order = 24))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub result_filename: Option<String>,
    /// Accepted for compatibility; ignored
    #[cfg_attr(feature = "clap", arg(long, display_order = 33))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub hf_subset: Option<String>,
    /// Accepted for compatibility; ignored
    #[cfg_attr(feature = "clap", arg(long, display_order = 34))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub hf_split: Option<String>,
    /// Accepted for compatibility; ignored
    #[cfg_attr(
        feature = "clap",
        arg(long, display_order = 35, allow_negative_numbers = true)
    )]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub hf_output_len: Option<i64>,
    /// Accepted for compatibility; ignored (deepseek_v4, 2026-08 only: the same tokenizer.json loading)
    #[cfg_attr(feature = "clap", arg(long, display_order = 41, default_value = "auto", value_parser = ["auto", "slow", "mistral", "custom", "deepseek_v4"]))]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub tokenizer_mode: String,
}

/// The defaults (the command line's are the same, declared on each flag).
impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            backend: "vllm".into(),
            base_url: None,
            host: "127.0.0.1".into(),
            port: 8000,
            endpoint: "/v1/completions".into(),
            model: None,
            tokenizer: None,
            served_model_name: None,
            dataset_name: "sharegpt".into(),
            dataset_path: None,
            num_prompts: 1000,
            request_rate: f64::INFINITY,
            burstiness: 1.0,
            max_concurrency: None,
            seed: 0,
            num_warmups: 0,
            best_of: 1,
            logprobs: None,
            ignore_eos: false,
            profile: false,
            sonnet_input_len: 550,
            sonnet_output_len: 150,
            sonnet_prefix_len: 200,
            sharegpt_output_len: None,
            random_input_len: 1024,
            random_output_len: 128,
            random_range_ratio: 1.0,
            random_prefix_len: 0,
            use_chat_template: false,
            random_num_workers: 0,
            dsv4: false,
            percentile_metrics: None,
            metric_percentiles: None,
            goodput: Vec::new(),
            metadata: None,
            lora_modules: Vec::new(),
            save_detailed: false,
            duration_s: None,
            queue: false,
            use_beam_search: false,
            trust_remote_code: false,
            disable_tqdm: false,
            save_result: false,
            result_dir: None,
            result_filename: None,
            hf_subset: None,
            hf_split: None,
            hf_output_len: None,
            tokenizer_mode: "auto".into(),
        }
    }
}

impl BenchOptions {
    /// The dataset these options select, its file at `path` (the command
    /// line: `dataset_path` as given; the service: resolved in its data
    /// directory); a file dataset needs one. The edition picks where the
    /// random dataset's padding comes from; `cpu_count` (the machine's, as
    /// Python's `os.cpu_count()`) sizes `--random-num-workers 0`.
    pub fn dataset(
        &self,
        path: Option<&str>,
        edition: Edition,
        cpu_count: usize,
    ) -> Result<Dataset, PromptsError> {
        self.check_dataset_limits()?;
        let path = || require_path(&self.dataset_name, path);
        let num_prompts = usize::try_from(self.num_prompts).unwrap_or(usize::MAX);
        Ok(match self.dataset_name.as_str() {
            "random" => Dataset::Random(RandomOptions {
                input_len: self.random_input_len,
                output_len: self.random_output_len,
                prefix_len: self.random_prefix_len,
                num_prompts,
                range_ratio: self.random_range_ratio,
                use_chat_template: self.use_chat_template,
                dsv4: self.dsv4,
                padding: match edition {
                    Edition::E2026_02 => Padding::Global,
                    _ => Padding::Local {
                        workers: resolve_workers(self.random_num_workers, cpu_count),
                    },
                },
            }),
            "sharegpt" => Dataset::ShareGpt {
                path: path()?,
                num_prompts,
                output_len: self.sharegpt_output_len,
            },
            "sonnet" => Dataset::Sonnet {
                path: path()?,
                options: SonnetOptions {
                    input_len: self.sonnet_input_len,
                    output_len: self.sonnet_output_len,
                    prefix_len: self.sonnet_prefix_len,
                    num_prompts,
                    // The chat backend gets raw prompts.
                    chat_backend: self.backend == "openai-chat",
                },
            },
            "custom" => Dataset::Custom {
                path: path()?,
                num_prompts,
            },
            other => {
                return Err(PromptsError::Options(format!(
                    "Unknown dataset: {other} (choose from random, sharegpt, sonnet, custom)"
                )))
            }
        })
    }

    /// The dataset's counts and lengths within their ranges (`servebench_prompts`'
    /// `check_*`), before anything is sized from them.
    pub fn check_dataset_limits(&self) -> Result<(), LimitError> {
        let n = self.num_prompts;
        check_prompts("num_prompts", n)?;
        match self.dataset_name.as_str() {
            "random" => {
                check_max_len("random_input_len", self.random_input_len)?;
                check_max_len("random_output_len", self.random_output_len)?;
                check_max_len("random_prefix_len", self.random_prefix_len)?;
                let per_prompt = self
                    .random_input_len
                    .max(0)
                    .saturating_add(self.random_prefix_len.max(0));
                check_total("num_prompts", n, per_prompt)
            }
            "sonnet" => {
                check_max_len("sonnet_input_len", self.sonnet_input_len)?;
                check_max_len("sonnet_output_len", self.sonnet_output_len)?;
                check_max_len("sonnet_prefix_len", self.sonnet_prefix_len)?;
                check_total("num_prompts", n, self.sonnet_input_len.max(0))
            }
            "sharegpt" => self
                .sharegpt_output_len
                .map_or(Ok(()), |l| check_max_len("sharegpt_output_len", l)),
            _ => Ok(()),
        }
    }

    /// How the requests are prepared from `dataset` (these options'
    /// dataset, parsed).
    pub fn prepare_options(&self, dataset: Dataset) -> PrepareOptions {
        PrepareOptions {
            dataset,
            seed: self.seed,
            request_rate: self.request_rate,
            burstiness: self.burstiness,
            lora_modules: self.lora_modules.clone(),
        }
    }

    /// The ranges of the run's own options (see `servebench_prompts`'
    /// `check_*`; the dataset's are [`BenchOptions::check_dataset_limits`]).
    pub fn check_limits(&self) -> Result<(), LimitError> {
        // A negative count means no warm-ups, as the original's range() has it.
        if self.num_warmups > MAX_WARMUPS {
            return Err(LimitError::new(
                "num_warmups",
                format!("must be at most {MAX_WARMUPS}, not {}", self.num_warmups),
            ));
        }
        if let Some(c) = self.max_concurrency {
            if !(0..=MAX_CONCURRENCY).contains(&c) {
                return Err(LimitError::new(
                    "max_concurrency",
                    format!("must be between 0 (no limit) and {MAX_CONCURRENCY}, not {c}"),
                ));
            }
        }
        check_rate(self.request_rate)?;
        check_burstiness(self.burstiness)
    }

    /// `--percentile-metrics` and `--metric-percentiles`, the edition's
    /// defaults where not given: the one place those defaults are applied.
    pub fn metric_selection(&self, edition: Edition) -> (&str, &str) {
        let (metrics, percentiles) = MetricsOptions::default_selection(edition);
        (
            self.percentile_metrics.as_deref().unwrap_or(metrics),
            self.metric_percentiles.as_deref().unwrap_or(percentiles),
        )
    }

    /// The metric options, parsed with the edition's defaults.
    pub fn metrics_options(&self, edition: Edition) -> Result<MetricsOptions, MetricsError> {
        let (metrics, percentiles) = self.metric_selection(edition);
        MetricsOptions::parse(metrics, percentiles, &self.goodput)
    }

    /// Options `edition` does not have, given (2026-02 has no
    /// `--random-num-workers`, `--dsv4` or `--tokenizer-mode deepseek_v4`):
    /// the first one's flag and why.
    pub fn check_edition(&self, edition: Edition) -> Result<(), LimitError> {
        if edition != Edition::E2026_02 {
            return Ok(());
        }
        let not_in = |option| {
            Err(LimitError::new(
                option,
                "is not an option of contract edition 2026-02 (INFERENCEX_CONTRACT=2026-02); unset INFERENCEX_CONTRACT or set it to 2026-08",
            ))
        };
        if self.random_num_workers != 0 {
            return not_in("random_num_workers");
        }
        if self.dsv4 {
            return not_in("dsv4");
        }
        if self.tokenizer_mode == "deepseek_v4" {
            return Err(LimitError::new(
                "tokenizer_mode",
                "deepseek_v4 is not a choice of contract edition 2026-02 (INFERENCEX_CONTRACT=2026-02); unset INFERENCEX_CONTRACT or set it to 2026-08",
            ));
        }
        Ok(())
    }

    /// The options as the original's `vars(args)` in `edition`: its own
    /// options only, in its order, with Python's types and its defaults
    /// (the PyTorch-format records' `args`).
    pub fn python_vars(&self, edition: Edition) -> Dict {
        let (percentile_metrics, metric_percentiles) = self.metric_selection(edition);
        let s = |v: &str| Value::Str(v.to_owned());
        let os = |v: &Option<String>| v.as_deref().map_or(Value::Null, s);
        let oi = |v: Option<i64>| v.map_or(Value::Null, |v| Value::Int(v.into()));
        let i = |v: i64| Value::Int(v.into());
        let b = Value::Bool;
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
        d.insert("use_beam_search", b(self.use_beam_search));
        d.insert("num_prompts", Value::Int(self.num_prompts.into()));
        d.insert("logprobs", oi(self.logprobs));
        d.insert("request_rate", Value::Float(self.request_rate));
        d.insert("burstiness", Value::Float(self.burstiness));
        d.insert("seed", i(self.seed.into()));
        d.insert("trust_remote_code", b(self.trust_remote_code));
        d.insert("disable_tqdm", b(self.disable_tqdm));
        d.insert("profile", b(self.profile));
        d.insert("save_result", b(self.save_result));
        d.insert("save_detailed", b(self.save_detailed));
        d.insert(
            "metadata",
            self.metadata.as_deref().map_or(Value::Null, list),
        );
        d.insert("result_dir", os(&self.result_dir));
        d.insert("result_filename", os(&self.result_filename));
        d.insert("ignore_eos", b(self.ignore_eos));
        d.insert("percentile_metrics", s(percentile_metrics));
        d.insert("metric_percentiles", s(metric_percentiles));
        d.insert("goodput", ol(&self.goodput));
        d.insert("sonnet_input_len", i(self.sonnet_input_len));
        d.insert("sonnet_output_len", i(self.sonnet_output_len));
        d.insert("sonnet_prefix_len", i(self.sonnet_prefix_len));
        d.insert("sharegpt_output_len", oi(self.sharegpt_output_len));
        d.insert("random_input_len", i(self.random_input_len));
        d.insert("random_output_len", i(self.random_output_len));
        d.insert("random_range_ratio", Value::Float(self.random_range_ratio));
        d.insert("random_prefix_len", i(self.random_prefix_len));
        d.insert("use_chat_template", b(self.use_chat_template));
        if edition != Edition::E2026_02 {
            d.insert("random_num_workers", i(self.random_num_workers));
            d.insert("dsv4", b(self.dsv4));
        }
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

/// Python `float()`, as argparse's `type=float` applies it.
#[cfg(feature = "clap")]
pub fn py_float(s: &str) -> Result<f64, crate::BenchError> {
    servebench_pyjson::parse_float(s).ok_or_else(|| crate::BenchError::Float(s.to_owned()))
}

/// A count as the command line parses a `usize` (its error texts).
#[cfg(feature = "clap")]
fn parse_count(s: &str) -> Result<u64, std::num::ParseIntError> {
    s.parse::<usize>().map(|n| n as u64)
}

/// `request_rate` in JSON: a number, or `"inf"`. Any other text reads as
/// NaN, which validation refuses as it refuses a rate of 0; what is not a
/// number or a text fails as the untagged enum `Rate` did.
#[cfg(feature = "serde")]
mod rate {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize, Serialize)]
    #[serde(untagged)]
    enum Rate {
        Number(f64),
        Text(String),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(match Rate::deserialize(d)? {
            Rate::Number(r) => r,
            Rate::Text(t) if t == "inf" => f64::INFINITY,
            Rate::Text(_) => f64::NAN,
        })
    }

    pub(crate) fn serialize<S: Serializer>(rate: &f64, s: S) -> Result<S::Ok, S::Error> {
        if rate.is_infinite() {
            Rate::Text("inf".into()).serialize(s)
        } else {
            Rate::Number(*rate).serialize(s)
        }
    }
}

/// A count JSON gives as a `u64` (a negative one is refused there);
/// beyond `i64::MAX` it saturates, and the limits refuse it.
#[cfg(feature = "serde")]
mod unsigned {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        u64::deserialize(d).map(|n| i64::try_from(n).unwrap_or(i64::MAX))
    }

    pub(crate) fn serialize<S: Serializer>(n: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*n)
    }
}

/// A list JSON always has (`[]` when absent).
#[cfg(feature = "serde")]
mod list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<String>>, D::Error> {
        Vec::<String>::deserialize(d).map(Some)
    }

    pub(crate) fn serialize<S: Serializer>(
        v: &Option<Vec<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_deref().unwrap_or_default().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vars(args)` of the original for `--model m`: its options, its
    /// order, Python's types.
    #[test]
    fn python_vars_are_the_originals() {
        let options = BenchOptions {
            model: Some("m".into()),
            ..BenchOptions::default()
        };
        let vars =
            servebench_pyjson::to_string(&Value::Dict(options.python_vars(Edition::E2026_02)));
        assert_eq!(
            vars,
            "{\"backend\": \"vllm\", \"base_url\": null, \"host\": \"127.0.0.1\", \"port\": 8000, \
             \"endpoint\": \"/v1/completions\", \"dataset_name\": \"sharegpt\", \"dataset_path\": null, \
             \"max_concurrency\": null, \"model\": \"m\", \"tokenizer\": null, \"best_of\": 1, \
             \"use_beam_search\": false, \"num_prompts\": 1000, \"logprobs\": null, \
             \"request_rate\": Infinity, \"burstiness\": 1.0, \"seed\": 0, \"trust_remote_code\": false, \
             \"disable_tqdm\": false, \"profile\": false, \"save_result\": false, \"save_detailed\": false, \
             \"metadata\": null, \"result_dir\": null, \"result_filename\": null, \"ignore_eos\": false, \
             \"percentile_metrics\": \"ttft,tpot,itl\", \"metric_percentiles\": \"99\", \"goodput\": null, \
             \"sonnet_input_len\": 550, \"sonnet_output_len\": 150, \"sonnet_prefix_len\": 200, \
             \"sharegpt_output_len\": null, \"random_input_len\": 1024, \"random_output_len\": 128, \
             \"random_range_ratio\": 1.0, \"random_prefix_len\": 0, \"use_chat_template\": false, \
             \"hf_subset\": null, \"hf_split\": null, \"hf_output_len\": null, \"tokenizer_mode\": \"auto\", \
             \"served_model_name\": null, \"lora_modules\": null, \"num_warmups\": 0}"
        );
        let given = BenchOptions {
            metadata: Some(Vec::new()),
            goodput: vec!["ttft:5".into()],
            ..options
        };
        let vars = given.python_vars(Edition::E2026_02);
        assert_eq!(vars.get("metadata"), Some(&Value::List(Vec::new())));
        assert_eq!(
            vars.get("goodput"),
            Some(&Value::List(vec!["ttft:5".into()]))
        );
    }

    #[test]
    fn dataset_and_preparation_come_from_the_options() {
        let options = BenchOptions {
            backend: "openai-chat".into(),
            dataset_name: "random".into(),
            num_prompts: 7,
            seed: 3,
            ..BenchOptions::default()
        };
        let dataset = options.dataset(None, Edition::E2026_02, 1).unwrap();
        let Dataset::Random(random) = &dataset else {
            panic!("{dataset:?}")
        };
        assert_eq!(random.num_prompts, 7);
        let sonnet = BenchOptions {
            dataset_name: "sonnet".into(),
            ..options.clone()
        };
        let e = sonnet.dataset(None, Edition::E2026_02, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--dataset-path is required for --dataset-name sonnet"
        );
        let Ok(Dataset::Sonnet { options: s, .. }) =
            sonnet.dataset(Some("x"), Edition::E2026_02, 1)
        else {
            panic!("a sonnet dataset")
        };
        assert!(s.chat_backend);
        let too_many = BenchOptions {
            num_prompts: u64::MAX,
            ..options.clone()
        };
        assert_eq!(
            too_many.check_dataset_limits().map_err(|e| e.option),
            Err("num_prompts")
        );
        let prepare = options.prepare_options(dataset);
        assert_eq!(prepare.seed, 3);
        assert_eq!(prepare.request_rate, f64::INFINITY);
    }
}
