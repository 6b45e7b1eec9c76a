//! A small, bounded GitHub REST client: the four reads the success table
//! needs, as PyGithub makes them.

use servebench_pyjson::Value;
use std::io::Read;
use std::time::Duration;

/// The API server when `GITHUB_API_URL` is not set (as in Actions).
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The largest response body read (a page of 30 jobs with their steps is
/// tens of KiB).
pub const MAX_BODY_BYTES: u64 = 16 << 20;

/// The most pages of jobs followed (30 jobs each; GitHub lists at most
/// 1000 jobs per run and attempt).
pub const MAX_PAGES: usize = 2000;

/// A failed API request. The token is never part of a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A status other than 2xx: worded as PyGithub's `GithubException`,
    /// `STATUS JSON-BODY` (`404 {"message": "Not Found", ...}`).
    #[error("{status}{}", .data.as_ref().map(|d| format!(" {}", servebench_pyjson::to_string(d))).unwrap_or_default())]
    Status { status: u16, data: Option<Value> },

    /// No answer: connection refused, DNS, TLS, a timeout.
    #[error("GET {url}: {message}")]
    Transport { url: String, message: String },

    /// The body is longer than [`MAX_BODY_BYTES`].
    #[error("GET {url}: the response is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },

    /// The body is not the JSON the endpoint documents.
    #[error("GET {url}: unexpected response: {message}")]
    Shape { url: String, message: String },

    /// More than [`MAX_PAGES`] pages of jobs.
    #[error("GET {url}: more than {limit} pages of jobs")]
    TooManyPages { url: String, limit: usize },

    /// `GITHUB_API_URL` or `GITHUB_REPOSITORY` cannot make a URL.
    #[error("{0}")]
    BadUrl(String),
}

/// Limits of a [`GitHub`] client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GitHubOptions {
    /// Connecting (DNS, TCP, TLS) to the server.
    pub connect_timeout: Duration,
    /// One whole request, body included.
    pub request_timeout: Duration,
    /// Attempts after a 5xx answer or a failed connection (PyGithub's
    /// default retry makes 10).
    pub retries: u32,
    /// The wait before the first retry; it doubles, up to 8 s.
    pub backoff: Duration,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        GitHubOptions {
            connect_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(60),
            retries: 10,
            backoff: Duration::from_millis(250),
        }
    }
}

/// `GET /repos/{owner}/{repo}`.
#[derive(Debug, Clone)]
pub struct Repo {
    pub full_name: Value,
    /// The API URL of the repository (its `url` field): the run is read
    /// under it, as PyGithub does.
    pub url: String,
}

/// `GET …/actions/runs/{id}`.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: Value,
    pub name: Value,
    pub jobs_url: String,
}

/// One job of a run.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// `success`, `failure`, `cancelled`, `skipped`, ...; `None` while it
    /// runs (or when not a string).
    pub conclusion: Option<String>,
}

/// A GitHub REST API client for one server and token. Its `Debug` leaves
/// the token out.
pub struct GitHub {
    /// `GITHUB_API_URL` without a trailing slash (`https://api.github.com`,
    /// `https://ghe.example/api/v3`).
    base: String,
    /// Its `scheme://host[:port]`: URLs the server hands back (`url`,
    /// `jobs_url`, `Link`) are used for their path and query only, on this
    /// origin, so the token never goes to another host.
    origin: String,
    authorization: String,
    agent: ureq::Agent,
    options: GitHubOptions,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("base", &self.base)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client of the API at `api_url` sending `token`.
    pub fn new(api_url: &str, token: &str, options: GitHubOptions) -> Result<Self, ApiError> {
        let base = api_url.trim_end_matches('/').to_owned();
        let origin = origin(&base).ok_or_else(|| {
            ApiError::BadUrl(format!(
                "GITHUB_API_URL '{api_url}' is not an http:// or https:// URL"
            ))
        })?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            .http_status_as_error(false)
            .user_agent("servebench-calc_success_rate")
            .build()
            .into();
        Ok(GitHub {
            base,
            origin,
            authorization: format!("token {token}"),
            agent,
            options,
        })
    }

    /// `GET /user`: the login the token belongs to.
    pub fn user_login(&self) -> Result<Value, ApiError> {
        let url = format!("{}/user", self.base);
        let (body, _) = self.get(&url)?;
        Ok(field(&body, "login"))
    }

    /// `GET /repos/{repository}`.
    pub fn repo(&self, repository: &str) -> Result<Repo, ApiError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
        if !repository.chars().all(ok) {
            return Err(ApiError::BadUrl(format!(
                "GITHUB_REPOSITORY '{repository}' is not OWNER/NAME"
            )));
        }
        let url = format!("{}/repos/{repository}", self.base);
        let (body, _) = self.get(&url)?;
        Ok(Repo {
            full_name: field(&body, "full_name"),
            url: self.server_url(&url, &body, "url")?,
        })
    }

    /// `GET {repo.url}/actions/runs/{id}`.
    pub fn run(&self, repo: &Repo, id: u64) -> Result<Run, ApiError> {
        let url = format!("{}/actions/runs/{id}", repo.url);
        let (body, _) = self.get(&url)?;
        Ok(Run {
            id: field(&body, "id"),
            name: field(&body, "name"),
            jobs_url: self.server_url(&url, &body, "jobs_url")?,
        })
    }

    /// `GET {run.jobs_url}?filter={filter}` and every `Link: rel="next"`
    /// page after it.
    pub fn jobs(&self, run: &Run, filter: &str) -> Result<Vec<Job>, ApiError> {
        let sep = if run.jobs_url.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{}{sep}filter={filter}", run.jobs_url));
        let mut jobs = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(ApiError::TooManyPages {
                    url,
                    limit: MAX_PAGES,
                });
            }
            let (body, link) = self.get(&url)?;
            let shape = |message: &str| ApiError::Shape {
                url: url.clone(),
                message: message.to_owned(),
            };
            let items = match &body {
                Value::Dict(d) => d.get("jobs").unwrap_or(&body),
                other => other,
            };
            let items = items.as_list().ok_or_else(|| shape("no list of jobs"))?;
            for item in items {
                let name = item
                    .as_dict()
                    .and_then(|d| d.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape("a job without a name"))?;
                let conclusion = item
                    .as_dict()
                    .and_then(|d| d.get("conclusion"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                jobs.push(Job {
                    name: name.to_owned(),
                    conclusion,
                });
            }
            next = match link.as_deref().and_then(next_link) {
                Some(n) => Some(
                    self.on_origin(&n)
                        .ok_or_else(|| shape("the Link header's next page is not a URL"))?,
                ),
                None => None,
            };
        }
        Ok(jobs)
    }

    /// The URL in `body[key]`, as a path and query on our origin.
    fn server_url(&self, url: &str, body: &Value, key: &str) -> Result<String, ApiError> {
        body.as_dict()
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .and_then(|u| self.on_origin(u))
            .ok_or_else(|| ApiError::Shape {
                url: url.to_owned(),
                message: format!("no `{key}`"),
            })
    }

    /// `url`'s path and query on [`GitHub::origin`]; a path alone is taken
    /// as one.
    fn on_origin(&self, url: &str) -> Option<String> {
        let path = if url.starts_with('/') {
            url
        } else {
            let after_scheme = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))?;
            &after_scheme[after_scheme.find('/')?..]
        };
        let path = path.split('#').next().unwrap_or(path);
        Some(format!("{}{path}", self.origin))
    }

    /// One GET with retries: the JSON body (`None` for an empty one) and the
    /// `Link` header.
    fn get(&self, url: &str) -> Result<(Value, Option<String>), ApiError> {
        let mut attempt = 0;
        loop {
            let retry = match self.get_once(url) {
                Err(e @ ApiError::Transport { .. }) => e,
                Err(
                    e @ ApiError::Status {
                        status: 500..=599, ..
                    },
                ) => e,
                other => return other,
            };
            if attempt >= self.options.retries {
                return Err(retry);
            }
            let wait = self
                .options
                .backoff
                .saturating_mul(1 << attempt.min(6))
                .min(Duration::from_secs(8));
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    fn get_once(&self, url: &str) -> Result<(Value, Option<String>), ApiError> {
        let transport = |message: String| ApiError::Transport {
            url: url.to_owned(),
            message,
        };
        let mut response = self
            .agent
            .get(url)
            .header("Authorization", &self.authorization)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .call()
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let link = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_BODY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| transport(format!("reading the body: {e}")))?;
        if bytes.len() as u64 > MAX_BODY_BYTES {
            return Err(ApiError::TooLarge {
                url: url.to_owned(),
                limit: MAX_BODY_BYTES,
            });
        }
        // PyGithub's data: none for an empty body, the JSON, or the text
        // under "data" when it is not JSON.
        let text = String::from_utf8_lossy(&bytes);
        let data = if text.is_empty() {
            None
        } else {
            Some(servebench_pyjson::from_str(&text).unwrap_or_else(|_| {
                let mut d = servebench_pyjson::Dict::new();
                d.insert("data", Value::Str(text.clone().into_owned()));
                Value::Dict(d)
            }))
        };
        if !(200..300).contains(&status) {
            return Err(ApiError::Status { status, data });
        }
        Ok((data.unwrap_or(Value::Null), link))
    }
}

/// `body[key]`, `None` when missing (PyGithub's unset attribute).
fn field(body: &Value, key: &str) -> Value {
    body.as_dict()
        .and_then(|d| d.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin(url: &str) -> Option<String> {
    let scheme_end = if url.starts_with("https://") {
        8
    } else if url.starts_with("http://") {
        7
    } else {
        return None;
    };
    let rest = &url[scheme_end..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if host_end == 0 {
        return None;
    }
    Some(url[..scheme_end + host_end].to_owned())
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_origins() {
        let h = "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=9>; rel=\"last\"";
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        assert_eq!(next_link("<a>; rel=\"prev\""), None);
        assert_eq!(
            origin("https://ghe.example/api/v3").as_deref(),
            Some("https://ghe.example")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("ftp://x"), None);
        let gh = GitHub::new("http://127.0.0.1:1/api", "t", GitHubOptions::default()).unwrap();
        assert_eq!(
            gh.on_origin("https://evil.example/repos/a?page=2")
                .as_deref(),
            Some("http://127.0.0.1:1/repos/a?page=2")
        );
        assert!(!format!("{gh:?}").contains("token"));
    }

    #[test]
    fn status_messages_as_pygithub() {
        let data =
            servebench_pyjson::from_str("{\"message\":\"Not Found\",\"status\":\"404\"}").unwrap();
        let e = ApiError::Status {
            status: 404,
            data: Some(data),
        };
        assert_eq!(
            e.to_string(),
            "404 {\"message\": \"Not Found\", \"status\": \"404\"}"
        );
        assert_eq!(
            ApiError::Status {
                status: 502,
                data: None
            }
            .to_string(),
            "502"
        );
    }
}
