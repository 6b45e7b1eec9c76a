//! Requests of the OpenAI-compatible API as vLLM accepts them, and its error
//! body.

use servebench_pyjson::Value;

/// A validated generation request (completions or chat).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenerationRequest {
    pub chat: bool,
    /// The prompt text (chat: the messages' text joined).
    pub prompt: String,
    pub max_tokens: usize,
    pub stream: bool,
    pub include_usage: bool,
    pub continuous_usage_stats: bool,
    pub ignore_eos: bool,
}

/// An error answered as `{"object": "error", ...}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            kind: "BadRequestError",
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            kind: "NotFoundError",
            message: message.into(),
        }
    }

    /// vLLM's error body.
    pub(crate) fn body(&self) -> String {
        format!(
            "{{\"object\":\"error\",\"message\":{},\"type\":\"{}\",\"param\":null,\"code\":{}}}",
            crate::sse::json_string(&self.message),
            self.kind,
            self.status
        )
    }
}

const DEFAULT_MAX_TOKENS: usize = 16;

fn uint(d: &servebench_pyjson::Dict, key: &str) -> Result<Option<usize>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int(i)) if *i >= 0 => Ok(Some(*i as usize)),
        Some(other) => Err(ApiError::bad_request(format!(
            "'{key}' must be a non-negative integer, got {}",
            other.type_name()
        ))),
    }
}

fn flag(d: &servebench_pyjson::Dict, key: &str) -> Result<bool, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::bad_request(format!(
            "'{key}' must be a boolean, got {}",
            other.type_name()
        ))),
    }
}

/// Parses and validates a request body for `/v1/completions` (`chat`
/// false) or `/v1/chat/completions`, served as `model`.
pub(crate) fn parse(body: &[u8], chat: bool, model: &str) -> Result<GenerationRequest, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    let value = servebench_pyjson::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let d = value
        .as_dict()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    match d.get("model") {
        None | Some(Value::Null) => {}
        Some(Value::Str(m)) if m == model => {}
        Some(other) => {
            return Err(ApiError::not_found(format!(
                "The model `{}` does not exist.",
                other.as_str().unwrap_or("?")
            )))
        }
    }
    for key in ["n", "best_of"] {
        if uint(d, key)?.is_some_and(|v| v != 1) {
            return Err(ApiError::bad_request(format!("only {key}=1 is supported")));
        }
    }
    let prompt = if chat {
        chat_text(d)?
    } else {
        completion_prompt(d)?
    };
    let max_tokens = if chat {
        uint(d, "max_completion_tokens")?.or(uint(d, "max_tokens")?)
    } else {
        uint(d, "max_tokens")?
    }
    .unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 {
        return Err(ApiError::bad_request("max_tokens must be at least 1"));
    }
    let options = match d.get("stream_options") {
        None | Some(Value::Null) => None,
        Some(Value::Dict(o)) => Some(o),
        Some(_) => return Err(ApiError::bad_request("'stream_options' must be an object")),
    };
    let stream = flag(d, "stream")?;
    if options.is_some() && !stream {
        return Err(ApiError::bad_request(
            "Stream options can only be defined when `stream=True`.",
        ));
    }
    Ok(GenerationRequest {
        chat,
        prompt,
        max_tokens,
        stream,
        include_usage: options
            .map(|o| flag(o, "include_usage"))
            .transpose()?
            .unwrap_or(false),
        continuous_usage_stats: options
            .map(|o| flag(o, "continuous_usage_stats"))
            .transpose()?
            .unwrap_or(false),
        ignore_eos: flag(d, "ignore_eos")?,
    })
}

fn completion_prompt(d: &servebench_pyjson::Dict) -> Result<String, ApiError> {
    match d.get("prompt") {
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(Value::List(items)) if items.len() == 1 => match &items[0] {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(ApiError::bad_request(
                "'prompt' must be a string or a list of one string",
            )),
        },
        _ => Err(ApiError::bad_request(
            "'prompt' must be a string or a list of one string",
        )),
    }
}

fn chat_text(d: &servebench_pyjson::Dict) -> Result<String, ApiError> {
    let messages = d
        .get("messages")
        .and_then(Value::as_list)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("'messages' must be a non-empty list"))?;
    let mut text = String::new();
    for m in messages {
        let content = m.as_dict().and_then(|m| m.get("content"));
        match content {
            Some(Value::Str(s)) => text.push_str(s),
            Some(Value::List(parts)) => {
                for part in parts {
                    if let Some(t) = part
                        .as_dict()
                        .and_then(|p| p.get("text"))
                        .and_then(Value::as_str)
                    {
                        text.push_str(t);
                    }
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "a message 'content' must be a string or a list of parts",
                ))
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_benchmark_sends() {
        let r = parse(br#"{"model": "m", "prompt": "hi there", "temperature": 0.0, "best_of": 1, "max_tokens": 5, "logprobs": null, "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true}"#, false, "m").unwrap();
        assert_eq!(
            (r.max_tokens, r.stream, r.include_usage, r.ignore_eos),
            (5, true, true, true)
        );
        let r = parse(br#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hey"}]}], "max_completion_tokens": 7, "stream": true}"#, true, "m").unwrap();
        assert_eq!((r.prompt.as_str(), r.max_tokens), ("hey", 7));
    }

    #[test]
    fn rejects_bad_requests() {
        for (body, chat, status, needle) in [
            (&br#"{"prompt": 5}"#[..], false, 400, "'prompt'"),
            (
                br#"{"model": "other", "prompt": "x"}"#,
                false,
                404,
                "does not exist",
            ),
            (br#"{"prompt": "x", "n": 2}"#, false, 400, "n=1"),
            (
                br#"{"prompt": "x", "max_tokens": -1}"#,
                false,
                400,
                "max_tokens",
            ),
            (
                br#"{"prompt": "x", "stream_options": {"include_usage": true}}"#,
                false,
                400,
                "stream=True",
            ),
            (br#"{"messages": []}"#, true, 400, "messages"),
            (br#"not json"#, false, 400, "invalid JSON"),
        ] {
            let e = parse(body, chat, "m").unwrap_err();
            assert_eq!(e.status, status, "{e:?}");
            assert!(e.message.contains(needle), "{e:?}");
            assert!(e.body().starts_with("{\"object\":\"error\",\"message\":"));
        }
    }
}
