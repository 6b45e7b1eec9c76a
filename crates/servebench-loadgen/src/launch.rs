//! `load_generator`'s whole run as one call: the start-up checks (token,
//! exposure, data directory, results directory), the start-up spec, the
//! result store, then serving until shutdown and draining the active run.
//! Each check keeps the order and the message of the binary's original.

use crate::spec::{self, Policy, TargetPolicy, ValidSpec};
use crate::{api, store, ApiConfig, LoadgenError, Service, ServiceConfig, Store};
use std::ffi::OsString;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// Everything `load_generator` is told on its command line, as plain values
/// (the flags of the same names).
#[derive(Debug, Clone)]
pub struct Launch {
    /// Anything but loopback requires a token.
    pub host: IpAddr,
    pub port: u16,
    /// Result files; with `results_url`, where results go when uploads fail.
    pub results_dir: PathBuf,
    /// `s3://BUCKET[/PREFIX]`.
    pub results_url: Option<String>,
    /// Target patterns (empty: [`TargetPolicy::default`]).
    pub allow_target: Vec<String>,
    pub startup_spec: Option<PathBuf>,
    /// `--data-dir`, repeatable: where datasets and tokenizers are looked
    /// up, in this order.
    pub data_dirs: Vec<PathBuf>,
}

/// What the process gives the service: it reads neither the environment
/// nor the clock itself.
#[derive(Debug, Clone)]
pub struct Host {
    /// `LOADGEN_TOKEN`, as the environment holds it.
    pub token: Option<OsString>,
    /// Environment lookup (`OPENAI_API_KEY`, HF cache variables).
    pub env: fn(&str) -> Option<String>,
    /// The environment's variables, for the S3 store's `AWS_*` settings
    /// ([`s3_from_env`](crate::s3_from_env)).
    pub vars: Vec<(OsString, OsString)>,
    /// The local time, `YYYYmmdd-HHMMSS`.
    pub date: fn() -> String,
}

/// How long a stopped run may take to save its partial result at shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Launch {
    /// Checks, loads and builds everything (in the original's order), then
    /// serves until `shutdown` resolves, calling `listening` once bound;
    /// the start-up runs are queued first. At shutdown the active run is
    /// stopped and its partial result saved ([`Service::drain`]).
    pub fn run(
        self,
        host: Host,
        shutdown: impl Future<Output = ()>,
        listening: impl FnOnce(SocketAddr),
    ) -> Result<(), LoadgenError> {
        let token = token(host.token)?;
        if !self.host.is_loopback() && token.is_none() {
            return Err(LoadgenError::Exposed(self.host));
        }
        let targets = if self.allow_target.is_empty() {
            TargetPolicy::default()
        } else {
            TargetPolicy {
                patterns: self.allow_target,
            }
        };
        let policy = Policy {
            targets,
            data_dirs: self
                .data_dirs
                .iter()
                .map(|d| data_dir(d))
                .collect::<Result<_, _>>()?,
        };
        let staging_dir = self.results_dir.join(".staging");
        check_writable(&staging_dir)?;
        let max_connections = api::connection_limit();
        let startup = match &self.startup_spec {
            Some(path) => load_startup(path, &policy)?,
            None => Vec::new(),
        };
        let store = match &self.results_url {
            None => Store::Dir(self.results_dir.clone()),
            Some(url) => store::s3_from_env(url, &self.results_dir, &host.vars)?,
        };
        // Where results go: a directory or `s3://bucket/prefix` (no
        // credentials are part of either).
        let results = match &self.results_url {
            None => self.results_dir.display().to_string(),
            Some(url) => url.clone(),
        };
        let data_dirs = policy
            .data_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let service = Service::new(ServiceConfig {
            store,
            staging_dir,
            env: host.env,
            date: host.date,
            api_key: (host.env)("OPENAI_API_KEY"),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(LoadgenError::Runtime)?;
        let (ip, port) = (self.host, self.port);
        let served = runtime.block_on(async {
            let listener = (tokio::net::TcpListener::bind((ip, port)).await).map_err(|source| {
                LoadgenError::Bind {
                    host: ip,
                    port,
                    source,
                }
            })?;
            let addr = listener.local_addr().map_err(LoadgenError::LocalAddr)?;
            // A signal future installs its handlers when first polled: poll
            // it once before anyone can learn the address, or a SIGTERM sent
            // right after "listening" would kill the process unsaved.
            let mut shutdown = std::pin::pin!(shutdown);
            let signalled = tokio::select! {
                biased;
                () = &mut shutdown => true,
                () = std::future::ready(()) => false,
            };
            listening(addr);
            info!(
                results = %results,
                data_dirs = %if data_dirs.is_empty() { "-" } else { &data_dirs },
                "listening on http://{addr}"
            );
            tokio::spawn(Arc::clone(&service).executor());
            for s in startup {
                let _ = service.start(s);
            }
            let cfg = ApiConfig {
                policy,
                token,
                max_connections,
            };
            if !signalled {
                api::serve(listener, Arc::clone(&service), cfg, shutdown)
                    .await
                    .map_err(LoadgenError::Serve)?;
            }
            info!("shutting down: no new connections; the active run is stopped and the queue dropped");
            service.drain(DRAIN_TIMEOUT).await;
            info!("exiting");
            Ok(())
        });
        // A stopped run's prompt preparation may still be inside one long
        // tokenizer call on a blocking thread; dropping the runtime would wait
        // for it. Everything worth saving is saved by now.
        runtime.shutdown_timeout(Duration::from_secs(1));
        served
    }
}

/// Resolves on Ctrl-C or SIGTERM (Ctrl-C only where the SIGTERM handler
/// cannot be installed), logging which.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let signal = tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT (Ctrl-C)",
        () = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        } => "SIGTERM",
    };
    info!("received {signal}, shutting down");
}

/// The start-up spec's runs (a YAML list of `/start-load` bodies),
/// validated and marked to queue; an error names the run (from 1) and the
/// field.
pub fn load_startup(path: &Path, policy: &Policy) -> Result<Vec<ValidSpec>, LoadgenError> {
    let doc = servebench_yaml::load_file(path)?;
    let serde_json::Value::Array(items) = servebench_pyjson::to_serde_json(&doc) else {
        return Err(LoadgenError::StartupNotAList(path.to_owned()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let body = item.to_string();
            spec::parse(body.as_bytes())
                .and_then(|s| spec::validate(s, policy))
                .map(|mut v| {
                    v.spec.queue = true;
                    v
                })
                .map_err(|source| LoadgenError::StartupRun {
                    path: path.to_owned(),
                    index: i + 1,
                    source,
                })
        })
        .collect()
}

/// `LOADGEN_TOKEN`, if set: a value no `Authorization` header could carry
/// (blank, spaces around it, non-ASCII) would lock everyone out, or in.
fn token(value: Option<OsString>) -> Result<Option<String>, LoadgenError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value
        .into_string()
        .map_err(|_| LoadgenError::TokenNotUtf8)?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(LoadgenError::TokenNotVisible);
    }
    Ok(Some(value))
}

/// A data directory, canonical (links resolved), so that a file's
/// resolved path can be checked to lie inside it.
fn data_dir(d: &Path) -> Result<PathBuf, LoadgenError> {
    let canonical = d.canonicalize().map_err(|source| LoadgenError::DataDir {
        dir: d.to_owned(),
        source,
    })?;
    if !canonical.is_dir() {
        return Err(LoadgenError::DataDirNotDirectory(d.to_owned()));
    }
    Ok(canonical)
}

/// Checks at start that results can be written where they go (a run must
/// not find out after it finished).
fn check_writable(dir: &Path) -> Result<(), LoadgenError> {
    std::fs::create_dir_all(dir).map_err(|source| LoadgenError::ResultsDir {
        dir: dir.to_owned(),
        source,
    })?;
    let probe = dir.join(format!(".write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|source| LoadgenError::ResultsDirNotWritable {
        dir: dir.to_owned(),
        source,
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A signal future installs its handlers when first polled, so it must
    /// be polled before the address is announced: otherwise a SIGTERM sent
    /// on seeing "listening" meets no handler and kills the process.
    #[test]
    fn the_shutdown_future_is_polled_before_listening_is_announced() {
        let dir = std::env::temp_dir().join(format!("loadgen-launch-{}", std::process::id()));
        let polled = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&polled);
        let shutdown = std::future::poll_fn(move |_| {
            seen.store(true, Ordering::SeqCst);
            // Resolves at once: the service then shuts down without serving.
            std::task::Poll::Ready(())
        });
        let announced_after_poll = Arc::new(AtomicBool::new(false));
        let announced = Arc::clone(&announced_after_poll);
        let flag = Arc::clone(&polled);
        let launch = Launch {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            results_dir: dir.join("results"),
            results_url: None,
            allow_target: Vec::new(),
            startup_spec: None,
            data_dirs: Vec::new(),
        };
        let host = Host {
            token: None,
            env: |_| None,
            vars: Vec::new(),
            date: || "20260101-000000".to_owned(),
        };
        let result = launch.run(host, shutdown, move |_| {
            announced.store(flag.load(Ordering::SeqCst), Ordering::SeqCst);
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert!(result.is_ok(), "{result:?}");
        assert!(announced_after_poll.load(Ordering::SeqCst));
    }

    #[test]
    fn tokens_must_fit_a_bearer_header() {
        assert!(token(None).unwrap().is_none());
        assert_eq!(
            token(Some("s3cret".into())).unwrap().as_deref(),
            Some("s3cret")
        );
        for bad in ["", " s3cret", "a b", "café"] {
            assert!(
                matches!(token(Some(bad.into())), Err(LoadgenError::TokenNotVisible)),
                "{bad:?}"
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let raw = OsString::from_vec(b"\xff".to_vec());
            assert_eq!(
                token(Some(raw)).unwrap_err().to_string(),
                "LOADGEN_TOKEN is not valid UTF-8"
            );
        }
    }
}
