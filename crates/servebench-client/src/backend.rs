//! The backends of the Python client (SPEC §6.5–6.6): what each sends and
//! how each reads the answer.
//!
//! Request bodies keep the original's field order and `json.dumps`
//! spelling. Parsing follows the original's per-backend rules — which chunk
//! sets the TTFT, which gaps count as ITL, where `output_tokens` comes from,
//! what counts as success — applied to decoded SSE events (a proper SSE
//! decoder, where the original splits on `\n`; they agree on well-formed
//! streams, and comment lines such as keep-alives no longer fail a request).

use servebench_metrics::RequestOutput;
use servebench_pyjson::{Dict, Value};

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
}

/// Why a request cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("the {backend} backend needs an API URL ending in {suffix}, got {url}")]
    Url {
        backend: &'static str,
        suffix: &'static str,
        url: String,
    },
    #[error("the {backend} backend supports only --best-of 1")]
    BestOf { backend: &'static str },
}

/// The original's URL checks (`profile` endpoints pass for completions).
pub fn check_url(kind: Kind, url: &str) -> Result<(), BackendError> {
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
        Err(BackendError::Url {
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
pub fn request_body(kind: Kind, r: &RequestSpec) -> Result<String, BackendError> {
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
        }
        Kind::Chat => {
            let part: Dict = [("type", Value::from("text")), ("text", r.prompt.into())]
                .into_iter()
                .collect();
            let message: Dict = [
                ("role", Value::from("user")),
                ("content", Value::List(vec![part.into()])),
            ]
            .into_iter()
            .collect();
            d.insert("model", r.model.into());
            d.insert("messages", Value::List(vec![message.into()]));
            d.insert("temperature", Value::Float(0.0));
            d.insert("max_completion_tokens", int(r.output_len));
            openai_stream_tail(&mut d, r.ignore_eos);
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
                return Err(BackendError::BestOf {
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
                return Err(BackendError::BestOf {
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
pub struct StreamParser {
    kind: Kind,
    sent: f64,
    last: f64,
    chunks: usize,
    out: RequestOutput,
}

impl StreamParser {
    /// `sent`: when the request was sent. The output starts with the
    /// original's defaults (`output_tokens` 0, not unknown).
    pub fn new(kind: Kind, sent: f64, prompt_len: i64) -> Self {
        StreamParser {
            kind,
            sent,
            last: sent,
            chunks: 0,
            out: RequestOutput::failed(prompt_len),
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

    /// One SSE event's data. An error makes the request fail with that text.
    pub fn on_data(&mut self, data: &str, now: f64) -> Result<(), String> {
        if data == "[DONE]" && matches!(self.kind, Kind::Completions | Kind::Chat) {
            return Ok(());
        }
        let value = servebench_pyjson::from_str(data)
            .map_err(|e| format!("JSONDecodeError: {e}: {data:.120}"))?;
        let chunk = value
            .as_dict()
            .ok_or_else(|| format!("expected a JSON object, got {data:.120}"))?;
        match self.kind {
            Kind::Completions | Kind::Chat => {
                let choices = chunk
                    .get("choices")
                    .and_then(Value::as_list)
                    .filter(|c| !c.is_empty());
                if self.kind == Kind::Chat {
                    // The chat path advances `last` for every chunk, usage-only ones too.
                    if let Some(choices) = choices {
                        let delta = choices[0]
                            .as_dict()
                            .and_then(|c| c.get("delta"))
                            .ok_or("KeyError: 'delta'")?;
                        let content = delta
                            .as_dict()
                            .and_then(|d| d.get("content"))
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if self.out.ttft == 0.0 {
                            self.out.ttft = now - self.sent;
                        } else {
                            self.out.itl.push(now - self.last);
                        }
                        self.out.generated_text.push_str(content);
                    } else if let Some(usage) = chunk
                        .get("usage")
                        .and_then(Value::as_dict)
                        .filter(|u| !u.is_empty())
                    {
                        self.out.output_tokens = completion_tokens(usage);
                    }
                    self.last = now;
                } else if let Some(choices) = choices {
                    self.token_at(now);
                    let text = choices[0]
                        .as_dict()
                        .and_then(|c| c.get("text"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.out.generated_text.push_str(text);
                } else if let Some(usage) = chunk
                    .get("usage")
                    .and_then(Value::as_dict)
                    .filter(|u| !u.is_empty())
                {
                    self.out.output_tokens = completion_tokens(usage);
                }
            }
            Kind::Tgi => {
                self.token_at(now);
                if let Some(text) = chunk.get("generated_text").and_then(Value::as_str) {
                    self.out.generated_text = text.to_owned();
                }
            }
            Kind::TensorrtLlm => {
                self.token_at(now);
                let text = chunk
                    .get("text_output")
                    .and_then(Value::as_str)
                    .ok_or("KeyError: 'text_output'")?;
                self.out.generated_text.push_str(text);
            }
            Kind::DeepspeedMii => {
                let text = chunk
                    .get("text")
                    .and_then(Value::as_list)
                    .and_then(|t| t.first())
                    .and_then(Value::as_str);
                self.out.generated_text = text.ok_or("KeyError: 'text'")?.to_owned();
                self.out.ttft = 0.0;
                self.last = now;
                self.chunks += 1;
            }
        }
        Ok(())
    }

    /// The request's output once the body ended normally.
    pub fn finish(mut self) -> RequestOutput {
        let ok = match self.kind {
            Kind::Completions => self.chunks > 0,
            // The chat path succeeds on any 200, even without chunks.
            _ => true,
        };
        if ok {
            self.out.success = true;
            self.out.latency = self.last - self.sent;
        } else {
            self.out.error = "Never received a valid chunk to calculate TTFT.This response will be marked as failed!".into();
        }
        self.out
    }

    /// The request failed with `error` (HTTP status, parse error, cut
    /// stream, timeout): the original keeps what arrived but marks it failed.
    pub fn fail(mut self, error: String) -> RequestOutput {
        self.out.success = false;
        self.out.error = error;
        self.out
    }
}

fn completion_tokens(usage: &Dict) -> Option<i64> {
    match usage.get("completion_tokens") {
        Some(Value::Int(i)) => i64::try_from(*i).ok(),
        _ => None,
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
        }
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
        assert!(
            StreamParser::new(Kind::Chat, 0.0, 1).finish().success,
            "chat succeeds without chunks"
        );
        let mut bad = StreamParser::new(Kind::Chat, 0.0, 1);
        assert_eq!(
            bad.on_data(r#"{"choices": [{"text": "x"}]}"#, 0.1),
            Err("KeyError: 'delta'".to_owned())
        );
        assert!(StreamParser::new(Kind::Completions, 0.0, 1)
            .on_data("not json", 0.1)
            .unwrap_err()
            .starts_with("JSONDecodeError"));
    }
}
