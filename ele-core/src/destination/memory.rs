//! An in-memory destination: the reference implementation of [`Destination`], and a fast stand-in for a
//! database in unit tests of pipelines, packages, state and incremental loading.
//!
//! It keeps, per dataset, the rows of each table (column name to JSON value), the committed load ids, the
//! state rows and the schema versions, and applies a package all at once or not at all, as a database
//! transaction would. It writes appends, replaces and the `delete-insert`, `upsert` and `insert-only` merges
//! on a primary key or a merge key, with hard deletes and one row per key (the first sent; upsert: the last);
//! `scd2`, `dedup_sort` and a primary key together with a merge key are refused, not approximated. A clone
//! shares the store, so a test keeps one to read what a pipeline loaded:
//!
//! ```
//! use ele_core::destination::memory::MemoryDestination;
//!
//! let destination = MemoryDestination::new();
//! let reader = destination.clone(); // give `destination` to `Pipeline::builder(..).destination(..)`
//! assert!(reader.rows("dataset", "events").is_empty());
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat};
use futures::future::BoxFuture;
use serde_json::{Number, Value};

use super::{Destination, LoadOutcome, Restored, StateCommit};
use crate::foundation::error::{Error, Result};
use crate::model::hints::{MergeStrategy, WriteDisposition};
use crate::model::schema::{C_DLT_ID, C_DLT_ROOT_ID, Column, DataType, Schema};
use crate::model::state::StateRow;
use crate::package::{ChainLoad, JobFormat, LoadPackage, decode_binary_tuples};

/// A row as the memory destination keeps it: column name to value; a missing column is null.
pub type MemoryRow = BTreeMap<String, Value>;

/// Microseconds from the Unix epoch to PostgreSQL's epoch (binary COPY counts timestamps from 2000-01-01).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// What the destination holds of one dataset.
#[derive(Debug, Clone, Default)]
struct Dataset {
    tables: BTreeMap<String, Vec<MemoryRow>>,
    loads: Vec<String>,
    /// `(pipeline, state row)` in commit order.
    states: Vec<StateRow>,
    /// Schema versions in commit order.
    schemas: Vec<Schema>,
}

/// A destination that keeps everything in memory; clones share the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryDestination {
    store: Arc<Mutex<HashMap<String, Dataset>>>,
}

impl MemoryDestination {
    /// An empty destination.
    pub fn new() -> Self {
        Self::default()
    }

    fn store(&self) -> MutexGuard<'_, HashMap<String, Dataset>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rows of `table` in `dataset`, in the order they were loaded; empty when there is no such table.
    pub fn rows(&self, dataset: &str, table: &str) -> Vec<MemoryRow> {
        self.store()
            .get(dataset)
            .and_then(|d| d.tables.get(table))
            .cloned()
            .unwrap_or_default()
    }

    /// The tables of `dataset` that were created, sorted by name.
    pub fn tables(&self, dataset: &str) -> Vec<String> {
        self.store()
            .get(dataset)
            .map(|d| d.tables.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The load ids committed into `dataset`, oldest first.
    pub fn loads(&self, dataset: &str) -> Vec<String> {
        self.store()
            .get(dataset)
            .map(|d| d.loads.clone())
            .unwrap_or_default()
    }

    /// The newest state row of `pipeline` committed into `dataset`.
    pub fn state_row(&self, dataset: &str, pipeline: &str) -> Option<StateRow> {
        self.store()
            .get(dataset)
            .and_then(|d| newest_state(d, pipeline))
            .cloned()
    }
}

fn newest_state<'d>(dataset: &'d Dataset, pipeline: &str) -> Option<&'d StateRow> {
    dataset
        .states
        .iter()
        .filter(|s| s.pipeline_name == pipeline)
        .max_by_key(|s| s.version)
}

impl Destination for MemoryDestination {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn location(&self) -> String {
        "memory".to_owned()
    }

    fn restore<'a>(
        &'a self,
        dataset: &'a str,
        pipeline_name: &'a str,
        schema_name: &'a str,
    ) -> BoxFuture<'a, Result<Restored>> {
        Box::pin(async move {
            let store = self.store();
            let Some(data) = store.get(dataset) else {
                return Ok(Restored {
                    dataset_missing: true,
                    ..Restored::default()
                });
            };
            let state = match newest_state(data, pipeline_name) {
                Some(row) => Some(StateRow::decode(&row.state)?),
                None => None,
            };
            let schema = data
                .schemas
                .iter()
                .filter(|s| s.name == schema_name)
                .max_by_key(|s| s.version)
                .cloned();
            Ok(Restored {
                state,
                schema,
                dataset_missing: false,
            })
        })
    }

    fn load<'a>(&'a self, package: &'a LoadPackage) -> BoxFuture<'a, Result<LoadOutcome>> {
        Box::pin(async move {
            let manifest = &package.manifest;
            // Decoded before taking the lock: reading files must not hold it.
            let mut rows: HashMap<&str, Vec<MemoryRow>> = HashMap::new();
            for job in &manifest.jobs {
                rows.entry(job.table.as_str()).or_default().extend(read_job(
                    package,
                    job,
                    &manifest.schema,
                )?);
            }
            let mut store = self.store();
            let current = store.entry(manifest.dataset_name.clone()).or_default();
            if current.loads.contains(&manifest.load_id) {
                return Ok(LoadOutcome::AlreadyLoaded);
            }
            // Applied to a copy that replaces the dataset only when everything succeeded.
            let mut next = current.clone();
            if let Some(state) = &manifest.state_row {
                check_newest(&next, state)?;
                next.states.push(state.clone());
            }
            // A refresh's drops and truncates come first, in the same commit.
            for table in &manifest.drop_tables {
                next.tables.remove(table);
            }
            for table in &manifest.truncate_tables {
                if let Some(rows) = next.tables.get_mut(table) {
                    rows.clear();
                }
            }
            for table in manifest.schema.tables.keys() {
                next.tables.entry(table.clone()).or_default();
            }
            for chain in &manifest.chains {
                write_chain(&mut next, &manifest.schema, chain, &mut rows)?;
            }
            store_schema(&mut next, &manifest.schema);
            next.loads.push(manifest.load_id.clone());
            *current = next;
            Ok(LoadOutcome::Committed)
        })
    }

    fn commit_state<'a>(&'a self, commit: &'a StateCommit) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut store = self.store();
            let current = store.entry(commit.dataset.clone()).or_default();
            let mut next = current.clone();
            if let Some(state) = &commit.state_row {
                check_newest(&next, state)?;
                next.states.push(state.clone());
            }
            for table in &commit.drop_tables {
                next.tables.remove(table);
            }
            store_schema(&mut next, &commit.schema);
            next.loads.push(commit.load_id.clone());
            *current = next;
            Ok(())
        })
    }
}

/// Optimistic concurrency, as a database destination does it: a state at least as new as `state` committed
/// meanwhile means this package was built on an outdated state.
fn check_newest(dataset: &Dataset, state: &StateRow) -> Result<()> {
    match newest_state(dataset, &state.pipeline_name) {
        Some(newest) if newest.version >= state.version => Err(Error::StateConflict {
            pipeline: state.pipeline_name.clone(),
            committed: newest.version,
            this_run: state.version,
        }),
        _ => Ok(()),
    }
}

/// Stores `schema` as a new version unless that version is already stored.
fn store_schema(dataset: &mut Dataset, schema: &Schema) {
    let stored = dataset
        .schemas
        .iter()
        .any(|s| s.name == schema.name && s.version == schema.version);
    if !stored {
        dataset.schemas.push(schema.clone());
    }
}

/// Writes the rows of one root table and its child tables as the chain's disposition says.
fn write_chain(
    dataset: &mut Dataset,
    schema: &Schema,
    chain: &ChainLoad,
    rows: &mut HashMap<&str, Vec<MemoryRow>>,
) -> Result<()> {
    let tables: Vec<String> = schema
        .chain(&chain.root)
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let mut incoming: HashMap<String, Vec<MemoryRow>> = tables
        .iter()
        .map(|t| (t.clone(), rows.remove(t.as_str()).unwrap_or_default()))
        .collect();
    match chain.write_disposition {
        WriteDisposition::Append => {}
        WriteDisposition::Replace => {
            for table in &tables {
                dataset.tables.insert(table.clone(), Vec::new());
            }
        }
        WriteDisposition::Merge => merge_chain(dataset, schema, chain, &tables, &mut incoming)?,
    }
    for table in &tables {
        if let Some(new_rows) = incoming.remove(table) {
            dataset
                .tables
                .entry(table.clone())
                .or_default()
                .extend(new_rows);
        }
    }
    Ok(())
}

/// Removes from the dataset what a merge replaces and from `incoming` what it does not insert.
fn merge_chain(
    dataset: &mut Dataset,
    schema: &Schema,
    chain: &ChainLoad,
    tables: &[String],
    incoming: &mut HashMap<String, Vec<MemoryRow>>,
) -> Result<()> {
    let root = schema
        .tables
        .get(&chain.root)
        .ok_or_else(|| Error::internal(format!("package has no table `{}`", chain.root)))?;
    let primary_key: Vec<String> = root.primary_key().iter().map(|c| c.to_string()).collect();
    let merge_key: Vec<String> = root.merge_key().iter().map(|c| c.to_string()).collect();
    let strategy = chain.merge.strategy;
    // What it cannot write exactly as the PostgreSQL destination does, it refuses instead of writing otherwise.
    if strategy == MergeStrategy::Scd2 {
        return Err(Error::config(
            "the memory destination does not write the scd2 merge strategy",
        ));
    }
    if chain.merge.dedup_sort.is_some() {
        return Err(Error::config(
            "the memory destination does not apply `dedup_sort`",
        ));
    }
    if !primary_key.is_empty() && !merge_key.is_empty() {
        return Err(Error::config(
            "the memory destination does not merge on a primary key and a merge key together",
        ));
    }
    let key = if primary_key.is_empty() {
        merge_key
    } else {
        primary_key.clone()
    };
    if key.is_empty() {
        // dlt: a merge without keys appends.
        return Ok(());
    }
    let key_of = |row: &MemoryRow| -> Vec<Value> {
        key.iter()
            .map(|c| row.get(c).cloned().unwrap_or(Value::Null))
            .collect()
    };
    let new_roots = incoming.remove(&chain.root).unwrap_or_default();
    // One row per primary key: the first sent (upsert: the last), as the PostgreSQL destination keeps them.
    let mut kept: Vec<MemoryRow> = Vec::new();
    let mut position: HashMap<Vec<Value>, usize> = HashMap::new();
    for row in new_roots {
        match (primary_key.is_empty(), position.get(&key_of(&row))) {
            (false, Some(&at)) if strategy == MergeStrategy::Upsert => kept[at] = row,
            (false, Some(_)) => {}
            _ => {
                position.insert(key_of(&row), kept.len());
                kept.push(row);
            }
        }
    }
    let is_deleted = |row: &MemoryRow| {
        chain
            .merge
            .hard_delete
            .as_ref()
            .is_some_and(|c| match row.get(c) {
                None | Some(Value::Null) => false,
                Some(Value::Bool(flag)) => *flag,
                Some(_) => true,
            })
    };
    let incoming_keys: HashSet<Vec<Value>> = kept.iter().map(&key_of).collect();
    let existing = dataset.tables.entry(chain.root.clone()).or_default();
    let existing_keys: HashSet<Vec<Value>> = existing.iter().map(&key_of).collect();
    let replaced: HashSet<Vec<Value>> = match strategy {
        // Insert-only keeps what is there and skips the keys it already has.
        MergeStrategy::InsertOnly => {
            kept.retain(|r| !existing_keys.contains(&key_of(r)) && !is_deleted(r));
            HashSet::new()
        }
        _ => {
            kept.retain(|r| !is_deleted(r));
            incoming_keys
        }
    };
    let mut removed_ids = HashSet::new();
    existing.retain(|row| {
        let gone = replaced.contains(&key_of(row));
        if gone && let Some(Value::String(id)) = row.get(C_DLT_ID) {
            removed_ids.insert(id.clone());
        }
        !gone
    });
    let kept_ids: HashSet<String> = kept
        .iter()
        .filter_map(|r| r.get(C_DLT_ID).and_then(Value::as_str).map(str::to_owned))
        .collect();
    for child in tables.iter().filter(|t| **t != chain.root) {
        if let Some(rows) = dataset.tables.get_mut(child) {
            rows.retain(|r| !matches!(r.get(C_DLT_ROOT_ID), Some(Value::String(id)) if removed_ids.contains(id)));
        }
        // Child rows of roots that were not inserted (deleted or skipped keys) go with them.
        if let Some(rows) = incoming.get_mut(child) {
            rows.retain(|r| match r.get(C_DLT_ROOT_ID) {
                Some(Value::String(id)) => kept_ids.contains(id),
                _ => true,
            });
        }
    }
    incoming.insert(chain.root.clone(), kept);
    Ok(())
}

/// The rows of a job file, each cell decoded by its column's type.
fn read_job(
    package: &LoadPackage,
    job: &crate::package::Job,
    schema: &Schema,
) -> Result<Vec<MemoryRow>> {
    let path = package.job_path(job);
    if job.format != JobFormat::Binary {
        return Err(Error::config(format!(
            "the memory destination reads binary job files only; {} is not one",
            path.display()
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read job file", &path, e))?;
    let corrupt = |message: String| Error::Corrupt {
        what: "job file",
        path: path.clone(),
        message,
    };
    let tuples =
        decode_binary_tuples(&bytes).ok_or_else(|| corrupt("not binary COPY tuples".into()))?;
    let table = schema
        .tables
        .get(&job.table)
        .ok_or_else(|| corrupt(format!("the schema has no table `{}`", job.table)))?;
    let types: Vec<Option<&Column>> = job.columns.iter().map(|c| table.columns.get(c)).collect();
    tuples
        .into_iter()
        .map(|fields| {
            let mut row = MemoryRow::new();
            for ((column, data_type), field) in job.columns.iter().zip(&types).zip(fields) {
                if let Some(bytes) = field {
                    let value = decode_field(bytes, *data_type).ok_or_else(|| {
                        corrupt(format!("column `{column}` holds an invalid value"))
                    })?;
                    row.insert(column.clone(), value);
                }
            }
            Ok(row)
        })
        .collect()
}

/// One binary COPY field as JSON: timestamps as RFC 3339 in UTC (naive ones without offset), dates and times
/// in ISO form, decimals as their digits in a string, binary as `0x…` hex, json columns parsed.
fn decode_field(bytes: &[u8], column: Option<&Column>) -> Option<Value> {
    let data_type = column.and_then(|c| c.data_type).unwrap_or(DataType::Text);
    let naive = column.is_some_and(|c| c.timezone == Some(false));
    Some(match data_type {
        DataType::Text => Value::String(String::from_utf8(bytes.to_vec()).ok()?),
        DataType::Bigint => match bytes.len() {
            2 => Value::from(i16::from_be_bytes(bytes.try_into().ok()?)),
            4 => Value::from(i32::from_be_bytes(bytes.try_into().ok()?)),
            _ => Value::from(i64::from_be_bytes(bytes.try_into().ok()?)),
        },
        DataType::Timestamp if naive => {
            let micros =
                i64::from_be_bytes(bytes.try_into().ok()?).checked_add(POSTGRES_EPOCH_MICROS)?;
            let at = DateTime::from_timestamp_micros(micros)?.naive_utc();
            Value::String(at.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }
        DataType::Date => {
            let days = i32::from_be_bytes(bytes.try_into().ok()?);
            let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)?;
            let date = epoch.checked_add_signed(chrono::Duration::days(i64::from(days)))?;
            Value::String(date.format("%Y-%m-%d").to_string())
        }
        DataType::Time => {
            let micros = i64::from_be_bytes(bytes.try_into().ok()?);
            let time = chrono::NaiveTime::MIN
                .overflowing_add_signed(chrono::Duration::microseconds(micros))
                .0;
            Value::String(time.format("%H:%M:%S%.f").to_string())
        }
        DataType::Decimal | DataType::Wei => Value::String(decode_numeric(bytes)?),
        DataType::Binary => Value::String(format!(
            "0x{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )),
        DataType::Double => Value::Number(Number::from_f64(f64::from_be_bytes(
            bytes.try_into().ok()?,
        ))?),
        DataType::Bool => Value::Bool(*bytes.first()? != 0),
        DataType::Timestamp => {
            let micros =
                i64::from_be_bytes(bytes.try_into().ok()?).checked_add(POSTGRES_EPOCH_MICROS)?;
            let at = DateTime::from_timestamp_micros(micros)?;
            Value::String(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        DataType::Json => serde_json::from_slice(bytes.get(1..)?).ok()?,
    })
}

/// A binary `numeric` field as plain decimal text with its display scale.
fn decode_numeric(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<i16> {
        Some(i16::from_be_bytes(
            bytes.get(2 * i..2 * i + 2)?.try_into().ok()?,
        ))
    };
    let ndigits = usize::try_from(word(0)?).ok()?;
    let weight = i64::from(word(1)?);
    let negative = word(2)? as u16 == 0x4000;
    let dscale = usize::try_from(word(3)?).ok()?;
    let groups: Vec<i16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
    let mut int_part = String::new();
    let mut frac_part = String::new();
    for (i, g) in groups.iter().enumerate() {
        let position = weight - i as i64;
        let digits = format!("{g:04}");
        if position >= 0 {
            int_part.push_str(&digits);
        } else {
            if frac_part.is_empty() {
                frac_part.extend(std::iter::repeat_n('0', 4 * (-position - 1) as usize));
            }
            frac_part.push_str(&digits);
        }
    }
    if let Some(last_position) = weight.checked_sub(groups.len() as i64 - 1)
        && last_position > 0
    {
        int_part.extend(std::iter::repeat_n('0', 4 * last_position as usize));
    }
    let int_part = int_part.trim_start_matches('0');
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    frac_part.truncate(dscale);
    while frac_part.len() < dscale {
        frac_part.push('0');
    }
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac_part);
    }
    Some(out)
}
