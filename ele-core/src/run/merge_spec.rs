//! A resource's merge settings as the package records them, checked as dlt checks them.

use crate::foundation::error::{Error, Result};
use crate::model::hints::{MergeStrategy, ResourceHints, WriteDisposition};
use crate::model::naming;
use crate::package::{MergeSpec, Scd2Spec};

/// The merge settings of a resource with normalized column names, checked as dlt's
/// `verify_schema_merge_disposition` does: a strategy that identifies rows by primary key without one is an
/// error; hints that do not apply are ignored with a warning.
pub(crate) fn merge_spec(hints: &ResourceHints) -> Result<MergeSpec> {
    let merging = hints.write_disposition == WriteDisposition::Merge;
    let strategy = hints.merge_strategy;
    if merging && strategy.needs_primary_key() && hints.primary_key.is_empty() {
        return Err(Error::config(format!(
            "resource `{}`: the `{strategy}` merge strategy needs a primary key; set `primary_key` (or use \
             `delete-insert` with a merge key)",
            hints.name
        )));
    }
    if !merging && (hints.hard_delete.is_some() || hints.dedup_sort.is_some()) {
        tracing::warn!(resource = %hints.name, disposition = %hints.write_disposition,
            "`hard_delete` and `dedup_sort` apply to merges only; ignored");
    }
    if merging && strategy.needs_primary_key() && !hints.merge_key.is_empty() {
        tracing::warn!(resource = %hints.name, %strategy, "the merge key is ignored by this merge strategy");
    }
    if merging && hints.dedup_sort.is_some() && hints.primary_key.is_empty() {
        tracing::warn!(resource = %hints.name, "`dedup_sort` needs a primary key; ignored");
    }
    if !merging {
        return Ok(MergeSpec::default());
    }
    let scd2 = (strategy == MergeStrategy::Scd2).then(|| Scd2Spec {
        valid_from: naming::normalize_path(&hints.scd2.validity_columns.0),
        valid_to: naming::normalize_path(&hints.scd2.validity_columns.1),
        active_to: hints.scd2.active_record_timestamp,
        boundary: hints.scd2.boundary_timestamp,
        row_version: hints
            .scd2
            .row_version_column
            .as_deref()
            .map(naming::normalize_path),
    });
    Ok(MergeSpec {
        strategy,
        hard_delete: hints.hard_delete.as_deref().map(naming::normalize_path),
        dedup_sort: hints
            .dedup_sort
            .as_ref()
            .filter(|_| !hints.primary_key.is_empty())
            .map(|(c, order)| (naming::normalize_path(c), *order)),
        scd2,
    })
}
