//! SIGINT (Ctrl-C) and SIGTERM, alike. From [`Interrupt::install`] on they
//! no longer kill the process: the first one interrupts whatever phase is
//! under way (prompt preparation, warm-ups, profiler calls, main run; the
//! phases await [`Interrupt::wait`]); a second one exits at once with
//! status 130 and saves nothing.

use std::io::Write;
use tokio::sync::watch;

/// Whether a signal has come; cheap to clone, one per phase.
#[derive(Clone)]
pub struct Interrupt(watch::Receiver<bool>);

impl Interrupt {
    /// Installs the handlers before it returns (a signal that comes later
    /// is never lost) and watches for them on `runtime`.
    pub fn install(runtime: &tokio::runtime::Runtime) -> std::io::Result<Interrupt> {
        let _entered = runtime.enter();
        let mut signals = Signals::new()?;
        let (tx, rx) = watch::channel(false);
        runtime.spawn(async move {
            signals.next().await;
            let _ = tx.send(true);
            signals.next().await;
            let _ = writeln!(
                std::io::stderr(),
                "benchmark_serving: interrupted again: exiting at once, nothing saved"
            );
            std::process::exit(130);
        });
        Ok(Interrupt(rx))
    }

    /// Resolves once a signal has come (at once if one already had).
    pub async fn wait(mut self) {
        if self.0.wait_for(|&came| came).await.is_err() {
            // The watcher is gone (the runtime is shutting down): no
            // signal can come any more.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// The next SIGINT or SIGTERM (never, once the runtime shuts down).
    async fn next(&mut self) {
        tokio::select! {
            Some(()) = self.int.recv() => {}
            Some(()) = self.term.recv() => {}
            else => std::future::pending::<()>().await,
        }
    }
}

/// Elsewhere only Ctrl-C exists.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
