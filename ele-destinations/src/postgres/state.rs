//! The system tables a commit writes: the `_dlt_pipeline_state` row (after the concurrency check, pruning old
//! versions) and the `_dlt_loads` row that marks a load complete.

use ele_core::package::Manifest;
use ele_core::schema::Schema;
use ele_core::state::StateRow;
use ele_core::{Error, Result};
use tokio_postgres::GenericClient;

use super::classify::sql_error;
use super::config::Postgres;
use super::sql::qualified;

/// How many versions of a pipeline's state `_dlt_pipeline_state` keeps.
const STATE_VERSIONS_KEPT: i64 = 10;

/// Serialises schema changes of concurrent loads and pipeline commands into one dataset (transaction lock).
pub(super) async fn lock_dataset_ddl(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("ele-ddl:{ds}")],
    )
    .await
    .map_err(|e| sql_error(pg, "locking the dataset for schema changes", e))?;
    Ok(())
}

/// Fails with [`Error::StateConflict`] when a state at least as new as `state` was committed meanwhile: this
/// commit then started from an outdated state and could load an increment twice (optimistic concurrency).
pub(super) async fn check_newest(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    state: &StateRow,
) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("ele-state:{ds}:{}", state.pipeline_name)],
    )
    .await
    .map_err(|e| sql_error(pg, "locking the pipeline state", e))?;
    let newest: i64 = tx
        .query_one(
            &format!(
                "SELECT coalesce(max(s.version), 0) FROM {} AS s JOIN {} AS l ON l.load_id = s._dlt_load_id \
                 WHERE s.pipeline_name = $1 AND l.status = 0",
                qualified(ds, "_dlt_pipeline_state"),
                qualified(ds, "_dlt_loads")
            ),
            &[&state.pipeline_name],
        )
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
pub(super) async fn write_state_row(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    load_id: &str,
    state: &StateRow,
) -> Result<()> {
    let table = qualified(ds, "_dlt_pipeline_state");
    tx.execute(
        &format!(
            "INSERT INTO {table} (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) \
             VALUES ($1, $2, $3, $4, now(), $5, $6, $7)"
        ),
        &[
            &(state.version as i64),
            &(state.engine_version as i64),
            &state.pipeline_name,
            &state.state,
            &state.version_hash,
            &load_id,
            &ele_core::hash::random_row_id(),
        ],
    )
    .await
    .map_err(|e| sql_error(pg, "writing _dlt_pipeline_state", e))?;
    tx.execute(
        &format!("DELETE FROM {table} WHERE pipeline_name = $1 AND version <= $2"),
        &[
            &state.pipeline_name,
            &(state.version as i64 - STATE_VERSIONS_KEPT),
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
        &m.schema.content_hash(),
    )
    .await
}

/// Inserts the `_dlt_loads` row (status 0) that marks load `load_id` complete.
pub(super) async fn write_load_record(
    tx: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    load_id: &str,
    schema_name: &str,
    schema_hash: &str,
) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO {} (load_id, schema_name, status, inserted_at, schema_version_hash) VALUES ($1, $2, 0, now(), $3)",
            qualified(ds, "_dlt_loads")
        ),
        &[&load_id, &schema_name, &schema_hash],
    )
    .await
    .map_err(|e| sql_error(pg, "writing _dlt_loads", e))?;
    Ok(())
}

/// `engine_version` of the `_dlt_version` rows ele writes (dlt's schema engine version).
pub(super) const SCHEMA_ENGINE_VERSION: i64 = 11;

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
    let hash = schema.content_hash();
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
        .query_opt(&query, &[key])
        .await
        .map_err(|e| sql_error(pg, "reading _dlt_version", e))?
        .map(|row| row.get(0));
    if found.as_deref() == Some(hash.as_str()) {
        return Ok(());
    }
    tx.execute(
        &format!(
            "INSERT INTO {versions} (version, engine_version, inserted_at, schema_name, version_hash, schema) \
             VALUES ($1, $2, now(), $3, $4, $5)"
        ),
        &[&(schema.version as i64), &SCHEMA_ENGINE_VERSION, &schema.name, &hash, &serde_json::to_string(schema)?],
    )
    .await
    .map_err(|e| sql_error(pg, "writing _dlt_version", e))?;
    Ok(())
}
