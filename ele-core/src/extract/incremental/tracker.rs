//! The incremental filter of one bound cursor: which items pass, the new last value and the boundary hashes
//! that deduplicate the next run's inclusive start.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::config::{LastValueFunc, OnCursorValueMissing, RowOrder};
use super::cursor_path::CursorPath;
use super::lag::func_prefers;
use crate::foundation::doc::JsonRef;
use crate::foundation::error::{Error, Result};
use crate::foundation::hash;

/// Above this many boundary hashes in the state a warning is logged (dlt's threshold).
pub const DUPLICATE_CURSOR_WARNING_THRESHOLD: usize = 200;
/// Environment variable capping the boundary hashes kept per cursor (off by default).
pub const MAX_HASHES_ENV: &str = "ELE_MAX_BOUNDARY_HASHES";

#[derive(Debug, Clone)]
pub(crate) enum DedupKey {
    WholeRow,
    Columns(Vec<String>),
}

/// The filter and running values of one bound incremental.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// With lag: the last value stored before the run, below which the new last value never goes.
    pub(super) floor: Option<Value>,
    pub(super) resource: String,
    pub(super) cursor_path: String,
    pub(super) path: CursorPath,
    pub(super) compare: fn(&Value, &Value) -> Option<Ordering>,
    pub(super) func: LastValueFunc,
    pub(super) initial_value: Option<Value>,
    pub(super) end_value: Option<Value>,
    pub(super) start_value: Option<Value>,
    pub(super) last_value: Option<Value>,
    pub(super) dedup: Option<DedupKey>,
    pub(super) start_hashes: HashSet<String>,
    pub(super) hashes: HashSet<String>,
    /// Key values of rows at the last value whose hashes join `hashes` when the state is written (hashing
    /// every row that advances the cursor would cost a SHAKE-128 per row).
    pub(super) pending: Vec<Value>,
    pub(super) on_missing: OnCursorValueMissing,
    pub(super) row_order: Option<RowOrder>,
    pub(super) stateless: bool,
    pub(super) saw_rows: bool,
    pub(super) start_out_of_range: bool,
    pub(super) end_out_of_range: bool,
}

/// The outcome of filtering one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Load it.
    Keep,
    /// Filter it out.
    Drop,
}

impl Tracker {
    /// The cursor path as declared (the state key).
    pub(crate) fn cursor_path(&self) -> &str {
        &self.cursor_path
    }

    /// The column the cursor path names, when it names one (not normalized).
    pub(crate) fn cursor_column(&self) -> Option<String> {
        CursorPath::column_name(&self.cursor_path)
    }

    /// Whether the run reads and writes no state.
    pub(crate) fn is_stateless(&self) -> bool {
        self.stateless
    }

    /// Whether the resource can be closed: declared order says the rest is out of range.
    pub(crate) fn can_close(&self) -> bool {
        match self.row_order {
            Some(RowOrder::Asc) => self.end_out_of_range,
            Some(RowOrder::Desc) => self.start_out_of_range,
            None => false,
        }
    }

    fn equal(&self, a: &Value, b: &Value) -> bool {
        match (self.compare)(a, b) {
            Some(o) => o == Ordering::Equal,
            None => a == b,
        }
    }

    fn opt_equal(&self, a: Option<&Value>, b: Option<&Value>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => self.equal(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// Applies the last value function to `values` (`[row]` or `[row, other]`).
    fn apply(&self, values: &[Value], other_name: &str) -> Result<Value> {
        match &self.func {
            LastValueFunc::Custom(f) => Ok(f(values)),
            func => {
                let [row, other] = values else {
                    return Ok(values.first().cloned().unwrap_or(Value::Null));
                };
                let ordering = (self.compare)(row, other).ok_or_else(|| {
                    Error::input(format!(
                        "resource `{}`: cursor `{}` value {row} cannot be compared with {other_name} {other}: the types differ",
                        self.resource, self.cursor_path
                    ))
                })?;
                let row_wins = match func {
                    LastValueFunc::Max => ordering == Ordering::Greater,
                    _ => ordering == Ordering::Less,
                };
                Ok(if row_wins { row.clone() } else { other.clone() })
            }
        }
    }

    /// The value deduplication hashes: the key column(s), or the whole row.
    fn dedup_value(&self, key: &DedupKey, item: JsonRef<'_>) -> Result<Value> {
        Ok(match key {
            DedupKey::WholeRow => item.to_value(),
            DedupKey::Columns(columns) => {
                let mut values = Vec::with_capacity(columns.len());
                for column in columns {
                    match item.get(column) {
                        Some(v) => values.push(v.to_value()),
                        None => {
                            return Err(Error::Item {
                                resource: self.resource.clone(),
                                table: String::new(),
                                message: format!(
                                    "the incremental on `{}` deduplicates by `{column}`, which the item lacks: {}",
                                    self.cursor_path,
                                    truncate(item)
                                ),
                            });
                        }
                    }
                }
                if values.len() == 1 {
                    values.pop().unwrap_or(Value::Null)
                } else {
                    Value::Array(values)
                }
            }
        })
    }

    fn dedup_hash(&self, key: &DedupKey, item: JsonRef<'_>) -> Result<String> {
        Ok(match key {
            // (the whole item hashed as it is, not copied first)
            DedupKey::WholeRow => hash::unique_value_hash_ref(item),
            DedupKey::Columns(_) => hash::unique_value_hash(&self.dedup_value(key, item)?),
        })
    }

    /// Remembers a row at the last value: its key for later hashing, or at once its hash when the whole row is
    /// the key (keeping the rows would cost more than hashing them).
    fn remember(&mut self, item: JsonRef<'_>) -> Result<()> {
        match &self.dedup {
            None => {}
            Some(key @ DedupKey::WholeRow) => {
                let h = self.dedup_hash(key, item)?;
                self.hashes.insert(h);
            }
            Some(key @ DedupKey::Columns(_)) => {
                let v = self.dedup_value(key, item)?;
                self.pending.push(v);
            }
        }
        Ok(())
    }

    /// dlt's `JsonIncremental.__call__` for one item.
    pub(crate) fn filter(&mut self, item: JsonRef<'_>) -> Result<Verdict> {
        let row_value = match self.path.find(item) {
            Some(v) if !v.is_null() => {
                // Only the cursor is needed as a `Value` (borrowed when the item is one).
                let v = match v {
                    JsonRef::Value(v) => std::borrow::Cow::Borrowed(v),
                    doc => std::borrow::Cow::Owned(doc.to_value()),
                };
                if self.end_value.is_none() && !matches!(self.func, LastValueFunc::Custom(_)) {
                    return self.filter_open_ended(item, &v);
                }
                v.into_owned()
            }
            found => {
                return match self.on_missing {
                    OnCursorValueMissing::Raise => Err(Error::Item {
                        resource: self.resource.clone(),
                        table: String::new(),
                        message: if found.is_some() {
                            format!(
                                "cursor `{}` is null in item {}",
                                self.cursor_path,
                                truncate(item)
                            )
                        } else {
                            format!(
                                "cursor `{}` is missing in item {}",
                                self.cursor_path,
                                truncate(item)
                            )
                        },
                    }),
                    OnCursorValueMissing::Exclude => {
                        self.start_out_of_range = false;
                        self.end_out_of_range = false;
                        Ok(Verdict::Drop)
                    }
                    OnCursorValueMissing::Include => {
                        self.start_out_of_range = false;
                        self.end_out_of_range = false;
                        Ok(Verdict::Keep)
                    }
                };
            }
        };
        if let Some(end) = self.end_value.clone() {
            let winner = self.apply(&[row_value.clone(), end.clone()], "end_value")?;
            let past = !self.equal(&winner, &end);
            let at_end = self.equal(
                &self.apply(std::slice::from_ref(&row_value), "end_value")?,
                &end,
            );
            if past || at_end {
                self.start_out_of_range = false;
                self.end_out_of_range = true;
                return Ok(Verdict::Drop);
            }
        }
        let new_value = match &self.last_value {
            Some(last) => self.apply(
                &[row_value.clone(), last.clone()],
                "start_value/initial_value",
            )?,
            None => self.apply(
                std::slice::from_ref(&row_value),
                "start_value/initial_value",
            )?,
        };
        self.end_out_of_range = false;
        if self.opt_equal(self.last_value.as_ref(), Some(&new_value)) {
            let processed = self.apply(std::slice::from_ref(&row_value), "start_value")?;
            let start_check = match &self.start_value {
                Some(start) => self.apply(&[row_value.clone(), start.clone()], "start_value")?,
                None => self.apply(std::slice::from_ref(&row_value), "start_value")?,
            };
            if self.opt_equal(Some(&start_check), self.start_value.as_ref()) {
                if self.opt_equal(Some(&processed), self.start_value.as_ref()) {
                    if let Some(key) = &self.dedup {
                        let h = self.dedup_hash(key, item)?;
                        if self.start_hashes.contains(&h) {
                            self.start_out_of_range = true;
                            return Ok(Verdict::Drop);
                        }
                    }
                } else {
                    self.start_out_of_range = true;
                    return Ok(Verdict::Drop);
                }
            }
            if self.opt_equal(Some(&processed), self.last_value.as_ref()) {
                self.remember(item)?;
            }
        } else {
            self.last_value = Some(new_value);
            if self.dedup.is_some() {
                self.hashes.clear();
                self.pending.clear();
                self.remember(item)?;
            }
        }
        self.start_out_of_range = false;
        self.saw_rows = true;
        Ok(Verdict::Keep)
    }

    /// [`Tracker::filter`] for `max`/`min` without an end value, the common case: the same decisions, made on
    /// borrowed values (only a new last value is cloned).
    fn filter_open_ended(&mut self, item: JsonRef<'_>, row_value: &Value) -> Result<Verdict> {
        let max = matches!(self.func, LastValueFunc::Max);
        let wins = |ordering: Ordering| {
            if max {
                ordering == Ordering::Greater
            } else {
                ordering == Ordering::Less
            }
        };
        let compare = |other: &Value, other_name: &str| {
            (self.compare)(row_value, other).ok_or_else(|| {
                Error::input(format!(
                    "resource `{}`: cursor `{}` value {row_value} cannot be compared with {other_name} {other}: the types differ",
                    self.resource, self.cursor_path
                ))
            })
        };
        let is_new = match &self.last_value {
            Some(last) => wins(compare(last, "start_value/initial_value")?),
            None => true,
        };
        self.end_out_of_range = false;
        if is_new {
            self.last_value = Some(row_value.clone());
            if self.dedup.is_some() {
                self.hashes.clear();
                self.pending.clear();
                self.remember(item)?;
            }
        } else {
            if let Some(start) = &self.start_value {
                let ordering = compare(start, "start_value")?;
                if !wins(ordering) {
                    if ordering != Ordering::Equal {
                        self.start_out_of_range = true;
                        return Ok(Verdict::Drop);
                    }
                    if let Some(key) = &self.dedup {
                        let h = self.dedup_hash(key, item)?;
                        if self.start_hashes.contains(&h) {
                            self.start_out_of_range = true;
                            return Ok(Verdict::Drop);
                        }
                    }
                }
            }
            if self.opt_equal(Some(row_value), self.last_value.as_ref()) {
                self.remember(item)?;
            }
        }
        self.start_out_of_range = false;
        self.saw_rows = true;
        Ok(Verdict::Keep)
    }

    /// The state entry after the run, as dlt stores it under `incremental.<cursor_path>`.
    pub(crate) fn state_entry(&self, previous: Option<&Map<String, Value>>) -> Value {
        let mut entry = previous.cloned().unwrap_or_default();
        entry
            .entry("initial_value")
            .or_insert_with(|| self.initial_value.clone().unwrap_or(Value::Null));
        let last_value = match (&self.floor, &self.last_value) {
            (Some(floor), Some(last))
                if func_prefers(&self.func, self.compare, floor, last) == Some(true) =>
            {
                Some(floor.clone())
            }
            (Some(floor), None) => Some(floor.clone()),
            (_, last) => last.clone(),
        };
        entry.insert("last_value".into(), last_value.unwrap_or(Value::Null));
        let pending: HashSet<String> = self
            .pending
            .iter()
            .map(hash::unique_value_hash)
            .filter(|h| !self.hashes.contains(h))
            .collect();
        let mut hashes: Vec<&String> = if self.dedup.is_some() {
            self.hashes.iter().chain(&pending).collect()
        } else {
            Vec::new()
        };
        hashes.sort();
        if hashes.len() > DUPLICATE_CURSOR_WARNING_THRESHOLD {
            tracing::warn!(
                resource = %self.resource,
                cursor = %self.cursor_path,
                hashes = hashes.len(),
                "many rows share the last cursor value; their boundary hashes are kept in the state. Use a finer \
                 cursor, `primary_key = ()` to turn deduplication off, or cap them with {MAX_HASHES_ENV}"
            );
        }
        if let Some(cap) = std::env::var(MAX_HASHES_ENV)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            // Beyond the cap, rows at the boundary value may be loaded again on the next run: merge absorbs that.
            hashes.truncate(cap);
        }
        entry.insert("unique_hashes".into(), json!(hashes));
        if self.saw_rows {
            // With lag, dlt records the last value the run started from, not the lagged start.
            let start = self.floor.as_ref().or(self.start_value.as_ref());
            entry.insert("start_value".into(), start.cloned().unwrap_or(Value::Null));
        }
        Value::Object(entry)
    }
}

fn truncate(item: JsonRef<'_>) -> String {
    let text = item.to_string();
    if text.len() <= 200 {
        return text;
    }
    let mut cut = 200;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}
