//! Telemetry cells: timestamps (epoch numbers, nvidia-smi local time, ISO
//! 8601 as Python 3.11's `datetime.fromisoformat`) and power readings.

use crate::exact::micros_to_seconds;
use crate::py::strip;
use chrono::{Local, NaiveDate, NaiveDateTime, Offset, TimeZone};

/// An aware timestamp whose UTC conversion leaves years 1..9999 (Python's
/// `OverflowError: date value out of range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateOutOfRange;

/// The leftmost match of `-?\d+(?:\.\d+)?` in `s` (ASCII digits), as a
/// byte range.
fn find_number(s: &str, whole: bool) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let digits_from = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > start).then_some(i)
    };
    let starts: Box<dyn Iterator<Item = usize>> = if whole {
        Box::new(std::iter::once(0))
    } else {
        Box::new(0..b.len())
    };
    for start in starts {
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let Some(mut end) = digits_from(i) else {
            continue;
        };
        if b.get(end) == Some(&b'.') {
            if let Some(e) = digits_from(end + 1) {
                end = e;
            }
        }
        if whole && end != b.len() {
            return None;
        }
        return Some((start, end));
    }
    None
}

/// A power cell: `None` for empty, `[N/A]`, `N/A`, `NA` (any case) or no
/// number; else the first number in it.
pub(crate) fn parse_power(cell: &str) -> Option<f64> {
    let v = strip(cell);
    if v.is_empty() || ["[n/a]", "n/a", "na"].contains(&v.to_lowercase().as_str()) {
        return None;
    }
    let (a, b) = find_number(v, false)?;
    v[a..b].parse().ok()
}

/// A timestamp cell as Unix seconds; `Ok(None)` when unparseable.
pub(crate) fn parse_timestamp(cell: &str) -> Result<Option<f64>, DateOutOfRange> {
    let v = strip(cell);
    if v.is_empty() {
        return Ok(None);
    }
    if find_number(v, true).is_some() {
        let n: f64 = v.parse().unwrap_or(f64::NAN);
        return Ok(Some(if n > 1e12 { n / 1000.0 } else { n }));
    }
    if let Some(fields) = strptime_nvidia(v) {
        return Ok(naive_local(&fields));
    }
    let iso: String = if v.contains(' ') && !v.contains('T') {
        v.replacen(' ', "T", 1)
    } else {
        v.to_owned()
    };
    let Some(dt) = fromisoformat(&iso) else {
        return Ok(None);
    };
    match dt.offset_us {
        None => Ok(naive_local(&dt.fields)),
        Some(offset) => {
            let local = utc_micros(&dt.fields);
            let utc = local - offset as i128;
            // 0001-01-01T00:00:00 and 10000-01-01T00:00:00 UTC.
            const MIN: i128 = -62_135_596_800_000_000;
            const END: i128 = 253_402_300_800_000_000;
            if !(MIN..END).contains(&utc) {
                return Err(DateOutOfRange);
            }
            Ok(Some(micros_to_seconds(utc)))
        }
    }
}

/// Broken-down date and time, validated as `datetime(...)` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micro: u32,
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn valid(f: Fields) -> Option<Fields> {
    ((1..=9999).contains(&f.year)
        && (1..=12).contains(&f.month)
        && f.day >= 1
        && f.day <= days_in_month(f.year, f.month)
        && f.hour <= 23
        && f.minute <= 59
        && f.second <= 59
        && f.micro <= 999_999)
        .then_some(f)
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The fields read as UTC, in microseconds since the epoch.
fn utc_micros(f: &Fields) -> i128 {
    let days = days_from_civil(f.year as i64, f.month as i64, f.day as i64) as i128;
    let secs = days * 86_400 + (f.hour * 3600 + f.minute * 60 + f.second) as i128;
    secs * 1_000_000 + f.micro as i128
}

/// A naive datetime's `.timestamp()`: local time (the process's `TZ`),
/// `float(whole seconds) + microseconds / 1e6`. An ambiguous time is the
/// earlier instant (fold 0); a time in a gap uses the offset from before
/// the transition, as CPython does.
fn naive_local(f: &Fields) -> Option<f64> {
    let date = NaiveDate::from_ymd_opt(f.year, f.month, f.day)?;
    let naive: NaiveDateTime = date.and_hms_opt(f.hour, f.minute, f.second)?;
    let as_utc = naive.and_utc().timestamp();
    let secs = match Local.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.timestamp(),
        chrono::LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
        chrono::LocalResult::None => {
            let day = chrono::Duration::days(1);
            let before = Local
                .offset_from_utc_datetime(&(naive - day))
                .fix()
                .local_minus_utc() as i64;
            let after = Local
                .offset_from_utc_datetime(&(naive + day))
                .fix()
                .local_minus_utc() as i64;
            (as_utc - before).max(as_utc - after)
        }
    };
    Some(secs as f64 + f.micro as f64 / 1e6)
}

/// `datetime.strptime(v, "%Y/%m/%d %H:%M:%S.%f")`, else the same without
/// `.%f`: Python's regular expressions for each directive, tried in order,
/// the whole text consumed, then the fields validated.
fn strptime_nvidia(v: &str) -> Option<Fields> {
    let chars: Vec<char> = v.chars().collect();
    for with_fraction in [true, false] {
        if let Some(f) = strptime_match(&chars, with_fraction) {
            if let Some(f) = valid(f) {
                return Some(f);
            }
        }
    }
    None
}

#[derive(Clone, Copy)]
enum Tok {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Fraction,
    Lit(char),
    Space,
}

/// Alternatives of a directive, in Python's `_strptime` order, each as a
/// list of character classes: `d` digit, `0`-`9` ranges written as
/// (lo, hi), ' ' a space.
fn alternatives(t: Tok) -> Vec<Vec<(char, char)>> {
    const D: (char, char) = ('0', '9');
    match t {
        Tok::Year => vec![vec![D, D, D, D]],
        Tok::Month => vec![
            vec![('1', '1'), ('0', '2')],
            vec![('0', '0'), ('1', '9')],
            vec![('1', '9')],
        ],
        Tok::Day => vec![
            vec![('3', '3'), ('0', '1')],
            vec![('1', '2'), D],
            vec![('0', '0'), ('1', '9')],
            vec![('1', '9')],
            vec![(' ', ' '), ('1', '9')],
        ],
        Tok::Hour => vec![vec![('2', '2'), ('0', '3')], vec![('0', '1'), D], vec![D]],
        Tok::Minute => vec![vec![('0', '5'), D], vec![D]],
        Tok::Second => vec![vec![('6', '6'), ('0', '1')], vec![('0', '5'), D], vec![D]],
        Tok::Fraction => (1..=6).rev().map(|n| vec![D; n]).collect(),
        Tok::Lit(c) => vec![vec![(c, c)]],
        Tok::Space => Vec::new(),
    }
}

fn strptime_match(chars: &[char], with_fraction: bool) -> Option<Fields> {
    let mut toks = vec![
        Tok::Year,
        Tok::Lit('/'),
        Tok::Month,
        Tok::Lit('/'),
        Tok::Day,
        Tok::Space,
        Tok::Hour,
        Tok::Lit(':'),
        Tok::Minute,
        Tok::Lit(':'),
        Tok::Second,
    ];
    if with_fraction {
        toks.push(Tok::Lit('.'));
        toks.push(Tok::Fraction);
    }
    let mut caps: Vec<(usize, usize)> = Vec::new();
    let end = match_from(chars, &toks, 0, &mut caps)?;
    if end != chars.len() {
        return None;
    }
    // caps holds one span per token.
    let text = |i: usize| -> String {
        let (a, b) = caps[i];
        chars[a..b].iter().filter(|c| **c != ' ').collect()
    };
    let num = |i: usize| text(i).parse::<u32>().ok();
    let micro = if with_fraction {
        let f = text(12);
        format!("{f:0<6}").parse::<u32>().ok()?
    } else {
        0
    };
    Some(Fields {
        year: text(0).parse().ok()?,
        month: num(2)?,
        day: num(4)?,
        hour: num(6)?,
        minute: num(8)?,
        second: num(10)?,
        micro,
    })
}

/// Backtracking match of `toks` at `pos`: the end of the first match in
/// regular-expression order.
fn match_from(
    chars: &[char],
    toks: &[Tok],
    pos: usize,
    caps: &mut Vec<(usize, usize)>,
) -> Option<usize> {
    let Some((&tok, rest)) = toks.split_first() else {
        return Some(pos);
    };
    if let Tok::Space = tok {
        // `\s+`, greedy.
        let mut n = 0;
        while chars
            .get(pos + n)
            .is_some_and(|c| crate::py::is_py_space(*c))
        {
            n += 1;
        }
        for k in (1..=n).rev() {
            caps.push((pos, pos + k));
            if let Some(end) = match_from(chars, rest, pos + k, caps) {
                return Some(end);
            }
            caps.pop();
        }
        return None;
    }
    for alt in alternatives(tok) {
        let ok = alt
            .iter()
            .enumerate()
            .all(|(i, (lo, hi))| chars.get(pos + i).is_some_and(|c| (*lo..=*hi).contains(c)));
        if ok {
            caps.push((pos, pos + alt.len()));
            if let Some(end) = match_from(chars, rest, pos + alt.len(), caps) {
                return Some(end);
            }
            caps.pop();
        }
    }
    None
}

/// A parsed ISO datetime: its fields and, when aware, the UTC offset in
/// microseconds.
struct IsoDateTime {
    fields: Fields,
    offset_us: Option<i64>,
}

fn digits(b: &[u8], pos: usize, n: usize) -> Option<u32> {
    let s = b.get(pos..pos + n)?;
    s.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Where the date ends (CPython's `_find_isoformat_datetime_separator`).
fn separator(b: &[u8]) -> Option<usize> {
    let len = b.len();
    if len == 7 {
        return Some(7);
    }
    if b[4] == b'-' {
        if b[5] == b'W' {
            if len > 8 && b[8] == b'-' {
                if len == 9 {
                    return None;
                }
                if len > 10 && b[10].is_ascii_digit() {
                    return Some(8);
                }
                return Some(10);
            }
            return Some(8);
        }
        return Some(10);
    }
    if b[4] == b'W' {
        let mut idx = 7;
        while idx < len && b[idx].is_ascii_digit() {
            idx += 1;
        }
        if idx < 9 {
            return Some(idx);
        }
        return Some(if idx % 2 == 0 { 7 } else { 8 });
    }
    Some(8)
}

fn ymd_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// ISO week date to a calendar date (Python's `_isoweek_to_gregorian`).
fn iso_week(year: i32, week: u32, day: u32) -> Option<(i32, u32, u32)> {
    if !(1..=9999).contains(&year) {
        return None;
    }
    let jan1 = days_from_civil(year as i64, 1, 1);
    // 1970-01-01 was a Thursday; weekday 0 = Monday.
    let jan1_weekday = (jan1 + 3).rem_euclid(7);
    if !(1..53).contains(&week) {
        let leap = days_in_month(year, 2) == 29;
        // Python: first_weekday = ordinal % 7 (0 = Sunday).
        let first = (jan1_weekday + 1) % 7;
        if !(week == 53 && (first == 4 || (first == 3 && leap))) {
            return None;
        }
    }
    if !(1..8).contains(&day) {
        return None;
    }
    let mut week1_monday = jan1 - jan1_weekday;
    if jan1_weekday > 3 {
        week1_monday += 7;
    }
    let ord = week1_monday + (week as i64 - 1) * 7 + (day as i64 - 1);
    let (y, m, d) = ymd_from_days(ord);
    (1..=9999).contains(&y).then_some((y, m, d))
}

fn parse_date(b: &[u8]) -> Option<(i32, u32, u32)> {
    let year = digits(b, 0, 4)? as i32;
    let mut p = 4;
    let sep = b.get(p) == Some(&b'-');
    if sep {
        p += 1;
    }
    if b.get(p) == Some(&b'W') {
        p += 1;
        let week = digits(b, p, 2)?;
        p += 2;
        let mut day = 1;
        if p < b.len() {
            if sep {
                if b.get(p) != Some(&b'-') {
                    return None;
                }
                p += 1;
            }
            day = digits(b, p, 1)?;
            p += 1;
        }
        if p != b.len() {
            return None;
        }
        return iso_week(year, week, day);
    }
    let month = digits(b, p, 2)?;
    p += 2;
    if sep {
        if b.get(p) != Some(&b'-') {
            return None;
        }
        p += 1;
    }
    let day = digits(b, p, 2)?;
    p += 2;
    (p == b.len()).then_some((year, month, day))
}

/// `HH[:MM[:SS[.f+]]]` or `HH[MM[SS[.f+]]]`, all of `b`.
fn parse_clock(b: &[u8]) -> Option<(u32, u32, u32, u32)> {
    let mut comps = [0u32; 3];
    let mut p = 0;
    let mut has_sep = false;
    let mut fraction = false;
    for i in 0..3 {
        comps[i] = digits(b, p, 2)?;
        p += 2;
        let Some(&c) = b.get(p) else {
            return Some((comps[0], comps[1], comps[2], 0));
        };
        if i == 0 {
            has_sep = c == b':';
        }
        if has_sep && c == b':' && i < 2 {
            p += 1;
        } else if c == b'.' || c == b',' {
            p += 1;
            fraction = true;
            break;
        } else if has_sep || i == 2 {
            return None;
        }
    }
    let mut micro = 0;
    if fraction {
        let n = b.len() - p;
        if n == 0 {
            return None;
        }
        let take = n.min(6);
        micro = digits(b, p, take)? * [1, 100_000, 10_000, 1000, 100, 10, 1][take];
        if !b[p + take..].iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    Some((comps[0], comps[1], comps[2], micro))
}

/// Python 3.11's `datetime.fromisoformat` (the C implementation: ASCII
/// digits only, any one character between date and time).
fn fromisoformat(s: &str) -> Option<IsoDateTime> {
    let b = s.as_bytes();
    if b.len() < 7 {
        return None;
    }
    let sep = separator(b)?;
    let (year, month, day) = parse_date(b.get(..sep)?)?;
    let mut clock = (0, 0, 0, 0);
    let mut offset_us = None;
    if sep < b.len() {
        // Skip the separator character (it may be several bytes).
        let width = s[sep..].chars().next().map_or(1, char::len_utf8);
        let t = &b[sep + width..];
        let tz = t.iter().position(|c| matches!(c, b'Z' | b'+' | b'-'));
        let time_part = &t[..tz.unwrap_or(t.len())];
        clock = parse_clock(time_part)?;
        if let Some(tz) = tz {
            if t[tz] == b'Z' {
                if tz + 1 != t.len() {
                    return None;
                }
                offset_us = Some(0);
            } else {
                let (h, m, sec, us) = parse_clock(&t[tz + 1..])?;
                let sign: i64 = if t[tz] == b'-' { -1 } else { 1 };
                let secs = sign * (h as i64 * 3600 + m as i64 * 60 + sec as i64);
                let total = if secs == 0 {
                    0
                } else {
                    secs * 1_000_000 + sign * us as i64
                };
                if total.abs() >= 86_400_000_000 {
                    return None;
                }
                offset_us = Some(total);
            }
        }
    }
    let fields = valid(Fields {
        year,
        month,
        day,
        hour: clock.0,
        minute: clock.1,
        second: clock.2,
        micro: clock.3,
    })?;
    Some(IsoDateTime { fields, offset_us })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<f64> {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn numbers_and_milliseconds() {
        assert_eq!(ts("1755777600"), Some(1755777600.0));
        assert_eq!(ts(" 1755777600123 "), Some(1755777600.123));
        assert_eq!(ts("-5"), Some(-5.0));
        assert_eq!(ts("1e3"), None);
        assert_eq!(ts(""), None);
    }

    #[test]
    fn nvidia_and_iso_in_utc() {
        // The test process runs with TZ unset or UTC in CI; use aware forms
        // for zone-independent checks.
        assert_eq!(ts("2026-08-21T12:00:00+02:00"), Some(1787306400.0));
        assert_eq!(ts("2026-08-21 12:00:00.5Z"), Some(1787313600.5));
        assert_eq!(ts("2026-08-21T12:00:00+05:30:00.5"), Some(1787293799.5));
        assert_eq!(ts("2026-08-21T12:00:00."), None);
        assert_eq!(ts("2026-08-21T"), None);
        assert_eq!(ts("2026-08-21T24:00:00Z"), None);
        assert_eq!(ts("2026W011T00:00Z"), Some(1766966400.0));
        assert_eq!(
            parse_timestamp("9999-12-31T23:00:00-02:00"),
            Err(DateOutOfRange)
        );
        assert!(strptime_nvidia("2026/08/21 12:00:05.123").is_some());
        assert!(strptime_nvidia("2026/8/ 1 1:2:3").is_some());
        assert!(strptime_nvidia("2026/08/21 12:00:05.1234567").is_none());
        assert!(strptime_nvidia("2026/02/30 12:00:05").is_none());
    }

    #[test]
    fn power_cells() {
        assert_eq!(parse_power("412.34 W"), Some(412.34));
        assert_eq!(parse_power("[N/A]"), None);
        assert_eq!(parse_power("na"), None);
        assert_eq!(parse_power("1e3"), Some(1.0));
        assert_eq!(parse_power("abc--5."), Some(-5.0));
        assert_eq!(parse_power("W"), None);
    }
}
