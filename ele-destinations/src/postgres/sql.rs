//! SQL text: DDL and the statements of a load. Every identifier goes through [`ident`]; values are never
//! spliced in (they travel as COPY data or bind parameters).

use ele_core::schema::types::DataType;
use ele_core::schema::{C_DLT_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID, Column, Table};

/// Quotes an identifier: `"na""me"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// The PostgreSQL type of a column type, as dlt maps it.
pub fn pg_type(t: DataType) -> &'static str {
    match t {
        DataType::Text => "varchar",
        DataType::Bigint => "bigint",
        DataType::Double => "double precision",
        DataType::Bool => "boolean",
        DataType::Timestamp => "timestamp with time zone",
        DataType::Json => "jsonb",
    }
}

fn column_def(c: &Column, t: DataType) -> String {
    let null = if c.nullable { "" } else { " NOT NULL" };
    format!("{} {}{null}", ident(&c.name), pg_type(t))
}

/// `CREATE TABLE` with the table's typed columns in order.
pub fn create_table(schema: &str, table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .values()
        .filter_map(|c| c.data_type.map(|t| column_def(c, t)))
        .collect();
    format!(
        "CREATE TABLE {} ({})",
        qualified(schema, &table.name),
        columns.join(", ")
    )
}

/// `ALTER TABLE ... ADD COLUMN` for a typed column.
pub fn add_column(schema: &str, table: &str, column: &Column) -> Option<String> {
    let t = column.data_type?;
    Some(format!(
        "ALTER TABLE {} ADD COLUMN {}",
        qualified(schema, table),
        column_def(column, t)
    ))
}

/// `CREATE INDEX IF NOT EXISTS` on `columns` of a table, named after the table and a suffix, shortened to fit.
pub fn create_index(schema: &str, table: &str, suffix: &str, columns: &[&str]) -> String {
    let name = index_name(table, suffix);
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
        ident(&name),
        qualified(schema, table),
        cols.join(", ")
    )
}

/// An index name of at most 63 bytes, unique per table and suffix.
pub fn index_name(table: &str, suffix: &str) -> String {
    let full = format!("{table}__{suffix}");
    if full.len() <= 63 {
        return full;
    }
    let tag = ele_core::hash::digest128(&full, 6);
    let keep = 63 - tag.len() - suffix.len() - 2;
    let mut cut = keep;
    while !table.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tag}__{suffix}", &table[..cut])
}

/// The system tables, as dlt creates them.
pub fn system_tables(schema: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\"load_id\" varchar(64) NOT NULL, \"schema_name\" varchar, \"status\" bigint NOT NULL, \"inserted_at\" timestamp with time zone NOT NULL, \"schema_version_hash\" varchar)",
            qualified(schema, "_dlt_loads")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\"version\" bigint NOT NULL, \"engine_version\" bigint NOT NULL, \"pipeline_name\" varchar NOT NULL, \"state\" varchar NOT NULL, \"created_at\" timestamp with time zone NOT NULL, \"version_hash\" varchar, \"_dlt_load_id\" varchar(64) NOT NULL, \"_dlt_id\" varchar NOT NULL)",
            qualified(schema, "_dlt_pipeline_state")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\"version\" bigint NOT NULL, \"engine_version\" bigint NOT NULL, \"inserted_at\" timestamp with time zone NOT NULL, \"schema_name\" varchar NOT NULL, \"version_hash\" varchar NOT NULL, \"schema\" varchar NOT NULL)",
            qualified(schema, "_dlt_version")
        ),
    ]
}

/// The column list of a table as `"a", "b"`.
pub fn column_list(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One table of a chain as the merge sees it.
#[derive(Debug, Clone)]
pub struct ChainTable<'a> {
    /// The table in the schema.
    pub table: &'a Table,
    /// Its staging table (in the staging schema) when this load has rows for it.
    pub staging: Option<String>,
    /// Its typed columns as they exist in the destination.
    pub columns: Vec<&'a str>,
    /// The column linking it to the root row: `_dlt_root_id`, or `_dlt_parent_id` for a direct child without one.
    pub root_link: Option<&'a str>,
}

/// The statements of a delete-insert merge of one table chain, in order (dlt's `gen_merge_sql`, §2.3).
///
/// `tag` makes temp table names unique within the transaction. Without any key the rows are appended. With
/// `index_deletes` (a small load into a big table, matched on its primary key alone) the deletes are planned as
/// index lookups, so they cost what the load holds rather than a scan of the tables.
#[allow(clippy::too_many_arguments)] // one argument per part of dlt's merge statement
pub fn merge_chain(
    dataset: &str,
    staging_schema: &str,
    root: &ChainTable<'_>,
    children: &[ChainTable<'_>],
    primary_key: &[&str],
    merge_key: &[&str],
    unique_keys: bool,
    tag: &str,
    index_deletes: bool,
) -> Vec<String> {
    let Some(root_staging) = &root.staging else {
        return Vec::new();
    };
    let d = qualified(dataset, &root.table.name);
    let s = qualified(staging_schema, root_staging);
    let mut out = Vec::new();
    let mut groups = Vec::new();
    for key in [primary_key, merge_key] {
        if !key.is_empty() {
            let conj: Vec<String> = key
                .iter()
                .map(|c| format!("d.{c} = s.{c}", c = ident(c)))
                .collect();
            groups.push(format!("({})", conj.join(" AND ")));
        }
    }
    let cols = column_list(&root.columns);
    if groups.is_empty() {
        out.push(format!("INSERT INTO {d} ({cols}) SELECT {cols} FROM {s}"));
        for child in children {
            if let Some(stg) = &child.staging {
                let ccols = column_list(&child.columns);
                out.push(format!(
                    "INSERT INTO {} ({ccols}) SELECT {ccols} FROM {}",
                    qualified(dataset, &child.table.name),
                    qualified(staging_schema, stg)
                ));
            }
        }
        return out;
    }
    let predicate = groups.join(" OR ");
    let delete_temp = ident(&format!("_ele_delete_{tag}"));
    let insert_temp = ident(&format!("_ele_insert_{tag}"));
    let id = ident(C_DLT_ID);
    let index_deletes = index_deletes && merge_key.is_empty() && !primary_key.is_empty();
    if index_deletes {
        // The planner's estimates favour hashing whole tables; a lookup per staged key is what is proportional.
        out.push("SET LOCAL enable_hashjoin = off".to_owned());
        out.push("SET LOCAL enable_mergejoin = off".to_owned());
    }
    // The root rows go first, their ids kept for the children: one pass over the matches.
    out.push(format!(
        "CREATE TEMP TABLE {delete_temp} ON COMMIT DROP AS SELECT d.{id} FROM {d} AS d WITH NO DATA"
    ));
    out.push(format!(
        "WITH _ele_deleted AS (DELETE FROM {d} AS d WHERE EXISTS (SELECT 1 FROM {s} AS s WHERE {predicate}) \
         RETURNING d.{id}) INSERT INTO {delete_temp} SELECT {id} FROM _ele_deleted"
    ));
    for child in children {
        if let Some(link) = child.root_link {
            out.push(format!(
                "DELETE FROM {} WHERE {} IN (SELECT {id} FROM {delete_temp})",
                qualified(dataset, &child.table.name),
                ident(link)
            ));
        }
    }
    if index_deletes {
        out.push("SET LOCAL enable_hashjoin TO DEFAULT".to_owned());
        out.push("SET LOCAL enable_mergejoin TO DEFAULT".to_owned());
    }
    if unique_keys || primary_key.is_empty() {
        // Nothing to deduplicate: every staged row goes in.
        out.push(format!("INSERT INTO {d} ({cols}) SELECT {cols} FROM {s}"));
        for child in children {
            if let Some(stg) = &child.staging {
                let ccols = column_list(&child.columns);
                out.push(format!(
                    "INSERT INTO {} ({ccols}) SELECT {ccols} FROM {}",
                    qualified(dataset, &child.table.name),
                    qualified(staging_schema, stg)
                ));
            }
        }
        return out;
    }
    // One row per primary key; the row sent first wins, as dlt's `ROW_NUMBER() ... ORDER BY (SELECT NULL)`
    // picks on a freshly filled staging table (whose heap keeps the extract order).
    let selection = if primary_key.is_empty() {
        format!("SELECT {id} FROM {s}")
    } else {
        format!(
            "SELECT {id} FROM (SELECT {id}, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY ctid) AS _ele_rn FROM {s}) AS _ele_numbered WHERE _ele_rn = 1",
            column_list(primary_key)
        )
    };
    out.push(format!(
        "CREATE TEMP TABLE {insert_temp} ON COMMIT DROP AS {selection}"
    ));
    out.push(format!(
        "INSERT INTO {d} ({cols}) SELECT {cols} FROM {s} WHERE {id} IN (SELECT {id} FROM {insert_temp})"
    ));
    for child in children {
        if let (Some(stg), Some(link)) = (&child.staging, child.root_link) {
            let ccols = column_list(&child.columns);
            out.push(format!(
                "INSERT INTO {} ({ccols}) SELECT {ccols} FROM {} WHERE {} IN (SELECT {id} FROM {insert_temp})",
                qualified(dataset, &child.table.name),
                qualified(staging_schema, stg),
                ident(link)
            ));
        }
    }
    out
}

/// The column of a child table that links it to its root row, if any.
pub fn root_link<'a>(table: &Table, parent_is_root: bool, existing: &[&'a str]) -> Option<&'a str> {
    let _ = table;
    if let Some(c) = existing.iter().find(|c| **c == C_DLT_ROOT_ID) {
        return Some(c);
    }
    if parent_is_root {
        return existing.iter().find(|c| **c == C_DLT_PARENT_ID).copied();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_escaped() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("d s", "t;drop"), "\"d s\".\"t;drop\"");
    }

    #[test]
    fn long_index_names_fit() {
        let table = "x".repeat(63);
        let name = index_name(&table, "root_key");
        assert!(name.len() <= 63, "{name}");
        assert!(name.ends_with("__root_key"));
        assert_ne!(
            index_name(&table, "root_key"),
            index_name(&"y".repeat(63), "root_key")
        );
    }
}
