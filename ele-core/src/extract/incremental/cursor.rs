//! Cursor value types: how two cursor values compare and how a scheduler's instant becomes one.

use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A cursor value type: how two cursor values (as JSON) compare, and how a scheduler instant converts to one.
///
/// Implemented for `serde_json::Value` (dlt's rules for JSON: numbers with numbers, strings with strings,
/// no coercion), integers, floats, `String`, and chrono's date-times (compared as instants).
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
