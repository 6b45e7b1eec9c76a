//! The crate's one error type.

/// What can go wrong in this crate: a run that cannot start (endpoint,
/// TLS, open files, arrival gaps), a request that cannot be built, and why
/// a request failed while its answer streamed in (a per-request cap, an
/// event stream that does not decode, a chunk the backend's rules reject).
/// The last kinds end up as the failed request's `error` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{url}: HTTPS is not supported by this build (built without the `https` feature); use an http:// URL (or a TLS-terminating proxy)")]
    Https { url: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("up to {connections} connections need about {needed} open files, but the open-file limit is {limit} and the hard limit does not allow more; raise it (ulimit -Hn {needed}; ulimit -n {needed}) or lower --max-concurrency")]
    OpenFiles {
        connections: usize,
        needed: u64,
        limit: u64,
    },
    #[error("{gaps} arrival gaps for {requests} requests")]
    Gaps { gaps: usize, requests: usize },
    #[error("the {backend} backend needs an API URL ending in {suffix}, got {url}")]
    BackendUrl {
        backend: &'static str,
        suffix: &'static str,
        url: String,
    },
    #[error("the {backend} backend supports only --best-of 1")]
    BestOf { backend: &'static str },
    /// A request went past [`MAX_EVENTS`](crate::MAX_EVENTS).
    #[error("the stream exceeded {limit} events, the per-request cap")]
    Events { limit: usize },
    /// A request went past [`MAX_TEXT_BYTES`](crate::MAX_TEXT_BYTES).
    #[error("the generated text exceeded {} MiB, the per-request cap", limit >> 20)]
    Text { limit: usize },
    /// A whole response went past [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES).
    #[error("the response body exceeded {} MiB, the cap on a whole response", limit >> 20)]
    Body { limit: usize },
    #[error("invalid UTF-8 in the event stream at byte {offset}")]
    InvalidUtf8 { offset: u64 },
    /// A line past [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES).
    #[error("a line of the event stream (from byte {offset}) exceeds the {} MiB line cap", limit >> 20)]
    LineTooLong { limit: usize, offset: u64 },
    /// An event past [`MAX_EVENT_BYTES`](crate::MAX_EVENT_BYTES).
    #[error("an event's data (at the line from byte {offset}) exceeds the {} MiB event cap", limit >> 20)]
    EventTooLarge { limit: usize, offset: u64 },
    /// An event's data is not JSON (`data`: its first 120 characters).
    #[error("JSONDecodeError: {message}: {data}")]
    Json { message: String, data: String },
    /// An event's data is JSON but not an object (`data`: its first 120
    /// characters).
    #[error("expected a JSON object, got {data}")]
    NotObject { data: String },
    /// A chunk lacks the key its backend reads, as Python's `KeyError`.
    #[error("KeyError: '{0}'")]
    MissingKey(&'static str),
}

/// The first 120 characters of `data`, as Python's `f"{data:.120}"`.
pub(crate) fn head(data: &str) -> String {
    format!("{data:.120}")
}
