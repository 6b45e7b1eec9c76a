//! Request bodies (SPEC §2.6): every turn's messages JSON-escaped once
//! before the run (message contents are shared between turns, so each is
//! escaped once, keyed by its allocation), and a template that renders
//! `{"messages", "model", "stream", "max_completion_tokens", "ignore_eos",
//! "stream_options", <extra inputs>}` in that observed key order with the
//! cache-bust marker spliced into the first user message.

use crate::plan::{TreePlan, TurnRef};
use crate::synth::{Message, Role, TurnMessages};
use crate::AgentxError;
use std::collections::HashMap;
use std::sync::Arc;

/// The `User-Agent` sent (aiperf sends `aiperf/<version>`).
pub const USER_AGENT: &str = concat!("servebench-agentx/", env!("CARGO_PKG_VERSION"));

/// One turn's messages, escaped: `(role, "quoted escaped content")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnBody {
    pieces: Vec<(Role, Arc<str>)>,
    /// The message the marker goes into (the first `user` one).
    first_user: Option<usize>,
    /// Bytes of the escaped pieces (the body's capacity).
    len: usize,
}

/// Escaped contents by the address of their shared text.
#[derive(Debug, Default)]
pub struct EscapeCache {
    /// Keeps the originals alive, so that an address is never reused.
    map: HashMap<usize, (Arc<str>, Arc<str>)>,
}

impl EscapeCache {
    pub fn new() -> EscapeCache {
        EscapeCache::default()
    }

    fn escaped(&mut self, text: &Arc<str>) -> Arc<str> {
        let key = Arc::as_ptr(text) as *const u8 as usize;
        if let Some((_, e)) = self.map.get(&key) {
            return Arc::clone(e);
        }
        let e: Arc<str> = escape(text).into();
        self.map.insert(key, (Arc::clone(text), Arc::clone(&e)));
        e
    }
}

fn escape(text: &str) -> String {
    // Serialising a str cannot fail.
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

impl TurnBody {
    pub fn new(messages: &[Message], cache: &mut EscapeCache) -> TurnBody {
        let pieces: Vec<(Role, Arc<str>)> = messages
            .iter()
            .map(|m| (m.role, cache.escaped(&m.content)))
            .collect();
        let first_user = pieces.iter().position(|(r, _)| *r == Role::User);
        let len = pieces.iter().map(|(_, e)| e.len().saturating_add(32)).sum();
        TurnBody {
            pieces,
            first_user,
            len,
        }
    }

    pub fn message_count(&self) -> usize {
        self.pieces.len()
    }
}

/// The escaped messages of every turn of one tree, per stream.
#[derive(Debug, Clone, PartialEq)]
pub struct TreePrompts {
    streams: Vec<Vec<Arc<TurnBody>>>,
}

impl TreePrompts {
    /// From the synthesiser's messages, `streams[s][k]` for stream `s`
    /// turn `k` of `tree`.
    pub fn from_messages(
        tree: &TreePlan,
        streams: &[Vec<TurnMessages>],
        cache: &mut EscapeCache,
    ) -> Result<TreePrompts, AgentxError> {
        let out = TreePrompts {
            streams: streams
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|t| Arc::new(TurnBody::new(&t.messages, cache)))
                        .collect()
                })
                .collect(),
        };
        out.check(tree)?;
        Ok(out)
    }

    /// Short stand-in prompts (a system line and one user message naming
    /// the turn), for tests and dry runs without a tokenizer.
    pub fn placeholder(tree: &TreePlan) -> TreePrompts {
        let mut cache = EscapeCache::new();
        let system: Arc<str> = format!("You replay trace {}.", tree.trace_id).into();
        TreePrompts {
            streams: tree
                .streams
                .iter()
                .map(|s| {
                    (0..s.turns.len())
                        .map(|k| {
                            let msgs = [
                                Message {
                                    role: Role::System,
                                    content: Arc::clone(&system),
                                },
                                Message {
                                    role: Role::User,
                                    content: format!("{} turn {k}", s.conversation_id).into(),
                                },
                            ];
                            Arc::new(TurnBody::new(&msgs, &mut cache))
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// The shape must match the tree's streams and turns.
    pub fn check(&self, tree: &TreePlan) -> Result<(), AgentxError> {
        let same = self.streams.len() == tree.streams.len()
            && self
                .streams
                .iter()
                .zip(&tree.streams)
                .all(|(p, s)| p.len() == s.turns.len());
        if same {
            Ok(())
        } else {
            Err(AgentxError::Run(format!(
                "trace {}: the prompts do not match the session tree",
                tree.trace_id
            )))
        }
    }

    pub fn body(&self, r: TurnRef) -> Option<&TurnBody> {
        self.streams
            .get(r.stream as usize)
            .and_then(|s| s.get(r.turn as usize))
            .map(|b| &**b)
    }
}

/// Everything of a body but the messages, serialised once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BodyTemplate {
    /// `"model"` value per `--model` (or the extra inputs' override).
    models: Vec<String>,
    stream: String,
    max_tokens: Option<String>,
    stream_options: String,
    /// `,"key":value` for the other extra inputs, in their order.
    tail: String,
}

impl BodyTemplate {
    pub(crate) fn new(
        models: &[String],
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<BodyTemplate, AgentxError> {
        let json = |v: &serde_json::Value| {
            serde_json::to_string(v)
                .map_err(|e| AgentxError::Options(format!("--extra-inputs: {e}")))
        };
        let models = match extra.get("model") {
            Some(v) => vec![json(v)?],
            None => models.iter().map(|m| escape(m)).collect(),
        };
        let stream = match extra.get("stream") {
            Some(v) => json(v)?,
            None => "true".to_owned(),
        };
        let max_tokens = extra.get("max_completion_tokens").map(json).transpose()?;
        let stream_options = match extra.get("stream_options") {
            Some(v) => json(v)?,
            None => "{\"include_usage\":true}".to_owned(),
        };
        let mut tail = String::new();
        for (k, v) in extra {
            if matches!(
                k.as_str(),
                "model"
                    | "stream"
                    | "max_completion_tokens"
                    | "ignore_eos"
                    | "stream_options"
                    | "messages"
            ) {
                continue;
            }
            tail.push(',');
            tail.push_str(&escape(k));
            tail.push(':');
            tail.push_str(&json(v)?);
        }
        Ok(BodyTemplate {
            models,
            stream,
            max_tokens,
            stream_options,
            tail,
        })
    }

    /// The whole JSON body.
    pub(crate) fn render(
        &self,
        body: &TurnBody,
        marker: &str,
        model: usize,
        max_tokens: u64,
    ) -> String {
        let marker = escape(marker);
        // `"[rid:..]\n\n"` without its quotes.
        let marker = marker
            .get(1..marker.len().saturating_sub(1))
            .unwrap_or_default();
        let mut out = String::with_capacity(
            body.len
                .saturating_add(marker.len())
                .saturating_add(self.tail.len())
                .saturating_add(256),
        );
        out.push_str("{\"messages\":[");
        for (i, (role, content)) in body.pieces.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"role\":\"");
            out.push_str(role.as_str());
            out.push_str("\",\"content\":");
            if Some(i) == body.first_user {
                out.push('"');
                out.push_str(marker);
                out.push_str(content.get(1..).unwrap_or_default());
            } else {
                out.push_str(content);
            }
            out.push('}');
        }
        out.push_str("],\"model\":");
        let m = self
            .models
            .get(model % self.models.len().max(1))
            .map_or("\"\"", String::as_str);
        out.push_str(m);
        out.push_str(",\"stream\":");
        out.push_str(&self.stream);
        out.push_str(",\"max_completion_tokens\":");
        match &self.max_tokens {
            Some(v) => out.push_str(v),
            None => out.push_str(&max_tokens.to_string()),
        }
        out.push_str(",\"ignore_eos\":true,\"stream_options\":");
        out.push_str(&self.stream_options);
        out.push_str(&self.tail);
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape_and_marker() {
        let shared: Arc<str> = "tools \"quoted\"\nline".into();
        let msgs = vec![
            Message {
                role: Role::System,
                content: Arc::clone(&shared),
            },
            Message {
                role: Role::User,
                content: "hello".into(),
            },
            Message {
                role: Role::Assistant,
                content: "ok".into(),
            },
            Message {
                role: Role::User,
                content: "more".into(),
            },
        ];
        let mut cache = EscapeCache::new();
        let body = TurnBody::new(&msgs, &mut cache);
        let again = TurnBody::new(&msgs[..1], &mut cache);
        // The shared system text was escaped once.
        assert!(Arc::ptr_eq(&body.pieces[0].1, &again.pieces[0].1));
        let mut extra = serde_json::Map::new();
        extra.insert("temperature".into(), serde_json::json!(0.5));
        extra.insert("ignore_eos".into(), serde_json::json!(true));
        let t = BodyTemplate::new(&["m1".into(), "m2".into()], &extra).unwrap();
        let json = t.render(&body, "[rid:0123456789ab]\n\n", 1, 77);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "messages",
                "model",
                "stream",
                "max_completion_tokens",
                "ignore_eos",
                "stream_options",
                "temperature"
            ]
        );
        assert_eq!(v["model"], "m2");
        assert_eq!(v["max_completion_tokens"], 77);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["messages"][0]["content"], "tools \"quoted\"\nline");
        assert_eq!(v["messages"][1]["content"], "[rid:0123456789ab]\n\nhello");
        assert_eq!(v["messages"][3]["content"], "more");
        assert_eq!(v["messages"][2]["role"], "assistant");
    }
}
