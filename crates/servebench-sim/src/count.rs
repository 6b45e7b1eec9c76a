//! Prompt token counts kept off the simulated clock.
//!
//! A real tokenizer takes milliseconds for a 1k-token prompt (about 3 to
//! 7 ms for DeepSeek-R1's on a busy 2-core machine). The simulated clock
//! runs `--speedup` times faster than the wall clock and a sweep scales
//! the measured times back by the same factor, so counting on the
//! request's path put 20 × those milliseconds, varying with the machine's
//! load, into every simulated TTFT (60 to 140 ms on a 27 ms prefill).
//!
//! So a [`TextSource`] that [counts slowly](TextSource::counts_slowly) is
//! counted on a blocking thread while the request is already scheduled on
//! an estimate: the prompt's bytes times the tokens per byte of the
//! prompts counted so far (before the first count, the built-in word
//! estimate). Prompts of one benchmark are alike, so the estimate is
//! within a few percent; the exact count is what `usage` reports and
//! `/metrics` adds up. Quick sources ([`BuiltIn`](crate::BuiltIn)) are
//! counted in place.
//!
//! Off the path is not enough where cores are few: a counting thread that
//! wakes up takes the core from the runtime thread about to write a token
//! (2.4 ms of a 0 ms fast-mode TTFT on a busy 2-core machine). Counting
//! threads therefore run at the lowest priority (nice 19, on Linux), and
//! the tokens' writers preempt them (0.05 ms).

use crate::vocab::{estimate_tokens, TextSource};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Tokens per byte learnt from the exact counts so far.
#[derive(Debug, Default)]
pub(crate) struct Calibration {
    tokens: AtomicU64,
    bytes: AtomicU64,
}

impl Calibration {
    /// The tokens to schedule for `text` before its exact count is known.
    pub(crate) fn estimate(&self, text: &str) -> usize {
        let tokens = self.tokens.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        if tokens == 0 || bytes == 0 {
            return estimate_tokens(text);
        }
        let n = (text.len() as f64 * tokens as f64 / bytes as f64).round() as usize;
        n.max(usize::from(!text.is_empty()))
    }

    /// Records an exact count.
    pub(crate) fn learn(&self, bytes: usize, tokens: usize) {
        self.tokens.fetch_add(tokens as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// A prompt's exact token count: known, or being counted.
#[derive(Debug)]
pub(crate) enum PromptCount {
    Known(usize),
    Pending {
        handle: tokio::task::JoinHandle<usize>,
        /// What the request was scheduled with (the answer should the
        /// counting thread fail).
        estimate: usize,
    },
}

impl PromptCount {
    /// The exact count, waiting for it the first time if needed.
    pub(crate) async fn exact(&mut self) -> usize {
        let n = match self {
            PromptCount::Known(n) => return *n,
            PromptCount::Pending { handle, estimate } => handle.await.unwrap_or(*estimate),
        };
        *self = PromptCount::Known(n);
        n
    }
}

/// Counts `prompt`: the tokens to schedule now and the exact count.
/// `counted` runs with the exact count and the token ids once they are
/// known (on the counting thread for a slow source, where it may also do
/// the prefix cache's hashing off the request's path).
pub(crate) fn count(
    text: &Arc<dyn TextSource>,
    calibration: &Arc<Calibration>,
    prompt: String,
    counted: impl FnOnce(usize, Vec<u32>) + Send + 'static,
) -> (usize, PromptCount) {
    if !text.counts_slowly() {
        let (n, ids) = text.prompt_tokens_and_ids(&prompt);
        counted(n, ids);
        return (n, PromptCount::Known(n));
    }
    let estimate = calibration.estimate(&prompt);
    let (text, calibration) = (Arc::clone(text), Arc::clone(calibration));
    let handle = tokio::task::spawn_blocking(move || {
        lower_priority();
        let (n, ids) = text.prompt_tokens_and_ids(&prompt);
        calibration.learn(prompt.len(), n);
        counted(n, ids);
        n
    });
    (estimate, PromptCount::Pending { handle, estimate })
}

/// Makes the calling thread (of the blocking pool, which only counts)
/// give way to every other thread: nice 19, once per thread. Linux only;
/// elsewhere, or if refused, the priority stays.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        LOWERED.with(|lowered| {
            if !lowered.replace(true) {
                let tid = rustix::thread::gettid();
                let _ = rustix::process::setpriority_process(Some(tid), 19);
            }
        });
    }
}

/// The calling thread's nice value (tests).
#[cfg(all(test, target_os = "linux"))]
fn nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_learn_tokens_per_byte() {
        let c = Calibration::default();
        // Before any count: the word estimate.
        assert_eq!(c.estimate("abcdefgh abcd"), 3);
        assert_eq!(c.estimate(""), 0);
        c.learn(1000, 250);
        assert_eq!(c.estimate(&"x".repeat(400)), 100);
        c.learn(1000, 750);
        assert_eq!(c.estimate(&"x".repeat(400)), 200);
        assert_eq!(c.estimate("x"), 1);
        assert_eq!(c.estimate(""), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn counting_threads_give_way() {
        let before = nice();
        let counted = std::thread::spawn(|| {
            lower_priority();
            lower_priority();
            nice()
        })
        .join()
        .expect("thread");
        assert_eq!(counted, 19);
        assert_eq!(nice(), before, "only the counting thread is lowered");
    }
}
