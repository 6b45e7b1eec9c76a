//! Benchmark prompts: a dataset choice in, requests `(prompt, prompt_len,
//! output_len)` and arrival gaps out — for a given seed, exactly those the
//! Python client produces.
//!
//! This crate owns tokenizer loading ([`Tokenizer`]), numpy's legacy random
//! stream ([`RandomState`]) and Python's ([`PyRandom`]), the datasets
//! ([`Dataset`], [`prepare`]), the options' ranges ([`LimitError`] and the
//! `check_*` functions), the length-statistics block and the arrival
//! process ([`arrival_gaps`]). Everything that goes wrong is a
//! [`PromptsError`]. It does not own sending requests or timing them.
//!
//! ```
//! use servebench_prompts::{arrival_gaps, RandomState};
//!
//! let mut rng = RandomState::new(0);
//! let gaps = arrival_gaps(&mut rng, 3, 10.0, 1.0)?;
//! assert_eq!(gaps.len(), 3);
//! assert!(gaps.iter().all(|g| g.is_some_and(|s| s >= 0.0)));
//! assert_eq!(arrival_gaps(&mut rng, 2, f64::INFINITY, 1.0)?, [None, None]);
//! # Ok::<(), servebench_prompts::PromptsError>(())
//! ```

#![warn(unreachable_pub)]

mod bpe;
mod chat;
mod datasets;
mod fast_encode;
mod hub;
mod incremental;
mod limits;
mod mt;
mod pyrandom;
mod random;
mod rng;
mod tokenizer;
mod tokenizer_json;

pub use datasets::{
    custom as sample_custom, require_path, sharegpt as sample_sharegpt, sonnet as sample_sonnet,
    SonnetOptions,
};
pub use limits::{
    check_burstiness, check_len, check_max_len, check_prompts, check_rate, check_total, LimitError,
    BURSTINESS, MAX_LEN, MAX_PROMPTS, MAX_REQUEST_RATE, MAX_TOTAL_TOKENS, MIN_REQUEST_RATE,
};
pub use pyrandom::PyRandom;
pub use random::{
    chunk_count, dsv4_prompt, resolve_workers, sample as sample_random,
    sample_direct as sample_random_direct, Padding, RandomOptions, DSV4_NEEDS_CHAT,
};
pub use rng::RandomState;
pub use tokenizer::Tokenizer;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptsError {
    #[error("{}: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    #[error(
        "tokenizer '{name}' is neither a file, a directory, nor a model in the Hugging Face cache ({})",
        cache.display()
    )]
    TokenizerNotFound { name: String, cache: PathBuf },
    #[error("Hugging Face Hub, model '{model}': {message}")]
    Hub { model: String, message: String },
    #[error("{}: {message}", path.display())]
    Dataset { path: PathBuf, message: String },
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("cancelled")]
    Cancelled,
}

/// Downloads `file` of the Hugging Face dataset `repo_id` (`ORG/NAME`,
/// revision `main`) from `HF_ENDPOINT` (default the Hub) with `HF_TOKEN`
/// into the hub cache directory `cache`
/// (`datasets--ORG--NAME/snapshots/{commit}/{file}`) and returns the file's
/// path. The caller checks `HF_HUB_OFFLINE` and the cache first.
pub fn download_dataset_file(
    repo_id: &str,
    file: &str,
    cache: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, PromptsError> {
    hub::Hub {
        endpoint: env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".to_owned()),
        token: env("HF_TOKEN").filter(|t| !t.is_empty()),
        cache: cache.to_owned(),
    }
    .download_dataset_file(repo_id, file)
}

/// One request of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledRequest {
    pub prompt: String,
    /// Tokens of the final prompt (chat template included).
    pub prompt_len: usize,
    pub output_len: i64,
    /// The length the dataset aimed for (prefix + input length).
    pub target_len: usize,
}

/// The gap after each request: `gamma(burstiness, 1 / (rate·burstiness))`
/// from the same stream (exponential when burstiness is 1), `None` for an
/// infinite rate, as the original's `get_request` draws them.
pub fn arrival_gaps(
    rng: &mut crate::rng::RandomState,
    n: usize,
    rate: f64,
    burstiness: f64,
) -> Result<Vec<Option<f64>>, PromptsError> {
    if burstiness.is_nan() || burstiness <= 0.0 {
        return Err(PromptsError::Options(format!(
            "A positive burstiness factor is expected, but given {}.",
            servebench_pyjson::float_repr(burstiness)
        )));
    }
    // Beyond these the gaps overflow any clock (1e-300 requests/s).
    limits::check_burstiness(burstiness)?;
    limits::check_rate(rate)?;
    if rate == f64::INFINITY {
        return Ok(vec![None; n]);
    }
    let theta = 1.0 / (rate * burstiness);
    Ok((0..n).map(|_| Some(rng.gamma(burstiness, theta))).collect())
}

/// The statistics block the original prints after sampling.
pub fn length_statistics(requests: &[SampledRequest]) -> Result<String, PromptsError> {
    if requests.is_empty() {
        return Err(PromptsError::Options(
            "no requests were sampled (--num-prompts 0)".into(),
        ));
    }
    let mean = servebench_metrics::mean;
    let inputs: Vec<f64> = requests.iter().map(|r| r.prompt_len as f64).collect();
    let outputs: Vec<f64> = requests.iter().map(|r| r.output_len as f64).collect();
    let mismatch: Vec<f64> = requests
        .iter()
        .map(|r| r.prompt_len as f64 - r.target_len as f64)
        .collect();
    let (imin, imax) = (
        requests.iter().map(|r| r.prompt_len).min().unwrap_or(0),
        requests.iter().map(|r| r.prompt_len).max().unwrap_or(0),
    );
    let (omin, omax) = (
        requests.iter().map(|r| r.output_len).min().unwrap_or(0),
        requests.iter().map(|r| r.output_len).max().unwrap_or(0),
    );
    let header = format!(
        "{}  Input/Output Length Statistics  {}",
        "-".repeat(19),
        "-".repeat(19)
    );
    Ok(format!(
        "{header}\n input_lens : min={imin:<4}  max={imax:<4}  mean={:<7.2}  avg_token_mismatch={:<5.2} \n output_lens: min={omin:<4}  max={omax:<4}  mean={:<7.2} \n{} \n\n",
        mean(&inputs),
        mean(&mismatch),
        mean(&outputs),
        "-".repeat(header.chars().count())
    ))
}

/// Which dataset to sample, with its options.
#[derive(Debug, Clone, PartialEq)]
pub enum Dataset {
    Random(random::RandomOptions),
    ShareGpt {
        path: PathBuf,
        num_prompts: usize,
        output_len: Option<i64>,
    },
    Sonnet {
        path: PathBuf,
        options: datasets::SonnetOptions,
    },
    Custom {
        path: PathBuf,
        num_prompts: usize,
    },
}

/// Everything needed to prepare a run's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareOptions {
    pub dataset: Dataset,
    /// `np.random.seed(seed)`.
    pub seed: u32,
    pub request_rate: f64,
    pub burstiness: f64,
    /// `--lora-modules`: each request gets `random.choice` of these.
    pub lora_modules: Vec<String>,
}

/// Requests, the gap after each, and the statistics text the original
/// prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub requests: Vec<SampledRequest>,
    pub gaps: Vec<Option<f64>>,
    pub statistics: String,
    /// Each request's LoRA module (empty without `--lora-modules`).
    pub lora: Vec<String>,
}

/// Samples the dataset, then draws the arrival gaps from the same stream,
/// in the order the original draws them.
pub fn prepare(
    tok: &tokenizer::Tokenizer,
    opts: &PrepareOptions,
) -> Result<Prepared, PromptsError> {
    prepare_cancellable(tok, opts, &std::sync::atomic::AtomicBool::new(false))
}

/// [`prepare`], giving up with [`PromptsError::Cancelled`] soon after
/// `cancel` is set (the random dataset checks before each prompt; the file
/// datasets, bounded by their file, before drawing the arrival gaps).
pub fn prepare_cancellable(
    tok: &tokenizer::Tokenizer,
    opts: &PrepareOptions,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Prepared, PromptsError> {
    // The original seeds both numpy's and Python's generators with --seed.
    let mut rng = rng::RandomState::new(opts.seed);
    let mut py = pyrandom::PyRandom::new(opts.seed.into());
    let mut generation_lines = String::new();
    let requests = match &opts.dataset {
        Dataset::Random(r) => {
            let began = std::time::Instant::now();
            let requests = random::sample_cancellable(tok, &mut rng, r, cancel)?;
            // The original's parallel path announces itself (before the
            // statistics block).
            if let Padding::Local { workers } = r.padding {
                if workers > 1 {
                    generation_lines = format!(
                        "Generating {} prompts using {} worker processes...\nPrompt generation completed in {:.1}s\n",
                        r.num_prompts,
                        chunk_count(r.num_prompts, workers),
                        began.elapsed().as_secs_f64()
                    );
                }
            }
            requests
        }
        Dataset::ShareGpt {
            path,
            num_prompts,
            output_len,
        } => datasets::sharegpt(tok, &mut py, path, *num_prompts, *output_len)?,
        Dataset::Sonnet { path, options } => datasets::sonnet(tok, &mut py, path, options)?,
        Dataset::Custom { path, num_prompts } => {
            datasets::custom(tok, &mut py, path, *num_prompts)?
        }
    };
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(PromptsError::Cancelled);
    }
    let statistics = generation_lines + &length_statistics(&requests)?;
    let gaps = arrival_gaps(&mut rng, requests.len(), opts.request_rate, opts.burstiness)?;
    // Drawn from Python's `random` after the dataset sampled from it.
    let lora = if opts.lora_modules.is_empty() {
        Vec::new()
    } else {
        (0..requests.len())
            .filter_map(|_| py.choice(&opts.lora_modules).cloned())
            .collect()
    };
    Ok(Prepared {
        requests,
        gaps,
        statistics,
        lora,
    })
}
