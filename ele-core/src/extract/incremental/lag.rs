//! dlt's lag arithmetic: how far a window starts behind the last value, per cursor type.

use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};

use super::config::LastValueFunc;

/// Whether `func` (max or min) prefers `a` over `b` strictly; `None` for custom functions or incomparable values.
pub(super) fn func_prefers(
    func: &LastValueFunc,
    compare: fn(&Value, &Value) -> Option<Ordering>,
    a: &Value,
    b: &Value,
) -> Option<bool> {
    let order = compare(a, b)?;
    match func {
        LastValueFunc::Max => Some(order == Ordering::Greater),
        LastValueFunc::Min => Some(order == Ordering::Less),
        LastValueFunc::Custom(_) => None,
    }
}

/// dlt's `apply_lag`: moves `last` back by `lag` (forward for `min`) with the cursor type's `shift`.
pub(super) fn apply_lag(
    lag: f64,
    last: &Value,
    func: &LastValueFunc,
    shift: fn(&Value, f64) -> std::result::Result<Value, String>,
) -> std::result::Result<Value, String> {
    let sign = if matches!(func, LastValueFunc::Min) {
        1.0
    } else {
        -1.0
    };
    shift(last, sign * lag)
}

/// Shifts a JSON cursor value by `shift`: seconds for date-times, days for dates, units for numbers (integers
/// stay integers). Strings keep their format.
pub(crate) fn shift_json(value: &Value, shift: f64) -> std::result::Result<Value, String> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(json!(i + shift.trunc() as i64))
            } else {
                let f = n.as_f64().ok_or("not a finite number")? + shift;
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| "the result is not a finite number".to_owned())
            }
        }
        Value::String(text) => lag_text(text, shift).map(Value::String),
        other => Err(format!(
            "lag needs a number, date or date-time cursor, not {other}"
        )),
    }
}

fn lag_text(text: &str, shift: f64) -> std::result::Result<String, String> {
    use chrono::{Duration, NaiveDate, NaiveDateTime};
    for format in ["%Y-%m-%d", "%Y%m%d"] {
        if text.len() == if format == "%Y%m%d" { 8 } else { 10 }
            && let Ok(date) = NaiveDate::parse_from_str(text, format)
        {
            let moved = date + Duration::days(shift.trunc() as i64);
            return Ok(moved.format(format).to_string());
        }
    }
    let delta = Duration::microseconds((shift * 1_000_000.0).round() as i64);
    let digits = text
        .split_once('.')
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).count());
    let seconds_format = match digits {
        None | Some(0) => SecondsFormat::Secs,
        Some(1..=3) => SecondsFormat::Millis,
        Some(4..=6) => SecondsFormat::Micros,
        _ => SecondsFormat::Nanos,
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok((t + delta).to_rfc3339_opts(seconds_format, text.ends_with('Z')));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            let out = format.replace(
                "%.f",
                match seconds_format {
                    SecondsFormat::Secs => "",
                    SecondsFormat::Millis => "%.3f",
                    SecondsFormat::Micros => "%.6f",
                    _ => "%.9f",
                },
            );
            return Ok((t + delta).format(&out).to_string());
        }
    }
    Err(format!("`{text}` is not an ISO date or date-time"))
}
