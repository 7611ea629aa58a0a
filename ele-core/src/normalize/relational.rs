//! dlt's relational normalizer: nested objects become `parent__child` columns, lists become child tables.
//!
//! Rows and their column order follow dlt 1.31 (`dlt/common/normalizers/json/relational.py`): a dict's scalars
//! come first in key order, nested dicts are unfolded last-in-first-out; root rows end with `_dlt_load_id`,
//! `_dlt_id`; child rows with `_dlt_root_id` (when propagated), `_dlt_parent_id`, `_dlt_list_idx`, `_dlt_id`.
//! Null values create no column: a column appears when its first non-null value does.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::naming;
use crate::error::{Error, Result};
use crate::hash;
use crate::package::MergeSpec;
use crate::resource::{MergeStrategy, WriteDisposition};
use crate::schema::types::DataType;
use crate::schema::{
    C_DLT_ID, C_DLT_LIST_IDX, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID, Column, Schema, Table,
};

/// How many primary keys per merge table the normalizer remembers to tell the loader that staging holds no
/// duplicates (about 16 MB); beyond that the loader deduplicates in SQL.
const MAX_TRACKED_KEYS: usize = 1 << 20;

/// dlt's default nesting budget.
pub const DEFAULT_MAX_NESTING: usize = 1000;

/// One value of a row, already coerced to its column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// `varchar`.
    Text(String),
    /// `bigint`.
    Bigint(i64),
    /// `double precision`.
    Double(f64),
    /// `boolean`.
    Bool(bool),
    /// `timestamp with time zone`.
    Timestamp(DateTime<Utc>),
    /// `jsonb`.
    Json(Value),
}

/// A normalized row: column names (normalized) with their values; columns without a value are null.
pub type Row = Vec<(String, Cell)>;

/// Receives the rows the normalizer produces.
pub trait RowSink {
    /// Takes one row of `table`; the table's columns include every column of the row.
    fn write_row(&mut self, table: &Table, row: Row) -> Result<()>;
}

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

/// Primary keys seen in one load of a merge table.
#[derive(Default)]
struct KeyTracker {
    /// 64-bit hashes of the keys seen.
    seen: std::collections::HashSet<u64>,
    /// A key came twice.
    duplicate: bool,
    /// Too many keys to remember: duplicates may have gone unnoticed.
    overflowed: bool,
}

/// Normalizes items into rows, growing `schema` as new tables and columns appear.
pub struct Normalizer<'s> {
    schema: &'s mut Schema,
    load_id: String,
    names: NameCache,
    /// Per merge table: the primary keys seen.
    keys_seen: HashMap<String, KeyTracker>,
}

struct Flattened {
    row: IndexMap<String, Value>,
    /// (path of normalized segments below the current table, list).
    lists: Vec<(Vec<String>, Vec<Value>)>,
}

impl<'s> Normalizer<'s> {
    /// A normalizer writing rows of load `load_id` into tables of `schema`.
    pub fn new(schema: &'s mut Schema, load_id: impl Into<String>) -> Self {
        Normalizer {
            schema,
            load_id: load_id.into(),
            names: NameCache::default(),
            keys_seen: HashMap::new(),
        }
    }

    /// Whether some primary key came twice in this load for the merge table `table` (a hash collision may
    /// say so wrongly, which only costs a deduplication).
    pub fn has_duplicate_keys(&self, table: &str) -> bool {
        self.keys_seen
            .get(table)
            .is_none_or(|k| k.duplicate || k.overflowed)
    }

    /// The schema as grown so far.
    pub fn schema(&self) -> &Schema {
        self.schema
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
        for key in &config.primary_key {
            let column = table
                .columns
                .entry(key.clone())
                .or_insert_with(|| Column::new(key.clone(), None));
            column.primary_key = true;
            column.nullable = false;
        }
        for key in &config.merge_key {
            let column = table
                .columns
                .entry(key.clone())
                .or_insert_with(|| Column::new(key.clone(), None));
            column.merge_key = true;
            column.nullable = false;
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

    /// Normalizes one item of a resource; `index` is its position in the run (for error messages).
    pub fn normalize_item(
        &mut self,
        config: &RootConfig,
        item: Value,
        index: u64,
        sink: &mut impl RowSink,
    ) -> Result<()> {
        let object = match item {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("value".to_owned(), other);
                map
            }
        };
        let original_has_id = object
            .get(C_DLT_ID)
            .and_then(Value::as_str)
            .map(str::to_owned);
        let strategy = config.merge_strategy();
        // scd2 identifies a version by a hash of the whole item, taken before flattening.
        let version_hash = (strategy == Some(MergeStrategy::Scd2)
            && original_has_id.is_none()
            && config
                .merge
                .scd2
                .as_ref()
                .is_none_or(|s| s.row_version.is_none()))
        .then(|| hash::item_version_hash(&object));
        let Flattened { mut row, lists } = flatten(
            self.schema.tables.get(&config.table),
            &mut self.names,
            object,
            config.max_nesting,
        );
        for (kind, keys) in [
            ("primary key", &config.primary_key),
            ("merge key", &config.merge_key),
        ] {
            for key in keys {
                if row.get(key).is_none_or(Value::is_null) {
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
                std::hash::Hash::hash(&row[key.as_str()].to_string(), &mut hasher);
            }
            let seen = self.keys_seen.entry(config.table.clone()).or_default();
            if !seen.duplicate && !seen.overflowed {
                if seen.seen.len() >= MAX_TRACKED_KEYS {
                    // Memory stays flat: past this many keys the loader deduplicates in SQL instead.
                    seen.overflowed = true;
                    seen.seen = std::collections::HashSet::new();
                } else if !seen.seen.insert(std::hash::Hasher::finish(&hasher)) {
                    seen.duplicate = true;
                    seen.seen = std::collections::HashSet::new();
                }
            }
        }
        row.insert(
            C_DLT_LOAD_ID.to_owned(),
            Value::String(self.load_id.clone()),
        );
        let row_id = match (original_has_id, version_hash) {
            (Some(id), _) => id,
            (None, Some(version)) => version,
            // upsert and insert-only: the id is a hash of the primary key, so nested ids stay stable.
            (None, None)
                if strategy.is_some_and(MergeStrategy::needs_primary_key)
                    && !config.primary_key.is_empty() =>
            {
                let key: Map<String, Value> = config
                    .primary_key
                    .iter()
                    .map(|k| (k.clone(), row[k.as_str()].clone()))
                    .collect();
                hash::row_hash(&Value::Object(key))
            }
            (None, None) => hash::random_row_id(),
        };
        row.insert(C_DLT_ID.to_owned(), Value::String(row_id.clone()));
        self.write(config, &config.table, None, row, sink)?;
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
        list: Vec<Value>,
        parent_id: &str,
        root_id: Option<&str>,
        level: usize,
        sink: &mut impl RowSink,
    ) -> Result<()> {
        let mut full_path: Vec<String> = parent_path.to_vec();
        full_path.extend(ident_path);
        let table = naming::shorten_fragments(&full_path);
        let parent_table = naming::shorten_fragments(parent_path);
        for (idx, element) in list.into_iter().enumerate() {
            let (mut row, lists, child_level) = match element {
                Value::Object(map) => {
                    let f = flatten(self.schema.tables.get(&table), &mut self.names, map, level);
                    (f.row, f.lists, level)
                }
                Value::Array(inner) => {
                    let mut map = Map::new();
                    map.insert("list".to_owned(), Value::Array(inner));
                    let level = level.saturating_sub(1);
                    let f = flatten(self.schema.tables.get(&table), &mut self.names, map, level);
                    (f.row, f.lists, level)
                }
                scalar => {
                    let mut row = IndexMap::new();
                    row.insert("value".to_owned(), scalar);
                    (row, Vec::new(), level)
                }
            };
            if let Some(root_id) = root_id {
                row.insert(C_DLT_ROOT_ID.to_owned(), Value::String(root_id.to_owned()));
            }
            let row_id = hash::nested_row_id(parent_id, &table, idx);
            row.insert(
                C_DLT_PARENT_ID.to_owned(),
                Value::String(parent_id.to_owned()),
            );
            row.insert(C_DLT_LIST_IDX.to_owned(), Value::from(idx as u64));
            row.insert(C_DLT_ID.to_owned(), Value::String(row_id.clone()));
            self.write(config, &table, Some(&parent_table), row, sink)?;
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
        Ok(())
    }

    /// Coerces `row` into `table` (creating the table and columns as needed) and hands it to the sink.
    fn write(
        &mut self,
        config: &RootConfig,
        table_name: &str,
        parent: Option<&str>,
        row: IndexMap<String, Value>,
        sink: &mut impl RowSink,
    ) -> Result<()> {
        if !self.schema.tables.contains_key(table_name) {
            self.schema.tables.insert(table_name.to_owned(), {
                let mut t = Table::new(
                    table_name,
                    parent.map(str::to_owned),
                    config.write_disposition,
                );
                if parent.is_none() {
                    t.resource = Some(config.resource.clone());
                }
                t
            });
        }
        let Some(table) = self.schema.tables.get_mut(table_name) else {
            return Ok(());
        };
        let mut out: Row = Vec::with_capacity(row.len());
        for (name, value) in row {
            if value.is_null() {
                if let Some(column) = table.columns.get(&name)
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
            let (column_name, cell) =
                fit_value(table, &name, value).map_err(|message| Error::Item {
                    resource: config.resource.clone(),
                    table: table_name.to_owned(),
                    message,
                })?;
            out.push((column_name, cell));
        }
        sink.write_row(table, out)
    }
}

/// Memoized name normalization (dlt caches it the same way): keys repeat in every item.
#[derive(Default)]
struct NameCache {
    keys: HashMap<String, String>,
    tables: HashMap<String, String>,
    paths: HashMap<(String, String), String>,
}

impl NameCache {
    fn key(&mut self, key: &str) -> String {
        if let Some(n) = self.keys.get(key) {
            return n.clone();
        }
        let n = naming::normalize_key(key);
        self.keys.insert(key.to_owned(), n.clone());
        n
    }

    fn table(&mut self, key: &str) -> String {
        if let Some(n) = self.tables.get(key) {
            return n.clone();
        }
        let n = naming::normalize_tables_path(key);
        self.tables.insert(key.to_owned(), n.clone());
        n
    }

    fn path(&mut self, path: &str, name: &str) -> String {
        if path.is_empty() {
            return name.to_owned();
        }
        let key = (path.to_owned(), name.to_owned());
        if let Some(n) = self.paths.get(&key) {
            return n.clone();
        }
        let n = naming::shorten_fragments(&[path, name]);
        self.paths.insert(key, n.clone());
        n
    }
}

/// Flattens a dict: scalars (and json values) into the row, lists out to child tables. `table` is the schema
/// table the row goes to: a column already typed json keeps its value whole.
fn flatten(
    table: Option<&Table>,
    names: &mut NameCache,
    object: Map<String, Value>,
    level: usize,
) -> Flattened {
    let is_json = |name: &str| {
        table
            .and_then(|t| t.columns.get(name))
            .is_some_and(|c| c.data_type == Some(DataType::Json))
    };
    let mut row = IndexMap::with_capacity(object.len() + 2);
    let mut lists = Vec::new();
    // (dict, nesting budget left, normalized path joined with `__`)
    let mut stack: Vec<(Map<String, Value>, usize, String)> = vec![(object, level, String::new())];
    while let Some((current, level, path)) = stack.pop() {
        for (key, value) in current {
            let norm_key = names.key(&key);
            let nested_name = names.path(&path, &norm_key);
            let keep_as_json = level == 0 || is_json(&nested_name);
            match value {
                Value::Object(inner) if !keep_as_json => {
                    let inner_path = if path.is_empty() {
                        norm_key
                    } else {
                        format!("{path}__{norm_key}")
                    };
                    stack.push((inner, level - 1, inner_path));
                }
                Value::Array(inner) if !keep_as_json => {
                    let mut list_path: Vec<String> = if path.is_empty() {
                        Vec::new()
                    } else {
                        path.split("__").map(str::to_owned).collect()
                    };
                    list_path.push(names.table(&key));
                    lists.push((list_path, inner));
                }
                other => {
                    row.insert(nested_name, other);
                }
            }
        }
    }
    Flattened { row, lists }
}

/// Puts `value` into column `name` of `table`: the column's type when the value has or can be coerced to it,
/// else a variant column `<name>__v_<type>`. Returns the column written and the value.
fn fit_value(
    table: &mut Table,
    name: &str,
    value: Value,
) -> std::result::Result<(String, Cell), String> {
    // Fast path: the column exists and the value already has its type (no detection needed).
    if let Some(column_type) = table.columns.get(name).and_then(|c| c.data_type)
        && crate::schema::types::value_type(&value) == Some(column_type)
    {
        match into_cell(value, column_type) {
            Ok(cell) => return Ok((name.to_owned(), cell)),
            Err(value) => return fit_slow(table, name, value),
        }
    }
    fit_slow(table, name, value)
}

fn fit_slow(
    table: &mut Table,
    name: &str,
    value: Value,
) -> std::result::Result<(String, Cell), String> {
    let inferred = infer_type(&value);
    let Some(column_type) = table.columns.get(name).and_then(|c| c.data_type) else {
        let cell = coerce(&value, inferred, inferred).ok_or_else(|| unstorable(&value, name))?;
        let column = table
            .columns
            .entry(name.to_owned())
            .or_insert_with(|| Column::new(name.to_owned(), None));
        column.data_type = Some(inferred);
        if is_system_not_null(name) {
            column.nullable = false;
        }
        return Ok((name.to_owned(), cell));
    };
    if let Some(cell) = coerce(&value, inferred, column_type) {
        return Ok((name.to_owned(), cell));
    }
    // As dlt: the variant is named after the value's own type, and typed by detection (an ISO string sent to a
    // bigint column lands in `<col>__v_text`, typed timestamp).
    let own_type = crate::schema::types::value_type(&value).unwrap_or(DataType::Text);
    let variant = naming::shorten_fragments(&[name.to_owned(), format!("v_{}", own_type.as_str())]);
    let variant_type = table
        .columns
        .get(&variant)
        .and_then(|c| c.data_type)
        .unwrap_or(inferred);
    let cell = coerce(&value, inferred, variant_type).ok_or_else(|| {
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
    Ok((variant, cell))
}

/// A value whose own type is `t`, as a cell of that type (no coercion); the value back when it does not fit.
fn into_cell(value: Value, t: DataType) -> std::result::Result<Cell, Value> {
    match (t, value) {
        (DataType::Text, Value::String(s)) => Ok(Cell::Text(s)),
        (DataType::Bigint, Value::Number(n)) => {
            n.as_i64().map(Cell::Bigint).ok_or(Value::Number(n))
        }
        (DataType::Double, Value::Number(n)) => {
            n.as_f64().map(Cell::Double).ok_or(Value::Number(n))
        }
        (DataType::Bool, Value::Bool(b)) => Ok(Cell::Bool(b)),
        (DataType::Json, v @ (Value::Array(_) | Value::Object(_))) => Ok(Cell::Json(v)),
        (_, v) => Err(v),
    }
}

/// Why a value cannot be stored in a new column of its own type.
fn unstorable(value: &Value, name: &str) -> String {
    match value {
        Value::Number(n) if n.is_u64() => format!(
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

/// The type a new column gets for `value` (not null).
fn infer_type(value: &Value) -> DataType {
    crate::schema::types::infer(value).unwrap_or(DataType::Text)
}

/// Converts `value` (of inferred type `from`) to a cell of type `to`, or `None` when dlt would not coerce.
fn coerce(value: &Value, from: DataType, to: DataType) -> Option<Cell> {
    crate::schema::detect::coerce_cell(value, from, to)
}
