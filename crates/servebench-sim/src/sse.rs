//! Response bodies as vLLM writes them: compact JSON (pydantic's
//! `model_dump_json`: no spaces, UTF-8 kept), one SSE event per chunk
//! (`data: {...}\n\n`), the usage chunk with empty `choices`, then
//! `data: [DONE]\n\n`.

use std::fmt::Write;

/// A JSON string literal: `"`, `\` and control characters escaped, other
/// characters as UTF-8.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Token counts of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

impl Usage {
    pub(crate) fn json(&self) -> String {
        format!(
            "{{\"prompt_tokens\":{},\"total_tokens\":{},\"completion_tokens\":{}}}",
            self.prompt_tokens,
            self.prompt_tokens + self.completion_tokens,
            self.completion_tokens
        )
    }
}

/// The fixed part of every chunk of one response.
#[derive(Debug, Clone)]
pub(crate) struct ChunkWriter {
    pub chat: bool,
    /// `{"id":...,"object":...,"created":...,"model":...,`
    head: String,
}

impl ChunkWriter {
    pub(crate) fn new(chat: bool, id: &str, created: u64, model: &str) -> Self {
        let object = if chat {
            "chat.completion.chunk"
        } else {
            "text_completion"
        };
        let head = format!(
            "{{\"id\":{},\"object\":\"{object}\",\"created\":{created},\"model\":{},",
            json_string(id),
            json_string(model)
        );
        ChunkWriter { chat, head }
    }

    /// One token (or the opening role delta of a chat stream when `text` is
    /// empty and `role` is set) as an SSE event.
    pub(crate) fn token(
        &self,
        text: &str,
        finish: Option<&str>,
        role: bool,
        usage: Option<Usage>,
    ) -> String {
        let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
        let choice = if self.chat {
            let role = if role { "\"role\":\"assistant\"," } else { "" };
            format!("{{\"index\":0,\"delta\":{{{role}\"content\":{}}},\"logprobs\":null,\"finish_reason\":{finish}}}", json_string(text))
        } else {
            format!("{{\"index\":0,\"text\":{},\"logprobs\":null,\"finish_reason\":{finish},\"stop_reason\":null}}", json_string(text))
        };
        let usage = if self.chat && usage.is_none() {
            String::new()
        } else {
            format!(
                ",\"usage\":{}",
                usage.map_or("null".to_owned(), |u| u.json())
            )
        };
        format!("data: {}\"choices\":[{choice}]{usage}}}\n\n", self.head)
    }

    /// The final usage chunk (`stream_options.include_usage`).
    pub(crate) fn usage(&self, usage: Usage) -> String {
        format!(
            "data: {}\"choices\":[],\"usage\":{}}}\n\n",
            self.head,
            usage.json()
        )
    }

    /// A whole non-streamed response.
    pub(crate) fn full(&self, text: &str, finish: &str, usage: Usage) -> String {
        let head = self
            .head
            .replace("chat.completion.chunk", "chat.completion");
        let choice = if self.chat {
            format!(
                "{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"logprobs\":null,\"finish_reason\":\"{finish}\",\"stop_reason\":null}}",
                json_string(text)
            )
        } else {
            format!("{{\"index\":0,\"text\":{},\"logprobs\":null,\"finish_reason\":\"{finish}\",\"stop_reason\":null}}", json_string(text))
        };
        format!("{head}\"choices\":[{choice}],\"usage\":{}}}", usage.json())
    }
}

pub(crate) const DONE: &str = "data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_chunks_look_like_vllm() {
        let w = ChunkWriter::new(false, "cmpl-1", 1_700_000_000, "m");
        assert_eq!(
            w.token(" Hi", None, false, None),
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\" Hi\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n"
        );
        let u = Usage {
            prompt_tokens: 7,
            completion_tokens: 10,
        };
        assert_eq!(
            w.usage(u),
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"total_tokens\":17,\"completion_tokens\":10}}\n\n"
        );
    }

    #[test]
    fn chat_chunks_look_like_vllm() {
        let w = ChunkWriter::new(true, "chatcmpl-1", 1, "m");
        assert_eq!(
            w.token("", None, true, None),
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        );
        assert!(w
            .full(
                "x\"y",
                "length",
                Usage {
                    prompt_tokens: 1,
                    completion_tokens: 1
                }
            )
            .contains("\"object\":\"chat.completion\""));
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
