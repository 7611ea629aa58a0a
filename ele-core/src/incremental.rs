//! Incremental cursors: dlt's `dlt.sources.incremental`, bound by the runtime from the pipeline state.
//!
//! A resource declares `#[incremental(cursor = "created_at", initial_value = "...")] created_at: Incremental<T>`;
//! the runtime binds it from state when the resource starts, every item sent through the resource's
//! [`Emit`](crate::resource::Emit) passes its filter (dlt's rules, `dlt-semantics.md` §1.3 and §1.5: inclusive
//! start deduplicated by the previous run's boundary hashes, exclusive end), and the new last value and hashes
//! are committed with the data. With an `end_value` the run is stateless (a backfill chunk).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::hash;
use crate::resource::Key;

/// Above this many boundary hashes in the state a warning is logged (dlt's threshold).
pub const DUPLICATE_CURSOR_WARNING_THRESHOLD: usize = 200;
/// Environment variable capping the boundary hashes kept per cursor (off by default).
pub const MAX_HASHES_ENV: &str = "ELE_MAX_BOUNDARY_HASHES";

/// Environment variables carrying an external scheduler's interval (ele's names, then dlt's).
pub const INTERVAL_START_ENV: [&str; 2] = ["ELE_INTERVAL_START", "DLT_INTERVAL_START"];
/// See [`INTERVAL_START_ENV`].
pub const INTERVAL_END_ENV: [&str; 2] = ["ELE_INTERVAL_END", "DLT_INTERVAL_END"];

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

/// A custom last value function: `[row_value]` or `[row_value, last_value]` in, the new last value out.
pub type CustomLastValueFunc = Arc<dyn Fn(&[Value]) -> Value + Send + Sync>;

/// An external scheduler's interval: start, and end when given.
pub type Interval = (DateTime<Utc>, Option<DateTime<Utc>>);

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
    cursor_path: Option<String>,
    initial_value: Option<Value>,
    end_value: Option<Value>,
    last_value_func: Option<LastValueFunc>,
    primary_key: Option<Key>,
    allow_external_schedulers: Option<bool>,
    on_cursor_value_missing: Option<OnCursorValueMissing>,
    row_order: Option<RowOrder>,
    lag: Option<f64>,
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
                let lagged = apply_lag(lag, &last, &func).map_err(|m| {
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

#[derive(Debug, Clone)]
enum DedupKey {
    WholeRow,
    Columns(Vec<String>),
}

/// One step of a cursor path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Any,
}

/// A compiled cursor path: `field`, `a.b`, `$.a.b`, `$.items[*].ts`, `$`.
#[derive(Debug, Clone)]
struct CursorPath(Vec<Step>);

impl CursorPath {
    fn parse(path: &str) -> std::result::Result<CursorPath, String> {
        let trimmed = path.trim();
        if trimmed.is_empty() {
            return Err("the path is empty".into());
        }
        let rest = trimmed.strip_prefix('$').unwrap_or(trimmed);
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        let mut steps = Vec::new();
        if rest.is_empty() {
            return Ok(CursorPath(steps));
        }
        if !trimmed.starts_with('$') && !rest.contains(['.', '[']) {
            return Ok(CursorPath(vec![Step::Field(rest.to_owned())]));
        }
        for part in rest.split('.') {
            let (name, brackets) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                let name = name.trim_matches(|c| c == '"' || c == '\'');
                steps.push(Step::Field(if name == "*" {
                    return Err("`*` must be written `[*]`".into());
                } else {
                    name.to_owned()
                }));
            }
            let mut b = brackets;
            while let Some(open) = b.strip_prefix('[') {
                let close = open.find(']').ok_or("missing `]`")?;
                let inner = &open[..close];
                steps.push(if inner == "*" {
                    Step::Any
                } else if let Ok(i) = inner.parse::<usize>() {
                    Step::Index(i)
                } else {
                    Step::Field(inner.trim_matches(|c| c == '"' || c == '\'').to_owned())
                });
                b = &open[close + 1..];
            }
            if !b.is_empty() {
                return Err(format!("unexpected `{b}`"));
            }
        }
        Ok(CursorPath(steps))
    }

    /// The first value matched (`None` when absent).
    fn find<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        fn go<'v>(steps: &[Step], value: &'v Value) -> Option<&'v Value> {
            let Some((step, rest)) = steps.split_first() else {
                return Some(value);
            };
            match step {
                Step::Field(name) => go(rest, value.get(name)?),
                Step::Index(i) => go(rest, value.get(*i)?),
                Step::Any => match value {
                    Value::Array(items) => items.iter().find_map(|v| go(rest, v)),
                    Value::Object(map) => map.values().find_map(|v| go(rest, v)),
                    _ => None,
                },
            }
        }
        go(&self.0, value)
    }
}

/// The filter and running values of one bound incremental.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// With lag: the last value stored before the run, below which the new last value never goes.
    floor: Option<Value>,
    resource: String,
    cursor_path: String,
    path: CursorPath,
    compare: fn(&Value, &Value) -> Option<Ordering>,
    func: LastValueFunc,
    initial_value: Option<Value>,
    end_value: Option<Value>,
    start_value: Option<Value>,
    last_value: Option<Value>,
    dedup: Option<DedupKey>,
    start_hashes: HashSet<String>,
    hashes: HashSet<String>,
    /// Key values of rows at the last value whose hashes join `hashes` when the state is written (hashing
    /// every row that advances the cursor would cost a SHAKE-128 per row).
    pending: Vec<Value>,
    on_missing: OnCursorValueMissing,
    row_order: Option<RowOrder>,
    stateless: bool,
    saw_rows: bool,
    start_out_of_range: bool,
    end_out_of_range: bool,
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
                    Error::config(format!(
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
    fn dedup_value(&self, key: &DedupKey, item: &Value) -> Result<Value> {
        Ok(match key {
            DedupKey::WholeRow => item.clone(),
            DedupKey::Columns(columns) => {
                let mut values = Vec::with_capacity(columns.len());
                for column in columns {
                    match item.get(column) {
                        Some(v) => values.push(v.clone()),
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

    fn dedup_hash(&self, key: &DedupKey, item: &Value) -> Result<String> {
        Ok(hash::unique_value_hash(&self.dedup_value(key, item)?))
    }

    /// Remembers a row at the last value: its key for later hashing, or at once its hash when the whole row is
    /// the key (keeping the rows would cost more than hashing them).
    fn remember(&mut self, item: &Value) -> Result<()> {
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
    pub(crate) fn filter(&mut self, item: &Value) -> Result<Verdict> {
        let row_value = match self.path.find(item) {
            Some(v) if !v.is_null() => {
                if self.end_value.is_none() && !matches!(self.func, LastValueFunc::Custom(_)) {
                    return self.filter_open_ended(item, v);
                }
                v.clone()
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
    fn filter_open_ended(&mut self, item: &Value, row_value: &Value) -> Result<Verdict> {
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
                Error::config(format!(
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

/// Whether `func` (max or min) prefers `a` over `b` strictly; `None` for custom functions or incomparable values.
fn func_prefers(
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

/// dlt's `apply_lag`: moves `last` back by `lag` (forward for `min`): seconds for date-times, days for dates,
/// units for numbers (integers stay integers). Strings keep their format.
fn apply_lag(lag: f64, last: &Value, func: &LastValueFunc) -> std::result::Result<Value, String> {
    let sign = if matches!(func, LastValueFunc::Min) {
        1.0
    } else {
        -1.0
    };
    let shift = sign * lag;
    match last {
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

fn truncate(item: &Value) -> String {
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

/// The external scheduler interval from the environment, if both ends... or at least the start is given.
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
        crate::schema::detect::parse_iso_timestamp(text.trim())
            .or_else(|| crate::schema::detect::coerce_text_to_timestamp(text.trim()))
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
            .filter(|i| t.filter(i).expect("filters") == Verdict::Keep)
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

    #[test]
    fn cursor_paths() {
        let item = json!({"a": {"b": 1}, "items": [{"ts": 5}, {"ts": 6}]});
        assert_eq!(
            CursorPath::parse("a.b").expect("parses").find(&item),
            Some(&json!(1))
        );
        assert_eq!(
            CursorPath::parse("$.a.b").expect("parses").find(&item),
            Some(&json!(1))
        );
        assert_eq!(
            CursorPath::parse("$.items[*].ts")
                .expect("parses")
                .find(&item),
            Some(&json!(5))
        );
        assert_eq!(
            CursorPath::parse("$").expect("parses").find(&item),
            Some(&item)
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
            .filter(&json!({"id": 1, "ts": 5}))
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
