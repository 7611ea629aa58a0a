//! Cursor value types from optional crates: jiff's instants, dates and date-times (feature `jiff`) and
//! `rust_decimal::Decimal` (feature `rust_decimal`).

#[cfg(feature = "jiff")]
mod jiff_cursors {
    use std::cmp::Ordering;

    use chrono::{DateTime, Utc};
    use jiff::civil;
    use jiff::{SignedDuration, Span, Timestamp};
    use serde_json::Value;

    use super::super::cursor::{Cursor, compare_json};

    /// Compares two string cursors parsed as `T`; other values by dlt's JSON rules.
    fn compare_parsed<T: std::str::FromStr + Ord>(a: &Value, b: &Value) -> Option<Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => {
                Some(x.parse::<T>().ok()?.cmp(&y.parse::<T>().ok()?))
            }
            _ => compare_json(a, b),
        }
    }

    fn parsed<T: std::str::FromStr>(value: &Value, what: &str) -> Result<T, String> {
        value
            .as_str()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("`{value}` is not {what}"))
    }

    fn seconds(by: f64) -> Result<SignedDuration, String> {
        SignedDuration::try_from_secs_f64(by).map_err(|e| format!("a lag of {by} seconds: {e}"))
    }

    fn timestamp(instant: DateTime<Utc>) -> Option<Timestamp> {
        Timestamp::from_microsecond(instant.timestamp_micros()).ok()
    }

    impl Cursor for Timestamp {
        /// Instants as instants, whatever offset each string is written with.
        fn compare(a: &Value, b: &Value) -> Option<Ordering> {
            compare_parsed::<Timestamp>(a, b)
        }

        fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
            Some(Value::String(timestamp(instant)?.to_string()))
        }

        /// Seconds later (earlier when negative).
        fn shift(value: &Value, by: f64) -> Result<Value, String> {
            let at: Timestamp = parsed(value, "an RFC 3339 instant")?;
            let moved = at.checked_add(seconds(by)?).map_err(|e| e.to_string())?;
            Ok(Value::String(moved.to_string()))
        }
    }

    impl Cursor for civil::Date {
        /// Dates as dates.
        fn compare(a: &Value, b: &Value) -> Option<Ordering> {
            compare_parsed::<civil::Date>(a, b)
        }

        /// The instant's date in UTC.
        fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
            let day = jiff::tz::Offset::UTC
                .to_datetime(timestamp(instant)?)
                .date();
            Some(Value::String(day.to_string()))
        }

        /// Whole days later (earlier when negative), as dlt lags dates.
        fn shift(value: &Value, by: f64) -> Result<Value, String> {
            let day: civil::Date = parsed(value, "an ISO date")?;
            let days = Span::new()
                .try_days(by.trunc() as i64)
                .map_err(|e| e.to_string())?;
            let moved = day.checked_add(days).map_err(|e| e.to_string())?;
            Ok(Value::String(moved.to_string()))
        }
    }

    impl Cursor for civil::DateTime {
        /// Date-times without a zone as such.
        fn compare(a: &Value, b: &Value) -> Option<Ordering> {
            compare_parsed::<civil::DateTime>(a, b)
        }

        /// The instant in UTC without its zone.
        fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
            let at = jiff::tz::Offset::UTC.to_datetime(timestamp(instant)?);
            Some(Value::String(at.to_string()))
        }

        /// Seconds later (earlier when negative).
        fn shift(value: &Value, by: f64) -> Result<Value, String> {
            let at: civil::DateTime = parsed(value, "an ISO date-time")?;
            let moved = at.checked_add(seconds(by)?).map_err(|e| e.to_string())?;
            Ok(Value::String(moved.to_string()))
        }
    }
}

#[cfg(feature = "rust_decimal")]
mod decimal_cursor {
    use std::cmp::Ordering;

    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;
    use serde_json::Value;

    use super::super::cursor::{Cursor, compare_json};

    /// A decimal from a JSON number (all its digits) or a numeric string, as rust_decimal serializes either way.
    fn decimal(value: &Value) -> Option<Decimal> {
        let text = match value {
            Value::String(text) => text.trim().to_owned(),
            Value::Number(number) => number.to_string(),
            _ => return None,
        };
        if text.contains(['e', 'E']) {
            Decimal::from_scientific(&text).ok()
        } else {
            text.parse().ok()
        }
    }

    impl Cursor for Decimal {
        /// Numbers as exact decimals, whether written as JSON numbers or as strings (`"10.5"` after `9.75`).
        fn compare(a: &Value, b: &Value) -> Option<Ordering> {
            match (decimal(a), decimal(b)) {
                (Some(x), Some(y)) => Some(x.cmp(&y)),
                _ => compare_json(a, b),
            }
        }

        /// Unix seconds, to the microsecond.
        fn from_instant(instant: DateTime<Utc>, _: Option<&Value>) -> Option<Value> {
            let seconds = Decimal::new(instant.timestamp_micros(), 6).normalize();
            Some(Value::String(seconds.to_string()))
        }

        /// `by` units later (earlier when negative), computed in decimal: `10.10` lagged by `0.1` is `10.00`.
        fn shift(value: &Value, by: f64) -> Result<Value, String> {
            let at = decimal(value).ok_or_else(|| format!("`{value}` is not a decimal"))?;
            let by: Decimal = format!("{by}")
                .parse()
                .map_err(|e| format!("a lag of {by}: {e}"))?;
            let moved = at
                .checked_add(by)
                .ok_or_else(|| format!("{at} + {by} is out of a decimal's range"))?;
            Ok(match value {
                Value::Number(_) => moved
                    .to_string()
                    .parse()
                    .map(Value::Number)
                    .map_err(|e| e.to_string())?,
                _ => Value::String(moved.to_string()),
            })
        }
    }
}

#[cfg(all(test, feature = "jiff", feature = "rust_decimal"))]
mod tests {
    use std::cmp::Ordering;

    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::super::cursor::Cursor;

    #[test]
    fn decimals_compare_across_representations_and_shift_exactly() {
        use rust_decimal::Decimal;
        let cmp = |a, b| Decimal::compare(&a, &b);
        assert_eq!(cmp(json!("10.30"), json!("9.75")), Some(Ordering::Greater));
        assert_eq!(cmp(json!("1.50"), json!(1.5)), Some(Ordering::Equal));
        assert_eq!(cmp(json!("1e2"), json!(99)), Some(Ordering::Greater));
        assert_eq!(Decimal::shift(&json!("10.30"), -0.1), Ok(json!("10.20")));
        assert_eq!(
            Decimal::shift(&json!(0.3), -0.1).map(|v| v.to_string()),
            Ok("0.2".to_owned())
        );
        assert!(Decimal::shift(&json!("ten"), 1.0).is_err());
        let instant = Utc.timestamp_micros(1_700_000_000_500_000).single();
        let instant = instant.expect("a valid instant");
        assert_eq!(
            Decimal::from_instant(instant, None),
            Some(json!("1700000000.5"))
        );
    }

    #[test]
    fn jiff_instants_compare_across_offsets_and_dates_shift_by_days() {
        use jiff::{Timestamp, civil};
        assert_eq!(
            Timestamp::compare(
                &json!("2024-01-01T10:30:00+01:00"),
                &json!("2024-01-01T10:00:00Z")
            ),
            Some(Ordering::Less)
        );
        assert_eq!(
            Timestamp::shift(&json!("2024-01-01T00:00:00Z"), -1.5),
            Ok(json!("2023-12-31T23:59:58.5Z"))
        );
        assert_eq!(
            civil::Date::shift(&json!("2024-03-01"), -1.0),
            Ok(json!("2024-02-29"))
        );
        assert_eq!(
            civil::DateTime::compare(
                &json!("2024-01-01T00:00:00.5"),
                &json!("2024-01-01T00:00:00")
            ),
            Some(Ordering::Greater)
        );
        let instant = Utc.with_ymd_and_hms(2024, 3, 4, 23, 30, 0).single();
        let instant = instant.expect("a valid instant");
        assert_eq!(
            Timestamp::from_instant(instant, None),
            Some(json!("2024-03-04T23:30:00Z"))
        );
        assert_eq!(
            civil::Date::from_instant(instant, None),
            Some(json!("2024-03-04"))
        );
        assert_eq!(
            civil::DateTime::from_instant(instant, None),
            Some(json!("2024-03-04T23:30:00"))
        );
    }
}
