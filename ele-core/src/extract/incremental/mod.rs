//! Incremental cursors: dlt's `dlt.sources.incremental`, bound by the runtime from the pipeline state.
//!
//! A resource declares `#[incremental(cursor = "created_at", initial_value = "...")] created_at: Incremental<T>`;
//! the runtime binds it from state when the resource starts, every item sent through the resource's
//! [`Emit`](crate::extract::resource::Emit) passes its filter (dlt's rules, `dlt-semantics.md` §1.3 and §1.5: inclusive
//! start deduplicated by the previous run's boundary hashes, exclusive end), and the new last value and hashes
//! are committed with the data. With an `end_value` the run is stateless (a backfill chunk).

mod config;
mod cursor;
#[cfg(any(feature = "jiff", feature = "rust_decimal"))]
mod cursor_crates;
mod cursor_path;
mod lag;
mod tracker;

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::foundation::error::{Error, Result};
use crate::model::hints::Key;
use crate::model::interval::Interval;
pub use config::{
    CustomLastValueFunc, IncrementalConfig, LastValueFunc, OnCursorValueMissing, RowOrder,
};
pub use cursor::Cursor;
use cursor_path::CursorPath;
use lag::{apply_lag, func_prefers};
pub(crate) use tracker::{DedupKey, Tracker, Verdict};

/// An incremental cursor of type `T`: created at a call site with [`Incremental::new`] to override the
/// attribute, bound by the runtime when the resource runs. Read `start_value()`, `last_value()` (moves as items
/// pass `send`), `end_value()` and the out-of-range flags inside the resource body.
pub struct Incremental<T = Value> {
    config: IncrementalConfig,
    bound: Option<Arc<Mutex<Tracker>>>,
    _cursor: PhantomData<fn() -> T>,
}

impl<T> Clone for Incremental<T> {
    fn clone(&self) -> Self {
        Incremental {
            config: self.config.clone(),
            bound: self.bound.clone(),
            _cursor: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Incremental<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incremental")
            .field("config", &self.config)
            .finish()
    }
}

macro_rules! forward_setters {
    ($($(#[$doc:meta])* $setter:ident => $name:ident($arg:ident: $ty:ty);)*) => {$(
        $(#[$doc])*
        pub fn $setter(mut self, $arg: $ty) -> Self {
            self.config = self.config.$name($arg);
            self
        }
    )*};
}

impl<T> Incremental<T> {
    /// The settings.
    pub fn config(&self) -> &IncrementalConfig {
        &self.config
    }
}

impl<T: Cursor> Incremental<T> {
    /// An incremental on `cursor_path` (see [`IncrementalConfig::cursor_path`]).
    pub fn new(cursor_path: impl Into<String>) -> Self {
        Self::from_config(IncrementalConfig::new().cursor_path(cursor_path))
    }

    /// An incremental with only the settings given, e.g. a backfill chunk of the seed's
    /// `july_issues`: `Incremental::from_config(IncrementalConfig::new().initial_value(..).end_value(..))`.
    pub fn from_config(config: IncrementalConfig) -> Self {
        Incremental {
            config,
            bound: None,
            _cursor: PhantomData,
        }
    }

    forward_setters! {
        /// The last value before the first run.
        with_initial_value => initial_value(value: impl Serialize);
        /// Exclusive upper bound; makes the run stateless (a backfill chunk).
        with_end_value => end_value(value: impl Serialize);
        /// How the last value moves.
        with_last_value_func => last_value_func(func: LastValueFunc);
        /// The boundary-dedup key; `()` disables dedup.
        with_primary_key => primary_key(key: impl Into<Key>);
        /// Take start and end from an external scheduler's interval.
        with_allow_external_schedulers => allow_external_schedulers(allow: bool);
        /// What to do with items without a cursor value.
        with_on_cursor_value_missing => on_cursor_value_missing(mode: OnCursorValueMissing);
        /// Declared order of the items.
        with_row_order => row_order(order: RowOrder);
    }

    /// A call-site override with only a range, e.g. the seed's `july_issues`: initial value (inclusive) and end
    /// value (exclusive); the cursor and the rest come from the attribute.
    pub fn range(initial_value: impl Serialize, end_value: impl Serialize) -> Self {
        Self::from_config(
            IncrementalConfig::new()
                .initial_value(initial_value)
                .end_value(end_value),
        )
    }

    fn tracker(&self) -> Option<MutexGuard<'_, Tracker>> {
        self.bound
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn typed(value: Option<Value>) -> Option<T> {
        value.and_then(|v| serde_json::from_value(v).ok())
    }

    /// The last value of the previous run (or the initial value): fixed during a run.
    pub fn start_value(&self) -> Option<T> {
        match self.tracker() {
            Some(t) => Self::typed(t.start_value.clone()),
            None => Self::typed(self.config.initial_value.clone()),
        }
    }

    /// The last value so far, updated with every item that passes `send`.
    pub fn last_value(&self) -> Option<T> {
        match self.tracker() {
            Some(t) => Self::typed(t.last_value.clone()),
            None => Self::typed(self.config.initial_value.clone()),
        }
    }

    /// The initial value as configured.
    pub fn initial_value_of(&self) -> Option<T> {
        Self::typed(self.config.initial_value.clone())
    }

    /// The exclusive end of a backfill chunk.
    pub fn end_value(&self) -> Option<T> {
        match self.tracker() {
            Some(t) => Self::typed(t.end_value.clone()),
            None => Self::typed(self.config.end_value.clone()),
        }
    }

    /// Whether the last item sent was below the start value (above it for `min`): with items ordered
    /// newest first, the rest is out of range too.
    pub fn start_out_of_range(&self) -> bool {
        self.tracker().is_some_and(|t| t.start_out_of_range)
    }

    /// Whether the last item sent was at or past `end_value`.
    pub fn end_out_of_range(&self) -> bool {
        self.tracker().is_some_and(|t| t.end_out_of_range)
    }

    /// Binds to a run: `resource`'s state entry for the cursor (`None` when stateless), the resource's key.
    pub(crate) fn bind(
        config: IncrementalConfig,
        resource: &str,
        resource_key: &Key,
        stored: Option<&Map<String, Value>>,
        interval: Option<Interval>,
    ) -> Result<(Incremental<T>, Arc<Mutex<Tracker>>)> {
        let cursor_path = config.cursor_path.clone().ok_or_else(|| {
            Error::config(format!(
                "resource `{resource}`: an incremental has no cursor path; give `cursor = \"...\"` in `#[incremental]` or use `Incremental::new(\"field\")`"
            ))
        })?;
        let path = CursorPath::parse(&cursor_path).map_err(|m| {
            Error::config(format!(
                "resource `{resource}`: invalid cursor path `{cursor_path}`: {m}"
            ))
        })?;
        let mut initial_value = config.initial_value.clone();
        let mut end_value = config.end_value.clone();
        if config.allow_external_schedulers == Some(true)
            && let Some((start, end)) = interval
        {
            // The seed's rules: a missing or future end, or an end equal to the start (a manual run), is now.
            let now = Utc::now();
            let end = match end {
                Some(e) if e <= now && e != start => e,
                _ => now,
            };
            let convert = |instant| {
                T::from_instant(instant, config.initial_value.as_ref()).ok_or_else(|| {
                    Error::config(format!(
                        "resource `{resource}`: cursor `{cursor_path}` cannot take a scheduler interval; use a date-time, string or integer cursor"
                    ))
                })
            };
            initial_value = Some(convert(start)?);
            end_value = Some(convert(end)?);
        }
        let func = config.last_value_func.clone().unwrap_or(LastValueFunc::Max);
        let dedup_key = match &config.primary_key {
            Some(k) if k.is_empty() => None,
            Some(k) => Some(DedupKey::Columns(k.columns().to_vec())),
            None if resource_key.is_empty() => Some(DedupKey::WholeRow),
            None => Some(DedupKey::Columns(resource_key.columns().to_vec())),
        };
        let stateless = end_value.is_some();
        if stateless && initial_value.is_none() {
            return Err(Error::config(format!(
                "resource `{resource}`: incremental `{cursor_path}` has an end_value but no initial_value"
            )));
        }
        let (start_value, start_hashes) = match (stateless, stored) {
            (false, Some(state)) if state.contains_key("last_value") => (
                state.get("last_value").cloned().filter(|v| !v.is_null()),
                state
                    .get("unique_hashes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|h| h.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => (initial_value.clone(), HashSet::new()),
        };
        // Lag (§1.9): start a window behind the last value; the stored last value stays the floor of the new one.
        let mut floor = None;
        let start_value = match (config.lag, start_value) {
            (Some(lag), Some(last))
                if end_value.is_none()
                    && matches!(func, LastValueFunc::Max | LastValueFunc::Min) =>
            {
                let lagged = apply_lag(lag, &last, &func, T::shift).map_err(|m| {
                    Error::config(format!(
                        "resource `{resource}`: cannot apply lag {lag} to the last value of `{cursor_path}`: {m}"
                    ))
                })?;
                // The window never reaches below the initial value.
                let lagged = match &initial_value {
                    Some(initial)
                        if func_prefers(&func, T::compare, initial, &lagged) == Some(true) =>
                    {
                        initial.clone()
                    }
                    _ => lagged,
                };
                floor = Some(last);
                Some(lagged)
            }
            (Some(_), start) if end_value.is_some() => {
                tracing::info!(resource = %resource, cursor = %cursor_path, "lag is off for a run with an end value");
                start
            }
            (_, start) => start,
        };
        let tracker = Tracker {
            floor,
            resource: resource.to_owned(),
            cursor_path: cursor_path.clone(),
            path,
            compare: T::compare,
            func,
            initial_value: initial_value.clone(),
            end_value: end_value.clone(),
            last_value: start_value.clone(),
            start_value,
            dedup: if stateless || config.lag.is_some() {
                None
            } else {
                dedup_key
            },
            start_hashes: start_hashes.clone(),
            hashes: start_hashes,
            pending: Vec::new(),
            on_missing: config.on_cursor_value_missing.unwrap_or_default(),
            row_order: config.row_order,
            stateless,
            saw_rows: false,
            start_out_of_range: false,
            end_out_of_range: false,
        };
        let tracker = Arc::new(Mutex::new(tracker));
        let mut config = config;
        config.initial_value = initial_value;
        config.end_value = end_value;
        Ok((
            Incremental {
                config,
                bound: Some(Arc::clone(&tracker)),
                _cursor: PhantomData,
            },
            tracker,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tracker(
        config: IncrementalConfig,
        stored: Option<Map<String, Value>>,
    ) -> Arc<Mutex<Tracker>> {
        Incremental::<Value>::bind(config, "r", &Key::from("id"), stored.as_ref(), None)
            .expect("binds")
            .1
    }

    fn run(t: &Arc<Mutex<Tracker>>, items: &[Value]) -> Vec<i64> {
        let mut t = t.lock().expect("lock");
        items
            .iter()
            .filter(|i| {
                t.filter(crate::foundation::doc::JsonRef::Value(i))
                    .expect("filters")
                    == Verdict::Keep
            })
            .filter_map(|i| i["id"].as_i64())
            .collect()
    }

    #[test]
    fn inclusive_start_deduplicated_by_previous_hashes() {
        let cfg = IncrementalConfig::new().cursor_path("ts").initial_value(0);
        let first = tracker(cfg.clone(), None);
        let kept = run(
            &first,
            &[
                json!({"id": 1, "ts": 1}),
                json!({"id": 2, "ts": 2}),
                json!({"id": 3, "ts": 2}),
            ],
        );
        assert_eq!(kept, [1, 2, 3]);
        let state = first.lock().expect("lock").state_entry(None);
        assert_eq!(state["last_value"], json!(2));
        assert_eq!(state["unique_hashes"].as_array().map(Vec::len), Some(2));
        let second = tracker(cfg, state.as_object().cloned());
        let kept = run(
            &second,
            &[
                json!({"id": 2, "ts": 2}),
                json!({"id": 4, "ts": 2}),
                json!({"id": 0, "ts": 1}),
                json!({"id": 5, "ts": 3}),
            ],
        );
        assert_eq!(kept, [4, 5]);
    }

    #[test]
    fn end_value_is_exclusive_and_min_mirrors() {
        let cfg = IncrementalConfig::new()
            .cursor_path("ts")
            .initial_value(10)
            .end_value(20);
        let t = tracker(cfg, None);
        assert_eq!(
            run(
                &t,
                &[
                    json!({"id": 1, "ts": 10}),
                    json!({"id": 2, "ts": 19}),
                    json!({"id": 3, "ts": 20})
                ]
            ),
            [1, 2]
        );
        assert!(t.lock().expect("lock").end_out_of_range);
        let cfg = IncrementalConfig::new()
            .cursor_path("ts")
            .initial_value(10)
            .last_value_func(LastValueFunc::Min);
        let t = tracker(cfg, None);
        assert_eq!(
            run(
                &t,
                &[
                    json!({"id": 1, "ts": 11}),
                    json!({"id": 2, "ts": 9}),
                    json!({"id": 3, "ts": 10})
                ]
            ),
            [2, 3]
        );
    }

    #[test]
    fn mismatched_types_name_both_values() {
        let t = tracker(
            IncrementalConfig::new()
                .cursor_path("ts")
                .initial_value("2024-01-01"),
            None,
        );
        let err = t
            .lock()
            .expect("lock")
            .filter(crate::foundation::doc::JsonRef::Value(
                &json!({"id": 1, "ts": 5}),
            ))
            .expect_err("fails");
        let text = err.to_string();
        assert!(
            text.contains("resource `r`")
                && text.contains("`ts`")
                && text.contains('5')
                && text.contains("2024-01-01"),
            "{text}"
        );
    }
}
