use std::path::PathBuf;

/// Everything that can go wrong between reading the configs and printing the
/// matrix. Messages keep the gist of the Python original's exception text
/// (workflow logs get grepped for it) and add the file, config key and field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MatrixError {
    #[error("Input file '{}' does not exist.", .0.display())]
    ConfigFileMissing(PathBuf),

    #[error("Runner config file '{}' does not exist.", .0.display())]
    RunnerFileMissing(PathBuf),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A config file refused, unreadable or not valid YAML (a missing file
    /// is [`MatrixError::ConfigFileMissing`] or
    /// [`MatrixError::RunnerFileMissing`] instead).
    #[error(transparent)]
    Yaml(servebench_yaml::YamlError),

    #[error("Config file '{}' must contain a dictionary, got {found}", path.display())]
    ConfigNotMapping { path: PathBuf, found: &'static str },

    #[error("{}: Wildcard '*' is not allowed in master config keys: '{key}'", path.display())]
    WildcardKey { path: PathBuf, key: String },

    #[error("Duplicate configuration keys found in '{}': {}", path.display(), keys.join(", "))]
    DuplicateKeys { path: PathBuf, keys: Vec<String> },

    #[error(
        "{}: Master config entry '{key}' failed validation: {}",
        path.display(),
        issues.join("; ")
    )]
    InvalidEntry {
        path: PathBuf,
        key: String,
        /// `field.path: message`, in pydantic's order (fields as declared).
        issues: Vec<String>,
    },

    #[error("{}: {message}", path.display())]
    InvalidRunnerConfig { path: PathBuf, message: String },

    #[error("Invalid runner type(s): {{{}}}. Valid runner types are: {}", quoted(invalid), valid.join(", "))]
    InvalidRunnerTypes {
        invalid: Vec<String>,
        valid: Vec<String>,
    },

    #[error(
        "Runner '{runner}' does not exist in runner config '{}'. Must choose from existing runner types: '{}'.",
        path.display(),
        valid.join(", ")
    )]
    UnknownRunner {
        runner: String,
        path: PathBuf,
        valid: Vec<String>,
    },

    #[error("No runner nodes found matching filter '{filter}' for runner type '{runner}'.")]
    NoMatchingNodes { filter: String, runner: String },

    // The original puts the available keys on a second line; one line here.
    #[error("Config key(s) not found: {}. Available keys: {}", missing.join(", "), available.join(", "))]
    UnknownConfigKeys {
        missing: Vec<String>,
        available: Vec<String>,
    },

    /// A test-config glob (edition 2026-08) that matched no key. The
    /// original puts the available keys on a second line.
    #[error("Pattern '{pattern}' matched no config keys.\nAvailable keys: {}", available.join(", "))]
    PatternNoMatch {
        pattern: String,
        available: Vec<String>,
    },

    /// A usage error the original reports through argparse (exit status 2)
    /// before reading any file (edition 2026-08).
    #[error("{0}")]
    Usage(String),

    /// An input that passed validation but that the generator cannot expand,
    /// where the Python original crashes with a traceback (or never stops).
    #[error("{}: config '{key}': {message}", path.display())]
    Generation {
        path: PathBuf,
        key: String,
        message: String,
    },
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
