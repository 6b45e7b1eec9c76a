//! When a request reached this machine: the kernel's receive time of the
//! bytes its connection read ([`servebench_net`]), so the ground truth's
//! arrival — and the simulated TTFT's start — do not wait for the
//! simulator to get round to the connection. Under a burst a simulator
//! thread parses some 20,000-30,000 requests a second; a request the
//! client sent at once used to be stamped only when parsed, and the time it
//! sat in the socket counted as the client's error.
//!
//! A request (head and body, written together by clients) is read whole
//! before its handler runs, and no client here pipelines, so the last
//! read's time is the request's arrival. Where the kernel gave none, the
//! arrival is when the handler runs.

use servebench_net::OnIo;
use std::sync::Mutex;
use std::time::Instant;

/// A connection's last read: when its bytes arrived (`None`: the kernel
/// gave no time, or nothing was read yet).
#[derive(Debug, Default)]
pub(crate) struct LastRx(Mutex<Option<Instant>>);

impl OnIo for LastRx {
    fn on_read(&self, arrived: Option<Instant>) {
        if let Ok(mut last) = self.0.lock() {
            *last = arrived;
        }
    }
}

impl LastRx {
    /// When the request just read arrived, else now.
    pub(crate) fn arrival(&self) -> Instant {
        let last = self.0.lock().ok().and_then(|last| *last);
        last.unwrap_or_else(Instant::now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_unstamped_read_falls_back_to_the_handlers_time() {
        let rx = LastRx::default();
        let before = Instant::now();
        assert!(rx.arrival() >= before, "nothing read: now");
        let long_ago = before - Duration::from_secs(1);
        rx.on_read(Some(long_ago));
        assert_eq!(rx.arrival(), long_ago);
        // A later read without a stamp does not keep the old one.
        rx.on_read(None);
        assert!(rx.arrival() >= before);
    }
}
