//! Rows as the normalizer writes them into a load package: cells already coerced to their column's type.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::foundation::error::Result;
use crate::model::schema::Table;

/// One value of a row, already coerced to its column's type; borrowed from the item where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// `varchar`.
    Text(Cow<'a, str>),
    /// `bigint`.
    Bigint(i64),
    /// `double precision`.
    Double(f64),
    /// `boolean`.
    Bool(bool),
    /// `timestamp with time zone`.
    Timestamp(DateTime<Utc>),
    /// `jsonb`.
    Json(Cow<'a, Value>),
}

/// A normalized row: column names (normalized, shared with the name cache) with their values; columns without
/// a value are null.
pub type Row<'a> = Vec<(Arc<str>, Cell<'a>)>;

/// Receives the rows the normalizer produces.
pub trait RowSink {
    /// Takes one row of `table`; the table's columns include every column of the row.
    fn write_row(&mut self, table: &Table, row: Row<'_>) -> Result<()>;
}
