//! dlt's schema contracts (`schema_contract`): what a run may change in the schema, per entity.
//!
//! A contract is one mode for everything (`"freeze"`) or a mode per entity (`{"tables": "evolve", "columns":
//! "freeze", "data_type": "discard_row"}`, entities left out evolve), as dlt takes it. `tables` governs new
//! tables (nested ones included), `columns` new columns of existing tables, `data_type` new variant columns
//! (a value that does not fit its column's type).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::foundation::error::{Error, Result};

/// What happens to a change of one entity (dlt's `TSchemaEvolutionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EvolutionMode {
    /// The schema changes (the default).
    #[default]
    Evolve,
    /// The run fails before anything is loaded.
    Freeze,
    /// The row carrying the change is dropped (with its nested rows); the schema stays.
    DiscardRow,
    /// The value carrying the change is dropped, the rest of the row is kept; the schema stays.
    DiscardValue,
}

impl EvolutionMode {
    /// The valid names, as accepted by [`FromStr`].
    pub const NAMES: [&'static str; 4] = ["evolve", "freeze", "discard_row", "discard_value"];

    /// The name as dlt spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EvolutionMode::Evolve => "evolve",
            EvolutionMode::Freeze => "freeze",
            EvolutionMode::DiscardRow => "discard_row",
            EvolutionMode::DiscardValue => "discard_value",
        }
    }
}

impl fmt::Display for EvolutionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EvolutionMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "evolve" => Ok(EvolutionMode::Evolve),
            "freeze" => Ok(EvolutionMode::Freeze),
            "discard_row" => Ok(EvolutionMode::DiscardRow),
            "discard_value" => Ok(EvolutionMode::DiscardValue),
            other => Err(Error::config(format!(
                "unknown schema contract mode `{other}`; expected one of `evolve`, `freeze`, `discard_row`, \
                 `discard_value`"
            ))),
        }
    }
}

/// The entities a contract governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractEntity {
    /// New tables, nested tables included.
    Tables,
    /// New columns of existing tables.
    Columns,
    /// New variant columns (a value of another type than its column's).
    DataType,
}

impl ContractEntity {
    /// The name as dlt spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractEntity::Tables => "tables",
            ContractEntity::Columns => "columns",
            ContractEntity::DataType => "data_type",
        }
    }
}

/// A schema contract as the user gives it and as dlt stores it in the schema: one mode, or modes per entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SchemaContract {
    /// One mode for tables, columns and data types.
    Mode(EvolutionMode),
    /// A mode per entity; an entity left out evolves.
    Entities {
        /// New tables.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tables: Option<EvolutionMode>,
        /// New columns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<EvolutionMode>,
        /// New variant columns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_type: Option<EvolutionMode>,
    },
}

impl SchemaContract {
    /// The mode for each entity, those left out evolving (dlt's `expand_schema_contract_settings`).
    pub fn expand(self) -> ContractModes {
        match self {
            SchemaContract::Mode(m) => ContractModes {
                tables: m,
                columns: m,
                data_type: m,
            },
            SchemaContract::Entities {
                tables,
                columns,
                data_type,
            } => ContractModes {
                tables: tables.unwrap_or_default(),
                columns: columns.unwrap_or_default(),
                data_type: data_type.unwrap_or_default(),
            },
        }
    }

    /// Parses dlt's forms: a mode (`freeze`) or a JSON object of modes per entity
    /// (`{"columns": "freeze", "data_type": "discard_value"}`). An unknown entity or mode is an error naming it.
    pub fn parse(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        if !trimmed.starts_with('{') {
            return trimmed.parse::<EvolutionMode>().map(SchemaContract::Mode);
        }
        let value: Value = serde_json::from_str(trimmed).map_err(|e| {
            Error::config(format!(
                "schema contract `{trimmed}` is not valid JSON: {e}"
            ))
        })?;
        Self::from_json(&value)
    }

    /// A contract from a JSON value in dlt's forms (a mode string or an object of modes per entity).
    pub fn from_json(value: &Value) -> Result<Self> {
        let mode = |entity: &str, v: &Value| -> Result<Option<EvolutionMode>> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => s.parse().map(Some).map_err(|_| {
                    Error::config(format!(
                        "schema contract: unknown mode `{s}` for `{entity}`; expected one of `evolve`, `freeze`, \
                         `discard_row`, `discard_value`"
                    ))
                }),
                other => Err(Error::config(format!(
                    "schema contract: the mode of `{entity}` must be a string, not {other}"
                ))),
            }
        };
        match value {
            Value::String(s) => s.parse().map(SchemaContract::Mode),
            Value::Object(map) => {
                let (mut tables, mut columns, mut data_type) = (None, None, None);
                for (key, v) in map {
                    match key.as_str() {
                        "tables" => tables = mode(key, v)?,
                        "columns" => columns = mode(key, v)?,
                        "data_type" => data_type = mode(key, v)?,
                        other => {
                            return Err(Error::config(format!(
                                "schema contract: unknown entity `{other}`; expected `tables`, `columns` or \
                                 `data_type`"
                            )));
                        }
                    }
                }
                Ok(SchemaContract::Entities {
                    tables,
                    columns,
                    data_type,
                })
            }
            other => Err(Error::config(format!(
                "schema contract must be a mode or an object of modes per entity, not {other}"
            ))),
        }
    }
}

impl From<EvolutionMode> for SchemaContract {
    fn from(mode: EvolutionMode) -> Self {
        SchemaContract::Mode(mode)
    }
}

impl FromStr for SchemaContract {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        SchemaContract::parse(s)
    }
}

impl fmt::Display for SchemaContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaContract::Mode(m) => f.write_str(m.as_str()),
            entities => f.write_str(&serde_json::to_string(entities).map_err(|_| fmt::Error)?),
        }
    }
}

/// A contract with a mode for every entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ContractModes {
    /// New tables.
    pub tables: EvolutionMode,
    /// New columns of existing tables.
    pub columns: EvolutionMode,
    /// New variant columns.
    pub data_type: EvolutionMode,
}

impl ContractModes {
    /// Whether everything evolves (no check needed).
    pub fn is_evolve(&self) -> bool {
        *self == ContractModes::default()
    }

    /// The mode of `entity`.
    pub fn mode(&self, entity: ContractEntity) -> EvolutionMode {
        match entity {
            ContractEntity::Tables => self.tables,
            ContractEntity::Columns => self.columns,
            ContractEntity::DataType => self.data_type,
        }
    }
}

/// Rows and values a contract discarded in one table during a run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discarded {
    /// The table the rows or values were going to.
    pub table: String,
    /// Rows dropped (`discard_row`, or any discard of a new table); their nested rows are not counted.
    pub rows: u64,
    /// Values dropped from rows that were kept (`discard_value`).
    pub values: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_dlt_forms() {
        assert_eq!(
            SchemaContract::parse("freeze").expect("mode"),
            SchemaContract::Mode(EvolutionMode::Freeze)
        );
        let c = SchemaContract::parse(r#"{"columns": "discard_value", "data_type": null}"#)
            .expect("entities");
        assert_eq!(
            c.expand(),
            ContractModes {
                tables: EvolutionMode::Evolve,
                columns: EvolutionMode::DiscardValue,
                data_type: EvolutionMode::Evolve,
            }
        );
        assert_eq!(
            serde_json::to_value(c).expect("serializes"),
            json!({"columns": "discard_value"})
        );
        assert_eq!(
            serde_json::to_value(SchemaContract::Mode(EvolutionMode::DiscardRow))
                .expect("serializes"),
            json!("discard_row")
        );
        assert_eq!(
            serde_json::from_value::<SchemaContract>(json!({"tables": "freeze"})).expect("reads"),
            SchemaContract::Entities {
                tables: Some(EvolutionMode::Freeze),
                columns: None,
                data_type: None
            }
        );
        let e = SchemaContract::parse("frozen").expect_err("unknown mode");
        assert!(
            e.to_string()
                .contains("unknown schema contract mode `frozen`"),
            "{e}"
        );
        let e = SchemaContract::parse(r#"{"column": "freeze"}"#).expect_err("unknown entity");
        assert!(e.to_string().contains("unknown entity `column`"), "{e}");
        let e = SchemaContract::parse(r#"{"columns": "fre"}"#).expect_err("unknown mode");
        assert!(
            e.to_string().contains("unknown mode `fre` for `columns`"),
            "{e}"
        );
        let e = SchemaContract::parse(r#"{"columns": "#).expect_err("bad json");
        assert!(e.to_string().contains("is not valid JSON"), "{e}");
        let e = SchemaContract::parse(r#"{"columns": 1}"#).expect_err("not a string");
        assert!(e.to_string().contains("must be a string, not 1"), "{e}");
    }
}
