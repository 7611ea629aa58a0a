//! `ele load` continues a table as the stored schema has it: a hint no flag states is taken from the stored
//! table, as dlt keeps the stored table's hints a resource does not state.

use ele::schema::Schema;
use ele::{MergeStrategy, SortOrder, WriteDisposition};

/// The hints the flags state.
#[derive(Default)]
pub(crate) struct Stated {
    pub disposition: Option<WriteDisposition>,
    pub strategy: bool,
    pub primary_key: bool,
    pub merge_key: bool,
    pub hard_delete: bool,
    pub dedup_sort: bool,
}

impl Stated {
    /// Whether the stored table can add anything: a stated append or replace takes nothing from it.
    pub(crate) fn may_take(&self) -> bool {
        matches!(self.disposition, None | Some(WriteDisposition::Merge))
    }
}

/// The hints taken from the stored table, each only where no flag stated it.
#[derive(Default)]
pub(crate) struct Taken {
    pub disposition: Option<WriteDisposition>,
    pub strategy: Option<MergeStrategy>,
    pub primary_key: Vec<String>,
    pub merge_key: Vec<String>,
    pub hard_delete: Option<String>,
    pub dedup_sort: Option<(String, SortOrder)>,
}

/// What `schema` holds for root table `table` that the flags leave unstated. The disposition is the stored
/// one unless stated; keys, strategy, hard delete and dedup sort are taken for a merge only.
pub(crate) fn take(schema: &Schema, table: &str, stated: &Stated) -> Taken {
    let normalized = ele_core::naming::normalize_table_identifier(table);
    let Some(stored) = schema
        .tables
        .get(table)
        .or_else(|| schema.tables.get(&normalized))
        .filter(|t| t.parent.is_none())
    else {
        return Taken::default();
    };
    let mut taken = Taken::default();
    if stated.disposition.is_none() && stored.write_disposition != WriteDisposition::Append {
        taken.disposition = Some(stored.write_disposition);
    }
    let disposition = stated.disposition.unwrap_or(stored.write_disposition);
    if disposition != WriteDisposition::Merge {
        return taken;
    }
    if !stated.strategy && stored.write_disposition == WriteDisposition::Merge {
        taken.strategy = schema.merge_strategy(&stored.name);
    }
    let columns = || stored.columns.values();
    if !stated.primary_key {
        taken.primary_key = columns()
            .filter(|c| c.primary_key)
            .map(|c| c.name.clone())
            .collect();
    }
    if !stated.merge_key {
        taken.merge_key = columns()
            .filter(|c| c.merge_key)
            .map(|c| c.name.clone())
            .collect();
    }
    if !stated.hard_delete {
        taken.hard_delete = columns().find(|c| c.hard_delete).map(|c| c.name.clone());
    }
    if !stated.dedup_sort {
        taken.dedup_sort = columns().find_map(|c| Some((c.name.clone(), c.dedup_sort?)));
    }
    taken
}

impl Taken {
    /// What was taken, e.g. `merge (upsert) on id, hard delete deleted`; `None` when nothing was.
    pub(crate) fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        let mut head = String::new();
        if let Some(d) = self.disposition {
            head.push_str(d.as_str());
        }
        if let Some(s) = self.strategy {
            if head.is_empty() {
                head.push_str("merge strategy ");
                head.push_str(s.as_str());
            } else {
                head.push_str(&format!(" ({})", s.as_str()));
            }
        }
        if !self.primary_key.is_empty() {
            let key = self.primary_key.join(",");
            if head.is_empty() {
                parts.push(format!("primary key {key}"));
            } else {
                head.push_str(&format!(" on {key}"));
            }
        }
        if !head.is_empty() {
            parts.insert(0, head);
        }
        if !self.merge_key.is_empty() {
            parts.push(format!("merge key {}", self.merge_key.join(",")));
        }
        if let Some(column) = &self.hard_delete {
            parts.push(format!("hard delete {column}"));
        }
        if let Some((column, order)) = &self.dedup_sort {
            parts.push(format!("dedup sort {column}:{}", order.as_str()));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ele::schema::{Column, Table};

    fn schema() -> Schema {
        let mut schema = Schema::new("t");
        let mut table = Table::new("t", None, WriteDisposition::Merge);
        let mut id = Column::new("id", None);
        id.primary_key = true;
        let mut day = Column::new("day", None);
        day.merge_key = true;
        table.columns.insert("id".into(), id);
        table.columns.insert("day".into(), day);
        schema.tables.insert("t".into(), table);
        schema
    }

    #[test]
    fn unstated_hints_are_taken_and_stated_ones_win() {
        let all = take(&schema(), "t", &Stated::default());
        assert_eq!(
            all.describe().as_deref(),
            Some("merge on id, merge key day")
        );
        let key = Stated {
            primary_key: true,
            ..Stated::default()
        };
        let taken = take(&schema(), "t", &key);
        assert_eq!(taken.disposition, Some(WriteDisposition::Merge));
        assert!(taken.primary_key.is_empty());
        assert_eq!(taken.merge_key, ["day"]);
        let append = Stated {
            disposition: Some(WriteDisposition::Append),
            ..Stated::default()
        };
        assert!(!append.may_take());
        assert!(take(&schema(), "t", &append).describe().is_none());
        assert!(
            take(&schema(), "other", &Stated::default())
                .describe()
                .is_none()
        );
    }
}
