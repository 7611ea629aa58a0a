//! dlt's data types of columns.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A column's data type, named as in dlt's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// `text` (PostgreSQL `varchar`).
    Text,
    /// `bigint`.
    Bigint,
    /// `double` (PostgreSQL `double precision`).
    Double,
    /// `bool` (PostgreSQL `boolean`).
    Bool,
    /// `timestamp` (PostgreSQL `timestamp with time zone`).
    Timestamp,
    /// `json` (PostgreSQL `jsonb`).
    Json,
    /// `date` (PostgreSQL `date`).
    Date,
    /// `time` (PostgreSQL `time without time zone`).
    Time,
    /// `decimal` (PostgreSQL `numeric(p,s)`, `numeric(38,9)` unless precision and scale are given).
    Decimal,
    /// `wei`: integers of the EVM's width (PostgreSQL `numeric(156,78)`).
    Wei,
    /// `binary` (PostgreSQL `bytea`).
    Binary,
}

impl DataType {
    /// Every type, in dlt's order of the names.
    pub const ALL: [DataType; 11] = [
        DataType::Text,
        DataType::Double,
        DataType::Bool,
        DataType::Timestamp,
        DataType::Bigint,
        DataType::Binary,
        DataType::Json,
        DataType::Decimal,
        DataType::Wei,
        DataType::Date,
        DataType::Time,
    ];

    /// dlt's name of the type: `text`, `bigint`, `double`, `bool`, `timestamp`, `json`, `date`, `time`,
    /// `decimal`, `wei`, `binary`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Date => "date",
            DataType::Time => "time",
            DataType::Decimal => "decimal",
            DataType::Wei => "wei",
            DataType::Binary => "binary",
            DataType::Text => "text",
            DataType::Bigint => "bigint",
            DataType::Double => "double",
            DataType::Bool => "bool",
            DataType::Timestamp => "timestamp",
            DataType::Json => "json",
        }
    }

    /// The type named `name` in dlt's schema, if it is one of these.
    pub fn from_name(name: &str) -> Option<DataType> {
        Some(match name {
            "text" => DataType::Text,
            "bigint" => DataType::Bigint,
            "double" => DataType::Double,
            "bool" => DataType::Bool,
            "timestamp" => DataType::Timestamp,
            "json" => DataType::Json,
            "date" => DataType::Date,
            "time" => DataType::Time,
            "decimal" => DataType::Decimal,
            "wei" => DataType::Wei,
            "binary" => DataType::Binary,
            _ => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in DataType::ALL {
            let s = serde_json::to_string(&t).expect("serializes");
            assert_eq!(s, format!("\"{}\"", t.as_str()));
            assert_eq!(
                serde_json::from_str::<DataType>(&s).expect("deserializes"),
                t
            );
            assert_eq!(DataType::from_name(t.as_str()), Some(t));
        }
    }
}
