//! A run's specification: the JSON body of `POST /start-load` (and each
//! entry of a start-up spec file), with benchmark_serving's options in
//! snake_case and its defaults, validated into what a run needs.

use servebench_bench::{BenchOptions, Edition, MAX_DURATION};
use servebench_client::Backend;
use servebench_metrics::MetricsOptions;
use servebench_prompts::{self as limits, Dataset, LimitError, PromptsError};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

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

/// The contract edition load-generator runs follow: the newest (the
/// service has no `INFERENCEX_CONTRACT`; its runs are not workflow runs).
/// It picks the metric defaults (`ttft,tpot,itl,e2el`, `90,99,99.9`), the
/// request bodies, the saved keys and the failure gate.
pub(crate) const EDITION: Edition = Edition::NEWEST;

/// benchmark_serving's options (snake_case, same defaults), plus
/// `duration_s` and `queue`: the run model's options as given, which the
/// body deserializes into.
pub type LoadSpec = BenchOptions;

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

/// What a spec may reach: which servers, and which files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub targets: TargetPolicy,
    /// `--data-dir`, repeatable: the only directories datasets and
    /// tokenizers may be read from (canonical: links resolved), in the order
    /// a relative name is looked up in. Without one, no file can be named.
    pub data_dirs: Vec<PathBuf>,
}

/// Where a run's tokenizer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSource {
    /// A file or directory inside a data directory (canonical path).
    Path(PathBuf),
    /// A Hugging Face model id, loaded from the cache or the Hub only.
    Hub(String),
}

/// A validated specification: the options as accepted, and the values
/// parsed from them.
#[derive(Debug, Clone)]
pub struct ValidSpec {
    pub spec: LoadSpec,
    pub model: String,
    pub backend: Backend,
    pub metrics: MetricsOptions,
    /// The dataset, parsed, its path (if any) resolved inside a data
    /// directory.
    pub dataset: Dataset,
    pub tokenizer: TokenizerSource,
    /// Host and port the run will connect to (an IPv6 host without
    /// brackets), checked against the allow-list.
    pub target: (String, u16),
    /// `scheme://host:port[/prefix]`, built from the checked parts: the only
    /// address the run connects to.
    pub base_url: String,
}

/// Parses a JSON body; a type error names its field.
pub(crate) fn parse(body: &[u8]) -> Result<LoadSpec, FieldError> {
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

/// A host as a spec may give it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    /// A DNS name, an IPv4 address, or an IPv6 address with or without
    /// brackets; nothing that could change the meaning of a URL (`@`, `/`,
    /// `?`, `#`, `:`, `%`, whitespace).
    fn parse(field: &str, text: &str) -> Result<Host, FieldError> {
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(v6) = bare.parse::<Ipv6Addr>() {
            return Ok(Host::V6(v6));
        }
        if bare.len() != text.len() {
            return Err(field_error(
                field,
                format!("{text:?} is not an IPv6 address"),
            ));
        }
        if let Ok(v4) = text.parse::<Ipv4Addr>() {
            return Ok(Host::V4(v4));
        }
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if text.len() > 253 || !text.split('.').all(label_ok) {
            return Err(field_error(
                field,
                format!("{text:?} is not a host name or IP address"),
            ));
        }
        Ok(Host::Name(text.to_ascii_lowercase()))
    }

    /// As the allow-list sees it (IPv6 without brackets).
    fn plain(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => a.to_string(),
        }
    }

    /// As a URL writes it.
    fn in_url(&self) -> String {
        match self {
            Host::V6(a) => format!("[{a}]"),
            other => other.plain(),
        }
    }
}

/// The target's host and port and the base URL built from them.
fn target(spec: &LoadSpec) -> Result<(Host, u16, String), FieldError> {
    match &spec.base_url {
        None => {
            let host = Host::parse("host", &spec.host)?;
            if spec.port == 0 {
                return Err(field_error("port", "must be between 1 and 65535"));
            }
            let base = format!("http://{}:{}", host.in_url(), spec.port);
            Ok((host, spec.port, base))
        }
        Some(url) => {
            let bad = |reason: &str| field_error("base_url", reason.to_owned());
            if url
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                return Err(bad("must not contain whitespace or control characters"));
            }
            let uri: hyper::Uri = url
                .parse()
                .map_err(|e| field_error("base_url", format!("not a URL: {e}")))?;
            let https = match uri.scheme_str() {
                Some("http") => false,
                Some("https") => true,
                _ => return Err(bad("must start with http:// or https://")),
            };
            let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
            if authority.as_str().contains('@') {
                return Err(bad(
                    "must not carry credentials (user:password@); the service sends OPENAI_API_KEY",
                ));
            }
            if uri.query().is_some() || url.contains('#') {
                return Err(bad("must not have a query or fragment"));
            }
            let host = Host::parse("base_url", authority.host())?;
            let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
            let scheme = if https { "https" } else { "http" };
            let path = uri.path().trim_end_matches('/');
            let base = format!("{scheme}://{}:{port}{path}", host.in_url());
            Ok((host, port, base))
        }
    }
}

/// A file named by a spec, inside a data directory after following links,
/// and a regular file (or, for tokenizers, a directory). A relative name is
/// taken from the first directory that has it (in `data_dirs`' order); an
/// absolute one must lie in one of them.
fn data_file(
    field: &str,
    name: &str,
    data_dirs: &[PathBuf],
    dir_ok: bool,
) -> Result<PathBuf, FieldError> {
    if data_dirs.is_empty() {
        return Err(field_error(
            field,
            "the service reads no files: start it with --data-dir DIR to allow datasets from DIR",
        ));
    }
    // "the data directory", or "the data directories (A, B)".
    let dirs = match data_dirs {
        [_] => "the data directory".to_owned(),
        _ => format!(
            "the data directories ({})",
            data_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    // Relative names are looked up in each directory in turn (an absolute
    // one joins to itself); the first that resolves is the one.
    let mut first_error = None;
    let mut resolved = None;
    for dir in data_dirs {
        match dir.join(name).canonicalize() {
            Ok(path) => {
                resolved = Some(path);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let Some(resolved) = resolved else {
        let e = first_error.map_or_else(String::new, |e| e.to_string());
        return Err(field_error(
            field,
            format!("{name:?} is not readable in {dirs}: {e}"),
        ));
    };
    // Links followed: what is read must lie inside one of them.
    if !data_dirs.iter().any(|dir| resolved.starts_with(dir)) {
        return Err(field_error(field, format!("{name:?} is outside {dirs}")));
    }
    let meta =
        std::fs::metadata(&resolved).map_err(|e| field_error(field, format!("{name:?}: {e}")))?;
    if !(meta.is_file() || dir_ok && meta.is_dir()) {
        return Err(field_error(
            field,
            format!("{name:?} is not a regular file"),
        ));
    }
    Ok(resolved)
}

/// Where the tokenizer comes from: a file or directory in a data
/// directory, else a Hugging Face model id (never any other path).
fn tokenizer_source(
    field: &str,
    name: &str,
    policy: &Policy,
) -> Result<TokenizerSource, FieldError> {
    if !policy.data_dirs.is_empty() {
        if let Ok(path) = data_file(field, name, &policy.data_dirs, true) {
            return Ok(TokenizerSource::Path(path));
        }
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let parts: Vec<&str> = name.split('/').collect();
    if name.len() > 200 || parts.len() > 2 || !parts.iter().all(|c| component_ok(c)) {
        return Err(field_error(
            field,
            format!(
                "{name:?} is neither a Hugging Face model id (ORG/NAME) nor a tokenizer in a data directory"
            ),
        ));
    }
    Ok(TokenizerSource::Hub(name.to_owned()))
}

/// Checks a parsed spec: values in range, the target allowed.
pub(crate) fn validate(mut spec: LoadSpec, policy: &Policy) -> Result<ValidSpec, FieldError> {
    let model = spec
        .model
        .clone()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| field_error("model", "required"))?;
    let backend = Backend::parse(&spec.backend).ok_or_else(|| {
        field_error(
            "backend",
            format!(
                "unknown backend {:?} (one of {})",
                spec.backend,
                Backend::NAMES.join(", ")
            ),
        )
    })?;
    limits::check_prompts("num_prompts", spec.num_prompts).map_err(limit)?;
    // A (finite) number, or "inf"; any other text reads as NaN.
    let request_rate = spec.request_rate;
    if request_rate.is_nan() || request_rate <= 0.0 {
        return Err(field_error(
            "request_rate",
            "must be a positive number or \"inf\"",
        ));
    }
    // The run's own ranges (warm-ups, rate, burstiness, concurrency), as
    // benchmark_serving checks them.
    spec.check_limits().map_err(limit)?;
    if let Some(d) = spec.duration_s {
        let max = MAX_DURATION.as_secs_f64();
        if !(d.is_finite() && d > 0.0 && d <= max) {
            return Err(field_error(
                "duration_s",
                format!("must be between 0 and {max} seconds"),
            ));
        }
        if request_rate.is_infinite() {
            return Err(field_error(
                "request_rate",
                "a run with duration_s needs a finite request rate",
            ));
        }
    }
    if spec.max_concurrency.is_some_and(|c| c < 1) {
        return Err(field_error("max_concurrency", "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&spec.random_range_ratio) {
        return Err(field_error("random_range_ratio", "must be between 0 and 1"));
    }
    for (name, value, min) in [
        ("random_input_len", spec.random_input_len, 1),
        ("random_output_len", spec.random_output_len, 1),
        ("random_prefix_len", spec.random_prefix_len, 0),
        ("sonnet_input_len", spec.sonnet_input_len, 1),
        ("sonnet_output_len", spec.sonnet_output_len, 1),
        ("sonnet_prefix_len", spec.sonnet_prefix_len, 0),
    ] {
        limits::check_len(name, value, min).map_err(limit)?;
    }
    if let Some(len) = spec.sharegpt_output_len {
        limits::check_len("sharegpt_output_len", len, 1).map_err(limit)?;
    }
    if !spec.endpoint.starts_with('/')
        || spec.endpoint.len() > 1024
        || spec
            .endpoint
            .bytes()
            .any(|b| !b.is_ascii_graphic() || b == b'#')
    {
        return Err(field_error(
            "endpoint",
            "must be a URL path starting with / (visible ASCII, no #)",
        ));
    }
    for item in spec.metadata.iter().flatten() {
        if !item.contains('=') {
            return Err(field_error(
                "metadata",
                format!("{item:?} is not KEY=VALUE"),
            ));
        }
    }
    let metrics = spec.metrics_options(EDITION).map_err(|e| {
        field_error(
            "percentile_metrics/metric_percentiles/goodput",
            e.to_string(),
        )
    })?;
    // The run (and its echo) carries the values it used.
    let (percentile_metrics, metric_percentiles) = spec.metric_selection(EDITION);
    let (percentile_metrics, metric_percentiles) =
        (percentile_metrics.to_owned(), metric_percentiles.to_owned());
    spec.percentile_metrics = Some(percentile_metrics);
    spec.metric_percentiles = Some(metric_percentiles);
    usize::try_from(spec.num_prompts)
        .map_err(|_| field_error("num_prompts", "too large for this machine"))?;
    let dataset_path = match &spec.dataset_path {
        Some(p) => Some(
            data_file("dataset_path", p, &policy.data_dirs, false)?
                .display()
                .to_string(),
        ),
        None => None,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dataset = spec
        .dataset(dataset_path.as_deref(), EDITION, cpus)
        .map_err(|e| {
            if let PromptsError::Limit(l) = e {
                return limit(l);
            }
            let file_dataset =
                ["sharegpt", "sonnet", "custom"].contains(&spec.dataset_name.as_str());
            let field = if spec.dataset_path.is_none() && file_dataset {
                "dataset_path"
            } else {
                "dataset_name"
            };
            field_error(field, e.to_string())
        })?;
    let (tokenizer_field, tokenizer_name) = match &spec.tokenizer {
        Some(t) => ("tokenizer", t.as_str()),
        None => ("model", model.as_str()),
    };
    let tokenizer = tokenizer_source(tokenizer_field, tokenizer_name, policy)?;
    let (host, port, base_url) = target(&spec)?;
    let target = (host.plain(), port);
    // The check is on the URL the run will use, parsed back: what is
    // checked is what is connected to.
    let url: hyper::Uri = format!("{base_url}{}", spec.endpoint)
        .parse()
        .map_err(|e| field_error("endpoint", format!("does not make a URL: {e}")))?;
    let connected = url.authority().map(|a| {
        (
            a.host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            a.port_u16().unwrap_or(port),
        )
    });
    if connected.as_ref() != Some(&target) || !policy.targets.allows(&target.0, target.1) {
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
                policy.targets.patterns.join(", ")
            ),
        ));
    }
    Ok(ValidSpec {
        spec,
        model,
        backend,
        metrics,
        dataset,
        tokenizer,
        target,
        base_url,
    })
}

fn limit(e: LimitError) -> FieldError {
    field_error(e.option, e.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> ValidSpec {
        validate(parse(body.as_bytes()).unwrap(), &Policy::default()).unwrap()
    }

    fn err(body: &str) -> FieldError {
        match parse(body.as_bytes()) {
            Err(e) => e,
            Ok(spec) => validate(spec, &Policy::default()).unwrap_err(),
        }
    }

    #[test]
    fn defaults_are_benchmark_serving_s() {
        let v = ok(r#"{"model": "m", "dataset_name": "random"}"#);
        assert_eq!(v.spec.num_prompts, 1000);
        assert_eq!(v.spec.request_rate, f64::INFINITY);
        assert_eq!(v.spec.random_input_len, 1024);
        assert_eq!(v.target, ("127.0.0.1".to_owned(), 8000));
        let v = ok(
            r#"{"model": "m", "dataset_name": "random", "request_rate": 12, "port": 9000, "max_concurrency": 4}"#,
        );
        assert_eq!(v.spec.request_rate, 12.0);
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
    fn only_the_services_options_are_taken_and_echoed_in_their_order() {
        // Options only the command line has are unknown here.
        for cli_only in [
            "save_result",
            "result_dir",
            "use_beam_search",
            "tokenizer_mode",
        ] {
            let e = err(&format!(r#"{{"model": "m", "{cli_only}": 1}}"#));
            assert_eq!(e.field, cli_only);
            assert!(
                e.reason.starts_with(&format!(
                    "unknown field `{cli_only}`, expected one of `backend`, `base_url`, `host`, `port`, `endpoint`, `model`, `tokenizer`, `served_model_name`, `dataset_name`,"
                )),
                "{e}"
            );
            assert!(
                e.reason.ends_with("`save_detailed`, `duration_s`, `queue`"),
                "{e}"
            );
        }
        let echo = serde_json::to_string(&LoadSpec::default()).unwrap();
        assert_eq!(
            echo,
            r#"{"backend":"vllm","base_url":null,"host":"127.0.0.1","port":8000,"endpoint":"/v1/completions","model":null,"tokenizer":null,"served_model_name":null,"dataset_name":"sharegpt","dataset_path":null,"num_prompts":1000,"request_rate":"inf","burstiness":1.0,"max_concurrency":null,"seed":0,"num_warmups":0,"best_of":1,"logprobs":null,"ignore_eos":false,"profile":false,"sonnet_input_len":550,"sonnet_output_len":150,"sonnet_prefix_len":200,"sharegpt_output_len":null,"random_input_len":1024,"random_output_len":128,"random_range_ratio":1.0,"random_prefix_len":0,"use_chat_template":false,"random_num_workers":0,"dsv4":false,"percentile_metrics":null,"metric_percentiles":null,"goodput":[],"metadata":[],"lora_modules":[],"save_detailed":false,"duration_s":null,"queue":false}"#
        );
        let v = ok(
            r#"{"model": "m", "dataset_name": "random", "request_rate": 5, "num_warmups": 2, "metadata": ["a=b"], "goodput": ["ttft:5"]}"#,
        );
        assert_eq!(v.spec.request_rate, 5.0);
        assert_eq!(v.spec.num_warmups, 2);
        assert_eq!(v.spec.metadata, Some(vec!["a=b".to_owned()]));
        assert_eq!(v.metrics.goodput.len(), 1);
        // The edition's metric defaults, filled in: a run echoes what it used.
        assert_eq!(
            v.spec.percentile_metrics.as_deref(),
            Some("ttft,tpot,itl,e2el")
        );
        assert_eq!(v.spec.metric_percentiles.as_deref(), Some("90,99,99.9"));
        assert_eq!(v.backend, Backend::parse("vllm").unwrap());
        let e = err(r#"{"model": "m", "num_warmups": -1}"#);
        assert_eq!(
            e.to_string(),
            "num_warmups: invalid value: integer `-1`, expected u64"
        );
        let e = err(r#"{"model": "m", "request_rate": true}"#);
        assert_eq!(
            e.to_string(),
            "request_rate: data did not match any variant of untagged enum Rate"
        );
        let e = err(r#"{"model": "m", "metadata": null}"#);
        assert_eq!(e.field, "metadata");
        assert_eq!(
            err(r#"{"model": "m", "dataset_name": "random", "num_warmups": 18446744073709551615}"#)
                .field,
            "num_warmups"
        );
    }

    #[test]
    fn hosts_are_names_or_addresses_and_urls_are_built_from_them() {
        for bad in [
            "a@b",
            "a/b",
            "a?b",
            "a#b",
            "a b",
            "a:1",
            "",
            "-a",
            "[127.0.0.1]",
            "a%2f",
        ] {
            assert!(Host::parse("host", bad).is_err(), "{bad}");
        }
        let v = ok(r#"{"model": "m", "dataset_name": "random", "host": "::1", "port": 9}"#);
        assert_eq!(v.base_url, "http://[::1]:9");
        assert_eq!(v.target, ("::1".to_owned(), 9));
        let v = ok(r#"{"model": "m", "dataset_name": "random", "host": "[::1]", "port": 9}"#);
        assert_eq!(v.base_url, "http://[::1]:9");
        let v = ok(r#"{"model": "m", "dataset_name": "random", "host": "LocalHost"}"#);
        assert_eq!(v.base_url, "http://localhost:8000");
        let v = ok(
            r#"{"model": "m", "dataset_name": "random", "base_url": "http://127.0.0.1:9/prefix/"}"#,
        );
        assert_eq!(v.base_url, "http://127.0.0.1:9/prefix");
        assert_eq!(
            err(
                r#"{"model": "m", "dataset_name": "random", "base_url": "http://u:p@127.0.0.1:9"}"#
            )
            .field,
            "base_url"
        );
    }

    #[test]
    fn without_a_data_directory_no_file_can_be_named() {
        let e = err(r#"{"model": "m", "dataset_name": "sonnet", "dataset_path": "/etc/hostname"}"#);
        assert_eq!(e.field, "dataset_path");
        assert!(e.reason.contains("--data-dir"), "{e}");
        let e = err(r#"{"model": "m", "tokenizer": "/etc", "dataset_name": "random"}"#);
        assert_eq!(e.field, "tokenizer");
        let e = err(r#"{"model": "../../etc", "dataset_name": "random"}"#);
        assert_eq!(e.field, "model");
        assert_eq!(
            ok(r#"{"model": "deepseek-ai/DeepSeek-R1", "dataset_name": "random"}"#).tokenizer,
            TokenizerSource::Hub("deepseek-ai/DeepSeek-R1".into())
        );
    }

    #[test]
    fn names_are_looked_up_in_each_data_directory_in_order() {
        let base = std::env::temp_dir().join(format!("loadgen-roots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (first, second) = (base.join("datasets"), base.join("tokenizers"));
        std::fs::create_dir_all(first.join("tok")).unwrap();
        std::fs::create_dir_all(second.join("tok")).unwrap();
        std::fs::write(first.join("a.txt"), "1").unwrap();
        std::fs::write(second.join("a.txt"), "2").unwrap();
        std::fs::write(second.join("b.txt"), "2").unwrap();
        std::fs::write(base.join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), second.join("link.txt")).unwrap();
        let roots = vec![
            first.canonicalize().unwrap(),
            second.canonicalize().unwrap(),
        ];
        let found = |name: &str| data_file("f", name, &roots, false);
        // The first directory that has it wins; the second is looked in next.
        assert_eq!(found("a.txt").unwrap(), roots[0].join("a.txt"));
        assert_eq!(found("b.txt").unwrap(), roots[1].join("b.txt"));
        // An absolute name inside either is taken as it is.
        let abs = roots[1].join("b.txt");
        assert_eq!(found(abs.to_str().unwrap()).unwrap(), abs);
        // Escaping both, by `..`, an absolute path or a link, is refused.
        for name in [
            "../secret.txt",
            "link.txt",
            base.join("secret.txt").to_str().unwrap(),
            "/etc/passwd",
        ] {
            let e = found(name).unwrap_err();
            assert!(
                e.reason.contains("is outside the data directories ("),
                "{e}"
            );
        }
        let e = found("missing.txt").unwrap_err();
        assert!(
            e.reason.contains("is not readable in the data directories"),
            "{e}"
        );
        // A tokenizer directory in the second directory is a path; one
        // escaping both falls back to a Hub id only if it reads as one.
        let policy = Policy {
            data_dirs: vec![roots[0].clone()],
            ..Policy::default()
        };
        assert!(matches!(
            tokenizer_source("tokenizer", "tok", &policy),
            Ok(TokenizerSource::Path(p)) if p == roots[0].join("tok")
        ));
        let policy = Policy {
            data_dirs: roots.clone(),
            ..Policy::default()
        };
        assert!(matches!(
            tokenizer_source("tokenizer", "b.txt", &policy),
            Ok(TokenizerSource::Path(p)) if p == roots[1].join("b.txt")
        ));
        assert!(tokenizer_source("tokenizer", "../secret.txt", &policy).is_err());
        let _ = std::fs::remove_dir_all(&base);
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
