//! Cursor value types: how two cursor values compare and how a scheduler's instant becomes one.

use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::lag::shift_json;

/// A cursor value type: how two cursor values (as JSON) compare, and how a scheduler instant converts to one.
///
/// Implemented for `serde_json::Value` (dlt's rules for JSON: numbers with numbers, strings with strings,
/// no coercion), integers, floats, `String`, chrono's date-times with a zone (compared as instants),
/// chrono's `NaiveDate` and `NaiveDateTime` (compared as dates and as date-times without a zone), with the
/// feature `jiff` jiff's `Timestamp`, `civil::Date` and `civil::DateTime` (the same), and with the feature
/// `rust_decimal` `rust_decimal::Decimal` (compared and lagged digit for digit).
pub trait Cursor: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Orders two cursor values; `None` when they cannot be compared.
    fn compare(a: &Value, b: &Value) -> Option<Ordering> {
        compare_json(a, b)
    }

    /// The cursor value of an external scheduler's instant; `None` when this type cannot hold one.
    /// `like` is the configured initial value, to follow its representation for untyped cursors.
    fn from_instant(instant: DateTime<Utc>, like: Option<&Value>) -> Option<Value> {
        match like {
            Some(Value::Number(_)) => Some(json!(instant.timestamp())),
            _ => Some(Value::String(
                instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            )),
        }
    }

    /// The value `by` later (earlier when negative), for `lag`: seconds for date-times, days for dates, units
    /// for numbers; the result keeps the value's representation.
    fn shift(value: &Value, by: f64) -> std::result::Result<Value, String> {
        shift_json(value, by)
    }
}

impl Cursor for Value {}
impl Cursor for String {
    fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
        Some(Value::String(
            instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ))
    }
}
macro_rules! integer_cursor {
    ($($t:ty),*) => {$(
        impl Cursor for $t {
            fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
                Some(json!(instant.timestamp()))
            }
        }
    )*};
}
integer_cursor!(i32, i64, u32, u64);
impl Cursor for f64 {
    fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
        Some(json!(instant.timestamp_micros() as f64 / 1e6))
    }
}
impl<Tz> Cursor for DateTime<Tz>
where
    Tz: chrono::TimeZone + Send + Sync + 'static,
    DateTime<Tz>: Serialize + DeserializeOwned,
    Tz::Offset: Send + Sync,
{
    fn compare(a: &Value, b: &Value) -> Option<Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => {
                let x = DateTime::parse_from_rfc3339(x).ok()?;
                let y = DateTime::parse_from_rfc3339(y).ok()?;
                Some(x.cmp(&y))
            }
            _ => compare_json(a, b),
        }
    }

    fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
        Some(Value::String(
            instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ))
    }
}

impl Cursor for chrono::NaiveDate {
    /// Dates as dates (`2024-01-02` after `2024-01-01`), whatever else the strings hold.
    fn compare(a: &Value, b: &Value) -> Option<Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => {
                let x: chrono::NaiveDate = x.parse().ok()?;
                let y: chrono::NaiveDate = y.parse().ok()?;
                Some(x.cmp(&y))
            }
            _ => compare_json(a, b),
        }
    }

    /// The instant's date in UTC.
    fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
        Some(Value::String(instant.date_naive().to_string()))
    }
}

impl Cursor for chrono::NaiveDateTime {
    /// Date-times as instants without a zone (`2024-01-01T00:00:00.5` after `2024-01-01T00:00:00`).
    fn compare(a: &Value, b: &Value) -> Option<Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => {
                let parse = |text: &str| {
                    text.parse::<chrono::NaiveDateTime>().ok().or_else(|| {
                        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
                    })
                };
                Some(parse(x)?.cmp(&parse(y)?))
            }
            _ => compare_json(a, b),
        }
    }

    /// The instant in UTC without its zone, as chrono serializes it (`2024-01-01T00:00:00`).
    fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
        serde_json::to_value(instant.naive_utc()).ok()
    }
}

/// Python's ordering of JSON values: numbers with numbers (ints and floats mix), strings with strings,
/// booleans with booleans, arrays element-wise; anything else cannot be compared.
pub fn compare_json(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                match compare_json(l, r)? {
                    Ordering::Equal => continue,
                    other => return Some(other),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};

    #[test]
    fn naive_dates_and_date_times_compare_as_such() {
        let cmp = |a: &str, b: &str| NaiveDate::compare(&json!(a), &json!(b));
        assert_eq!(cmp("2024-01-02", "2024-01-01"), Some(Ordering::Greater));
        assert_eq!(cmp("2024-01-01", "2024-01-01"), Some(Ordering::Equal));
        assert_eq!(cmp("2024-1-2", "2024-01-01"), Some(Ordering::Greater));
        assert_eq!(cmp("yesterday", "2024-01-01"), None);
        let cmp = |a: &str, b: &str| NaiveDateTime::compare(&json!(a), &json!(b));
        assert_eq!(
            cmp("2024-01-01T00:00:00.5", "2024-01-01T00:00:00"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            cmp("2024-01-01 00:00:01", "2024-01-01T00:00:00.999"),
            Some(Ordering::Greater)
        );
        let instant = Utc.with_ymd_and_hms(2024, 3, 4, 23, 30, 0).single();
        let instant = instant.expect("a valid instant");
        assert_eq!(
            NaiveDate::from_instant(instant, None),
            Some(json!("2024-03-04"))
        );
        assert_eq!(
            NaiveDateTime::from_instant(instant, None),
            Some(json!("2024-03-04T23:30:00"))
        );
    }
}
