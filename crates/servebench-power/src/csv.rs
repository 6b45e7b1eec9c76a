//! Python's `csv.reader` (excel dialect, files opened with `newline=""`,
//! `strict=False`) over decoded text: records end at `\n`, `\r` or `\r\n`
//! outside quotes, a blank line is the record `[]`, `""` inside quotes is
//! one quote, text after a closing quote is kept, a field longer than
//! 131072 characters is `csv.Error`.

/// csv's `field_size_limit()` default.
const FIELD_LIMIT: usize = 131_072;

/// The records read before an error (if any), and the error's text.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub(crate) rows: Vec<Vec<String>>,
    pub(crate) error: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    StartRecord,
    StartField,
    InField,
    InQuoted,
    QuoteInQuoted,
    EatCrnl,
}

/// Splits text into lines as a file opened with `newline=""` yields them
/// (terminators kept; `\r\n` is one terminator).
fn lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..=i]);
                start = i + 1;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') {
                    i + 1
                } else {
                    i
                };
                out.push(&text[start..=end]);
                i = end;
                start = end + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        out.push(&text[start..]);
    }
    out
}

/// Reads every record of `text`; `skip_initial_space` is the dialect flag.
pub(crate) fn read(text: &str, skip_initial_space: bool) -> Records {
    let mut records = Records::default();
    let mut state = State::StartRecord;
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut field_len = 0usize;
    let mut in_record = false;
    for line in lines(text) {
        // One record may span several lines (a quoted newline).
        for c in line.chars().map(Some).chain(std::iter::once(None)) {
            // None = end of line.
            loop {
                let mut again = false;
                match state {
                    State::StartRecord => match c {
                        None => {}
                        Some('\n' | '\r') => state = State::EatCrnl,
                        Some(_) => {
                            state = State::StartField;
                            again = true;
                        }
                    },
                    State::StartField => match c {
                        None | Some('\n' | '\r') => {
                            fields.push(std::mem::take(&mut field));
                            field_len = 0;
                            state = if c.is_none() {
                                State::StartRecord
                            } else {
                                State::EatCrnl
                            };
                        }
                        Some('"') => state = State::InQuoted,
                        Some(' ') if skip_initial_space => {}
                        Some(',') => {
                            fields.push(std::mem::take(&mut field));
                            field_len = 0;
                        }
                        Some(ch) => {
                            if field_len >= FIELD_LIMIT {
                                records.error = Some(limit_message());
                                return records;
                            }
                            field.push(ch);
                            field_len += 1;
                            state = State::InField;
                        }
                    },
                    State::InField => match c {
                        None | Some('\n' | '\r') => {
                            fields.push(std::mem::take(&mut field));
                            field_len = 0;
                            state = if c.is_none() {
                                State::StartRecord
                            } else {
                                State::EatCrnl
                            };
                        }
                        Some(',') => {
                            fields.push(std::mem::take(&mut field));
                            field_len = 0;
                            state = State::StartField;
                        }
                        Some(ch) => {
                            if field_len >= FIELD_LIMIT {
                                records.error = Some(limit_message());
                                return records;
                            }
                            field.push(ch);
                            field_len += 1;
                        }
                    },
                    State::InQuoted => match c {
                        None => {}
                        Some('"') => state = State::QuoteInQuoted,
                        Some(ch) => {
                            if field_len >= FIELD_LIMIT {
                                records.error = Some(limit_message());
                                return records;
                            }
                            field.push(ch);
                            field_len += 1;
                        }
                    },
                    State::QuoteInQuoted => match c {
                        Some('"') => {
                            if field_len >= FIELD_LIMIT {
                                records.error = Some(limit_message());
                                return records;
                            }
                            field.push('"');
                            field_len += 1;
                            state = State::InQuoted;
                        }
                        Some(',') => {
                            fields.push(std::mem::take(&mut field));
                            field_len = 0;
                            state = State::StartField;
                        }
                        None | Some('\n' | '\r') => {
                            fields.push(std::mem::take(&mut field));
                            field_len = 0;
                            state = if c.is_none() {
                                State::StartRecord
                            } else {
                                State::EatCrnl
                            };
                        }
                        Some(ch) => {
                            if field_len >= FIELD_LIMIT {
                                records.error = Some(limit_message());
                                return records;
                            }
                            field.push(ch);
                            field_len += 1;
                            state = State::InField;
                        }
                    },
                    State::EatCrnl => match c {
                        Some('\n' | '\r') => {}
                        None => state = State::StartRecord,
                        Some(_) => {
                            records.error = Some(
                                "new-line character seen in unquoted field - do you need to open the file with newline=''?"
                                    .to_owned(),
                            );
                            return records;
                        }
                    },
                }
                if !again {
                    break;
                }
            }
            in_record = true;
        }
        if state == State::StartRecord && in_record {
            records.rows.push(std::mem::take(&mut fields));
            in_record = false;
        }
    }
    // End of file inside a record (only a quoted field can get here).
    if state != State::StartRecord && (field_len != 0 || state == State::InQuoted) {
        fields.push(field);
        records.rows.push(fields);
    } else if !fields.is_empty() {
        records.rows.push(fields);
    }
    records
}

fn limit_message() -> String {
    format!("field larger than field limit ({FIELD_LIMIT})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, skip: bool) -> Vec<Vec<String>> {
        read(text, skip).rows
    }

    #[test]
    fn like_python_csv_reader() {
        assert_eq!(
            rows("a, b\n1, 2\n", true),
            vec![vec!["a", "b"], vec!["1", "2"]]
        );
        assert_eq!(rows("a, b\n", false), vec![vec!["a", " b"]]);
        assert_eq!(rows("a\n\nb", false), vec![vec!["a"], vec![], vec!["b"]]);
        assert_eq!(
            rows("a\rb\r\nc", false),
            vec![vec!["a"], vec!["b"], vec!["c"]]
        );
        assert_eq!(
            rows("\"x,\ny\",\"q\"\"\"z\n", false),
            vec![vec!["x,\ny", "q\"z"]]
        );
        assert_eq!(rows("a,\n", false), vec![vec!["a", ""]]);
        assert_eq!(rows(" \n", true), vec![vec![""]]);
        assert_eq!(rows("\"open", false), vec![vec!["open"]]);
        assert!(rows("", false).is_empty());
        let big = "x".repeat(FIELD_LIMIT + 1);
        let r = read(&format!("a\n{big}\n"), false);
        assert_eq!(r.rows.len(), 1);
        assert_eq!(
            r.error.as_deref(),
            Some("field larger than field limit (131072)")
        );
    }
}
