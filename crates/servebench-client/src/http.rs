//! HTTP/1.1 connections to the server under test: TCP_NODELAY, a connect
//! timeout, and keep-alive reuse through a small idle pool — or, to
//! reproduce the Python client (a fresh aiohttp session per request), a new
//! connection for every request.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub type Sender = SendRequest<Full<Bytes>>;

const READ_BUFFER: usize = 4096;

/// Where requests go: parsed once from the API URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` to connect to.
    pub addr: String,
    /// The `Host` header.
    pub host: String,
    /// Path and query of the API URL.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid URL {url}: {reason}")]
    Invalid { url: String, reason: String },
    #[error("{url}: HTTPS is not supported by this build; use an http:// URL (or a TLS-terminating proxy)")]
    Https { url: String },
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let invalid = |reason: &str| EndpointError::Invalid {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: hyper::Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(EndpointError::Https { url: url.into() }),
            Some(other) => return Err(invalid(&format!("unsupported scheme {other:?}"))),
            None => return Err(invalid("no scheme (expected http://HOST:PORT/PATH)")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let host = authority.host();
        let path = uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        Ok(Endpoint {
            addr: format!("{host}:{port}"),
            host: authority.as_str().to_owned(),
            path,
        })
    }
}

/// Opens, lends and takes back connections to one endpoint.
#[derive(Debug)]
pub struct Connections {
    endpoint: Endpoint,
    reuse: bool,
    connect_timeout: Duration,
    idle: Mutex<Vec<Sender>>,
    opened: AtomicU64,
}

impl Connections {
    pub fn new(endpoint: Endpoint, reuse: bool, connect_timeout: Duration) -> Self {
        Connections {
            endpoint,
            reuse,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            opened: AtomicU64::new(0),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// How many TCP connections were opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// An idle connection ready for a request, or a new one.
    pub async fn get(&self) -> Result<Sender, String> {
        if self.reuse {
            loop {
                let candidate = match self.idle.lock() {
                    Ok(mut idle) => idle.pop(),
                    Err(_) => None,
                };
                let Some(mut sender) = candidate else { break };
                if sender.is_closed() {
                    continue;
                }
                if sender.ready().await.is_ok() {
                    return Ok(sender);
                }
            }
        }
        self.open().await
    }

    /// Returns a connection whose last response was read to the end.
    pub fn put(&self, sender: Sender) {
        if self.reuse && !sender.is_closed() {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(sender);
            }
        }
    }

    async fn open(&self) -> Result<Sender, String> {
        let addr = &self.endpoint.addr;
        let stream =
            match tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(addr))
                .await
            {
                Err(_) => {
                    return Err(format!(
                        "connecting to {addr} timed out after {:?}",
                        self.connect_timeout
                    ))
                }
                Ok(Err(e)) => return Err(format!("cannot connect to {addr}: {e}")),
                Ok(Ok(s)) => s,
            };
        // Tokens are small writes and reads; Nagle would delay them.
        stream
            .set_nodelay(true)
            .map_err(|e| format!("setting TCP_NODELAY on {addr}: {e}"))?;
        // A fixed 4 KiB read buffer (hyper starts at 8 KiB and grows):
        // streamed events are small, and at 10,000 streams the buffers
        // are most of the client's memory.
        let (sender, conn) = http1::Builder::new()
            .read_buf_exact_size(Some(READ_BUFFER))
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            // Its errors reach the request through the sender.
            let _ = conn.await;
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:8000/v1/completions").unwrap();
        assert_eq!(e.addr, "127.0.0.1:8000");
        assert_eq!(e.host, "127.0.0.1:8000");
        assert_eq!(e.path, "/v1/completions");
        let e = Endpoint::parse("http://localhost/generate_stream?x=1").unwrap();
        assert_eq!(e.addr, "localhost:80");
        assert_eq!(e.path, "/generate_stream?x=1");
        assert!(matches!(
            Endpoint::parse("https://h/v1/completions"),
            Err(EndpointError::Https { .. })
        ));
        assert!(Endpoint::parse("127.0.0.1:8000/v1").is_err());
        assert!(Endpoint::parse("ftp://h/x").is_err());
    }
}
