//! A minimal HTTP/1.1 `GET` for `/metrics` over a tokio `TcpStream`, with a
//! deadline and a cap on the body. Plain `http://` only (metrics endpoints
//! of inference servers are plain HTTP on the node; TLS would need a TLS
//! stack this crate does not carry). One connection per scrape
//! (`Connection: close`), so a server that misbehaves cannot wedge a pooled
//! connection; at 3 scrapes a second that costs nothing.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// `host:port` as connected to (IPv6 in brackets).
    pub(crate) authority: String,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
}

pub(crate) fn parse_url(url: &str) -> Result<HttpUrl, String> {
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if url.starts_with("https://") {
        return Err("https is not supported for server metrics (plain http only)".into());
    } else {
        return Err("not an http:// URL".into());
    };
    let (host_port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host_port.is_empty() || host_port.contains('@') {
        return Err("no host (or userinfo, which is not supported)".into());
    }
    // A port is present when the text after the last ':' is all digits and
    // the colon is not inside an IPv6 literal.
    let has_port = match host_port.rfind(':') {
        Some(i) => {
            !host_port[i..].contains(']')
                && host_port[i.saturating_add(1)..]
                    .bytes()
                    .all(|c| c.is_ascii_digit())
        }
        None => false,
    };
    let authority = if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:80")
    };
    Ok(HttpUrl {
        authority,
        path: path.to_string(),
    })
}

/// One response, with the wall-clock stamps of the exchange (epoch ns).
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) request_sent_ns: u64,
    pub(crate) first_byte_ns: u64,
    pub(crate) done_ns: u64,
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{0}")]
    Url(String),
    #[error("connect: {0}")]
    Connect(String),
    #[error("i/o: {0}")]
    Io(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// Wall-clock epoch nanoseconds (saturating; a clock before 1970 reads 0).
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Response heads larger than this are refused.
const MAX_HEAD: usize = 64 * 1024;

pub(crate) async fn get(
    url: &str,
    timeout: Duration,
    max_body: usize,
) -> Result<Fetched, FetchError> {
    let parsed = parse_url(url).map_err(FetchError::Url)?;
    match tokio::time::timeout(timeout, exchange(&parsed, max_body)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}

async fn exchange(url: &HttpUrl, max_body: usize) -> Result<Fetched, FetchError> {
    let mut stream = TcpStream::connect(url.authority.as_str())
        .await
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: servebench-agentx\r\n\
         Accept: text/plain;version=0.0.4;q=0.9,*/*;q=0.1\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    );
    let request_sent_ns = now_ns();
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut first_byte_ns = None;
    let mut head: Option<Head> = None;
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| FetchError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        first_byte_ns.get_or_insert_with(now_ns);
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if head.is_none() {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                head = Some(parse_head(
                    buf.get(..end).unwrap_or_default(),
                    end.saturating_add(4),
                )?);
            } else if buf.len() > MAX_HEAD {
                return Err(FetchError::Malformed("response head too large".into()));
            }
        }
        if let Some(h) = &head {
            let body_len = buf.len().saturating_sub(h.body_start);
            // Chunk framing adds a few bytes per chunk; allow a quarter more
            // raw bytes than the body cap before giving up.
            let raw_cap = if h.chunked {
                max_body
                    .saturating_add(max_body / 4)
                    .saturating_add(MAX_HEAD)
            } else {
                max_body
            };
            if h.content_length.is_some_and(|len| len > max_body) || body_len > raw_cap {
                return Err(FetchError::TooLarge(max_body));
            }
            if let Some(len) = h.content_length {
                if body_len >= len {
                    break;
                }
            } else if h.chunked && buf.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
    }
    let done_ns = now_ns();
    let head =
        head.ok_or_else(|| FetchError::Malformed("connection closed before the head".into()))?;
    let raw = buf.get(head.body_start..).unwrap_or_default();
    let body = if head.chunked {
        dechunk(raw, max_body)?
    } else {
        let len = head.content_length.unwrap_or(raw.len()).min(raw.len());
        if len > max_body {
            return Err(FetchError::TooLarge(max_body));
        }
        raw.get(..len).unwrap_or_default().to_vec()
    };
    Ok(Fetched {
        status: head.status,
        content_type: head.content_type,
        body,
        request_sent_ns,
        first_byte_ns: first_byte_ns.unwrap_or(done_ns),
        done_ns,
    })
}

#[derive(Debug)]
struct Head {
    status: u16,
    content_type: Option<String>,
    content_length: Option<usize>,
    chunked: bool,
    body_start: usize,
}

fn parse_head(head: &[u8], body_start: usize) -> Result<Head, FetchError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(FetchError::Malformed(format!(
            "status line {status_line:?}"
        )));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| FetchError::Malformed(format!("status line {status_line:?}")))?;
    let mut h = Head {
        status,
        content_type: None,
        content_length: None,
        chunked: false,
        body_start,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => h.content_type = Some(value.to_string()),
            "content-length" => {
                h.content_length = Some(
                    value
                        .parse()
                        .map_err(|_| FetchError::Malformed(format!("content-length {value:?}")))?,
                )
            }
            "transfer-encoding" => h.chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    if h.chunked {
        h.content_length = None;
    }
    Ok(h)
}

/// Decodes a chunked body (trailers ignored), refusing more than `max` bytes.
fn dechunk(mut raw: &[u8], max: usize) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(raw, b"\r\n") else {
            return Err(FetchError::Malformed("truncated chunk size".into()));
        };
        let line = String::from_utf8_lossy(raw.get(..eol).unwrap_or_default());
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| FetchError::Malformed(format!("chunk size {size_hex:?}")))?;
        let start = eol.saturating_add(2);
        if size == 0 {
            return Ok(out);
        }
        if out.len().saturating_add(size) > max {
            return Err(FetchError::TooLarge(max));
        }
        let end = start
            .checked_add(size)
            .filter(|&e| e <= raw.len())
            .ok_or_else(|| FetchError::Malformed("truncated chunk".into()))?;
        out.extend_from_slice(raw.get(start..end).unwrap_or_default());
        raw = raw
            .get(end.saturating_add(2).min(raw.len())..)
            .unwrap_or_default();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8000/metrics").unwrap();
        assert_eq!(u.authority, "127.0.0.1:8000");
        assert_eq!(u.path, "/metrics");
        let u = parse_url("http://example/x?y=1").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("example:80", "/x?y=1")
        );
        let u = parse_url("http://[::1]:9/metrics").unwrap();
        assert_eq!(u.authority, "[::1]:9");
        assert_eq!(parse_url("http://[::1]/").unwrap().authority, "[::1]:80");
        assert!(parse_url("https://x/metrics").is_err());
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http:///metrics").is_err());
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n", 10).unwrap(),
            b"abcde"
        );
        assert_eq!(
            dechunk(b"3\r\nabc\r\n0\r\n\r\n", 2),
            Err(FetchError::TooLarge(2))
        );
        assert!(dechunk(b"ff\r\nabc", 1000).is_err());
        assert!(dechunk(b"zz\r\n", 1000).is_err());
    }

    /// A server that answers every connection with `response`, then keeps
    /// writing `tail` forever (or holds the socket open when `tail` is empty).
    async fn hostile(response: &'static [u8], tail: &'static [u8]) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut req = [0u8; 1024];
                    let _ = s.read(&mut req).await;
                    let _ = s.write_all(response).await;
                    loop {
                        if tail.is_empty() {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        } else if s.write_all(tail).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        format!("http://{addr}/metrics")
    }

    #[tokio::test]
    async fn endless_or_oversized_bodies_are_refused() {
        let endless = hostile(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
            &[b'x'; 4096],
        )
        .await;
        let err = get(&endless, Duration::from_secs(5), 64 * 1024)
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::TooLarge(64 * 1024));
        let declared = hostile(
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\nabc",
            b"",
        )
        .await;
        let err = get(&declared, Duration::from_secs(5), 1024)
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::TooLarge(1024));
        let chunks = hostile(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"1000\r\n",
        )
        .await;
        assert!(get(&chunks, Duration::from_secs(5), 1024).await.is_err());
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let silent = hostile(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", b"").await;
        let t = Duration::from_millis(200);
        assert_eq!(
            get(&silent, t, 1024).await.unwrap_err(),
            FetchError::Timeout(t)
        );
    }

    #[test]
    fn heads() {
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 12",
            0,
        )
        .unwrap();
        assert_eq!(
            (h.status, h.content_length, h.chunked),
            (200, Some(12), false)
        );
        assert_eq!(h.content_type.as_deref(), Some("text/plain"));
        assert!(parse_head(b"SSH-2.0-OpenSSH", 0).is_err());
    }
}
