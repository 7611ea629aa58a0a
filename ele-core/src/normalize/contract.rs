//! Schema contracts applied while normalizing, as dlt 1.31's `Schema.apply_schema_contract` and its jsonl
//! normalizer do.
//!
//! - A table is *new* while it is missing from the schema or has no column with a type yet (dlt's
//!   `is_new_table`), nested tables included; a row for a new table is checked against `tables`.
//! - A column is *new* when it is missing or has no type yet; it is checked against `columns`, except in a new
//!   table and in the root table of a resource whose table was new when the run started (dlt's
//!   `evolve-columns-once`: a first load defines the columns). Columns named `_dlt...` always evolve.
//! - A new variant column (a value that does not fit its column's type) is checked against `data_type`, in
//!   new tables too.
//! - `freeze` fails the run before anything is loaded; `discard_row` drops the row (and its nested rows),
//!   `discard_value` drops the value (for a new table: the row), and neither changes the schema.
//!
//! A null value never triggers a check (it creates no column), as in dlt.

use indexmap::IndexMap;

use crate::foundation::doc::JsonRef;
use crate::foundation::error::Error;
use crate::model::contract::{ContractEntity, Discarded, EvolutionMode};
use crate::model::schema::Table;

/// Where the row being written is in its item: the item's number in the run and the lists it went through.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    /// The item's number in the run (1-based).
    pub(crate) item: u64,
    /// Per list on the way down: its path below the parent row (`orders`, `meta.tags`) and the element index.
    pub(crate) steps: Vec<(String, usize)>,
}

impl Trail {
    /// `orders[1].items[0].note`: the path of `column` (or of the row itself) in the item.
    fn path(&self, column: Option<&str>) -> String {
        let mut parts: Vec<String> = self
            .steps
            .iter()
            .map(|(path, idx)| format!("{path}[{idx}]"))
            .collect();
        if let Some(column) = column {
            parts.push(column.to_owned());
        }
        parts.join(".")
    }

    /// `item #3, at `orders[1].note``.
    fn locate(&self, column: Option<&str>) -> String {
        let path = self.path(column);
        if path.is_empty() {
            format!("item #{}", self.item)
        } else {
            format!("item #{}, at `{path}`", self.item)
        }
    }
}

/// What the contract says about one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The change is allowed.
    Keep,
    /// Drop the row (and its nested rows).
    DropRow,
    /// Drop the value, keep the row.
    DropValue,
}

fn verdict(mode: EvolutionMode) -> Verdict {
    match mode {
        EvolutionMode::Evolve | EvolutionMode::Freeze => Verdict::Keep,
        EvolutionMode::DiscardRow => Verdict::DropRow,
        EvolutionMode::DiscardValue => Verdict::DropValue,
    }
}

/// Whether `table` counts as new (dlt's `is_new_table`): missing, or no column has a type yet.
pub(crate) fn is_new_table(table: Option<&Table>) -> bool {
    table.is_none_or(|t| t.complete_columns().next().is_none())
}

/// The `tables` check of a row for a new table: `Keep` when tables evolve, else the row is dropped (for either
/// discard mode, as in dlt), or the run fails for `freeze`.
pub(crate) fn check_new_table(
    mode: EvolutionMode,
    resource: &str,
    table: &str,
    trail: &Trail,
) -> Result<Verdict, Error> {
    match mode {
        EvolutionMode::Evolve => Ok(Verdict::Keep),
        EvolutionMode::Freeze => Err(Error::Contract {
            resource: resource.to_owned(),
            table: table.to_owned(),
            column: None,
            message: format!(
                "cannot create table `{table}` because `tables` are frozen ({}); nothing of this run was loaded",
                trail.locate(None)
            ),
        }),
        EvolutionMode::DiscardRow | EvolutionMode::DiscardValue => Ok(Verdict::DropRow),
    }
}

/// A column the row would create, and what the contract says about it.
pub(crate) struct NewColumn<'a> {
    /// The column created (a variant column for `data_type`).
    pub(crate) name: &'a str,
    /// The column the value was sent to (differs from `name` for a variant).
    pub(crate) source: &'a str,
    /// The type of `source` when `name` is its variant.
    pub(crate) source_type: Option<&'a str>,
    /// The value.
    pub(crate) value: JsonRef<'a>,
}

/// The `columns` or `data_type` check of a new column (`entity` tells which).
pub(crate) fn check_new_column(
    entity: ContractEntity,
    mode: EvolutionMode,
    resource: &str,
    table: &str,
    column: &NewColumn<'_>,
    trail: &Trail,
) -> Result<Verdict, Error> {
    if mode != EvolutionMode::Freeze {
        return Ok(verdict(mode));
    }
    let at = trail.locate(Some(column.source));
    let message = match entity {
        ContractEntity::DataType => format!(
            "value {} does not fit type `{}`, and the variant column `{}` cannot be created because `data_type` \
             is frozen ({at}); nothing of this run was loaded",
            shown(column.value),
            column.source_type.unwrap_or("?"),
            column.name
        ),
        _ => format!(
            "cannot add column `{}` because `columns` are frozen ({at}); nothing of this run was loaded",
            column.name
        ),
    };
    Err(Error::Contract {
        resource: resource.to_owned(),
        table: table.to_owned(),
        column: Some(match entity {
            ContractEntity::DataType => column.source.to_owned(),
            _ => column.name.to_owned(),
        }),
        message,
    })
}

/// A value as JSON, cut to 80 characters.
fn shown(value: JsonRef<'_>) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Rows and values discarded per table, in the order tables first discarded something.
#[derive(Debug, Default)]
pub(crate) struct Discards(IndexMap<String, Discarded>);

impl Discards {
    fn entry(&mut self, table: &str) -> &mut Discarded {
        if !self.0.contains_key(table) {
            self.0.insert(
                table.to_owned(),
                Discarded {
                    table: table.to_owned(),
                    ..Discarded::default()
                },
            );
        }
        &mut self.0[table]
    }

    /// Counts a dropped row of `table`.
    pub(crate) fn row(&mut self, table: &str) {
        self.entry(table).rows += 1;
    }

    /// Counts `n` values dropped from a kept row of `table`.
    pub(crate) fn values(&mut self, table: &str, n: u64) {
        if n > 0 {
            self.entry(table).values += n;
        }
    }

    /// Adds the counts of another normalizer (rows after this one's).
    pub(crate) fn merge(&mut self, other: Discards) {
        for (table, d) in other.0 {
            let mine = self.entry(&table);
            mine.rows += d.rows;
            mine.values += d.values;
        }
    }

    /// The counts, per table.
    pub(crate) fn into_vec(self) -> Vec<Discarded> {
        self.0.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_paths() {
        let mut trail = Trail {
            item: 3,
            steps: Vec::new(),
        };
        assert_eq!(trail.locate(None), "item #3");
        assert_eq!(trail.locate(Some("note")), "item #3, at `note`");
        trail.steps.push(("orders".into(), 1));
        trail.steps.push(("meta.tags".into(), 0));
        assert_eq!(
            trail.locate(Some("x")),
            "item #3, at `orders[1].meta.tags[0].x`"
        );
        assert_eq!(
            shown(JsonRef::Value(&serde_json::Value::String("é".repeat(100))))
                .chars()
                .count(),
            83
        );
    }
}
