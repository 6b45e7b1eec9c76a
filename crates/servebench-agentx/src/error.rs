use std::path::PathBuf;

/// Everything that can go wrong in a replay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentxError {
    /// A trace file or record broke the schema (SPEC §1).
    #[error("{file}: trace {trace}: {message}")]
    Trace {
        file: PathBuf,
        /// The trace id, or `line N` when the id is not known yet.
        trace: String,
        message: String,
    },
    /// Reading or finding input (trace files, the Hugging Face cache).
    #[error("{0}")]
    Input(String),
    /// Building prompts (tokenizer, corpus).
    #[error("prompt synthesis: {0}")]
    Synth(String),
    /// A flag or a scenario rule (SPEC §2.1, §3.4).
    #[error("{0}")]
    Options(String),
    /// No usable trace for the replay (`EmptyTracePoolError`).
    #[error("no usable trace: {0}")]
    EmptyTracePool(String),
    /// The run itself failed (warm-up failure, failure threshold).
    #[error("{0}")]
    Run(String),
    /// Writing an artifact.
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error(transparent)]
    Client(#[from] servebench_client::ClientError),
    #[error(transparent)]
    Prompts(#[from] servebench_prompts::PromptsError),
    #[error(transparent)]
    Files(#[from] servebench_files::FilesError),
}
