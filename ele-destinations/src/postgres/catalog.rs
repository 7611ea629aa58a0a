//! What the database already holds, asked of the catalog or the data: a dataset's tables and columns, whether a
//! chain's tables are empty, a table's size, whether a just-filled table's primary key is unique. Shared by the
//! normal and the streamed load.

use std::collections::HashMap;
use tokio_postgres::types::Type;

use ele_core::Result;
use ele_core::package::Manifest;
use tokio_postgres::GenericClient;

use super::classify::sql_error;
use super::config::Postgres;
use super::sql::{self, ident, qualified};

/// Columns of every table of the dataset, in order.
pub(super) type Existing = HashMap<String, Vec<String>>;

/// The columns of every table of `dataset`, in order.
pub(super) async fn existing_columns(
    client: &impl GenericClient,
    pg: &Postgres,
    dataset: &str,
) -> Result<Existing> {
    let rows = client
        .query_typed(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
            &[(&dataset, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "reading the dataset's columns", e))?;
    let mut existing: Existing = HashMap::new();
    for row in rows {
        existing
            .entry(row.get::<_, String>(0))
            .or_default()
            .push(row.get::<_, String>(1));
    }
    Ok(existing)
}

/// The names of the indexes in `dataset`.
pub(super) async fn index_names(
    client: &impl GenericClient,
    pg: &Postgres,
    dataset: &str,
) -> Result<std::collections::HashSet<String>> {
    Ok(client
        .query_typed(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1",
            &[(&dataset, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "reading the dataset's indexes", e))?
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .collect())
}

/// Whether `dataset.table` exists.
pub(super) async fn table_exists(
    client: &impl GenericClient,
    pg: &Postgres,
    dataset: &str,
    table: &str,
) -> Result<bool> {
    let row = client
        .query_typed_one(
            "SELECT to_regclass($1)::text",
            &[(&qualified(dataset, table), Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "looking up a system table", e))?;
    Ok(row.get::<_, Option<String>>(0).is_some())
}

/// Whether every table of the chain of `root` that exists in the destination is empty.
pub(super) async fn chain_is_empty(
    client: &impl GenericClient,
    pg: &Postgres,
    m: &Manifest,
    existing: &Existing,
    root: &str,
) -> Result<bool> {
    let probes: Vec<String> = m
        .schema
        .chain(root)
        .iter()
        .filter(|t| existing.contains_key(&t.name))
        .map(|t| {
            format!(
                "NOT EXISTS (SELECT 1 FROM {})",
                qualified(&m.dataset_name, &t.name)
            )
        })
        .collect();
    if probes.is_empty() {
        return Ok(true);
    }
    let row = client
        .query_typed_one(&format!("SELECT {}", probes.join(" AND ")), &[])
        .await
        .map_err(|e| sql_error(pg, &format!("looking into `{root}`"), e))?;
    Ok(row.get::<_, bool>(0))
}

/// Whether the primary key of `root` (just filled) is unique: a unique index on it builds. The caller rolls back
/// to a savepoint when it is not (the failed build aborts the transaction up to there).
pub(super) async fn keys_are_unique(
    tx: &impl GenericClient,
    pg: &Postgres,
    m: &Manifest,
    root: &str,
) -> Result<bool> {
    let Some(table) = m.schema.tables.get(root) else {
        return Ok(false);
    };
    let check = sql::index_name(root, "ele_unique_check");
    let built = tx
        .batch_execute(&format!(
            "CREATE UNIQUE INDEX {} ON {} ({})",
            ident(&check),
            qualified(&m.dataset_name, root),
            sql::column_list(&table.primary_key())
        ))
        .await;
    match built {
        Ok(()) => {
            tx.batch_execute(&format!(
                "DROP INDEX {}",
                qualified(&m.dataset_name, &check)
            ))
            .await
            .map_err(|e| sql_error(pg, "dropping the uniqueness check", e))?;
            Ok(true)
        }
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => Ok(false),
        Err(e) => Err(sql_error(pg, &format!("checking the keys of `{root}`"), e)),
    }
}

/// Whether no value of `column` occurs twice in `dataset.table` (nulls aside).
pub(super) async fn column_is_unique(
    client: &impl GenericClient,
    pg: &Postgres,
    dataset: &str,
    table: &str,
    column: &str,
) -> Result<bool> {
    let c = ident(column);
    let row = client
        .query_typed_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM {} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)",
                qualified(dataset, table)
            ),
            &[],
        )
        .await
        .map_err(|e| sql_error(pg, &format!("checking `{column}` of `{table}` for repeats"), e))?;
    Ok(!row.get::<_, bool>(0))
}

/// Whether the rows of scd2's first load of `root` (just COPYed, every row a new version) hold each version
/// once, as its merge would insert them: no version occurs twice, nor (when another column identifies versions)
/// a `_dlt_id`, from which the ids of the child rows derive.
pub(super) async fn versions_are_unique(
    client: &impl GenericClient,
    pg: &Postgres,
    dataset: &str,
    root: &str,
    spec: &ele_core::package::Scd2Spec,
) -> Result<bool> {
    let version = spec.version_column();
    if !column_is_unique(client, pg, dataset, root, version).await? {
        return Ok(false);
    }
    if version == ele_core::schema::C_DLT_ID {
        return Ok(true);
    }
    column_is_unique(client, pg, dataset, root, ele_core::schema::C_DLT_ID).await
}

/// Whether `rows` staged rows are few beside what `table` holds (under a tenth), judged from the planner's row
/// estimate or, before the table was first analyzed, from its size at a generous 100 bytes a row.
pub(super) async fn is_small_beside(
    client: &impl GenericClient,
    pg: &Postgres,
    dataset: &str,
    table: &str,
    rows: u64,
) -> Result<bool> {
    let row = client
        .query_typed_opt(
            "SELECT GREATEST(c.reltuples, 0)::float8, pg_relation_size(c.oid)::float8 FROM pg_class c \
             WHERE c.oid = to_regclass($1)", &[(&qualified(dataset, table), Type::TEXT)])
        .await
        .map_err(|e| sql_error(pg, &format!("sizing `{table}`"), e))?;
    let Some(row) = row else {
        return Ok(false);
    };
    let (tuples, bytes): (f64, f64) = (row.get(0), row.get(1));
    let estimate = if tuples > 0.0 { tuples } else { bytes / 100.0 };
    Ok((rows as f64) * 10.0 < estimate)
}

/// The rows each of `tables` of `dataset` holds (`None` for one that does not exist): `count(*)`, exact.
pub(super) async fn row_counts(
    pg: &Postgres,
    dataset: &str,
    tables: &[String],
) -> Result<ele_core::destination::RowCounts> {
    let client = super::connect::connect(pg).await?;
    let mut counts = Vec::with_capacity(tables.len());
    for table in tables {
        let count = if table_exists(&client, pg, dataset, table).await? {
            let row = client
                .query_typed_one(
                    &format!("SELECT count(*) FROM {}", qualified(dataset, table)),
                    &[],
                )
                .await
                .map_err(|e| sql_error(pg, &format!("counting the rows of `{table}`"), e))?;
            Some(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        } else {
            None
        };
        counts.push((table.clone(), count));
    }
    Ok(counts)
}
