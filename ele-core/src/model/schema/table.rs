//! The schema of a dataset: tables in creation order, columns in dlt's order.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

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

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Normalized name.
    pub name: String,
    /// Type; `None` while only nulls were seen (such a column is not created in the destination yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataType>,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Part of the primary key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary_key: bool,
    /// Part of the merge key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge_key: bool,
    /// A variant column holding values that could not be coerced into the column it belongs to.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub variant: bool,
}

impl Column {
    /// A nullable column of the given type.
    pub fn new(name: impl Into<String>, data_type: Option<DataType>) -> Self {
        Column {
            name: name.into(),
            data_type,
            nullable: true,
            primary_key: false,
            merge_key: false,
            variant: false,
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

/// The tables of one schema (one pipeline's dataset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Schema name (the pipeline name, normalized).
    pub name: String,
    /// Incremented whenever the content changes.
    pub version: u64,
    /// Tables in order of creation; parents come before their children.
    pub tables: IndexMap<String, Table, FastHash>,
}

impl Schema {
    /// An empty schema.
    pub fn new(name: impl Into<String>) -> Self {
        Schema {
            name: name.into(),
            version: 0,
            tables: IndexMap::default(),
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

    /// A hash of the content (base64 SHA3-256, as dlt's version hashes), to tell whether the schema changed.
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_string(&self.tables).unwrap_or_default();
        crate::foundation::hash::digest256(&json)
    }
}
