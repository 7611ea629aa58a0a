//! Python-compatible date-time parsing, as dlt 1.31 does it for JSON-like items (pendulum's parsers).
//!
//! * Detection (`dlt/common/schema/detections.py::is_iso_timestamp`): a non-empty string is a timestamp when
//!   `parse_iso_like_datetime` (`dlt/common/time.py`) gives a `datetime`: pendulum's `parse_iso8601`
//!   (its Rust extension, ported below), and only when that raises, pendulum's `_parse_common` regex
//!   (`2024/01/15 10:30`, `2024 10:30`, ...). Dates alone, times alone, week dates without a time stay text.
//! * Text → timestamp as dlt's `ensure_datetime` (ISO datetimes, dates at midnight, epoch numbers in a string).
//! * Naive timestamps are taken as UTC (the default context timezone); aware ones are converted to UTC
//!   (`normalize_timezone` with the default `timezone: true` column hint).

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, NaiveDateTime, TimeZone as _, Utc};

use super::py_number::parse_py_float;
use super::py_str::decimal_digit;

// ---------------------------------------------------------------------------------------------------------
// pendulum's ISO 8601 parser (pendulum 3.x `rust/src/parsing.rs` + the checks of `python/parsing.rs`)
// ---------------------------------------------------------------------------------------------------------

/// Date and time fields as pendulum's parser fills them.
#[derive(Debug, Clone, Copy, Default)]
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    microsecond: i64,
    /// UTC offset in seconds; `None` for a naive value.
    offset: Option<i64>,
    has_date: bool,
    has_time: bool,
    extended: bool,
}

/// What a string parses into, after Python validated the fields.
#[derive(Debug, Clone, Copy)]
enum Parsed {
    /// A `datetime`, naive or with a fixed offset in seconds (not validated to be under 24 h).
    DateTime(NaiveDateTime, Option<i64>),
    /// A `date`.
    Date(NaiveDate),
    /// A `time`, a duration or anything else that is no date.
    Other,
}

/// Why parsing failed: `ValueError` (dlt falls back, e.g. to epoch numbers) or `TypeError` (dlt crashes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseFail {
    Value,
    Type,
}

struct IsoParser {
    chars: Vec<char>,
    pos: usize,
}

impl IsoParser {
    fn cur(&self) -> char {
        self.chars.get(self.pos).copied().unwrap_or('\0')
    }

    fn end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn inc(&mut self) {
        if self.pos < self.chars.len() {
            self.pos += 1;
        }
    }

    fn integer(&mut self, length: usize) -> Result<i64, ()> {
        let mut value = 0i64;
        for _ in 0..length {
            if self.end() {
                return Err(());
            }
            let digit = self.cur().to_digit(10).ok_or(())?;
            value = value * 10 + i64::from(digit);
            self.inc();
        }
        Ok(value)
    }

    fn not_tz_start(&self) -> bool {
        !self.end() && !matches!(self.cur(), 'Z' | '+' | '-')
    }

    /// `Parser::parse` for a date and/or time (a string starting with `P` is a duration: `Other`).
    fn parse(mut self) -> Result<Option<Fields>, ()> {
        if self.cur() == 'P' {
            return Ok(None);
        }
        let mut dt = Fields {
            month: 1,
            day: 1,
            ..Fields::default()
        };
        if self.cur() == 'T' {
            self.time(&mut dt, false)?;
            return if self.end() { Ok(Some(dt)) } else { Err(()) };
        }
        dt.year = self.integer(2)?;
        if self.cur() == ':' {
            // time in extended format
            dt.hour = dt.year;
            dt.year = 0;
            dt.extended = true;
            self.time(&mut dt, true)?;
            return if self.end() { Ok(Some(dt)) } else { Err(()) };
        }
        dt.has_date = true;
        dt.year = dt.year * 100 + self.integer(2)?;
        if self.cur() == '-' {
            self.inc();
            dt.extended = true;
            if self.cur() == 'W' {
                self.inc();
                let week = self.integer(2)?;
                let mut day = 1;
                if !self.end() && self.cur() != ' ' && self.cur() != 'T' {
                    if self.cur() != '-' {
                        return Err(());
                    }
                    self.inc();
                    day = self.integer(1)?;
                }
                (dt.year, dt.month, dt.day) = iso_to_ymd(dt.year, week, day)?;
            } else {
                dt.month = self.integer(2)?;
                if !self.end() && self.cur() != ' ' && self.cur() != 'T' {
                    if self.cur() == '-' {
                        self.inc();
                        dt.day = self.integer(2)?;
                    } else {
                        let ordinal = dt.month * 10 + self.integer(1)?;
                        (dt.year, dt.month, dt.day) = ordinal_to_ymd(dt.year, ordinal, false)?;
                    }
                } else {
                    dt.day = 1;
                }
            }
        } else if self.cur() == 'W' {
            self.inc();
            let week = self.integer(2)?;
            let mut day = 1;
            if !self.end() && self.cur() != ' ' && self.cur() != 'T' {
                day = self.integer(1)?;
            }
            (dt.year, dt.month, dt.day) = iso_to_ymd(dt.year, week, day)?;
        } else {
            dt.month = self.integer(2)?;
            let ordinal_day = self.integer(1)?;
            if self.end() || self.cur() == ' ' || self.cur() == 'T' {
                let ordinal = ordinal_day + dt.month * 10;
                (dt.year, dt.month, dt.day) = ordinal_to_ymd(dt.year, ordinal, false)?;
            } else {
                dt.day = ordinal_day * 10 + self.integer(1)?;
            }
        }
        if !self.end() {
            self.time(&mut dt, false)?;
        }
        // anything left (an interval `/...` included) is an error for dlt
        if self.end() { Ok(Some(dt)) } else { Err(()) }
    }

    fn fraction(&mut self, dt: &mut Fields) -> Result<(), ()> {
        self.inc();
        dt.microsecond = 0;
        let mut i = 0;
        while i < 6 {
            if let Some(digit) = self.cur().to_digit(10) {
                dt.microsecond = dt.microsecond * 10 + i64::from(digit);
            } else if i == 0 {
                return Err(());
            } else {
                break;
            }
            self.inc();
            i += 1;
        }
        while self.cur().is_ascii_digit() {
            self.inc();
        }
        while i < 6 {
            dt.microsecond *= 10;
            i += 1;
        }
        Ok(())
    }

    fn time(&mut self, dt: &mut Fields, skip_hour: bool) -> Result<(), ()> {
        if self.cur() != 'T' && self.cur() != ' ' && !skip_hour {
            return Err(());
        }
        dt.has_time = true;
        if !skip_hour {
            self.inc();
            dt.hour = self.integer(2)?;
        }
        if self.not_tz_start() {
            if self.cur() == ':' {
                self.inc();
                dt.minute = self.integer(2)?;
                if self.not_tz_start() {
                    if self.cur() != ':' {
                        return Err(());
                    }
                    self.inc();
                    dt.second = self.integer(2)?;
                    if matches!(self.cur(), '.' | ',') {
                        self.fraction(dt)?;
                    }
                    if !dt.extended {
                        return Err(());
                    }
                }
            } else {
                dt.minute = self.integer(2)?;
                if self.not_tz_start() {
                    dt.second = self.integer(2)?;
                    if matches!(self.cur(), '.' | ',') {
                        self.fraction(dt)?;
                    }
                }
                if dt.extended {
                    return Err(());
                }
            }
        }
        if self.cur() == 'Z' {
            dt.offset = Some(0);
            self.inc();
        } else if matches!(self.cur(), '+' | '-') {
            let sign = if self.cur() == '+' { 1 } else { -1 };
            self.inc();
            let tz_hour = self.integer(2)?;
            if self.cur() == ':' {
                self.inc();
            }
            let tz_minute = if self.end() { 0 } else { self.integer(2)? };
            let total = (tz_minute + tz_hour * 60) * sign;
            if total > 24 * 60 {
                return Err(());
            }
            dt.offset = Some(total * 60);
        }
        Ok(())
    }
}

fn p(year: i64) -> i64 {
    year + year / 4 - year / 100 + year / 400
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn is_long_year(year: i64) -> bool {
    p(year) % 7 == 4 || p(year - 1) % 7 == 3
}

fn days_in_year(year: i64) -> i64 {
    if is_leap(year) { 366 } else { 365 }
}

fn week_day(year: i64, month: i64, day: i64) -> i64 {
    const DAY_OF_WEEK_TABLE: [i64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = year - i64::from(month < 3);
    let w = (p(y) + DAY_OF_WEEK_TABLE[(month - 1).clamp(0, 11) as usize] + day) % 7;
    if w == 0 { 7 } else { w.abs() }
}

const MONTHS_OFFSETS: [[i64; 14]; 2] = [
    [
        -1, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365,
    ],
    [
        -1, 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366,
    ],
];

fn ordinal_to_ymd(
    year: i64,
    ordinal: i64,
    allow_out_of_bounds: bool,
) -> Result<(i64, i64, i64), ()> {
    let mut ord = ordinal;
    let mut y = year;
    if ord < 1 {
        if !allow_out_of_bounds {
            return Err(());
        }
        ord += days_in_year(year - 1);
        y -= 1;
    }
    if ord > days_in_year(y) {
        if !allow_out_of_bounds {
            return Err(());
        }
        ord -= days_in_year(y);
        y += 1;
    }
    let leap = usize::from(is_leap(y));
    for i in 1..14 {
        if ord <= MONTHS_OFFSETS[leap][i] {
            return Ok((y, i as i64 - 1, ord - MONTHS_OFFSETS[leap][i - 1]));
        }
    }
    Err(())
}

fn iso_to_ymd(year: i64, week: i64, day: i64) -> Result<(i64, i64, i64), ()> {
    if week > 53 || (week > 52 && !is_long_year(year)) || day > 7 {
        return Err(());
    }
    let ordinal = week * 7 + day - (week_day(year, 1, 4) + 3);
    ordinal_to_ymd(year, ordinal, true)
}

/// Python's `datetime.date(year, month, day)` validation.
fn py_date(year: i64, month: i64, day: i64) -> Option<NaiveDate> {
    if !(1..=9999).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )
}

/// Python's `datetime.datetime(...)` validation.
fn py_datetime(f: &Fields) -> Option<NaiveDateTime> {
    if !(0..24).contains(&f.hour) || !(0..60).contains(&f.minute) || !(0..60).contains(&f.second) {
        return None;
    }
    py_date(f.year, f.month, f.day)?.and_hms_micro_opt(
        u32::try_from(f.hour).ok()?,
        u32::try_from(f.minute).ok()?,
        u32::try_from(f.second).ok()?,
        u32::try_from(f.microsecond).ok()?,
    )
}

fn py_time_valid(f: &Fields) -> bool {
    (0..24).contains(&f.hour) && (0..60).contains(&f.minute) && (0..60).contains(&f.second)
}

/// pendulum's `parse_iso8601` as seen from Python: `Err` is a `ValueError`.
fn parse_iso8601(s: &str) -> Result<Parsed, ()> {
    let fields = IsoParser {
        chars: s.chars().collect(),
        pos: 0,
    }
    .parse()?;
    let Some(f) = fields else {
        return Ok(Parsed::Other);
    };
    match (f.has_date, f.has_time) {
        (true, true) => py_datetime(&f)
            .map(|dt| Parsed::DateTime(dt, f.offset))
            .ok_or(()),
        (true, false) => py_date(f.year, f.month, f.day).map(Parsed::Date).ok_or(()),
        _ => {
            if py_time_valid(&f) {
                Ok(Parsed::Other)
            } else {
                Err(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// pendulum's `_parse_common` (the `COMMON` regex, Python `\d` = Unicode decimal digits)
// ---------------------------------------------------------------------------------------------------------

/// `n` Unicode decimal digits at `pos` and their value.
fn digits_at(chars: &[char], pos: usize, n: usize) -> Option<i64> {
    let slice = chars.get(pos..pos + n)?;
    slice.iter().try_fold(0i64, |acc, &c| {
        Some(acc * 10 + i64::from(decimal_digit(c)?))
    })
}

/// Where and what the `time` group of `COMMON` matched.
#[derive(Clone, Copy)]
struct CommonTime {
    hour: i64,
    minute: Option<i64>,
    second: Option<i64>,
    microsecond: i64,
}

/// The first full match of the `time` group starting at `pos`, in the regex engine's order; `Some(None)` when
/// the string ends at `pos` and the group is skipped.
fn common_time(chars: &[char], pos: usize) -> Option<Option<CommonTime>> {
    let len = chars.len();
    for timesep in [true, false] {
        let mut q = pos;
        if timesep {
            if chars.get(q) != Some(&' ') {
                continue;
            }
            q += 1;
        }
        for hour_len in [2, 1] {
            let Some(hour) = digits_at(chars, q, hour_len) else {
                continue;
            };
            let mut r = q + hour_len;
            if chars.get(r) != Some(&':') {
                continue;
            }
            r += 1;
            for minute_len in [2, 1, 0] {
                let (minute, r1) = if minute_len == 0 {
                    (None, r)
                } else {
                    match digits_at(chars, r, minute_len) {
                        Some(m) => (Some(m), r + minute_len),
                        None => continue,
                    }
                };
                for second_len in [2, 1, 0] {
                    let (second, r2) = if second_len == 0 {
                        (None, r1)
                    } else {
                        if chars.get(r1) != Some(&':') {
                            continue;
                        }
                        match digits_at(chars, r1 + 1, second_len) {
                            Some(s) => (Some(s), r1 + 1 + second_len),
                            None => continue,
                        }
                    };
                    for sub_len in (0..=9).rev() {
                        let (microsecond, r3) = if sub_len == 0 {
                            (0, r2)
                        } else {
                            if !matches!(chars.get(r2), Some('.' | '|' | ',')) {
                                continue;
                            }
                            match chars.get(r2 + 1..r2 + 1 + sub_len) {
                                Some(sub) if sub.iter().all(|&c| decimal_digit(c).is_some()) => {
                                    // `int(f"{subsecond[:6]:0<6}")`
                                    let mut us = 0i64;
                                    for i in 0..6 {
                                        let d =
                                            sub.get(i).and_then(|&c| decimal_digit(c)).unwrap_or(0);
                                        us = us * 10 + i64::from(d);
                                    }
                                    (us, r2 + 1 + sub_len)
                                }
                                _ => continue,
                            }
                        };
                        if r3 == len {
                            return Some(Some(CommonTime {
                                hour,
                                minute,
                                second,
                                microsecond,
                            }));
                        }
                    }
                }
            }
        }
    }
    (pos == len).then_some(None)
}

/// Year, month and day.
type Ymd = (i64, i64, i64);

/// pendulum's `_parse_common` with dlt's options (`day_first=False`).
fn parse_common(s: &str) -> Result<Parsed, ParseFail> {
    let chars: Vec<char> = s.chars().collect();
    // date alternatives in the regex engine's order; the last one skips the date group
    let mut dates: Vec<(usize, Option<Ymd>)> = Vec::new();
    if let Some(year) = digits_at(&chars, 0, 4) {
        for monthsep in [true, false] {
            let mut p = 4;
            if monthsep {
                if !matches!(chars.get(p), Some('/' | ':')) {
                    continue;
                }
                p += 1;
            }
            let Some(month) = digits_at(&chars, p, 2) else {
                continue;
            };
            p += 2;
            for daysep in [true, false] {
                let mut q = p;
                if daysep {
                    if !matches!(chars.get(q), Some('/' | ':')) {
                        continue;
                    }
                    q += 1;
                }
                if let Some(day) = digits_at(&chars, q, 2) {
                    dates.push((q + 2, Some((year, month, day))));
                }
            }
        }
        dates.push((4, Some((year, 1, 1))));
    }
    dates.push((0, None));
    for (end, date) in dates {
        let Some(time) = common_time(&chars, end) else {
            continue;
        };
        return match (date, time) {
            (None, None) => Err(ParseFail::Value),
            (Some((y, m, d)), None) => py_date(y, m, d).map(Parsed::Date).ok_or(ParseFail::Value),
            (date, Some(t)) => {
                // `int(m.group("minute"))` on a missing minute raises TypeError
                let minute = t.minute.ok_or(ParseFail::Type)?;
                let fields = Fields {
                    hour: t.hour,
                    minute,
                    second: t.second.unwrap_or(0),
                    microsecond: t.microsecond,
                    ..Fields::default()
                };
                match date {
                    Some((year, month, day)) => py_datetime(&Fields {
                        year,
                        month,
                        day,
                        ..fields
                    })
                    .map(|dt| Parsed::DateTime(dt, None))
                    .ok_or(ParseFail::Value),
                    None if py_time_valid(&fields) => Ok(Parsed::Other),
                    None => Err(ParseFail::Value),
                }
            }
        };
    }
    Err(ParseFail::Value)
}

/// dlt's `parse_iso_like_datetime`: ISO 8601 first, `_parse_common` only when that raises. A time or a
/// duration from ISO parsing is `Other` without fallback.
fn parse_iso_like(s: &str) -> Result<Parsed, ParseFail> {
    match parse_iso8601(s) {
        Ok(parsed) => Ok(parsed),
        Err(()) => parse_common(s),
    }
}

/// Puts a parsed value in UTC: naive as UTC, an offset of 24 h or more refused (Python's `utcoffset` check),
/// and the result kept within Python's years 1..=9999.
fn to_utc(naive: NaiveDateTime, offset: Option<i64>) -> Option<DateTime<Utc>> {
    let offset = offset.unwrap_or(0);
    if offset.abs() >= 86_400 {
        return None;
    }
    let utc = naive.checked_sub_signed(Duration::seconds(offset))?;
    (1..=9999)
        .contains(&utc.year())
        .then(|| Utc.from_utc_datetime(&utc))
}

/// dlt 1.31's default `iso_timestamp` autodetection: whether a string column value makes a new column
/// `timestamp`.
///
/// True for ISO 8601 date-times pendulum accepts (`2024-01-01T00:00:00Z`, `2024-01-01 00:00:00`,
/// `2024-01-01T10`, `20240101T102030`, `2024-W01-1T10:00`, `2024-001T10:00`, offsets `Z`/`±hh`/`±hhmm`/`±hh:mm`,
/// any number of fraction digits) and for `_parse_common` forms with a date and a time (`2024/01/15 10:30`,
/// `2024:01:15 10:30:15.5`, `2024 10:30`). False for dates alone, times alone, lowercase `t`/`z`,
/// surrounding spaces, `2024-1-1`, intervals, and invalid dates or times. Offsets of ±24 h or more are
/// detected (then dlt fails to coerce the value).
pub fn is_iso_timestamp(s: &str) -> bool {
    !s.is_empty() && matches!(parse_iso_like(s), Ok(Parsed::DateTime(..)))
}

/// The UTC instant of a string that [`is_iso_timestamp`] accepts; `None` otherwise, and for the accepted
/// strings dlt cannot convert (offsets of ±24 h or more, instants outside the years 1..=9999 in UTC).
/// A string without offset is taken as UTC.
pub fn parse_iso_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    match parse_iso_like(s) {
        Ok(Parsed::DateTime(naive, offset)) => to_utc(naive, offset),
        _ => None,
    }
}

/// dlt's text → timestamp coercion (`ensure_datetime`) for a value going into an existing `timestamp`
/// column, in UTC: what [`parse_iso_timestamp`] accepts, plus dates (midnight, `2024-01-01`, `20240101`,
/// `2024-01`, `2024-W01`, `2024`, `2024/01/15`) and, when nothing parses, a Python `float()` string taken as
/// Unix seconds (`"1700000000"`, `" 1.5e9 "`, `"1_000"`). `None` when dlt would write a variant column (or
/// fail).
pub fn coerce_text_to_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(Parsed::DateTime(naive, offset)) = parse_iso8601(s) {
        return to_utc(naive, offset);
    }
    match parse_iso_like(s) {
        Ok(Parsed::DateTime(naive, offset)) => to_utc(naive, offset),
        Ok(Parsed::Date(date)) => to_utc(date.and_time(chrono::NaiveTime::MIN), None),
        Ok(Parsed::Other) | Err(ParseFail::Type) => None,
        Err(ParseFail::Value) => timestamp_from_f64(parse_py_float(s)?),
    }
}

/// `pendulum.from_timestamp` of a float: Unix seconds rounded half-even to microseconds as CPython's
/// `datetime.fromtimestamp` does; `None` for NaN, infinities and results outside the years 1..=9999.
pub fn timestamp_from_f64(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    // CPython `_PyTime_DoubleToDenominator` with `_PyTime_ROUND_HALF_EVEN`
    let mut int_part = secs.trunc();
    let x = (secs - int_part) * 1e6;
    let mut frac = x.round();
    if (x - frac).abs() == 0.5 {
        frac = 2.0 * (x / 2.0).round();
    }
    if frac >= 1e6 {
        frac -= 1e6;
        int_part += 1.0;
    } else if frac < 0.0 {
        frac += 1e6;
        int_part -= 1.0;
    }
    if !(-1e15..1e15).contains(&int_part) {
        return None;
    }
    timestamp_from_parts(int_part as i64, frac as u32)
}

/// `pendulum.from_timestamp` of an integer number of Unix seconds; `None` outside the years 1..=9999.
pub fn timestamp_from_i64(secs: i64) -> Option<DateTime<Utc>> {
    timestamp_from_parts(secs, 0)
}

fn timestamp_from_parts(secs: i64, micros: u32) -> Option<DateTime<Utc>> {
    let ts = DateTime::<Utc>::from_timestamp(secs, micros.checked_mul(1000)?)?;
    (1..=9999).contains(&ts.year()).then_some(ts)
}

/// dlt's text → time coercion (`ensure_pendulum_time`): `[T]H:MM[:SS[.f…]]` with an optional zone (`Z`,
/// `±HH`, `±HHMM`, `±HH:MM`), leading spaces allowed; a time with a zone is converted to UTC and made naive,
/// fractions beyond microseconds are cut off. `None` when dlt would write a variant column.
pub fn coerce_text_to_time(s: &str) -> Option<chrono::NaiveTime> {
    let s = s.trim_start_matches(' ');
    let s = s.strip_prefix('T').unwrap_or(s);
    let (clock, zone) = match s.find(['Z', '+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let two = |t: &str| -> Option<u32> {
        (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let mut parts = clock.splitn(3, ':');
    let hour_text = parts.next()?;
    if hour_text.is_empty() || hour_text.len() > 2 || !hour_text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let hour: u32 = hour_text.parse().ok()?;
    let minute = two(parts.next()?)?;
    let (second, micros) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            let micros = match frac {
                None => 0,
                Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                    let mut digits: String = f.chars().take(6).collect();
                    while digits.len() < 6 {
                        digits.push('0');
                    }
                    digits.parse().ok()?
                }
                Some(_) => return None,
            };
            (two(whole)?, micros)
        }
    };
    let time = chrono::NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    if second > 59 {
        return None;
    }
    let offset_secs: i64 = match zone {
        None | Some("Z") => 0,
        Some(z) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let body = z[1..].replace(':', "");
            let (h, m) = match body.len() {
                2 => (two(&body)?, 0),
                4 => (two(&body[..2])?, two(&body[2..])?),
                _ => return None,
            };
            sign * i64::from(h * 3600 + m * 60)
        }
    };
    Some(time - chrono::Duration::seconds(offset_secs))
}

/// A UTC timestamp as Python's `datetime.isoformat()` writes it (what dlt puts in insert_values files and
/// JSON): `2024-01-01T00:00:00+00:00`, or `2024-01-01T00:00:00.120000+00:00`.
#[cfg(test)]
pub(crate) fn format_timestamp_iso(ts: &DateTime<Utc>) -> String {
    use chrono::Timelike as _;
    let micros = ts.timestamp_subsec_micros();
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        ts.year(),
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );
    if micros == 0 {
        format!("{base}+00:00")
    } else {
        format!("{base}.{micros:06}+00:00")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (string, is_iso_timestamp, text→timestamp coercion as UTC isoformat or "ERR"), from dlt 1.31:
    /// ```python
    /// from dlt.common.schema.detections import is_iso_timestamp
    /// from dlt.common.data_types.type_helpers import coerce_value
    /// from dlt.common.time import normalize_timezone
    /// (bool(is_iso_timestamp(str, c)), normalize_timezone(coerce_value("timestamp", "text", c), True).isoformat())
    /// ```
    const CASES: &[(&str, bool, &str)] = &[
        ("2024-01-01T00:00:00Z", true, "2024-01-01T00:00:00+00:00"),
        ("2024-01-01T00:00:00", true, "2024-01-01T00:00:00+00:00"),
        ("2024-01-01 00:00:00", true, "2024-01-01T00:00:00+00:00"),
        ("2024-01-01", false, "2024-01-01T00:00:00+00:00"),
        (
            "2024-01-01T00:00:00.123456+02:00",
            true,
            "2023-12-31T22:00:00.123456+00:00",
        ),
        ("20240101", false, "2024-01-01T00:00:00+00:00"),
        ("2024-01", false, "2024-01-01T00:00:00+00:00"),
        ("2024-W01", false, "2024-01-01T00:00:00+00:00"),
        ("12:00:00", false, "ERR"),
        (
            "2024-01-01T00:00:00.1234567Z",
            true,
            "2024-01-01T00:00:00.123456+00:00",
        ),
        ("2024-1-1", false, "ERR"),
        ("  2024-01-01T00:00:00Z", false, "ERR"),
        ("2024-01-01t00:00:00z", false, "ERR"),
        ("2024-01-01T00:00:00z", false, "ERR"),
        ("2024-01-01T00:00:00+05", true, "2023-12-31T19:00:00+00:00"),
        (
            "2024-01-01T00:00:00+0530",
            true,
            "2023-12-31T18:30:00+00:00",
        ),
        (
            "2024-01-01T00:00:00-05:30",
            true,
            "2024-01-01T05:30:00+00:00",
        ),
        ("2024-01-01T10:20", true, "2024-01-01T10:20:00+00:00"),
        ("2024-01-01T10", true, "2024-01-01T10:00:00+00:00"),
        ("2024-01-01T1020", false, "ERR"),
        ("20240101T102030", true, "2024-01-01T10:20:30+00:00"),
        ("20240101T10:20:30", false, "ERR"),
        ("2024-01-01T102030", false, "ERR"),
        ("2024-01-01T24:00:00", false, "ERR"),
        ("2024-02-30T00:00:00", false, "ERR"),
        ("2024-01-01T23:59:60", false, "ERR"),
        ("2024-01-01T00:00:00+24:00", true, "ERR"),
        (
            "2024-01-01T00:00:00+23:59",
            true,
            "2023-12-31T00:01:00+00:00",
        ),
        ("2024-01-01T00:00:00-24:00", true, "ERR"),
        ("2024-01-01T00:00:00-25:00", true, "ERR"),
        (
            "2024-01-01T00:00:00+05:99",
            true,
            "2023-12-31T17:21:00+00:00",
        ),
        ("2024-W01-1T10:00:00", true, "2024-01-01T10:00:00+00:00"),
        ("2024W011T10:00:00", false, "ERR"),
        ("2024-W01-1 10:00", true, "2024-01-01T10:00:00+00:00"),
        ("2024-001T10:00:00", true, "2024-01-01T10:00:00+00:00"),
        ("2024001T1000", true, "2024-01-01T10:00:00+00:00"),
        ("2024-366T00:00:00", true, "2024-12-31T00:00:00+00:00"),
        ("2023-366T00:00:00", false, "ERR"),
        ("2024/01/15 10:30", true, "2024-01-15T10:30:00+00:00"),
        (
            "2024/01/15 10:30:15.5",
            true,
            "2024-01-15T10:30:15.500000+00:00",
        ),
        ("2024:01:15 10:30", true, "2024-01-15T10:30:00+00:00"),
        ("202401151030", false, "8383-11-02T21:57:10+00:00"),
        ("2024 10:30", true, "2024-01-01T10:30:00+00:00"),
        ("10:30", false, "ERR"),
        ("2024/01/15", false, "2024-01-15T00:00:00+00:00"),
        ("2024/01/1510:30", true, "2024-01-15T10:30:00+00:00"),
        ("2024/01/15 10:", false, "ERR"),
        ("2024/01/15 1:2:3", true, "2024-01-15T01:02:03+00:00"),
        ("2024-01-01T00:00:00.Z", false, "ERR"),
        (
            "2024-01-01T00:00:00,5Z",
            true,
            "2024-01-01T00:00:00.500000+00:00",
        ),
        (
            "2024-01-01T00:00:00.123456789123Z",
            true,
            "2024-01-01T00:00:00.123456+00:00",
        ),
        ("2024-01-01T00:00:00Zjunk", false, "ERR"),
        ("2024-01-01T00:00:00 ", false, "ERR"),
        ("2024-01-01 ", false, "ERR"),
        ("2024-01-01T", false, "ERR"),
        ("0001-01-01T00:00:00Z", true, "0001-01-01T00:00:00+00:00"),
        ("9999-12-31T23:59:59Z", true, "9999-12-31T23:59:59+00:00"),
        ("0000-01-01T00:00:00Z", false, "ERR"),
        ("2024-13-01T00:00:00", false, "ERR"),
        ("2024-00-01T00:00:00", false, "ERR"),
        (
            "1999-12-31T00:00:00.5",
            true,
            "1999-12-31T00:00:00.500000+00:00",
        ),
        ("2024-01-01T00:00:00+00:00/P1D", false, "ERR"),
        ("2024-01-01T00:00:00/2024-01-02T00:00:00", false, "ERR"),
        ("P1D", false, "ERR"),
        ("T10:00:00", false, "ERR"),
        ("2024-01-01 00:00:00 +02:00", false, "ERR"),
        ("2024-01-01T00:00:00 Z", false, "ERR"),
        ("hello", false, "ERR"),
        ("", false, "ERR"),
        ("1700000000", false, "2023-11-14T22:13:20+00:00"),
        ("2024", false, "2024-01-01T00:00:00+00:00"),
        ("12", false, "1970-01-01T00:00:12+00:00"),
        ("2024-01-01T00:00:00+5", false, "ERR"),
        ("2024-01-01T00:00:00+05:3", false, "ERR"),
        ("2024-01-01T00:00:00Z ", false, "ERR"),
        ("2024-01-01T00:00+02:00", true, "2023-12-31T22:00:00+00:00"),
        ("2024-01-01T00+02:00", true, "2023-12-31T22:00:00+00:00"),
        ("2024-01-01T00Z", true, "2024-01-01T00:00:00+00:00"),
        (
            "2024-01-01T00:00:00.000000Z",
            true,
            "2024-01-01T00:00:00+00:00",
        ),
        (
            "2024-01-01T12:00:00-00:00",
            true,
            "2024-01-01T12:00:00+00:00",
        ),
        ("２０２４-01-01T00:00:00", false, "ERR"),
        ("2024/01/15 ١٠:30", true, "2024-01-15T10:30:00+00:00"),
        ("١٢٣٤/01/15 10:30", true, "1234-01-15T10:30:00+00:00"),
        ("2024-W53-1T00:00:00", false, "ERR"),
        ("2020-W53-7T00:00:00", true, "2021-01-03T00:00:00+00:00"),
        ("2024-W00-1T00:00:00", true, "2023-12-25T00:00:00+00:00"),
        ("2024-W01-0T00:00:00", true, "2023-12-31T00:00:00+00:00"),
        ("2024-W01-8T00:00:00", false, "ERR"),
        ("2024-01-01T00:00:00+00:00:00", false, "ERR"),
        ("2024-01-01T00:60:00", false, "ERR"),
        ("2024-01-01T00:00:00.-1", false, "ERR"),
        // second batch (same one-liner)
        ("20240101T10:20", true, "2024-01-01T10:20:00+00:00"),
        (
            "2024-01-01T10:20:30.5+01",
            true,
            "2024-01-01T09:20:30.500000+00:00",
        ),
        (
            "2024/01/15 10:30|25",
            true,
            "2024-01-15T10:30:00.250000+00:00",
        ),
        (
            "2024/01/15 10:30:15|25",
            true,
            "2024-01-15T10:30:15.250000+00:00",
        ),
        ("2024-01-01T00:00:00+05:", true, "2023-12-31T19:00:00+00:00"),
        ("0001-01-01T00:00:00+01:00", true, "ERR"),
        ("20241301", false, "1970-08-23T06:35:01+00:00"),
        ("1e3", false, "1970-01-01T00:16:40+00:00"),
        (" 1_000 ", false, "1970-01-01T00:16:40+00:00"),
        ("1__0", false, "ERR"),
        ("-1.5", false, "1969-12-31T23:59:58.500000+00:00"),
        ("٣", false, "1970-01-01T00:00:03+00:00"),
        ("nan", false, "ERR"),
        ("inf", false, "ERR"),
        ("253402300800", false, "ERR"),
        ("2024-01-01T00:00:00\n", false, "ERR"),
        ("2024/1/15 10:30", false, "ERR"),
        ("24/01/15 10:30", false, "ERR"),
        ("2024/01/15T10:30", false, "ERR"),
        ("9999-12-31T23:00:00-02:00", true, "ERR"),
        (
            "2024-01-01T00:00:00.5",
            true,
            "2024-01-01T00:00:00.500000+00:00",
        ),
        ("00:00", false, "ERR"),
        ("1", false, "1970-01-01T00:00:01+00:00"),
        ("+5", false, "1970-01-01T00:00:05+00:00"),
        ("5e-7", false, "1970-01-01T00:00:00+00:00"),
        (
            "2024-01-01 00:00:00.1234567891234+0100",
            true,
            "2023-12-31T23:00:00.123456+00:00",
        ),
    ];

    #[test]
    fn timestamps_match_dlt() {
        for &(s, detected, coerced) in CASES {
            assert_eq!(is_iso_timestamp(s), detected, "is_iso_timestamp({s:?})");
            let got = coerce_text_to_timestamp(s).map(|t| format_timestamp_iso(&t));
            assert_eq!(got.as_deref().unwrap_or("ERR"), coerced, "coerce({s:?})");
            if detected && coerced != "ERR" {
                assert_eq!(
                    parse_iso_timestamp(s)
                        .map(|t| format_timestamp_iso(&t))
                        .as_deref(),
                    Some(coerced)
                );
            } else if !detected {
                assert_eq!(parse_iso_timestamp(s), None, "{s:?}");
            }
        }
    }

    /// `coerce_value('timestamp', 'bigint'|'double', v)`: 1700000000, 1700000000.5, 1.0000005, 1.0000015,
    /// -1.5, 5e-07, 1.5e-06, 2.5e-06, -62135596800 ok; 253402300800, -62135596801, 1e20 raise.
    #[test]
    fn epoch_numbers() {
        let f = |v: f64| timestamp_from_f64(v).map(|t| format_timestamp_iso(&t));
        assert_eq!(
            f(1700000000.5).as_deref(),
            Some("2023-11-14T22:13:20.500000+00:00")
        );
        assert_eq!(
            f(1.0000005).as_deref(),
            Some("1970-01-01T00:00:01.000001+00:00")
        );
        assert_eq!(
            f(1.0000015).as_deref(),
            Some("1970-01-01T00:00:01.000001+00:00")
        );
        assert_eq!(f(-1.5).as_deref(), Some("1969-12-31T23:59:58.500000+00:00"));
        assert_eq!(f(5e-7).as_deref(), Some("1970-01-01T00:00:00+00:00"));
        assert_eq!(
            f(1.5e-6).as_deref(),
            Some("1970-01-01T00:00:00.000002+00:00")
        );
        assert_eq!(
            f(2.5e-6).as_deref(),
            Some("1970-01-01T00:00:00.000002+00:00")
        );
        assert_eq!(f(253402300800.0), None);
        assert_eq!(f(1e20), None);
        assert_eq!(f(f64::NAN), None);
        let i = |v: i64| timestamp_from_i64(v).map(|t| format_timestamp_iso(&t));
        assert_eq!(i(1700000000).as_deref(), Some("2023-11-14T22:13:20+00:00"));
        assert_eq!(
            i(-62135596800).as_deref(),
            Some("0001-01-01T00:00:00+00:00")
        );
        assert_eq!(i(-62135596801), None);
    }

    #[test]
    fn times_as_pendulum_reads_them() {
        let t = |s: &str| coerce_text_to_time(s).map(|t| t.format("%H:%M:%S%.f").to_string());
        assert_eq!(t("12:34:56").as_deref(), Some("12:34:56"));
        assert_eq!(t("12:34").as_deref(), Some("12:34:00"));
        assert_eq!(t("T12:34").as_deref(), Some("12:34:00"));
        assert_eq!(t("1:02:03").as_deref(), Some("01:02:03"));
        assert_eq!(t("12:34:56.1234567").as_deref(), Some("12:34:56.123456"));
        assert_eq!(t("12:34:56Z").as_deref(), Some("12:34:56"));
        assert_eq!(t("12:34:56+0200").as_deref(), Some("10:34:56"));
        assert_eq!(t("12:34:56-05").as_deref(), Some("17:34:56"));
        assert_eq!(t("00:30:00+02:00").as_deref(), Some("22:30:00"));
        assert_eq!(t(" 12:34:56").as_deref(), Some("12:34:56"));
        for bad in [
            "123456",
            "1234",
            "12",
            "hello",
            "25:00:00",
            "12:34:60",
            "12:34:56 ",
            "2024-01-01T10:00:00",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
