//! What the scripted test servers share: reading one HTTP/1.1 request.

use std::io::BufRead;
use std::net::{TcpListener, TcpStream};

/// Listens on 127.0.0.1 and serves every connection with `connection` on
/// a thread of its own; the port.
/// (Every test crate includes this module; not every one serves this way.)
#[allow(dead_code)]
pub fn serve(connection: fn(TcpStream) -> std::io::Result<()>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = connection(stream);
            });
        }
    });
    port
}

/// A request as a scripted server sees it.
/// (Every test crate includes this module; not every one reads all of it.)
#[allow(dead_code)]
pub struct Request {
    /// Header names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the next request off a connection (its head, then a
/// `content-length` body); `None` when the client closed it first.
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.to_ascii_lowercase();
            let value = value.trim().to_owned();
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request { headers, body }))
}
