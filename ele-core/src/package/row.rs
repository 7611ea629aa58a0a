//! Rows as the normalizer writes them into a load package: cells already coerced to their column's type.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
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
    /// `smallint` (a bigint column with a precision of at most 16 bits).
    Smallint(i16),
    /// `integer` (a bigint column with a precision of at most 32 bits).
    Integer(i32),
    /// `timestamp without time zone` (a timestamp column with `timezone: false`), in UTC.
    NaiveTimestamp(NaiveDateTime),
    /// `date`.
    Date(NaiveDate),
    /// `time without time zone`.
    Time(NaiveTime),
    /// `numeric`: plain decimal text (`-12.50`, no exponent), exactly the digits received.
    Numeric(Cow<'a, str>),
    /// `bytea`.
    Binary(Cow<'a, [u8]>),
}

/// A normalized row: column names (normalized, shared with the name cache) with their values; columns without
/// a value are null.
pub type Row<'a> = Vec<(Arc<str>, Cell<'a>)>;

/// Receives the rows the normalizer produces.
pub trait RowSink {
    /// Takes one row of `table`; the table's columns include every column of the row.
    fn write_row(&mut self, table: &Table, row: Row<'_>) -> Result<()>;
}
