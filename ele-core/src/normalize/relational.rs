//! dlt's relational normalizer: nested objects become `parent__child` columns, lists become child tables.
//!
//! Rows and their column order follow dlt 1.31 (`dlt/common/normalizers/json/relational.py`): a dict's scalars
//! come first in key order, nested dicts are unfolded last-in-first-out; root rows end with `_dlt_load_id`,
//! `_dlt_id`; child rows with `_dlt_root_id` (when propagated), `_dlt_parent_id`, `_dlt_list_idx`, `_dlt_id`.
//! Null values create no column: a column appears when its first non-null value does.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::foundation::doc::{JsonRef, Kind};

use crate::foundation::error::{Error, Result};
use crate::foundation::hash;
use crate::model::contract::{ContractEntity, ContractModes, EvolutionMode, SchemaContract};
use crate::model::hints::{MergeStrategy, WriteDisposition};
use crate::model::naming;
use crate::model::schema::{
    C_DLT_ID, C_DLT_LIST_IDX, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID, Column, Schema, Table,
};
use crate::model::schema::{ColumnHint, DataType};
use crate::normalize::contract::{self, Discards, NewColumn, Trail, Verdict};
use crate::package::MergeSpec;
use crate::package::{Cell, Row, RowSink};

/// How many primary keys per merge table the normalizer remembers to tell the loader that staging holds no
/// duplicates (about 16 MB); beyond that the loader deduplicates in SQL.
const MAX_TRACKED_KEYS: usize = 1 << 20;

/// Environment variable overriding how many primary keys the normalizer remembers (2^20; tests use a small one).
pub const MAX_TRACKED_KEYS_ENV: &str = "ELE_MAX_TRACKED_KEYS";

fn max_tracked_keys() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var(MAX_TRACKED_KEYS_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(MAX_TRACKED_KEYS)
    })
}

/// dlt's default nesting budget.
pub const DEFAULT_MAX_NESTING: usize = 1000;

/// How the items of one resource are normalized.
#[derive(Debug, Clone)]
pub struct RootConfig {
    /// Name of the resource (for error messages).
    pub resource: String,
    /// Normalized name of the root table.
    pub table: String,
    /// Write disposition of the table chain.
    pub write_disposition: WriteDisposition,
    /// Normalized primary key columns.
    pub primary_key: Vec<String>,
    /// Normalized merge key columns.
    pub merge_key: Vec<String>,
    /// Nesting budget.
    pub max_nesting: usize,
    /// Write `_dlt_root_id` into child rows.
    pub propagate_root_key: bool,
    /// How a merge writes the chain (normalized names).
    pub merge: MergeSpec,
    /// Column hints of the root table (normalized names), in the order given: these columns come first.
    pub columns: Vec<(String, ColumnHint)>,
    /// The schema contract stored with the root table (dlt's `schema_contract` table hint), as the run resolved
    /// it; `None` leaves the stored one.
    pub schema_contract: Option<SchemaContract>,
    /// The contract's mode per entity; all `evolve` (nothing checked) without one.
    pub contract: ContractModes,
    /// The root table was new when the run started: its columns evolve in this run whatever `columns` says
    /// (dlt's `evolve-columns-once`).
    pub evolve_columns_once: bool,
}

impl RootConfig {
    /// Whether `_dlt_root_id` goes into child rows: when asked for, and for merges other than scd2 (as dlt
    /// 1.31's `requires_root_key`; scd2 child rows are immutable versions found through `_dlt_parent_id`).
    pub fn root_key_required(
        write_disposition: WriteDisposition,
        strategy: MergeStrategy,
        asked: bool,
    ) -> bool {
        asked || (write_disposition == WriteDisposition::Merge && strategy != MergeStrategy::Scd2)
    }

    fn merge_strategy(&self) -> Option<MergeStrategy> {
        (self.write_disposition == WriteDisposition::Merge).then_some(self.merge.strategy)
    }
}

/// A hash map with a fast hasher, for names that repeat in every item (they come from the program's own data,
/// and a slow row only costs time).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The flattened fields of one row, in dlt's column order: a field's column appears once (a later field of the
/// same column replaces the value at the first one's place).
struct FieldRow<'v> {
    /// (column, its id in the name cache, value).
    cells: Vec<(Arc<str>, u32, JsonRef<'v>)>,
    /// The row plan of the row's table in the name cache.
    plan: usize,
    /// Which generation of the name cache's marks this row's fields are marked with.
    generation: u32,
}

impl<'v> FieldRow<'v> {
    /// An empty row of the table whose plan is `plan`; only one row is built at a time.
    fn new(names: &mut NameCache, plan: usize, capacity: usize) -> Self {
        names.generation = names.generation.wrapping_add(1);
        if names.generation == 0 {
            // (after 2^32 rows: old marks could pass for new ones)
            names.marks.iter_mut().for_each(|m| *m = (0, 0));
            names.generation = 1;
        }
        let width = names.plans.get(plan).map_or(0, |p| p.width);
        FieldRow {
            cells: Vec::with_capacity(capacity.max(width)),
            plan,
            generation: names.generation,
        }
    }

    /// Sets the field of column `column` (id `id`): a new one goes last, a repeated one keeps its place.
    fn insert(&mut self, names: &mut NameCache, column: Arc<str>, id: u32, value: JsonRef<'v>) {
        let at = id as usize;
        if names.marks.len() <= at {
            names.marks.resize(at + 1, (0, 0));
        }
        let (generation, position) = names.marks[at];
        if generation == self.generation
            && let Some(cell) = self.cells.get_mut(position as usize)
        {
            cell.2 = value;
            return;
        }
        names.marks[at] = (self.generation, self.cells.len() as u32);
        self.cells.push((column, id, value));
    }

    /// Sets a system column (`_dlt_id`, ...).
    fn insert_system(&mut self, names: &mut NameCache, name: System, value: JsonRef<'v>) {
        let (column, id) = names.system(name);
        self.insert(names, column, id, value);
    }

    /// The value of column `name`.
    fn get(&self, name: &str) -> Option<JsonRef<'v>> {
        self.cells
            .iter()
            .find(|(column, _, _)| &**column == name)
            .map(|(_, _, value)| *value)
    }
}

/// Normalizes items into rows, growing `schema` as new tables and columns appear.
pub struct Normalizer<'s> {
    schema: &'s mut Schema,
    /// The load id, shared by every root row.
    load_id: Arc<str>,
    names: NameCache,
    /// Per merge table: key hashes seen, and whether one came twice.
    keys_seen: HashMap<String, KeysSeen>,
    /// Where the row being written is in its item (kept only while a contract is checked).
    trail: Trail,
    /// Rows and values schema contracts discarded.
    discards: Discards,
}

/// The primary keys (as 64-bit hashes) one merge table received in this load.
#[derive(Debug, Default)]
pub(crate) struct KeysSeen {
    hashes: std::collections::HashSet<u64, foldhash::fast::RandomState>,
    /// A key came twice.
    duplicate: bool,
    /// Too many keys to remember: duplicates may have gone unnoticed.
    overflowed: bool,
}

impl KeysSeen {
    fn insert(&mut self, hash: u64) {
        if self.duplicate || self.overflowed {
            return;
        }
        if self.hashes.len() >= max_tracked_keys() {
            // Memory stays flat: past this many keys the loader deduplicates in SQL instead.
            self.overflowed = true;
            self.hashes = Default::default();
        } else if !self.hashes.insert(hash) {
            self.duplicate = true;
            self.hashes = Default::default();
        }
    }

    /// Adds the keys another normalizer saw for the same table (rows that come after this one's).
    pub(crate) fn merge(&mut self, other: KeysSeen) {
        if other.duplicate {
            self.duplicate = true;
            self.hashes = Default::default();
        }
        if other.overflowed {
            self.overflowed = true;
            self.hashes = Default::default();
        }
        for hash in other.hashes {
            self.insert(hash);
        }
    }
}

struct Flattened<'v> {
    row: FieldRow<'v>,
    /// The value of the top-level key `_dlt_id` when it is a string.
    dlt_id: Option<&'v str>,
    /// (path of normalized segments below the current table, list).
    lists: Vec<(Vec<String>, JsonRef<'v>)>,
}

/// The fields of a dict being flattened: a JSON object, or one synthetic field (`{"value": x}`, `{"list": x}`).
#[derive(Clone, Copy)]
enum Fields<'v> {
    /// An object (a `JsonRef` that is one).
    Object(JsonRef<'v>),
    One(&'static str, JsonRef<'v>),
}

impl<'v> Fields<'v> {
    fn len(self) -> usize {
        match self {
            Fields::Object(map) => match map.kind() {
                Kind::Object(entries) => entries.len(),
                _ => 0,
            },
            Fields::One(..) => 1,
        }
    }

    fn for_each(self, mut f: impl FnMut(&'v str, JsonRef<'v>)) {
        match self {
            Fields::Object(map) => {
                if let Kind::Object(entries) = map.kind() {
                    entries.for_each(|(k, v)| f(k, v));
                }
            }
            Fields::One(k, v) => f(k, v),
        }
    }
}

impl<'s> Normalizer<'s> {
    /// A normalizer writing rows of load `load_id` into tables of `schema`.
    pub fn new(schema: &'s mut Schema, load_id: impl Into<String>) -> Self {
        Normalizer {
            schema,
            load_id: Arc::from(load_id.into()),
            names: NameCache::default(),
            keys_seen: HashMap::new(),
            trail: Trail::default(),
            discards: Discards::default(),
        }
    }

    /// The schema as grown so far.
    pub fn schema(&self) -> &Schema {
        self.schema
    }

    /// Hands over the name cache, to reuse it in a normalizer of the next page.
    pub(crate) fn into_names(self) -> NameCache {
        self.names
    }

    /// Starts from the name cache of an earlier normalizer.
    pub(crate) fn with_names(mut self, names: NameCache) -> Self {
        self.names = names;
        self
    }

    /// Takes the keys seen so far, per merge table.
    pub(crate) fn take_keys_seen(&mut self) -> HashMap<String, KeysSeen> {
        std::mem::take(&mut self.keys_seen)
    }

    /// Adds keys seen by another normalizer for rows that come after this one's.
    pub(crate) fn merge_keys_seen(&mut self, other: HashMap<String, KeysSeen>) {
        for (table, keys) in other {
            self.keys_seen.entry(table).or_default().merge(keys);
        }
    }

    /// Takes the rows and values discarded by schema contracts so far.
    pub(crate) fn take_discards(&mut self) -> Discards {
        std::mem::take(&mut self.discards)
    }

    /// Adds the discards of another normalizer (rows after this one's).
    pub(crate) fn merge_discards(&mut self, other: Discards) {
        self.discards.merge(other);
    }

    /// Whether some primary key came twice in this load for the merge table `table` (a hash collision may
    /// say so wrongly, which only costs a deduplication).
    pub fn has_duplicate_keys(&self, table: &str) -> bool {
        self.keys_seen
            .get(table)
            .is_none_or(|k| k.duplicate || k.overflowed)
    }

    /// Whether the merge table `table` received more primary keys than are tracked, none of them seen twice:
    /// the loader has to check uniqueness itself.
    pub fn keys_unchecked(&self, table: &str) -> bool {
        self.keys_seen
            .get(table)
            .is_some_and(|k| k.overflowed && !k.duplicate)
    }

    /// Whether some primary key certainly came twice in this load for the merge table `table`.
    pub fn saw_duplicate_key(&self, table: &str) -> bool {
        self.keys_seen.get(table).is_some_and(|k| k.duplicate)
    }

    /// Declares the root table of a resource with its key columns, before any item arrives, so key columns come
    /// first as in dlt.
    pub fn declare_root(&mut self, config: &RootConfig) {
        let table = self
            .schema
            .tables
            .entry(config.table.clone())
            .or_insert_with(|| Table::new(config.table.clone(), None, config.write_disposition));
        table.write_disposition = config.write_disposition;
        table.resource = Some(config.resource.clone());
        // As dlt: hinted columns first, in the hint's order (a new column with a type is created even before a
        // value arrives).
        for (name, hint) in &config.columns {
            table
                .columns
                .entry(name.clone())
                .or_insert_with(|| Column::new(name.clone(), None))
                .apply_hint(hint);
        }
        if config.schema_contract.is_some() {
            table.schema_contract = config.schema_contract;
        }
        if let Some(scd2) = config
            .merge
            .scd2
            .as_ref()
            .filter(|_| config.merge_strategy() == Some(MergeStrategy::Scd2))
        {
            for name in [&scd2.valid_from, &scd2.valid_to] {
                table
                    .columns
                    .entry(name.clone())
                    .or_insert_with(|| Column::new(name.clone(), Some(DataType::Timestamp)));
            }
        }
        // A key named by a column hint keeps the hint's nullability, as in dlt; a resource's key is NOT NULL.
        let hinted_key = |key: &str, flag: fn(&ColumnHint) -> Option<bool>| {
            config
                .columns
                .iter()
                .any(|(name, h)| name == key && flag(h) == Some(true))
        };
        for key in &config.primary_key {
            let column = table
                .columns
                .entry(key.clone())
                .or_insert_with(|| Column::new(key.clone(), None));
            column.primary_key = true;
            if !hinted_key(key, |h| h.primary_key) {
                column.nullable = false;
            }
        }
        for key in &config.merge_key {
            let column = table
                .columns
                .entry(key.clone())
                .or_insert_with(|| Column::new(key.clone(), None));
            column.merge_key = true;
            if !hinted_key(key, |h| h.merge_key) {
                column.nullable = false;
            }
        }
        // The resource's merge options are column hints of the schema, as in dlt.
        if config.write_disposition == WriteDisposition::Merge {
            if let Some(column) = &config.merge.hard_delete {
                table
                    .columns
                    .entry(column.clone())
                    .or_insert_with(|| Column::new(column.clone(), None))
                    .hard_delete = true;
            }
            if let Some((column, order)) = &config.merge.dedup_sort {
                table
                    .columns
                    .entry(column.clone())
                    .or_insert_with(|| Column::new(column.clone(), None))
                    .dedup_sort = Some(*order);
            }
        }
        // Children follow the disposition of their root.
        let children: Vec<String> = self
            .schema
            .tables
            .values()
            .filter(|t| t.parent.is_some() && self.schema.root_of(&t.name) == config.table)
            .map(|t| t.name.clone())
            .collect();
        for child in children {
            if let Some(t) = self.schema.tables.get_mut(&child) {
                t.write_disposition = config.write_disposition;
            }
        }
    }

    /// Normalizes one item of a resource (a `Value` or a document); `index` is its position in the run (for
    /// error messages). The item is only read: its strings go into the rows borrowed.
    pub fn normalize_item(
        &mut self,
        config: &RootConfig,
        item: JsonRef<'_>,
        index: u64,
        sink: &mut impl RowSink,
    ) -> Result<()> {
        let fields = if item.is_object() {
            Fields::Object(item)
        } else {
            Fields::One("value", item)
        };
        let plan = self.names.plan(&config.table);
        let Flattened {
            mut row,
            dlt_id: original_has_id,
            lists,
        } = flatten(
            self.schema.tables.get(&config.table),
            &mut self.names,
            plan,
            fields,
            config.max_nesting,
        );
        let strategy = config.merge_strategy();
        // scd2 identifies a version by a hash of the whole item (as it came, before flattening).
        let version_hash = (strategy == Some(MergeStrategy::Scd2)
            && original_has_id.is_none()
            && config
                .merge
                .scd2
                .as_ref()
                .is_none_or(|s| s.row_version.is_none()))
        .then(|| match fields {
            Fields::Object(map) => match map.kind() {
                Kind::Object(entries) => hash::item_version_hash_of(entries),
                _ => hash::item_version_hash_of(std::iter::empty()),
            },
            Fields::One(key, value) => hash::item_version_hash_of(std::iter::once((key, value))),
        });
        for (kind, keys) in [
            ("primary key", &config.primary_key),
            ("merge key", &config.merge_key),
        ] {
            for key in keys {
                if row.get(key.as_str()).is_none_or(|v| v.is_null()) {
                    return Err(Error::Item {
                        resource: config.resource.clone(),
                        table: config.table.clone(),
                        message: format!("item #{index} has no value for {kind} column `{key}`"),
                    });
                }
            }
        }
        if config.write_disposition == WriteDisposition::Merge && !config.primary_key.is_empty() {
            // Remember the keys (as 64-bit hashes) to tell the loader whether staging needs deduplication.
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for key in &config.primary_key {
                if let Some(value) = row.get(key.as_str()) {
                    hash_key_value(value, &mut hasher);
                }
            }
            let hash = std::hash::Hasher::finish(&hasher);
            match self.keys_seen.get_mut(&config.table) {
                Some(seen) => seen.insert(hash),
                None => self
                    .keys_seen
                    .entry(config.table.clone())
                    .or_default()
                    .insert(hash),
            }
        }
        let load_id = Arc::clone(&self.load_id);
        row.insert_system(&mut self.names, System::LoadId, JsonRef::Str(&load_id));
        let row_id = match (original_has_id, version_hash) {
            (Some(id), _) => id.to_owned(),
            (None, Some(version)) => version,
            // upsert and insert-only: the id is a hash of the primary key, so nested ids stay stable.
            (None, None)
                if strategy.is_some_and(MergeStrategy::needs_primary_key)
                    && !config.primary_key.is_empty() =>
            {
                let key: Map<String, Value> = config
                    .primary_key
                    .iter()
                    .filter_map(|k| row.get(k.as_str()).map(|v| (k.clone(), v.to_value())))
                    .collect();
                hash::row_hash(&Value::Object(key))
            }
            (None, None) => hash::random_row_id(),
        };
        row.insert_system(&mut self.names, System::Id, JsonRef::Str(&row_id));
        self.trail.item = index;
        if !self.write(config, &config.table, None, row, sink)? {
            return Ok(());
        }
        let root_id = config.propagate_root_key.then_some(row_id.as_str());
        let parent_path = vec![config.table.clone()];
        for (path, list) in lists {
            self.normalize_list(
                config,
                &parent_path,
                path,
                list,
                &row_id,
                root_id,
                config.max_nesting.saturating_sub(1),
                sink,
            )?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn normalize_list(
        &mut self,
        config: &RootConfig,
        parent_path: &[String],
        ident_path: Vec<String>,
        list: JsonRef<'_>,
        parent_id: &str,
        root_id: Option<&str>,
        level: usize,
        sink: &mut impl RowSink,
    ) -> Result<()> {
        let mut full_path: Vec<String> = parent_path.to_vec();
        full_path.extend(ident_path);
        let names = self.names.list_table(&full_path, parent_path.len());
        let (table, parent_table, plan) = (names.table.as_str(), names.parent.as_str(), names.plan);
        let checking = !config.contract.is_evolve();
        if checking {
            let path = full_path[parent_path.len()..].join(".");
            self.trail.steps.push((path, 0));
        }
        let elements = match list.kind() {
            Kind::Array(elements) => elements,
            _ => crate::foundation::doc::Elements::Value([].iter()),
        };
        for (idx, element) in elements.enumerate() {
            if checking && let Some(step) = self.trail.steps.last_mut() {
                step.1 = idx;
            }
            let (mut row, lists, child_level) = match element.kind() {
                Kind::Object(_) => {
                    let f = flatten(
                        self.schema.tables.get(table),
                        &mut self.names,
                        plan,
                        Fields::Object(element),
                        level,
                    );
                    (f.row, f.lists, level)
                }
                Kind::Array(_) => {
                    let level = level.saturating_sub(1);
                    let f = flatten(
                        self.schema.tables.get(table),
                        &mut self.names,
                        plan,
                        Fields::One("list", element),
                        level,
                    );
                    (f.row, f.lists, level)
                }
                _ => {
                    let mut row = FieldRow::new(&mut self.names, plan, 5);
                    row.insert_system(&mut self.names, System::Value, element);
                    (row, Vec::new(), level)
                }
            };
            if let Some(root_id) = root_id {
                row.insert_system(&mut self.names, System::RootId, JsonRef::Str(root_id));
            }
            let row_id = hash::nested_row_id(parent_id, table, idx);
            let list_idx = ListIndex::new(idx);
            row.insert_system(&mut self.names, System::ParentId, JsonRef::Str(parent_id));
            row.insert_system(
                &mut self.names,
                System::ListIdx,
                JsonRef::Int(list_idx.text()),
            );
            row.insert_system(&mut self.names, System::Id, JsonRef::Str(&row_id));
            if !self.write(config, table, Some(parent_table), row, sink)? {
                continue;
            }
            for (path, inner) in lists {
                self.normalize_list(
                    config,
                    &full_path,
                    path,
                    inner,
                    &row_id,
                    root_id,
                    child_level.saturating_sub(1),
                    sink,
                )?;
            }
        }
        if checking {
            self.trail.steps.pop();
        }
        Ok(())
    }

    /// Coerces `row` into `table` (creating the table and columns as needed) and hands it to the sink; `false`
    /// when a schema contract discarded the row (its nested rows are skipped then).
    fn write(
        &mut self,
        config: &RootConfig,
        table_name: &str,
        parent: Option<&str>,
        row: FieldRow<'_>,
        sink: &mut impl RowSink,
    ) -> Result<bool> {
        // Contract checks (`None`: everything evolves): the mode of new columns in this row.
        let columns_mode = if config.contract.is_evolve() {
            None
        } else {
            let new_table = contract::is_new_table(self.schema.tables.get(table_name));
            if new_table
                && contract::check_new_table(
                    config.contract.tables,
                    &config.resource,
                    table_name,
                    &self.trail,
                )? != Verdict::Keep
            {
                // As dlt, a table the contract keeps out stays out of the schema (a root table was declared).
                if parent.is_none() && self.schema.tables.get(table_name).is_some() {
                    self.schema.tables.shift_remove(table_name);
                }
                self.discards.row(table_name);
                return Ok(false);
            }
            Some(
                if new_table || (parent.is_none() && config.evolve_columns_once) {
                    EvolutionMode::Evolve
                } else {
                    config.contract.columns
                },
            )
        };
        let at = match self.schema.tables.get_index_of(table_name) {
            Some(at) => at,
            None => {
                self.schema
                    .tables
                    .insert_full(table_name.to_owned(), {
                        let mut t = Table::new(
                            table_name,
                            parent.map(str::to_owned),
                            config.write_disposition,
                        );
                        if parent.is_none() {
                            t.resource = Some(config.resource.clone());
                        }
                        t
                    })
                    .0
            }
        };
        let Some((_, table)) = self.schema.tables.get_index_mut(at) else {
            return Ok(false);
        };
        let mut out: Row<'_> = Vec::with_capacity(row.cells.len());
        let mut drop_row = false;
        let mut dropped_values = 0;
        // Where the row's columns sit in the table, as the plan last saw them.
        let mut places = self
            .names
            .plans
            .get_mut(row.plan)
            .map(|p| {
                p.width = row.cells.len();
                std::mem::take(&mut p.columns)
            })
            .unwrap_or_default();
        for (name, id, value) in row.cells {
            let at = column_index(table, &mut places, id, &name);
            if value.is_null() {
                if let Some((_, column)) = at.and_then(|i| table.columns.get_index(i))
                    && column.is_complete()
                    && !column.nullable
                {
                    return Err(Error::Item {
                        resource: config.resource.clone(),
                        table: table_name.to_owned(),
                        message: format!("column `{name}` is NOT NULL but the item has null"),
                    });
                }
                continue;
            }
            let Some(columns_mode) = columns_mode else {
                let (column_name, cell) =
                    fit_value(table, at, name, value).map_err(|message| Error::Item {
                        resource: config.resource.clone(),
                        table: table_name.to_owned(),
                        message,
                    })?;
                out.push((column_name, cell));
                continue;
            };
            // Under a contract: a column this value creates (or types) is checked, and taken back when discarded.
            let columns_before = table.columns.len();
            let untyped = table
                .columns
                .get(&*name)
                .filter(|c| !c.is_complete())
                .cloned();
            let (column_name, cell) =
                fit_value(table, at, Arc::clone(&name), value).map_err(|message| Error::Item {
                    resource: config.resource.clone(),
                    table: table_name.to_owned(),
                    message,
                })?;
            let created = table.columns.len() > columns_before;
            if created || untyped.is_some() {
                let variant = table.columns.get(&*column_name).is_some_and(|c| c.variant);
                let (entity, mode) = if variant {
                    (ContractEntity::DataType, config.contract.data_type)
                } else if column_name.starts_with("_dlt") {
                    (ContractEntity::Columns, EvolutionMode::Evolve)
                } else {
                    (ContractEntity::Columns, columns_mode)
                };
                let source_type = table
                    .columns
                    .get(&*name)
                    .and_then(|c| c.data_type)
                    .map(|t| t.as_str());
                let verdict = contract::check_new_column(
                    entity,
                    mode,
                    &config.resource,
                    table_name,
                    &NewColumn {
                        name: &column_name,
                        source: &name,
                        source_type,
                        value,
                    },
                    &self.trail,
                )?;
                if verdict != Verdict::Keep {
                    match untyped {
                        Some(column) if !created => {
                            table.columns.insert(column.name.clone(), column);
                        }
                        _ => {
                            table.columns.shift_remove(&*column_name);
                        }
                    }
                    if verdict == Verdict::DropRow {
                        drop_row = true;
                    } else {
                        dropped_values += 1;
                    }
                    continue;
                }
            }
            out.push((column_name, cell));
        }
        // (an error above only loses the places, found again by name)
        if let Some(plan) = self.names.plans.get_mut(row.plan) {
            plan.columns = places;
        }
        if drop_row {
            // As dlt, the row's other new columns stay in the schema.
            self.discards.row(table_name);
            return Ok(false);
        }
        self.discards.values(table_name, dropped_values);
        sink.write_row(table, out)?;
        Ok(true)
    }
}

/// A list index as its decimal text, without allocating.
struct ListIndex {
    digits: [u8; 20],
    start: usize,
}

impl ListIndex {
    fn new(idx: usize) -> Self {
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        let mut n = idx;
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        ListIndex { digits, start }
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.digits[self.start..]).unwrap_or("0")
    }
}

/// Feeds a primary key value to `hasher` so that values PostgreSQL may store alike hash alike: a string and
/// the number it spells collide, which only costs a deduplication in SQL.
fn hash_key_value(value: JsonRef<'_>, hasher: &mut impl std::hash::Hasher) {
    match value.kind() {
        Kind::String(s) => hasher.write(s.as_bytes()),
        Kind::Number(n) => match n.as_i64() {
            Some(i) => {
                let mut buf = [0u8; 20];
                let mut pos = buf.len();
                let mut v = i.unsigned_abs();
                loop {
                    pos -= 1;
                    buf[pos] = b'0' + (v % 10) as u8;
                    v /= 10;
                    if v == 0 {
                        break;
                    }
                }
                if i < 0 {
                    hasher.write(b"-");
                }
                hasher.write(&buf[pos..]);
            }
            // A float as the `f64` PostgreSQL stores (the same number written with other digits hashes alike).
            None => match n.as_f64().and_then(serde_json::Number::from_f64) {
                Some(f) => hasher.write(f.to_string().as_bytes()),
                None => hasher.write(n.as_str().as_bytes()),
            },
        },
        _ => hasher.write(value.to_string().as_bytes()),
    }
    // Separates the columns of a compound key.
    hasher.write_u8(0xff);
}

/// Memoized name normalization (dlt caches it the same way): keys repeat in every item. Names are shared
/// (`Arc<str>`), so a row's column names cost no allocation.
///
/// It also keeps a row plan per table: the keys of the last dict seen at each place of its rows, with their
/// names (items mostly share their shape, so a key is found by comparing it with the one seen at its position
/// last time, without hashing), and where each column sits in the table (checked by name before use, so a
/// changed table only costs a lookup).
#[derive(Default)]
pub(crate) struct NameCache {
    /// Normalized path of the dict (`a__b`, empty at the top) -> key as sent -> its names.
    fields: FastMap<Arc<str>, FastMap<String, FieldNames>>,
    tables: FastMap<String, String>,
    /// Per [`System`] name: the name and its id.
    system: [Option<(Arc<str>, u32)>; 6],
    /// Full path of a list's table -> (segments of its parent's path, its names).
    list_tables: FastMap<Vec<String>, Vec<(usize, Arc<ListTable>)>>,
    empty: Option<Arc<str>>,
    /// A dense id per column name.
    ids: FastMap<Arc<str>, u32>,
    /// Table name -> its plan in `plans`.
    plan_of: FastMap<String, usize>,
    plans: Vec<TablePlan>,
    /// The dict shapes of all plans.
    shapes: Vec<Vec<Slot>>,
    /// (plan, path of the dict) -> its shape in `shapes`.
    shape_of: FastMap<(usize, Arc<str>), u32>,
    /// Per column id: (generation, position) of the column in the row being built.
    marks: Vec<(u32, u32)>,
    generation: u32,
}

/// A name written as it is.
#[derive(Clone, Copy)]
enum System {
    LoadId,
    Id,
    RootId,
    ParentId,
    ListIdx,
    /// The column of a scalar in a list.
    Value,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::LoadId => C_DLT_LOAD_ID,
            System::Id => C_DLT_ID,
            System::RootId => C_DLT_ROOT_ID,
            System::ParentId => C_DLT_PARENT_ID,
            System::ListIdx => C_DLT_LIST_IDX,
            System::Value => "value",
        }
    }
}

/// The names of a list's table.
struct ListTable {
    table: String,
    /// The parent table.
    parent: String,
    /// The row plan of the table.
    plan: usize,
}

/// The plan of one table's rows.
struct TablePlan {
    /// The shape of the row's own dict.
    root: u32,
    /// Per column id: the column's index in the table when last seen, `u32::MAX` when unknown.
    columns: Vec<u32>,
    /// The fields of the last row (the next one is given room for as many).
    width: usize,
}

/// A key seen at one position of a dict, with its names.
struct Slot {
    key: Box<str>,
    names: FieldNames,
    /// The shape of a dict under the key, `u32::MAX` until one is seen.
    child: u32,
}

/// The names of one key of a dict at one path.
#[derive(Clone)]
struct FieldNames {
    /// The column of a scalar under it: the path and the key, shortened as a whole.
    column: Arc<str>,
    /// The id of `column`.
    id: u32,
    /// The path of a dict under it: the path and the key, joined with `__`.
    path: Arc<str>,
}

/// Marks a shape not yet made.
const NO_SHAPE: u32 = u32::MAX;

impl NameCache {
    fn field(&mut self, path: &Arc<str>, key: &str) -> FieldNames {
        if let Some(names) = self.fields.get(path).and_then(|m| m.get(key)) {
            return names.clone();
        }
        let norm: Arc<str> = naming::normalize_key(key).into();
        let (column, path_of_dict): (Arc<str>, Arc<str>) = if path.is_empty() {
            (Arc::clone(&norm), norm)
        } else {
            (
                naming::shorten_fragments(&[&**path, &*norm]).into(),
                format!("{path}__{norm}").into(),
            )
        };
        let id = self.id(&column);
        let names = FieldNames {
            column,
            id,
            path: path_of_dict,
        };
        self.fields
            .entry(Arc::clone(path))
            .or_default()
            .insert(key.to_owned(), names.clone());
        names
    }

    /// The id of a column name (the same name, the same id, wherever it comes from).
    fn id(&mut self, column: &Arc<str>) -> u32 {
        if let Some(id) = self.ids.get(column) {
            return *id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(Arc::clone(column), id);
        id
    }

    /// The plan of the rows of `table`.
    fn plan(&mut self, table: &str) -> usize {
        if let Some(plan) = self.plan_of.get(table) {
            return *plan;
        }
        let plan = self.plans.len();
        let root = self.new_shape();
        self.plans.push(TablePlan {
            root,
            columns: Vec::new(),
            width: 0,
        });
        self.plan_of.insert(table.to_owned(), plan);
        plan
    }

    fn new_shape(&mut self) -> u32 {
        self.shapes.push(Vec::new());
        (self.shapes.len() - 1) as u32
    }

    /// The column and its id of `key` at `position` of a dict of shape `shape` (at `path`): the key seen there
    /// last time when it is the same, else the name cache's, remembered for the next dict of this shape.
    fn slot(&mut self, shape: u32, position: usize, path: &Arc<str>, key: &str) -> (Arc<str>, u32) {
        if let Some(slot) = self
            .shapes
            .get(shape as usize)
            .and_then(|slots| slots.get(position))
            && &*slot.key == key
        {
            return (Arc::clone(&slot.names.column), slot.names.id);
        }
        let names = self.field(path, key);
        let found = (Arc::clone(&names.column), names.id);
        if let Some(slots) = self.shapes.get_mut(shape as usize) {
            let slot = Slot {
                key: key.into(),
                names,
                child: NO_SHAPE,
            };
            if position < slots.len() {
                slots[position] = slot;
            } else if position == slots.len() {
                slots.push(slot);
            }
        }
        found
    }

    /// The shape and the path of the dict under `key` at `position` of a dict of shape `shape` (at `path`), in
    /// plan `plan`; [`NameCache::slot`] was asked for the key first.
    fn child(
        &mut self,
        plan: usize,
        shape: u32,
        position: usize,
        path: &Arc<str>,
        key: &str,
    ) -> (u32, Arc<str>) {
        let slot = self
            .shapes
            .get(shape as usize)
            .and_then(|slots| slots.get(position))
            .filter(|slot| &*slot.key == key);
        if let Some(slot) = slot
            && slot.child != NO_SHAPE
        {
            return (slot.child, Arc::clone(&slot.names.path));
        }
        let child_path = match slot {
            Some(slot) => Arc::clone(&slot.names.path),
            None => self.field(path, key).path,
        };
        let child = match self.shape_of.get(&(plan, Arc::clone(&child_path))) {
            Some(child) => *child,
            None => {
                let child = self.new_shape();
                self.shape_of.insert((plan, Arc::clone(&child_path)), child);
                child
            }
        };
        if let Some(slot) = self
            .shapes
            .get_mut(shape as usize)
            .and_then(|slots| slots.get_mut(position))
            .filter(|slot| &*slot.key == key)
        {
            slot.child = child;
        }
        (child, child_path)
    }

    fn table(&mut self, key: &str) -> String {
        if let Some(n) = self.tables.get(key) {
            return n.clone();
        }
        let n = naming::normalize_tables_path(key);
        self.tables.insert(key.to_owned(), n.clone());
        n
    }

    /// A name used as it is (system columns, `value`), with its id.
    fn system(&mut self, name: System) -> (Arc<str>, u32) {
        let at = name as usize;
        if let Some(Some((column, id))) = self.system.get(at) {
            return (Arc::clone(column), *id);
        }
        let column: Arc<str> = name.name().into();
        let id = self.id(&column);
        if let Some(slot) = self.system.get_mut(at) {
            *slot = Some((Arc::clone(&column), id));
        }
        (column, id)
    }

    /// The names of the table of a list at `full_path` (its segments, the parent's `parent_len` first), and its
    /// plan.
    fn list_table(&mut self, full_path: &[String], parent_len: usize) -> Arc<ListTable> {
        // (one path can be a list of the root's dict and a list in a list's items: the parent tells them apart)
        if let Some((_, names)) = self
            .list_tables
            .get(full_path)
            .and_then(|found| found.iter().find(|(len, _)| *len == parent_len))
        {
            return Arc::clone(names);
        }
        let table = naming::shorten_fragments(full_path);
        let parent = naming::shorten_fragments(&full_path[..parent_len.min(full_path.len())]);
        let plan = self.plan(&table);
        let names = Arc::new(ListTable {
            table,
            parent,
            plan,
        });
        self.list_tables
            .entry(full_path.to_vec())
            .or_default()
            .push((parent_len, Arc::clone(&names)));
        names
    }

    fn empty(&mut self) -> Arc<str> {
        Arc::clone(self.empty.get_or_insert_with(|| "".into()))
    }
}

/// Flattens a dict: scalars (and json values) into the row, lists out to child tables. `table` is the schema
/// table the row goes to (`plan` its row plan): a column already typed json keeps its value whole.
fn flatten<'v>(
    table: Option<&Table>,
    names: &mut NameCache,
    plan: usize,
    object: Fields<'v>,
    level: usize,
) -> Flattened<'v> {
    let is_json = |name: &str| {
        table
            .and_then(|t| t.columns.get(name))
            .is_some_and(|c| c.data_type == Some(DataType::Json))
    };
    // A list of bytes into a binary column (how serde writes `Vec<u8>`) is the column's value, not a child table.
    let is_binary = |name: &str| {
        table
            .and_then(|t| t.columns.get(name))
            .is_some_and(|c| c.data_type == Some(DataType::Binary))
    };
    let mut row = FieldRow::new(names, plan, object.len() + 5);
    let mut lists = Vec::new();
    let mut dlt_id = None;
    let root = names.plans.get(plan).map_or(NO_SHAPE, |p| p.root);
    // (dict, nesting budget left, normalized path joined with `__`, its shape)
    let mut stack: Vec<(Fields<'v>, usize, Arc<str>, u32)> = Vec::with_capacity(4);
    stack.push((object, level, names.empty(), root));
    let mut top = true;
    while let Some((current, level, path, shape)) = stack.pop() {
        let mut position = 0;
        current.for_each(|key, value| {
            let at = position;
            position += 1;
            let (column, id) = names.slot(shape, at, &path, key);
            if top
                && key == C_DLT_ID
                && let Kind::String(id) = value.kind()
            {
                dlt_id = Some(id);
            }
            // (only dicts and lists ask: a scalar goes into the row either way)
            let keep_as_json = || level == 0 || is_json(&column);
            match value.kind() {
                Kind::Object(_) if !keep_as_json() => {
                    let (child, child_path) = names.child(plan, shape, at, &path, key);
                    stack.push((Fields::Object(value), level - 1, child_path, child));
                }
                Kind::Array(inner)
                    if !(keep_as_json()
                        || is_binary(&column) && super::coerce::is_byte_list(inner.clone())) =>
                {
                    let mut list_path: Vec<String> = if path.is_empty() {
                        Vec::new()
                    } else {
                        path.split("__").map(str::to_owned).collect()
                    };
                    list_path.push(names.table(key));
                    push_list(&mut lists, list_path, value);
                }
                _ => row.insert(names, column, id, value),
            }
        });
        top = false;
    }
    Flattened { row, dlt_id, lists }
}

/// Adds a list found while flattening. Two keys that normalize to the same child table (`Tags` and `tags`,
/// `a b` and `a_b`) keep the last key's list at the first one's place, as dlt's dict of lists does; the
/// tables are compared by their joined path, so `{"a": {"b": []}, "a__b": []}` keeps one list too (dlt keeps
/// both there and writes duplicate `_dlt_id`s). Objects rarely carry more than a few lists: a linear scan.
fn push_list<'v>(
    lists: &mut Vec<(Vec<String>, JsonRef<'v>)>,
    path: Vec<String>,
    list: JsonRef<'v>,
) {
    fn joined(path: &[String]) -> impl Iterator<Item = u8> + '_ {
        path.iter().enumerate().flat_map(|(i, segment)| {
            let separator: &[u8] = if i == 0 { b"" } else { b"__" };
            separator.iter().chain(segment.as_bytes()).copied()
        })
    }
    match lists
        .iter_mut()
        .find(|(other, _)| joined(other).eq(joined(&path)))
    {
        Some(slot) => slot.1 = list,
        None => lists.push((path, list)),
    }
}

/// The index of column `name` (id `id`) in `table`: where `places` saw it last when it is still there, else
/// looked up (and remembered).
fn column_index(table: &Table, places: &mut Vec<u32>, id: u32, name: &str) -> Option<usize> {
    let slot = id as usize;
    if let Some(&at) = places.get(slot)
        && let Some((column, _)) = table.columns.get_index(at as usize)
        && column == name
    {
        return Some(at as usize);
    }
    let at = table.columns.get_index_of(name)?;
    if places.len() <= slot {
        places.resize(slot + 1, u32::MAX);
    }
    places[slot] = u32::try_from(at).unwrap_or(u32::MAX);
    Some(at)
}

/// Puts `value` into column `name` of `table` (at index `at` when it has it): the column's type when the value
/// has or can be coerced to it, else a variant column `<name>__v_<type>`. Returns the column written and the
/// value.
fn fit_value<'v>(
    table: &mut Table,
    at: Option<usize>,
    name: Arc<str>,
    value: JsonRef<'v>,
) -> std::result::Result<(Arc<str>, Cell<'v>), String> {
    if let Some((_, column)) = at.and_then(|i| table.columns.get_index(i))
        && let Some(column_type) = column.data_type
    {
        // Fast path: the value already has the column's type (no detection needed); coercion into an existing
        // column does not depend on the value's inferred type.
        if let Some(cell) = borrow_cell(value, column_type).or_else(|| coerce(value, column_type)) {
            let cell = super::coerce::fit_to_column(cell, column.precision, column.timezone)
                .map_err(|why| format!("value of column `{name}`: {why}"))?;
            return Ok((name, cell));
        }
    }
    fit_slow(table, name, value)
}

fn fit_slow<'v>(
    table: &mut Table,
    name: Arc<str>,
    value: JsonRef<'v>,
) -> std::result::Result<(Arc<str>, Cell<'v>), String> {
    let inferred = infer_type(value);
    let Some(column_type) = table.columns.get(&*name).and_then(|c| c.data_type) else {
        let cell = borrow_cell(value, inferred)
            .or_else(|| coerce(value, inferred))
            .ok_or_else(|| unstorable(value, &name))?;
        // As dlt: a column declared without a type (a key, a hint without `data_type`) takes its place where
        // its first value appears.
        if let Some(at) = table.columns.get_index_of(&*name) {
            let last = table.columns.len() - 1;
            table.columns.move_index(at, last);
        }
        let column = table
            .columns
            .entry(name.to_string())
            .or_insert_with(|| Column::new(name.to_string(), None));
        column.data_type = Some(inferred);
        if is_system_not_null(&name) {
            column.nullable = false;
        }
        let cell = super::coerce::fit_to_column(cell, column.precision, column.timezone)
            .map_err(|why| format!("value of column `{name}`: {why}"))?;
        return Ok((name, cell));
    };
    // As dlt: the variant is named after the value's own type, and typed by detection (an ISO string sent to a
    // bigint column lands in `<col>__v_text`, typed timestamp).
    let own_type = value_type(value).unwrap_or(DataType::Text);
    let variant =
        naming::shorten_fragments(&[name.to_string(), format!("v_{}", own_type.as_str())]);
    let variant_type = table
        .columns
        .get(&variant)
        .and_then(|c| c.data_type)
        .unwrap_or(inferred);
    let cell = borrow_cell(value, variant_type)
        .or_else(|| coerce(value, variant_type))
        .ok_or_else(|| {
            format!(
                "value {value} of column `{name}` cannot be coerced to `{}` nor to its variant column `{variant}` of type `{}`",
                column_type.as_str(),
                variant_type.as_str()
            )
        })?;
    if !table.columns.contains_key(&variant) {
        let mut column = Column::new(variant.clone(), Some(variant_type));
        column.variant = true;
        table.columns.insert(variant.clone(), column);
    }
    Ok((variant.into(), cell))
}

/// A value whose own type is `t`, as a cell of that type borrowing its text (no coercion); `None` when it does
/// not fit as it is.
fn borrow_cell(value: JsonRef<'_>, t: DataType) -> Option<Cell<'_>> {
    match (t, value.kind()) {
        (DataType::Text, Kind::String(s)) => Some(Cell::Text(Cow::Borrowed(s))),
        (DataType::Bigint, Kind::Number(n)) => n.as_i64().map(Cell::Bigint),
        (DataType::Double, Kind::Number(n)) if !(n.is_i64() || n.is_u64()) => {
            n.as_f64().filter(|f| f.is_finite()).map(Cell::Double)
        }
        (DataType::Bool, Kind::Bool(b)) => Some(Cell::Bool(b)),
        (DataType::Json, Kind::Array(_) | Kind::Object(_)) => Some(Cell::Json(match value {
            JsonRef::Value(v) => Cow::Borrowed(v),
            _ => Cow::Owned(value.to_value()),
        })),
        _ => None,
    }
}

/// Why a value cannot be stored in a new column of its own type.
fn unstorable(value: JsonRef<'_>, name: &str) -> String {
    match value.kind() {
        Kind::Number(n) if n.is_u64() => format!(
            "integer {n} of column `{name}` is beyond the 64-bit range of PostgreSQL's bigint; send it as a string \
             or a float"
        ),
        _ => format!("value {value} of column `{name}` cannot be stored"),
    }
}

fn is_system_not_null(name: &str) -> bool {
    matches!(
        name,
        C_DLT_ID | C_DLT_LOAD_ID | C_DLT_PARENT_ID | C_DLT_ROOT_ID | C_DLT_LIST_IDX
    )
}

/// The type a new column gets for `value` (not null): `model::schema::infer` of a `JsonRef`.
fn infer_type(value: JsonRef<'_>) -> DataType {
    match value.kind() {
        Kind::String(s) if crate::foundation::py_time::is_iso_timestamp(s) => DataType::Timestamp,
        _ => value_type(value).unwrap_or(DataType::Text),
    }
}

/// The type of the value itself: `model::schema::value_type` of a `JsonRef`.
fn value_type(value: JsonRef<'_>) -> Option<DataType> {
    Some(match value.kind() {
        Kind::Null => return None,
        Kind::Bool(_) => DataType::Bool,
        Kind::Number(n) if n.is_i64() || n.is_u64() => DataType::Bigint,
        Kind::Number(_) => DataType::Double,
        Kind::String(_) => DataType::Text,
        Kind::Array(_) | Kind::Object(_) => DataType::Json,
    })
}

/// Converts `value` to a cell of type `to`, or `None` when dlt would not coerce.
fn coerce(value: JsonRef<'_>, to: DataType) -> Option<Cell<'static>> {
    super::coerce::coerce(value, to)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::foundation::doc::Doc;
    use crate::model::hints::MergeStrategy;

    /// Collects rows as text, leaving out the columns named in `random` (random ids).
    struct Collect {
        rows: Vec<String>,
        random: &'static [&'static str],
    }

    impl RowSink for Collect {
        fn write_row(&mut self, table: &Table, row: Row<'_>) -> Result<()> {
            let cells: Vec<String> = row
                .iter()
                .filter(|(name, _)| !self.random.contains(&&**name))
                .map(|(name, cell)| format!("{name}={cell:?}"))
                .collect();
            self.rows
                .push(format!("{}: {}", table.name, cells.join(" ")));
            Ok(())
        }
    }

    /// Items whose rows and schema are tricky to get the same: nested dicts in their order, lists of lists,
    /// repeated keys, big and odd numbers, escapes and non-ASCII, empty objects and lists, null vs missing,
    /// values changing type (variant columns), a json column, bytes into a binary column.
    const LINES: &[&str] = &[
        r#"{"id": 1, "b": {"y": 1, "x": {"q": 2, "p": 3}}, "a": 1, "m": [[1, 2], [3, [4, 5]], []], "j": {"k": [1, {"z": null}]}}"#,
        r#"{"id": 2, "k": 1, "o": {"z": 1, "z": {"w": [1]}}, "k": {"n": null}, "k": 3, "bin": [1, 2, 255]}"#,
        r#"{"id": 3, "f": 1e300, "g": -0.0, "big": 12345678901234567890123, "i": -0, "d": 0.12345678901234567890123}"#,
        r#"{"id": 4, "s": "\u00e9\n\t\"\\ \u0001 \u2713 \ud83d\ude00", "ключ": "значение", "k": "text now"}"#,
        r#"{"id": 5, "e": {}, "l": [], "n": {"e": {}, "l": [[]]}, "x": null, "t": true, "j": "[1, 2]"}"#,
        r#"{"id": 6, "a": "2024-01-01T00:00:00Z", "b": {"y": "z"}, "m": [{"id": 1, "m": [{"deep": [1]}]}], "g": 1.5}"#,
        r#"{"id": 7}"#,
        r#"{"id": 8, "x": 1, "big": "1e400", "f": 2, "u": 1, "bin": "0x00ff"}"#,
        r#"{"id": 9, "u": 18446744073709551615}"#,
    ];

    fn config(write_disposition: WriteDisposition, strategy: MergeStrategy) -> RootConfig {
        RootConfig {
            resource: "items".into(),
            table: "items".into(),
            write_disposition,
            primary_key: if write_disposition == WriteDisposition::Merge {
                vec!["id".into()]
            } else {
                Vec::new()
            },
            merge_key: Vec::new(),
            max_nesting: DEFAULT_MAX_NESTING,
            propagate_root_key: true,
            merge: MergeSpec {
                strategy,
                ..Default::default()
            },
            columns: vec![
                ("j".into(), ColumnHint::json()),
                ("bin".into(), ColumnHint::binary()),
            ],
            schema_contract: None,
            contract: Default::default(),
            evolve_columns_once: true,
        }
    }

    /// The rows, the schema and the errors of normalizing `items`.
    fn normalize<'v>(
        config: &RootConfig,
        items: impl Iterator<Item = JsonRef<'v>>,
        random: &'static [&'static str],
    ) -> (Vec<String>, Schema) {
        let mut schema = Schema::new("s");
        let mut sink = Collect {
            rows: Vec::new(),
            random,
        };
        let mut normalizer = Normalizer::new(&mut schema, "1.5");
        normalizer.declare_root(config);
        for (i, item) in items.enumerate() {
            if let Err(e) = normalizer.normalize_item(config, item, i as u64 + 1, &mut sink) {
                sink.rows.push(format!("error: {e}"));
            }
        }
        (sink.rows, schema)
    }

    #[test]
    fn documents_normalize_as_values_do() {
        let docs: Vec<Doc> = LINES
            .iter()
            .map(|line| {
                let mut doc = Doc::new();
                doc.parse_json(line.as_bytes()).expect("parses");
                doc
            })
            .collect();
        let values: Vec<Value> = docs.iter().map(Doc::to_value).collect();
        let cases: [(WriteDisposition, MergeStrategy, &[&str]); 3] = [
            // scd2 and upsert ids derive from the item and the key: every row compares.
            (WriteDisposition::Merge, MergeStrategy::Scd2, &[]),
            (WriteDisposition::Merge, MergeStrategy::Upsert, &[]),
            // Random root ids: compared without them.
            (
                WriteDisposition::Append,
                MergeStrategy::DeleteInsert,
                &[C_DLT_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID],
            ),
        ];
        for (disposition, strategy, random) in cases {
            let config = config(disposition, strategy);
            let (value_rows, value_schema) =
                normalize(&config, values.iter().map(JsonRef::Value), random);
            let (doc_rows, doc_schema) = normalize(&config, docs.iter().map(Doc::root), random);
            assert_eq!(value_rows, doc_rows, "{disposition:?} {strategy:?}");
            assert_eq!(value_schema, doc_schema, "{disposition:?} {strategy:?}");
            assert!(value_rows.len() > LINES.len(), "{value_rows:#?}");
        }
        // Scalar items are `{"value": x}`.
        let scalars = ["5", r#""s""#, "null", "[1, [2]]", "1.25"];
        let docs: Vec<Doc> = scalars
            .iter()
            .map(|line| {
                let mut doc = Doc::new();
                doc.parse_json(line.as_bytes()).expect("parses");
                doc
            })
            .collect();
        let values: Vec<Value> = docs.iter().map(Doc::to_value).collect();
        let config = config(WriteDisposition::Append, MergeStrategy::DeleteInsert);
        let random = &[C_DLT_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID];
        let (value_rows, value_schema) =
            normalize(&config, values.iter().map(JsonRef::Value), random);
        let (doc_rows, doc_schema) = normalize(&config, docs.iter().map(Doc::root), random);
        assert_eq!(value_rows, doc_rows);
        assert_eq!(value_schema, doc_schema);
    }

    /// Items whose rows depend on the row plan being right: keys in another order from one item to the next,
    /// shapes that come and go, two keys of one column (in one dict and across dicts), own `_dlt_id`s, nulls,
    /// lists of dicts of changing shape, scalars and lists in lists.
    const SHAPES: &[&str] = &[
        r#"{"id": 10, "z": 1, "y": 2, "a": 1, "o": {"p": 1, "q": {"r": 1}}}"#,
        r#"{"id": 11, "a": 1, "z": 2, "y": "x", "o": {"q": {"r": "s"}, "p": 2}}"#,
        r#"{"id": 12, "a": {"b": 1}, "a__b": 2, "o": null}"#,
        r#"{"id": 13, "a__b": 3, "a": {"b": 4}, "Tags": [1, 2], "tags": [3]}"#,
        r#"{"id": 14, "_dlt_id": "own-id", "x": 1, "l": [{"a": 1, "b": {"c": 2}}, {"b": {"c": 3}, "a": "s"}, 5, [1, 2]]}"#,
        r#"{"id": 15, "_dlt_id": 5, "nested": {"_dlt_id": "x"}, "x": null}"#,
        r#"{"ID": 16, "id": 17, "a": null, "b": {"c": null}, "l": [{"b": {"c": 3}}, {"a": 2}]}"#,
        r#"{"id": 18, "z": 1, "y": 2, "a": 1, "o": {"p": 1, "q": {"r": 1}}, "l": [[{"x": 1}], []]}"#,
        r#"{"z": 1, "y": 2}"#,
        r#"{"id": 19, "o": {"p": {"deep": {"deeper": 1}}}, "y": 1.5, "a": true}"#,
        r#"{"id": 20, "y": 3, "a": "text", "z": "1", "o__p": 7}"#,
        r#"{"id": 21, "x": {"y": [1]}, "w": [{"v": [{"u": 1}]}]}"#,
        r#"{"id": 22, "x": [{"y": [2]}], "w": {"v": [{"u": 2}]}}"#,
        r#"{"id": 23, "x": {"y": [3]}, "w": [{"v": [{"u": 3}]}]}"#,
    ];

    /// The rows and schemas of [`LINES`] and [`SHAPES`] under several dispositions, nesting budgets and schema
    /// contracts, as text; equal to the snapshot taken before rows were planned (with `ELE_NORMALIZE_SNAPSHOT`
    /// set, the text is also written to that file).
    #[test]
    fn rows_and_schemas_match_the_snapshot() {
        let mut text = String::new();
        let docs: Vec<Doc> = LINES
            .iter()
            .chain(SHAPES)
            .chain(LINES)
            .map(|line| {
                let mut doc = Doc::new();
                doc.parse_json(line.as_bytes()).expect("parses");
                doc
            })
            .collect();
        let contracts = [
            ContractModes::default(),
            ContractModes {
                tables: EvolutionMode::Evolve,
                columns: EvolutionMode::DiscardValue,
                data_type: EvolutionMode::DiscardRow,
            },
            ContractModes {
                tables: EvolutionMode::DiscardRow,
                columns: EvolutionMode::DiscardRow,
                data_type: EvolutionMode::DiscardValue,
            },
        ];
        let cases = [
            (WriteDisposition::Merge, MergeStrategy::Scd2),
            (WriteDisposition::Merge, MergeStrategy::Upsert),
            (WriteDisposition::Merge, MergeStrategy::DeleteInsert),
            (WriteDisposition::Append, MergeStrategy::DeleteInsert),
        ];
        for (disposition, strategy) in cases {
            for max_nesting in [DEFAULT_MAX_NESTING, 1] {
                for (c, contract) in contracts.iter().enumerate() {
                    let mut config = config(disposition, strategy);
                    config.max_nesting = max_nesting;
                    config.contract = *contract;
                    config.evolve_columns_once = c == 0;
                    // Ids of scd2 and upsert rows derive from the item, the others are random.
                    let random: &[&str] = if strategy == MergeStrategy::DeleteInsert {
                        &[C_DLT_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID]
                    } else {
                        &[]
                    };
                    let (rows, schema) = normalize(&config, docs.iter().map(Doc::root), random);
                    text.push_str(&format!(
                        "== {disposition:?} {strategy:?} nesting {max_nesting} contract {c}\n{}\n{schema:#?}\n",
                        rows.join("\n")
                    ));
                }
            }
        }
        if let Ok(path) = std::env::var("ELE_NORMALIZE_SNAPSHOT") {
            std::fs::write(path, &text).expect("snapshot written");
        }
        // The SHA3-256 of the text (1 MB) written by the normalizer before rows were planned; on a difference,
        // write the text of this build and of an older one with `ELE_NORMALIZE_SNAPSHOT` and compare them.
        assert_eq!(
            hash::digest256(&text),
            "YKq0Yagy26swxeCCedTgSqdGNpFllI+On3J/vqdXYTs="
        );
    }

    /// Times normalizing the bench's events (`ELE_MICRO_FILE`, JSON Lines) into binary COPY segments on one
    /// thread, best of five passes, for delete-insert and scd2.
    #[test]
    #[ignore = "a measurement: run with --release --ignored --nocapture"]
    fn micro_normalize_events() {
        let Ok(path) = std::env::var("ELE_MICRO_FILE") else {
            return;
        };
        let text = std::fs::read_to_string(path).expect("file");
        let docs: Vec<Doc> = text
            .lines()
            .map(|line| {
                let mut doc = Doc::new();
                doc.parse_json(line.as_bytes()).expect("parses");
                doc
            })
            .collect();
        for strategy in [MergeStrategy::DeleteInsert, MergeStrategy::Scd2] {
            let mut config = config(WriteDisposition::Merge, strategy);
            config.columns = Vec::new();
            if strategy == MergeStrategy::Scd2 {
                config.primary_key = Vec::new();
                config.merge_key = vec!["id".into()];
            }
            let mut best = f64::MAX;
            for _ in 0..5 {
                let mut schema = Schema::new("s");
                let mut sink = crate::package::SegmentWriter::default();
                let mut normalizer = Normalizer::new(&mut schema, "1.5");
                normalizer.declare_root(&config);
                let started = std::time::Instant::now();
                for (i, doc) in docs.iter().enumerate() {
                    normalizer
                        .normalize_item(&config, doc.root(), i as u64 + 1, &mut sink)
                        .expect("normalizes");
                    if i % 5000 == 4999 {
                        drop(sink.take());
                    }
                }
                best = best.min(started.elapsed().as_secs_f64());
            }
            println!("micro {strategy:?}: {:.0} ms", best * 1000.0);
        }
    }
}
