//! Loading a Hugging Face tokenizer and using it as transformers does.

use crate::fast_encode::FastEncode;
use crate::incremental::TokenBytes;
use crate::PromptsError;
use servebench_files::Limit;
use servebench_pyjson::Value;
use std::path::{Path, PathBuf};

/// A fast tokenizer plus the `tokenizer_config.json` settings that change
/// what transformers does with it.
pub struct Tokenizer {
    /// The tokenizer; read without its BPE merges when `fast` holds them
    /// (see [`Tokenizer::full`]).
    inner: tokenizers::Tokenizer,
    /// `inner` with its merges, built the first time the crate's own
    /// encoding is wanted, when `inner` was read without them.
    full: std::sync::OnceLock<Option<tokenizers::Tokenizer>>,
    /// Where it was loaded from, for messages.
    pub source: PathBuf,
    chat_template: Option<String>,
    /// `bos_token`, `eos_token`, ... as the template sees them.
    special_tokens: Vec<(String, String)>,
    clean_up_tokenization_spaces: bool,
    /// transformers rebuilds a Llama fast tokenizer's post-processor from
    /// `add_bos_token`/`add_eos_token`: `(bos, eos)` ids to wrap with.
    llama_special: Option<(Option<u32>, Option<u32>)>,
    /// Encoding without the crate's per-call costs, where it gives the
    /// same ids.
    fast: Option<FastEncode>,
    /// The base vocabulary's token bytes, when read with the tokenizer.
    base_bytes: Option<TokenBytes>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads `name`: a `tokenizer.json` file, a directory holding one, or a
    /// Hugging Face model id — from the local cache (`HF_HUB_CACHE`, else
    /// `HF_HOME/hub`, else `~/.cache/huggingface/hub`), else downloaded from
    /// `HF_ENDPOINT` (default the Hub) with `HF_TOKEN` into that cache,
    /// unless `HF_HUB_OFFLINE` is set. `env` looks up environment variables.
    pub fn load(name: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, PromptsError> {
        let path = Path::new(name);
        let Ok(meta) = std::fs::metadata(path) else {
            // `/nope/tok` or `./tok.json` is a path that is missing, not a
            // model id to look up on the Hub.
            if looks_like_path(name) {
                return Err(PromptsError::Tokenizer {
                    path: path.to_owned(),
                    message: "not found".into(),
                });
            }
            return Self::load_from_hub(name, env);
        };
        if !meta.is_dir() {
            // A file, or a FIFO or device named as one, which `from_files`
            // refuses by name rather than looking it up as a model id.
            return Self::from_files(path, path.parent().map(|p| p.join("tokenizer_config.json")));
        }
        let file = path.join("tokenizer.json");
        if !file.exists() {
            return Err(PromptsError::Tokenizer {
                path: path.to_owned(),
                message: "the directory has no tokenizer.json (only fast tokenizers are supported)"
                    .into(),
            });
        }
        Self::from_files(&file, Some(path.join("tokenizer_config.json")))
    }

    /// Loads the Hugging Face model id `name` from the cache or the Hub,
    /// never from a path (a service uses this for ids it was sent, so that
    /// an id cannot name a file of its own).
    pub fn load_from_hub(
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, PromptsError> {
        let dir = match cached_snapshot(name, env) {
            Some(dir) => dir,
            None if env("HF_HUB_OFFLINE")
                .is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false")) =>
            {
                return Err(PromptsError::TokenizerNotFound {
                    name: name.to_owned(),
                    cache: hub_cache(env),
                })
            }
            None => crate::hub::Hub {
                endpoint: env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".to_owned()),
                token: env("HF_TOKEN").filter(|t| !t.is_empty()),
                cache: hub_cache(env),
            }
            .download_tokenizer(name, "main")?,
        };
        Self::from_files(
            &dir.join("tokenizer.json"),
            Some(dir.join("tokenizer_config.json")),
        )
    }

    /// `tokenizer.json` (at most [`Limit::TOKENIZER`] bytes) and, when
    /// present, `tokenizer_config.json` (at most [`Limit::CONFIG`]): regular
    /// files only, a FIFO or device is refused by name.
    fn from_files(file: &Path, config: Option<PathBuf>) -> Result<Self, PromptsError> {
        let err = |message: String| PromptsError::Tokenizer {
            path: file.to_owned(),
            message,
        };
        let bytes = servebench_files::read(file, Limit::TOKENIZER).map_err(|e| err(e.reason()))?;
        let (inner, extras) = crate::tokenizer_json::parse(&bytes).map_err(err)?;
        drop(bytes);
        // Read without merges where `extras.bpe` holds them: kept so only
        // where the fast way encodes; otherwise they are added back now.
        let (inner, fast) = match extras.bpe {
            Some(bpe) if FastEncode::applies(&inner) => {
                let fast = FastEncode::new(&inner, bpe);
                (inner, Some(fast))
            }
            Some(bpe) => {
                let full = crate::tokenizer_json::with_merges(&inner, &bpe)
                    .ok_or_else(|| err("could not rebuild its BPE merges".into()))?;
                (full, None)
            }
            None => (inner, None),
        };
        // The table holds the model's tokens; an added token given one of
        // their ids with other text would decode differently.
        use tokenizers::Model;
        let base_bytes = extras.base_bytes.filter(|b| {
            inner.get_added_tokens_decoder().iter().all(|(&id, added)| {
                usize::try_from(id).is_ok_and(|k| k >= b.len())
                    || inner.get_model().id_to_token(id).as_deref() == Some(added.content.as_str())
            })
        });
        let mut tok = Tokenizer {
            inner,
            full: std::sync::OnceLock::new(),
            fast,
            base_bytes,
            source: file.to_owned(),
            chat_template: None,
            special_tokens: Vec::new(),
            clean_up_tokenization_spaces: false,
            llama_special: None,
        };
        if let Some(config) = config.filter(|c| c.exists()) {
            let text = servebench_files::read_text(&config, Limit::CONFIG)
                .map_err(|e| err(e.to_string()))?;
            let value = servebench_pyjson::from_str(&text)
                .map_err(|e| err(format!("{}: {e}", config.display())))?;
            tok.apply_config(&value);
        }
        Ok(tok)
    }

    fn apply_config(&mut self, config: &Value) {
        let Some(d) = config.as_dict() else { return };
        self.chat_template = match d.get("chat_template") {
            Some(Value::Str(t)) => Some(t.clone()),
            // A list of named templates: transformers uses "default".
            Some(Value::List(items)) => items.iter().find_map(|t| {
                let t = t.as_dict()?;
                (t.get("name")?.as_str()? == "default")
                    .then(|| t.get("template")?.as_str().map(str::to_owned))?
            }),
            _ => None,
        };
        self.clean_up_tokenization_spaces = matches!(
            d.get("clean_up_tokenization_spaces"),
            Some(Value::Bool(true))
        );
        let is_llama = d
            .get("tokenizer_class")
            .and_then(Value::as_str)
            .is_some_and(|c| c.ends_with("LlamaTokenizerFast"));
        let flag = |k: &str| d.get(k).map(|v| matches!(v, Value::Bool(true)));
        for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            let text = match d.get(key) {
                Some(Value::Str(s)) => Some(s.clone()),
                Some(Value::Dict(t)) => t.get("content").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            };
            if let Some(text) = text {
                self.special_tokens.push((key.to_owned(), text));
            }
        }
        if is_llama {
            let id_of = |key: &str| {
                let text = self
                    .special_tokens
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, t)| t.as_str())?;
                self.inner.token_to_id(text)
            };
            // LlamaTokenizerFast defaults: add_bos_token True, add_eos_token False.
            let bos = if flag("add_bos_token").unwrap_or(true) {
                id_of("bos_token")
            } else {
                None
            };
            let eos = if flag("add_eos_token").unwrap_or(false) {
                id_of("eos_token")
            } else {
                None
            };
            self.llama_special = Some((bos, eos));
        }
    }

    /// `tokenizer.vocab_size`: the base vocabulary, without added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(false)
    }

    /// `tokenizer.encode(text, add_special_tokens=False)`.
    ///
    /// The fast way where it applies (`fast_encode`): the same ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, PromptsError> {
        if let Some(fast) = &self.fast {
            let full = || self.full().map_err(|e| e.to_string().into());
            return fast
                .encode(&self.inner, &full, text)
                .map_err(|e| self.error(e));
        }
        self.full()?
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| PromptsError::Tokenizer {
                path: self.source.clone(),
                message: e.to_string(),
            })
    }

    /// The tokenizer with its BPE merges, for the crate's own encoding
    /// (`inner` itself unless it was read without them).
    fn full(&self) -> Result<&tokenizers::Tokenizer, PromptsError> {
        let Some(fast) = &self.fast else {
            return Ok(&self.inner);
        };
        self.full
            .get_or_init(|| crate::tokenizer_json::with_merges(&self.inner, fast.bpe()))
            .as_ref()
            .ok_or_else(|| PromptsError::Tokenizer {
                path: self.source.clone(),
                message: "could not rebuild its BPE merges".into(),
            })
    }

    fn error(&self, e: tokenizers::Error) -> PromptsError {
        PromptsError::Tokenizer {
            path: self.source.clone(),
            message: e.to_string(),
        }
    }

    /// Token ids and, per token, the index of the piece it came from.
    pub(crate) fn encode_with_words(
        &self,
        text: &str,
    ) -> Result<(Vec<u32>, Vec<Option<u32>>), PromptsError> {
        let e = self
            .full()?
            .encode(text, false)
            .map_err(|e| PromptsError::Tokenizer {
                path: self.source.clone(),
                message: e.to_string(),
            })?;
        Ok((e.get_ids().to_vec(), e.get_word_ids().to_vec()))
    }

    /// The base vocabulary's token bytes, when they were read with it.
    pub(crate) fn base_token_bytes(&self) -> Option<&TokenBytes> {
        self.base_bytes.as_ref()
    }

    pub(crate) fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Every id, added tokens included.
    pub(crate) fn total_ids(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Whether text goes through untouched and decoding is byte-level and
    /// nothing more (no `clean_up_tokenization_spaces` afterwards): the
    /// preconditions of incremental encoding.
    pub(crate) fn is_plain_byte_level(&self) -> bool {
        if self.clean_up_tokenization_spaces {
            return false;
        }
        crate::fast_encode::normalizer_is_identity(&self.inner)
            && matches!(
                self.inner.get_decoder(),
                Some(tokenizers::DecoderWrapper::ByteLevel(_))
            )
    }

    /// `tokenizer(text).input_ids`: with the special tokens transformers adds.
    pub fn encode_with_special(&self, text: &str) -> Result<Vec<u32>, PromptsError> {
        if let Some((bos, eos)) = self.llama_special {
            let mut ids: Vec<u32> = bos.into_iter().collect();
            ids.extend(self.encode(text)?);
            ids.extend(eos);
            return Ok(ids);
        }
        self.full()?
            .encode_fast(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| PromptsError::Tokenizer {
                path: self.source.clone(),
                message: e.to_string(),
            })
    }

    /// `tokenizer.decode(ids)`: special tokens kept, then transformers'
    /// `clean_up_tokenization` when the config asks for it.
    pub fn decode(&self, ids: &[u32]) -> Result<String, PromptsError> {
        let text = self
            .inner
            .decode(ids, false)
            .map_err(|e| PromptsError::Tokenizer {
                path: self.source.clone(),
                message: e.to_string(),
            })?;
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// `apply_chat_template([{"role": "user", "content": content}],
    /// add_generation_prompt=True, tokenize=False)`.
    pub fn chat_prompt(&self, content: &str) -> Result<String, PromptsError> {
        let template = self
            .chat_template
            .as_deref()
            .ok_or_else(|| PromptsError::Tokenizer {
                path: self.source.clone(),
                message: "--use-chat-template was given but the tokenizer has no chat template"
                    .into(),
            })?;
        crate::chat::render(template, content, &self.special_tokens).map_err(|message| {
            PromptsError::Tokenizer {
                path: self.source.clone(),
                message: format!("chat template: {message}"),
            }
        })
    }
}

/// transformers' `clean_up_tokenization`.
fn clean_up_tokenization(text: &str) -> String {
    [
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ]
    .iter()
    .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
}

fn hub_cache(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = env("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = env("HF_HOME") {
        return Path::new(&home).join("hub");
    }
    let home = env("HOME").unwrap_or_default();
    Path::new(&home).join(".cache/huggingface/hub")
}

/// `models--ORG--NAME/snapshots/<rev>/` holding a tokenizer.json: the one
/// `refs/main` names, else the first (by name) that has one.
/// A name no Hugging Face id could be: absolute or relative to `.`/`~`, a
/// `.json` file, or more than `ORG/NAME` deep.
fn looks_like_path(name: &str) -> bool {
    name.starts_with(['/', '.', '~'])
        || name.ends_with(".json")
        || name.contains('\\')
        || name.matches('/').count() > 1
}

fn cached_snapshot(model_id: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let repo = crate::hub::repo_dir(&hub_cache(env), model_id);
    let snapshots = repo.join("snapshots");
    // Regular files only: a FIFO here would block (it falls back below).
    if let Ok(rev) = servebench_files::read_text(&repo.join("refs/main"), Limit::CONFIG) {
        let dir = snapshots.join(rev.trim());
        if dir.join("tokenizer.json").is_file() {
            return Some(dir);
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .find(|d| d.join("tokenizer.json").is_file())
}

#[cfg(test)]
mod missing_tests {
    use super::*;

    #[test]
    fn a_missing_path_is_not_found_and_an_unreachable_hub_suggests_a_path() {
        let cache = std::env::temp_dir().join(format!("tok-missing-{}", std::process::id()));
        let env = |k: &str| match k {
            "HF_HUB_CACHE" => Some(cache.display().to_string()),
            // Nothing listens on port 1: the Hub cannot be reached.
            "HF_ENDPOINT" => Some("http://127.0.0.1:1".to_owned()),
            _ => None,
        };
        for path in ["/nope/tok", "./tok", "../x/tokenizer.json", "a/b/c"] {
            let Err(e) = Tokenizer::load(path, &env) else {
                panic!("{path} loaded")
            };
            assert_eq!(e.to_string(), format!("{path}: not found"));
        }
        let Err(e) = Tokenizer::load("org/model", &env) else {
            panic!("org/model loaded")
        };
        let text = e.to_string();
        assert!(text.contains("--tokenizer PATH"), "{text}");
        let _ = std::fs::remove_dir_all(&cache);
    }
}

#[cfg(test)]
mod fast_tests {
    use super::*;

    /// Our ids for `text` are those of the crate's own reading of the
    /// same file, and so are those of the crate's encoding with the merges
    /// added back (the incremental path's).
    #[track_caller]
    fn same(tok: &Tokenizer, reference: &tokenizers::Tokenizer, text: &str) {
        let want = reference.encode_fast(text, false).expect("encodes");
        assert_eq!(
            tok.encode(text).expect("encodes"),
            want.get_ids(),
            "{text:?}"
        );
        let (ids, _) = tok.encode_with_words(text).expect("encodes");
        assert_eq!(ids, want.get_ids(), "{text:?}");
    }

    fn from_json(dir: &str, json: &str) -> Tokenizer {
        let dir = std::env::temp_dir().join(format!("{dir}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("tokenizer.json");
        std::fs::write(&file, json).expect("writes");
        let tok = Tokenizer::load(&file.display().to_string(), &|_| None).expect("loads");
        let _ = std::fs::remove_dir_all(&dir);
        tok
    }

    /// The real DeepSeek-R1 tokenizer: the random dataset's texts (slices
    /// of the vocabulary decoded, cut anywhere), added tokens, pieces
    /// longer than the scanning limit, and text from everywhere.
    #[test]
    fn deepseek_encodes_as_the_crate() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/tokenizers/deepseek-r1");
        if !path.exists() {
            // CI always has ../shared; a bare checkout skips.
            return;
        }
        let tok = Tokenizer::load(&path.display().to_string(), &|_| None).expect("loads");
        assert!(tok.fast.is_some(), "the fast path applies to DeepSeek");
        let reference = tokenizers::Tokenizer::from_file(path.join("tokenizer.json"))
            .expect("the crate reads it");
        // Read without merges, they are added back as the file has them.
        assert!(tok.full.get().is_none());
        assert_eq!(
            tok.full()
                .expect("rebuilt")
                .to_string(false)
                .expect("serializes"),
            reference.to_string(false).expect("serializes")
        );
        let vocab = tok.vocab_size() as u64;
        let mut x: u64 = 7;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for _ in 0..400 {
            let start = next(vocab);
            let len = 1 + next(300);
            let ids: Vec<u32> = (0..len).map(|j| ((start + j) % vocab) as u32).collect();
            let text = tok.decode(&ids).expect("decodes");
            same(&tok, &reference, &text);
            // Cut at any character, as truncation does.
            let cut = text
                .char_indices()
                .map(|(i, _)| i)
                .nth(next(text.chars().count() as u64 + 1) as usize)
                .unwrap_or(text.len());
            same(&tok, &reference, &text[..cut]);
        }
        for text in [
            "",
            " ",
            "The quick brown fox jumps over the lazy dog.",
            "<｜begin▁of▁sentence｜>你好，世界！🙂<｜User｜>fn main() { println!(\"{}\", 1 + 2); }<｜end▁of▁sentence｜>",
            "12345678901234567890 3.14159 ٣٤٥ ①②③",
            "   \n\t  spaces and\r\nnewlines  \n\n\n   ",
            &"a".repeat(500),
            &" ".repeat(300),
            &"ab!".repeat(200),
            &"ñé".repeat(100),
            "\u{0}\u{1}\u{7f}\u{80}\u{ff}\u{fffd}\u{10ffff}",
        ] {
            same(&tok, &reference, text);
        }
    }

    const SMALL: &str = r#"{
      "version": "1.0", "truncation": null, "padding": null,
      "added_tokens": [{"id": 9, "content": "<bos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
      "normalizer": null,
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
      "post_processor": POST,
      "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
      "model": {"type": "BPE", "dropout": null, "unk_token": UNK, "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": IGNORE,
        "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5, "Ġ": 6, "Ġa": 7, "ca": 8, "bca": 10},
        "merges": [["a", "b"], ["ab", "c"], ["Ġ", "a"], ["c", "a"], ["b", "ca"]]}
    }"#;

    fn small(post: &str, unk: &str, ignore: bool) -> String {
        SMALL
            .replace("POST", post)
            .replace("UNK", unk)
            .replace("IGNORE", if ignore { "true" } else { "false" })
    }

    /// `ignore_merges` (a piece in the vocabulary is one token), unknown
    /// characters (dropped, or the unknown token), added tokens and a
    /// Llama-style template that adds `<bos>` only with special tokens.
    #[test]
    fn small_tokenizers_encode_as_the_crate() {
        let texts = [
            "abc ab bca abca cab",
            "<bos>abc",
            "xaby ab",
            "bcab",
            "aaaa bbbb",
            "",
        ];
        let template = r#"{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [9], "tokens": ["<bos>"]}}}"#;
        for (k, (post, unk, ignore)) in [
            ("null", "null", false),
            ("null", r#""<unk>""#, false),
            (template, "null", true),
            (template, r#""<unk>""#, true),
        ]
        .into_iter()
        .enumerate()
        {
            let json = small(post, unk, ignore);
            let tok = from_json(&format!("tok-fast-{k}"), &json);
            let reference = json
                .parse::<tokenizers::Tokenizer>()
                .expect("the crate reads it");
            assert!(tok.fast.is_some(), "case {k}");
            for text in texts {
                same(&tok, &reference, text);
            }
        }
        // A template that copies the text twice keeps the crate's path.
        let twice = template.replace(
            r#"{"SpecialToken": {"id": "<bos>", "type_id": 0}}"#,
            r#"{"Sequence": {"id": "A", "type_id": 0}}"#,
        );
        let json = small(&twice, "null", false);
        let tok = from_json("tok-fast-twice", &json);
        assert!(tok.fast.is_none());
        let reference: tokenizers::Tokenizer = json.parse().expect("the crate reads it");
        same(&tok, &reference, "abc");
        // So does dropout.
        let dropout =
            small("null", "null", false).replace(r#""dropout": null"#, r#""dropout": 0.5"#);
        assert!(from_json("tok-fast-dropout", &dropout).fast.is_none());
    }
}
