//! dlt's resource hints: how rows are written (write disposition, merge strategy, scd2 options) and which
//! columns identify them (primary and merge keys, dedup sort, hard delete).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::foundation::error::{Error, Result};

/// How rows of a resource are written to its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WriteDisposition {
    /// Add the rows to what the table holds.
    #[default]
    Append,
    /// The table holds exactly this run's rows afterwards.
    Replace,
    /// Keep one row per primary key (and one batch per merge key): matching rows are replaced.
    Merge,
}

impl WriteDisposition {
    /// The valid names, as accepted by [`FromStr`].
    pub const NAMES: [&'static str; 3] = ["append", "replace", "merge"];

    /// The name as dlt spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteDisposition::Append => "append",
            WriteDisposition::Replace => "replace",
            WriteDisposition::Merge => "merge",
        }
    }
}

impl fmt::Display for WriteDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WriteDisposition {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "append" => Ok(WriteDisposition::Append),
            "replace" => Ok(WriteDisposition::Replace),
            "merge" => Ok(WriteDisposition::Merge),
            other => Err(Error::config(format!(
                "unknown write disposition `{other}`; expected one of `append`, `replace`, `merge`"
            ))),
        }
    }
}

/// How a merge writes its rows (dlt's merge strategies, §2.2-2.5 of the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MergeStrategy {
    /// Delete the destination rows whose primary or merge key is in the load, then insert the load's rows.
    #[default]
    DeleteInsert,
    /// Update rows with a known primary key in place, insert the others (needs a primary key).
    Upsert,
    /// Insert rows whose primary key is not in the destination yet, skip the others (needs a primary key).
    InsertOnly,
    /// Keep every version of a row: versions missing from the load are retired (`_dlt_valid_to` is set), new
    /// versions are inserted with `_dlt_valid_from`.
    Scd2,
}

impl MergeStrategy {
    /// The valid names, as accepted by [`FromStr`].
    pub const NAMES: [&'static str; 4] = ["delete-insert", "upsert", "insert-only", "scd2"];

    /// The name as dlt spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeStrategy::DeleteInsert => "delete-insert",
            MergeStrategy::Upsert => "upsert",
            MergeStrategy::InsertOnly => "insert-only",
            MergeStrategy::Scd2 => "scd2",
        }
    }

    /// Whether the strategy identifies rows by the primary key alone (and so requires one).
    pub fn needs_primary_key(self) -> bool {
        matches!(self, MergeStrategy::Upsert | MergeStrategy::InsertOnly)
    }
}

impl fmt::Display for MergeStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MergeStrategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "delete-insert" => Ok(MergeStrategy::DeleteInsert),
            "upsert" => Ok(MergeStrategy::Upsert),
            "insert-only" => Ok(MergeStrategy::InsertOnly),
            "scd2" => Ok(MergeStrategy::Scd2),
            other => Err(Error::config(format!(
                "unknown merge strategy `{other}`; expected one of `delete-insert`, `upsert`, `insert-only`, `scd2`"
            ))),
        }
    }
}

use super::schema::ColumnHints;
pub use super::schema::SortOrder;

/// Options of the `scd2` merge strategy (dlt's `validity_column_names`, `active_record_timestamp`,
/// `boundary_timestamp`, `row_version_column_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scd2 {
    /// The columns holding when a version became valid and when it was retired.
    pub validity_columns: (String, String),
    /// The "valid to" value of active versions; `None` (NULL) unless set.
    pub active_record_timestamp: Option<DateTime<Utc>>,
    /// The time versions are retired at and new ones become valid; the load's creation time unless set.
    pub boundary_timestamp: Option<DateTime<Utc>>,
    /// A column of the items that identifies a version; by default `_dlt_id` holds a hash of the whole item.
    pub row_version_column: Option<String>,
}

impl Default for Scd2 {
    fn default() -> Self {
        Scd2 {
            validity_columns: ("_dlt_valid_from".to_owned(), "_dlt_valid_to".to_owned()),
            active_record_timestamp: None,
            boundary_timestamp: None,
            row_version_column: None,
        }
    }
}

impl Scd2 {
    /// Names the validity columns (default `_dlt_valid_from`, `_dlt_valid_to`).
    pub fn validity_columns(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.validity_columns = (from.into(), to.into());
        self
    }
    /// Marks active versions with this "valid to" timestamp instead of NULL.
    pub fn active_record_timestamp(mut self, at: DateTime<Utc>) -> Self {
        self.active_record_timestamp = Some(at);
        self
    }
    /// Retires and validates versions at this time instead of the load's creation time.
    pub fn boundary_timestamp(mut self, at: DateTime<Utc>) -> Self {
        self.boundary_timestamp = Some(at);
        self
    }
    /// Uses this column of the items as the version identity instead of a hash of the item.
    pub fn row_version_column(mut self, column: impl Into<String>) -> Self {
        self.row_version_column = Some(column.into());
        self
    }
}

/// A possibly compound key: `"id"`, `("id", "url")`, `["a", "b"]`, or `()` for none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Key(pub Vec<String>);

impl Key {
    /// No key.
    pub fn none() -> Self {
        Key(Vec::new())
    }

    /// Whether no column is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The column names as given.
    pub fn columns(&self) -> &[String] {
        &self.0
    }

    /// Parses a comma-separated list as given on a command line: `id` or `id,url`.
    pub fn parse_list(s: &str) -> Self {
        Key(s
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

impl From<&str> for Key {
    fn from(c: &str) -> Self {
        Key(vec![c.to_owned()])
    }
}
impl From<String> for Key {
    fn from(c: String) -> Self {
        Key(vec![c])
    }
}
impl From<()> for Key {
    fn from(_: ()) -> Self {
        Key::none()
    }
}
impl From<Vec<String>> for Key {
    fn from(c: Vec<String>) -> Self {
        Key(c)
    }
}
impl From<Vec<&str>> for Key {
    fn from(c: Vec<&str>) -> Self {
        Key(c.into_iter().map(str::to_owned).collect())
    }
}
impl<const N: usize> From<[&str; N]> for Key {
    fn from(c: [&str; N]) -> Self {
        Key(c.iter().map(|s| (*s).to_owned()).collect())
    }
}
impl From<(&str, &str)> for Key {
    fn from((a, b): (&str, &str)) -> Self {
        Key(vec![a.to_owned(), b.to_owned()])
    }
}
impl From<(&str, &str, &str)> for Key {
    fn from((a, b, c): (&str, &str, &str)) -> Self {
        Key(vec![a.to_owned(), b.to_owned(), c.to_owned()])
    }
}

/// What a resource declares about the tables it writes: dlt's resource hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceHints {
    /// Resource name (the function name unless `name = "..."`); also the state key.
    pub name: String,
    /// Table name; the resource name when `None`.
    pub table_name: Option<String>,
    /// How rows are written.
    pub write_disposition: WriteDisposition,
    /// Columns identifying a row.
    pub primary_key: Key,
    /// Columns identifying a batch that a merge replaces as a whole.
    pub merge_key: Key,
    /// How many levels of nested objects and lists become columns and child tables; deeper ones stay json.
    pub max_table_nesting: Option<usize>,
    /// Write `_dlt_root_id` into child tables even when not merging.
    pub root_key: bool,
    /// How a merge writes rows (delete-insert unless set).
    pub merge_strategy: MergeStrategy,
    /// Options of the scd2 strategy.
    pub scd2: Scd2,
    /// A column whose value marks a row as deleted: a merge removes the key instead of loading the row.
    pub hard_delete: Option<String>,
    /// The column deciding which of several rows with the same primary key in one load is kept.
    pub dedup_sort: Option<(String, SortOrder)>,
    /// Column hints (dlt's `columns=`): types, nullability and the other hints of named columns.
    pub columns: ColumnHints,
    /// Column hints from the item type (`#[derive(ele::Item)]`): `columns` override them.
    pub type_columns: ColumnHints,
    /// Whether a source that holds the resource extracts it (dlt's `selected`); `true` by default.
    /// [`Source::with_resources`](crate::extract::source::Source::with_resources) selects exactly the resources it names.
    /// A resource run on its own, outside a source, always runs.
    pub selected: bool,
    /// dlt's `schema_contract`: what the resource's tables may change in the schema; the contract stored with
    /// the table (or none: everything evolves) when `None`.
    pub schema_contract: Option<crate::model::contract::SchemaContract>,
    /// How much of the resource a run extracts (dlt's `add_limit`); no limit by default.
    pub limit: ExtractLimit,
}

/// dlt's `refresh` modes of a run: what is dropped or emptied before the run loads, in its load transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshMode {
    /// Drops every table of the pipeline's schema (and removes them from the schema) and wipes the state of
    /// the run's source, its resources' included (dlt's `drop_sources`).
    DropSources,
    /// Drops the tables of the run's resources (and removes them from the schema) and wipes those resources'
    /// state; the source's own state stays (dlt's `drop_resources`).
    DropResources,
    /// Empties the tables of the run's resources and wipes their state; the schema stays (dlt's `drop_data`).
    DropData,
}

impl RefreshMode {
    /// dlt's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshMode::DropSources => "drop_sources",
            RefreshMode::DropResources => "drop_resources",
            RefreshMode::DropData => "drop_data",
        }
    }
}

impl fmt::Display for RefreshMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RefreshMode {
    type Err = Error;

    /// dlt's names: `drop_sources`, `drop_resources`, `drop_data`.
    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "drop_sources" => Ok(RefreshMode::DropSources),
            "drop_resources" => Ok(RefreshMode::DropResources),
            "drop_data" => Ok(RefreshMode::DropData),
            other => Err(Error::config(format!(
                "unknown refresh mode `{other}`: use `drop_sources`, `drop_resources` or `drop_data`"
            ))),
        }
    }
}

/// How much of a resource a run extracts (dlt's `add_limit`): the run stops the resource, as a normal end,
/// at the first yield (one `send`) that reaches `max_items` or arrives after `max_time`; that yield is still
/// loaded, unless `max_items` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtractLimit {
    /// How many yields (or rows, with `count_rows`) pass; `None`: no count limit.
    pub max_items: Option<u64>,
    /// How long after the resource starts items still pass; `None`: no time limit.
    pub max_time: Option<std::time::Duration>,
    /// Count rows instead of yields (dlt's `count_rows=True`).
    pub count_rows: bool,
}

impl ExtractLimit {
    /// Whether anything is limited.
    pub fn is_set(&self) -> bool {
        self.max_items.is_some() || self.max_time.is_some()
    }
}

impl ResourceHints {
    /// Hints with dlt's defaults: append, no keys.
    pub fn new(name: impl Into<String>) -> Self {
        ResourceHints {
            name: name.into(),
            table_name: None,
            write_disposition: WriteDisposition::Append,
            primary_key: Key::none(),
            merge_key: Key::none(),
            max_table_nesting: None,
            root_key: false,
            merge_strategy: MergeStrategy::DeleteInsert,
            scd2: Scd2::default(),
            hard_delete: None,
            dedup_sort: None,
            columns: ColumnHints::new(),
            type_columns: ColumnHints::new(),
            selected: true,
            schema_contract: None,
            limit: ExtractLimit::default(),
        }
    }

    /// The table the rows go to: the explicit table name, else the resource name.
    pub fn table(&self) -> &str {
        self.table_name.as_deref().unwrap_or(&self.name)
    }
}
