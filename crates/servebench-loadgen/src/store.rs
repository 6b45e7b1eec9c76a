//! Where finished runs' result documents go: a directory, written
//! atomically ([`servebench_files::write_atomic`]: a temporary file renamed
//! into place, so a reader never sees half a result), or an S3-compatible
//! bucket through `object_store`. An upload is retried; if it still fails,
//! the result is kept on local disk and the failure is reported with the
//! run: no result is lost silently.

use crate::LoadgenError;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A result store.
#[derive(Debug, Clone)]
pub enum Store {
    Dir(PathBuf),
    Bucket {
        store: Arc<dyn ObjectStore>,
        /// `s3://bucket/prefix`, for locations and messages.
        url: String,
        /// Key prefix inside the bucket (may be empty).
        prefix: String,
        /// Where a result goes when the upload keeps failing.
        fallback: PathBuf,
        /// Waits between attempts (their count is attempts - 1).
        retry_delays: Vec<Duration>,
    },
}

/// Where a result ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub location: String,
    /// Set when the result could not go where it was meant to.
    pub warning: Option<String>,
}

/// `s3://bucket/some/prefix` → (`bucket`, `some/prefix`).
fn parse_s3_url(url: &str) -> Result<(String, String), LoadgenError> {
    let bad = |reason| LoadgenError::ResultsUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("expected s3://BUCKET[/PREFIX]"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket name"));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

/// The S3 store for `s3://bucket/prefix`, configured from the `AWS_*`
/// variables among `vars` (the process environment, as the binary passes
/// it): keys, region, session token exactly as object_store's
/// `AmazonS3Builder::from_env` reads them, then `AWS_ENDPOINT_URL` as the
/// endpoint (plain HTTP allowed for an `http://` one). A result that cannot
/// be uploaded after three retries (1, 2, 4 s apart) goes to `fallback`.
pub fn s3_from_env(
    url: &str,
    fallback: &Path,
    vars: &[(OsString, OsString)],
) -> Result<Store, LoadgenError> {
    let (name, prefix) = parse_s3_url(url)?;
    let mut builder = object_store::aws::AmazonS3Builder::new();
    let mut endpoint = None;
    // AmazonS3Builder::from_env, over `vars` instead of std::env.
    for (key, value) in vars {
        if let (Some(key), Some(value)) = (key.to_str(), value.to_str()) {
            if key.starts_with("AWS_") {
                if let Ok(config_key) = key.to_ascii_lowercase().parse() {
                    builder = builder.with_config(config_key, value);
                }
            }
            if key == "AWS_ENDPOINT_URL" {
                endpoint = Some(value.to_owned());
            }
        }
    }
    builder = builder.with_bucket_name(&name);
    if let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    let s3 = builder.build().map_err(|source| LoadgenError::Bucket {
        url: url.to_owned(),
        source,
    })?;
    Ok(Store::Bucket {
        store: Arc::new(s3),
        url: url.to_owned(),
        prefix,
        fallback: fallback.to_owned(),
        retry_delays: vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(4),
        ],
    })
}

impl Store {
    /// Stores `bytes` as `name` (a generated file name).
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<Stored, LoadgenError> {
        match self {
            Store::Dir(dir) => {
                let location = write_blocking(dir.clone(), name, bytes).await?;
                Ok(Stored {
                    location,
                    warning: None,
                })
            }
            Store::Bucket {
                store,
                url,
                prefix,
                fallback,
                retry_delays,
            } => {
                let key = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                let path = ObjectPath::from(key.as_str());
                let payload = PutPayload::from(bytes.clone());
                let mut last = String::new();
                for attempt in 0..=retry_delays.len() {
                    if attempt > 0 {
                        tokio::time::sleep(retry_delays[attempt - 1]).await;
                    }
                    match store.put(&path, payload.clone()).await {
                        Ok(_) => {
                            return Ok(Stored {
                                location: format!("{}/{name}", url.trim_end_matches('/')),
                                warning: None,
                            })
                        }
                        Err(e) => last = short_reason(&e),
                    }
                }
                let location = write_blocking(fallback.clone(), name, bytes).await?;
                Ok(Stored {
                    warning: Some(format!(
                        "uploading to {url} failed {} times ({last}); the result is kept at {location}",
                        retry_delays.len() + 1
                    )),
                    location,
                })
            }
        }
    }
}

/// A storage error in a few words: its kind and the HTTP status, never the
/// server's answer (an S3 error body names the access key id, and run
/// records are readable without a token).
pub(crate) fn short_reason(e: &object_store::Error) -> String {
    let kind = match e {
        object_store::Error::NotFound { .. } => "not found",
        object_store::Error::PermissionDenied { .. } => "permission denied",
        object_store::Error::Unauthenticated { .. } => "not authenticated",
        object_store::Error::AlreadyExists { .. } => "already exists",
        object_store::Error::Precondition { .. } => "precondition failed",
        object_store::Error::NotSupported { .. } => "not supported",
        _ => "request failed",
    };
    match http_status(&e.to_string()) {
        Some(code) => format!("{kind}, HTTP {code}"),
        None => kind.to_owned(),
    }
}

/// The HTTP status a message states after the word "status" ("... status
/// 403 Forbidden", "status code: 503"); other numbers (ports, addresses)
/// are not statuses.
fn http_status(message: &str) -> Option<u16> {
    let lower = message.to_ascii_lowercase();
    lower.match_indices("status").find_map(|(at, word)| {
        let rest = &lower[at + word.len()..];
        let rest = rest.trim_start_matches(|c: char| {
            c == ' ' || c == ':' || c.is_ascii_alphabetic() && !c.is_ascii_digit()
        });
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse::<u16>()
            .ok()
            .filter(|c| digits.len() == 3 && (100..600).contains(c))
    })
}

async fn write_blocking(dir: PathBuf, name: &str, bytes: Vec<u8>) -> Result<String, LoadgenError> {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || write_atomic(&dir, &name, &bytes))
        .await
        .map_err(LoadgenError::WriteTask)?
}

/// Writes `dir/name` (creating `dir`) with [`servebench_files::write_atomic`]
/// and returns where it went.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<String, LoadgenError> {
    std::fs::create_dir_all(dir).map_err(|source| LoadgenError::CreateDir {
        dir: dir.to_owned(),
        source,
    })?;
    let path = dir.join(name);
    servebench_files::write_atomic(&path, bytes).map_err(LoadgenError::Write)?;
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_are_reported_without_the_server_answer() {
        let body = "Client error with status 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code><AWSAccessKeyId>AKIAEXAMPLESECRET</AWSAccessKeyId></Error>";
        let e = object_store::Error::Generic {
            store: "S3",
            source: body.into(),
        };
        let reason = short_reason(&e);
        assert_eq!(reason, "request failed, HTTP 403");
        let e = object_store::Error::PermissionDenied {
            path: "x".into(),
            source: body.into(),
        };
        assert_eq!(short_reason(&e), "permission denied, HTTP 403");
        assert_eq!(http_status("connecting to https://s3:443/b: refused"), None);
        assert_eq!(
            http_status("Server returned non-2xx status code: 503"),
            Some(503)
        );
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("loadgen-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = write_atomic(&dir, "r1.json", b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r1.json")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn s3_urls() {
        assert_eq!(
            parse_s3_url("s3://b/p/q/").unwrap(),
            ("b".into(), "p/q".into())
        );
        assert_eq!(parse_s3_url("s3://b").unwrap(), ("b".into(), String::new()));
        assert!(parse_s3_url("s3:///x").is_err());
        assert!(parse_s3_url("http://b").is_err());
    }

    #[test]
    fn a_failing_upload_is_kept_locally_and_reported() {
        let dir = std::env::temp_dir().join(format!("loadgen-fallback-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Nothing listens on port 9 of 127.0.0.1: every attempt fails fast.
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name("b")
            .with_region("us-east-1")
            .with_access_key_id("k")
            .with_secret_access_key("s")
            .with_endpoint("http://127.0.0.1:9")
            .with_allow_http(true)
            .with_retry(object_store::RetryConfig {
                max_retries: 0,
                ..Default::default()
            })
            .build()
            .unwrap();
        let store = Store::Bucket {
            store: Arc::new(s3),
            url: "s3://b/runs".into(),
            prefix: "runs".into(),
            fallback: dir.clone(),
            retry_delays: vec![Duration::from_millis(1), Duration::from_millis(1)],
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stored = runtime
            .block_on(store.put("r1.json", b"{}".to_vec()))
            .unwrap();
        assert_eq!(stored.location, dir.join("r1.json").display().to_string());
        let warning = stored.warning.unwrap();
        assert!(
            warning.contains("failed 3 times") && warning.contains("s3://b/runs"),
            "{warning}"
        );
        assert_eq!(std::fs::read_to_string(dir.join("r1.json")).unwrap(), "{}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
