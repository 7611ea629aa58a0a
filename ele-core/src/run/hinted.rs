//! A resource's column hints made ready for a run: keys declared as column hints become the resource's keys
//! (one source of truth: the resource's hints and the schema's columns agree), names are normalized, and each
//! hint is checked against the stored schema before anything is extracted.

use crate::foundation::error::Result;
use crate::model::hints::{Key, ResourceHints};
use crate::model::naming;
use crate::model::schema::{ColumnHint, Schema, hinted::check_column_hint};

/// Folds the column hints' keys into `hints` (a `primary_key`/`merge_key` column hint is the key when the
/// resource names none; a `hard_delete`/`dedup_sort` column hint is the resource's when it sets none) and
/// returns the column hints of root table `table` with normalized names, checked against `schema`.
pub(crate) fn resolve_column_hints(
    hints: &mut ResourceHints,
    schema: &Schema,
    table: &str,
) -> Result<Vec<(String, ColumnHint)>> {
    let columns =
        crate::extract::column_type::overlay_type_columns(&hints.type_columns, &hints.columns);
    let flagged = |flag: fn(&ColumnHint) -> Option<bool>| -> Vec<String> {
        columns
            .iter()
            .filter(|(_, h)| flag(h) == Some(true))
            .map(|(n, _)| n.to_owned())
            .collect()
    };
    if hints.primary_key.is_empty() {
        hints.primary_key = Key(flagged(|h| h.primary_key));
    }
    if hints.merge_key.is_empty() {
        hints.merge_key = Key(flagged(|h| h.merge_key));
    }
    if hints.hard_delete.is_none() {
        hints.hard_delete = flagged(|h| h.hard_delete).into_iter().next();
    }
    if hints.dedup_sort.is_none() {
        hints.dedup_sort = columns
            .iter()
            .find_map(|(n, h)| h.dedup_sort.map(|o| (n.to_owned(), o)));
    }
    let stored = schema.tables.get(table);
    let mut out = Vec::new();
    for (name, hint) in columns.iter() {
        let normalized = naming::normalize_path(name);
        let mut hint = hint.clone();
        // The resource's keys decide (a column hint cannot contradict them).
        if hint.primary_key == Some(true) && !hints.primary_key.columns().iter().any(|k| k == name)
        {
            hint.primary_key = None;
        }
        if hint.merge_key == Some(true) && !hints.merge_key.columns().iter().any(|k| k == name) {
            hint.merge_key = None;
        }
        let existing = stored.and_then(|t| t.columns.get(&normalized));
        check_column_hint(table, &normalized, existing, &hint)?;
        out.push((normalized, hint));
    }
    Ok(out)
}
