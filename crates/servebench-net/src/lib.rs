//! When bytes reached this machine: TCP streams whose reads carry the
//! kernel's receive time of what they read (`SO_TIMESTAMPNS`), for the two
//! ends of a measurement that must not count their own scheduling — the
//! simulator's ground truth (a request arrived when its bytes came, not
//! when its one thread got round to the connection) and the client's
//! token times (a token came when its bytes came, not when the runtime got
//! round to the connection's task).
//!
//! Owns: the stamped stream and turning the kernel's wall-clock stamps into
//! [`Instant`]s. Not: what a stamp means to HTTP (which request or frame it
//! times) — that is each user's rule, given every read's time (and every
//! write's start) through [`OnIo`].
//!
//! A read's stamp is that of the last segment it consumed. Where the kernel
//! gives none (another OS, the option refused, or the first moments after
//! the machine's first socket asked: the kernel turns receive timestamps on
//! in deferred work), a read's time is `None` and the user falls back to
//! its own clock.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Hears of every read that returned bytes, and every write that took
/// some.
pub trait OnIo: Send + Sync + 'static {
    /// `arrived`: when the last of the bytes just read reached this
    /// machine, from the kernel; `None` where it gave no time.
    fn on_read(&self, arrived: Option<Instant>);

    /// Whether [`OnIo::on_write`] wants to hear of writes (a clock read
    /// per write otherwise spent for nothing: the simulator writes every
    /// token).
    const TIMES_WRITES: bool = false;

    /// `started`: when the write call that just took bytes began (only
    /// where [`OnIo::TIMES_WRITES`]).
    fn on_write(&self, started: Instant) {
        let _ = started;
    }
}

/// A TCP stream whose reads report the kernel's receive time to `R`.
#[derive(Debug)]
pub struct RxStream<R> {
    inner: TcpStream,
    on_io: Arc<R>,
    /// The kernel gives timestamps on this socket.
    stamped: bool,
}

impl<R: OnIo> RxStream<R> {
    /// Asks the kernel for receive timestamps on `inner` (where it cannot,
    /// reads still report, with `None`).
    pub fn new(inner: TcpStream, on_io: Arc<R>) -> RxStream<R> {
        let stamped = enable(&inner);
        RxStream {
            inner,
            on_io,
            stamped,
        }
    }

    /// Whether the kernel agreed to stamp this socket's segments.
    pub fn kernel_stamps(&self) -> bool {
        self.stamped
    }

    fn wrote(&self, polled: &Poll<io::Result<usize>>, started: Option<Instant>) {
        if let (Poll::Ready(Ok(1..)), Some(started)) = (polled, started) {
            self.on_io.on_write(started);
        }
    }
}

/// Stamps older than this (or in the future) are clock trouble, not
/// queueing: they are dropped.
const PLAUSIBLE: Duration = Duration::from_secs(10);

/// Bytes one stamped read takes at most. Safe code must initialise what it
/// reads into, and hyper hands out a fresh, uninitialised buffer for every
/// read: reads go to a zeroed scratch buffer of the thread's instead, and
/// only the bytes read are copied on (zeroing hyper's buffer per read cost
/// more than that copy).
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn wall_ns() -> Option<u64> {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

/// How often (on the kernel's stamps) a thread reads both clocks again to
/// place stamps, instead of two clock reads per read (~60 ns on the 2-core
/// VM these figures come from); between readings a stamp is placed by the
/// last offset, which a slewing wall clock (at most 500 ppm) moves by at
/// most 2.5 µs.
const REFRESH_NS: u64 = 5_000_000;

/// The wall clock minus the monotonic one (ns), as last read by this
/// thread, with the wall time it was read at.
#[derive(Clone, Copy)]
struct Offset {
    /// Wall-clock ns when read.
    wall_ns: u64,
    /// The monotonic clock then, as ns after `base()`.
    mono_ns: u64,
}

/// The origin of [`Offset::mono_ns`].
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

thread_local! {
    static OFFSET: Cell<Option<Offset>> = const { Cell::new(None) };
}

/// The monotonic instant of a kernel timestamp (wall-clock ns). Both
/// clocks are read again when the stamp is more than [`REFRESH_NS`] past
/// the last reading or before it (a wall clock stepped back), so a clock
/// stepped or slewed during a long run moves no stamp by more than it
/// moved in those 5 ms; stamps from the future or over [`PLAUSIBLE`] old
/// are dropped at each reading.
fn instant_of(kernel_ns: u64) -> Option<Instant> {
    let fresh = |o: &Offset| kernel_ns >= o.wall_ns && kernel_ns - o.wall_ns <= REFRESH_NS;
    let offset = match OFFSET.get().filter(fresh) {
        Some(o) => o,
        None => {
            let now = Instant::now();
            let wall_ns = wall_ns()?;
            let age = Duration::from_nanos(wall_ns.checked_sub(kernel_ns)?);
            if age > PLAUSIBLE {
                return None;
            }
            let mono_ns = u64::try_from(now.saturating_duration_since(base()).as_nanos()).ok()?;
            let o = Offset { wall_ns, mono_ns };
            OFFSET.set(Some(o));
            // The stamp is before this reading: place it by its age.
            return now.checked_sub(age);
        }
    };
    // Within REFRESH_NS after the reading: later than it on both clocks.
    let after = kernel_ns - offset.wall_ns;
    base().checked_add(Duration::from_nanos(offset.mono_ns.checked_add(after)?))
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
                at = u64::try_from(ts.tv_sec())
                    .ok()
                    .and_then(|s| s.checked_mul(1_000_000_000))
                    .and_then(|s| s.checked_add(u64::try_from(ts.tv_nsec()).ok()?));
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

impl<R: OnIo> AsyncRead for RxStream<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.stamped {
            let before = buf.filled().len();
            let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
            if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
                this.on_io.on_read(None);
            }
            return polled;
        }
        loop {
            if let Err(e) = std::task::ready!(this.inner.poll_read_ready(cx)) {
                return Poll::Ready(Err(e));
            }
            let want = buf.remaining().min(READ_CHUNK);
            let inner = &this.inner;
            let read = SCRATCH.with_borrow_mut(|scratch| {
                if scratch.len() < READ_CHUNK {
                    scratch.resize(READ_CHUNK, 0);
                }
                let into = scratch.get_mut(..want).unwrap_or_default();
                let mut short = None;
                let got = inner.try_io(tokio::io::Interest::READABLE, || {
                    let (n, at) = recv_stamped(inner, &mut *into)?;
                    if n > 0 && n < want {
                        // A short read emptied the socket. Saying so clears
                        // the readiness tokio holds (the event seen before
                        // this read, as tokio's own reads clear it), so the
                        // next poll waits for new data instead of calling
                        // recvmsg for nothing: half the reads at zero delay.
                        short = Some((n, at));
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    Ok((n, at))
                });
                let got = match short {
                    Some(read) => Ok(read),
                    None => got,
                };
                if let Ok((n, _)) = got {
                    buf.put_slice(into.get(..n).unwrap_or_default());
                }
                got
            });
            match read {
                Ok((n, at)) => {
                    if n > 0 {
                        this.on_io.on_read(at.and_then(instant_of));
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<R: OnIo> AsyncWrite for RxStream<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let started = R::TIMES_WRITES.then(Instant::now);
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&polled, started);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let started = R::TIMES_WRITES.then(Instant::now);
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&polled, started);
        polled
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
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[derive(Default)]
    struct Reads(Mutex<Vec<Option<Instant>>>, Mutex<Vec<Instant>>);

    impl OnIo for Reads {
        fn on_read(&self, arrived: Option<Instant>) {
            self.0.lock().unwrap().push(arrived);
        }

        const TIMES_WRITES: bool = true;

        fn on_write(&self, started: Instant) {
            self.1.lock().unwrap().push(started);
        }
    }

    /// Reads only: a write reported to it fails the test.
    struct ReadsOnly;

    impl OnIo for ReadsOnly {
        fn on_read(&self, _: Option<Instant>) {}

        fn on_write(&self, _: Instant) {
            panic!("writes were not asked for");
        }
    }

    impl Reads {
        fn last(&self) -> Option<Option<Instant>> {
            self.0.lock().unwrap().last().copied()
        }
    }

    /// Bytes that wait in the socket before they are read are stamped
    /// with when they arrived, not when they were read.
    #[tokio::test]
    async fn reads_carry_the_kernels_receive_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The client's end hears of reads only (as the simulator's).
        let mut client =
            RxStream::new(TcpStream::connect(addr).await.unwrap(), Arc::new(ReadsOnly));
        let (server, _) = listener.accept().await.unwrap();
        let reads = Arc::new(Reads::default());
        let mut server = RxStream::new(server, Arc::clone(&reads));
        assert_eq!(reads.last(), None, "nothing read yet");
        // The kernel turns receive timestamps on for the machine in
        // deferred work when the first socket asks (`net_enable_timestamp`):
        // until then segments arrive unstamped. Wait for a stamped byte.
        let mut buf = [0u8; 64];
        for _ in 0..100 {
            client.write_all(b"x").await.unwrap();
            assert_eq!(server.read(&mut buf).await.unwrap(), 1);
            if reads.last().flatten().is_some() || !cfg!(target_os = "linux") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sent = Instant::now();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = server.read(&mut buf).await.unwrap();
        let read = Instant::now();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        if cfg!(target_os = "linux") {
            assert!(
                server.kernel_stamps(),
                "the kernel gives receive timestamps"
            );
            let arrived = reads.last().flatten().expect("a stamped read");
            // Arrived right after the write, long before the read.
            let late = arrived.saturating_duration_since(sent);
            assert!(
                late < Duration::from_millis(100),
                "stamped {late:?} after sending"
            );
            assert!(arrived <= read);
        } else {
            assert_eq!(reads.last(), Some(None));
        }
        // A read past READ_CHUNK arrives whole over several reads.
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&big).await.unwrap();
        let mut got = vec![0u8; big.len()];
        server.read_exact(&mut got).await.unwrap();
        assert!(got == big);
        // Writes pass through, each reported with its start.
        let before = Instant::now();
        server.write_all(b"ok").await.unwrap();
        let writes = reads.1.lock().unwrap().clone();
        assert_eq!(writes.len(), 1);
        assert!(writes[0] >= before && writes[0] <= Instant::now());
        let mut back = [0u8; 2];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ok");
        // The end of the stream is a read of nothing, reported to no one.
        let count = reads.0.lock().unwrap().len();
        drop(client);
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        assert_eq!(reads.0.lock().unwrap().len(), count);
    }

    #[test]
    fn implausible_stamps_are_dropped() {
        let now = wall_ns().unwrap();
        let at = instant_of(now.saturating_sub(1_000_000)).unwrap();
        let ago = Instant::now().saturating_duration_since(at);
        assert!(ago >= Duration::from_millis(1) && ago < Duration::from_secs(1));
        // In the future, or long ago.
        assert!(instant_of(now + 60_000_000_000).is_none());
        assert!(instant_of(now.saturating_sub(60_000_000_000)).is_none());
        assert!(instant_of(0).is_none());
    }

    /// Stamps just after a reading of the clocks are placed by its offset.
    #[test]
    fn stamps_between_readings_use_the_last_offset() {
        let reading = wall_ns().unwrap();
        assert!(instant_of(reading.saturating_sub(1_000)).is_some());
        std::thread::sleep(Duration::from_millis(1));
        let (wall, now) = (wall_ns().unwrap(), Instant::now());
        let cached = OFFSET.get().is_some_and(|o| wall - o.wall_ns <= REFRESH_NS);
        let at = instant_of(wall).unwrap();
        let off = at.max(now).duration_since(at.min(now));
        assert!(
            off < Duration::from_millis(5),
            "{off:?} off (cached: {cached})"
        );
    }
}
