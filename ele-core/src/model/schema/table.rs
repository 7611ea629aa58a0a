//! The schema of a dataset: tables in creation order, columns in dlt's order.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use super::column_hints::SortOrder;
use super::data_type::DataType;
use crate::model::hints::WriteDisposition;

/// Name of the load-id column of root tables.
pub const C_DLT_LOAD_ID: &str = "_dlt_load_id";
/// Name of the row-id column.
pub const C_DLT_ID: &str = "_dlt_id";
/// Name of the parent row id column of child tables.
pub const C_DLT_PARENT_ID: &str = "_dlt_parent_id";
/// Name of the root row id column of child tables.
pub const C_DLT_ROOT_ID: &str = "_dlt_root_id";
/// Name of the list index column of child tables.
pub const C_DLT_LIST_IDX: &str = "_dlt_list_idx";

/// One column, with dlt's column hints under dlt's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Normalized name.
    pub name: String,
    /// Type; `None` while only nulls were seen (such a column is not created in the destination yet).
    pub data_type: Option<DataType>,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Length of text, bits of bigint, digits of decimal and wei, fractional second digits of timestamp and time.
    pub precision: Option<u32>,
    /// Fractional digits of decimal and wei.
    pub scale: Option<u32>,
    /// `Some(false)`: a timestamp without time zone.
    pub timezone: Option<bool>,
    /// A UNIQUE constraint.
    pub unique: bool,
    /// Part of the primary key.
    pub primary_key: bool,
    /// Part of the merge key.
    pub merge_key: bool,
    /// Flags deleted rows in a merge.
    pub hard_delete: bool,
    /// Decides between rows of one primary key in a merge load.
    pub dedup_sort: Option<SortOrder>,
    /// dlt's `partition` hint (not used on PostgreSQL).
    pub partition: bool,
    /// dlt's `cluster` hint (not used on PostgreSQL).
    pub cluster: bool,
    /// dlt's `sort` hint (not used on PostgreSQL).
    pub sort: bool,
    /// A variant column holding values that could not be coerced into the column it belongs to.
    pub variant: bool,
    /// Custom `x-...` hints and dlt's `description`, as given.
    pub other: Map<String, Value>,
    /// The type came from a hint that left `nullable` unsaid: dlt then leaves `nullable` out of the stored
    /// schema (it states it for a column typed by its first value).
    pub(crate) nullable_unsaid: bool,
}

/// How a column is stored: the known hints (absent when default), then [`Column::other`]'s keys.
#[derive(Serialize, Deserialize)]
struct ColumnRepr {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_type: Option<DataType>,
    #[serde(default = "yes")]
    nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    precision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scale: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timezone: Option<bool>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unique: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    primary_key: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    merge_key: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    hard_delete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dedup_sort: Option<SortOrder>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    partition: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cluster: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sort: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    variant: bool,
}

fn yes() -> bool {
    true
}

impl Serialize for Column {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let repr = ColumnRepr {
            name: self.name.clone(),
            data_type: self.data_type,
            nullable: self.nullable,
            precision: self.precision,
            scale: self.scale,
            timezone: self.timezone,
            unique: self.unique,
            primary_key: self.primary_key,
            merge_key: self.merge_key,
            hard_delete: self.hard_delete,
            dedup_sort: self.dedup_sort,
            partition: self.partition,
            cluster: self.cluster,
            sort: self.sort,
            variant: self.variant,
        };
        if self.other.is_empty() {
            return repr.serialize(serializer);
        }
        let mut map = match serde_json::to_value(&repr).map_err(serde::ser::Error::custom)? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.extend(self.other.iter().map(|(k, v)| (k.clone(), v.clone())));
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Column {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let other_keys: Vec<String> = map
            .keys()
            .filter(|k| k.starts_with("x-") || *k == "description")
            .cloned()
            .collect();
        let mut other = Map::new();
        for k in other_keys {
            if let Some(v) = map.remove(&k) {
                other.insert(k, v);
            }
        }
        let r: ColumnRepr =
            serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom)?;
        Ok(Column {
            name: r.name,
            data_type: r.data_type,
            nullable: r.nullable,
            precision: r.precision,
            scale: r.scale,
            timezone: r.timezone,
            unique: r.unique,
            primary_key: r.primary_key,
            merge_key: r.merge_key,
            hard_delete: r.hard_delete,
            dedup_sort: r.dedup_sort,
            partition: r.partition,
            cluster: r.cluster,
            sort: r.sort,
            variant: r.variant,
            other,
            nullable_unsaid: false,
        })
    }
}

impl Column {
    /// A nullable column of the given type.
    pub fn new(name: impl Into<String>, data_type: Option<DataType>) -> Self {
        Column {
            name: name.into(),
            data_type,
            nullable: true,
            precision: None,
            scale: None,
            timezone: None,
            unique: false,
            primary_key: false,
            merge_key: false,
            hard_delete: false,
            dedup_sort: None,
            partition: false,
            cluster: false,
            sort: false,
            variant: false,
            other: Map::new(),
            nullable_unsaid: false,
        }
    }

    /// A NOT NULL system column.
    pub fn system(name: &str, data_type: DataType) -> Self {
        Column {
            nullable: false,
            ..Column::new(name, Some(data_type))
        }
    }

    /// Whether the column has a type and so exists in the destination.
    pub fn is_complete(&self) -> bool {
        self.data_type.is_some()
    }

    /// The column's full type in dlt's terms, for messages: `decimal(12,2)`, `text(8)`, `bigint(16)`,
    /// `timestamp(3) without time zone`; `None` while it has no type.
    pub fn type_label(&self) -> Option<String> {
        let t = self.data_type?;
        let mut label = t.as_str().to_owned();
        match (self.precision, self.scale) {
            (Some(p), Some(s)) => label.push_str(&format!("({p},{s})")),
            (Some(p), None) => label.push_str(&format!("({p})")),
            (None, Some(s)) => label.push_str(&format!("(scale {s})")),
            (None, None) => {}
        }
        if t == DataType::Timestamp && self.timezone == Some(false) {
            label.push_str(" without time zone");
        }
        Some(label)
    }
}

/// The hasher of the schema's maps: a column is looked up for every value normalized, so a fast (randomly
/// seeded) hash; a table holds at most 1,600 columns, so names crafted to collide cannot cost much.
pub type FastHash = foldhash::fast::RandomState;

/// A table's columns by name, in order of first appearance.
pub type Columns = IndexMap<String, Column, FastHash>;

/// One table: a root table of a resource, or a child table holding a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Normalized name.
    pub name: String,
    /// The parent table for child tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Columns in order of first appearance.
    pub columns: Columns,
    /// Write disposition (of the root table for children).
    pub write_disposition: WriteDisposition,
    /// The resource writing the table (root tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// dlt's `schema_contract` table hint (root tables; nested tables inherit their root's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<crate::model::contract::SchemaContract>,
    /// Table hints of dlt's that a run sets and ele does not model (`x-merge-strategy`), written into the
    /// stored schema over the ones read.
    #[serde(skip)]
    pub(crate) hints: Map<String, Value>,
}

impl Table {
    /// An empty table.
    pub fn new(
        name: impl Into<String>,
        parent: Option<String>,
        write_disposition: WriteDisposition,
    ) -> Self {
        Table {
            name: name.into(),
            parent,
            columns: Columns::default(),
            write_disposition,
            resource: None,
            schema_contract: None,
            hints: Map::new(),
        }
    }

    /// Columns that have a type, in order.
    pub fn complete_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.values().filter(|c| c.is_complete())
    }

    /// Names of the primary key columns, in order.
    pub fn primary_key(&self) -> Vec<&str> {
        self.columns
            .values()
            .filter(|c| c.primary_key)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Names of the merge key columns, in order.
    pub fn merge_key(&self) -> Vec<&str> {
        self.columns
            .values()
            .filter(|c| c.merge_key)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Whether the table has a `_dlt_root_id` column.
    pub fn has_root_key(&self) -> bool {
        self.columns.contains_key(C_DLT_ROOT_ID)
    }
}

/// The tables of one schema (one pipeline's dataset). Stored as dlt's schema document (see
/// [`Schema::to_document`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// Schema name (the pipeline name, normalized).
    pub name: String,
    /// Incremented whenever the content changes.
    pub version: u64,
    /// Tables in order of creation; parents come before their children.
    pub tables: IndexMap<String, Table, FastHash>,
    /// Version hashes of earlier versions, newest first (at most 10), as dlt keeps them.
    pub previous_hashes: Vec<String>,
    /// The document the schema was read from, without its version and hashes: what ele does not model is
    /// written back from it.
    pub(crate) base: Map<String, Value>,
}

impl Schema {
    /// An empty schema.
    pub fn new(name: impl Into<String>) -> Self {
        Schema {
            name: name.into(),
            version: 0,
            tables: IndexMap::default(),
            previous_hashes: Vec::new(),
            base: Map::new(),
        }
    }

    /// The root table of `table` (itself for roots).
    pub fn root_of<'a>(&'a self, table: &'a str) -> &'a str {
        let mut current = table;
        while let Some(parent) = self.tables.get(current).and_then(|t| t.parent.as_deref()) {
            current = parent;
        }
        current
    }

    /// The table and all its descendants, parents before children.
    pub fn chain(&self, root: &str) -> Vec<&Table> {
        self.tables
            .values()
            .filter(|t| self.root_of(&t.name) == root)
            .collect()
    }
}
