//! One chat-completions exchange at a time, for callers that schedule
//! requests themselves (the AgentX replay): send a prepared body with extra
//! headers on a pooled keep-alive connection, stream the SSE answer and
//! report when each event arrived, whether it carried content, the final
//! `usage`, and why it failed. Times are wall-clock epoch nanoseconds,
//! derived from one monotonic clock anchored once per [`ChatClient`], so
//! they never jump with the system clock during a run.

use crate::error::ClientError;
use crate::http::{Connections, Endpoint};
use crate::sse;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many bytes of an error body are kept.
pub const ERROR_BODY_EXCERPT: usize = 512;

/// A client for one chat URL (`http://host:port/v1/chat/completions`).
/// Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct ChatClient {
    conns: Arc<Connections>,
    read_timeout: Duration,
    anchor: Instant,
    anchor_epoch_ns: u64,
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatErrorKind {
    /// No connection could be made.
    Connect,
    /// The server answered with a status other than 200.
    Status,
    /// No response head, or no body bytes, within the read timeout.
    Timeout,
    /// The connection broke while sending or streaming.
    Cut,
    /// The event stream did not decode.
    Protocol,
}

impl ChatErrorKind {
    /// A short category name, as records show it.
    pub fn name(self) -> &'static str {
        match self {
            ChatErrorKind::Connect => "ConnectionError",
            ChatErrorKind::Status => "HTTPError",
            ChatErrorKind::Timeout => "Timeout",
            ChatErrorKind::Cut => "StreamError",
            ChatErrorKind::Protocol => "ProtocolError",
        }
    }
}

/// A failed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError {
    pub kind: ChatErrorKind,
    /// The HTTP status, when the server answered with one.
    pub status: Option<u16>,
    /// What happened; for a status, the start of the response body.
    pub message: String,
}

/// The token counts of the final `usage` chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatUsage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
}

/// One SSE `data:` event as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatEvent {
    /// Epoch ns when the read holding its end returned.
    pub at_ns: u64,
    /// `choices[0].delta.content` (or reasoning content) was non-empty.
    pub content: bool,
}

/// What one exchange did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatExchange {
    /// Epoch ns right before a connection was asked for.
    pub start_ns: u64,
    /// Epoch ns when the response head arrived.
    pub head_ns: Option<u64>,
    /// Epoch ns of the last byte (or of the failure).
    pub end_ns: u64,
    pub status: Option<u16>,
    /// Every `data:` event but `[DONE]`, in order.
    pub events: Vec<ChatEvent>,
    pub usage: ChatUsage,
    /// Request head and body bytes written (head estimated from its fields).
    pub bytes_sent: u64,
    /// Body bytes read.
    pub bytes_received: u64,
    pub error: Option<ChatError>,
}

impl ChatClient {
    /// `url` is the whole endpoint URL; `read_timeout` bounds the wait for
    /// the response head and for each next piece of the body.
    pub fn new(
        url: &str,
        connect_timeout: Duration,
        read_timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<ChatClient, ClientError> {
        let endpoint = Endpoint::parse(url)?;
        let conns = Connections::new(endpoint, true, connect_timeout, ca_file)?;
        let anchor = Instant::now();
        let anchor_epoch_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(ChatClient {
            conns: Arc::new(conns),
            read_timeout,
            anchor,
            anchor_epoch_ns,
        })
    }

    /// Now, in epoch nanoseconds on this client's clock.
    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// `at` in epoch nanoseconds on this client's clock.
    pub fn ns_at(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.anchor).as_nanos();
        self.anchor_epoch_ns
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// TCP connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.conns.opened()
    }

    /// Sends `body` (JSON) with `headers` added to `Host` and reads the
    /// whole answer. Never fails as a call: a failure is in the result.
    pub async fn send(&self, body: Bytes, headers: &[(&str, &str)]) -> ChatExchange {
        let mut out = ChatExchange {
            start_ns: self.now_ns(),
            ..ChatExchange::default()
        };
        if let Err(e) = self.exchange(body, headers, &mut out).await {
            out.error = Some(e);
        }
        out.end_ns = self.now_ns();
        out
    }

    async fn exchange(
        &self,
        body: Bytes,
        headers: &[(&str, &str)],
        out: &mut ChatExchange,
    ) -> Result<(), ChatError> {
        let fail = |kind, status, message: String| ChatError {
            kind,
            status,
            message,
        };
        let endpoint = self.conns.endpoint();
        let mut builder = hyper::Request::post(endpoint.path.as_str())
            .header(hyper::header::HOST, endpoint.host.as_str());
        // `POST path HTTP/1.1\r\n`, each `name: value\r\n`, the blank line.
        let mut head_bytes = endpoint
            .path
            .len()
            .saturating_add(endpoint.host.len())
            .saturating_add(32);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
            head_bytes = head_bytes
                .saturating_add(name.len())
                .saturating_add(value.len())
                .saturating_add(4);
        }
        head_bytes = head_bytes.saturating_add(24); // content-length
        let body_len = body.len();
        let request = builder.body(Full::new(body)).map_err(|e| {
            fail(
                ChatErrorKind::Protocol,
                None,
                format!("building the request: {e}"),
            )
        })?;
        let mut conn = self
            .conns
            .get()
            .await
            .map_err(|e| fail(ChatErrorKind::Connect, None, e))?;
        // Nothing read before the request times its answer, and nothing of
        // the answer came before now.
        conn.arrivals.reset();
        let mut floor = Instant::now();
        out.bytes_sent = u64::try_from(head_bytes.saturating_add(body_len)).unwrap_or(u64::MAX);
        let response = match tokio::time::timeout(
            self.read_timeout,
            conn.sender.send_request(request),
        )
        .await
        {
            Err(_) => {
                return Err(fail(
                    ChatErrorKind::Timeout,
                    None,
                    format!("no response from the server within {:?}", self.read_timeout),
                ))
            }
            Ok(Err(e)) => {
                return Err(fail(
                    ChatErrorKind::Cut,
                    None,
                    format!("sending the request: {e}"),
                ))
            }
            Ok(Ok(r)) => r,
        };
        out.head_ns = Some(self.ns_at(conn.arrived(&mut floor)));
        let status = response.status().as_u16();
        out.status = Some(status);
        let mut body = response.into_body();
        if status != 200 {
            // Keep an excerpt of the error body; read at most a little
            // past it, then give up on the connection.
            let mut excerpt = Vec::new();
            while excerpt.len() < ERROR_BODY_EXCERPT {
                match tokio::time::timeout(self.read_timeout, body.frame()).await {
                    Ok(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            out.bytes_received = out
                                .bytes_received
                                .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
                            let room = ERROR_BODY_EXCERPT.saturating_sub(excerpt.len());
                            excerpt.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&excerpt);
            return Err(fail(
                ChatErrorKind::Status,
                Some(status),
                format!("HTTP {status}: {}", text.trim()),
            ));
        }
        let mut decoder = sse::Decoder::new();
        let mut events = Vec::new();
        loop {
            let frame = match tokio::time::timeout(self.read_timeout, body.frame()).await {
                Err(_) => {
                    return Err(fail(
                        ChatErrorKind::Timeout,
                        Some(status),
                        format!("the stream stalled: no data for {:?}", self.read_timeout),
                    ))
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(fail(
                        ChatErrorKind::Cut,
                        Some(status),
                        format!("the stream was cut: {e}"),
                    ))
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let now = self.ns_at(conn.arrived(&mut floor));
            let Ok(data) = frame.into_data() else {
                continue;
            };
            out.bytes_received = out
                .bytes_received
                .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
            decoder
                .feed(&data, &mut events)
                .map_err(|e| fail(ChatErrorKind::Protocol, Some(status), e.to_string()))?;
            for event in events.drain(..) {
                on_event(&event.data, now, out)
                    .map_err(|m| fail(ChatErrorKind::Protocol, Some(status), m))?;
            }
        }
        let now = self.now_ns();
        decoder
            .finish(&mut events)
            .map_err(|e| fail(ChatErrorKind::Cut, Some(status), e.to_string()))?;
        for event in events.drain(..) {
            on_event(&event.data, now, out)
                .map_err(|m| fail(ChatErrorKind::Cut, Some(status), m))?;
        }
        self.conns.put(conn);
        Ok(())
    }
}

/// What one event says: whether it carried content, and its `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Said {
    content: bool,
    usage: Option<ChatUsage>,
}

/// Reads one `data:` event: content or not, usage, an in-stream error.
fn on_event(data: &str, at_ns: u64, out: &mut ChatExchange) -> Result<(), String> {
    let data = data.trim();
    if data == "[DONE]" || data.is_empty() {
        return Ok(());
    }
    let said = match typed::read(data) {
        Some(said) => said,
        None => read_exactly(data)?,
    };
    if let Some(usage) = said.usage {
        out.usage = usage;
    }
    out.events.push(ChatEvent {
        at_ns,
        content: said.content,
    });
    Ok(())
}

/// The event read as Python's `json` reads it: every event the typed
/// reading is unsure of, and every in-stream error.
fn read_exactly(data: &str) -> Result<Said, String> {
    let value = servebench_pyjson::from_str(data)
        .map_err(|e| format!("an event is not JSON ({e}): {}", crate::error::head(data)))?;
    let Some(chunk) = value.as_dict() else {
        return Err(format!(
            "an event is not a JSON object: {}",
            crate::error::head(data)
        ));
    };
    if let Some(err) = chunk.get("error").filter(|e| e.is_truthy()) {
        return Err(format!(
            "the server reported an error in the stream: {}",
            crate::error::head(&servebench_pyjson::to_string(err))
        ));
    }
    let content = chunk
        .get("choices")
        .and_then(|c| c.as_list())
        .and_then(|c| c.first())
        .and_then(|c| c.as_dict())
        .and_then(|c| c.get("delta"))
        .and_then(|d| d.as_dict())
        .is_some_and(|delta| {
            CONTENT_KEYS.iter().any(|k| {
                delta
                    .get(k)
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| !s.is_empty())
            })
        });
    let usage = chunk.get("usage").and_then(|u| u.as_dict()).map(|usage| {
        let count = |k: &str| {
            usage
                .get(k)
                .and_then(servebench_pyjson::int_of)
                .and_then(|n| u64::try_from(n).ok())
        };
        ChatUsage {
            prompt_tokens: count("prompt_tokens"),
            completion_tokens: count("completion_tokens"),
            total_tokens: count("total_tokens"),
        }
    });
    Ok(Said { content, usage })
}

/// The delta keys whose non-empty string makes an event a content event.
const CONTENT_KEYS: [&str; 3] = ["content", "reasoning_content", "reasoning"];

/// The hot path: a borrowing serde reading of the few fields an event is
/// read for, unknown fields skipped. It gives up (`None`, and the exact
/// reading decides) wherever Python could read the event differently or
/// the event is unusual: not an object, a repeated key, a field of another
/// type, non-standard JSON (NaN, lone surrogates), a number past `i64`, or
/// an `error` field that is not `null`.
mod typed {
    use super::{ChatUsage, Said};
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    #[derive(Deserialize)]
    struct Chunk<'a> {
        #[serde(borrow, default)]
        choices: Option<Vec<Choice<'a>>>,
        #[serde(default)]
        usage: Option<Usage>,
        #[serde(borrow, default)]
        error: Option<&'a RawValue>,
    }

    #[derive(Deserialize)]
    struct Choice<'a> {
        #[serde(borrow, default)]
        delta: Option<Delta<'a>>,
    }

    #[derive(Deserialize)]
    struct Delta<'a> {
        #[serde(borrow, default)]
        content: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        reasoning_content: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        reasoning: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    struct Usage {
        #[serde(default)]
        prompt_tokens: Option<i64>,
        #[serde(default)]
        completion_tokens: Option<i64>,
        #[serde(default)]
        total_tokens: Option<i64>,
    }

    pub(super) fn read(data: &str) -> Option<Said> {
        let chunk: Chunk = serde_json::from_str(data).ok()?;
        // `"error": null` is no error; anything else goes the exact way
        // (it decides truthiness as Python does, and words the failure).
        if chunk.error.is_some() {
            return None;
        }
        let full = |s: &Option<Cow<str>>| s.as_deref().is_some_and(|s| !s.is_empty());
        let content = chunk
            .choices
            .as_ref()
            .and_then(|c| c.first())
            .and_then(|c| c.delta.as_ref())
            .is_some_and(|d| full(&d.content) || full(&d.reasoning_content) || full(&d.reasoning));
        let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        let usage = chunk.usage.map(|u| ChatUsage {
            prompt_tokens: count(u.prompt_tokens),
            completion_tokens: count(u.completion_tokens),
            total_tokens: count(u.total_tokens),
        });
        Some(Said { content, usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed reading, where it answers, says what the exact one says,
    /// on ordinary and odd events alike.
    #[test]
    fn the_typed_reading_agrees_with_the_exact_one() {
        let events = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{"content":"hi"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\u00e9\n"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"x"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"x","content":null}}]}"#,
            r#"{"choices":[{"delta":{"content":null}}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
            r#"{"choices":[],"usage":{}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":-1,"completion_tokens":null}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":2.7,"completion_tokens":true,"total_tokens":"12"}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":123456789012345678901234567890}}"#,
            r#"{"choices":null}"#,
            r#"{"choices":"x"}"#,
            r#"{"choices":[1,{"delta":{"content":"a"}}]}"#,
            r#"{"choices":[{"delta":"x"}]}"#,
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":[{"delta":{"content":"a","content":""}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}],"x":NaN}"#,
            r#"{"error":null,"choices":[{"delta":{"content":"a"}}]}"#,
            r#"{"error":0,"choices":[{"delta":{"content":"a"}}]}"#,
            r#"{"error":"","choices":[]}"#,
            r#"{"usage":{"total_tokens":3},"usage":{"prompt_tokens":1}}"#,
            r#"{"model":"m","object":"chat.completion.chunk","choices":[{"delta":{"tool_calls":[{"id":"1"}]},"finish_reason":null}]}"#,
        ];
        let mut typed_answered = 0;
        for data in events {
            let exact = read_exactly(data).expect("the exact reading takes it");
            if let Some(said) = typed::read(data) {
                typed_answered += 1;
                assert_eq!(said, exact, "{data}");
            }
            let mut out = ChatExchange::default();
            on_event(data, 1, &mut out).expect("on_event takes it");
            assert_eq!(out.events[0].content, exact.content, "{data}");
            assert_eq!(out.usage, exact.usage.unwrap_or_default(), "{data}");
        }
        // The ordinary ones went the typed way.
        assert!(typed_answered >= 12, "{typed_answered}");
        for bad in [
            "nope",
            "[1]",
            r#"{"error":{"message":"x"}}"#,
            r#"{"error":1}"#,
            r#"{"choices":[{"delta":{"content":"\ud800"}}]}"#,
        ] {
            assert!(typed::read(bad).is_none(), "{bad}");
            assert!(read_exactly(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events() {
        let mut out = ChatExchange::default();
        on_event(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            1,
            &mut out,
        )
        .unwrap();
        on_event(r#"{"choices":[{"delta":{"content":"hi"}}]}"#, 2, &mut out).unwrap();
        on_event(
            r#"{"choices":[{"delta":{"reasoning_content":"x"}}]}"#,
            3,
            &mut out,
        )
        .unwrap();
        on_event(
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
            4,
            &mut out,
        )
        .unwrap();
        on_event("[DONE]", 5, &mut out).unwrap();
        let flags: Vec<bool> = out.events.iter().map(|e| e.content).collect();
        assert_eq!(flags, [false, true, true, false]);
        assert_eq!(out.usage.prompt_tokens, Some(5));
        assert_eq!(out.usage.total_tokens, Some(7));
        assert!(on_event("nope", 6, &mut out).is_err());
        assert!(on_event(r#"{"error":{"message":"x"}}"#, 6, &mut out).is_err());
        assert!(on_event("[1]", 6, &mut out).is_err());
    }
}
