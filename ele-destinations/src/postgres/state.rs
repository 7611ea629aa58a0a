//! The pipeline's state in the system tables: restoring it (state row and schema), the pipeline lock, the rows a
//! commit writes (the `_dlt_pipeline_state` row after the concurrency check, pruning old versions; the
//! `_dlt_version` row; the `_dlt_loads` row that marks a load complete), and state changes outside a load
//! (dropping tables, resetting state).

use ele_core::destination::{PipelineLock, Restored, StateCommit};
use ele_core::package::Manifest;
use ele_core::schema::Schema;
use ele_core::state::StateRow;
use ele_core::{Error, Result};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;

use super::catalog::table_exists;
use super::classify::sql_error;
use super::config::Postgres;
use super::connect::connect;
use super::sql::{self, qualified};

/// How often a state change outside a load is tried when it fails transiently (a deadlock with a concurrent
/// load).
const COMMIT_ATTEMPTS: u64 = 3;

/// How many versions of a pipeline's state `_dlt_pipeline_state` keeps.
const STATE_VERSIONS_KEPT: i64 = 10;

/// The newest committed state of `pipeline_name` and the newest stored schema `schema_name` in `dataset`.
pub(super) async fn restore(
    pg: &Postgres,
    dataset: &str,
    pipeline_name: &str,
    schema_name: &str,
) -> Result<Restored> {
    let client = connect(pg).await?;
    let mut restored = Restored::default();
    let has_loads = table_exists(&client, pg, dataset, "_dlt_loads").await?;
    restored.dataset_missing = !has_loads;
    if has_loads && table_exists(&client, pg, dataset, "_dlt_pipeline_state").await? {
        let query = format!(
            "SELECT s.state FROM {} AS s JOIN {} AS l ON l.load_id = s._dlt_load_id \
             WHERE s.pipeline_name = $1 AND l.status = 0 ORDER BY s._dlt_load_id DESC LIMIT 1",
            qualified(dataset, "_dlt_pipeline_state"),
            qualified(dataset, "_dlt_loads")
        );
        let row = client
            .query_typed_opt(&query, &[(&pipeline_name, Type::TEXT)])
            .await
            .map_err(|e| sql_error(pg, "reading the stored pipeline state", e))?;
        if let Some(row) = row {
            restored.state = Some(StateRow::decode(row.get::<_, &str>(0))?);
        }
    }
    if table_exists(&client, pg, dataset, "_dlt_version").await? {
        let query = format!(
            "SELECT schema FROM {} WHERE schema_name = $1 ORDER BY inserted_at DESC, version DESC LIMIT 1",
            qualified(dataset, "_dlt_version")
        );
        let row = client
            .query_typed_opt(&query, &[(&schema_name, Type::TEXT)])
            .await
            .map_err(|e| sql_error(pg, "reading the stored schema", e))?;
        if let Some(row) = row {
            let schema = Schema::from_stored_text(row.get::<_, &str>(0)).map_err(|message| {
                Error::Corrupt {
                    what: "stored schema",
                    path: format!("{dataset}._dlt_version").into(),
                    message,
                }
            })?;
            restored.schema = Some(schema);
        }
    }
    Ok(restored)
}

/// The schemas of the database holding a committed state of `pipeline_name` (a `_dlt_pipeline_state` row of
/// it whose load has a `_dlt_loads` row), sorted.
pub(super) async fn datasets_of(pg: &Postgres, pipeline_name: &str) -> Result<Vec<String>> {
    let client = connect(pg).await?;
    let candidates = client
        .query_typed(
            "SELECT s.table_schema FROM information_schema.tables s JOIN information_schema.tables l \
             ON l.table_schema = s.table_schema AND l.table_name = '_dlt_loads' \
             WHERE s.table_name = '_dlt_pipeline_state' ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| sql_error(pg, "listing the datasets", e))?;
    let mut found = Vec::new();
    for row in candidates {
        let dataset: String = row.get(0);
        let query = format!(
            "SELECT EXISTS (SELECT 1 FROM {} AS s JOIN {} AS l ON l.load_id = s._dlt_load_id \
             WHERE s.pipeline_name = $1 AND l.status = 0)",
            qualified(&dataset, "_dlt_pipeline_state"),
            qualified(&dataset, "_dlt_loads")
        );
        let holds: bool = client
            .query_typed_one(&query, &[(&pipeline_name, Type::TEXT)])
            .await
            .map_err(|e| {
                sql_error(
                    pg,
                    &format!("reading the pipeline states of `{dataset}`"),
                    e,
                )
            })?
            .get(0);
        if holds {
            found.push(dataset);
        }
    }
    Ok(found)
}

/// How often the connection holding the pipeline lock runs a statement, so that a server's
/// `idle_in_transaction_session_timeout` or a pooler's idle timeout does not end it during a long run.
const LOCK_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(30);

/// Holds the pipeline lock: a transaction-level advisory lock in a transaction left open on a connection of its
/// own, so that it also works behind a pooler in transaction mode (PgBouncer, Supabase, Neon), which gives a
/// session lock to whichever client gets the server connection next. The transaction takes no snapshot and
/// writes nothing; dropping the lock rolls it back (or closing the connection does).
pub(super) async fn lock_pipeline(
    pg: &Postgres,
    dataset: &str,
    pipeline_name: &str,
    timeout: std::time::Duration,
) -> Result<PipelineLock> {
    let client = connect(pg).await?;
    let key = format!("ele-run:{dataset}:{pipeline_name}");
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| sql_error(pg, "locking the pipeline", e))?;
        let locked: bool = client
            .query_typed_one(
                "SELECT pg_try_advisory_xact_lock(hashtext($1))",
                &[(&key, Type::TEXT)],
            )
            .await
            .map_err(|e| sql_error(pg, "locking the pipeline", e))?
            .get(0);
        if locked {
            return Ok(PipelineLock::new(HeldLock::keep(client)));
        }
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| sql_error(pg, "locking the pipeline", e))?;
        if started.elapsed() >= timeout {
            return Err(Error::Busy(format!(
                "pipeline `{pipeline_name}` (dataset `{dataset}`) is being run by another process; waited {:.0} s for it to \
                 finish. Stateful runs of one pipeline run one at a time; backfill chunks (with an end value) do not wait",
                timeout.as_secs_f64()
            )));
        }
        if !told {
            tracing::info!(
                pipeline = pipeline_name,
                dataset,
                "another run of this pipeline is in progress; waiting"
            );
            told = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The connection holding the pipeline lock, kept busy every [`LOCK_KEEPALIVE`] by a task of its own.
struct HeldLock(tokio::task::JoinHandle<()>);

impl HeldLock {
    fn keep(client: tokio_postgres::Client) -> HeldLock {
        HeldLock(tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_KEEPALIVE).await;
                if let Err(e) = client.batch_execute("SELECT 1").await {
                    tracing::warn!(error = %e, "the connection holding the pipeline lock was closed");
                    return;
                }
            }
        }))
    }
}

impl Drop for HeldLock {
    /// Ends the task, which drops the connection: the server (or the pooler, which closes a server connection
    /// left in a transaction) rolls the transaction back and so releases the lock.
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serialises schema changes of concurrent loads and pipeline commands into one dataset (transaction lock).
pub(super) async fn lock_dataset_ddl(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
) -> Result<()> {
    tx.query_typed(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[(&format!("ele-ddl:{ds}"), Type::TEXT)],
    )
    .await
    .map_err(|e| sql_error(pg, "locking the dataset for schema changes", e))?;
    Ok(())
}

/// Takes the dataset's schema-change lock of [`lock_dataset_ddl`] if it is free; returns whether it did.
pub(super) async fn try_lock_dataset_ddl(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
) -> Result<bool> {
    try_lock(tx, pg, &format!("ele-ddl:{ds}")).await
}

/// The key of the lock held while the tables of the chain of `root` are created: by the streamed load for its
/// whole transaction (its tables are not visible to others until it commits), by a schema change only while it
/// creates them. Another load creating the same tables at once would otherwise fail on the catalog's unique
/// index once the first commits.
fn creation_key(ds: &str, root: &str) -> String {
    format!("ele-create:{ds}:{root}")
}

/// Takes the creation locks of `roots` (sorted, so two schema changes never deadlock), waiting for a streamed
/// load that creates them to finish.
pub(super) async fn lock_table_creation(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    roots: &std::collections::BTreeSet<&str>,
) -> Result<()> {
    for root in roots {
        tx.query_typed(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[(&creation_key(ds, root), Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "locking new tables", e))?;
    }
    Ok(())
}

/// Takes the creation locks of `roots` if all are free; returns whether it did (some may be taken when not).
pub(super) async fn try_lock_table_creation(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    roots: &std::collections::BTreeSet<&str>,
) -> Result<bool> {
    for root in roots {
        if !try_lock(tx, pg, &creation_key(ds, root)).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `pg_try_advisory_xact_lock` on `key`.
async fn try_lock(tx: &impl GenericClient, pg: &Postgres, key: &str) -> Result<bool> {
    Ok(tx
        .query_typed_one(
            "SELECT pg_try_advisory_xact_lock(hashtext($1))",
            &[(&key, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "taking a lock", e))?
        .get(0))
}

/// Fails with [`Error::StateConflict`] when a state at least as new as `state` was committed meanwhile: this
/// commit then started from an outdated state and could load an increment twice (optimistic concurrency).
async fn check_newest(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    state: &StateRow,
) -> Result<()> {
    tx.query_typed(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[(
            &format!("ele-state:{ds}:{}", state.pipeline_name),
            Type::TEXT,
        )],
    )
    .await
    .map_err(|e| sql_error(pg, "locking the pipeline state", e))?;
    let newest: i64 = tx
        .query_typed_one(
            &format!(
                "SELECT coalesce(max(s.version), 0) FROM {} AS s JOIN {} AS l ON l.load_id = s._dlt_load_id \
                 WHERE s.pipeline_name = $1 AND l.status = 0",
                qualified(ds, "_dlt_pipeline_state"),
                qualified(ds, "_dlt_loads")
            ), &[(&state.pipeline_name, Type::TEXT)])
        .await
        .map_err(|e| sql_error(pg, "reading the newest pipeline state", e))?
        .get(0);
    if newest >= state.version as i64 {
        return Err(Error::StateConflict {
            pipeline: state.pipeline_name.clone(),
            committed: newest as u64,
            this_run: state.version,
        });
    }
    Ok(())
}

/// Inserts the state row of load `load_id` and prunes versions older than the newest
/// [`STATE_VERSIONS_KEPT`] (dlt's table grows without bound, dlt #2186).
async fn write_state_row(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    load_id: &str,
    state: &StateRow,
) -> Result<()> {
    let table = qualified(ds, "_dlt_pipeline_state");
    tx.query_typed(
        &format!(
            "INSERT INTO {table} (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) \
             VALUES ($1, $2, $3, $4, now(), $5, $6, $7)"
        ), &[(&(state.version as i64), Type::INT8), (&(state.engine_version as i64), Type::INT8), (&state.pipeline_name, Type::TEXT), (&state.state, Type::TEXT), (&state.version_hash, Type::TEXT), (&load_id, Type::TEXT), (&ele_core::hash::random_row_id(), Type::TEXT)])
    .await
    .map_err(|e| sql_error(pg, "writing _dlt_pipeline_state", e))?;
    tx.query_typed(
        &format!("DELETE FROM {table} WHERE pipeline_name = $1 AND version <= $2"),
        &[
            (&state.pipeline_name, Type::TEXT),
            (&(state.version as i64 - STATE_VERSIONS_KEPT), Type::INT8),
        ],
    )
    .await
    .map_err(|e| sql_error(pg, "pruning old _dlt_pipeline_state rows", e))?;
    Ok(())
}

/// The rows a package commits besides its data: its state row (refused with [`Error::StateConflict`] when a
/// newer state was committed meanwhile) and its `_dlt_loads` row.
pub(super) async fn write_package_rows(
    tx: &impl GenericClient,
    pg: &Postgres,
    m: &Manifest,
) -> Result<()> {
    let ds = m.dataset_name.as_str();
    if let Some(state) = &m.state_row {
        check_newest(tx, pg, ds, state).await?;
        write_state_row(tx, pg, ds, &m.load_id, state).await?;
    }
    write_load_record(
        tx,
        pg,
        ds,
        &m.load_id,
        &m.schema.name,
        &m.schema.version_hash(),
    )
    .await
}

/// Inserts the `_dlt_loads` row (status 0) that marks load `load_id` complete.
async fn write_load_record(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    load_id: &str,
    schema_name: &str,
    schema_hash: &str,
) -> Result<()> {
    tx.query_typed(
        &format!(
            "INSERT INTO {} (load_id, schema_name, status, inserted_at, schema_version_hash) VALUES ($1, $2, 0, now(), $3)",
            qualified(ds, "_dlt_loads")
        ), &[(&load_id, Type::TEXT), (&schema_name, Type::TEXT), (&schema_hash, Type::TEXT)])
    .await
    .map_err(|e| sql_error(pg, "writing _dlt_loads", e))?;
    Ok(())
}

/// Which stored versions make writing a `_dlt_version` row unnecessary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum KnownSchema {
    /// A row with the same hash exists anywhere (dlt's rule when loading).
    Anywhere,
    /// The newest row has the same hash (after a drop, so a restore sees the change).
    Newest,
}

/// Records `schema` in `_dlt_version` unless it is already known.
pub(super) async fn write_schema_version(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    schema: &Schema,
    known: KnownSchema,
) -> Result<()> {
    let versions = qualified(ds, "_dlt_version");
    let hash = schema.version_hash();
    let query = match known {
        KnownSchema::Anywhere => {
            format!("SELECT version_hash FROM {versions} WHERE version_hash = $1 LIMIT 1")
        }
        KnownSchema::Newest => format!(
            "SELECT version_hash FROM {versions} WHERE schema_name = $1 ORDER BY inserted_at DESC, version DESC LIMIT 1"
        ),
    };
    let key = match known {
        KnownSchema::Anywhere => &hash,
        KnownSchema::Newest => &schema.name,
    };
    let found: Option<String> = tx
        .query_typed_opt(&query, &[(key, Type::TEXT)])
        .await
        .map_err(|e| sql_error(pg, "reading _dlt_version", e))?
        .map(|row| row.get(0));
    if found.as_deref() == Some(hash.as_str()) {
        return Ok(());
    }
    tx.query_typed(
        &format!(
            "INSERT INTO {versions} (version, engine_version, inserted_at, schema_name, version_hash, schema) \
             VALUES ($1, $2, now(), $3, $4, $5)"
        ), &[(&(schema.version as i64), Type::INT8), (&(ele_core::schema::ENGINE_VERSION as i64), Type::INT8), (&schema.name, Type::TEXT), (&hash, Type::TEXT), (&ele_core::hash::dumps(&schema.to_document()), Type::TEXT)])
    .await
    .map_err(|e| sql_error(pg, "writing _dlt_version", e))?;
    Ok(())
}

/// Commits `commit` in one transaction; see [`ele_core::destination::Destination::commit_state`].
pub(super) async fn commit_state(pg: &Postgres, commit: &StateCommit) -> Result<()> {
    let mut client = connect(pg).await?;
    let mut attempt = 1;
    loop {
        match try_commit(&mut client, pg, commit).await {
            Err(e) if e.is_transient() && !client.is_closed() && attempt < COMMIT_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "state transaction failed, retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn try_commit(
    client: &mut tokio_postgres::Client,
    pg: &Postgres,
    commit: &StateCommit,
) -> Result<()> {
    let ds = commit.dataset.as_str();
    let tx = client
        .transaction()
        .await
        .map_err(|e| sql_error(pg, "starting the state transaction", e))?;
    // Schema changes of the dataset are serialized, as loads do.
    lock_dataset_ddl(&tx, pg, ds).await?;
    super::staging::ensure_schema(&tx, pg, ds).await?;
    tx.batch_execute(&sql::system_tables(ds).join(";\n"))
        .await
        .map_err(|e| sql_error(pg, &format!("creating dataset `{ds}`"), e))?;
    if !commit.drop_tables.is_empty() {
        let list: Vec<String> = commit
            .drop_tables
            .iter()
            .map(|t| qualified(ds, t))
            .collect();
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", list.join(", ")))
            .await
            .map_err(|e| sql_error(pg, &format!("dropping {}", list.join(", ")), e))?;
    }

    if let Some(state) = &commit.state_row {
        // The same optimistic check as a load: a newer committed state means another run was concurrent.
        check_newest(&tx, pg, ds, state).await?;
    }

    // The new schema becomes the newest stored version, so a restore (`sync`) sees the change.
    let schema_hash = commit.schema.version_hash();
    write_schema_version(&tx, pg, ds, &commit.schema, KnownSchema::Newest).await?;

    if let Some(state) = &commit.state_row {
        write_state_row(&tx, pg, ds, &commit.load_id, state).await?;
    }
    write_load_record(
        &tx,
        pg,
        ds,
        &commit.load_id,
        &commit.schema.name,
        &schema_hash,
    )
    .await?;
    tx.commit()
        .await
        .map_err(|e| sql_error(pg, "committing the state change", e))?;
    Ok(())
}
