//! The single-exchange chat API against a scripted keep-alive server on
//! 127.0.0.1: content events and usage are read, extra headers reach the
//! server, the connection is reused, and a status, a stall and a cut
//! stream each come back as their own error kind.

mod support;

use servebench_client::{ChatClient, ChatErrorKind};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Serves requests on one connection until the client closes it; the
/// `x-case` header picks the answer.
fn connection(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let Some(request) = support::read_request(&mut reader)? else {
            return Ok(());
        };
        let case = request.header("x-case").unwrap_or("").to_owned();
        let rid = request.header("x-request-id").unwrap_or("").to_owned();
        match case.as_str() {
            "ok" => {
                let sse = format!(
                    "data: {{\"choices\":[{{\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}}}}]}}\n\n\
                     data: {{\"choices\":[{{\"delta\":{{\"content\":\"{rid}\"}}}}]}}\n\n\
                     data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}}}\n\n\
                     data: [DONE]\n\n"
                );
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{sse}",
                    sse.len()
                )?;
            }
            "500" => {
                let text = "{\"error\":\"context too long\"}";
                write!(
                    out,
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\n\r\n{text}",
                    text.len()
                )?;
            }
            "stall" => {
                out.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
                )?;
                std::thread::sleep(Duration::from_secs(2));
                return Ok(());
            }
            _ => {
                out.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n10\r\ndata: {\"choi",
                )?;
                return Ok(());
            }
        }
        out.flush()?;
    }
}

#[tokio::test]
async fn exchanges() {
    let port = support::serve(connection);
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let client = ChatClient::new(
        &url,
        Duration::from_secs(2),
        Duration::from_millis(300),
        None,
    )
    .unwrap();
    let body = bytes::Bytes::from_static(b"{\"messages\":[]}");
    for _ in 0..2 {
        let ok = client
            .send(body.clone(), &[("x-case", "ok"), ("X-Request-ID", "abc")])
            .await;
        assert!(ok.error.is_none(), "{:?}", ok.error);
        assert_eq!(ok.status, Some(200));
        let flags: Vec<bool> = ok.events.iter().map(|e| e.content).collect();
        assert_eq!(flags, [false, true, false]);
        assert_eq!(ok.usage.prompt_tokens, Some(3));
        assert_eq!(ok.usage.completion_tokens, Some(1));
        assert!(ok
            .head_ns
            .is_some_and(|h| h >= ok.start_ns && h <= ok.end_ns));
        assert!(ok.bytes_sent > 15 && ok.bytes_received > 100);
    }
    // Keep-alive: both requests used one connection.
    assert_eq!(client.connections_opened(), 1);

    let e = client.send(body.clone(), &[("x-case", "500")]).await;
    let err = e.error.unwrap();
    assert_eq!((err.kind, err.status), (ChatErrorKind::Status, Some(500)));
    assert!(err.message.contains("context too long"), "{}", err.message);

    let e = client.send(body.clone(), &[("x-case", "stall")]).await;
    assert_eq!(e.error.unwrap().kind, ChatErrorKind::Timeout);

    let e = client.send(body.clone(), &[("x-case", "cut")]).await;
    assert_eq!(e.error.unwrap().kind, ChatErrorKind::Cut);

    let e = client.send(body, &[("bad header", "x")]).await;
    assert_eq!(e.error.unwrap().kind, ChatErrorKind::Protocol);
}
