//! When a request reached this machine: the kernel's receive time of the
//! bytes a connection reads (`SO_TIMESTAMPNS`), so the ground truth's
//! arrival — and the simulated TTFT's start — do not wait for the
//! simulator to get round to the connection. Under a burst a simulator
//! thread parses some 20,000-30,000 requests a second; a request the
//! client sent at once used to be stamped only when parsed, and the time it
//! sat in the socket counted as the client's error.
//!
//! The timestamp is that of the last segment a read consumed; a request
//! (head and body, written together by clients) is read before its handler
//! runs, and no client here pipelines, so it is the request's arrival.
//! Where the kernel gives none (another OS, the option refused, or the
//! first moments after the machine's first socket asked: the kernel turns
//! receive timestamps on in deferred work), the arrival is when the handler
//! runs, as before.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Arrivals older than this (or in the future) are clock trouble, not
/// queueing: the handler's own time is used instead.
const PLAUSIBLE: Duration = Duration::from_secs(10);

/// The wall clock (what the kernel stamps) against the monotonic one,
/// read once together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clocks {
    instant: Instant,
    wall_ns: u64,
}

impl Clocks {
    pub(crate) fn now() -> Clocks {
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Clocks {
            instant: Instant::now(),
            wall_ns,
        }
    }

    /// The monotonic instant of a kernel timestamp (wall-clock ns), where
    /// it is at most [`PLAUSIBLE`] before `now` and not after it.
    fn instant_of(&self, wall_ns: u64, now: Instant) -> Option<Instant> {
        let at = match wall_ns.checked_sub(self.wall_ns) {
            Some(after) => self.instant.checked_add(Duration::from_nanos(after))?,
            None => self
                .instant
                .checked_sub(Duration::from_nanos(self.wall_ns - wall_ns))?,
        };
        (at <= now && now.duration_since(at) <= PLAUSIBLE).then_some(at)
    }
}

/// Bytes one read takes at most: a request head and body in one read,
/// without zeroing hyper's whole buffer every time.
const READ_CHUNK: usize = 16 * 1024;

/// A connection's last receive time (wall-clock ns; 0: none yet).
#[derive(Debug, Default)]
pub(crate) struct LastRx(AtomicU64);

impl LastRx {
    /// When the request just read arrived, else now.
    pub(crate) fn arrival(&self, clocks: &Clocks) -> Instant {
        let now = Instant::now();
        match self.0.load(Ordering::Relaxed) {
            0 => now,
            ns => clocks.instant_of(ns, now).unwrap_or(now),
        }
    }
}

/// A TCP connection whose reads note the kernel's receive time in a
/// [`LastRx`] the request handlers share.
pub(crate) struct TimedStream {
    inner: TcpStream,
    last_rx: Arc<LastRx>,
    /// The kernel gives timestamps on this socket.
    stamped: bool,
}

impl TimedStream {
    pub(crate) fn new(inner: TcpStream) -> (TimedStream, Arc<LastRx>) {
        let stamped = enable(&inner);
        let last_rx = Arc::new(LastRx::default());
        let stream = TimedStream {
            inner,
            last_rx: Arc::clone(&last_rx),
            stamped,
        };
        (stream, last_rx)
    }
}

#[cfg(target_os = "linux")]
fn enable(stream: &TcpStream) -> bool {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimestampns};
    setsockopt(stream, ReceiveTimestampns, &true).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn enable(_: &TcpStream) -> bool {
    false
}

/// One `recvmsg` into `buf`: the bytes read and the receive time of the
/// last segment they came from (wall-clock ns).
#[cfg(target_os = "linux")]
fn recv_stamped(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::AsRawFd;
    let mut iov = [io::IoSliceMut::new(buf)];
    // Room for one timespec control message (32 bytes on 64-bit Linux).
    let mut control = [0u8; 64];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut at = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                let ns = u64::try_from(ts.tv_sec())
                    .ok()
                    .and_then(|s| s.checked_mul(1_000_000_000))
                    .and_then(|s| s.checked_add(u64::try_from(ts.tv_nsec()).ok()?));
                at = ns;
            }
        }
    }
    Ok((msg.bytes, at))
}

#[cfg(not(target_os = "linux"))]
fn recv_stamped(_: &TcpStream, _: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no receive timestamps",
    ))
}

impl AsyncRead for TimedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.stamped {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            if let Err(e) = std::task::ready!(this.inner.poll_read_ready(cx)) {
                return Poll::Ready(Err(e));
            }
            // Safe code must zero what it reads into; hyper hands a fresh,
            // uninitialised buffer to each read (8 KiB and growing), so
            // zeroing all of it per read would cost more than the read.
            let unfilled = buf.initialize_unfilled_to(buf.remaining().min(READ_CHUNK));
            let inner = &this.inner;
            match inner.try_io(tokio::io::Interest::READABLE, || {
                recv_stamped(inner, unfilled)
            }) {
                Ok((n, at)) => {
                    if let Some(ns) = at.filter(|_| n > 0) {
                        this.last_rx.0.store(ns, Ordering::Relaxed);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes that wait in the socket before they are read are stamped
    /// with when they arrived, not when they were read.
    #[tokio::test]
    async fn reads_carry_the_kernels_receive_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let clocks = Clocks::now();
        let (mut server, last_rx) = TimedStream::new(server);
        assert_eq!(last_rx.0.load(Ordering::Relaxed), 0, "nothing read yet");
        // The kernel turns receive timestamps on for the machine in
        // deferred work when the first socket asks (`net_enable_timestamp`):
        // until then segments arrive unstamped (and arrivals fall back to
        // the handler's time). Wait for a stamped byte first.
        let mut buf = [0u8; 64];
        for _ in 0..100 {
            client.write_all(b"x").await.unwrap();
            assert_eq!(server.read(&mut buf).await.unwrap(), 1);
            if last_rx.0.load(Ordering::Relaxed) != 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sent = Instant::now();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        let arrived = last_rx.arrival(&clocks);
        if cfg!(target_os = "linux") {
            assert!(server.stamped, "the kernel gives receive timestamps");
            // Arrived right after the write, long before the read.
            let late = arrived.saturating_duration_since(sent);
            assert!(
                late < Duration::from_millis(100),
                "stamped {late:?} after sending"
            );
        }
        // A read past READ_CHUNK arrives whole over several reads.
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&big).await.unwrap();
        let mut got = vec![0u8; big.len()];
        server.read_exact(&mut got).await.unwrap();
        assert!(got == big);
        // Writes pass through.
        server.write_all(b"ok").await.unwrap();
        let mut back = [0u8; 2];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ok");
    }

    #[test]
    fn implausible_stamps_are_ignored() {
        let clocks = Clocks::now();
        let now = Instant::now();
        assert!(clocks.instant_of(clocks.wall_ns, now).is_some());
        // In the future, or long ago.
        assert!(clocks
            .instant_of(clocks.wall_ns + 60_000_000_000, now)
            .is_none());
        assert!(clocks
            .instant_of(clocks.wall_ns.saturating_sub(60_000_000_000), now)
            .is_none());
        assert!(clocks.instant_of(0, now).is_none());
    }
}
