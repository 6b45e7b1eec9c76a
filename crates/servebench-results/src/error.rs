use std::path::PathBuf;

/// Errors of the result tools. Where the Python original crashes, the
/// message says what it would have choked on and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    #[error("Missing required environment variables: {}", .0.join(", "))]
    MissingEnv(Vec<String>),
    #[error("environment variable {name}={value:?} is not an integer")]
    EnvNotInt { name: String, value: String },
    /// An environment variable the edition's checks refuse (the original's
    /// `ValueError` text).
    #[error("{0}")]
    BadEnv(String),
    #[error("Disaggregated mode requires multinode setup.")]
    DisaggWithoutMultinode,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An input file refused or unreadable (see `servebench-files`).
    #[error(transparent)]
    Input(#[from] servebench_files::FilesError),
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: servebench_pyjson::PyjsonError,
    },
    #[error("{}: {message}", path.display())]
    BadResult { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Metrics(#[from] servebench_metrics::MetricsError),
}
