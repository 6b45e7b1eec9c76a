//! Where response text and prompt token counts come from: a [`TextSource`].
//! The built-in one is a small word list with a token estimate; with the
//! `tokenizer` feature, [`text_source`] loads a real tokenizer instead (the
//! `sim_server` binary enables it; the library stays free of `tokenizers`
//! by default).

/// Token text for responses and token counts for prompts.
pub trait TextSource: Send + Sync + std::fmt::Debug {
    /// Tokens in a prompt.
    fn prompt_tokens(&self, text: &str) -> usize;
    /// The `k`-th generated token of the response seeded by `seed`.
    fn token(&self, seed: u64, k: usize) -> &str;
    /// Whether [`prompt_tokens`](Self::prompt_tokens) takes real time (a
    /// real tokenizer: milliseconds per 1k-token prompt). The server then
    /// counts on a blocking thread, off the simulated clock, and schedules
    /// the request on an estimate meanwhile; `usage` still reports the
    /// exact count.
    fn counts_slowly(&self) -> bool {
        false
    }
    /// Tokens in a prompt and their ids, which the prefix cache hashes in
    /// blocks (module `prefix`); the server calls this, not
    /// [`prompt_tokens`](Self::prompt_tokens), so a tokenizer encodes once.
    /// The default counts with `prompt_tokens` and takes the ids of the
    /// built-in estimate's pieces (see [`BuiltIn`]).
    fn prompt_tokens_and_ids(&self, text: &str) -> (usize, Vec<u32>) {
        (self.prompt_tokens(text), pseudo_ids(text))
    }
}

/// The built-in word list.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltIn;

impl TextSource for BuiltIn {
    fn prompt_tokens(&self, text: &str) -> usize {
        estimate_tokens(text)
    }

    fn prompt_tokens_and_ids(&self, text: &str) -> (usize, Vec<u32>) {
        let ids = pseudo_ids(text);
        (ids.len().max(usize::from(!text.is_empty())), ids)
    }

    fn token(&self, seed: u64, k: usize) -> &str {
        token(seed, k)
    }
}

const WORDS: [&str; 32] = [
    " the",
    " model",
    " answers",
    " quickly",
    ",",
    " and",
    " every",
    " token",
    " arrives",
    " on",
    " time",
    ".",
    " A",
    " batch",
    " of",
    " requests",
    " shares",
    " one",
    " GPU",
    " while",
    " cache",
    " blocks",
    " fill",
    " up",
    " then",
    " drain",
    " again",
    ";",
    " latency",
    " stays",
    " low",
    " here",
];

/// The `k`-th generated token of a response seeded by `seed`.
pub(crate) fn token(seed: u64, k: usize) -> &'static str {
    WORDS[((seed as usize).wrapping_add(k.wrapping_mul(7))) % WORDS.len()]
}

/// Prompt tokens without a real tokenizer: ⌈len/4⌉ per whitespace-separated
/// word (at least 1 for a non-empty prompt), roughly what BPE tokenizers
/// give for English text.
pub(crate) fn estimate_tokens(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| w.len().div_ceil(4))
        .sum::<usize>()
        .max(usize::from(!text.is_empty()))
}

/// Token ids for text without a tokenizer: each piece the estimate
/// counts (up to 4 bytes of a word) packed into a `u32`, so as many ids as
/// [`estimate_tokens`] counts (except whitespace-only text: no ids, one
/// token) and equal pieces have equal ids.
pub(crate) fn pseudo_ids(text: &str) -> Vec<u32> {
    let mut ids = Vec::with_capacity(text.len() / 4 + 1);
    let mut push_word = |word: &[u8]| {
        for piece in word.chunks(4) {
            let mut b = [0u8; 4];
            b[..piece.len()].copy_from_slice(piece);
            ids.push(u32::from_le_bytes(b));
        }
    };
    if text.is_ascii() {
        // The same words as `split_whitespace` (whose ASCII whitespace
        // includes the vertical tab), several times faster.
        let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        for word in text.as_bytes().split(space) {
            if !word.is_empty() {
                push_word(word);
            }
        }
    } else {
        for word in text.split_whitespace() {
            push_word(word.as_bytes());
        }
    }
    ids
}

/// Text from a real tokenizer: prompts counted exactly; responses made of
/// tokens that decode to clean text on their own.
#[cfg(feature = "tokenizer")]
#[derive(Debug)]
struct TokenizerText {
    tokenizer: servebench_prompts::Tokenizer,
    pieces: Vec<String>,
}

#[cfg(feature = "tokenizer")]
impl TextSource for TokenizerText {
    fn prompt_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text)
            .map_or_else(|_| estimate_tokens(text), |ids| ids.len())
    }

    fn counts_slowly(&self) -> bool {
        true
    }

    fn prompt_tokens_and_ids(&self, text: &str) -> (usize, Vec<u32>) {
        match self.tokenizer.encode(text) {
            Ok(ids) => (ids.len(), ids),
            Err(_) => (estimate_tokens(text), pseudo_ids(text)),
        }
    }

    fn token(&self, seed: u64, k: usize) -> &str {
        let i = (seed as usize)
            .wrapping_mul(31)
            .wrapping_add(k.wrapping_mul(7919))
            % self.pieces.len().max(1);
        self.pieces.get(i).map_or(" ", String::as_str)
    }
}

/// [`BuiltIn`] without a tokenizer; with one (a `tokenizer.json`, a
/// directory, or a model id in the Hugging Face cache, looked up with
/// `env`), the tokenizer's own token texts and counts. Only tokens whose text
/// stands alone are used: valid UTF-8, no control characters (of the first
/// 50 000 ids). Without the `tokenizer` feature, naming a tokenizer is
/// [`SimError::TokenizerNotBuilt`](crate::SimError::TokenizerNotBuilt).
#[cfg(not(feature = "tokenizer"))]
pub fn text_source(
    tokenizer: Option<&str>,
    _env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::sync::Arc<dyn TextSource>, crate::SimError> {
    match tokenizer {
        None => Ok(std::sync::Arc::new(BuiltIn)),
        Some(name) => Err(crate::SimError::TokenizerNotBuilt {
            name: name.to_owned(),
        }),
    }
}

/// [`BuiltIn`] without a tokenizer; with one (a `tokenizer.json`, a
/// directory, or a model id in the Hugging Face cache, looked up with
/// `env`), the tokenizer's own token texts and counts. Only tokens whose text
/// stands alone are used: valid UTF-8, no control characters (of the first
/// 50 000 ids).
#[cfg(feature = "tokenizer")]
pub fn text_source(
    tokenizer: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::sync::Arc<dyn TextSource>, crate::SimError> {
    let Some(name) = tokenizer else {
        return Ok(std::sync::Arc::new(BuiltIn));
    };
    let tokenizer = servebench_prompts::Tokenizer::load(name, env)?;
    let pieces: Vec<String> = (0..tokenizer.vocab_size().min(50_000) as u32)
        .filter_map(|id| tokenizer.decode(&[id]).ok())
        .filter(|t| !t.is_empty() && !t.contains('\u{fffd}') && !t.chars().any(char::is_control))
        .collect();
    if pieces.is_empty() {
        return Err(crate::SimError::NoCleanTokens {
            name: name.to_owned(),
        });
    }
    Ok(std::sync::Arc::new(TokenizerText { tokenizer, pieces }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn estimates() {
        assert_eq!(super::estimate_tokens(""), 0);
        assert_eq!(super::estimate_tokens("a"), 1);
        assert_eq!(super::estimate_tokens("hello world, tokens"), 2 + 2 + 2);
        assert_eq!(super::token(0, 0), " the");
    }

    #[test]
    fn pseudo_ids_match_the_estimate() {
        use super::TextSource;
        for text in [
            "",
            "a",
            "hello world, tokens",
            "  \n ",
            "abcdefghi jk",
            "a\u{b}bc\u{c}d\r\te\u{1c}f",
            "caf\u{e9} cr\u{e8}me\u{2003}br\u{fb}l\u{e9}e\u{a0}x",
        ] {
            let (n, ids) = super::BuiltIn.prompt_tokens_and_ids(text);
            assert_eq!(n, super::estimate_tokens(text), "{text:?}");
            assert!(ids.len() == n || (ids.is_empty() && n == 1), "{text:?}");
        }
        let ids = super::pseudo_ids("abcdefghi jk");
        assert_eq!(ids[0], u32::from_le_bytes(*b"abcd"));
        assert_eq!(ids[2], u32::from(b'i'));
        assert_eq!(ids.len(), 4);
    }
}
