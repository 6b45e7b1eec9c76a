//! Results uploaded to an S3-compatible bucket: a local `moto` server
//! (PyPI `moto[server]`; `cargo xtask ci` installs it in target/ci-venv) on
//! 127.0.0.1, started and stopped by the test.

mod common;

use common::{json, scratch, service, simulator, spec, start, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP exchange with the bucket server (moto does not check
/// signatures); returns the status and body.
fn raw(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_owned()))
}

fn moto() -> Moto {
    // MOTO_SERVER, else the one `cargo xtask ci` installs, else PATH's.
    let venv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/ci-venv/bin/moto_server"
    );
    let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
        if std::path::Path::new(venv).is_file() {
            venv.into()
        } else {
            "moto_server".into()
        }
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("starting {program} failed ({e}): `cargo xtask ci` installs it in target/ci-venv; or `pip install 'moto[server]'`, or point MOTO_SERVER at it")
        });
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while raw(port, "GET", "/").is_none() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

#[test]
fn results_are_uploaded_to_the_bucket() {
    let bucket = moto();
    assert_eq!(raw(bucket.port, "PUT", "/results").map(|r| r.0), Some(200));
    let sim = simulator();
    let dir = scratch("s3");
    let endpoint = format!("http://127.0.0.1:{}", bucket.port);
    let svc = service(
        &dir,
        &["--results-url", "s3://results/runs"],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &endpoint),
        ],
    );
    let addr = svc.addr.as_str();
    let (id, _) = start(addr, &spec(sim, 6, ""));
    let run = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["error"], serde_json::Value::Null, "{run}");
    assert_eq!(
        run["result_location"],
        format!("s3://results/runs/{id}.json").as_str()
    );
    // Read it back as any S3 client would.
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("results")
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let object = runtime.block_on(async {
        use object_store::ObjectStore;
        let path = object_store::path::Path::from(format!("runs/{id}.json"));
        s3.get(&path).await.unwrap().bytes().await.unwrap()
    });
    let stored = json(&String::from_utf8_lossy(&object));
    assert_eq!(stored["completed"], 6);
    assert_eq!(stored["date"], run["result"]["date"]);
    // Nothing was left behind locally.
    assert!(!dir.join("results").join(format!("{id}.json")).exists());
}
