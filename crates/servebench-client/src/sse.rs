//! An incremental Server-Sent Events decoder for the hot path.
//!
//! It follows the WHATWG event-stream rules: lines end in CR, LF or CRLF
//! (a CR at the end of one read waits to see whether an LF follows);
//! `data:` lines accumulate (joined by `\n`); `event:`, `id:` and `retry:`
//! set the event's fields; lines starting with `:` are comments; an empty
//! line dispatches the event (if it has data); one leading BOM is skipped;
//! an event not closed by an empty line at the end of the stream is
//! dropped. Each read is scanned once, from where the previous one stopped;
//! only an unfinished line is carried over. Invalid UTF-8 in a line is an
//! error, never a silent stall.
//!
//! The server decides how much the decoder holds, so it is capped: a line
//! longer than [`MAX_LINE_BYTES`] or an event whose `data:` lines add up to
//! more than [`MAX_EVENT_BYTES`] is an error (the caller fails that one
//! request). Both caps are 1 MiB, eight times the line the Python client
//! accepts (aiohttp's 128 KiB line buffer, SPEC §6.6) and far above any
//! real streamed chunk. The checks cost a comparison per line and per
//! read, nothing per byte. After an error the decoder must not be fed again.
//!
//! At the end of a stream, [`Decoder::finish`] reads an unfinished last
//! line and event as the original's line reader would (the WHATWG rules
//! drop them; [`decode_all`] and [`Decoder::feed`] do).

use crate::ClientError;

/// The longest line (without its line end) the decoder accepts: 1 MiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The most `data:` bytes one event may gather across its lines: 1 MiB.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:` (default `message`).
    pub event: String,
    pub data: String,
    /// The last `id:` seen so far in the stream.
    pub id: String,
    pub retry_ms: Option<u64>,
}

/// The decoder's state between reads.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The unfinished line carried over from earlier reads.
    line: Vec<u8>,
    /// The previous read ended in CR: an LF at the start of this one
    /// belongs to that line end.
    after_cr: bool,
    /// Bytes consumed so far (for error offsets).
    consumed: u64,
    started: bool,
    data: String,
    has_data: bool,
    event: String,
    id: String,
    retry_ms: Option<u64>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one read; completed events are appended to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) -> Result<(), ClientError> {
        if !self.started && !bytes.is_empty() {
            // A BOM may straddle reads; wait for three bytes before deciding.
            if self.line.len() + bytes.len() < 3
                && b"\xEF\xBB\xBF".starts_with(&[self.line.as_slice(), bytes].concat())
            {
                self.line.extend_from_slice(bytes);
                self.consumed += bytes.len() as u64;
                return Ok(());
            }
            self.started = true;
            let mut head = std::mem::take(&mut self.line);
            head.extend_from_slice(bytes);
            let skip = if head.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            let rest = head[skip..].to_vec();
            self.consumed = self
                .consumed
                .saturating_sub((head.len() - bytes.len()) as u64)
                + skip as u64;
            return self.feed_started(&rest, out);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
                self.consumed += 1;
            }
        }
        self.feed_started(bytes, out)
    }

    /// The stream ended: an unfinished last line is read as a line, and an
    /// event still open is dispatched into `out` — as the Python client's
    /// line reader, which also hands over a last line without `\n`, would.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), ClientError> {
        let line = std::mem::take(&mut self.line);
        if !self.started {
            // At most two bytes, all of them the start of a BOM.
            return Ok(());
        }
        if !line.is_empty() {
            let start = self.consumed.saturating_sub(line.len() as u64);
            self.process_line(&line, start, out)?;
        }
        self.process_line(b"", self.consumed, out)
    }

    fn feed_started(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), ClientError> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let terminator_len = match (rest[end], rest.get(end + 1)) {
                (b'\r', Some(b'\n')) => 2,
                (b'\r', None) => {
                    self.after_cr = true;
                    1
                }
                _ => 1,
            };
            let line_start = self.consumed - self.line.len() as u64;
            if self.line.is_empty() {
                self.process_line(&rest[..end], line_start, out)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&rest[..end]);
                self.process_line(&line, line_start, out)?;
            }
            self.consumed += (end + terminator_len) as u64;
            rest = &rest[end + terminator_len..];
        }
        // What is carried over stays within the cap; a completed line is
        // checked by `process_line`.
        if self.line.len().saturating_add(rest.len()) > MAX_LINE_BYTES {
            return Err(ClientError::LineTooLong {
                limit: MAX_LINE_BYTES,
                offset: self.consumed.saturating_sub(self.line.len() as u64),
            });
        }
        self.line.extend_from_slice(rest);
        self.consumed += rest.len() as u64;
        Ok(())
    }

    fn process_line(
        &mut self,
        line: &[u8],
        offset: u64,
        out: &mut Vec<Event>,
    ) -> Result<(), ClientError> {
        // Checked here, not in the scan of `feed_started`: a check inside
        // that loop cost an instruction per byte (measured).
        if line.len() > MAX_LINE_BYTES {
            return Err(ClientError::LineTooLong {
                limit: MAX_LINE_BYTES,
                offset,
            });
        }
        let line = std::str::from_utf8(line).map_err(|e| ClientError::InvalidUtf8 {
            offset: offset + e.valid_up_to() as u64,
        })?;
        if line.is_empty() {
            if self.has_data {
                out.push(Event {
                    event: if self.event.is_empty() {
                        "message".to_owned()
                    } else {
                        std::mem::take(&mut self.event)
                    },
                    data: std::mem::take(&mut self.data),
                    id: self.id.clone(),
                    retry_ms: self.retry_ms,
                });
            }
            self.data.clear();
            self.has_data = false;
            self.event.clear();
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let grown = self
                    .data
                    .len()
                    .saturating_add(usize::from(self.has_data))
                    .saturating_add(value.len());
                if grown > MAX_EVENT_BYTES {
                    return Err(ClientError::EventTooLarge {
                        limit: MAX_EVENT_BYTES,
                        offset,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_owned(),
            "id" if !value.contains('\0') => self.id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
        Ok(())
    }
}

/// Decodes a whole stream at once (tests, small bodies).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Event>, ClientError> {
    let mut out = Vec::new();
    Decoder::new().feed(bytes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn line_endings_fields_and_comments() {
        let events = decode_all(b"\xEF\xBB\xBF: hi\r\nevent: x\rdata: a\ndata:b\r\nid: 7\nretry: 30\n\nnoise\ndata\n\ndata: tail-without-blank-line\n").unwrap();
        assert_eq!(data(&events), ["a\nb", ""]);
        assert_eq!(
            (
                events[0].event.as_str(),
                events[0].id.as_str(),
                events[0].retry_ms
            ),
            ("x", "7", Some(30))
        );
        assert_eq!(
            (events[1].event.as_str(), events[1].id.as_str()),
            ("message", "7")
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_with_its_offset() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.feed(b"data: ok\n\ndata: bad \xff", &mut out).unwrap();
        assert_eq!(data(&out), ["ok"]);
        assert_eq!(
            d.feed(b" byte\n", &mut out),
            Err(ClientError::InvalidUtf8 { offset: 20 })
        );
    }

    #[test]
    fn a_bom_split_across_reads_is_skipped_once() {
        let text = b"\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n";
        for cut in 0..text.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            d.feed(&text[..cut], &mut out).unwrap();
            d.feed(&text[cut..], &mut out).unwrap();
            // Only the stream's first BOM is skipped; a later one is data.
            assert_eq!(data(&out), ["x"], "cut at {cut}");
        }
    }

    #[test]
    fn a_character_split_across_reads_waits() {
        let text = "data: caf\u{e9} \u{1f600}\n\n".as_bytes();
        for cut in 0..text.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            d.feed(&text[..cut], &mut out).unwrap();
            d.feed(&text[cut..], &mut out).unwrap();
            assert_eq!(data(&out), ["caf\u{e9} \u{1f600}"], "cut at {cut}");
        }
    }

    #[test]
    fn lines_up_to_the_cap_pass_and_longer_ones_fail_in_any_split() {
        // A line of exactly the cap (without its line end) is accepted.
        let body = "x".repeat(MAX_LINE_BYTES - "data: ".len());
        let fits = format!("data: {body}\n\n");
        assert_eq!(
            decode_all(fits.as_bytes()).unwrap()[0].data.len(),
            body.len()
        );
        let over = format!(": ok\ndata: {body}y\n\n");
        let error = ClientError::LineTooLong {
            limit: MAX_LINE_BYTES,
            offset: 5,
        };
        let want = Err(error.clone());
        assert_eq!(decode_all(over.as_bytes()).map(|_| ()), want);
        // Split anywhere, or fed in small reads, the carried line trips it.
        for cut in [0, 6, 4096, MAX_LINE_BYTES, over.len() - 2] {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            let first = d.feed(&over.as_bytes()[..cut], &mut out);
            let result = first.and_then(|()| d.feed(&over.as_bytes()[cut..], &mut out));
            assert_eq!(result, want, "cut at {cut}");
        }
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let result = over
            .as_bytes()
            .chunks(4096)
            .try_for_each(|c| d.feed(c, &mut out));
        assert_eq!(result, want);
        assert_eq!(
            error.to_string(),
            "a line of the event stream (from byte 5) exceeds the 1 MiB line cap"
        );
    }

    #[test]
    fn an_event_gathering_more_than_the_cap_fails() {
        let half = "y".repeat(MAX_EVENT_BYTES / 2);
        // Two halves joined by `\n` are one byte over.
        let over = format!("data: {half}\ndata: {half}\n\n");
        let at = (half.len() + 7) as u64;
        let err = decode_all(over.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            ClientError::EventTooLarge {
                limit: MAX_EVENT_BYTES,
                offset: at
            }
        );
        assert!(err.to_string().contains("1 MiB event cap"), "{err}");
        let fits = format!("data: {half}\ndata: {}\n\n", &half[1..]);
        assert_eq!(
            decode_all(fits.as_bytes()).unwrap()[0].data.len(),
            MAX_EVENT_BYTES
        );
        // The count starts again with every event.
        let many = fits.repeat(3);
        assert_eq!(decode_all(many.as_bytes()).unwrap().len(), 3);
    }

    #[test]
    fn finish_reads_an_unfinished_last_line_and_event() {
        #[track_caller]
        fn check(stream: &[u8], expected: &[&str]) {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            d.feed(stream, &mut out).unwrap();
            d.finish(&mut out).unwrap();
            assert_eq!(
                data(&out),
                expected,
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
        check(b"data: a\n\ndata: [DONE]", &["a", "[DONE]"]);
        check(b"data: a\n\ndata: b\n", &["a", "b"]);
        check(b"data: a\ndata: b\r", &["a\nb"]);
        check(b"data: a\n\n", &["a"]);
        check(b"data: a\n\n: comment", &["a"]);
        check(b"event: x", &[]);
        check(b"\xEF\xBB", &[]);
        check(b"", &[]);
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.feed(b"data: \xff", &mut out).unwrap();
        assert_eq!(
            d.finish(&mut out),
            Err(ClientError::InvalidUtf8 { offset: 6 })
        );
    }
}
