//! Coalesced wake-ups: the runtime naps briefly before it parks while
//! events are flowing, so one wake-up takes what arrived in the nap.
//!
//! A client that has drained every socket parks, and the next bytes the
//! server writes must wake it. Where the server shares the machine (the
//! simulator in a sweep, any server on the same host or VM), that wake-up
//! is paid on the server's CPU — on a VM an inter-processor interrupt, a
//! VM exit. A fast client parks after every few tokens: at zero delay and
//! c=1024 ours parked ~80,000 times in 6 s (vllm-bench, slower per token,
//! ~700), and the simulator streamed 6-10 % fewer tokens a second for it.
//!
//! The nap costs no accuracy: token times are the kernel's receive times
//! of their bytes, and a request's wait before its connection wrote it is
//! taken off its clock (`http::Arrivals`), so only Linux, where the kernel
//! gives those times, naps. It only happens while the last park was
//! short (events less than [`FLOWING`] apart): a client waiting on slow
//! tokens or a paced arrival parks at once, as before.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long the runtime naps before parking while events flow.
const NAP: Duration = Duration::from_micros(20);

/// A park shorter than this means events are flowing.
const FLOWING: Duration = Duration::from_micros(200);

thread_local! {
    /// When this worker last parked (after its nap).
    static PARKED_AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// How long its last park lasted.
    static LAST_PARK: Cell<Duration> = const { Cell::new(Duration::MAX) };
}

/// Sets `builder`'s park hooks to coalesce wake-ups (see the module doc;
/// Linux only, elsewhere the builder is left as it is).
pub fn coalesce_wakeups(builder: &mut tokio::runtime::Builder) -> &mut tokio::runtime::Builder {
    if cfg!(target_os = "linux") {
        builder
            .on_thread_park(before_park)
            .on_thread_unpark(after_unpark)
    } else {
        builder
    }
}

fn before_park() {
    if naps(LAST_PARK.get()) {
        std::thread::sleep(NAP);
    }
    PARKED_AT.set(Some(Instant::now()));
}

fn after_unpark() {
    if let Some(at) = PARKED_AT.take() {
        LAST_PARK.set(at.elapsed());
    }
}

/// Whether a worker whose last park lasted `last` naps before the next.
fn naps(last: Duration) -> bool {
    last < FLOWING
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_worker_woken_soon_after_parking_naps() {
        assert!(naps(Duration::ZERO));
        assert!(naps(Duration::from_micros(150)));
        assert!(!naps(FLOWING));
        assert!(!naps(Duration::from_millis(10)));
        assert!(!naps(Duration::MAX), "a worker that never parked");
    }

    /// The hooks nap after a short park, and time the park that follows.
    #[test]
    fn a_worker_naps_while_events_flow() {
        LAST_PARK.set(Duration::ZERO);
        let start = Instant::now();
        before_park();
        assert!(start.elapsed() >= NAP, "no nap after a short park");
        std::thread::sleep(Duration::from_millis(1));
        after_unpark();
        assert!(LAST_PARK.get() >= Duration::from_millis(1));
        assert!(
            !naps(LAST_PARK.get()),
            "a long park: the next one is at once"
        );
    }

    /// A runtime with the hooks runs tasks and timers as any other.
    #[test]
    fn a_runtime_with_the_hooks_works() {
        let runtime = coalesce_wakeups(&mut tokio::runtime::Builder::new_multi_thread())
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let start = Instant::now();
        let n = runtime.block_on(async {
            let mut n = 0;
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_micros(100)).await;
                n += tokio::spawn(async { 1 }).await.unwrap();
            }
            n
        });
        assert_eq!(n, 50);
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
