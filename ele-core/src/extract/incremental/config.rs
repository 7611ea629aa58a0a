//! What an incremental is configured with: cursor path, initial and end values, last-value function,
//! deduplication key, lag and the rules for missing cursor values and row order.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::model::hints::Key;

/// A custom last value function: `[row_value]` or `[row_value, last_value]` in, the new last value out.
pub type CustomLastValueFunc = Arc<dyn Fn(&[Value]) -> Value + Send + Sync>;

/// How the last value moves: dlt's `last_value_func`.
#[derive(Clone)]
pub enum LastValueFunc {
    /// The largest cursor value wins (the default).
    Max,
    /// The smallest cursor value wins; every bound is mirrored.
    Min,
    /// A custom function called with `[row_value]` or `[row_value, last_value]` (dlt's tuple), returning the
    /// new last value; e.g. a map of the newest value per event type with cursor `$`.
    Custom(CustomLastValueFunc),
}

impl LastValueFunc {
    /// A custom function.
    pub fn custom(f: fn(&[Value]) -> Value) -> Self {
        LastValueFunc::Custom(Arc::new(f))
    }
}

impl fmt::Debug for LastValueFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LastValueFunc::Max => "max",
            LastValueFunc::Min => "min",
            LastValueFunc::Custom(_) => "custom",
        })
    }
}

/// What happens to an item whose cursor is missing or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCursorValueMissing {
    /// Fail the run (the default).
    #[default]
    Raise,
    /// Keep the item; it does not move the last value.
    Include,
    /// Drop the item.
    Exclude,
}

/// Declared order of the items by cursor: lets the runtime end the resource once the rest is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrder {
    /// Ascending: ends after the first item at or past `end_value`.
    Asc,
    /// Descending: ends after the first item below the start value.
    Desc,
}

/// The settings of an incremental; every field optional so a call site can override some of the attribute's.
#[derive(Debug, Clone, Default)]
pub struct IncrementalConfig {
    pub(super) cursor_path: Option<String>,
    pub(super) initial_value: Option<Value>,
    pub(super) end_value: Option<Value>,
    pub(super) last_value_func: Option<LastValueFunc>,
    pub(super) primary_key: Option<Key>,
    pub(super) allow_external_schedulers: Option<bool>,
    pub(super) on_cursor_value_missing: Option<OnCursorValueMissing>,
    pub(super) row_order: Option<RowOrder>,
    pub(super) lag: Option<f64>,
}

impl IncrementalConfig {
    /// Nothing set.
    pub fn new() -> Self {
        Self::default()
    }
    /// The cursor: a field name, a nested path `item.ts`, a JSONPath `$.a.b` or `$.items[*].ts`, or `$`.
    pub fn cursor_path(mut self, path: impl Into<String>) -> Self {
        self.cursor_path = Some(path.into());
        self
    }
    /// The last value before the first run.
    pub fn initial_value(mut self, value: impl Serialize) -> Self {
        self.initial_value = serde_json::to_value(value).ok();
        self
    }
    /// Exclusive upper bound; makes the run stateless.
    pub fn end_value(mut self, value: impl Serialize) -> Self {
        self.end_value = serde_json::to_value(value).ok();
        self
    }
    /// How the last value moves.
    pub fn last_value_func(mut self, func: LastValueFunc) -> Self {
        self.last_value_func = Some(func);
        self
    }
    /// The boundary-dedup key; `()` disables dedup. The resource's primary key by default.
    pub fn primary_key(mut self, key: impl Into<Key>) -> Self {
        self.primary_key = Some(key.into());
        self
    }
    /// Take start and end from an external scheduler's interval when one is given.
    pub fn allow_external_schedulers(mut self, allow: bool) -> Self {
        self.allow_external_schedulers = Some(allow);
        self
    }
    /// What to do with items without a cursor value.
    pub fn on_cursor_value_missing(mut self, mode: OnCursorValueMissing) -> Self {
        self.on_cursor_value_missing = Some(mode);
        self
    }
    /// Declared order of the items.
    pub fn row_order(mut self, order: RowOrder) -> Self {
        self.row_order = Some(order);
        self
    }
    /// Re-fetch a window behind the last value (seconds, days or units).
    pub fn lag(mut self, lag: f64) -> Self {
        self.lag = Some(lag);
        self
    }

    /// Whether an end value is set (the run is then a stateless backfill chunk).
    pub fn has_end_value(&self) -> bool {
        self.end_value.is_some()
    }

    /// The cursor path, if set.
    pub fn cursor_path_str(&self) -> Option<&str> {
        self.cursor_path.as_deref()
    }

    /// `self`'s settings, with `base`'s where `self` has none.
    pub fn merged_over(self, base: &IncrementalConfig) -> IncrementalConfig {
        IncrementalConfig {
            cursor_path: self.cursor_path.or_else(|| base.cursor_path.clone()),
            initial_value: self.initial_value.or_else(|| base.initial_value.clone()),
            end_value: self.end_value.or_else(|| base.end_value.clone()),
            last_value_func: self
                .last_value_func
                .or_else(|| base.last_value_func.clone()),
            primary_key: self.primary_key.or_else(|| base.primary_key.clone()),
            allow_external_schedulers: self
                .allow_external_schedulers
                .or(base.allow_external_schedulers),
            on_cursor_value_missing: self
                .on_cursor_value_missing
                .or(base.on_cursor_value_missing),
            row_order: self.row_order.or(base.row_order),
            lag: self.lag.or(base.lag),
        }
    }
}
