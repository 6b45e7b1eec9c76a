use std::path::PathBuf;

/// Everything that stops `process_changelog`. Messages keep the text of the
/// Python original's exceptions (workflow logs get grepped for them) and add
/// what it left implicit (the git command, the entry number, the row).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangelogError {
    /// A ref that git would read as an option (`--output=...`).
    #[error("{flag} must not start with '-': {value:?}")]
    RefLooksLikeOption { flag: &'static str, value: String },

    /// `git` could not be started.
    #[error("cannot run git {args}: {source}")]
    GitSpawn {
        args: String,
        source: std::io::Error,
    },

    /// A `git` command that must succeed failed.
    #[error("git {args} failed ({status}): {stderr}")]
    GitFailed {
        args: String,
        status: String,
        stderr: String,
    },

    /// `git` printed something that is not UTF-8 text.
    #[error("git {args} printed text that is not UTF-8")]
    GitNotUtf8 { args: String },

    #[error("Deletions are not allowed in {path}. Only additions to the changelog are permitted. Found deleted line: {line}")]
    Deletion { path: String, line: String },

    #[error("No additions found in the changelog file.")]
    NoAdditions,

    #[error("No valid YAML entries found in the changelog additions.")]
    NoEntries,

    /// The added lines are not valid YAML.
    #[error("changelog additions: {0}")]
    Yaml(servebench_yaml::YamlError),

    /// The added YAML is not a list of entries.
    #[error("changelog additions must be a list of entries, got {found}")]
    NotAList { found: &'static str },

    /// An entry breaks the `ChangelogEntry` schema (1-based index among the
    /// added entries; each issue is `field: message`).
    #[error("changelog entry {index} failed validation: {}", issues.join("; "))]
    InvalidEntry { index: usize, issues: Vec<String> },

    #[error("append-only entries cannot share a sweep with regular changelog entries")]
    MixedAppendOnly,

    #[error("append-only sweeps cannot use all-evals or evals-only modifiers")]
    AppendOnlyWithModifiers,

    /// A master config file: missing, unreadable or not YAML.
    #[error(transparent)]
    ConfigFile(servebench_yaml::YamlError),

    #[error("Config file '{}' must contain a dictionary, got {found}", path.display())]
    ConfigNotMapping { path: PathBuf, found: &'static str },

    #[error(" Wildcard '*' is not allowed in master config keys: '{key}'")]
    WildcardKey { key: String },

    #[error("Duplicate configuration keys found in '{}': {}", path.display(), keys.join(", "))]
    DuplicateKeys { path: PathBuf, keys: Vec<String> },

    #[error("No config keys matched the wildcard pattern '{0}' in master configs.")]
    NoWildcardMatch(String),

    #[error("Config key '{0}' not found in master configs.")]
    KeyNotFound(String),

    #[error("append-only base revision is missing generation inputs: {}", py_list(.0))]
    BaseMissingInputs(Vec<String>),

    #[error("append-only requires every selected config to exist in the base revision; missing: {}", py_list(.0))]
    BaseMissingConfigs(Vec<String>),

    #[error("append-only PR changed configs not selected by its changelog entry: {}", py_list(.0))]
    UnselectedConfigsChanged(Vec<String>),

    #[error("append-only added or removed a scenario in config '{0}'")]
    ScenarioSetChanged(String),

    #[error("append-only changed config-wide fields that can affect scenarios outside its changelog scope: '{0}'")]
    TopLevelChanged(String),

    #[error(
        "append-only changed a scenario outside its changelog scope: '{config}' / '{scenario}'"
    )]
    UnselectedScenarioChanged { config: String, scenario: String },

    /// A master config entry whose shape the append-only checks cannot read
    /// (the generator's validation would reject it too).
    #[error("Master config entry '{key}' failed validation: {message}")]
    InvalidConfig { key: String, message: String },

    #[error("append-only requires an existing curve in the base revision")]
    NoBaseCurve,

    #[error("append-only may not remove or modify existing generated recipes")]
    RecipeRemoved,

    #[error("append-only may not remove existing concurrency points: [{}]", points.iter().map(i128::to_string).collect::<Vec<_>>().join(", "))]
    PointsRemoved { points: Vec<i128> },

    #[error("append-only did not add any generated points")]
    NoAddedPoints,

    #[error("append-only additions must belong to an existing visual curve with one unchanged non-null image")]
    NotOnVisualCurve,

    #[error("append-only matrix entry has invalid concurrency value: {0}")]
    InvalidConcurrency(String),

    /// The generator executable could not be started.
    #[error("cannot run {}: {source}", program.display())]
    GeneratorSpawn {
        program: PathBuf,
        source: std::io::Error,
    },

    /// The generator exited non-zero; `stderr` is what it said (the binary
    /// prints it on stdout, as the original does).
    #[error("{} {} failed ({status})", program.display(), args.join(" "))]
    GeneratorFailed {
        program: PathBuf,
        args: Vec<String>,
        status: String,
        stderr: String,
    },

    /// The generator's stdout is not a JSON list of rows.
    #[error("{} printed no matrix: {message}", program.display())]
    GeneratorOutput { program: PathBuf, message: String },

    /// Python raised a `TypeError` comparing values (`--trim-conc` on
    /// concurrencies that are not numbers).
    #[error("{0}")]
    Type(servebench_pyjson::PyjsonError),

    /// A row that the output model rejects.
    #[error("{section}[{index}] failed validation: {message}")]
    InvalidRow {
        section: String,
        index: usize,
        message: String,
    },

    /// The temporary directory for the base revision's inputs.
    #[error("temporary directory {}: {source}", path.display())]
    TempDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ChangelogError {
    /// What the failed generator printed on stderr, which the binary shows
    /// on stdout as the original does; `None` for every other error.
    pub fn generator_stderr(&self) -> Option<&str> {
        match self {
            ChangelogError::GeneratorFailed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// A Python list of strings as `repr` spells it: `['a', 'b']`.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}
