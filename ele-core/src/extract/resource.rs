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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::extract::incremental::{Cursor, Incremental, IncrementalConfig, Tracker, Verdict};
use crate::foundation::doc::{Doc, JsonRef};
use crate::foundation::error::{Error, Result};
use crate::model::hints::{
    ExtractLimit, Key, MergeStrategy, ResourceHints, Scd2, SortOrder, WriteDisposition,
};
use crate::model::interval::Interval;
use crate::model::schema::{ColumnHint, ColumnHints};
use crate::model::state::{ResourceState, SourceState};

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

/// The error of a resource whose table is chosen per item before its items are transformed.
fn table_name_fn_before_transform(name: &str) -> BoxFuture<'static, Result<()>> {
    let error = Error::resource(
        name,
        "`table_name_fn` is applied to the items the resource finally sends: call it after `map` and \
         `flat_map`, not before",
    );
    Box::pin(async move { Err(error) })
}

/// A resource whose items are mapped; see [`ResourceExt::map`].
pub struct Mapped<R, F, U> {
    inner: R,
    f: F,
    _item: PhantomData<fn() -> U>,
}

impl<R, F, U> Resource for Mapped<R, F, U>
where
    R: Resource,
    F: Fn(R::Item) -> U + Send + Sync + 'static,
    U: Serialize + Send + 'static,
{
    type Item = U;

    fn hints(&self) -> &ResourceHints {
        self.inner.hints()
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        self.inner.hints_mut()
    }

    fn extract(self, out: Emit<U>) -> BoxFuture<'static, Result<()>> {
        if Resource::table_name_fn(&self.inner).is_some() {
            return table_name_fn_before_transform(out.resource_name());
        }
        let head = out.before(MapSink {
            f: self.f,
            next: out.clone(),
        });
        self.inner.extract(head)
    }

    fn backfill_only(&self) -> bool {
        self.inner.backfill_only()
    }

    fn wrapped_mut(&mut self) -> Option<&mut dyn DynResource> {
        Some(&mut self.inner)
    }
}

/// A resource whose items are filtered; see [`ResourceExt::filter`].
pub struct Filtered<R, F> {
    inner: R,
    f: F,
}

impl<R, F> Resource for Filtered<R, F>
where
    R: Resource,
    F: Fn(&R::Item) -> bool + Send + Sync + 'static,
{
    type Item = R::Item;

    fn hints(&self) -> &ResourceHints {
        self.inner.hints()
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        self.inner.hints_mut()
    }

    fn extract(self, out: Emit<R::Item>) -> BoxFuture<'static, Result<()>> {
        let head = out.before(FilterSink {
            f: self.f,
            next: out.clone(),
        });
        self.inner.extract(head)
    }

    fn table_name_fn(&self) -> Option<TableNameFn<Self::Item>> {
        // Same items: the table is chosen on the ones that pass.
        Resource::table_name_fn(&self.inner)
    }

    fn backfill_only(&self) -> bool {
        self.inner.backfill_only()
    }

    fn wrapped_mut(&mut self) -> Option<&mut dyn DynResource> {
        Some(&mut self.inner)
    }
}

/// A resource with a step after its incrementals; see [`ResourceExt::after_incremental`].
pub struct AfterIncremental<R, F> {
    inner: R,
    f: F,
}

impl<R, F> Resource for AfterIncremental<R, F>
where
    R: Resource,
    F: Fn(Value) -> Option<Value> + Send + Sync + 'static,
{
    type Item = R::Item;

    fn hints(&self) -> &ResourceHints {
        self.inner.hints()
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        self.inner.hints_mut()
    }

    fn extract(self, out: Emit<R::Item>) -> BoxFuture<'static, Result<()>> {
        // Wrappers start outermost first: each puts its step before those of the wrappers around it.
        out.ctx.after_incremental.lock().insert(0, Arc::new(self.f));
        self.inner.extract(out)
    }

    fn table_name_fn(&self) -> Option<TableNameFn<Self::Item>> {
        Resource::table_name_fn(&self.inner)
    }

    fn backfill_only(&self) -> bool {
        self.inner.backfill_only()
    }

    fn wrapped_mut(&mut self) -> Option<&mut dyn DynResource> {
        Some(&mut self.inner)
    }
}

/// A resource whose items each become several (or none); see [`ResourceExt::flat_map`].
pub struct FlatMapped<R, F, I> {
    inner: R,
    f: F,
    _items: PhantomData<fn() -> I>,
}

impl<R, F, I> Resource for FlatMapped<R, F, I>
where
    R: Resource,
    F: Fn(R::Item) -> I + Send + Sync + 'static,
    I: IntoIterator + 'static,
    I::Item: Serialize + Send + 'static,
{
    type Item = I::Item;

    fn hints(&self) -> &ResourceHints {
        self.inner.hints()
    }

    fn hints_mut(&mut self) -> &mut ResourceHints {
        self.inner.hints_mut()
    }

    fn extract(self, out: Emit<I::Item>) -> BoxFuture<'static, Result<()>> {
        if Resource::table_name_fn(&self.inner).is_some() {
            return table_name_fn_before_transform(out.resource_name());
        }
        let head = out.before(FlatMapSink {
            f: self.f,
            next: out.clone(),
        });
        self.inner.extract(head)
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
    /// Adds column hints (dlt's `apply_hints(columns=...)`): a column hinted again gets the new hint's fields on
    /// top of the old ones. Hints override inference; hinted columns come first in the table, in this order.
    /// dlt's dict form is [`ColumnHints::from_json_str`].
    fn columns(mut self, hints: ColumnHints) -> Self {
        self.hints_mut().columns.merge(hints);
        self
    }
    /// Hints one column: `.column("amount", ColumnHint::decimal(12, 2).not_null())`.
    fn column(self, name: impl Into<String>, hint: ColumnHint) -> Self {
        self.columns(ColumnHints::new().column(name, hint))
    }
    /// Sets the schema contract of the resource's tables (dlt's `schema_contract`): one mode for all entities,
    /// `.schema_contract(EvolutionMode::Freeze)`, or a mode per entity,
    /// `.schema_contract(SchemaContract::parse(r#"{"columns": "discard_value"}"#)?)`.
    fn schema_contract(
        mut self,
        contract: impl Into<crate::model::contract::SchemaContract>,
    ) -> Self {
        self.hints_mut().schema_contract = Some(contract.into());
        self
    }
    /// Selects or deselects the resource in its source (dlt's `selected`): a source does not extract a deselected
    /// resource unless `with_resources` names it.
    fn selected(mut self, selected: bool) -> Self {
        self.hints_mut().selected = selected;
        self
    }
    /// Sends `f(item)` instead of each item (dlt's `add_map`). Transforms run in the order they are added,
    /// before the resource's incrementals, as in dlt's pipe: a cursor is read from the transformed item.
    fn map<U, F>(self, f: F) -> Mapped<Self, F, U>
    where
        F: Fn(Self::Item) -> U + Send + Sync + 'static,
        U: Serialize + Send + 'static,
    {
        Mapped {
            inner: self,
            f,
            _item: PhantomData,
        }
    }
    /// Keeps only the items for which `f` is `true` (dlt's `add_filter`); runs before the incrementals.
    fn filter<F>(self, f: F) -> Filtered<Self, F>
    where
        F: Fn(&Self::Item) -> bool + Send + Sync + 'static,
    {
        Filtered { inner: self, f }
    }
    /// Sends the items `f` returns for each item, none or several (dlt's `add_yield_map`); runs before the
    /// incrementals. Each item it returns counts as one yield for [`ResourceExt::limit`], as in dlt.
    fn flat_map<I, F>(self, f: F) -> FlatMapped<Self, F, I>
    where
        F: Fn(Self::Item) -> I + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Serialize + Send + 'static,
    {
        FlatMapped {
            inner: self,
            f,
            _items: PhantomData,
        }
    }
    /// Runs `f` on each item, as JSON, after the incrementals (dlt's `add_map`/`add_filter` with `insert_at`
    /// behind the incremental): the value it returns is loaded, `None` drops the item. For changes the
    /// incremental must not see, such as removing or renaming the cursor; steps added this way run in the order
    /// added, before the limit.
    fn after_incremental<F>(self, f: F) -> AfterIncremental<Self, F>
    where
        F: Fn(Value) -> Option<Value> + Send + Sync + 'static,
    {
        AfterIncremental { inner: self, f }
    }
    /// Stops the resource after `n` yields (`send` calls, empty pages included), as dlt's `add_limit(n)`: the
    /// yield reaching `n` is loaded and its `send` returns [`Error::Closed`] (propagate it with `?`), and the
    /// run ends the resource normally, committing its incremental state. Counted after the incrementals: pages
    /// they drop entirely do not count. `0` loads nothing.
    fn limit(mut self, n: u64) -> Self {
        let limit = &mut self.hints_mut().limit;
        limit.max_items = Some(n);
        limit.count_rows = false;
        self
    }
    /// As [`ResourceExt::limit`], counting rows (items) instead of yields (dlt's `count_rows=True`); the page
    /// reaching `n` is loaded whole.
    fn limit_rows(mut self, n: u64) -> Self {
        let limit = &mut self.hints_mut().limit;
        limit.max_items = Some(n);
        limit.count_rows = true;
        self
    }
    /// Stops the resource at its first yield after `duration` from its start (dlt's `add_limit(max_time=...)`);
    /// that yield is loaded. Combines with [`ResourceExt::limit`]: whichever is reached first stops it.
    fn limit_time(mut self, duration: Duration) -> Self {
        self.hints_mut().limit.max_time = Some(duration);
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

/// The items of a batch: JSON values, or documents (JSON Lines lines, typed items).
#[derive(Debug)]
pub enum Items {
    /// Items the resource sent as `Value`s, or that a step needed as `Value`s.
    Values(Vec<Value>),
    /// Items as documents.
    Docs(Vec<Doc>),
}

impl Items {
    /// Keeps the first `n` items.
    fn truncate(&mut self, n: usize) {
        match self {
            Items::Values(v) => v.truncate(n),
            Items::Docs(d) => d.truncate(n),
        }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        match self {
            Items::Values(v) => v.len(),
            Items::Docs(d) => d.len(),
        }
    }

    /// Whether there is no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items, in order.
    pub fn iter(&self) -> impl Iterator<Item = JsonRef<'_>> {
        let (values, docs) = match self {
            Items::Values(v) => (v.as_slice(), &[][..]),
            Items::Docs(d) => (&[][..], d.as_slice()),
        };
        values
            .iter()
            .map(JsonRef::Value)
            .chain(docs.iter().map(Doc::root))
    }
}

/// A batch of items on its way from a resource to the normalizer.
#[derive(Debug)]
pub struct ExtractedBatch {
    /// Index of the resource in the run.
    pub resource: usize,
    /// The items, as JSON objects (scalars are wrapped as `{"value": x}` by the normalizer).
    pub items: Items,
    /// The table of each item, when the resource chooses tables per item.
    pub tables: Option<Vec<String>>,
    /// Where the normalizer hands the items back when it is done with them (see [`Emit::return_pages_to`]).
    pub returns: Returns,
}

/// The channel of [`Emit::return_pages_to`].
pub type PageReturn = std::sync::mpsc::Sender<Vec<Value>>;

/// Where the normalizer hands pages back when it is done with them: pages of `Value`s
/// ([`Emit::return_pages_to`]) and of documents ([`Emit::return_docs_to`]); without a channel a page is freed.
#[derive(Debug, Clone, Default)]
pub struct Returns {
    /// Pages of `Value`s.
    pub values: Option<PageReturn>,
    /// Pages of documents.
    pub docs: Option<std::sync::mpsc::Sender<Vec<Doc>>>,
}

impl Returns {
    /// Hands `items` back through their channel, or frees them.
    pub fn give_back(&self, items: Items) {
        // A closed receiver returns the items, which are then freed here.
        match items {
            Items::Values(values) => {
                if let Some(to) = &self.values {
                    let _ = to.send(values);
                }
            }
            Items::Docs(docs) => {
                if let Some(to) = &self.docs {
                    let _ = to.send(docs);
                }
            }
        }
    }
}

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
    /// The resource's limit and what it counted; `None` without one.
    pub(crate) limit: Option<Mutex<LimitState>>,
    /// The steps items pass after the incrementals ([`ResourceExt::after_incremental`]), in order.
    pub(crate) after_incremental: AfterIncrementalSteps,
}

/// The steps of [`ResourceExt::after_incremental`] of one resource.
#[derive(Default)]
pub(crate) struct AfterIncrementalSteps(Mutex<Vec<AfterIncrementalFn>>);

type AfterIncrementalFn = Arc<dyn Fn(Value) -> Option<Value> + Send + Sync>;

impl AfterIncrementalSteps {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AfterIncrementalFn>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for AfterIncrementalSteps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} step(s)", self.lock().len())
    }
}

/// What a resource's [`ExtractLimit`] counted so far in a run.
#[derive(Debug)]
pub(crate) struct LimitState {
    limit: ExtractLimit,
    count: u64,
    exhausted: bool,
    started: Instant,
}

/// How the items of a page count as yields for a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Yields {
    /// The page is one yield (an empty page too).
    Page,
    /// Each item is a yield of its own (the items a `flat_map` returned).
    PerItem,
}

impl LimitState {
    /// A limit starting to count now, or `None` when nothing is limited.
    pub(crate) fn start(limit: ExtractLimit) -> Option<Mutex<Self>> {
        limit.is_set().then(|| {
            Mutex::new(LimitState {
                limit,
                count: 0,
                exhausted: false,
                started: Instant::now(),
            })
        })
    }

    /// Counts `kept` items that passed the incrementals (from a page that was `empty` as sent), as dlt's
    /// `LimitItem`: returns how many of them pass and whether the resource is done.
    fn pass(&mut self, kept: usize, empty: bool, yields: Yields) -> (usize, bool) {
        if self.exhausted {
            return (0, true);
        }
        // A page the incrementals dropped entirely is not a yield (dlt's `None`).
        if kept == 0 && !empty {
            return (0, false);
        }
        let over_time = self
            .limit
            .max_time
            .is_some_and(|t| self.started.elapsed() > t);
        let mut keep = kept;
        if yields == Yields::PerItem || self.limit.count_rows {
            if yields == Yields::PerItem {
                // Items one by one: those after the one reaching the limit arrive late and are dropped.
                let mut allowed = self
                    .limit
                    .max_items
                    .map_or(u64::MAX, |m| m.saturating_sub(self.count));
                if over_time {
                    allowed = allowed.min(1);
                }
                keep = kept.min(usize::try_from(allowed).unwrap_or(usize::MAX));
            }
            self.count = self.count.saturating_add(keep as u64);
        } else {
            self.count += 1;
        }
        let reached = over_time || self.limit.max_items.is_some_and(|m| self.count >= m);
        if reached {
            self.exhausted = true;
            if self.limit.max_items == Some(0) {
                keep = 0;
            }
        }
        (keep, reached)
    }
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
    returns: Returns,
    /// The transforms items pass before the incrementals, when the resource has any.
    head: Option<Arc<dyn PageSink<T>>>,
}

impl<T> Clone for Emit<T> {
    fn clone(&self) -> Self {
        Emit {
            tx: self.tx.clone(),
            ctx: Arc::clone(&self.ctx),
            table_name: self.table_name.clone(),
            returns: self.returns.clone(),
            head: self.head.clone(),
        }
    }
}

/// A transform step of a resource's items (map, filter, flat map), passing pages on to the next [`Emit`].
trait PageSink<T>: Send + Sync {
    /// Transforms `page` and passes it on.
    fn push(&self, page: Vec<T>, yields: Yields) -> BoxFuture<'_, Result<()>>;
}

/// `.map(f)`: each item becomes `f(item)`.
struct MapSink<F, U> {
    f: F,
    next: Emit<U>,
}

impl<T, U, F> PageSink<T> for MapSink<F, U>
where
    F: Fn(T) -> U + Send + Sync,
    U: Serialize + Send + 'static,
{
    fn push(&self, page: Vec<T>, yields: Yields) -> BoxFuture<'_, Result<()>> {
        let page: Vec<U> = page.into_iter().map(&self.f).collect();
        self.next.forward(page, yields)
    }
}

/// `.filter(f)`: items for which `f` is `false` are dropped.
struct FilterSink<F, T> {
    f: F,
    next: Emit<T>,
}

impl<T, F> PageSink<T> for FilterSink<F, T>
where
    F: Fn(&T) -> bool + Send + Sync,
    T: Serialize + Send + 'static,
{
    fn push(&self, mut page: Vec<T>, yields: Yields) -> BoxFuture<'_, Result<()>> {
        if !page.is_empty() {
            page.retain(|item| (self.f)(item));
            if page.is_empty() {
                // Consumed entirely: not a yield, as dlt's filter returning `None`.
                return Box::pin(async { Ok(()) });
            }
        }
        self.next.forward(page, yields)
    }
}

/// `.flat_map(f)`: each item becomes the items `f` returns, each a yield of its own.
struct FlatMapSink<F, U> {
    f: F,
    next: Emit<U>,
}

impl<T, I, F> PageSink<T> for FlatMapSink<F, I::Item>
where
    F: Fn(T) -> I + Send + Sync,
    I: IntoIterator,
    I::Item: Serialize + Send + 'static,
{
    fn push(&self, page: Vec<T>, yields: Yields) -> BoxFuture<'_, Result<()>> {
        if page.is_empty() {
            return self.next.forward(Vec::new(), yields);
        }
        let out: Vec<I::Item> = page.into_iter().flat_map(&self.f).collect();
        if out.is_empty() {
            return Box::pin(async { Ok(()) });
        }
        self.next.forward(out, Yields::PerItem)
    }
}

/// A JSON array sent as one item is a page, as in dlt: split it before the transforms see its elements.
fn split_json_page<T: 'static>(mut page: Vec<T>, single: bool) -> Vec<T> {
    if single
        && let Some(values) = (&mut page as &mut dyn Any).downcast_mut::<Vec<Value>>()
        && matches!(values.as_slice(), [Value::Array(_)])
        && let Some(Value::Array(inner)) = values.pop()
    {
        *values = inner;
    }
    page
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

impl<T: Serialize + Send + 'static> Emit<T> {
    pub(crate) fn new(
        tx: mpsc::Sender<ExtractedBatch>,
        ctx: Arc<EmitContext>,
        table_name: Option<TableNameFn<T>>,
    ) -> Self {
        Emit {
            tx,
            ctx,
            table_name,
            returns: Returns::default(),
            head: None,
        }
    }

    /// An emitter for items of type `S` that pass `sink` on their way into this one.
    fn before<S: 'static>(&self, sink: impl PageSink<S> + 'static) -> Emit<S> {
        Emit {
            tx: self.tx.clone(),
            ctx: Arc::clone(&self.ctx),
            table_name: None,
            returns: self.returns.clone(),
            head: Some(Arc::new(sink)),
        }
    }

    /// Passes a transformed page on: to the next transform, or into the incrementals and the run.
    fn forward(&self, page: Vec<T>, yields: Yields) -> BoxFuture<'_, Result<()>> {
        match &self.head {
            Some(head) => head.push(page, yields),
            None => Box::pin(self.deliver(page, false, yields)),
        }
    }

    fn closed(&self) -> Error {
        Error::Closed {
            resource: self.ctx.resource_name.clone(),
        }
    }

    /// Has the normalizer send the items of each page back through `to` when it is done with them, so that
    /// the thread reading `to` (the one that built them) frees them: freeing on another thread costs the
    /// allocator more. Items whose receiver is gone are freed where they are.
    pub fn return_pages_to(mut self, to: PageReturn) -> Self {
        self.returns.values = Some(to);
        self
    }

    /// As [`Emit::return_pages_to`], for the pages of documents [`Emit::send_docs`] sends: the reader reuses
    /// their buffers.
    #[doc(hidden)]
    pub fn return_docs_to(mut self, to: std::sync::mpsc::Sender<Vec<Doc>>) -> Self {
        self.returns.docs = Some(to);
        self
    }

    /// Sends one item or a page (`Vec`) of items. Items pass the resource's incrementals here, so
    /// `last_value()` and the out-of-range flags are current when this returns.
    ///
    /// Returns [`Error::Closed`] when an incremental with a declared `row_order` knows the remaining items are
    /// out of range, or the resource's [limit](ResourceExt::limit) is reached; propagate it with `?` and the
    /// run ends the resource normally.
    pub async fn send<P: IntoPage<T>>(&self, page: P) -> Result<()> {
        let page = page.into_page();
        match &self.head {
            Some(head) => {
                head.push(split_json_page(page, P::SINGLE), Yields::Page)
                    .await
            }
            None => self.deliver(page, P::SINGLE, Yields::Page).await,
        }
    }

    /// Filters a page by the incrementals, counts it against the limit and hands it to the normalizer.
    async fn deliver(&self, page: Vec<T>, single: bool, yields: Yields) -> Result<()> {
        let empty = page.is_empty();
        if empty && self.ctx.limit.is_none() {
            return Ok(());
        }
        if self.limit_exhausted() {
            // Items sent after the limit never reach the incrementals, whose state stays at the last item loaded.
            return Err(self.closed());
        }
        let item_tables: Vec<Option<String>> = match &self.table_name {
            Some(f) => page.iter().map(|item| Some(f(item))).collect(),
            None => Vec::new(),
        };
        let items = if self.ctx.after_incremental.lock().is_empty() {
            self.to_items(page, single)?
        } else {
            // The steps after the incrementals take `Value`s.
            Items::Values(self.to_values(page)?)
        };
        self.pass(items, item_tables, single, empty, yields).await
    }

    /// Whether the resource's limit was reached.
    fn limit_exhausted(&self) -> bool {
        self.ctx
            .limit
            .as_ref()
            .is_some_and(|limit| limit.lock().unwrap_or_else(|p| p.into_inner()).exhausted)
    }

    /// Passes items through the incrementals, the steps after them and the limit, and hands the rest to the
    /// normalizer. `item_tables` has the table of each item when the resource chooses tables per item;
    /// `single`: the page was sent as one item (an array in it is a page of items).
    async fn pass(
        &self,
        items: Items,
        item_tables: Vec<Option<String>>,
        single: bool,
        empty: bool,
        yields: Yields,
    ) -> Result<()> {
        let trackers = self.ctx.trackers();
        let mut tables = self
            .table_name
            .as_ref()
            .map(|_| Vec::with_capacity(items.len()));
        let mut close = false;
        let item_tables = item_tables.into_iter().chain(std::iter::repeat(None));
        let mut items = match items {
            Items::Values(values) => {
                let after = self.ctx.after_incremental.lock().clone();
                let mut kept = Vec::with_capacity(values.len());
                for (item, table) in values.into_iter().zip(item_tables) {
                    // A JSON array sent as one item is a page, as in dlt; inside a page an array is one item.
                    let values = match item {
                        Value::Array(inner) if single => inner,
                        value => vec![value],
                    };
                    'items: for mut value in values {
                        for tracker in &trackers {
                            let mut tracker = tracker.lock().unwrap_or_else(|p| p.into_inner());
                            let verdict = tracker.filter(JsonRef::Value(&value))?;
                            close |= tracker.can_close();
                            if verdict == Verdict::Drop {
                                continue 'items;
                            }
                        }
                        for step in &after {
                            match step(value) {
                                Some(next) => value = next,
                                None => continue 'items,
                            }
                        }
                        if let (Some(tables), Some(table)) = (&mut tables, &table) {
                            tables.push(table.clone());
                        }
                        kept.push(value);
                    }
                }
                Items::Values(kept)
            }
            Items::Docs(docs) => {
                // (no steps after the incrementals: items that meet one are sent as `Value`s)
                let mut kept = Vec::with_capacity(docs.len());
                'docs: for (doc, table) in docs.into_iter().zip(item_tables) {
                    for tracker in &trackers {
                        let mut tracker = tracker.lock().unwrap_or_else(|p| p.into_inner());
                        let verdict = tracker.filter(doc.root())?;
                        close |= tracker.can_close();
                        if verdict == Verdict::Drop {
                            continue 'docs;
                        }
                    }
                    if let (Some(tables), Some(table)) = (&mut tables, table) {
                        tables.push(table);
                    }
                    kept.push(doc);
                }
                Items::Docs(kept)
            }
        };
        if let Some(limit) = &self.ctx.limit {
            let (keep, done) =
                limit
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pass(items.len(), empty, yields);
            items.truncate(keep);
            if let Some(tables) = &mut tables {
                tables.truncate(keep);
            }
            close |= done;
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
        crate::foundation::fault::point("during_extract");
        if close {
            return Err(self.closed());
        }
        Ok(())
    }

    /// The error of an item that cannot be serialized.
    fn unserializable(&self, e: serde_json::Error) -> Error {
        Error::Item {
            resource: self.ctx.resource_name.clone(),
            table: String::new(),
            message: format!("item cannot be serialized: {e}"),
        }
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
                    .map(|item| serde_json::to_value(item).map_err(|e| self.unserializable(e)))
                    .collect()
            }
        }
    }

    /// The items for the incrementals and the normalizer: `Value`s moved as they are, typed items serialized
    /// into documents (no `Value` built). A typed item sent alone that serializes to an array is a page of
    /// items: it goes as `Value`s, which split it.
    fn to_items(&self, page: Vec<T>, single: bool) -> Result<Items> {
        let page: Box<dyn Any> = Box::new(page);
        match page.downcast::<Vec<Value>>() {
            Ok(values) => Ok(Items::Values(*values)),
            Err(page) => {
                let Ok(page) = page.downcast::<Vec<T>>() else {
                    return Ok(Items::Values(Vec::new()));
                };
                // Serialized into one growing document, then copied at their size.
                let mut scratch = Doc::new();
                let docs = page
                    .iter()
                    .map(|item| {
                        scratch
                            .serialize_from(item)
                            .map_err(|e| self.unserializable(e))?;
                        Ok(scratch.clone())
                    })
                    .collect::<Result<Vec<Doc>>>()?;
                if single && docs.iter().any(|d| d.root().is_array()) {
                    return Ok(Items::Values(docs.iter().map(Doc::to_value).collect()));
                }
                Ok(Items::Docs(docs))
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

impl Emit<Value> {
    /// Sends a page of items parsed into documents (what the JSON Lines reader does): they reach the
    /// incrementals and the normalizer as they are, or as `Value`s when a transform, a table function or a step
    /// after the incrementals needs those.
    #[doc(hidden)]
    pub async fn send_docs(&self, page: Vec<Doc>) -> Result<()> {
        let needs_values = self.head.is_some()
            || self.table_name.is_some()
            || !self.ctx.after_incremental.lock().is_empty();
        if needs_values {
            let values: Vec<Value> = page.iter().map(Doc::to_value).collect();
            self.returns.give_back(Items::Docs(page));
            return self.send(values).await;
        }
        let empty = page.is_empty();
        if empty && self.ctx.limit.is_none() {
            return Ok(());
        }
        if self.limit_exhausted() {
            return Err(self.closed());
        }
        self.pass(Items::Docs(page), Vec::new(), false, empty, Yields::Page)
            .await
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

/// What [`crate::run::pipeline::Pipeline::run`] accepts: a resource, a tuple of resources, or a source.
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
