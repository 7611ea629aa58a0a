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
    let read = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
            // An orchestrator's template renders a missing end as `None` (Airflow) or `null`.
            .filter(|v| !matches!(v.trim(), "None" | "null"))
    };
    let Some(start) = read(INTERVAL_START_ENV) else {
        return Ok(None);
    };
    let parse = |name: &str, text: &str| {
        parse_bound(text)
            .ok_or_else(|| Error::config(format!("{name}={text} is not an ISO 8601 date-time")))
    };
    let start = parse(INTERVAL_START_ENV[0], &start)?;
    let end = match read(INTERVAL_END_ENV) {
        Some(e) => Some(parse(INTERVAL_END_ENV[0], &e)?),
        None => None,
    };
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_interval_from_the_environment() {
        // `set_var` is unsafe in edition 2024 because other threads may read the environment; no other test of
        // this binary reads these variables.
        let run = || interval_from_env().expect("parses");
        assert_eq!(run(), None);
        with_env(
            &[("DLT_INTERVAL_START", "2023-02-12T00:00:00+00:00")],
            || {
                let (start, end) = run().expect("interval");
                assert_eq!(start.to_rfc3339(), "2023-02-12T00:00:00+00:00");
                assert_eq!(end, None);
            },
        );
        with_env(
            &[
                ("ELE_INTERVAL_START", "2023-02-12T00:00:00Z"),
                ("ELE_INTERVAL_END", "2023-02-19T00:00:00Z"),
            ],
            || {
                let (_, end) = run().expect("interval");
                assert_eq!(
                    end.map(|e| e.to_rfc3339()),
                    Some("2023-02-19T00:00:00+00:00".to_owned())
                );
            },
        );
        // Airflow renders a datetime with a space, and a missing end as `None`.
        with_env(
            &[
                ("ELE_INTERVAL_START", "2023-02-12 00:00:00+00:00"),
                ("ELE_INTERVAL_END", "None"),
            ],
            || {
                let (start, end) = run().expect("interval");
                assert_eq!(start.to_rfc3339(), "2023-02-12T00:00:00+00:00");
                assert_eq!(end, None);
            },
        );
        with_env(&[("ELE_INTERVAL_START", "last tuesday")], || {
            let err = interval_from_env().expect_err("not a date");
            assert!(
                err.to_string().contains("ELE_INTERVAL_START=last tuesday"),
                "{err}"
            );
        });
    }

    #[allow(unsafe_code)]
    fn with_env(vars: &[(&str, &str)], f: impl FnOnce()) {
        for (k, v) in vars {
            // SAFETY: only this test touches these variables, and it restores them before returning.
            unsafe { std::env::set_var(k, v) };
        }
        f();
        for (k, _) in vars {
            // SAFETY: as above.
            unsafe { std::env::remove_var(k) };
        }
    }
}
