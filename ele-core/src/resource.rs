//! Resources: what a `#[resource]` function becomes, their hints, and the [`Emit`] handle items leave through.
//!
//! # Why an emitter and not `yield`
//! Stable Rust rejects `yield` in any function body, even under an attribute macro that would rewrite it
//! (E0658 is raised before expansion), and `gen`/`async gen` blocks are unstable. A resource body therefore
//! sends its items through an explicit `out: Emit<T>` parameter: `out.send(page).await?`. The parameter keeps
//! the item type visible to the macro (which checks keys and cursors against it) and to rust-analyzer, a type
//! mistake is reported on the user's own expression, and `send` is the place where the incremental filter
//! runs, so `last_value()` and the out-of-range flags are current when it returns.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::incremental::{Cursor, Incremental, IncrementalConfig, Interval, Tracker, Verdict};
use crate::state::{ResourceState, SourceState};

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

/// Which of several rows with the same primary key in one load is kept (dlt's `dedup_sort` column hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// The row with the lowest value wins.
    Asc,
    /// The row with the highest value wins.
    #[default]
    Desc,
}

impl FromStr for SortOrder {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "asc" => Ok(SortOrder::Asc),
            "desc" => Ok(SortOrder::Desc),
            other => Err(Error::config(format!(
                "unknown sort order `{other}`; expected `asc` or `desc`"
            ))),
        }
    }
}

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
    /// Whether a source that holds the resource extracts it (dlt's `selected`); `true` by default.
    /// [`Source::with_resources`](crate::source::Source::with_resources) selects exactly the resources it names.
    /// A resource run on its own, outside a source, always runs.
    pub selected: bool,
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
            selected: true,
        }
    }

    /// The table the rows go to: the explicit table name, else the resource name.
    pub fn table(&self) -> &str {
        self.table_name.as_deref().unwrap_or(&self.name)
    }
}

/// A resource: a value that, when run, produces items of type [`Resource::Item`] through an [`Emit`].
///
/// `#[resource]` generates a struct implementing this trait from an async function; [`FnResource`] and
/// [`items`] make one from a closure or a plain iterator.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an ele resource",
    label = "expected a resource value",
    note = "annotate an async fn with `#[ele::resource]` and call it, or wrap items with `ele::items(...)`"
)]
pub trait Resource: Send + 'static {
    /// The type of one item; any `serde::Serialize` type, or `serde_json::Value`.
    type Item: Serialize + Send + 'static;

    /// The resource's hints.
    fn hints(&self) -> &ResourceHints;

    /// The resource's hints, to change them before a run.
    fn hints_mut(&mut self) -> &mut ResourceHints;

    /// Runs the resource body, sending items to `out`.
    fn extract(self, out: Emit<Self::Item>) -> BoxFuture<'static, Result<()>>;

    /// The table of each item when it depends on the item (dlt's `table_name=lambda i: i["type"]`).
    fn table_name_fn(&self) -> Option<TableNameFn<Self::Item>> {
        None
    }

    /// Whether this run of the resource is a stateless backfill chunk: every incremental has an end value and
    /// no other state is used. Such runs take no pipeline lock. `#[resource]` answers from its parameters.
    fn backfill_only(&self) -> bool {
        false
    }

    /// The resource this one wraps (as [`ResourceExt::table_name_fn`] does), so that a source's typed accessors
    /// find it inside the wrapper.
    #[doc(hidden)]
    fn wrapped_mut(&mut self) -> Option<&mut dyn DynResource> {
        None
    }
}

/// A function choosing the table of an item.
pub type TableNameFn<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// A resource whose table is chosen per item; see [`ResourceExt::table_name_fn`].
pub struct Dispatched<R: Resource> {
    inner: R,
    table_name: TableNameFn<R::Item>,
}

impl<R: Resource> Resource for Dispatched<R> {
    type Item = R::Item;

    fn hints(&self) -> &ResourceHints {
        self.inner.hints()
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        self.inner.hints_mut()
    }

    fn extract(self, out: Emit<Self::Item>) -> BoxFuture<'static, Result<()>> {
        self.inner.extract(out)
    }

    fn table_name_fn(&self) -> Option<TableNameFn<Self::Item>> {
        Some(Arc::clone(&self.table_name))
    }

    fn backfill_only(&self) -> bool {
        self.inner.backfill_only()
    }

    fn wrapped_mut(&mut self) -> Option<&mut dyn DynResource> {
        Some(&mut self.inner)
    }
}

/// Builder methods to change a resource's hints; available on every [`Resource`].
pub trait ResourceExt: Resource + Sized {
    /// Renames the resource (and its default table).
    fn name(mut self, name: impl Into<String>) -> Self {
        self.hints_mut().name = name.into();
        self
    }
    /// Sets the table the rows go to.
    fn table_name(mut self, table: impl Into<String>) -> Self {
        self.hints_mut().table_name = Some(table.into());
        self
    }
    /// Sets the write disposition.
    fn write_disposition(mut self, disposition: WriteDisposition) -> Self {
        self.hints_mut().write_disposition = disposition;
        self
    }
    /// Sets the primary key.
    fn primary_key(mut self, key: impl Into<Key>) -> Self {
        self.hints_mut().primary_key = key.into();
        self
    }
    /// Sets the merge key.
    fn merge_key(mut self, key: impl Into<Key>) -> Self {
        self.hints_mut().merge_key = key.into();
        self
    }
    /// Limits how deep nested data is unfolded into columns and child tables.
    fn max_table_nesting(mut self, depth: usize) -> Self {
        self.hints_mut().max_table_nesting = Some(depth);
        self
    }
    /// Sends each item to the table `f` names for it.
    fn table_name_fn(
        self,
        f: impl Fn(&Self::Item) -> String + Send + Sync + 'static,
    ) -> Dispatched<Self> {
        Dispatched {
            inner: self,
            table_name: Arc::new(f),
        }
    }
    /// Writes `_dlt_root_id` into the child tables even without merge (dlt's `root_key`).
    fn root_key(mut self, enabled: bool) -> Self {
        self.hints_mut().root_key = enabled;
        self
    }
    /// Merges with `strategy`; sets the write disposition to merge.
    fn merge_strategy(mut self, strategy: MergeStrategy) -> Self {
        let hints = self.hints_mut();
        hints.write_disposition = WriteDisposition::Merge;
        hints.merge_strategy = strategy;
        self
    }
    /// Merges with the scd2 strategy and these options; sets the write disposition to merge.
    fn scd2(mut self, options: Scd2) -> Self {
        let hints = self.hints_mut();
        hints.write_disposition = WriteDisposition::Merge;
        hints.merge_strategy = MergeStrategy::Scd2;
        hints.scd2 = options;
        self
    }
    /// Marks `column` as the hard-delete flag: a row whose value is `true` (or, for other types, not null)
    /// deletes its key from the destination instead of being loaded.
    fn hard_delete(mut self, column: impl Into<String>) -> Self {
        self.hints_mut().hard_delete = Some(column.into());
        self
    }
    /// Keeps, of several rows with the same primary key in one load, the one with the highest (`Desc`) or
    /// lowest (`Asc`) value of `column`.
    fn dedup_sort(mut self, column: impl Into<String>, order: SortOrder) -> Self {
        self.hints_mut().dedup_sort = Some((column.into(), order));
        self
    }
    /// Selects or deselects the resource in its source (dlt's `selected`): a source does not extract a deselected
    /// resource unless `with_resources` names it.
    fn selected(mut self, selected: bool) -> Self {
        self.hints_mut().selected = selected;
        self
    }
}

impl<R: Resource> ResourceExt for R {}

/// Items or pages accepted by [`Emit::send`]: one item, or a `Vec` of them.
pub trait IntoPage<T> {
    /// Whether this is one item (a JSON array sent as one item is a page of items, as a list yielded by a dlt
    /// resource is) rather than a page (whose array elements stay items of their own).
    const SINGLE: bool;

    /// The items, in order.
    fn into_page(self) -> Vec<T>;
}

impl<T: Serialize> IntoPage<T> for T {
    const SINGLE: bool = true;

    fn into_page(self) -> Vec<T> {
        vec![self]
    }
}

impl<T: Serialize> IntoPage<T> for Vec<T> {
    const SINGLE: bool = false;

    fn into_page(self) -> Vec<T> {
        self
    }
}

/// A batch of items on its way from a resource to the normalizer.
#[derive(Debug)]
pub struct ExtractedBatch {
    /// Index of the resource in the run.
    pub resource: usize,
    /// The items, as JSON objects (scalars are wrapped as `{"value": x}` by the normalizer).
    pub items: Vec<Value>,
    /// The table of each item, when the resource chooses tables per item.
    pub tables: Option<Vec<String>>,
    /// Where the normalizer hands the items back when it is done with them (see [`Emit::return_pages_to`]).
    pub returns: Option<PageReturn>,
}

/// The channel of [`Emit::return_pages_to`].
pub type PageReturn = std::sync::mpsc::Sender<Vec<Value>>;

/// Shared per-resource context of an [`Emit`]: state and incrementals of one resource in one run.
#[derive(Debug)]
pub struct EmitContext {
    pub(crate) resource_index: usize,
    pub(crate) resource_name: String,
    /// The source's name, or the pipeline's for resources run on their own.
    pub(crate) source_name: String,
    pub(crate) primary_key: Key,
    pub(crate) resource_state: ResourceState,
    pub(crate) source_state: SourceState,
    /// `incremental` entries of the resource state at the start of the run.
    pub(crate) stored_incremental: Map<String, Value>,
    pub(crate) interval: Option<Interval>,
    pub(crate) trackers: Mutex<Vec<Arc<Mutex<Tracker>>>>,
}

impl EmitContext {
    fn trackers(&self) -> Vec<Arc<Mutex<Tracker>>> {
        self.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Where a resource sends its items: `out.send(item).await?` or `out.send(page).await?`.
///
/// Sending waits while the pipeline is busy with earlier items (bounded memory), and fails only when the
/// run is already failing for another reason (that error is what the run reports).
pub struct Emit<T> {
    tx: mpsc::Sender<ExtractedBatch>,
    ctx: Arc<EmitContext>,
    table_name: Option<TableNameFn<T>>,
    returns: Option<PageReturn>,
}

impl<T> Clone for Emit<T> {
    fn clone(&self) -> Self {
        Emit {
            tx: self.tx.clone(),
            ctx: Arc::clone(&self.ctx),
            table_name: self.table_name.clone(),
            returns: self.returns.clone(),
        }
    }
}

impl<T> Emit<T> {
    /// Binds an incremental parameter of this resource: the call site's settings merged over the attribute's,
    /// then the run's state (or the scheduler interval). Used by `#[resource]`.
    pub fn bind_incremental<C: Cursor>(
        &self,
        attribute: IncrementalConfig,
        call_site: Option<Incremental<C>>,
    ) -> Result<Incremental<C>> {
        let config = match call_site {
            Some(c) => c.config().clone().merged_over(&attribute),
            None => attribute,
        };
        let stored = config
            .cursor_path_str()
            .and_then(|p| self.ctx.stored_incremental.get(p))
            .and_then(Value::as_object);
        let (incremental, tracker) = Incremental::<C>::bind(
            config,
            &self.ctx.resource_name,
            &self.ctx.primary_key,
            stored,
            self.ctx.interval,
        )?;
        self.ctx
            .trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tracker);
        Ok(incremental)
    }

    /// The name of the resource this emitter belongs to.
    pub fn resource_name(&self) -> &str {
        &self.ctx.resource_name
    }

    /// The name of the source of the resource (the pipeline name for a resource run on its own).
    pub fn source_name(&self) -> &str {
        &self.ctx.source_name
    }

    /// The state of this resource.
    pub fn resource_state(&self) -> ResourceState {
        self.ctx.resource_state.clone()
    }

    /// The state of this resource's source.
    pub fn source_state(&self) -> SourceState {
        self.ctx.source_state.clone()
    }
}

impl<T> fmt::Debug for Emit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emit")
            .field("resource", &self.ctx.resource_name)
            .finish()
    }
}

impl<T: Serialize + 'static> Emit<T> {
    pub(crate) fn new(
        tx: mpsc::Sender<ExtractedBatch>,
        ctx: Arc<EmitContext>,
        table_name: Option<TableNameFn<T>>,
    ) -> Self {
        Emit {
            tx,
            ctx,
            table_name,
            returns: None,
        }
    }

    /// Has the normalizer send the items of each page back through `to` when it is done with them, so that
    /// the thread reading `to` (the one that built them) frees them: freeing on another thread costs the
    /// allocator more. Items whose receiver is gone are freed where they are.
    pub fn return_pages_to(mut self, to: PageReturn) -> Self {
        self.returns = Some(to);
        self
    }

    /// Sends one item or a page (`Vec`) of items. Items pass the resource's incrementals here, so
    /// `last_value()` and the out-of-range flags are current when this returns.
    ///
    /// Returns [`Error::Closed`] when an incremental with a declared `row_order` knows the remaining items are
    /// out of range; propagate it with `?` and the run ends the resource normally.
    pub async fn send<P: IntoPage<T>>(&self, page: P) -> Result<()> {
        let page = page.into_page();
        if page.is_empty() {
            return Ok(());
        }
        let trackers = self.ctx.trackers();
        let mut items = Vec::with_capacity(page.len());
        let mut tables = self
            .table_name
            .as_ref()
            .map(|_| Vec::with_capacity(page.len()));
        let mut close = false;
        let item_tables: Vec<Option<String>> = page
            .iter()
            .map(|item| self.table_name.as_ref().map(|f| f(item)))
            .collect();
        for (item, table) in self.to_values(page)?.into_iter().zip(item_tables) {
            // A JSON array sent as one item is a page, as in dlt; inside a page an array is one item.
            let values = match item {
                Value::Array(inner) if P::SINGLE => inner,
                value => vec![value],
            };
            'items: for value in values {
                for tracker in &trackers {
                    let mut tracker = tracker.lock().unwrap_or_else(|p| p.into_inner());
                    let verdict = tracker.filter(&value)?;
                    close |= tracker.can_close();
                    if verdict == Verdict::Drop {
                        continue 'items;
                    }
                }
                if let (Some(tables), Some(table)) = (&mut tables, &table) {
                    tables.push(table.clone());
                }
                items.push(value);
            }
        }
        if !items.is_empty() {
            self.tx
                .send(ExtractedBatch {
                    resource: self.ctx.resource_index,
                    items,
                    tables,
                    returns: self.returns.clone(),
                })
                .await
                .map_err(|_| Error::Resource {
                    resource: self.ctx.resource_name.clone(),
                    source: "the pipeline stopped accepting items because the run failed".into(),
                })?;
        }
        crate::fault::point("during_extract");
        if close {
            return Err(Error::Closed {
                resource: self.ctx.resource_name.clone(),
            });
        }
        Ok(())
    }

    /// The items as JSON: moved when they are JSON already, serialized otherwise.
    fn to_values(&self, page: Vec<T>) -> Result<Vec<Value>> {
        let page: Box<dyn Any> = Box::new(page);
        match page.downcast::<Vec<Value>>() {
            Ok(values) => Ok(*values),
            Err(page) => {
                let Ok(page) = page.downcast::<Vec<T>>() else {
                    return Ok(Vec::new());
                };
                page.iter()
                    .map(|item| {
                        serde_json::to_value(item).map_err(|e| Error::Item {
                            resource: self.ctx.resource_name.clone(),
                            table: String::new(),
                            message: format!("item cannot be serialized: {e}"),
                        })
                    })
                    .collect()
            }
        }
    }

    /// Sends every item of an iterator, in pages.
    pub async fn send_all<I: IntoIterator<Item = T>>(&self, items: I) -> Result<()> {
        const PAGE: usize = 1000;
        let mut page = Vec::with_capacity(PAGE);
        for item in items {
            page.push(item);
            if page.len() == PAGE {
                self.send(std::mem::replace(&mut page, Vec::with_capacity(PAGE)))
                    .await?;
            }
        }
        self.send(page).await
    }
}

/// A resource made from a closure: `FnResource::new("events", |out: Emit<Event>| async move { ... })`.
pub struct FnResource<T, F> {
    hints: ResourceHints,
    body: F,
    _item: PhantomData<fn() -> T>,
}

impl<T, F> FnResource<T, F> {
    /// A resource named `name` (append, no keys) whose body is `body`.
    pub fn new(name: impl Into<String>, body: F) -> Self {
        FnResource {
            hints: ResourceHints::new(name),
            body,
            _item: PhantomData,
        }
    }
}

impl<T, F, Fut> Resource for FnResource<T, F>
where
    T: Serialize + Send + 'static,
    F: FnOnce(Emit<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    type Item = T;

    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        &mut self.hints
    }

    fn extract(self, out: Emit<T>) -> BoxFuture<'static, Result<()>> {
        Box::pin((self.body)(out))
    }
}

/// A resource over a plain iterator of items, for ad-hoc runs (dlt's `p.run(items, table_name=...)`).
///
/// Its name is `items` until a table name or name is given.
pub fn items<I>(items: I) -> ItemsResource<I>
where
    I: IntoIterator + Send + 'static,
    I::Item: Serialize + Send + 'static,
    I::IntoIter: Send,
{
    ItemsResource {
        hints: ResourceHints::new("items"),
        items,
    }
}

/// See [`items`].
pub struct ItemsResource<I> {
    hints: ResourceHints,
    items: I,
}

impl<I> Resource for ItemsResource<I>
where
    I: IntoIterator + Send + 'static,
    I::Item: Serialize + Send + 'static,
    I::IntoIter: Send,
{
    type Item = I::Item;

    fn hints(&self) -> &ResourceHints {
        &self.hints
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        &mut self.hints
    }

    fn extract(self, out: Emit<I::Item>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move { out.send_all(self.items).await })
    }
}

/// A resource with its item type erased, as the pipeline drives it.
pub trait DynResource: Send {
    /// The hints.
    fn hints(&self) -> &ResourceHints;
    /// The hints, mutable.
    fn hints_mut(&mut self) -> &mut ResourceHints;
    /// Whether this resource is a stateless backfill chunk (see [`Resource::backfill_only`]).
    fn is_backfill(&self) -> bool;
    /// The resource as `Any`, to find a resource of a known type in a source.
    #[doc(hidden)]
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The resource this one wraps, if any (see [`Resource::wrapped_mut`]).
    #[doc(hidden)]
    fn wrapped_mut(&mut self) -> Option<&mut dyn DynResource>;
    /// Starts the body, sending batches into `tx`.
    #[doc(hidden)]
    fn start(
        self: Box<Self>,
        ctx: Arc<EmitContext>,
        tx: mpsc::Sender<ExtractedBatch>,
    ) -> BoxFuture<'static, Result<()>>;
}

impl<R: Resource> DynResource for R {
    fn hints(&self) -> &ResourceHints {
        Resource::hints(self)
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        Resource::hints_mut(self)
    }

    fn is_backfill(&self) -> bool {
        Resource::backfill_only(self)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn wrapped_mut(&mut self) -> Option<&mut dyn DynResource> {
        Resource::wrapped_mut(self)
    }

    fn start(
        self: Box<Self>,
        ctx: Arc<EmitContext>,
        tx: mpsc::Sender<ExtractedBatch>,
    ) -> BoxFuture<'static, Result<()>> {
        let table_name = Resource::table_name_fn(&*self);
        (*self).extract(Emit::new(tx, ctx, table_name))
    }
}

/// The resources of one run, with what their source declares.
pub struct Resources {
    /// Name of the source (the state key of its resources); the pipeline name when `None`.
    pub source_name: Option<String>,
    /// Write `_dlt_root_id` into all child tables.
    pub root_key: bool,
    /// The resources, run concurrently.
    pub list: Vec<Box<dyn DynResource>>,
}

impl Resources {
    /// The resources a run extracts: for a source's resources (`source_name` set), the selected ones only
    /// ([`ResourceHints::selected`]); resources run on their own all run.
    pub fn selected(mut self) -> Self {
        if self.source_name.is_some() {
            self.list.retain(|r| r.hints().selected);
        }
        self
    }
}

/// What [`crate::pipeline::Pipeline::run`] accepts: a resource, a tuple of resources, or a source.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be run by a pipeline",
    label = "expected a resource, a tuple of resources, or a source",
    note = "call the `#[resource]` function to get a resource value, or wrap plain items with `ele::items(...)`"
)]
pub trait IntoResources {
    /// The resources to run.
    fn into_resources(self) -> Resources;
}

impl<R: Resource> IntoResources for R {
    fn into_resources(self) -> Resources {
        Resources {
            source_name: None,
            root_key: false,
            list: vec![Box::new(self)],
        }
    }
}

impl IntoResources for Resources {
    fn into_resources(self) -> Resources {
        self
    }
}

impl IntoResources for Vec<Box<dyn DynResource>> {
    fn into_resources(self) -> Resources {
        Resources {
            source_name: None,
            root_key: false,
            list: self,
        }
    }
}

macro_rules! tuple_resources {
    ($($name:ident),+) => {
        impl<$($name: Resource),+> IntoResources for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_resources(self) -> Resources {
                let ($($name,)+) = self;
                Resources {
                    source_name: None,
                    root_key: false,
                    list: vec![$(Box::new($name) as Box<dyn DynResource>),+],
                }
            }
        }
    };
}
tuple_resources!(A);
tuple_resources!(A, B);
tuple_resources!(A, B, C);
tuple_resources!(A, B, C, D);
tuple_resources!(A, B, C, D, E);
tuple_resources!(A, B, C, D, E, F);
tuple_resources!(A, B, C, D, E, F, G);
tuple_resources!(A, B, C, D, E, F, G, H);
