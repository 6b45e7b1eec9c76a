//! Fetching tokenizer files from the Hugging Face Hub into the standard
//! cache layout, so that transformers and servebench share the files.
//!
//! `GET {HF_ENDPOINT}/{model}/resolve/{revision}/{file}` with
//! `Authorization: Bearer {HF_TOKEN}` when a token is set; the file lands in
//! `models--ORG--NAME/snapshots/{commit}/{file}` (the commit from the
//! `X-Repo-Commit` header) and `refs/{revision}` names the commit. Files are
//! written with [`servebench_files::write_atomic`] (a temporary file, fsync
//! and a rename).

use crate::PromptsError;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where and how to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hub {
    /// `HF_ENDPOINT`, default `https://huggingface.co`.
    pub endpoint: String,
    /// `HF_TOKEN`; never printed.
    pub token: Option<String>,
    /// The hub cache directory (`HF_HUB_CACHE`, ...).
    pub cache: PathBuf,
}

/// The largest file we accept (tokenizer.json files run to tens of MB).
const MAX_BYTES: u64 = 512 * 1024 * 1024;

/// The local directory of a model in the cache layout.
pub(crate) fn repo_dir(cache: &Path, model_id: &str) -> PathBuf {
    cache.join(format!("models--{}", model_id.replace('/', "--")))
}

fn valid_model_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

impl Hub {
    /// Downloads `tokenizer.json` (required) and `tokenizer_config.json`
    /// (when the repository has one) and returns the snapshot directory.
    pub(crate) fn download_tokenizer(
        &self,
        model_id: &str,
        revision: &str,
    ) -> Result<PathBuf, PromptsError> {
        if !valid_model_id(model_id) {
            return Err(PromptsError::Options(format!(
                "'{model_id}' is not a Hugging Face model id (ORG/NAME)"
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_global(Some(Duration::from_secs(600)))
            .http_status_as_error(false)
            .build()
            .into();
        let (commit, tokenizer) = self
            .fetch(&agent, model_id, revision, "tokenizer.json")?
            .ok_or_else(|| PromptsError::Hub {
                model: model_id.to_owned(),
                message:
                    "the repository has no tokenizer.json (only fast tokenizers are supported)"
                        .into(),
            })?;
        let repo = repo_dir(&self.cache, model_id);
        let snapshot = repo.join("snapshots").join(&commit);
        save(&snapshot.join("tokenizer.json"), &tokenizer)?;
        if let Some((_, config)) =
            self.fetch(&agent, model_id, revision, "tokenizer_config.json")?
        {
            save(&snapshot.join("tokenizer_config.json"), &config)?;
        }
        if commit != revision {
            save(&repo.join("refs").join(revision), commit.as_bytes())?;
        }
        Ok(snapshot)
    }

    /// Downloads `file` of the dataset repository `repo_id` (revision
    /// `main`) into `datasets--ORG--NAME/snapshots/{commit}/{file}` and
    /// returns its path.
    pub(crate) fn download_dataset_file(
        &self,
        repo_id: &str,
        file: &str,
    ) -> Result<PathBuf, PromptsError> {
        let plain_file = !file.is_empty()
            && file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !file.starts_with('.');
        if !valid_model_id(repo_id) || !repo_id.contains('/') || !plain_file {
            return Err(PromptsError::Options(format!(
                "'{repo_id}' / '{file}' is not a Hugging Face dataset id (ORG/NAME) and file name"
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_global(Some(Duration::from_secs(600)))
            .http_status_as_error(false)
            .build()
            .into();
        // Dataset files live under `/datasets/ORG/NAME/resolve/...`.
        let path = format!("datasets/{repo_id}");
        let (commit, body) =
            self.fetch(&agent, &path, "main", file)?
                .ok_or_else(|| PromptsError::Hub {
                    model: path.clone(),
                    message: format!("the dataset has no {file} (HTTP 404)"),
                })?;
        let repo = self
            .cache
            .join(format!("datasets--{}", repo_id.replace('/', "--")));
        let target = repo.join("snapshots").join(&commit).join(file);
        save(&target, &body)?;
        if commit != "main" {
            save(&repo.join("refs").join("main"), commit.as_bytes())?;
        }
        Ok(target)
    }

    /// `Ok(None)` for a file the repository does not have.
    fn fetch(
        &self,
        agent: &ureq::Agent,
        model_id: &str,
        revision: &str,
        file: &str,
    ) -> Result<Option<(String, Vec<u8>)>, PromptsError> {
        let url = format!(
            "{}/{model_id}/resolve/{revision}/{file}",
            self.endpoint.trim_end_matches('/')
        );
        let hub_err = |message: String| PromptsError::Hub {
            model: model_id.to_owned(),
            message,
        };
        let mut request = agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request
            .call()
            .map_err(|e| {
                hub_err(format!(
                    "GET {url}: {e} (the Hub is unreachable; {})",
                    if model_id.starts_with("datasets/") {
                        "for local traces pass --input-file PATH"
                    } else {
                        "for a local tokenizer pass --tokenizer PATH, a tokenizer.json or the directory holding it"
                    }
                ))
            })?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            404 if file != "tokenizer.json" => return Ok(None),
            404 => {
                return Err(hub_err(format!(
                    "GET {url}: HTTP 404 (no such model or revision)"
                )))
            }
            401 | 403 => {
                let hint = if self.token.is_some() {
                    "the token in HF_TOKEN has no access to it"
                } else {
                    "it is gated or private: set HF_TOKEN to a token with access"
                };
                return Err(hub_err(format!("GET {url}: HTTP {status}: {hint}")));
            }
            _ => return Err(hub_err(format!("GET {url}: HTTP {status}"))),
        }
        let commit = response
            .headers()
            .get("x-repo-commit")
            .and_then(|v| v.to_str().ok())
            .filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric()) && !c.is_empty())
            .unwrap_or(revision)
            .to_owned();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| hub_err(format!("GET {url}: reading the body: {e}")))?;
        // A longer body is refused, not cut and cached as if whole.
        if body.len() as u64 > MAX_BYTES {
            return Err(hub_err(format!(
                "GET {url}: the file is larger than {} MiB",
                MAX_BYTES >> 20
            )));
        }
        Ok(Some((commit, body)))
    }
}

/// Creates `path`'s directory, then [`servebench_files::write_atomic`].
fn save(path: &Path, bytes: &[u8]) -> Result<(), PromptsError> {
    let err = |reason: String| PromptsError::Tokenizer {
        path: path.to_owned(),
        message: format!("saving: {reason}"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    servebench_files::write_atomic(path, bytes).map_err(|e| err(e.reason()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn model_ids() {
        for ok in ["gpt2", "deepseek-ai/DeepSeek-R1", "org/name.v1_2"] {
            assert!(super::valid_model_id(ok), "{ok}");
        }
        for bad in ["", "a/b/c", "../x", "org/..", "org/", "a b", "org/na?me"] {
            assert!(!super::valid_model_id(bad), "{bad}");
        }
    }
}
