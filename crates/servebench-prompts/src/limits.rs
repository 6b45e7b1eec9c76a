//! The ranges a run's numeric options must lie in, checked before anything
//! is sized or timed from them.
//!
//! The Python client has no such limits; it falls over (or allocates until
//! the kernel kills it) far beyond them. Every value a real benchmark uses
//! is far inside: a million-token prompt, ten million prompts, one request a
//! week. The load generator answers with 400 naming the option, the command
//! line with its usage error. Documented in the README ("Limits").

/// The most prompts one run may ask for.
pub const MAX_PROMPTS: u64 = 10_000_000;

/// The longest input, output or prefix length in tokens (2^20).
pub const MAX_LEN: i64 = 1 << 20;

/// The most prompt tokens one run may synthesize in all:
/// `num_prompts × (input_len + prefix_len)` (2^28, about 1 GiB of text).
pub const MAX_TOTAL_TOKENS: u64 = 1 << 28;

/// The slowest finite request rate: one request in about 11.6 days.
pub const MIN_REQUEST_RATE: f64 = 1e-6;

/// The fastest finite request rate (beyond it, use `inf`).
pub const MAX_REQUEST_RATE: f64 = 1e9;

/// The burstiness factor's range (the gamma distribution's shape).
pub const BURSTINESS: (f64, f64) = (1e-3, 1e3);

/// A value outside its range: the option (snake_case, as in the load
/// generator's JSON; the command line writes it with dashes) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: {reason}")]
pub struct LimitError {
    pub option: &'static str,
    pub reason: String,
}

impl LimitError {
    pub fn new(option: &'static str, reason: impl Into<String>) -> Self {
        LimitError {
            option,
            reason: reason.into(),
        }
    }

    /// The option as a command-line flag (`--random-input-len`).
    pub fn flag(&self) -> String {
        format!("--{}", self.option.replace('_', "-"))
    }
}

/// `num_prompts` in `1..=MAX_PROMPTS`.
pub fn check_prompts(option: &'static str, n: u64) -> Result<(), LimitError> {
    if n == 0 || n > MAX_PROMPTS {
        return Err(LimitError::new(
            option,
            format!("must be between 1 and {MAX_PROMPTS}, not {n}"),
        ));
    }
    Ok(())
}

/// A token length in `min..=MAX_LEN`.
pub fn check_len(option: &'static str, value: i64, min: i64) -> Result<(), LimitError> {
    if value < min || value > MAX_LEN {
        return Err(LimitError::new(
            option,
            format!("must be between {min} and {MAX_LEN} tokens, not {value}"),
        ));
    }
    Ok(())
}

/// A token length of at most `MAX_LEN` (smaller values are the dataset's
/// own business: the Python's errors for them are part of the contract).
pub fn check_max_len(option: &'static str, value: i64) -> Result<(), LimitError> {
    if value > MAX_LEN {
        return Err(LimitError::new(
            option,
            format!("must be at most {MAX_LEN} tokens, not {value}"),
        ));
    }
    Ok(())
}

/// `num_prompts × per_prompt` tokens within [`MAX_TOTAL_TOKENS`].
pub fn check_total(
    option: &'static str,
    num_prompts: u64,
    per_prompt: i64,
) -> Result<(), LimitError> {
    let per = u64::try_from(per_prompt).unwrap_or(0);
    match num_prompts.checked_mul(per) {
        Some(total) if total <= MAX_TOTAL_TOKENS => Ok(()),
        _ => Err(LimitError::new(
            option,
            format!(
                "{num_prompts} prompts of {per} tokens exceed the limit of {MAX_TOTAL_TOKENS} prompt tokens per run"
            ),
        )),
    }
}

/// A request rate: `inf`, or finite in `MIN_REQUEST_RATE..=MAX_REQUEST_RATE`.
pub fn check_rate(rate: f64) -> Result<(), LimitError> {
    if rate == f64::INFINITY || (MIN_REQUEST_RATE..=MAX_REQUEST_RATE).contains(&rate) {
        return Ok(());
    }
    Err(LimitError::new(
        "request_rate",
        format!(
            "must be inf or between {MIN_REQUEST_RATE:e} and {MAX_REQUEST_RATE:e} requests/s, not {}",
            servebench_pyjson::float_repr(rate)
        ),
    ))
}

/// The burstiness factor within [`BURSTINESS`].
pub fn check_burstiness(burstiness: f64) -> Result<(), LimitError> {
    let (lo, hi) = BURSTINESS;
    if (lo..=hi).contains(&burstiness) {
        return Ok(());
    }
    Err(LimitError::new(
        "burstiness",
        format!(
            "must be between {lo} and {hi}, not {}",
            servebench_pyjson::float_repr(burstiness)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(check_rate(f64::INFINITY).is_ok());
        assert!(check_rate(12.5).is_ok());
        for bad in [0.0, 1e-300, -1.0, f64::NAN, f64::NEG_INFINITY, 1e300] {
            assert_eq!(check_rate(bad).unwrap_err().option, "request_rate");
        }
        assert!(check_burstiness(1.0).is_ok());
        assert!(check_burstiness(0.0).is_err());
        assert!(check_burstiness(f64::NAN).is_err());
        assert!(check_len("random_input_len", 1024, 1).is_ok());
        assert!(check_len("random_input_len", 1_000_000_000_000, 1).is_err());
        assert!(check_len("random_prefix_len", 0, 0).is_ok());
        assert!(check_len("random_prefix_len", -1, 0).is_err());
        assert!(check_total("num_prompts", 1000, 1024).is_ok());
        assert!(check_total("num_prompts", u64::MAX, 2).is_err());
        assert!(check_total("num_prompts", 10_000_000, 1024).is_err());
        assert!(check_prompts("num_prompts", 0).is_err());
        assert_eq!(
            check_len("random_input_len", 1 << 40, 1)
                .unwrap_err()
                .flag(),
            "--random-input-len"
        );
    }
}
