//! The backends of the Python client (SPEC §6.5–6.6): what each sends and
//! how each reads the answer.
//!
//! Request bodies keep the original's field order and `json.dumps`
//! spelling. Parsing follows the original's per-backend rules — which chunk
//! sets the TTFT, which gaps count as ITL, where `output_tokens` comes from,
//! what counts as success — applied to decoded SSE events (a proper SSE
//! decoder, where the original splits on `\n`; they agree on well-formed
//! streams, and comment lines such as keep-alives no longer fail a request).
//!
//! What a request keeps is capped, since the server decides how much it
//! sends: [`MAX_EVENTS`] events and [`MAX_TEXT_BYTES`] of generated text
//! per request (one `itl` entry of 8 bytes per token chunk, so at most
//! 8 MiB of those). Both are far above any real `max_tokens`; a stream that
//! goes past either fails its request with a [`ClientError`], which also
//! ends a stream that would never end. Below the caps the text is kept
//! whole: the metrics count its tokens when the server sent no usage, and
//! `--save-detailed` saves it.
//!
//! Each chunk is read by a typed parse of only the fields the metrics use
//! (`crate::chunk`), which leaves what it cannot read exactly as Python
//! would (`NaN`, a repeated key, ...) to the full Python-JSON parse; both
//! feed one set of rules, so the outputs are the same either way.
//!
//! A cut stream is a failure. An OpenAI stream (completions, chat) is
//! complete once it sent `[DONE]` or its usage report (a chunk with usage
//! and no choices); a TGI stream once a chunk carried `generated_text`
//! (TGI's last chunk). A stream whose body ends cleanly before that failed
//! with [`CUT_OPENAI`] or [`CUT_TGI`] — where the Python would count it as a
//! success. TensorRT-LLM's stream has no end marker and DeepSpeed-MII's
//! answer is one JSON document: there only a body cut short of its HTTP
//! framing (or, for MII, JSON that does not parse) tells a cut.

use crate::chunk::{Choice, ChunkView, Template};
use crate::error::{head, ClientError};
use servebench_metrics::RequestOutput;
use servebench_pyjson::{Dict, Value};

/// The most SSE events one request may deliver: 2^20 (1,048,576).
pub const MAX_EVENTS: usize = 1 << 20;
/// The most generated text one request may gather: 16 MiB.
pub const MAX_TEXT_BYTES: usize = 16 << 20;

/// The error of an OpenAI stream that ended without `[DONE]` or usage.
pub const CUT_OPENAI: &str = "the stream was cut: it ended without [DONE] or a usage report";
/// The error of a TGI stream that ended before its final chunk.
pub const CUT_TGI: &str = "the stream was cut: it ended before the final chunk with generated_text";

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Vllm,
    Openai,
    Sglang,
    Lmdeploy,
    Scalellm,
    OpenaiChat,
    Tgi,
    TensorrtLlm,
    DeepspeedMii,
}

/// How a backend talks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Completions,
    Chat,
    Tgi,
    TensorrtLlm,
    DeepspeedMii,
}

impl Backend {
    pub const NAMES: [&'static str; 9] = [
        "tgi",
        "vllm",
        "lmdeploy",
        "deepspeed-mii",
        "openai",
        "openai-chat",
        "tensorrt-llm",
        "scalellm",
        "sglang",
    ];

    pub fn parse(name: &str) -> Option<Backend> {
        Some(match name {
            "vllm" => Backend::Vllm,
            "openai" => Backend::Openai,
            "sglang" => Backend::Sglang,
            "lmdeploy" => Backend::Lmdeploy,
            "scalellm" => Backend::Scalellm,
            "openai-chat" => Backend::OpenaiChat,
            "tgi" => Backend::Tgi,
            "tensorrt-llm" => Backend::TensorrtLlm,
            "deepspeed-mii" => Backend::DeepspeedMii,
            _ => return None,
        })
    }

    pub fn kind(self) -> Kind {
        match self {
            Backend::Vllm
            | Backend::Openai
            | Backend::Sglang
            | Backend::Lmdeploy
            | Backend::Scalellm => Kind::Completions,
            Backend::OpenaiChat => Kind::Chat,
            Backend::Tgi => Kind::Tgi,
            Backend::TensorrtLlm => Kind::TensorrtLlm,
            Backend::DeepspeedMii => Kind::DeepspeedMii,
        }
    }
}

/// One request's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec<'a> {
    /// `--served-model-name` (or the LoRA module) if given, else `--model`.
    pub model: &'a str,
    pub prompt: &'a str,
    pub prompt_len: i64,
    pub output_len: i64,
    pub best_of: i64,
    pub logprobs: Option<i64>,
    pub ignore_eos: bool,
    /// `openai-chat`: the message content as a list of one text part
    /// (edition 2026-02) instead of the plain prompt string (2026-08).
    pub content_as_parts: bool,
}

/// The extra body fields edition 2026-08 sends with `/start_profile`
/// (OpenAI completions and chat only; the other backends ignore them).
pub fn start_profile_extra_body() -> Dict {
    [
        ("num_steps", Value::Int(1)),
        ("merge_profiles", Value::Bool(true)),
        ("profile_by_stage", Value::Bool(true)),
    ]
    .into_iter()
    .collect()
}

/// The original's URL checks (`profile` endpoints pass for completions).
pub fn check_url(kind: Kind, url: &str) -> Result<(), ClientError> {
    let (ok, backend, suffix) = match kind {
        Kind::Completions => (
            url.ends_with("completions") || url.ends_with("profile"),
            "completions",
            "'completions' or 'profile'",
        ),
        Kind::Chat => (
            url.ends_with("chat/completions"),
            "openai-chat",
            "'chat/completions'",
        ),
        Kind::Tgi => (url.ends_with("generate_stream"), "tgi", "'generate_stream'"),
        Kind::TensorrtLlm => (
            url.ends_with("generate_stream"),
            "tensorrt-llm",
            "'generate_stream'",
        ),
        Kind::DeepspeedMii => (true, "deepspeed-mii", ""),
    };
    if ok {
        Ok(())
    } else {
        Err(ClientError::BackendUrl {
            backend,
            suffix,
            url: url.to_owned(),
        })
    }
}

fn int(i: i64) -> Value {
    Value::Int(i.into())
}

/// The request body, exactly as the original's `json.dumps(payload)`.
pub fn request_body(kind: Kind, r: &RequestSpec) -> Result<String, ClientError> {
    request_body_with(kind, r, &Dict::new())
}

/// [`request_body`] with `extra` fields merged into the OpenAI payloads
/// after all others (Python's `payload.update(extra_body)`: an existing key
/// keeps its place and takes the new value); other backends ignore them.
pub fn request_body_with(kind: Kind, r: &RequestSpec, extra: &Dict) -> Result<String, ClientError> {
    let mut d = Dict::new();
    match kind {
        Kind::Completions => {
            d.insert("model", r.model.into());
            d.insert("prompt", r.prompt.into());
            d.insert("temperature", Value::Float(0.0));
            d.insert("best_of", int(r.best_of));
            d.insert("max_tokens", int(r.output_len));
            d.insert("logprobs", r.logprobs.map_or(Value::Null, int));
            openai_stream_tail(&mut d, r.ignore_eos);
            merge(&mut d, extra);
        }
        Kind::Chat => {
            let content = if r.content_as_parts {
                let part: Dict = [("type", Value::from("text")), ("text", r.prompt.into())]
                    .into_iter()
                    .collect();
                Value::List(vec![part.into()])
            } else {
                r.prompt.into()
            };
            let message: Dict = [("role", Value::from("user")), ("content", content)]
                .into_iter()
                .collect();
            d.insert("model", r.model.into());
            d.insert("messages", Value::List(vec![message.into()]));
            d.insert("temperature", Value::Float(0.0));
            d.insert("max_completion_tokens", int(r.output_len));
            openai_stream_tail(&mut d, r.ignore_eos);
            merge(&mut d, extra);
        }
        Kind::Tgi => {
            let params: Dict = [
                ("best_of", int(r.best_of)),
                ("max_new_tokens", int(r.output_len)),
                ("do_sample", Value::Bool(true)),
                ("temperature", Value::Float(0.01)),
                ("top_p", Value::Float(0.99)),
                ("truncate", int(r.prompt_len)),
            ]
            .into_iter()
            .collect();
            d.insert("inputs", r.prompt.into());
            d.insert("parameters", params.into());
        }
        Kind::TensorrtLlm => {
            if r.best_of != 1 {
                return Err(ClientError::BestOf {
                    backend: "tensorrt-llm",
                });
            }
            d.insert("accumulate_tokens", Value::Bool(true));
            d.insert("text_input", r.prompt.into());
            d.insert("temperature", Value::Float(0.0));
            d.insert("top_p", Value::Float(1.0));
            d.insert("max_tokens", int(r.output_len));
            d.insert("stream", Value::Bool(true));
            if r.ignore_eos {
                d.insert("min_length", int(r.output_len));
            }
        }
        Kind::DeepspeedMii => {
            if r.best_of != 1 {
                return Err(ClientError::BestOf {
                    backend: "deepspeed-mii",
                });
            }
            d.insert("prompt", r.prompt.into());
            d.insert("max_tokens", int(r.output_len));
            d.insert("temperature", Value::Float(0.01));
            d.insert("top_p", Value::Float(1.0));
        }
    }
    Ok(servebench_pyjson::to_string(&Value::Dict(d)))
}

fn merge(d: &mut Dict, extra: &Dict) {
    for (k, v) in extra.iter() {
        d.insert(k, v.clone());
    }
}

/// The fields both OpenAI bodies end with.
fn openai_stream_tail(d: &mut Dict, ignore_eos: bool) {
    d.insert("stream", Value::Bool(true));
    d.insert(
        "stream_options",
        Value::Dict([("include_usage", Value::Bool(true))].into_iter().collect()),
    );
    if ignore_eos {
        d.insert("ignore_eos", Value::Bool(true));
    }
}

/// `Authorization: Bearer {OPENAI_API_KEY}` — the original sends the text
/// `None` when the variable is unset.
pub fn authorization(api_key: Option<&str>) -> String {
    format!("Bearer {}", api_key.unwrap_or("None"))
}

/// Reads one streamed answer, event by event, with the time (seconds on
/// the client's monotonic clock) each event's bytes were read.
#[derive(Debug)]
pub(crate) struct StreamParser {
    kind: Kind,
    sent: f64,
    last: f64,
    chunks: usize,
    /// Events seen, against [`MAX_EVENTS`].
    events: usize,
    /// The stream sent its backend's end marker (`[DONE]`, usage, TGI's
    /// final `generated_text`).
    complete: bool,
    /// Read chunks with the typed parse first (off only in tests, which
    /// compare the two paths).
    typed: bool,
    /// The shape of the last chunk scanned.
    template: Template,
    out: RequestOutput,
}

impl StreamParser {
    /// `sent`: when the request was sent. The output starts with the
    /// original's defaults (`output_tokens` 0, not unknown).
    pub(crate) fn new(kind: Kind, sent: f64, prompt_len: i64) -> Self {
        StreamParser {
            kind,
            sent,
            last: sent,
            chunks: 0,
            events: 0,
            complete: false,
            typed: true,
            template: Template::default(),
            out: RequestOutput::failed(prompt_len),
        }
    }

    /// Starts the request's clock `by` seconds later (before any event):
    /// by the time the request waited, after it was handed to its
    /// connection, for the connection's task to write it.
    pub(crate) fn start_later(&mut self, by: f64) {
        if self.chunks == 0 && by > 0.0 {
            self.sent += by;
            self.last = self.last.max(self.sent);
        }
    }

    fn token_at(&mut self, now: f64) {
        if self.chunks == 0 {
            self.out.ttft = now - self.sent;
        } else {
            self.out.itl.push(now - self.last);
        }
        self.chunks += 1;
        self.last = now;
    }

    /// Appends to the generated text, within [`MAX_TEXT_BYTES`].
    fn push_text(&mut self, text: &str) -> Result<(), ClientError> {
        if self.out.generated_text.len().saturating_add(text.len()) > MAX_TEXT_BYTES {
            return Err(ClientError::Text {
                limit: MAX_TEXT_BYTES,
            });
        }
        self.out.generated_text.push_str(text);
        Ok(())
    }

    /// One SSE event's data. An error makes the request fail with that text.
    pub(crate) fn on_data(&mut self, data: &str, now: f64) -> Result<(), ClientError> {
        self.events += 1;
        if self.events > MAX_EVENTS {
            return Err(ClientError::Events { limit: MAX_EVENTS });
        }
        if data == "[DONE]" && matches!(self.kind, Kind::Completions | Kind::Chat) {
            self.complete = true;
            return Ok(());
        }
        if self.typed && self.kind != Kind::DeepspeedMii {
            if let Some(chunk) = ChunkView::parse_with(data, &mut self.template) {
                return self.on_chunk(&chunk, now);
            }
        }
        let value = servebench_pyjson::from_str(data).map_err(|e| ClientError::Json {
            message: e.to_string(),
            data: head(data),
        })?;
        let chunk = value
            .as_dict()
            .ok_or_else(|| ClientError::NotObject { data: head(data) })?;
        if self.kind == Kind::DeepspeedMii {
            let text = chunk
                .get("text")
                .and_then(Value::as_list)
                .and_then(|t| t.first())
                .and_then(Value::as_str);
            let text = text.ok_or(ClientError::MissingKey("text"))?;
            self.out.generated_text.clear();
            self.push_text(text)?;
            self.out.ttft = 0.0;
            self.last = now;
            self.chunks += 1;
            return Ok(());
        }
        self.on_chunk(&ChunkView::of_value(chunk), now)
    }

    /// One chunk's fields, read either way (DeepSpeed-MII's one document
    /// is read in [`StreamParser::on_data`]).
    fn on_chunk(&mut self, chunk: &ChunkView<'_>, now: f64) -> Result<(), ClientError> {
        match self.kind {
            Kind::Chat => {
                // The chat path advances `last` for every chunk, usage-only ones too.
                if let Some(first) = &chunk.first_choice {
                    let Choice::Object {
                        delta: Some(content),
                        ..
                    } = first
                    else {
                        return Err(ClientError::MissingKey("delta"));
                    };
                    if self.out.ttft == 0.0 {
                        self.out.ttft = now - self.sent;
                    } else {
                        self.out.itl.push(now - self.last);
                    }
                    self.push_text(content.as_deref().unwrap_or_default())?;
                } else if let Some(tokens) = chunk.usage {
                    self.out.output_tokens = tokens;
                    self.complete = true;
                }
                self.last = now;
            }
            Kind::Completions => {
                if let Some(first) = &chunk.first_choice {
                    self.token_at(now);
                    let text = match first {
                        Choice::Object {
                            text: Some(text), ..
                        } => text,
                        _ => "",
                    };
                    self.push_text(text)?;
                } else if let Some(tokens) = chunk.usage {
                    self.out.output_tokens = tokens;
                    self.complete = true;
                }
            }
            Kind::Tgi => {
                self.token_at(now);
                if let Some(text) = &chunk.generated_text {
                    self.out.generated_text.clear();
                    self.push_text(text)?;
                    self.complete = true;
                }
            }
            Kind::TensorrtLlm => {
                self.token_at(now);
                let text = chunk
                    .text_output
                    .as_deref()
                    .ok_or(ClientError::MissingKey("text_output"))?;
                self.push_text(text)?;
            }
            Kind::DeepspeedMii => {}
        }
        Ok(())
    }

    /// The request's output once the body ended normally (a body cut
    /// short of its HTTP framing goes to [`StreamParser::fail`]).
    pub(crate) fn finish(mut self) -> RequestOutput {
        let error = match self.kind {
            Kind::Completions if self.chunks == 0 => Some("Never received a valid chunk to calculate TTFT.This response will be marked as failed!"),
            // The chat path succeeds on any complete 200, even without chunks.
            Kind::Completions | Kind::Chat if !self.complete => Some(CUT_OPENAI),
            Kind::Tgi if !self.complete => Some(CUT_TGI),
            _ => None,
        };
        match error {
            None => {
                self.out.success = true;
                self.out.latency = self.last - self.sent;
            }
            Some(error) => self.out.error = error.into(),
        }
        self.out
    }

    /// The request failed with `error` (HTTP status, parse error, cut
    /// stream, timeout): the original keeps what arrived but marks it failed.
    pub(crate) fn fail(mut self, error: String) -> RequestOutput {
        self.out.success = false;
        self.out.error = error;
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ignore_eos: bool) -> RequestSpec<'static> {
        RequestSpec {
            model: "m",
            prompt: "hi",
            prompt_len: 1,
            output_len: 8,
            best_of: 1,
            logprobs: None,
            ignore_eos,
            content_as_parts: true,
        }
    }

    #[test]
    fn edition_2026_08_chat_content_is_the_prompt_and_profile_fields_come_last() {
        let plain = RequestSpec {
            content_as_parts: false,
            ..spec(true)
        };
        let extra = start_profile_extra_body();
        assert_eq!(
            request_body_with(Kind::Chat, &plain, &extra).unwrap(),
            r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0, "max_completion_tokens": 8, "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true, "num_steps": 1, "merge_profiles": true, "profile_by_stage": true}"#
        );
        assert_eq!(
            request_body_with(Kind::Completions, &plain, &extra).unwrap(),
            r#"{"model": "m", "prompt": "hi", "temperature": 0.0, "best_of": 1, "max_tokens": 8, "logprobs": null, "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true, "num_steps": 1, "merge_profiles": true, "profile_by_stage": true}"#
        );
        assert_eq!(
            request_body_with(Kind::Tgi, &plain, &extra).unwrap(),
            request_body(Kind::Tgi, &plain).unwrap(),
            "other backends ignore the extra body"
        );
        assert_eq!(
            request_body(Kind::Chat, &plain).unwrap(),
            r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0, "max_completion_tokens": 8, "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true}"#
        );
    }

    #[test]
    fn bodies_match_the_original() {
        let cases = [
            (
                Kind::Completions,
                true,
                r#"{"model": "m", "prompt": "hi", "temperature": 0.0, "best_of": 1, "max_tokens": 8, "logprobs": null, "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true}"#,
            ),
            (
                Kind::Chat,
                false,
                r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "temperature": 0.0, "max_completion_tokens": 8, "stream": true, "stream_options": {"include_usage": true}}"#,
            ),
            (
                Kind::Tgi,
                true,
                r#"{"inputs": "hi", "parameters": {"best_of": 1, "max_new_tokens": 8, "do_sample": true, "temperature": 0.01, "top_p": 0.99, "truncate": 1}}"#,
            ),
            (
                Kind::TensorrtLlm,
                true,
                r#"{"accumulate_tokens": true, "text_input": "hi", "temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "stream": true, "min_length": 8}"#,
            ),
            (
                Kind::DeepspeedMii,
                false,
                r#"{"prompt": "hi", "max_tokens": 8, "temperature": 0.01, "top_p": 1.0}"#,
            ),
        ];
        for (kind, ignore_eos, want) in cases {
            assert_eq!(
                request_body(kind, &spec(ignore_eos)).unwrap(),
                want,
                "{kind:?}"
            );
        }
        let best_of_2 = RequestSpec {
            best_of: 2,
            ..spec(false)
        };
        assert!(request_body(Kind::TensorrtLlm, &best_of_2).is_err());
        assert_eq!(authorization(None), "Bearer None");
    }

    #[test]
    fn urls() {
        assert!(check_url(Kind::Completions, "http://h/v1/completions").is_ok());
        assert!(check_url(Kind::Completions, "http://h/start_profile").is_ok());
        assert!(check_url(Kind::Chat, "http://h/v1/completions").is_err());
        assert!(check_url(Kind::Tgi, "http://h/generate_stream").is_ok());
    }

    #[test]
    fn completions_stream_timing_and_usage() {
        let mut p = StreamParser::new(Kind::Completions, 10.0, 5);
        p.on_data(r#"{"choices": [{"text": "a"}]}"#, 10.5).unwrap();
        p.on_data(r#"{"choices": [{"text": null}]}"#, 10.6).unwrap();
        p.on_data(
            r#"{"choices": [{"text": "c"}], "usage": {"completion_tokens": 99}}"#,
            10.8,
        )
        .unwrap();
        p.on_data(
            r#"{"choices": [], "usage": {"completion_tokens": 3}}"#,
            11.0,
        )
        .unwrap();
        p.on_data("[DONE]", 11.1).unwrap();
        let out = p.finish();
        assert!(out.success);
        assert_eq!(
            (out.ttft, out.generated_text.as_str(), out.output_tokens),
            (0.5, "ac", Some(3))
        );
        assert_eq!(out.itl.len(), 2);
        assert!(
            (out.latency - 0.8).abs() < 1e-12,
            "latency ends at the last token chunk"
        );
        let empty = StreamParser::new(Kind::Completions, 0.0, 5).finish();
        assert!(!empty.success && empty.error.starts_with("Never received a valid chunk"));
        assert_eq!(empty.output_tokens, Some(0));
    }

    #[test]
    fn chat_stream_quirks() {
        let mut p = StreamParser::new(Kind::Chat, 0.0, 5);
        p.on_data(
            r#"{"choices": [{"delta": {"role": "assistant", "content": ""}}]}"#,
            0.2,
        )
        .unwrap();
        p.on_data(r#"{"choices": [{"delta": {"content": "Hi"}}]}"#, 0.25)
            .unwrap();
        p.on_data(r#"{"choices": [], "usage": {"completion_tokens": 1}}"#, 0.4)
            .unwrap();
        let out = p.finish();
        assert_eq!(
            (out.ttft, out.itl.len(), out.output_tokens),
            (0.2, 1, Some(1))
        );
        assert!(
            (out.latency - 0.4).abs() < 1e-12,
            "usage-only chunks advance `last`"
        );
        let mut done_only = StreamParser::new(Kind::Chat, 0.0, 1);
        done_only.on_data("[DONE]", 0.1).unwrap();
        assert!(
            done_only.finish().success,
            "chat succeeds without chunks once the stream is complete"
        );
        let mut bad = StreamParser::new(Kind::Chat, 0.0, 1);
        assert_eq!(
            bad.on_data(r#"{"choices": [{"text": "x"}]}"#, 0.1),
            Err(ClientError::MissingKey("delta"))
        );
        assert!(StreamParser::new(Kind::Completions, 0.0, 1)
            .on_data("not json", 0.1)
            .unwrap_err()
            .to_string()
            .starts_with("JSONDecodeError"));
    }

    /// Feeds `events` (data, time) to a parser and ends the stream.
    fn parse(kind: Kind, events: &[&str]) -> RequestOutput {
        let mut p = StreamParser::new(kind, 0.0, 1);
        for (i, data) in events.iter().enumerate() {
            if let Err(e) = p.on_data(data, 0.1 * (i + 1) as f64) {
                return p.fail(e.to_string());
            }
        }
        p.finish()
    }

    #[test]
    fn a_stream_without_its_end_marker_is_cut() {
        const TEXT: &str = r#"{"choices": [{"text": "a"}]}"#;
        const DELTA: &str = r#"{"choices": [{"delta": {"content": "a"}}]}"#;
        const USAGE: &str = r#"{"choices": [], "usage": {"completion_tokens": 1}}"#;
        const TGI_TOKEN: &str = r#"{"token": {"text": "a"}, "generated_text": null}"#;
        const TGI_LAST: &str = r#"{"token": {"text": "b"}, "generated_text": "ab"}"#;
        const NEVER: &str = "Never received a valid chunk";
        // (kind, events, the error's start; "" for success)
        let cases: &[(Kind, &[&str], &str)] = &[
            (Kind::Completions, &[TEXT, USAGE, "[DONE]"], ""),
            (Kind::Completions, &[TEXT, "[DONE]"], ""),
            (Kind::Completions, &[TEXT, USAGE], ""),
            (Kind::Completions, &[TEXT, TEXT], CUT_OPENAI),
            // A chunk with both counts as a token chunk, not as the report.
            (
                Kind::Completions,
                &[r#"{"choices": [{"text": "a"}], "usage": {"completion_tokens": 1}}"#],
                CUT_OPENAI,
            ),
            (Kind::Completions, &[], NEVER),
            (Kind::Completions, &["[DONE]"], NEVER),
            (Kind::Chat, &[DELTA, USAGE, "[DONE]"], ""),
            (Kind::Chat, &[DELTA, "[DONE]"], ""),
            (Kind::Chat, &[DELTA, USAGE], ""),
            (Kind::Chat, &["[DONE]"], ""),
            (Kind::Chat, &[DELTA], CUT_OPENAI),
            (Kind::Chat, &[], CUT_OPENAI),
            (Kind::Tgi, &[TGI_TOKEN, TGI_LAST], ""),
            (Kind::Tgi, &[TGI_TOKEN, TGI_TOKEN], CUT_TGI),
            (Kind::Tgi, &[], CUT_TGI),
            // No end marker in TensorRT-LLM's stream: the HTTP framing decides.
            (Kind::TensorrtLlm, &[r#"{"text_output": "a"}"#], ""),
            (Kind::TensorrtLlm, &[], ""),
            (Kind::DeepspeedMii, &[r#"{"text": ["whole"]}"#], ""),
        ];
        for (kind, events, error) in cases {
            let out = parse(*kind, events);
            assert_eq!(
                (
                    out.success,
                    out.error.starts_with(error),
                    out.error.is_empty()
                ),
                (error.is_empty(), true, error.is_empty()),
                "{kind:?} {events:?}: {:?}",
                out.error
            );
        }
        assert_eq!(
            parse(Kind::Tgi, &[TGI_TOKEN, TGI_LAST]).generated_text,
            "ab"
        );
        let cut = parse(Kind::Completions, &[TEXT, TEXT]);
        assert_eq!((cut.generated_text.as_str(), cut.itl.len()), ("aa", 1));
    }

    #[test]
    fn the_per_request_caps() {
        // Text: exactly the cap passes, one byte more fails.
        let big = "x".repeat(MAX_TEXT_BYTES / 2);
        let chunk = format!(r#"{{"choices": [{{"text": "{big}"}}]}}"#);
        let out = parse(Kind::Completions, &[&chunk, &chunk, "[DONE]"]);
        assert!(out.success, "{}", out.error);
        assert_eq!(out.generated_text.len(), MAX_TEXT_BYTES);
        let out = parse(Kind::Completions, &[&chunk, &chunk, TEXT_Y, "[DONE]"]);
        assert_eq!(
            (out.success, out.error.as_str()),
            (
                false,
                "the generated text exceeded 16 MiB, the per-request cap"
            )
        );
        for kind in [Kind::Chat, Kind::TensorrtLlm] {
            let chunk = match kind {
                Kind::Chat => format!(r#"{{"choices": [{{"delta": {{"content": "{big}"}}}}]}}"#),
                _ => format!(r#"{{"text_output": "{big}"}}"#),
            };
            let out = parse(kind, &[&chunk, &chunk, &chunk]);
            assert_eq!(
                out.error,
                ClientError::Text {
                    limit: MAX_TEXT_BYTES
                }
                .to_string(),
                "{kind:?}"
            );
        }
        // Events: every event counts, token chunks or not.
        let mut p = StreamParser::new(Kind::Completions, 0.0, 1);
        p.on_data(TEXT_Y, 0.1).unwrap();
        for _ in 1..MAX_EVENTS {
            p.on_data("{}", 0.2).unwrap();
        }
        let err = p.on_data("[DONE]", 0.3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the stream exceeded 1048576 events, the per-request cap"
        );
    }

    const TEXT_Y: &str = r#"{"choices": [{"text": "y"}]}"#;

    /// Feeds `events` to a parser reading typed or only the exact way.
    fn parse_with(kind: Kind, typed: bool, events: &[&str]) -> RequestOutput {
        let mut p = StreamParser::new(kind, 0.0, 1);
        p.typed = typed;
        for (i, data) in events.iter().enumerate() {
            if let Err(e) = p.on_data(data, 0.1 * (i + 1) as f64) {
                return p.fail(e.to_string());
            }
        }
        p.finish()
    }

    /// Every odd chunk, after a token chunk and before the end marker, and
    /// alone: the typed and the exact reading give the same output, errors
    /// included.
    #[test]
    fn typed_and_exact_reading_give_the_same_outputs() {
        let corpus = crate::chunk::tests::corpus();
        let mut differ = 0;
        for kind in [Kind::Completions, Kind::Chat, Kind::Tgi, Kind::TensorrtLlm] {
            let (first, last) = match kind {
                Kind::Completions => (TEXT_Y, "[DONE]"),
                Kind::Chat => (r#"{"choices": [{"delta": {"content": "y"}}]}"#, "[DONE]"),
                Kind::Tgi => (
                    r#"{"token": {}, "generated_text": null}"#,
                    r#"{"generated_text": "z"}"#,
                ),
                _ => (r#"{"text_output": "y"}"#, r#"{"text_output": "z"}"#),
            };
            for data in &corpus {
                for events in [vec![first, data.as_str(), last], vec![data.as_str()]] {
                    let typed = parse_with(kind, true, &events);
                    let exact = parse_with(kind, false, &events);
                    assert_eq!(typed, exact, "{kind:?} {events:?}");
                    differ += usize::from(typed != parse_with(kind, true, &[first, last]));
                }
            }
        }
        // The corpus reaches past the happy path: most chunks change the
        // output (text, tokens, an error).
        assert!(differ > 300, "{differ}");
        // And the error texts are the exact ones.
        let out = parse_with(Kind::Completions, true, &["{\"a\": NaN, \"choices\": [}"]);
        assert_eq!(
            out.error,
            parse_with(Kind::Completions, false, &["{\"a\": NaN, \"choices\": [}"]).error
        );
        assert!(
            out.error.starts_with("JSONDecodeError: Expecting value"),
            "{}",
            out.error
        );
    }

    /// The per-event cost of the hot path, decoder and chunk reading
    /// together, on the simulator's completions stream, one event per read
    /// (as hyper hands them over): the byte-by-byte decoder with the full
    /// Python-JSON parse it replaced, then today's path. A measurement,
    /// not a check: `cargo test --release -p servebench-client --lib
    /// hot_path -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement; run it in release"]
    #[allow(clippy::print_stdout)] // the figures are what it is run for
    fn hot_path_cost() {
        use crate::sse::{tests::reference::Reference, Decoder};
        let token = r#"data: {"id":"cmpl-00000000000000000000000000000001","object":"text_completion","created":1796005316,"model":"sim","choices":[{"index":0,"text":" model","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#;
        let usage = r#"data: {"id":"cmpl-00000000000000000000000000000001","object":"text_completion","created":1796005316,"model":"sim","choices":[],"usage":{"prompt_tokens":1,"total_tokens":4,"completion_tokens":200}}"#;
        let mut reads: Vec<Vec<u8>> = (0..200)
            .map(|_| format!("{token}\n\n").into_bytes())
            .collect();
        reads.push(format!("{usage}\n\n").into_bytes());
        reads.push(b"data: [DONE]\n\n".to_vec());
        let requests = 5_000;
        let events = (requests * reads.len()) as f64;
        for round in 0..2 {
            let start = std::time::Instant::now();
            for _ in 0..requests {
                let mut decoder = Reference::new();
                let mut p = StreamParser::new(Kind::Completions, 0.0, 1);
                p.typed = false;
                let mut out = Vec::new();
                for read in &reads {
                    decoder.feed(read, &mut out).unwrap();
                    for e in out.drain(..) {
                        p.on_data(&e.data, 1.0).unwrap();
                    }
                }
                assert!(p.finish().success);
            }
            let before = start.elapsed().as_secs_f64() / events * 1e9;
            let start = std::time::Instant::now();
            for _ in 0..requests {
                let mut decoder = Decoder::new();
                let mut p = StreamParser::new(Kind::Completions, 0.0, 1);
                for read in &reads {
                    for e in decoder.feed_events(read).unwrap() {
                        p.on_data(e.data, 1.0).unwrap();
                    }
                }
                assert!(p.finish().success);
            }
            let after = start.elapsed().as_secs_f64() / events * 1e9;
            // Each path alone: the decoder, then the chunk reading.
            let start = std::time::Instant::now();
            for _ in 0..requests {
                let mut decoder = Reference::new();
                let mut out = Vec::new();
                for read in &reads {
                    decoder.feed(read, &mut out).unwrap();
                    out.clear();
                }
            }
            let old_sse = start.elapsed().as_secs_f64() / events * 1e9;
            let start = std::time::Instant::now();
            let mut n = 0;
            for _ in 0..requests {
                let mut decoder = Decoder::new();
                for read in &reads {
                    n += decoder.feed_events(read).unwrap().len();
                }
            }
            assert_eq!(n as f64, events);
            let new_sse = start.elapsed().as_secs_f64() / events * 1e9;
            println!(
                "round {round}: ns per event: before {before:.0} (decoder {old_sse:.0}), after {after:.0} (decoder {new_sse:.0})"
            );
        }
    }
}
