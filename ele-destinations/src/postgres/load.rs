//! Loading one package: schema changes, then one transaction with every row (merge and replace rows staged in
//! temp tables, or in tables of the staging schema dropped before the commit), the state row and the
//! `_dlt_loads` row.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tokio_postgres::types::Type;

use ele_core::destination::LoadOutcome;
use ele_core::package::{ChainLoad, Job, LoadPackage, Manifest, Scd2Spec};
use ele_core::schema::{C_DLT_ID, DataType, Table};
use ele_core::{Error, Result};
use ele_core::{MergeStrategy, WriteDisposition};
use tokio_postgres::GenericClient;

use super::catalog::{
    Existing, chain_is_empty, existing_columns, is_small_beside, keys_are_unique,
    versions_are_unique,
};
use super::classify::{sql_error, statement_error};
use super::config::{Postgres, ReplaceStrategy};
use super::connect::connect;
use super::copy::{copy_job, copy_job_omitting, copy_to_final};
use super::keyed;
use super::sql::{self, ChainTable, StageTables, ident, qualified};
use super::staging;

/// How often the data transaction is tried when it fails transiently (deadlock, serialization failure).
const COMMIT_ATTEMPTS: u64 = 3;

/// Index statements left for the load transaction, per root table: a chain loaded directly into empty tables
/// gets its indexes after its rows (one sort beats a million random index inserts).
type DeferredIndexes = HashMap<String, Vec<String>>;

/// Creates the dataset, system tables, new tables and columns, and indexes (but those of the `direct` chains),
/// in one short transaction, and records a changed schema in `_dlt_version`. Returns the columns that exist
/// afterwards and the deferred index statements.
async fn apply_schema(
    client: &mut tokio_postgres::Client,
    pg: &Postgres,
    m: &Manifest,
    direct: &HashSet<&str>,
    stage: &StageTables,
) -> Result<(Existing, DeferredIndexes)> {
    let ds = &m.dataset_name;
    let tx = client
        .transaction()
        .await
        .map_err(|e| sql_error(pg, "starting the schema transaction", e))?;
    // Serialize schema changes of concurrent loads into the same dataset.
    super::state::lock_dataset_ddl(&tx, pg, ds).await?;
    staging::ensure_schema(&tx, pg, ds).await?;
    if !stage.is_temp() {
        staging::ensure_schema(&tx, pg, stage.schema()).await?;
    }
    tx.batch_execute(&sql::system_tables(ds).join(";\n"))
        .await
        .map_err(|e| sql_error(pg, &format!("creating dataset `{ds}`"), e))?;
    let mut existing = existing_columns(&tx, pg, ds).await?;
    // Tables about to be created may be in the making by a streamed load of another run: wait for it, then
    // look again, so both never create one table.
    let creating: BTreeSet<&str> = m
        .schema
        .tables
        .values()
        .filter(|t| t.complete_columns().next().is_some() && !existing.contains_key(&t.name))
        .map(|t| m.schema.root_of(&t.name))
        .collect();
    if !creating.is_empty() {
        super::state::lock_table_creation(&tx, pg, ds, &creating).await?;
        existing = existing_columns(&tx, pg, ds).await?;
    }
    // Only missing indexes are created: `CREATE INDEX IF NOT EXISTS` would lock the tables on every load and
    // deadlock with a concurrent merge that locks them in another order.
    let indexes = super::catalog::index_names(&tx, pg, ds).await?;
    let mut deferred = DeferredIndexes::new();
    let mut create_index =
        |statements: &mut Vec<(String, String)>, table: &str, suffix: &str, columns: &[&str]| {
            if !indexes.contains(&sql::index_name(table, suffix)) {
                let statement = sql::create_index(ds, table, suffix, columns);
                let root = m.schema.root_of(table);
                if direct.contains(root) {
                    deferred.entry(root.to_owned()).or_default().push(statement);
                } else {
                    statements.push((table.to_owned(), statement));
                }
            }
        };
    let mut statements = Vec::new();
    for table in m.schema.tables.values() {
        if table.complete_columns().next().is_none() {
            continue;
        }
        if m.drop_tables.contains(&table.name) {
            // A refresh drops the table and creates it anew in the load transaction (`refresh_tables`).
            existing.insert(
                table.name.clone(),
                table.complete_columns().map(|c| c.name.clone()).collect(),
            );
            continue;
        }
        match existing.get_mut(&table.name) {
            None => {
                statements.push((table.name.clone(), sql::create_table(ds, table)));
                existing.insert(
                    table.name.clone(),
                    table.complete_columns().map(|c| c.name.clone()).collect(),
                );
            }
            Some(columns) => {
                for column in table.complete_columns() {
                    if !columns.contains(&column.name) {
                        statements.extend(
                            sql::add_column(ds, &table.name, column)
                                .into_iter()
                                .map(|statement| (table.name.clone(), statement)),
                        );
                        columns.push(column.name.clone());
                    }
                }
            }
        }
        for (suffix, columns) in sql::merge_indexes(m, table) {
            create_index(&mut statements, &table.name, suffix, &columns);
        }
    }
    // Tables are changed in name order, the order in which data transactions lock them (`lock_tables`): a schema
    // change waiting for a concurrent merge's lock never holds a lock that merge waits for.
    statements.sort_by(|(a, _), (b, _)| a.cmp(b));
    for (_, statement) in &statements {
        tx.batch_execute(statement)
            .await
            .map_err(|e| statement_error(pg, statement, e))?;
    }
    super::state::write_schema_version(&tx, pg, ds, &m.schema, super::state::KnownSchema::Anywhere)
        .await?;
    tx.commit()
        .await
        .map_err(|e| sql_error(pg, "committing schema changes", e))?;
    Ok((existing, deferred))
}

/// Loads `package`: its schema changes, then its rows and system rows in one transaction, tried again when
/// it fails transiently.
pub(super) async fn load(pg: &Postgres, package: &LoadPackage) -> Result<LoadOutcome> {
    let m = &package.manifest;
    let ds = m.dataset_name.as_str();
    let mut client = connect(pg).await?;
    super::version::require_merge_support(&client, pg, m).await?;

    // A merge into tables that are all empty (or new) that amounts to inserting its rows has nothing to delete,
    // update or deduplicate: its rows are COPYed straight into the final tables inside the load transaction.
    let direct_candidate = |c: &&ChainLoad| first_merge_is_insert(m, c);
    let mut direct: HashSet<&str> = HashSet::new();
    let mut fresh: HashSet<&str> = HashSet::new();
    if m.chains.iter().any(|c| direct_candidate(&c)) {
        let before = existing_columns(&client, pg, ds).await?;
        for chain in m.chains.iter().filter(direct_candidate) {
            if chain_is_empty(&client, pg, m, &before, &chain.root).await? {
                let chain_tables = m.schema.chain(&chain.root);
                let is_fresh = chain_tables.iter().all(|t| !before.contains_key(&t.name));
                // scd2 gives the root table column defaults for the COPY, which takes it exclusively: only
                // when this load creates it.
                if chain.merge.strategy == MergeStrategy::Scd2 && !is_fresh {
                    continue;
                }
                direct.insert(chain.root.as_str());
                if is_fresh {
                    fresh.insert(chain.root.as_str());
                }
            }
        }
    }
    let replaces = m
        .chains
        .iter()
        .any(|c| c.write_disposition == WriteDisposition::Replace);
    let stages = m.chains.iter().any(|c| match c.write_disposition {
        WriteDisposition::Append => false,
        WriteDisposition::Merge => true,
        WriteDisposition::Replace => pg.replace_strategy == ReplaceStrategy::InsertFromStaging,
    });
    // staging-optimized builds the new tables in the staging schema, from where they move into the dataset.
    let in_schema = replaces && pg.replace_strategy == ReplaceStrategy::StagingOptimized;
    let stage = staging::plan(
        &client,
        pg,
        ds,
        &m.schema.name,
        &m.load_id,
        stages,
        in_schema,
    )
    .await?;
    let (existing, deferred_indexes) = apply_schema(&mut client, pg, m, &direct, &stage).await?;

    let done = client
        .query_typed_opt(
            &format!(
                "SELECT 1 FROM {} WHERE load_id = $1",
                qualified(ds, "_dlt_loads")
            ),
            &[(&m.load_id, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "checking _dlt_loads", e))?;
    if done.is_some() {
        tracing::info!(load_id = %m.load_id, "package was committed by an earlier run; not applying it again");
        return Ok(LoadOutcome::AlreadyLoaded);
    }

    // The data transaction rolls back as a whole, so a deadlock with a concurrent load is retried.
    let mut attempt = 1;
    loop {
        let result = commit_package(
            &mut client,
            pg,
            package,
            &existing,
            &direct,
            &fresh,
            &deferred_indexes,
            &stage,
        )
        .await;
        match result {
            Err(e) if e.is_transient() && !client.is_closed() && attempt < COMMIT_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "load transaction failed, retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                attempt += 1;
            }
            other => break other,
        }
    }
}

/// Whether merging `chain` into empty tables amounts to inserting every row of the load, so that a first load
/// can COPY them straight into the final tables: delete-insert, upsert and insert-only without hard deletes (a
/// flagged row of a new key is not inserted) whose primary keys are unique (or are checked after the COPY,
/// `unchecked_keys`), as then none is deduplicated, updated or skipped; upsert and insert-only need a primary
/// key. And scd2, whose rows become versions valid from the boundary (their validity columns are left out of
/// the COPY and filled by defaults); identical items are one version, which the loader checks after the COPY.
pub(super) fn first_merge_is_insert(m: &Manifest, chain: &ChainLoad) -> bool {
    if chain.write_disposition != WriteDisposition::Merge {
        return false;
    }
    let has_primary_key = m
        .schema
        .tables
        .get(&chain.root)
        .is_some_and(|t| !t.primary_key().is_empty());
    let keys = chain.unique_keys || chain.unchecked_keys;
    match chain.merge.strategy {
        MergeStrategy::DeleteInsert => keys && chain.merge.hard_delete.is_none(),
        MergeStrategy::Upsert | MergeStrategy::InsertOnly => {
            keys && has_primary_key && chain.merge.hard_delete.is_none()
        }
        // The validity columns are left out of the COPY, which binary job files allow.
        MergeStrategy::Scd2 => chain.merge.scd2.as_ref().is_some_and(|spec| {
            !m.jobs.iter().any(|j| {
                j.table == chain.root
                    && j.format != ele_core::package::JobFormat::Binary
                    && j.columns
                        .iter()
                        .any(|c| *c == spec.valid_from || *c == spec.valid_to)
            })
        }),
    }
}

/// upsert and insert-only match child rows by ids derived from the primary key, so the versions of a key
/// sent twice in one load could not be told apart: the normalizer refuses such loads when it saw the
/// duplicate, this catches the loads too large for it to track every key.
async fn check_unique_keys(
    tx: &tokio_postgres::Transaction<'_>,
    pg: &Postgres,
    plan: &sql::ChainMerge<'_>,
) -> Result<()> {
    let (Some(staging), false) = (&plan.root.staging, plan.unique_keys) else {
        return Ok(());
    };
    if plan.children.iter().all(|c| c.staging.is_none()) {
        return Ok(());
    }
    let keys = sql::column_list(&plan.primary_key);
    let duplicate = tx
        .query_typed_opt(
            &format!(
                "SELECT 1 FROM {} GROUP BY {keys} HAVING count(*) > 1 LIMIT 1",
                plan.stage.qualified(staging)
            ),
            &[],
        )
        .await
        .map_err(|e| sql_error(pg, "checking staged primary keys", e))?;
    if duplicate.is_some() {
        return Err(Error::destination(
            format!(
                "cannot merge into `{}`: a primary key occurs more than once in this load and the rows have \
                 nested lists, which upsert and insert-only cannot attribute to one version; deduplicate the \
                 items or merge with `delete-insert`",
                plan.root.table.name
            ),
            None,
        ));
    }
    Ok(())
}

/// Records the smallest and largest staged value of the single-column primary key `key` in a staging table
/// (`lo`, `hi`; added to `made`) and returns its name when fewer than twice the `staged` rows of `table` lie between them
/// (counted through the key index, stopping at that bound).
#[allow(clippy::too_many_arguments)]
async fn narrow_key_range(
    tx: &impl GenericClient,
    pg: &Postgres,
    dataset: &str,
    table: &str,
    key: &str,
    stage: (&StageTables, &str),
    staged: u64,
    chain_index: usize,
    made: &mut Vec<String>,
) -> Result<Option<String>> {
    let (tables, staged_rows) = stage;
    let range = tables.name(&format!("_ele_key_range_{chain_index}"));
    let k = ident(key);
    let statement = tables.create_as(
        &range,
        &format!(
            "SELECT min({k}) AS lo, max({k}) AS hi FROM {}",
            tables.qualified(staged_rows)
        ),
    );
    tx.batch_execute(&statement)
        .await
        .map_err(|e| statement_error(pg, &statement, e))?;
    made.push(range.clone());
    let bound = i64::try_from(staged.saturating_mul(2)).unwrap_or(i64::MAX);
    let r = tables.qualified(&range);
    let row = tx
        .query_typed_one(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} AS d WHERE d.{k} BETWEEN (SELECT lo FROM {r}) AND \
                 (SELECT hi FROM {r}) LIMIT $1) AS within",
                qualified(dataset, table)
            ), &[(&bound, Type::INT8)])
        .await
        .map_err(|e| sql_error(pg, &format!("sizing the key range of `{table}`"), e))?;
    Ok((row.get::<_, i64>(0) < bound).then_some(range))
}

/// The rows of a chain planned for a direct load: COPYed into its final tables when they are still empty
/// (returns `None`), else into staging tables of this transaction, returned for the usual merge. The chain's
/// deferred `indexes` are created after the rows are in. With `unchecked` keys (more than the normalizer could
/// track) a direct load is undone when its keys turn out not unique. An scd2 chain (`scd2`) COPYs its root rows
/// with defaults filling the validity columns (dropped after), and is undone when a version occurs twice. The
/// tables of a `fresh` chain (created by this load's schema change) are locked and truncated first, so the rows
/// are COPYed frozen: already visible to all, nothing is left for the first reader or vacuum to rewrite.
#[allow(clippy::too_many_arguments)]
async fn load_direct<'m>(
    tx: &tokio_postgres::Transaction<'_>,
    pg: &Postgres,
    package: &'m LoadPackage,
    existing: &Existing,
    root: &str,
    chain_index: usize,
    indexes: &[String],
    unchecked: bool,
    scd2: Option<&Scd2Spec>,
    fresh: bool,
    stage: &StageTables,
    made: &mut Vec<String>,
) -> Result<Option<HashMap<&'m str, String>>> {
    let m = &package.manifest;
    let ds = m.dataset_name.as_str();
    let tables = m.schema.chain(root);
    let jobs: Vec<&'m Job> = m
        .jobs
        .iter()
        .filter(|j| tables.iter().any(|t| t.name == j.table))
        .collect();
    let run = |statement: String| async move {
        tx.batch_execute(&statement)
            .await
            .map_err(|e| statement_error(pg, &statement, e))
    };
    let present: Vec<String> = tables
        .iter()
        .filter(|t| existing.contains_key(&t.name))
        .map(|t| qualified(ds, &t.name))
        .collect();
    if fresh && !present.is_empty() {
        // Locked before looking: no concurrent load's rows can land between the look and the truncate.
        run(format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            present.join(", ")
        ))
        .await?;
    }
    if chain_is_empty(tx, pg, m, existing, root).await? {
        if unchecked || scd2.is_some() {
            run("SAVEPOINT ele_direct".to_owned()).await?;
        }
        let freeze = fresh && !present.is_empty();
        if freeze {
            run(format!("TRUNCATE TABLE {}", present.join(", "))).await?;
        }
        let defaults = scd2.map(|spec| sql::scd2_defaults(ds, root, spec));
        if let Some([set_defaults, _]) = &defaults {
            run(set_defaults.clone()).await?;
        }
        let omit: Vec<&str> = scd2
            .map(|spec| vec![spec.valid_from.as_str(), spec.valid_to.as_str()])
            .unwrap_or_default();
        for job in &jobs {
            let omit = if job.table == root { &omit[..] } else { &[] };
            copy_job_omitting(
                tx.client(),
                pg,
                &package.job_path(job),
                job,
                ds,
                &job.table,
                freeze,
                omit,
            )
            .await?;
        }
        for statement in indexes {
            run(statement.clone()).await?;
        }
        let unique = match scd2 {
            Some(spec) => versions_are_unique(tx, pg, ds, root, spec).await?,
            None => !unchecked || keys_are_unique(tx, pg, m, root).await?,
        };
        if unique {
            if let Some([_, drop_defaults]) = defaults {
                run(drop_defaults).await?;
            }
            return Ok(None);
        }
        tracing::info!(table = %root, "a primary key or version occurs twice: merging with deduplication instead");
        run("ROLLBACK TO SAVEPOINT ele_direct".to_owned()).await?;
    }
    let temp = stage_rows(tx, pg, package, &jobs, chain_index, stage, made).await?;
    for statement in indexes {
        run(statement.clone()).await?;
    }
    Ok(Some(temp))
}

/// A refresh's drops and truncates, first in the load transaction: the dropped tables this package's schema has
/// are created anew (with their indexes), the emptied ones truncated, before any row is loaded. Readers of
/// those tables see the old rows until the commit.
async fn refresh_tables(
    tx: &tokio_postgres::Transaction<'_>,
    pg: &Postgres,
    m: &Manifest,
    existing: &Existing,
) -> Result<()> {
    let ds = m.dataset_name.as_str();
    let mut statements = Vec::new();
    if !m.drop_tables.is_empty() {
        let list: Vec<String> = m.drop_tables.iter().map(|t| qualified(ds, t)).collect();
        statements.push(format!("DROP TABLE IF EXISTS {}", list.join(", ")));
        for name in &m.drop_tables {
            let Some(table) = m.schema.tables.get(name) else {
                continue;
            };
            if table.complete_columns().next().is_none() {
                continue;
            }
            statements.push(sql::create_table(ds, table));
            statements.extend(
                sql::merge_indexes(m, table)
                    .into_iter()
                    .map(|(suffix, columns)| sql::create_index(ds, name, suffix, &columns)),
            );
        }
    }
    let truncate: Vec<String> = m
        .truncate_tables
        .iter()
        .filter(|t| existing.contains_key(t.as_str()))
        .map(|t| qualified(ds, t))
        .collect();
    if !truncate.is_empty() {
        statements.push(format!("TRUNCATE TABLE {}", truncate.join(", ")));
    }
    for statement in statements {
        tx.batch_execute(&statement)
            .await
            .map_err(|e| statement_error(pg, &statement, e))?;
    }
    Ok(())
}

/// A step of the load transaction that takes an exclusive lock on a replaced table, run after everything else.
enum Exclusive<'m> {
    /// A statement.
    Sql(String),
    /// A COPY into a final table (truncate-and-insert).
    Copy(&'m Job),
}

/// staging-optimized: builds each of the replaced `tables` anew in the staging schema (under its own name, with
/// the columns, constraints and indexes ele gives it) and COPYs its rows in; returns the statements that swap
/// the new tables in (the old ones dropped, the new ones moved into the dataset).
async fn build_replacements(
    tx: &tokio_postgres::Transaction<'_>,
    pg: &Postgres,
    package: &LoadPackage,
    tables: &[&Table],
) -> Result<Vec<String>> {
    let m = &package.manifest;
    let ds = m.dataset_name.as_str();
    let staging_schema = staging::staging_schema(ds);
    let mut drops = Vec::new();
    let mut moves = Vec::new();
    for table in tables {
        let new = qualified(&staging_schema, &table.name);
        // A table of that name left in the staging schema (dlt keeps its staging tables there) is not ours to
        // keep: staging tables hold nothing between loads.
        let mut statements = vec![
            format!("DROP TABLE IF EXISTS {new}"),
            sql::create_table(&staging_schema, table),
        ];
        statements.extend(
            sql::merge_indexes(m, table)
                .into_iter()
                .map(|(suffix, columns)| {
                    sql::create_index(&staging_schema, &table.name, suffix, &columns)
                }),
        );
        for statement in statements {
            tx.batch_execute(&statement)
                .await
                .map_err(|e| statement_error(pg, &statement, e))?;
        }
        for job in m.jobs.iter().filter(|j| j.table == table.name) {
            copy_job(
                tx.client(),
                pg,
                &package.job_path(job),
                job,
                &staging_schema,
                &table.name,
                false,
            )
            .await?;
        }
        drops.push(qualified(ds, &table.name));
        moves.push(format!("ALTER TABLE {new} SET SCHEMA {}", ident(ds)));
    }
    let mut swap = vec![format!("DROP TABLE {}", drops.join(", "))];
    swap.extend(moves);
    Ok(swap)
}

/// COPYs `jobs` into staging tables of this transaction shaped like their final tables: temp tables (dropped at
/// its end) or unlogged tables of the staging schema (added to `made`, dropped before its commit); no WAL is
/// written for either. Returns the staging table of each final table.
async fn stage_rows<'m>(
    tx: &tokio_postgres::Transaction<'_>,
    pg: &Postgres,
    package: &'m LoadPackage,
    jobs: &[&'m Job],
    chain_index: usize,
    stage: &StageTables,
    made: &mut Vec<String>,
) -> Result<HashMap<&'m str, String>> {
    let ds = package.manifest.dataset_name.as_str();
    let mut temp: HashMap<&str, String> = HashMap::new();
    for job in jobs {
        if !temp.contains_key(job.table.as_str()) {
            let name = stage.name(&format!("_ele_stage_{chain_index}_{}", temp.len()));
            let statement = stage.create_like(&name, &qualified(ds, &job.table));
            tx.batch_execute(&statement)
                .await
                .map_err(|e| statement_error(pg, &statement, e))?;
            made.push(name.clone());
            temp.insert(job.table.as_str(), name);
        }
        copy_job(
            tx.client(),
            pg,
            &package.job_path(job),
            job,
            stage.schema(),
            &temp[job.table.as_str()],
            false,
        )
        .await?;
    }
    Ok(temp)
}

/// Locks every existing table of the package's chains before any row moves, in one order (by name) for all
/// loads, so two loads never deadlock: the tables of merges and replaces in `SHARE ROW EXCLUSIVE` mode, which
/// lets readers in but no other writer, so concurrent merges of one table run one after the other (under READ
/// COMMITTED a delete-insert does not see rows another uncommitted load inserts) and each sees the rows of the
/// one before; the tables of appends in `ROW EXCLUSIVE` mode (what their COPY takes anyway): appends run side
/// by side, and wait for a merge of their table only here, before holding anything a merge could wait for.
async fn lock_tables(
    tx: &tokio_postgres::Transaction<'_>,
    pg: &Postgres,
    m: &Manifest,
    existing: &Existing,
) -> Result<()> {
    let mut modes: BTreeMap<&str, &str> = BTreeMap::new();
    for chain in &m.chains {
        let mode = match chain.write_disposition {
            WriteDisposition::Append => "ROW EXCLUSIVE",
            WriteDisposition::Merge | WriteDisposition::Replace => "SHARE ROW EXCLUSIVE",
        };
        for table in m.schema.chain(&chain.root) {
            if existing.contains_key(&table.name) {
                modes.insert(table.name.as_str(), mode);
            }
        }
    }
    if modes.is_empty() {
        return Ok(());
    }
    let ds = m.dataset_name.as_str();
    let statements: Vec<String> = modes
        .iter()
        .map(|(table, mode)| format!("LOCK TABLE {} IN {mode} MODE", qualified(ds, table)))
        .collect();
    tx.batch_execute(&statements.join(";\n"))
        .await
        .map_err(|e| sql_error(pg, "locking the tables of the load", e))
}

/// The one data transaction: appends, merges, replaces, the state row and the `_dlt_loads` row. Merge and
/// replace rows are staged in tables of the transaction (temp tables, or tables of the staging schema dropped
/// before the commit), except the child rows of a delete-insert that
/// needs no deduplication or hard-delete filter: those go straight into their final tables once the replaced
/// rows are deleted.
#[allow(clippy::too_many_arguments)]
async fn commit_package(
    client: &mut tokio_postgres::Client,
    pg: &Postgres,
    package: &LoadPackage,
    existing: &Existing,
    direct: &HashSet<&str>,
    fresh: &HashSet<&str>,
    deferred_indexes: &DeferredIndexes,
    stage: &StageTables,
) -> Result<LoadOutcome> {
    let m = &package.manifest;
    let ds = m.dataset_name.as_str();
    let tx = client
        .transaction()
        .await
        .map_err(|e| sql_error(pg, "starting the load transaction", e))?;
    // Two processes finishing the same pending package: the second waits here, then sees the first's
    // `_dlt_loads` row and applies nothing.
    tx.query_typed(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[(&format!("ele-load:{ds}:{}", m.load_id), Type::TEXT)],
    )
    .await
    .map_err(|e| sql_error(pg, "locking the load", e))?;
    let done = tx
        .query_typed_opt(
            &format!(
                "SELECT 1 FROM {} WHERE load_id = $1",
                qualified(ds, "_dlt_loads")
            ),
            &[(&m.load_id, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "checking _dlt_loads", e))?;
    if done.is_some() {
        return Ok(LoadOutcome::AlreadyLoaded);
    }
    lock_tables(&tx, pg, m, existing).await?;
    refresh_tables(&tx, pg, m, existing).await?;
    if m.chains
        .iter()
        .any(|c| c.write_disposition == WriteDisposition::Merge)
    {
        tx.batch_execute(sql::MERGE_WORK_MEM)
            .await
            .map_err(|e| sql_error(pg, "raising work_mem for the merge", e))?;
    }

    // Appends go straight into the final tables; they take only row locks.
    for job in &m.jobs {
        let root = m.schema.root_of(&job.table);
        let append = m
            .chains
            .iter()
            .any(|c| c.root == root && c.write_disposition == WriteDisposition::Append);
        if append {
            copy_to_final(tx.client(), pg, package, job, false).await?;
        }
    }

    let mut exclusive: Vec<Exclusive<'_>> = Vec::new();
    // The staging tables made in the staging schema, dropped before the commit.
    let mut made = Vec::new();
    for (chain_index, chain) in m.chains.iter().enumerate() {
        // A chain planned for a direct load is done here, or merged from temp tables when it filled meanwhile.
        let mut staging = None;
        if direct.contains(chain.root.as_str()) {
            let indexes = deferred_indexes
                .get(&chain.root)
                .map_or(&[][..], Vec::as_slice);
            match load_direct(
                &tx,
                pg,
                package,
                existing,
                &chain.root,
                chain_index,
                indexes,
                chain.unchecked_keys,
                chain
                    .merge
                    .scd2
                    .as_ref()
                    .filter(|_| chain.merge.strategy == MergeStrategy::Scd2),
                fresh.contains(chain.root.as_str()),
                stage,
                &mut made,
            )
            .await?
            {
                None => continue,
                Some(temp) => staging = Some(temp),
            }
        }
        let tables = m.schema.chain(&chain.root);
        let jobs_of = |tables: &[&Table]| -> Vec<&Job> {
            m.jobs
                .iter()
                .filter(|j| tables.iter().any(|t| t.name == j.table))
                .collect()
        };
        let in_db = |name: &str| {
            existing
                .get(name)
                .map(|cols| cols.iter().map(String::as_str).collect::<Vec<_>>())
        };
        match chain.write_disposition {
            WriteDisposition::Append => {}
            WriteDisposition::Merge => {
                let Some(root_table) = tables.first() else {
                    continue;
                };
                let Some(root_columns) = in_db(&root_table.name) else {
                    continue;
                };
                let merge = &chain.merge;
                let hard_delete = merge.hard_delete.as_deref().and_then(|column| {
                    let exists = root_columns.contains(&column);
                    let data_type = root_table.columns.get(column).and_then(|c| c.data_type);
                    exists.then_some(sql::HardDelete {
                        column,
                        boolean: data_type == Some(DataType::Bool),
                    })
                });
                // An upsert of unique keys without hard deletes leaves the staged keys with exactly the staged
                // rows, and their root rows with exactly the staged child rows (matched by ids derived from the
                // key, the rest deleted): what delete-insert on the primary key does, by index lookups and
                // appends instead of a join over the tables.
                let replaces_keys = match merge.strategy {
                    MergeStrategy::DeleteInsert => true,
                    MergeStrategy::Upsert => {
                        chain.unique_keys
                            && hard_delete.is_none()
                            && !root_table.primary_key().is_empty()
                    }
                    MergeStrategy::InsertOnly | MergeStrategy::Scd2 => false,
                };
                // upsert and insert-only match on the primary key alone.
                let merge_key = if merge.strategy.needs_primary_key() {
                    Vec::new()
                } else {
                    root_table.merge_key()
                };
                // Nothing to deduplicate or filter: child rows need no staging.
                let direct_children = staging.is_none()
                    && replaces_keys
                    && hard_delete.is_none()
                    && (chain.unique_keys || root_table.primary_key().is_empty());
                // A load of distinct keys: deleted by its key list, COPYed straight in.
                let primary_key = root_table.primary_key();
                if direct_children
                    && chain.unique_keys
                    && merge_key.is_empty()
                    && let [key] = primary_key.as_slice()
                    && root_columns.contains(key)
                {
                    let root_jobs = jobs_of(&tables[..1]);
                    let rows: u64 = root_jobs.iter().map(|j| j.rows).sum();
                    let mut links = Some(Vec::new());
                    for child in tables.iter().skip(1) {
                        let Some(columns) = in_db(&child.name) else {
                            continue;
                        };
                        let parent_is_root =
                            child.parent.as_deref() == Some(root_table.name.as_str());
                        match (sql::root_link(child, parent_is_root, &columns), &mut links) {
                            (Some(link), Some(links)) => links.push((child.name.as_str(), link)),
                            _ => links = None,
                        }
                    }
                    if let Some(children) = links
                        && rows > 0
                        && rows <= keyed::MAX_KEYED_ROWS
                    {
                        let keyed_chain = keyed::KeyedChain {
                            small: is_small_beside(&tx, pg, ds, &root_table.name, rows).await?,
                            dataset: ds,
                            root: root_table,
                            key,
                            children,
                            root_jobs,
                            child_jobs: jobs_of(&tables[1..]),
                            stage,
                            tag: chain_index,
                        };
                        if keyed::delete_insert(&tx, pg, package, &keyed_chain, &mut made).await? {
                            continue;
                        }
                    }
                }
                let staging = match staging.take() {
                    Some(temp) => temp,
                    None => {
                        let staged = if direct_children {
                            &tables[..1]
                        } else {
                            &tables[..]
                        };
                        stage_rows(
                            &tx,
                            pg,
                            package,
                            &jobs_of(staged),
                            chain_index,
                            stage,
                            &mut made,
                        )
                        .await?
                    }
                };
                let root = ChainTable {
                    table: root_table,
                    staging: staging.get(root_table.name.as_str()).cloned(),
                    columns: root_columns,
                    root_link: None,
                };
                let mut children = Vec::new();
                for child in tables.iter().skip(1) {
                    let Some(columns) = in_db(&child.name) else {
                        continue;
                    };
                    let parent_is_root = child.parent.as_deref() == Some(root_table.name.as_str());
                    let link = sql::root_link(child, parent_is_root, &columns);
                    if link.is_none() {
                        return Err(Error::destination(
                            format!(
                                "cannot merge into `{}`: its child table `{}` has no `_dlt_root_id` column, so \
                                 replaced rows cannot be found; load the table with replace once to rebuild it",
                                root_table.name, child.name
                            ),
                            None,
                        ));
                    }
                    children.push(ChainTable {
                        table: child,
                        staging: staging.get(child.name.as_str()).cloned(),
                        columns,
                        root_link: link,
                    });
                }
                if merge.hard_delete.is_some() && merge.strategy == MergeStrategy::Scd2 {
                    tracing::warn!(table = %root_table.name, "`hard_delete` is not used by scd2; ignored");
                }
                let dedup_sort = merge
                    .dedup_sort
                    .as_ref()
                    .filter(|(c, _)| root.columns.contains(&c.as_str()))
                    .map(|(c, order)| (c.as_str(), *order));
                let staged: u64 = m
                    .jobs
                    .iter()
                    .filter(|j| j.table == root_table.name)
                    .map(|j| j.rows)
                    .sum();
                let index_deletes = is_small_beside(&tx, pg, ds, &root_table.name, staged).await?;
                let key_range = match (root_table.primary_key().as_slice(), &root.staging) {
                    ([key], Some(staged_rows)) if index_deletes && merge_key.is_empty() => {
                        narrow_key_range(
                            &tx,
                            pg,
                            ds,
                            &root_table.name,
                            key,
                            (stage, staged_rows),
                            staged,
                            chain_index,
                            &mut made,
                        )
                        .await?
                    }
                    _ => None,
                };
                let plan = sql::ChainMerge {
                    dataset: ds,
                    stage,
                    root,
                    children,
                    primary_key: root_table.primary_key(),
                    merge_key,
                    unique_keys: chain.unique_keys,
                    tag: chain_index.to_string(),
                    hard_delete,
                    dedup_sort,
                    index_deletes,
                    key_range,
                };
                let mut statements = match merge.strategy {
                    MergeStrategy::DeleteInsert => plan.delete_insert(),
                    MergeStrategy::Upsert | MergeStrategy::InsertOnly => {
                        if plan.primary_key.is_empty() {
                            return Err(Error::destination(
                                format!(
                                    "cannot merge into `{}` with `{}`: the table has no primary key",
                                    root_table.name, merge.strategy
                                ),
                                None,
                            ));
                        }
                        check_unique_keys(&tx, pg, &plan).await?;
                        if replaces_keys {
                            plan.delete_insert()
                        } else if merge.strategy == MergeStrategy::Upsert {
                            // Only missing indexes are created (see `apply_schema`).
                            let indexes = super::catalog::index_names(&tx, pg, ds).await?;
                            let mut statements: Vec<String> = plan
                                .children
                                .iter()
                                .filter(|c| c.staging.is_some() && c.columns.contains(&C_DLT_ID))
                                .filter(|c| {
                                    !indexes.contains(&sql::index_name(&c.table.name, "row_key"))
                                })
                                .map(|c| sql::row_key_index(ds, &c.table.name))
                                .collect();
                            statements.extend(plan.upsert());
                            statements
                        } else {
                            plan.insert_only()
                        }
                    }
                    MergeStrategy::Scd2 => match &merge.scd2 {
                        Some(spec) => plan.scd2(spec),
                        None => {
                            return Err(Error::Corrupt {
                                what: "load package manifest",
                                path: package.dir().to_owned(),
                                message: format!(
                                    "the scd2 merge of `{}` has no scd2 settings",
                                    root_table.name
                                ),
                            });
                        }
                    },
                };
                statements.extend(plan.drop_id_lists());
                for statement in statements {
                    tx.batch_execute(&statement).await.map_err(|e| {
                        sql_error(pg, &format!("merge into `{}`", root_table.name), e)
                    })?;
                }
                if direct_children {
                    for job in jobs_of(&tables[1..]) {
                        copy_to_final(tx.client(), pg, package, job, false).await?;
                    }
                }
            }
            WriteDisposition::Replace => {
                let present: Vec<&Table> = tables
                    .iter()
                    .filter(|t| existing.contains_key(&t.name))
                    .copied()
                    .collect();
                if present.is_empty() {
                    continue;
                }
                let list: Vec<String> = present.iter().map(|t| qualified(ds, &t.name)).collect();
                match pg.replace_strategy {
                    ReplaceStrategy::TruncateAndInsert => {
                        exclusive.push(Exclusive::Sql(format!(
                            "TRUNCATE TABLE {}",
                            list.join(", ")
                        )));
                        exclusive.extend(jobs_of(&present).into_iter().map(Exclusive::Copy));
                        continue;
                    }
                    ReplaceStrategy::StagingOptimized => {
                        let swap = build_replacements(&tx, pg, package, &present).await?;
                        exclusive.extend(swap.into_iter().map(Exclusive::Sql));
                        continue;
                    }
                    ReplaceStrategy::InsertFromStaging => {}
                }
                let staging = match staging.take() {
                    Some(temp) => temp,
                    None => {
                        stage_rows(
                            &tx,
                            pg,
                            package,
                            &jobs_of(&tables),
                            chain_index,
                            stage,
                            &mut made,
                        )
                        .await?
                    }
                };
                exclusive.push(Exclusive::Sql(format!(
                    "TRUNCATE TABLE {}",
                    list.join(", ")
                )));
                for table in present {
                    let table = table.name.as_str();
                    if let (Some(stg), Some(columns)) = (staging.get(table), in_db(table)) {
                        let cols = sql::column_list(&columns);
                        exclusive.push(Exclusive::Sql(format!(
                            "INSERT INTO {} ({cols}) SELECT {cols} FROM {}",
                            qualified(ds, table),
                            stage.qualified(stg)
                        )));
                    }
                }
            }
        }
    }

    super::state::write_package_rows(&tx, pg, m).await?;

    // Statements taking exclusive locks come last, so readers wait as briefly as possible.
    for step in &exclusive {
        match step {
            Exclusive::Sql(statement) => tx
                .batch_execute(statement)
                .await
                .map_err(|e| statement_error(pg, statement, e))?,
            Exclusive::Copy(job) => {
                copy_to_final(tx.client(), pg, package, job, false).await?;
            }
        }
    }
    // Tables of the staging schema go in this transaction: a crash before it commits leaves none either.
    if let Some(statement) = stage.drop(&made) {
        tx.batch_execute(&statement)
            .await
            .map_err(|e| sql_error(pg, "dropping the staging tables", e))?;
    }
    ele_core::fault::point("before_commit");
    tx.commit()
        .await
        .map_err(|e| sql_error(pg, "committing the load", e))?;
    ele_core::fault::point("after_commit");
    Ok(LoadOutcome::Committed)
}
