//! HTTP/1.1 connections to the server under test: TCP_NODELAY, a connect
//! timeout, and keep-alive reuse through a small idle pool — or, to
//! reproduce the Python client (a fresh aiohttp session per request), a new
//! connection for every request. `https://` URLs need the `https` feature
//! (rustls, Mozilla's roots plus any CA file the caller names).
//!
//! Every connection's reads are stamped ([`Arrivals`]): a streamed frame is
//! timed when its bytes reached the machine (the kernel's receive time,
//! [`servebench_net`]), not when the runtime got round to the connection's
//! task, nor when the request's task got the frame after hyper parsed and
//! passed it on.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use servebench_net::{OnIo, RxStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::ClientError;

pub(crate) type Sender = SendRequest<Full<Bytes>>;

const READ_BUFFER: usize = 4096;

/// A connection: where requests are sent, and when its reads brought bytes.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) sender: Sender,
    pub(crate) arrivals: Arc<Arrivals>,
}

impl Conn {
    /// When the head or frame just taken from hyper reached the machine
    /// (see [`Arrivals`]; now if nothing was read yet), never before
    /// `floor` (when the request went out, then the time before: a read
    /// the kernel did not stamp has its own time, later than the kernel's
    /// for the next), which it becomes.
    pub(crate) fn arrived(&self, floor: &mut Instant) -> Instant {
        let at = self
            .arrivals
            .take()
            .unwrap_or_else(Instant::now)
            .max(*floor);
        *floor = at;
        at
    }
}

/// The origin of [`Arrivals`]' stamps (nanoseconds after it, plus one, so
/// that zero means none).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn instant_of(stamp: u64) -> Option<Instant> {
    let nanos = stamp.checked_sub(1)?;
    epoch().checked_add(Duration::from_nanos(nanos))
}

fn stamp_of(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch()).as_nanos();
    u64::try_from(nanos)
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// When one connection's reads brought bytes, for timing what the
/// request's task takes from hyper.
///
/// The rule: a frame is stamped with the first read since the previous
/// frame (or the response head, or the request) was taken, else with the
/// latest read. Bytes of a connection arrive in order, so a frame's bytes
/// came in that first read or later (it is never stamped before its bytes
/// came, unless it arrived split across reads: then at its first part),
/// and at or before the latest one: stamps never pass the moment the frame
/// is taken, and they never go backwards. Frames that came in one read
/// share its stamp, as the Python client's chunks of one read share nearly
/// one time.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    /// The first read since the last [`Arrivals::take`] (0: none).
    unseen: AtomicU64,
    /// The latest read (0: none yet).
    latest: AtomicU64,
    /// When the first write since the last reset began (0: none).
    written: AtomicU64,
}

impl OnIo for Arrivals {
    fn on_read(&self, arrived: Option<Instant>) {
        // Where the kernel gave no time, the read's own.
        let stamp = stamp_of(arrived.unwrap_or_else(Instant::now));
        // Only the first read since the last take keeps its stamp.
        let _ = self
            .unseen
            .compare_exchange(0, stamp, Ordering::AcqRel, Ordering::Acquire);
        self.latest.store(stamp, Ordering::Release);
    }

    const TIMES_WRITES: bool = true;

    fn on_write(&self, started: Instant) {
        let _ = self.written.compare_exchange(
            0,
            stamp_of(started),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

impl Arrivals {
    /// Forgets the reads so far: call before sending a request, so that
    /// nothing read before it times its answer.
    pub(crate) fn reset(&self) {
        self.unseen.store(0, Ordering::Release);
        self.written.store(0, Ordering::Release);
    }

    /// When the first write since [`Arrivals::reset`] began: the request
    /// going out.
    pub(crate) fn written(&self) -> Option<Instant> {
        instant_of(self.written.load(Ordering::Acquire))
    }

    /// When the bytes of the head or frame just taken from hyper came (see
    /// the type's rule); `None` if nothing was read yet.
    pub(crate) fn take(&self) -> Option<Instant> {
        let stamp = match self.unseen.swap(0, Ordering::AcqRel) {
            0 => self.latest.load(Ordering::Acquire),
            first => first,
        };
        instant_of(stamp)
    }
}

/// Where requests go: parsed once from the API URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `host:port` to connect to.
    pub addr: String,
    /// The `Host` header.
    pub host: String,
    /// Path and query of the API URL.
    pub path: String,
    /// `https://`: TLS, verified against `server_name`.
    pub tls: bool,
    /// The host name (or address) without the port.
    pub server_name: String,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Endpoint, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: hyper::Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") if cfg!(feature = "https") => true,
            Some("https") => return Err(ClientError::Https { url: url.into() }),
            Some(other) => return Err(invalid(&format!("unsupported scheme {other:?}"))),
            None => return Err(invalid("no scheme (expected http://HOST:PORT/PATH)")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = authority.host();
        let path = uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        Ok(Endpoint {
            addr: format!("{host}:{port}"),
            host: authority.as_str().to_owned(),
            path,
            tls,
            server_name: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        })
    }
}

/// Opens, lends and takes back connections to one endpoint.
#[derive(Debug)]
pub(crate) struct Connections {
    endpoint: Endpoint,
    reuse: bool,
    connect_timeout: Duration,
    idle: Mutex<Vec<Conn>>,
    opened: AtomicU64,
    #[cfg(feature = "https")]
    tls: Option<tls::Tls>,
}

impl Connections {
    /// `ca_file`: more trusted certificate authorities (PEM) for HTTPS.
    pub(crate) fn new(
        endpoint: Endpoint,
        reuse: bool,
        connect_timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Self, ClientError> {
        #[cfg(feature = "https")]
        let tls = match endpoint.tls {
            true => Some(tls::Tls::new(&endpoint.server_name, ca_file)?),
            false => None,
        };
        #[cfg(not(feature = "https"))]
        let _ = ca_file;
        Ok(Connections {
            endpoint,
            reuse,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            opened: AtomicU64::new(0),
            #[cfg(feature = "https")]
            tls,
        })
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// How many TCP connections were opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// An idle connection ready for a request, or a new one.
    pub(crate) async fn get(&self) -> Result<Conn, String> {
        if self.reuse {
            loop {
                let candidate = match self.idle.lock() {
                    Ok(mut idle) => idle.pop(),
                    Err(_) => None,
                };
                let Some(mut conn) = candidate else { break };
                if conn.sender.is_closed() {
                    continue;
                }
                if conn.sender.ready().await.is_ok() {
                    return Ok(conn);
                }
            }
        }
        self.open().await
    }

    /// Returns a connection whose last response was read to the end.
    pub(crate) fn put(&self, conn: Conn) {
        if self.reuse && !conn.sender.is_closed() {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(conn);
            }
        }
    }

    async fn open(&self) -> Result<Conn, String> {
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
        let arrivals = Arc::new(Arrivals::default());
        let stream = RxStream::new(stream, Arc::clone(&arrivals));
        #[cfg(feature = "https")]
        if let Some(tls) = &self.tls {
            let stream = match tokio::time::timeout(self.connect_timeout, tls.connect(stream)).await
            {
                Err(_) => {
                    return Err(format!(
                        "TLS handshake with {addr} timed out after {:?}",
                        self.connect_timeout
                    ))
                }
                Ok(Err(e)) => return Err(format!("TLS handshake with {addr}: {e}")),
                Ok(Ok(s)) => s,
            };
            return self.handshake(stream, arrivals).await;
        }
        self.handshake(stream, arrivals).await
    }

    async fn handshake<T>(&self, io: T, arrivals: Arc<Arrivals>) -> Result<Conn, String>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // A fixed 4 KiB read buffer (hyper starts at 8 KiB and grows):
        // streamed events are small, and at 10,000 streams the buffers
        // are most of the client's memory.
        let (sender, conn) = http1::Builder::new()
            .read_buf_exact_size(Some(READ_BUFFER))
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", self.endpoint.addr))?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            // Its errors reach the request through the sender.
            let _ = conn.await;
        });
        Ok(Conn { sender, arrivals })
    }
}

#[cfg(feature = "https")]
mod tls {
    use super::ClientError;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    use std::path::Path;
    use std::sync::Arc;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    use tokio_rustls::{client::TlsStream, TlsConnector};

    pub(crate) struct Tls {
        connector: TlsConnector,
        server_name: ServerName<'static>,
    }

    impl std::fmt::Debug for Tls {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Tls")
                .field("server_name", &self.server_name)
                .finish_non_exhaustive()
        }
    }

    impl Tls {
        pub(crate) fn new(server_name: &str, ca_file: Option<&Path>) -> Result<Tls, ClientError> {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = ca_file {
                // A regular file of bounded size (a FIFO would block the
                // open, /dev/zero would grow a line buffer forever).
                let pem = servebench_files::read(path, servebench_files::Limit::CONFIG)
                    .map_err(|e| ClientError::Tls(format!("reading CA certificates: {e}")))?;
                let certs = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        ClientError::Tls(format!(
                            "reading CA certificates from {}: {e}",
                            path.display()
                        ))
                    })?;
                if certs.is_empty() {
                    return Err(ClientError::Tls(format!(
                        "{}: no PEM certificates in the file",
                        path.display()
                    )));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        ClientError::Tls(format!("a CA certificate in {}: {e}", path.display()))
                    })?;
                }
            }
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| ClientError::Tls(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let server_name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
                ClientError::Tls(format!(
                    "{server_name:?} is not a valid TLS server name: {e}"
                ))
            })?;
            Ok(Tls {
                connector: TlsConnector::from(Arc::new(config)),
                server_name,
            })
        }

        pub(crate) async fn connect<T>(&self, stream: T) -> std::io::Result<TlsStream<T>>
        where
            T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        {
            self.connector
                .connect(self.server_name.clone(), stream)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame is stamped with the first read since the last take, else
    /// the latest; stamps never go backwards; writes keep their first.
    #[test]
    fn arrivals_stamp_frames_by_their_reads() {
        let a = Arrivals::default();
        assert_eq!(a.take(), None, "nothing read yet");
        assert_eq!(a.written(), None);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        a.on_read(Some(at(1)));
        assert_eq!(a.take(), Some(at(1)));
        // Another frame of the same read.
        assert_eq!(a.take(), Some(at(1)));
        // Two reads before the next frame: it came in the first or later.
        a.on_read(Some(at(2)));
        a.on_read(Some(at(3)));
        assert_eq!(a.take(), Some(at(2)));
        assert_eq!(a.take(), Some(at(3)));
        // A new request forgets the unseen read, not the latest.
        a.on_read(Some(at(4)));
        a.reset();
        assert_eq!(a.take(), Some(at(4)));
        // An unstamped read has its own time.
        let before = Instant::now();
        a.on_read(None);
        assert!(a.take().is_some_and(|t| t >= before));
        // The request's write is the first write since the reset.
        a.on_write(at(5));
        a.on_write(at(6));
        assert_eq!(a.written(), Some(at(5)));
        a.reset();
        assert_eq!(a.written(), None);
    }

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:8000/v1/completions").unwrap();
        assert_eq!(e.addr, "127.0.0.1:8000");
        assert_eq!(e.host, "127.0.0.1:8000");
        assert_eq!(e.path, "/v1/completions");
        let e = Endpoint::parse("http://localhost/generate_stream?x=1").unwrap();
        assert_eq!(e.addr, "localhost:80");
        assert_eq!(e.path, "/generate_stream?x=1");
        let https = Endpoint::parse("https://h/v1/completions");
        if cfg!(feature = "https") {
            let e = https.unwrap();
            assert!(e.tls);
            assert_eq!((e.addr.as_str(), e.server_name.as_str()), ("h:443", "h"));
        } else {
            assert!(matches!(https, Err(ClientError::Https { .. })));
        }
        let e = Endpoint::parse("http://[::1]:9/x").unwrap();
        assert_eq!(
            (e.addr.as_str(), e.server_name.as_str()),
            ("[::1]:9", "::1")
        );
        assert!(Endpoint::parse("127.0.0.1:8000/v1").is_err());
        assert!(Endpoint::parse("ftp://h/x").is_err());
    }
}
