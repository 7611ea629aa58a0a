//! Column hints applied to the schema's columns, and the checks made before a run uses them: a hint must
//! not contradict the type a column already has, and must be one PostgreSQL can create.

use super::column_hints::ColumnHint;
use super::data_type::DataType;
use super::table::Column;
use crate::foundation::error::{Error, Result};

impl Column {
    /// Applies `hint` to the column as dlt merges a column hint into its schema: what the hint sets replaces
    /// what the column had (a key hint does not make a column NOT NULL, as in dlt; `nullable: false` does). On a column that already exists in the destination, nullability and uniqueness
    /// stay as they were created (PostgreSQL would need a migration to change them).
    pub(crate) fn apply_hint(&mut self, hint: &ColumnHint) {
        let created = self.is_complete();
        if let Some(t) = hint.data_type {
            self.data_type = Some(t);
            if !created {
                self.nullable_unsaid = hint.nullable.is_none();
            }
        }
        macro_rules! copy {
            ($($f:ident),*) => { $( if hint.$f.is_some() { self.$f = hint.$f; } )* };
        }
        copy!(precision, scale, timezone, dedup_sort);
        macro_rules! flag {
            ($($f:ident),*) => { $( if let Some(v) = hint.$f { self.$f = v; } )* };
        }
        flag!(
            primary_key,
            merge_key,
            hard_delete,
            partition,
            cluster,
            sort
        );
        if !created {
            if let Some(nullable) = hint.nullable {
                self.nullable = nullable;
                self.nullable_unsaid = false;
            }
            if let Some(unique) = hint.unique {
                self.unique = unique;
            }
        }
        self.other
            .extend(hint.other.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Checks the hint of column `name` of `table` before anything is extracted: the type must be one PostgreSQL
/// can create, and must not contradict the type the column has in the stored schema (`existing`).
pub(crate) fn check_column_hint(
    table: &str,
    name: &str,
    existing: Option<&Column>,
    hint: &ColumnHint,
) -> Result<()> {
    let data_type = hint
        .data_type
        .or_else(|| existing.and_then(|c| c.data_type));
    match (data_type, hint.precision) {
        (Some(DataType::Bigint), Some(p)) if p > 64 => {
            return Err(Error::config(format!(
                "column `{name}` of table `{table}`: a bigint with precision {p} cannot be mapped to a PostgreSQL \
                 integer type (at most 64 bits)"
            )));
        }
        (Some(DataType::Timestamp | DataType::Time), Some(p)) if p > 6 => {
            return Err(Error::config(format!(
                "column `{name}` of table `{table}`: PostgreSQL supports at most 6 fractional second digits, not \
                 precision {p}"
            )));
        }
        (Some(DataType::Text), Some(0)) => {
            return Err(Error::config(format!(
                "column `{name}` of table `{table}`: a text precision (varchar length) must be at least 1"
            )));
        }
        _ => {}
    }
    let Some(existing) = existing.filter(|c| c.is_complete()) else {
        return Ok(());
    };
    let mut hinted = existing.clone();
    if let Some(t) = hint.data_type
        && Some(t) != existing.data_type
    {
        // A new type resets the old one's precision, scale and time zone.
        hinted.precision = None;
        hinted.scale = None;
        hinted.timezone = None;
    }
    hinted.apply_hint(hint);
    if (
        hinted.data_type,
        hinted.precision,
        hinted.scale,
        hinted.timezone,
    ) != (
        existing.data_type,
        existing.precision,
        existing.scale,
        existing.timezone,
    ) {
        return Err(Error::config(format!(
            "column `{name}` of table `{table}` is {} in the schema, the column hint says {}; a hint cannot change \
             the type of an existing column (drop the table, or load it with replace after dropping it, to \
             change it)",
            existing.type_label().unwrap_or_default(),
            hinted.type_label().unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_apply_and_contradictions_are_named() {
        let mut c = Column::new("amount", None);
        c.apply_hint(&ColumnHint::decimal(12, 2).not_null().unique());
        assert_eq!(c.type_label().as_deref(), Some("decimal(12,2)"));
        assert!(!c.nullable && c.unique);
        // Applying the same hint again, or one naming only other hints, is fine.
        check_column_hint("t", "amount", Some(&c), &ColumnHint::decimal(12, 2)).expect("same");
        check_column_hint("t", "amount", Some(&c), &ColumnHint::new().unique()).expect("no type");
        let err = check_column_hint("t", "amount", Some(&c), &ColumnHint::bigint())
            .expect_err("contradiction")
            .to_string();
        assert!(
            err.contains("column `amount` of table `t` is decimal(12,2) in the schema, the column hint says bigint"),
            "{err}"
        );
        let err = check_column_hint("t", "amount", Some(&c), &ColumnHint::decimal(10, 2))
            .expect_err("contradiction")
            .to_string();
        assert!(err.contains("says decimal(10,2)"), "{err}");
        let inferred = Column::new("n", Some(DataType::Bigint));
        let err = check_column_hint("t", "n", Some(&inferred), &ColumnHint::new().precision(16))
            .expect_err("smallint over bigint")
            .to_string();
        assert!(
            err.contains("is bigint in the schema, the column hint says bigint(16)"),
            "{err}"
        );
        let err = check_column_hint("t", "n", None, &ColumnHint::bigint().precision(65))
            .expect_err("too wide")
            .to_string();
        assert!(err.contains("precision 65"), "{err}");
        check_column_hint("t", "n", None, &ColumnHint::timestamp().precision(7))
            .expect_err("too fine");
        // A column that exists in the destination keeps its nullability.
        let mut created = Column::new("x", Some(DataType::Text));
        created.apply_hint(&ColumnHint::new().not_null());
        assert!(created.nullable);
    }

    #[test]
    fn stored_columns_of_before_hints_still_load_and_hints_round_trip() {
        // A column as the code before column hints wrote it.
        let old: Column = serde_json::from_str(
            r#"{"name": "id", "data_type": "bigint", "nullable": false, "primary_key": true}"#,
        )
        .expect("an old column loads");
        assert_eq!(old.type_label().as_deref(), Some("bigint"));
        assert!(old.primary_key && !old.nullable && !old.unique && old.other.is_empty());
        let mut c = Column::new("amount", None);
        c.apply_hint(
            &ColumnHint::decimal(12, 2)
                .unique()
                .partition()
                .x_hint("x-unit", "EUR"),
        );
        let text = serde_json::to_string(&c).expect("serializes");
        assert_eq!(
            text,
            r#"{"name":"amount","data_type":"decimal","nullable":true,"precision":12,"scale":2,"unique":true,"partition":true,"x-unit":"EUR"}"#
        );
        let back = serde_json::from_str::<Column>(&text).expect("loads");
        assert_eq!(serde_json::to_string(&back).expect("serializes"), text);
        assert!(
            c.nullable_unsaid && !back.nullable_unsaid,
            "bookkeeping of the stored schema only"
        );
    }
}
