//! Reading `tokenizer.json` without the tokenizers crate's detour: its own
//! deserializer reads the model through an untagged enum, so serde first
//! buffers the whole model (the DeepSeek vocabulary and merges: ~8 MB of
//! JSON) into a generic tree, then copies it into a `serde_json::Value`,
//! then builds the BPE from that. Here a BPE model is deserialized straight
//! from its text, the rest of the file (normalizer, pre-tokenizer, decoder,
//! post-processor, padding, truncation) by the crate itself with a stand-in
//! model, and the added tokens are added last, as the crate does.
//!
//! A model the BPE reader refuses (another `type`, no merges), escaped
//! top-level keys or any other error on this path fall back to the
//! crate's own reader, so the result is the same tokenizer either way (an
//! untagged model is read as a BPE first by the crate too); the tests
//! compare the two serialized.

use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::str::FromStr;
use tokenizers::models::bpe::BPE;
use tokenizers::AddedToken;

/// The tokenizer in `bytes` (a `tokenizer.json`).
pub(crate) fn parse(bytes: &[u8]) -> Result<tokenizers::Tokenizer, String> {
    match parse_bpe(bytes) {
        Some(tokenizer) => Ok(tokenizer),
        None => tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| e.to_string()),
    }
}

/// The direct path, for a BPE model; `None` where it does not apply. The
/// model is read once: BPE's own reader refuses any other `type`.
fn parse_bpe(bytes: &[u8]) -> Option<tokenizers::Tokenizer> {
    let top: BTreeMap<&str, &RawValue> = serde_json::from_slice(bytes).ok()?;
    let bpe: BPE = serde_json::from_str(top.get("model")?.get()).ok()?;
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
    Some(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> (tokenizers::Tokenizer, tokenizers::Tokenizer) {
        let direct = parse_bpe(text.as_bytes()).expect("the direct path applies");
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
