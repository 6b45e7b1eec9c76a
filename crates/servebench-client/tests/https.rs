//! HTTPS (feature `https`): a TLS server on 127.0.0.1 with a throwaway
//! certificate streams one answer; the client trusts it only through the
//! CA file it is given.
#![cfg(feature = "https")]

use servebench_client::{self as run, Kind, PreparedRequest, RunOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

const STREAM: &str = "data: {\"choices\": [{\"text\": \"hi\"}]}\n\ndata: [DONE]\n\n";

/// Serves every connection: reads one request head and body, answers with
/// a chunked SSE stream. Returns the port and the certificate (PEM).
async fn tls_server() -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let pem = cert.cert.pem();
    let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !String::from_utf8_lossy(&seen).contains("}") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                let body = format!("{:x}\r\n{STREAM}\r\n0\r\n\r\n", STREAM.len());
                let _ = tls.write_all(format!("{head}{body}").as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, pem)
}

fn options(port: u16, ca_file: Option<std::path::PathBuf>) -> RunOptions {
    RunOptions {
        kind: Kind::Completions,
        api_url: format!("https://localhost:{port}/v1/completions"),
        authorization: String::new(),
        max_concurrency: None,
        reuse_connections: true,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(10),
        interrupt_grace: Duration::from_secs(1),
        ca_file,
    }
}

fn request() -> Vec<PreparedRequest> {
    vec![PreparedRequest {
        body: r#"{"model": "m", "prompt": "x", "stream": true}"#.into(),
        prompt_len: 1,
    }]
}

#[test]
fn https_streams_when_the_certificate_is_trusted_and_fails_clearly_otherwise() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (port, pem) = runtime.block_on(tls_server());
    let dir = std::env::temp_dir().join(format!("servebench-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).expect("write CA");

    let go = |opts: RunOptions| {
        runtime
            .block_on(run::run(
                opts,
                request(),
                &[None],
                Arc::new(run::Quiet),
                std::future::pending(),
            ))
            .expect("run")
    };
    let trusted = go(options(port, Some(ca.clone())));
    let out = &trusted.outputs[0];
    assert!(out.success, "{}", out.error);
    assert_eq!(out.generated_text, "hi");
    assert_eq!(trusted.audit.connections_opened, 1);

    let untrusted = go(options(port, None));
    let out = &untrusted.outputs[0];
    assert!(!out.success);
    assert!(out.error.contains("TLS handshake"), "{}", out.error);

    // A CA file that holds no certificate is refused before anything is sent.
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let err = run::Client::new(options(port, Some(empty))).expect_err("no certificates");
    assert!(err.to_string().contains("no PEM certificates"), "{err}");
    // Neither a FIFO (which would block the open) nor /dev/zero (an endless
    // line) is read.
    let fifo = dir.join("fifo.pem");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    for special in [fifo, std::path::PathBuf::from("/dev/zero")] {
        let err = run::Client::new(options(port, Some(special.clone()))).expect_err("refused");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
