//! A run's specification: the JSON body of `POST /start-load` (and each
//! entry of a start-up spec file), with benchmark_serving's options in
//! snake_case and its defaults, validated into what a run needs.

use serde::{Deserialize, Serialize};
use servebench_prompts::DatasetFlags;

/// A rejected specification: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

fn field_error(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A request rate: a number of requests per second, or `"inf"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Rate {
    Number(f64),
    Text(String),
}

impl Default for Rate {
    fn default() -> Self {
        Rate::Text("inf".into())
    }
}

/// benchmark_serving's options (snake_case, same defaults), plus `queue`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSpec {
    pub backend: String,
    pub base_url: Option<String>,
    pub host: String,
    pub port: u16,
    pub endpoint: String,
    pub model: Option<String>,
    pub tokenizer: Option<String>,
    pub served_model_name: Option<String>,
    pub dataset_name: String,
    pub dataset_path: Option<String>,
    pub num_prompts: u64,
    pub request_rate: Rate,
    pub burstiness: f64,
    pub max_concurrency: Option<i64>,
    pub seed: u32,
    pub num_warmups: u64,
    pub best_of: i64,
    pub logprobs: Option<i64>,
    pub ignore_eos: bool,
    pub profile: bool,
    pub sonnet_input_len: i64,
    pub sonnet_output_len: i64,
    pub sonnet_prefix_len: i64,
    pub sharegpt_output_len: Option<i64>,
    pub random_input_len: i64,
    pub random_output_len: i64,
    pub random_range_ratio: f64,
    pub random_prefix_len: i64,
    pub use_chat_template: bool,
    pub percentile_metrics: String,
    pub metric_percentiles: String,
    pub goodput: Vec<String>,
    pub metadata: Vec<String>,
    pub lora_modules: Vec<String>,
    pub save_detailed: bool,
    /// Stress mode: send the `num_prompts` prompts over and over at
    /// `request_rate` for this many seconds, with bounded memory.
    pub duration_s: Option<f64>,
    /// Wait behind a running run instead of being refused with 409.
    pub queue: bool,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            backend: "vllm".into(),
            base_url: None,
            host: "127.0.0.1".into(),
            port: 8000,
            endpoint: "/v1/completions".into(),
            model: None,
            tokenizer: None,
            served_model_name: None,
            dataset_name: "sharegpt".into(),
            dataset_path: None,
            num_prompts: 1000,
            request_rate: Rate::default(),
            burstiness: 1.0,
            max_concurrency: None,
            seed: 0,
            num_warmups: 0,
            best_of: 1,
            logprobs: None,
            ignore_eos: false,
            profile: false,
            sonnet_input_len: 550,
            sonnet_output_len: 150,
            sonnet_prefix_len: 200,
            sharegpt_output_len: None,
            random_input_len: 1024,
            random_output_len: 128,
            random_range_ratio: 1.0,
            random_prefix_len: 0,
            use_chat_template: false,
            percentile_metrics: "ttft,tpot,itl".into(),
            metric_percentiles: "99".into(),
            goodput: Vec::new(),
            metadata: Vec::new(),
            lora_modules: Vec::new(),
            save_detailed: false,
            duration_s: None,
            queue: false,
        }
    }
}

/// The most prompts one run may ask for (each is held in memory).
pub const MAX_PROMPTS: u64 = 10_000_000;

/// The longest stress run: a week.
pub const MAX_DURATION_S: f64 = 7.0 * 24.0 * 3600.0;

/// Which servers runs may target: host patterns with `*` wildcards and an
/// optional `:port` (`127.0.0.1`, `*.svc.cluster.local`, `vllm:8000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPolicy {
    pub patterns: Vec<String>,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy {
            patterns: vec!["127.0.0.1".into(), "localhost".into(), "::1".into()],
        }
    }
}

/// `*` matches any run of characters; everything else literally, ASCII
/// case-insensitively (host names are).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl TargetPolicy {
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.patterns.iter().any(|pattern| {
            // `[::1]:8000` or `host:port`; a bare IPv6 address has no port.
            let (host_pattern, port_pattern) = match pattern.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                    (h.trim_start_matches('[').trim_end_matches(']'), Some(p))
                }
                _ => (pattern.as_str(), None),
            };
            glob(host_pattern, host) && port_pattern.is_none_or(|p| glob(p, &port.to_string()))
        })
    }
}

/// A validated specification, split into what each crate needs.
#[derive(Debug, Clone)]
pub struct ValidSpec {
    pub spec: LoadSpec,
    pub model: String,
    pub request_rate: f64,
    pub dataset: DatasetFlags,
    /// Host and port the run will connect to.
    pub target: (String, u16),
}

/// Parses a JSON body; a type error names its field.
pub fn parse(body: &[u8]) -> Result<LoadSpec, FieldError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(field_error("(body)", "must be a JSON object of options"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, LoadSpec>(&mut de) {
        Ok(spec) => de
            .end()
            .map(|()| spec)
            .map_err(|e| field_error("(body)", e.to_string())),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            // "unknown field `x`, expected ..." is reported at the root.
            let field = match message.strip_prefix("unknown field `") {
                Some(rest) => rest.split('`').next().unwrap_or("(body)").to_owned(),
                None if path == "." || path == "?" || path.is_empty() => "(body)".to_owned(),
                None => path,
            };
            // serde's line/column point into the body; the field says more.
            let reason = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            Err(field_error(&field, reason))
        }
    }
}

/// The host and port a spec targets.
fn target(spec: &LoadSpec) -> Result<(String, u16), FieldError> {
    match &spec.base_url {
        None => Ok((spec.host.clone(), spec.port)),
        Some(url) => {
            let uri: hyper::Uri = url
                .parse()
                .map_err(|e| field_error("base_url", format!("not a URL: {e}")))?;
            let https = match uri.scheme_str() {
                Some("http") => false,
                Some("https") => true,
                _ => {
                    return Err(field_error(
                        "base_url",
                        "must start with http:// or https://",
                    ))
                }
            };
            let authority = uri
                .authority()
                .ok_or_else(|| field_error("base_url", "has no host"))?;
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            Ok((
                host,
                authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            ))
        }
    }
}

/// Checks a parsed spec: values in range, the target allowed.
pub fn validate(spec: LoadSpec, policy: &TargetPolicy) -> Result<ValidSpec, FieldError> {
    let model = spec
        .model
        .clone()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| field_error("model", "required"))?;
    if !servebench_client::backend::Backend::NAMES.contains(&spec.backend.as_str()) {
        return Err(field_error(
            "backend",
            format!(
                "unknown backend {:?} (one of {})",
                spec.backend,
                servebench_client::backend::Backend::NAMES.join(", ")
            ),
        ));
    }
    if spec.num_prompts == 0 || spec.num_prompts > MAX_PROMPTS {
        return Err(field_error(
            "num_prompts",
            format!("must be between 1 and {MAX_PROMPTS}"),
        ));
    }
    let request_rate = match &spec.request_rate {
        Rate::Number(r) if r.is_finite() && *r > 0.0 => *r,
        Rate::Text(t) if t == "inf" => f64::INFINITY,
        _ => {
            return Err(field_error(
                "request_rate",
                "must be a positive number or \"inf\"",
            ))
        }
    };
    if let Some(d) = spec.duration_s {
        if !(d.is_finite() && d > 0.0 && d <= MAX_DURATION_S) {
            return Err(field_error(
                "duration_s",
                format!("must be between 0 and {MAX_DURATION_S} seconds"),
            ));
        }
        if request_rate.is_infinite() {
            return Err(field_error(
                "request_rate",
                "a run with duration_s needs a finite request rate",
            ));
        }
    }
    if !(spec.burstiness.is_finite() && spec.burstiness > 0.0) {
        return Err(field_error("burstiness", "must be a positive number"));
    }
    if spec.max_concurrency.is_some_and(|c| c < 1) {
        return Err(field_error("max_concurrency", "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&spec.random_range_ratio) {
        return Err(field_error("random_range_ratio", "must be between 0 and 1"));
    }
    for (name, value) in [
        ("random_input_len", spec.random_input_len),
        ("random_output_len", spec.random_output_len),
        ("sonnet_input_len", spec.sonnet_input_len),
        ("sonnet_output_len", spec.sonnet_output_len),
    ] {
        if value < 1 {
            return Err(field_error(name, "must be at least 1"));
        }
    }
    if !spec.endpoint.starts_with('/') {
        return Err(field_error("endpoint", "must start with /"));
    }
    for item in &spec.metadata {
        if !item.contains('=') {
            return Err(field_error(
                "metadata",
                format!("{item:?} is not KEY=VALUE"),
            ));
        }
    }
    servebench_metrics::MetricsOptions::parse(
        &spec.percentile_metrics,
        &spec.metric_percentiles,
        &spec.goodput,
    )
    .map_err(|e| {
        field_error(
            "percentile_metrics/metric_percentiles/goodput",
            e.to_string(),
        )
    })?;
    let num_prompts = usize::try_from(spec.num_prompts)
        .map_err(|_| field_error("num_prompts", "too large for this machine"))?;
    let dataset = DatasetFlags {
        name: spec.dataset_name.clone(),
        path: spec.dataset_path.clone(),
        num_prompts,
        random_input_len: spec.random_input_len,
        random_output_len: spec.random_output_len,
        random_prefix_len: spec.random_prefix_len,
        random_range_ratio: spec.random_range_ratio,
        use_chat_template: spec.use_chat_template,
        sharegpt_output_len: spec.sharegpt_output_len,
        sonnet_input_len: spec.sonnet_input_len,
        sonnet_output_len: spec.sonnet_output_len,
        sonnet_prefix_len: spec.sonnet_prefix_len,
        chat_backend: spec.backend == "openai-chat",
    };
    dataset.dataset().map_err(|e| {
        let file_dataset = ["sharegpt", "sonnet", "custom"].contains(&spec.dataset_name.as_str());
        let field = if spec.dataset_path.is_none() && file_dataset {
            "dataset_path"
        } else {
            "dataset_name"
        };
        field_error(field, e.to_string())
    })?;
    let target = target(&spec)?;
    if !policy.allows(&target.0, target.1) {
        return Err(field_error(
            if spec.base_url.is_some() {
                "base_url"
            } else {
                "host"
            },
            format!(
                "target {}:{} is not allowed (--allow-target: {})",
                target.0,
                target.1,
                policy.patterns.join(", ")
            ),
        ));
    }
    Ok(ValidSpec {
        spec,
        model,
        request_rate,
        dataset,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> ValidSpec {
        validate(parse(body.as_bytes()).unwrap(), &TargetPolicy::default()).unwrap()
    }

    fn err(body: &str) -> FieldError {
        match parse(body.as_bytes()) {
            Err(e) => e,
            Ok(spec) => validate(spec, &TargetPolicy::default()).unwrap_err(),
        }
    }

    #[test]
    fn defaults_are_benchmark_serving_s() {
        let v = ok(r#"{"model": "m", "dataset_name": "random"}"#);
        assert_eq!(v.spec.num_prompts, 1000);
        assert_eq!(v.request_rate, f64::INFINITY);
        assert_eq!(v.spec.random_input_len, 1024);
        assert_eq!(v.target, ("127.0.0.1".to_owned(), 8000));
        let v = ok(
            r#"{"model": "m", "dataset_name": "random", "request_rate": 12, "port": 9000, "max_concurrency": 4}"#,
        );
        assert_eq!(v.request_rate, 12.0);
        assert_eq!(v.target.1, 9000);
    }

    #[test]
    fn errors_name_the_field() {
        let e = err(r#"{"model": "m", "num_prompts": "many"}"#);
        assert_eq!(e.field, "num_prompts");
        assert!(e.reason.contains("invalid type"), "{e}");
        assert_eq!(err(r#"{"model": "m", "bogus": 1}"#).field, "bogus");
        assert_eq!(err(r#"{"dataset_name": "random"}"#).field, "model");
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "request_rate": -1}"#).field,
            "request_rate"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "request_rate": "fast"}"#).field,
            "request_rate"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "num_prompts": 0}"#).field,
            "num_prompts"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "backend": "x"}"#).field,
            "backend"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "sonnet"}"#).field,
            "dataset_path"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "nope"}"#).field,
            "dataset_name"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "max_concurrency": 0}"#).field,
            "max_concurrency"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "metadata": ["x"]}"#).field,
            "metadata"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "duration_s": 60}"#).field,
            "request_rate"
        );
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "duration_s": -1, "request_rate": 5}"#)
                .field,
            "duration_s"
        );
        assert_eq!(
            ok(r#"{"model": "m", "dataset_name": "random", "duration_s": 60, "request_rate": 5}"#)
                .spec
                .duration_s,
            Some(60.0)
        );
        assert_eq!(err("[1]").field, "(body)");
        assert_eq!(err("{").field, "(body)");
    }

    #[test]
    fn targets_outside_the_patterns_are_refused() {
        let e = err(r#"{"model": "m", "dataset_name": "random", "host": "10.0.0.5"}"#);
        assert_eq!(e.field, "host");
        assert!(e.reason.contains("not allowed"), "{e}");
        let e = err(
            r#"{"model": "m", "dataset_name": "random", "base_url": "http://evil.example:80"}"#,
        );
        assert_eq!(e.field, "base_url");
        let policy = TargetPolicy {
            patterns: vec![
                "*.svc.cluster.local".into(),
                "10.0.*:8000".into(),
                "[::1]:9".into(),
            ],
        };
        assert!(policy.allows("vllm.default.svc.cluster.local", 8000));
        assert!(!policy.allows("svc.cluster.local.evil.com", 8000));
        assert!(policy.allows("10.0.3.4", 8000));
        assert!(!policy.allows("10.0.3.4", 8001));
        assert!(policy.allows("::1", 9));
        assert!(TargetPolicy::default().allows("LOCALHOST", 1));
    }
}
