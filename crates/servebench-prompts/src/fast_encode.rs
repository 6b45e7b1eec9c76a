//! `encode(text, add_special_tokens=False)` for BPE tokenizers without the
//! tokenizers crate's per-call costs, giving its ids.
//!
//! The crate's pipeline carries, for every byte of every piece, offsets
//! back to the input (`NormalizedString` alignments, rebuilt at each split
//! and again by the byte-level step), and builds an `Encoding` (token
//! strings, offsets, masks) of which only the ids are wanted. Here:
//! - added tokens are still split off by the crate (its matching rules:
//!   single word, strip, normalized or not);
//! - a pre-tokenizer of the common shape (regex `Split`s that keep every
//!   part, then a byte-level step without a prefix space, the shape of
//!   DeepSeek, Llama 3, Qwen and GPT-2 tokenizers) is run here with the
//!   crate's own compiled regexes over plain string slices; any other
//!   shape runs in the crate, and only the merging below is ours;
//! - each piece is merged by [`FastBpe`].
//!
//! Applies only where nothing after the model changes ids (no truncation,
//! no padding, post-processors that add only special tokens) and the
//! normalizer leaves text as it is (for our own splitting).

use crate::bpe::{byte_level_chars, FastBpe};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::utils::SysRegex;
use tokenizers::{
    Model, ModelWrapper, OffsetReferential, OffsetType, PreTokenizer, PreTokenizerWrapper,
    SplitDelimiterBehavior,
};

/// GPT-2's splitting regex, as the crate's byte-level pre-tokenizer has it.
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// How a tokenizer is encoded the fast way.
pub(crate) struct FastEncode {
    bpe: FastBpe,
    /// Set when the pre-tokenizer has the shape split here.
    pieces: Option<Pieces>,
    ignore_merges: bool,
    /// Each byte's byte-level character.
    chars: [char; 256],
}

/// Our own run of a pre-tokenizer: the regexes of its `Split`s (read from
/// the tokenizer at each call) and, last, the byte-level step's own regex
/// when it has one.
struct Pieces {
    gpt2: Option<SysRegex>,
}

impl std::fmt::Debug for FastEncode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastEncode")
            .field("bpe", &self.bpe)
            .field("own_pieces", &self.pieces.is_some())
            .finish_non_exhaustive()
    }
}

impl FastEncode {
    /// Whether the fast way gives the crate's ids for `t`.
    pub(crate) fn applies(t: &tokenizers::Tokenizer) -> bool {
        use tokenizers::PostProcessorWrapper as P;
        fn plain(p: &P) -> bool {
            match p {
                P::ByteLevel(_) | P::Bert(_) | P::Roberta(_) => true,
                // Its single-sequence template copies the text once, as `$A`.
                P::Template(t) => serde_json::to_value(&t.single).is_ok_and(|v| {
                    let pieces = v.as_array().map(Vec::as_slice).unwrap_or_default();
                    let copies: Vec<_> = pieces.iter().filter_map(|p| p.get("Sequence")).collect();
                    matches!(copies.as_slice(), [only] if only.get("id").and_then(|i| i.as_str()) == Some("A"))
                }),
                P::Sequence(s) => s.as_ref().iter().all(plain),
            }
        }
        matches!(t.get_model(), ModelWrapper::BPE(_))
            && t.get_truncation().is_none()
            && t.get_padding().is_none()
            && t.get_post_processor().is_none_or(plain)
    }

    /// For `t`, where [`FastEncode::applies`].
    pub(crate) fn new(t: &tokenizers::Tokenizer, bpe: FastBpe) -> Self {
        let ignore_merges = matches!(t.get_model(), ModelWrapper::BPE(m) if m.ignore_merges);
        let pieces = match (normalizer_is_identity(t), t.get_pre_tokenizer()) {
            (true, Some(pre)) => match byte_level_last(pre) {
                Some(b) if b.use_regex => SysRegex::new(GPT2_PATTERN)
                    .ok()
                    .map(|g| Pieces { gpt2: Some(g) }),
                Some(_) => Some(Pieces { gpt2: None }),
                None => None,
            },
            _ => None,
        };
        FastEncode {
            bpe,
            pieces,
            ignore_merges,
            chars: byte_level_chars(),
        }
    }

    pub(crate) fn bpe(&self) -> &FastBpe {
        &self.bpe
    }

    /// The ids of `text`, as `t.encode_fast(text, false)` gives them
    /// with its merges: `t` may be read without them, `full` gives it with
    /// them (for a piece the crate's model must merge).
    pub(crate) fn encode<'t>(
        &self,
        t: &'t tokenizers::Tokenizer,
        full: &dyn Fn() -> tokenizers::Result<&'t tokenizers::Tokenizer>,
        text: &str,
    ) -> tokenizers::Result<Vec<u32>> {
        let mut parts = t
            .get_added_vocabulary()
            .extract_and_normalize(t.get_normalizer(), text);
        let model = t.get_model();
        let merging = Merging { full, vocab: model };
        let mut ids = Vec::with_capacity(text.len() / 2);
        // Our own splitting: the pre-tokenizer's `Split` regexes, then the
        // byte-level step's own; else the crate splits the parts.
        let own: Option<Vec<&SysRegex>> = match (&self.pieces, t.get_pre_tokenizer()) {
            (Some(pieces), Some(pre)) => {
                let mut regexes = split_regexes(pre);
                regexes.extend(pieces.gpt2.as_ref());
                Some(regexes)
            }
            _ => {
                if let Some(pre) = t.get_pre_tokenizer() {
                    pre.pre_tokenize(&mut parts)?;
                }
                None
            }
        };
        let mut scratch = String::new();
        for (part, _, tokens) in parts.get_splits(OffsetReferential::Normalized, OffsetType::None) {
            if let Some(tokens) = tokens {
                // An added token.
                ids.extend(tokens.iter().map(|t| t.id));
                continue;
            }
            match &own {
                Some(regexes) => split(regexes, part, &mut |piece| {
                    self.merge_bytes(&merging, piece.as_bytes(), &mut scratch, &mut ids)
                })?,
                None => self.merge_chars(&merging, part, &mut ids)?,
            }
        }
        Ok(ids)
    }

    /// One piece in byte-level characters (the crate's pre-tokenizer ran).
    fn merge_chars(
        &self,
        merging: &Merging<'_, '_>,
        piece: &str,
        ids: &mut Vec<u32>,
    ) -> tokenizers::Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        if self.ignore_merges {
            if let Some(id) = merging.vocab.token_to_id(piece) {
                ids.push(id);
                return Ok(());
            }
        }
        if !self.bpe.tokenize(piece, ids) {
            let model = (merging.full)()?.get_model();
            ids.extend(model.tokenize(piece)?.iter().map(|t| t.id));
        }
        Ok(())
    }

    /// One piece in raw bytes (our own splitting ran).
    fn merge_bytes(
        &self,
        merging: &Merging<'_, '_>,
        piece: &[u8],
        scratch: &mut String,
        ids: &mut Vec<u32>,
    ) -> tokenizers::Result<()> {
        if !self.ignore_merges && self.bpe.tokenize_bytes(piece, ids) {
            return Ok(());
        }
        scratch.clear();
        scratch.extend(piece.iter().map(|&b| self.chars[usize::from(b)]));
        self.merge_chars(merging, scratch, ids)
    }
}

/// The model as read (its vocabulary) and the one with merges, for a
/// piece [`FastBpe`] hands back.
struct Merging<'f, 't> {
    full: &'f dyn Fn() -> tokenizers::Result<&'t tokenizers::Tokenizer>,
    vocab: &'t ModelWrapper,
}

/// Whether the normalizer leaves every text as it is.
pub(crate) fn normalizer_is_identity(t: &tokenizers::Tokenizer) -> bool {
    use tokenizers::NormalizerWrapper;
    match t.get_normalizer() {
        None => true,
        Some(NormalizerWrapper::Sequence(seq)) => seq.as_ref().is_empty(),
        Some(_) => false,
    }
}

/// The byte-level step ending a pre-tokenizer of the shape split here:
/// it alone, or a sequence of `Split`s keeping every part, then it. No
/// prefix space (the crate adds one to every piece).
fn byte_level_last(pre: &PreTokenizerWrapper) -> Option<&ByteLevel> {
    let keeps_all = |p: &PreTokenizerWrapper| matches!(p, PreTokenizerWrapper::Split(s) if s.behavior == SplitDelimiterBehavior::Isolated);
    let last = match pre {
        PreTokenizerWrapper::Sequence(seq) => {
            let (last, splits) = seq.as_ref().split_last()?;
            if !splits.iter().all(keeps_all) {
                return None;
            }
            last
        }
        other => other,
    };
    match last {
        PreTokenizerWrapper::ByteLevel(b) if !b.add_prefix_space => Some(b),
        _ => None,
    }
}

/// The regexes of the `Split`s in `pre`, in order.
fn split_regexes(pre: &PreTokenizerWrapper) -> Vec<&SysRegex> {
    match pre {
        PreTokenizerWrapper::Sequence(seq) => seq
            .as_ref()
            .iter()
            .filter_map(|p| match p {
                PreTokenizerWrapper::Split(s) => Some(&s.regex),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Cuts `text` at the start and end of every match of the first regex,
/// each part by the next regexes, and hands on the non-empty parts in
/// order: the crate's `Split` with `Isolated` (inverting changes nothing
/// there), applied to every piece of the previous step.
fn split(
    regexes: &[&SysRegex],
    text: &str,
    f: &mut dyn FnMut(&str) -> tokenizers::Result<()>,
) -> tokenizers::Result<()> {
    let Some((re, rest)) = regexes.split_first() else {
        return if text.is_empty() { Ok(()) } else { f(text) };
    };
    let mut prev = 0;
    // The crate's matching stops at a regex error, leaving the rest whole.
    for (start, end) in re.find_iter(text) {
        if prev != start {
            split(rest, text.get(prev..start).unwrap_or_default(), f)?;
        }
        split(rest, text.get(start..end).unwrap_or_default(), f)?;
        prev = end;
    }
    split(rest, text.get(prev..).unwrap_or_default(), f)
}
