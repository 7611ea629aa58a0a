//! Versions and ids: the schema version steps dlt takes, and load ids as dlt makes them.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::schema::{DataType, Schema, Table};

/// The schema version after a run, numbered as dlt numbers it: one step for each stage that changed the schema.
/// Extract changes it when a table receiving rows is declared or its hints change (always on the first run,
/// which also declares the state table), normalize when columns or tables appear.
pub(crate) fn next_schema_version(before: &Schema, after: &Schema, with_rows: &[&str]) -> u64 {
    // A first run declares dlt's system tables: version 2 even when a contract kept every table out.
    if before.version == 0 {
        return 2;
    }
    if before.version_hash() == after.version_hash() {
        return before.version;
    }
    let complete = |t: &Table| -> Vec<(String, Option<DataType>, bool)> {
        t.complete_columns()
            .map(|c| (c.name.clone(), c.data_type, c.nullable))
            .collect()
    };
    let extract =
        with_rows.iter().any(
            |name| match (before.tables.get(*name), after.tables.get(*name)) {
                (None, _) => true,
                (Some(old), Some(new)) => {
                    old.complete_columns().next().is_none()
                        || old.write_disposition != new.write_disposition
                        || old.primary_key() != new.primary_key()
                        || old.merge_key() != new.merge_key()
                        || old.schema_contract != new.schema_contract
                }
                (Some(_), None) => false,
            },
        );
    let normalize = after
        .tables
        .values()
        .any(|t| match before.tables.get(&t.name) {
            None => t.complete_columns().next().is_some(),
            Some(old) => complete(old) != complete(t),
        });
    before.version + (u64::from(extract) + u64::from(normalize)).max(1)
}

/// The time a load id stands for (it is a unix timestamp with fraction), rounded to microseconds.
pub(crate) fn load_id_time(load_id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let seconds: f64 = load_id.parse().ok()?;
    let micros = (seconds * 1_000_000.0).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros)
}

/// A load id as dlt makes them, `str(time.time())`, strictly greater than `previous`.
pub fn new_load_id(previous: Option<&str>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut micros = now.as_micros();
    if let Some(prev) = previous.and_then(|p| p.parse::<f64>().ok()) {
        let prev_micros = (prev * 1e6).round() as u128;
        if micros <= prev_micros {
            micros = prev_micros + 1;
        }
    }
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let id = format!("{secs}.{frac:06}");
    id.trim_end_matches('0').trim_end_matches('.').to_owned()
}
