//! Reading `tokenizer.json` without the tokenizers crate's detour: its own
//! deserializer reads the model through an untagged enum, so serde first
//! buffers the whole model (the DeepSeek vocabulary and merges: ~8 MB of
//! JSON) into a generic tree, then copies it into a `serde_json::Value`,
//! then builds the BPE from that. Here a BPE model is deserialized straight
//! from its text, the rest of the file (normalizer, pre-tokenizer, decoder,
//! post-processor, padding, truncation) by the crate itself with a stand-in
//! model, and the added tokens are added last, as the crate does. The same
//! vocabulary and merges build [`FastBpe`] (the merging `fast_encode` uses)
//! before they are moved into the crate's model.
//!
//! A model the BPE reader refuses (another `type`, no merges), escaped
//! top-level keys or any other error on this path fall back to the
//! crate's own reader, so the result is the same tokenizer either way (an
//! untagged model is read as a BPE first by the crate too); the tests
//! compare the two serialized.

use crate::bpe::FastBpe;
use crate::incremental::TokenBytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::str::FromStr;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::AddedToken;

/// What the direct path reads besides the tokenizer.
#[derive(Default)]
pub(crate) struct Extras {
    /// The BPE model's fast merging, where it covers the model. Then the
    /// crate's model is read without its merges (the map is `bpe`'s, built
    /// once): [`with_merges`] adds them when the crate's own encoding is
    /// wanted.
    pub(crate) bpe: Option<FastBpe>,
    /// The base vocabulary's token bytes (ids `0..n`).
    pub(crate) base_bytes: Option<TokenBytes>,
}

/// The tokenizer in `bytes` (a `tokenizer.json`), and what the direct
/// path read of it besides (nothing when the crate read it).
pub(crate) fn parse(bytes: &[u8]) -> Result<(tokenizers::Tokenizer, Extras), String> {
    match parse_bpe(bytes) {
        Some(parsed) => Ok(parsed),
        None => tokenizers::Tokenizer::from_bytes(bytes)
            .map(|t| (t, Extras::default()))
            .map_err(|e| e.to_string()),
    }
}

/// A BPE model's fields as the crate's reader takes them (unknown keys
/// ignored; a repeated key, which the crate allows, takes its path).
#[derive(Deserialize)]
struct RawBpe<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(default)]
    dropout: Option<f32>,
    #[serde(default)]
    unk_token: Option<String>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    end_of_word_suffix: Option<String>,
    #[serde(default)]
    fuse_unk: Option<bool>,
    #[serde(default)]
    byte_fallback: Option<bool>,
    #[serde(default)]
    ignore_merges: Option<bool>,
    vocab: Vocab,
    merges: Vec<RawMerge>,
}

/// One merge: `["a", "b"]`, or the legacy `"a b"` (all of one kind).
enum RawMerge {
    Pair((String, String)),
    Line(String),
}

/// Read by its JSON type: the crate's untagged reading would buffer each
/// item and, for the legacy spelling, format an error for every one.
impl<'de> Deserialize<'de> for RawMerge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Merge;
        impl<'de> serde::de::Visitor<'de> for Merge {
            type Value = RawMerge;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a merge: two strings or \"a b\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawMerge, E> {
                Ok(RawMerge::Line(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<RawMerge, E> {
                Ok(RawMerge::Line(v))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawMerge, A::Error> {
                use serde::de::Error;
                let a: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let b: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(3, &self));
                }
                Ok(RawMerge::Pair((a, b)))
            }
        }
        d.deserialize_any(Merge)
    }
}

/// A BPE model's options (`None`: unset), set on the crate's builder as its
/// reader sets them (an absent flag is the builder's default, `false`).
struct BpeOptions {
    dropout: Option<f32>,
    unk_token: Option<String>,
    continuing_subword_prefix: Option<String>,
    end_of_word_suffix: Option<String>,
    fuse_unk: bool,
    byte_fallback: bool,
    ignore_merges: bool,
}

impl BpeOptions {
    fn build(self, vocab: Vocab, merges: Vec<(String, String)>) -> Option<BPE> {
        let mut builder = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .fuse_unk(self.fuse_unk)
            .byte_fallback(self.byte_fallback)
            .ignore_merges(self.ignore_merges);
        if let Some(d) = self.dropout {
            builder = builder.dropout(d);
        }
        if let Some(t) = self.unk_token {
            builder = builder.unk_token(t);
        }
        if let Some(p) = self.continuing_subword_prefix {
            builder = builder.continuing_subword_prefix(p);
        }
        if let Some(s) = self.end_of_word_suffix {
            builder = builder.end_of_word_suffix(s);
        }
        builder.build().ok()
    }
}

/// The crate's BPE from its fields, as its reader builds it, and the fast
/// merging where no option it leaves out is set.
fn build_bpe(raw: RawBpe) -> Option<(BPE, Extras)> {
    if raw.kind.is_some_and(|k| k.get() != r#""BPE""#) {
        return None;
    }
    let pairs = raw
        .merges
        .iter()
        .filter(|m| matches!(m, RawMerge::Pair(_)))
        .count();
    let merges: Vec<(String, String)> = if pairs == raw.merges.len() {
        raw.merges
            .into_iter()
            .filter_map(|m| match m {
                RawMerge::Pair(p) => Some(p),
                RawMerge::Line(_) => None,
            })
            .collect()
    } else if pairs == 0 {
        // `merges.txt` lines: "#version" lines skipped, two parts each.
        let mut out = Vec::with_capacity(raw.merges.len());
        for m in raw.merges {
            let RawMerge::Line(line) = m else { return None };
            if line.starts_with("#version") {
                continue;
            }
            let mut parts = line.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => out.push((a.to_owned(), b.to_owned())),
                _ => return None,
            }
        }
        out
    } else {
        return None;
    };
    let plain = raw.dropout.is_none_or(|d| d == 0.0)
        && raw.continuing_subword_prefix.is_none()
        && raw.end_of_word_suffix.is_none();
    let vocab = || raw.vocab.iter().map(|(k, v)| (k.as_str(), *v));
    let extras = if plain {
        Extras {
            bpe: FastBpe::new(vocab(), |t| raw.vocab.get(t).copied(), &merges),
            base_bytes: TokenBytes::from_vocab(vocab()),
        }
    } else {
        Extras::default()
    };
    // With `FastBpe` built, the crate's model goes without merges: its
    // merge map costs as much to build as ours, and memory.
    let merges = if extras.bpe.is_some() {
        Vec::new()
    } else {
        merges
    };
    let options = BpeOptions {
        dropout: raw.dropout,
        unk_token: raw.unk_token,
        continuing_subword_prefix: raw.continuing_subword_prefix,
        end_of_word_suffix: raw.end_of_word_suffix,
        fuse_unk: raw.fuse_unk.unwrap_or(false),
        byte_fallback: raw.byte_fallback.unwrap_or(false),
        ignore_merges: raw.ignore_merges.unwrap_or(false),
    };
    let bpe = options.build(raw.vocab, merges)?;
    Some((bpe, extras))
}

/// `light` (read by the direct path without merges) with its BPE model's
/// merges from `bpe`: the tokenizer the crate reads from the same file.
pub(crate) fn with_merges(
    light: &tokenizers::Tokenizer,
    bpe: &FastBpe,
) -> Option<tokenizers::Tokenizer> {
    use tokenizers::Model;
    let tokenizers::ModelWrapper::BPE(model) = light.get_model() else {
        return None;
    };
    let merges = bpe
        .merges_by_rank()
        .into_iter()
        .map(|(a, b)| Some((model.id_to_token(a)?, model.id_to_token(b)?)))
        .collect::<Option<Vec<_>>>()?;
    let vocab: Vocab = model.get_vocab().into_iter().collect();
    let options = BpeOptions {
        dropout: model.dropout,
        unk_token: model.unk_token.clone(),
        continuing_subword_prefix: model.continuing_subword_prefix.clone(),
        end_of_word_suffix: model.end_of_word_suffix.clone(),
        fuse_unk: model.fuse_unk,
        byte_fallback: model.byte_fallback,
        ignore_merges: model.ignore_merges,
    };
    let bpe = options.build(vocab, merges)?;
    let mut full = light.clone();
    full.with_model(bpe);
    Some(full)
}

/// The direct path, for a BPE model; `None` where it does not apply.
fn parse_bpe(bytes: &[u8]) -> Option<(tokenizers::Tokenizer, Extras)> {
    let top: BTreeMap<&str, &RawValue> = serde_json::from_slice(bytes).ok()?;
    let raw: RawBpe = serde_json::from_str(top.get("model")?.get()).ok()?;
    let (bpe, extras) = build_bpe(raw)?;
    let added: Vec<AddedToken> = match top.get("added_tokens") {
        Some(raw) => serde_json::from_str(raw.get()).ok()?,
        None => Vec::new(),
    };
    let mut rest = String::from("{");
    for (key, value) in &top {
        if matches!(*key, "model" | "added_tokens") {
            continue;
        }
        rest.push_str(&serde_json::to_string(key).ok()?);
        rest.push(':');
        rest.push_str(value.get());
        rest.push(',');
    }
    rest.push_str(r#""added_tokens":[],"model":{"type":"BPE","vocab":{},"merges":[]}}"#);
    let mut tokenizer = tokenizers::Tokenizer::from_str(&rest).ok()?;
    tokenizer.with_model(bpe);
    tokenizer.add_tokens(added).ok()?;
    Some((tokenizer, extras))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> (tokenizers::Tokenizer, tokenizers::Tokenizer) {
        let (direct, extras) = parse_bpe(text.as_bytes()).expect("the direct path applies");
        // Read without merges where the fast merging holds them.
        let direct = match extras.bpe {
            Some(bpe) => with_merges(&direct, &bpe).expect("merges added back"),
            None => direct,
        };
        let crate_own = tokenizers::Tokenizer::from_str(text).expect("the crate reads it");
        (direct, crate_own)
    }

    #[track_caller]
    fn same(direct: &tokenizers::Tokenizer, crate_own: &tokenizers::Tokenizer, texts: &[&str]) {
        assert_eq!(
            direct.to_string(false).expect("serializes"),
            crate_own.to_string(false).expect("serializes")
        );
        for text in texts {
            let a = direct.encode(*text, true).expect("encodes");
            let b = crate_own.encode(*text, true).expect("encodes");
            assert_eq!(a.get_ids(), b.get_ids(), "{text:?}");
            assert_eq!(
                direct.decode(a.get_ids(), false).expect("decodes"),
                crate_own.decode(b.get_ids(), false).expect("decodes")
            );
        }
    }

    /// Added tokens inside and outside the vocabulary, special or not, a
    /// normalizer, a post-processor and padding: the same tokenizer.
    #[test]
    fn a_small_bpe_tokenizer_reads_the_same() {
        let text = r#"{
          "version": "1.0",
          "truncation": null,
          "padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>"},
          "added_tokens": [
            {"id": 0, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 9, "content": "<bos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 10, "content": "hello world", "single_word": true, "lstrip": true, "rstrip": false, "normalized": true, "special": false}
          ],
          "normalizer": {"type": "Lowercase"},
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
          "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [9], "tokens": ["<bos>"]}}},
          "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
          "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": {"<pad>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5, "Ġ": 6, "Ġa": 7, "h": 8},
            "merges": [["a", "b"], ["ab", "c"], ["Ġ", "a"]]}
        }"#;
        let (direct, crate_own) = both(text);
        same(
            &direct,
            &crate_own,
            &["abc ab", "ABC hello world c", "<bos>abc<pad>", ""],
        );
        // The legacy merges spelling ("a b") too.
        let legacy = text.replace(
            r#"[["a", "b"], ["ab", "c"], ["Ġ", "a"]]"#,
            r#"["a b", "ab c", "Ġ a"]"#,
        );
        let (direct, crate_own) = both(&legacy);
        same(&direct, &crate_own, &["abc ab"]);
    }

    #[test]
    fn other_models_and_broken_files_take_the_crates_path() {
        let word_level = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
          "model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"}}"#;
        assert!(parse_bpe(word_level.as_bytes()).is_none());
        assert!(parse(word_level.as_bytes()).is_ok());
        assert!(parse_bpe(b"{").is_none());
        assert!(parse(b"{").is_err());
        let tagged_other = word_level.replace(r#""type": "WordLevel", "#, r#""type": "Unigram", "#);
        assert_ne!(tagged_other, word_level);
        assert!(parse_bpe(tagged_other.as_bytes()).is_none());
    }

    /// A model without `type` (the legacy spelling) is a BPE to the crate
    /// too when it has vocab and merges: the same tokenizer.
    #[test]
    fn an_untagged_bpe_model_reads_the_same() {
        let untagged = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
          "model": {"vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}"#;
        let (direct, crate_own) = both(untagged);
        same(&direct, &crate_own, &["ab", "ba"]);
    }

    /// The real DeepSeek-R1 tokenizer: serialized the same, and the same
    /// ids for text with added tokens, CJK, emoji and code.
    #[test]
    fn deepseek_reads_the_same() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/tokenizers/deepseek-r1/tokenizer.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            // CI always has ../shared; a bare checkout skips.
            return;
        };
        let (direct, crate_own) = both(&text);
        same(
            &direct,
            &crate_own,
            &[
                "The quick brown fox jumps over the lazy dog.",
                "<｜begin▁of▁sentence｜>你好，世界！🙂 fn main() { println!(\"{}\", 1 + 2); }<｜end▁of▁sentence｜>",
                "   \n\t  spaces and\r\nnewlines  ",
            ],
        );
    }
}
