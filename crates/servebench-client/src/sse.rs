//! An incremental Server-Sent Events decoder for the hot path.
//!
//! It follows the WHATWG event-stream rules: lines end in CR, LF or CRLF
//! (a CR at the end of one read waits to see whether an LF follows);
//! `data:` lines accumulate (joined by `\n`); `event:`, `id:` and `retry:`
//! set the event's fields; lines starting with `:` are comments; an empty
//! line dispatches the event (if it has data); one leading BOM is skipped;
//! an event not closed by an empty line at the end of the stream is
//! dropped. Invalid UTF-8 in a line is an error, never a silent stall.
//!
//! It allocates nothing per event once its buffers have grown to the
//! stream's size: line ends are found with `memchr`, the complete lines of
//! a read are checked as UTF-8 in one pass, and an event whose `data:` line
//! lies whole in the read is handed on as a slice of that read
//! ([`Decoder::feed_events`], the runner's path). Only what spans reads (an
//! unfinished line, an event whose lines arrive in different reads) and
//! what needs joining (several `data:` lines, an `event:` name, an `id:`)
//! is copied, into buffers the decoder keeps. [`Decoder::feed`] gives owned
//! [`Event`]s instead (tests, the fuzzer, callers that keep events).
//!
//! The server decides how much the decoder holds, so it is capped: a line
//! longer than [`MAX_LINE_BYTES`] or an event whose `data:` lines add up to
//! more than [`MAX_EVENT_BYTES`] is an error (the caller fails that one
//! request). Both caps are 1 MiB, eight times the line the Python client
//! accepts (aiohttp's 128 KiB line buffer, SPEC §6.6) and far above any
//! real streamed chunk. The checks cost a comparison per line and per
//! read, nothing per byte. After an error the decoder must not be fed
//! again, and none of that read's events are handed on: the caller fails
//! the request with what the earlier reads gave.
//!
//! At the end of a stream, [`Decoder::finish`] reads an unfinished last
//! line and event as the original's line reader would (the WHATWG rules
//! drop them; [`decode_all`] and [`Decoder::feed`] do).

use crate::ClientError;
use memchr::{memchr2, memrchr2};

/// The longest line (without its line end) the decoder accepts: 1 MiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The most `data:` bytes one event may gather across its lines: 1 MiB.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// One dispatched event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:` (default `message`).
    pub event: String,
    pub data: String,
    /// The last `id:` seen so far in the stream.
    pub id: String,
    pub retry_ms: Option<u64>,
}

/// One dispatched event, borrowed from the read that completed it (or from
/// the decoder's buffers): valid until the decoder is fed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// `event:` (default `message`).
    pub event: &'a str,
    pub data: &'a str,
    /// The last `id:` seen so far in the stream.
    pub id: &'a str,
    pub retry_ms: Option<u64>,
}

impl From<EventRef<'_>> for Event {
    fn from(e: EventRef<'_>) -> Event {
        Event {
            event: e.event.to_owned(),
            data: e.data.to_owned(),
            id: e.id.to_owned(),
            retry_ms: e.retry_ms,
        }
    }
}

/// Where a dispatched event's text lies: byte ranges of the read's checked
/// lines or of the decoder's arena (ranges, not slices, so that the span
/// list outlives the read and keeps its allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    Input(usize, usize),
    Arena(usize, usize),
    /// The default event name.
    Message,
    Empty,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    event: Loc,
    data: Loc,
    id: Loc,
    retry_ms: Option<u64>,
}

/// The `data:` gathered for the event not yet dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Pending {
    /// No `data:` line yet: an empty line dispatches nothing.
    #[default]
    None,
    /// One `data:` line, a range of the current read's checked lines.
    Input(usize, usize),
    /// In [`Decoder::data`].
    Owned,
}

/// The events one read completed, in order.
#[derive(Debug, Clone)]
pub struct Events<'a> {
    input: &'a str,
    arena: &'a str,
    spans: std::slice::Iter<'a, Span>,
}

impl<'a> Events<'a> {
    fn text(&self, loc: Loc) -> &'a str {
        match loc {
            Loc::Input(a, b) => self.input.get(a..b).unwrap_or_default(),
            Loc::Arena(a, b) => self.arena.get(a..b).unwrap_or_default(),
            Loc::Message => "message",
            Loc::Empty => "",
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = EventRef<'a>;

    fn next(&mut self) -> Option<EventRef<'a>> {
        let span = *self.spans.next()?;
        Some(EventRef {
            event: self.text(span.event),
            data: self.text(span.data),
            id: self.text(span.id),
            retry_ms: span.retry_ms,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Events<'_> {}

/// The decoder's state between reads.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The unfinished line carried over from earlier reads (before the
    /// first line: up to two bytes of a possible BOM).
    line: Vec<u8>,
    /// The previous read ended in CR: an LF at the start of this one
    /// belongs to that line end.
    after_cr: bool,
    /// Bytes consumed so far (for error offsets).
    consumed: u64,
    started: bool,
    pending: Pending,
    /// The pending event's `data:` when it is [`Pending::Owned`].
    data: String,
    event: String,
    id: String,
    /// Where this read's arena holds `id` (copied once per read).
    id_in_arena: Option<(usize, usize)>,
    retry_ms: Option<u64>,
    /// The texts of this read's events that are not slices of the read.
    arena: String,
    spans: Vec<Span>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one read; completed events are appended to `out` (none if it
    /// fails).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), ClientError> {
        let events = self.feed_events(bytes)?;
        out.extend(events.map(Event::from));
        Ok(())
    }

    /// Feeds one read and returns the events it completed, borrowed: the
    /// hot path, which allocates nothing per event.
    pub fn feed_events<'a>(&'a mut self, bytes: &'a [u8]) -> Result<Events<'a>, ClientError> {
        self.start_read();
        let input = self.feed_read(bytes)?;
        Ok(Events {
            input,
            arena: &self.arena,
            spans: self.spans.iter(),
        })
    }

    /// The stream ended: an unfinished last line is read as a line, and an
    /// event still open is dispatched into `out` — as the Python client's
    /// line reader, which also hands over a last line without `\n`, would.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), ClientError> {
        let events = self.finish_events()?;
        out.extend(events.map(Event::from));
        Ok(())
    }

    /// [`Decoder::finish`], with the events borrowed.
    pub fn finish_events(&mut self) -> Result<Events<'_>, ClientError> {
        self.start_read();
        if self.started {
            let line = std::mem::take(&mut self.line);
            if !line.is_empty() {
                let start = self.consumed.saturating_sub(line.len() as u64);
                self.owned_line(&line, start)?;
            }
            self.process_line("", None, "", self.consumed)?;
        }
        // Before the first line: at most two bytes, all of them the start
        // of a BOM, and nothing to dispatch.
        Ok(Events {
            input: "",
            arena: &self.arena,
            spans: self.spans.iter(),
        })
    }

    fn start_read(&mut self) {
        self.arena.clear();
        self.spans.clear();
        self.id_in_arena = None;
    }

    /// Decodes one read; returns its checked complete lines (what
    /// [`Loc::Input`] ranges index).
    fn feed_read<'b>(&mut self, bytes: &'b [u8]) -> Result<&'b str, ClientError> {
        if bytes.is_empty() {
            return Ok("");
        }
        if !self.started {
            // A BOM may straddle reads; wait for three bytes before deciding.
            // What is carried is a strict prefix of the BOM.
            let carried = self.line.len();
            let bom_rest = BOM.get(carried..).unwrap_or_default();
            if carried + bytes.len() < 3 && bom_rest.starts_with(bytes) {
                self.line.extend_from_slice(bytes);
                self.consumed += bytes.len() as u64;
                return Ok("");
            }
            self.started = true;
            if bytes.starts_with(bom_rest) {
                self.line.clear();
                self.consumed += bom_rest.len() as u64;
                return self.feed_lines(&bytes[bom_rest.len()..]);
            }
            // No BOM: the carried bytes begin the first line.
            return self.feed_lines(bytes);
        }
        let mut bytes = bytes;
        if self.after_cr {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
                self.consumed += 1;
            }
        }
        self.feed_lines(bytes)
    }

    fn feed_lines<'b>(&mut self, bytes: &'b [u8]) -> Result<&'b str, ClientError> {
        // The stream offset of `bytes[0]`.
        let base = self.consumed;
        let Some(first_end) = memchr2(b'\n', b'\r', bytes) else {
            self.carry(bytes, base)?;
            return Ok("");
        };
        let after = |end: usize| match (bytes[end], bytes.get(end + 1)) {
            (b'\r', Some(b'\n')) => end + 2,
            _ => end + 1,
        };
        // A line begun in an earlier read ends here; it is joined in the
        // carry buffer (kept for reuse), the rest is read in place.
        let mut region_start = 0;
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            let start = base.saturating_sub(line.len() as u64);
            line.extend_from_slice(&bytes[..first_end]);
            let result = self.owned_line(&line, start);
            line.clear();
            self.line = line;
            result?;
            region_start = after(first_end);
        }
        // Every line from here up to the last line end is complete: check
        // them as UTF-8 at once, then read them in order (an error in one
        // line is reported only after the lines before it were read).
        let last_end = memrchr2(b'\n', b'\r', bytes).unwrap_or(first_end);
        let region = bytes.get(region_start..=last_end).unwrap_or_default();
        let (valid, bad_at) = match std::str::from_utf8(region) {
            Ok(s) => (s, None),
            Err(e) => (
                std::str::from_utf8(&region[..e.valid_up_to()]).unwrap_or_default(),
                Some(e.valid_up_to()),
            ),
        };
        let region_base = base + region_start as u64;
        let mut at = 0;
        while let Some(found) = memchr2(b'\n', b'\r', &region[at..]) {
            let end = at + found;
            let offset = region_base + at as u64;
            match valid.get(at..end) {
                Some(line) => self.process_line(line, Some(at), valid, offset)?,
                None => {
                    if end - at > MAX_LINE_BYTES {
                        return Err(ClientError::LineTooLong {
                            limit: MAX_LINE_BYTES,
                            offset,
                        });
                    }
                    return Err(ClientError::InvalidUtf8 {
                        offset: region_base + bad_at.unwrap_or(at) as u64,
                    });
                }
            }
            at = match (region[end], region.get(end + 1)) {
                (b'\r', Some(b'\n')) => end + 2,
                _ => end + 1,
            };
        }
        // The event's one `data:` line may be read again only while this
        // read is: keep a copy.
        if let Pending::Input(a, b) = self.pending {
            self.data.clear();
            self.data.push_str(valid.get(a..b).unwrap_or_default());
            self.pending = Pending::Owned;
        }
        self.after_cr = bytes[last_end] == b'\r' && last_end + 1 == bytes.len();
        let tail = &bytes[last_end + 1..];
        self.carry(tail, base + (last_end + 1) as u64)?;
        self.consumed = base + bytes.len() as u64;
        Ok(valid)
    }

    /// Keeps `bytes`, an unfinished line starting at stream offset `at`,
    /// for the next read, within the cap; a completed line is checked by
    /// `process_line`.
    fn carry(&mut self, bytes: &[u8], at: u64) -> Result<(), ClientError> {
        if self.line.len().saturating_add(bytes.len()) > MAX_LINE_BYTES {
            return Err(ClientError::LineTooLong {
                limit: MAX_LINE_BYTES,
                offset: at.saturating_sub(self.line.len() as u64),
            });
        }
        self.line.extend_from_slice(bytes);
        self.consumed = at + bytes.len() as u64;
        Ok(())
    }

    /// A line assembled from several reads (or the stream's unfinished
    /// last line).
    fn owned_line(&mut self, line: &[u8], offset: u64) -> Result<(), ClientError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(ClientError::LineTooLong {
                limit: MAX_LINE_BYTES,
                offset,
            });
        }
        let line = std::str::from_utf8(line).map_err(|e| ClientError::InvalidUtf8 {
            offset: offset + e.valid_up_to() as u64,
        })?;
        self.process_line(line, None, "", offset)
    }

    /// One complete line; `at`: where it starts in `input` (the read's
    /// checked lines) if it lies there, `None` if it was assembled.
    fn process_line(
        &mut self,
        line: &str,
        at: Option<usize>,
        input: &str,
        offset: u64,
    ) -> Result<(), ClientError> {
        // Checked here, not in the scan for line ends: a check per byte
        // cost an instruction per byte (measured).
        if line.len() > MAX_LINE_BYTES {
            return Err(ClientError::LineTooLong {
                limit: MAX_LINE_BYTES,
                offset,
            });
        }
        if line.is_empty() {
            self.dispatch();
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
                let (len, has) = match self.pending {
                    Pending::None => (0, false),
                    Pending::Input(a, b) => (b - a, true),
                    Pending::Owned => (self.data.len(), true),
                };
                let grown = len
                    .saturating_add(usize::from(has))
                    .saturating_add(value.len());
                if grown > MAX_EVENT_BYTES {
                    return Err(ClientError::EventTooLarge {
                        limit: MAX_EVENT_BYTES,
                        offset,
                    });
                }
                match (self.pending, at) {
                    // `value` ends the line, so its range ends the line's.
                    (Pending::None, Some(at)) => {
                        let end = at + line.len();
                        self.pending = Pending::Input(end - value.len(), end);
                    }
                    (Pending::None, None) => {
                        self.data.clear();
                        self.data.push_str(value);
                        self.pending = Pending::Owned;
                    }
                    (Pending::Input(a, b), _) => {
                        self.data.clear();
                        self.data.push_str(input.get(a..b).unwrap_or_default());
                        self.data.push('\n');
                        self.data.push_str(value);
                        self.pending = Pending::Owned;
                    }
                    (Pending::Owned, _) => {
                        self.data.push('\n');
                        self.data.push_str(value);
                    }
                }
            }
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "id" if !value.contains('\0') => {
                self.id.clear();
                self.id.push_str(value);
                self.id_in_arena = None;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
        Ok(())
    }

    /// An empty line: the pending event (if it has data) is complete.
    fn dispatch(&mut self) {
        let data = match self.pending {
            Pending::None => {
                self.event.clear();
                return;
            }
            Pending::Input(a, b) => Loc::Input(a, b),
            Pending::Owned => push_arena(&mut self.arena, &self.data),
        };
        let event = if self.event.is_empty() {
            Loc::Message
        } else {
            push_arena(&mut self.arena, &self.event)
        };
        let id = if self.id.is_empty() {
            Loc::Empty
        } else if let Some((a, b)) = self.id_in_arena {
            Loc::Arena(a, b)
        } else {
            let loc = push_arena(&mut self.arena, &self.id);
            if let Loc::Arena(a, b) = loc {
                self.id_in_arena = Some((a, b));
            }
            loc
        };
        self.spans.push(Span {
            event,
            data,
            id,
            retry_ms: self.retry_ms,
        });
        self.pending = Pending::None;
        self.event.clear();
    }
}

fn push_arena(arena: &mut String, text: &str) -> Loc {
    let start = arena.len();
    arena.push_str(text);
    Loc::Arena(start, arena.len())
}

/// Decodes a whole stream at once (tests, small bodies).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Event>, ClientError> {
    let mut out = Vec::new();
    Decoder::new().feed(bytes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// The byte-by-byte decoder this one replaced (allocating per event),
    /// kept as the model the new one must match on every input and split.
    pub(crate) mod reference {
        use super::super::{Event, MAX_EVENT_BYTES, MAX_LINE_BYTES};
        use crate::ClientError;

        /// The decoder's state between reads.
        #[derive(Debug, Default)]
        pub(crate) struct Reference {
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

        impl Reference {
            pub(crate) fn new() -> Self {
                Self::default()
            }

            /// Feeds one read; completed events are appended to `out`.
            pub(crate) fn feed(
                &mut self,
                mut bytes: &[u8],
                out: &mut Vec<Event>,
            ) -> Result<(), ClientError> {
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
            pub(crate) fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), ClientError> {
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

            fn feed_started(
                &mut self,
                bytes: &[u8],
                out: &mut Vec<Event>,
            ) -> Result<(), ClientError> {
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
    }

    /// Feeds `reads` to both decoders, then finishes; the model's events of
    /// a read that failed are dropped (the new decoder hands on none of
    /// them, and the callers fail the request at once either way).
    fn both(reads: &[&[u8]]) -> [(Vec<Event>, Option<ClientError>); 2] {
        let mut new = Decoder::new();
        let mut old = reference::Reference::new();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for read in reads {
            if let Err(e) = new.feed(read, &mut a) {
                let before = b.len();
                let r = old.feed(read, &mut b);
                b.truncate(before);
                return [(a, Some(e)), (b, r.err())];
            }
            let before = b.len();
            if let Err(e) = old.feed(read, &mut b) {
                b.truncate(before);
                return [(a, None), (b, Some(e))];
            }
        }
        let ea = new.finish(&mut a).err();
        let before = b.len();
        let eb = old.finish(&mut b).err();
        if eb.is_some() {
            b.truncate(before);
        }
        [(a, ea), (b, eb)]
    }

    /// Streams built to reach every branch: line ends of all kinds (a CR
    /// at a read's end), BOMs, fields, comments, multi-line data, ids
    /// with NUL, retry, invalid UTF-8 before and after events, a last
    /// line without its end.
    const ODD_STREAMS: &[&[u8]] = &[
        b"data: a\n\n",
        b"data: a\r\n\r\ndata: b\r\rdata:c\n\n",
        b"\xEF\xBB\xBFdata: x\n\n",
        b"\xEF\xBBdata: x\n\n",
        b"\xEFdata: x\n\n",
        b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n",
        b"event: e1\ndata: 1\nid: 7\nretry: 250\n\ndata: 2\n\nid: a\0b\ndata: 3\nevent: e3\n\n",
        b": keep-alive\r\n\r\ndata\ndata:\ndata:  two spaces\n\nnoise\n\n",
        b"data: one\ndata: two\r\ndata: three\r\n\n:c\nretry: x\nretry:\nretry: 12\n\n",
        b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 2\n\ndata: d\n\n",
        b"data: ok\n\ndata: bad \xff byte\n\ndata: after\n\n",
        b"data: \xe2\x82\nmore\n\n",
        b"data: caf\xc3\xa9 \xf0\x9f\x98\x80\n\ndata: tail",
        b"data: a\n\ndata: [DONE]",
        b"data: a\r",
        b"event: only\r\n\r\n\n\n\r\r",
        b"data: x\n\n\xff",
        b"\xff\n",
        b":\xff\ndata: y\n\n",
        b"data:a\rdata:b\r\n\r",
    ];

    /// Deterministic cuts (xorshift), so a failure names its case.
    fn cuts(len: usize, seed: u64, n: usize) -> Vec<usize> {
        let mut x = seed | 1;
        let mut out: Vec<usize> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % (len as u64 + 1)) as usize
            })
            .collect();
        out.sort_unstable();
        out
    }

    fn pieces<'a>(bytes: &'a [u8], at: &[usize]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut start = 0;
        for &c in at.iter().chain(std::iter::once(&bytes.len())) {
            out.push(&bytes[start..c]);
            start = c;
        }
        out
    }

    #[test]
    fn matches_the_byte_by_byte_model_in_every_split() {
        for stream in ODD_STREAMS {
            let shown = String::from_utf8_lossy(stream);
            let [whole, model] = both(&[stream]);
            assert_eq!(whole, model, "{shown:?} whole");
            for cut in 0..=stream.len() {
                let [a, b] = both(&pieces(stream, &[cut]));
                assert_eq!(a, b, "{shown:?} cut at {cut}");
            }
            for seed in 1..40 {
                let at = cuts(stream.len(), seed, 1 + seed as usize % 6);
                let [a, b] = both(&pieces(stream, &at));
                assert_eq!(a, b, "{shown:?} cuts {at:?}");
            }
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            let [a, b] = both(&bytes);
            assert_eq!(a, b, "{shown:?} byte by byte");
        }
        // The caps, in a few splits: errors and their offsets agree.
        let long = format!("data: ok\n\ndata: {}\n\n", "z".repeat(MAX_LINE_BYTES));
        let big = format!("data: {0}\ndata: {0}\n\n", "y".repeat(MAX_EVENT_BYTES / 2));
        for stream in [long.as_bytes(), big.as_bytes()] {
            for cut in [0, 5, 11, 4096, MAX_LINE_BYTES / 2 + 3, stream.len() - 1] {
                let [a, b] = both(&pieces(stream, &[cut]));
                assert!(a.1.is_some(), "cut {cut}");
                assert_eq!(a, b, "cut at {cut}");
            }
        }
    }

    #[test]
    fn an_event_read_whole_is_borrowed_from_the_read() {
        let read =
            b"data: {\"a\": 1}\n\ndata: x\ndata: y\n\nevent: e\nid: 9\ndata: z\n\ndata: spans";
        let mut d = Decoder::new();
        let events: Vec<EventRef<'_>> = d.feed_events(read).unwrap().collect();
        let inside = |s: &str| read.as_ptr_range().contains(&s.as_ptr());
        assert_eq!(events.len(), 3);
        assert!(inside(events[0].data), "one data line is not copied");
        assert_eq!(
            (events[1].data, inside(events[1].data)),
            ("x\ny", false),
            "joined lines are"
        );
        assert_eq!(
            (events[2].event, events[2].id, events[2].data),
            ("e", "9", "z")
        );
        assert!(inside(events[2].data));
        let rest: Vec<Event> = d.feed_events(b"\n\n").unwrap().map(Event::from).collect();
        assert_eq!(rest[0].data, "spans");
        assert_eq!(rest[0].id, "9");
    }
}
