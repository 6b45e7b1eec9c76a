//! The HTTP API (hyper): routes, the bearer-token check on mutating calls,
//! JSON answers.
//!
//! | route | answer |
//! |---|---|
//! | `POST /start-load` | 202 `{"run_id", "state"}`; 400 `{"error": {"field", "reason"}}`; 409 when busy |
//! | `GET /runs` | every run, oldest first (no results) |
//! | `GET /runs/{id}` | state, progress, and the result when done |
//! | `POST /runs/{id}/stop` | 202; 404; 409 when already finished |
//! | `GET /health` | 200 |
//! | `GET /metrics` | Prometheus text |

use crate::runs::{Service, StartError, StopError};
use crate::spec::{self, Policy};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The largest request body accepted.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// How long a client may take to send a request's headers, and how long
/// an idle keep-alive connection is kept (hyper's header timer runs from
/// the moment the connection waits for a request).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's body.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest any one connection is kept, whatever it does (a client that
/// never reads its answer cannot hold a connection longer).
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

/// Connections served at once by default; more are closed as soon as they
/// are accepted.
pub(crate) const MAX_CONNECTIONS: usize = 4096;

/// How many connections this process can serve: [`MAX_CONNECTIONS`] after
/// raising the open-file limit towards the hard limit, else what the limit
/// leaves besides the runs' own connections.
pub(crate) fn connection_limit() -> usize {
    let reserve = 256 + RUN_CONNECTIONS;
    match servebench_client::check_open_files(MAX_CONNECTIONS + reserve) {
        Ok(()) => MAX_CONNECTIONS,
        Err(servebench_client::ClientError::OpenFiles { limit, .. }) => usize::try_from(limit)
            .unwrap_or(0)
            .saturating_sub(reserve)
            .max(64),
        Err(_) => 64,
    }
}

/// Descriptors kept free for a run's own connections to its target.
const RUN_CONNECTIONS: usize = 1024;

/// What the API needs besides the service.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub policy: Policy,
    /// When set, every mutating call needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Connections served at once; more are closed as soon as they are
    /// accepted ([`Launch::run`](crate::Launch::run) serves up to 4096, fewer
    /// when the open-file limit is lower).
    pub max_connections: usize,
}

type Body = Full<Bytes>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    respond(status, "application/json", format!("{v}\n"))
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({"error": {"reason": message}}))
}

/// Constant-time comparison, so the token cannot be guessed byte by byte
/// from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(req: &Request<Incoming>, token: &Option<String>) -> bool {
    let Some(token) = token else {
        return true;
    };
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

async fn handle(
    service: Arc<Service>,
    cfg: Arc<ApiConfig>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if method == Method::POST && !authorized(&req, &cfg.token) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required (Authorization: Bearer $LOADGEN_TOKEN)",
        );
        if let Ok(v) = "Bearer".parse() {
            r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
        }
        return Ok(r);
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let response = match (&method, parts.as_slice()) {
        (&Method::GET, ["health"]) => json_response(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, ["metrics"]) => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            service.metrics_text(),
        ),
        (&Method::GET, ["runs"]) => json_response(StatusCode::OK, &service.list()),
        (&Method::GET, ["runs", id]) => match service.get(id) {
            Some(run) => json_response(StatusCode::OK, &run),
            None => error(StatusCode::NOT_FOUND, "no such run"),
        },
        (&Method::POST, ["runs", id, "stop"]) => match service.stop(id) {
            Ok(state) => json_response(
                StatusCode::ACCEPTED,
                &json!({"run_id": id, "state": if state.name() == "running" { "stopping" } else { state.name() }}),
            ),
            Err(StopError::NotFound) => error(StatusCode::NOT_FOUND, "no such run"),
            Err(StopError::Finished(state)) => error(
                StatusCode::CONFLICT,
                &format!("the run has already ended ({})", state.name()),
            ),
        },
        (&Method::POST, ["start-load"]) => start(&service, &cfg, req).await,
        (_, ["health" | "metrics" | "runs" | "start-load"] | ["runs", _] | ["runs", _, "stop"]) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "no such route"),
    };
    Ok(response)
}

async fn start(service: &Service, cfg: &ApiConfig, req: Request<Incoming>) -> Response<Body> {
    let collect = Limited::new(req.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body must be JSON of at most {MAX_BODY} bytes"),
            )
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
        }
    };
    let valid = spec::parse(&body).and_then(|s| spec::validate(s, &cfg.policy));
    match valid {
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"field": e.field, "reason": e.reason}}),
        ),
        Ok(valid) => match service.start(valid) {
            Ok(id) => {
                let state = service
                    .get(&id)
                    .and_then(|r| r["state"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "queued".into());
                json_response(StatusCode::ACCEPTED, &json!({"run_id": id, "state": state}))
            }
            Err(StartError::Busy { active }) => json_response(
                StatusCode::CONFLICT,
                &json!({"error": {"reason": "a run is in progress; set \"queue\": true to wait for it", "active": active}}),
            ),
            Err(StartError::QueueFull { limit }) => json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"error": {"reason": format!("the queue is full ({limit} runs wait already); try again when one has started")}}),
            ),
        },
    }
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    cfg: ApiConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections.max(1)));
    let cfg = Arc::new(cfg);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, most likely: let some close.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                // Over the limit the connection is closed at once, so that
                // held connections cannot exhaust descriptors or memory.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    drop(stream);
                    continue;
                };
                let (service, cfg) = (Arc::clone(&service), Arc::clone(&cfg));
                let handler = hyper::service::service_fn(move |req| {
                    handle(Arc::clone(&service), Arc::clone(&cfg), req)
                });
                let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), handler);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(CONNECTION_LIFETIME, watched).await;
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::ServiceConfig;
    use crate::store::Store;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The status line of `GET /health` on a new connection, or why not.
    async fn health(addr: std::net::SocketAddr) -> std::io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).await?;
        Ok(answer.lines().next().unwrap_or("").to_owned())
    }

    #[tokio::test]
    async fn connections_over_the_limit_are_closed_and_a_freed_slot_serves_again() {
        let dir = std::env::temp_dir().join(format!("loadgen-api-{}", std::process::id()));
        let service = Service::new(ServiceConfig {
            store: Store::Dir(dir.join("results")),
            staging_dir: dir.join("staging"),
            env: |_| None,
            date: || "20261129-000000".into(),
            api_key: None,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = ApiConfig {
            policy: Policy::default(),
            token: None,
            max_connections: 2,
        };
        tokio::spawn(serve(listener, service, cfg, std::future::pending()));
        let first = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Both slots are held: the next connection is closed unanswered.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let refused = health(addr).await.unwrap_or_default();
        assert_eq!(refused, "", "{refused}");
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(health(addr).await.unwrap(), "HTTP/1.1 200 OK");
    }

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
