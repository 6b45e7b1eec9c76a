use std::path::PathBuf;

/// What can go wrong setting the simulator up (serving itself only fails
/// with an I/O error). Messages name the `sim_server` flag the value came
/// from, because that is where a user fixes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// [`ModelMode::speedup`](crate::ModelMode::speedup) is not a
    /// positive, finite number.
    #[error("--speedup must be a positive number, got {0}")]
    Speedup(f64),

    /// [`ModelMode::precision`](crate::ModelMode::precision) is not
    /// one [`Precision::parse`](crate::Precision::parse) knows.
    #[error("--precision {0} is not one of bf16, fp8, fp4")]
    Precision(String),

    /// The `--sim-config` file is missing, refused or not YAML.
    #[error(transparent)]
    Yaml(#[from] servebench_yaml::YamlError),

    /// The `--sim-config` document lacks the GPU or model, or a field is
    /// not a non-negative number.
    #[error("{}: {message}", path.display())]
    SimConfig { path: PathBuf, message: String },

    /// The weights leave no room for the KV cache.
    #[error("{model} at {precision} does not fit on {tp} x {gpu}: raise --tp")]
    DoesNotFit {
        model: String,
        precision: String,
        tp: u32,
        gpu: String,
    },

    /// The ground-truth file cannot be created.
    #[error("{}: {source}", path.display())]
    GroundTruth {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The `--gpu-metrics-csv` file cannot be created or written.
    #[error("{}: {source}", path.display())]
    GpuMetrics {
        path: PathBuf,
        source: std::io::Error,
    },

    /// `--clock-origin` is not a finite number.
    #[error("--clock-origin must be a finite number of unix seconds, got {0}")]
    ClockOrigin(f64),

    /// The power sampler thread panicked.
    #[error("the GPU metrics sampler stopped unexpectedly")]
    SamplerPanicked,

    /// The `--tokenizer` cannot be loaded.
    #[cfg(feature = "tokenizer")]
    #[error(transparent)]
    Tokenizer(#[from] servebench_prompts::PromptsError),

    /// The tokenizer has no token that stands alone as text.
    #[error("tokenizer {name}: no token decodes to clean text")]
    NoCleanTokens { name: String },

    /// A tokenizer was named but this build lacks the `tokenizer` feature.
    #[error("tokenizer {name}: this build of servebench-sim has no tokenizer support (the `tokenizer` feature)")]
    TokenizerNotBuilt { name: String },

    /// The async runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),

    /// `--ttft-ms` or `--itl-ms` (the flag's name, without dashes) is not a
    /// duration.
    #[error("--{flag} must be a non-negative number of milliseconds, got {ms}")]
    Millis { flag: &'static str, ms: f64 },

    /// `--kv-cache-tokens` is below one block or above
    /// [`MAX_KV_TOKENS`](crate::MAX_KV_TOKENS).
    #[error("--kv-cache-tokens must be between {min} and {max}, got {0}", min = crate::BLOCK_TOKENS, max = crate::MAX_KV_TOKENS)]
    KvCacheTokens(usize),

    #[error("--host {0} is not an IP address")]
    Host(String),

    #[error("cannot listen on {host}:{port}: {source}")]
    Listen {
        host: String,
        port: u16,
        source: std::io::Error,
    },

    /// A `--fault` (or `x-sim-fault` header) that is not one of the
    /// [`Fault`](crate::Fault) spellings.
    #[error("invalid fault {0:?} (status=CODE, cut=N, stall=N:MS, malformed=N, reset=N, slow-first-byte=MS)")]
    Fault(String),

    /// Reading the bound address or serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
