//! An external scheduler's interval (Airflow's `data_interval_start`/`data_interval_end`): the one place that
//! reads it from the environment and parses its bounds.

use chrono::{DateTime, Utc};

use crate::foundation::error::{Error, Result};
use crate::foundation::py_time::{coerce_text_to_timestamp, parse_iso_timestamp};

/// Environment variables carrying an external scheduler's interval (ele's names, then dlt's).
pub const INTERVAL_START_ENV: [&str; 2] = ["ELE_INTERVAL_START", "DLT_INTERVAL_START"];
/// See [`INTERVAL_START_ENV`].
pub const INTERVAL_END_ENV: [&str; 2] = ["ELE_INTERVAL_END", "DLT_INTERVAL_END"];

/// An external scheduler's interval: start, and end when given.
pub type Interval = (DateTime<Utc>, Option<DateTime<Utc>>);

/// A bound of an interval: ISO 8601 with `T` or a space (how Airflow prints a date-time), with a zone or in
/// UTC, or a date (at midnight); `None` when the text is none of these.
pub fn parse_bound(text: &str) -> Option<DateTime<Utc>> {
    let trimmed = text.trim();
    parse_iso_timestamp(trimmed).or_else(|| coerce_text_to_timestamp(trimmed))
}

/// The external scheduler interval from the environment, when at least its start is given.
pub fn interval_from_env() -> Result<Option<Interval>> {
    interval_from(|name| std::env::var(name).ok())
}

/// The external scheduler interval from the variables `lookup` finds, when at least its start is given.
fn interval_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Interval>> {
    // The first variable of `names` with a value, with its name.
    let read = |names: [&'static str; 2]| {
        names
            .iter()
            .find_map(|n| lookup(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
            // An orchestrator's template renders a missing end as `None` (Airflow) or `null`.
            .filter(|(_, v)| !matches!(v.trim(), "None" | "null"))
    };
    let parse = |(name, text): (&str, String)| {
        parse_bound(&text)
            .ok_or_else(|| Error::config(format!("{name}={text} is not an ISO 8601 date-time")))
    };
    let Some(start) = read(INTERVAL_START_ENV) else {
        return Ok(None);
    };
    let start = parse(start)?;
    let end = read(INTERVAL_END_ENV).map(parse).transpose()?;
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interval from the variables `vars` only.
    fn interval(vars: &[(&str, &str)]) -> Result<Option<Interval>> {
        interval_from(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn scheduler_interval_from_the_environment() {
        let run = |vars: &[(&str, &str)]| interval(vars).expect("parses");
        assert_eq!(run(&[]), None);
        let (start, end) =
            run(&[("DLT_INTERVAL_START", "2023-02-12T00:00:00+00:00")]).expect("interval");
        assert_eq!(start.to_rfc3339(), "2023-02-12T00:00:00+00:00");
        assert_eq!(end, None);
        let (_, end) = run(&[
            ("ELE_INTERVAL_START", "2023-02-12T00:00:00Z"),
            ("ELE_INTERVAL_END", "2023-02-19T00:00:00Z"),
        ])
        .expect("interval");
        assert_eq!(
            end.map(|e| e.to_rfc3339()),
            Some("2023-02-19T00:00:00+00:00".to_owned())
        );
        // ele's names win over dlt's.
        let (start, _) = run(&[
            ("DLT_INTERVAL_START", "2020-01-01T00:00:00Z"),
            ("ELE_INTERVAL_START", "2023-02-12T00:00:00Z"),
        ])
        .expect("interval");
        assert_eq!(start.to_rfc3339(), "2023-02-12T00:00:00+00:00");
        // Airflow renders a datetime with a space, and a missing end as `None`.
        let (start, end) = run(&[
            ("ELE_INTERVAL_START", "2023-02-12 00:00:00+00:00"),
            ("ELE_INTERVAL_END", "None"),
        ])
        .expect("interval");
        assert_eq!(start.to_rfc3339(), "2023-02-12T00:00:00+00:00");
        assert_eq!(end, None);
        // The error names the variable that was read.
        let err = interval(&[("DLT_INTERVAL_START", "last tuesday")]).expect_err("not a date");
        assert!(
            err.to_string().contains("DLT_INTERVAL_START=last tuesday"),
            "{err}"
        );
    }
}
