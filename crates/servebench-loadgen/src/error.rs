use crate::spec::FieldError;
use std::net::IpAddr;
use std::path::PathBuf;

/// Why the service could not start (or stopped serving), a specification
/// was refused, or a result could not be stored. Start-up messages name the
/// `load_generator` flag or variable to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadgenError {
    #[error("LOADGEN_TOKEN is not valid UTF-8")]
    TokenNotUtf8,
    #[error("LOADGEN_TOKEN must be visible ASCII characters only (no spaces, not blank): a bearer token cannot carry anything else")]
    TokenNotVisible,
    #[error("binding to {0} exposes the API beyond this machine: set LOADGEN_TOKEN (a bearer token every mutating call must carry)")]
    Exposed(IpAddr),
    #[error("--data-dir {}: {source}", dir.display())]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("--data-dir {}: not a directory", .0.display())]
    DataDirNotDirectory(PathBuf),
    #[error("--results-dir {}: {source}", dir.display())]
    ResultsDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("--results-dir {}: not writable: {source}", dir.display())]
    ResultsDirNotWritable {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The start-up spec is missing, refused or not YAML.
    #[error(transparent)]
    StartupYaml(#[from] servebench_yaml::YamlError),
    #[error("{}: expected a YAML list of runs", .0.display())]
    StartupNotAList(PathBuf),
    /// Run `index` (from 1) of the start-up spec is invalid.
    #[error("{}: run {index}: {source}", path.display())]
    StartupRun {
        path: PathBuf,
        index: usize,
        source: FieldError,
    },
    /// `--results-url` is not `s3://BUCKET[/PREFIX]`.
    #[error("{url}: {reason}")]
    ResultsUrl { url: String, reason: &'static str },
    #[error("--results-url {url}: {source}")]
    Bucket {
        url: String,
        source: object_store::Error,
    },
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("binding {host}:{port}: {source}")]
    Bind {
        host: IpAddr,
        port: u16,
        source: std::io::Error,
    },
    #[error("reading the bound address: {0}")]
    LocalAddr(std::io::Error),
    #[error("serving: {0}")]
    Serve(std::io::Error),
    /// A run specification was refused ([`crate::parse_spec`],
    /// [`crate::validate_spec`]).
    #[error(transparent)]
    Spec(#[from] FieldError),
    /// The result directory cannot be created ([`Store::put`](crate::Store::put)).
    #[error("creating {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The result file cannot be written.
    #[error("writing {0}")]
    Write(servebench_files::FilesError),
    /// The task writing the result failed.
    #[error("writing the result: {0}")]
    WriteTask(tokio::task::JoinError),
}
