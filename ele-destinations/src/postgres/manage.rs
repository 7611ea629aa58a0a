//! Changing a pipeline's stored state outside of a load (dlt's `pipeline drop`, an incremental reset): drop
//! tables, store the new schema, the state row and a `_dlt_loads` row, in one transaction.

use ele_core::Result;
use ele_core::destination::StateCommit;

use super::classify::sql_error;
use super::connect::connect;
use super::config::Postgres;
use super::sql::{self, ident, qualified};

/// How often the transaction is tried when it fails transiently (a deadlock with a concurrent load).
const COMMIT_ATTEMPTS: u64 = 3;

/// Commits `commit` in one transaction; see [`ele_core::destination::Destination::commit_state`].
pub(crate) async fn commit_state(pg: &Postgres, commit: &StateCommit) -> Result<()> {
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
    super::state::lock_dataset_ddl(&tx, pg, ds).await?;
    let mut ddl = vec![format!("CREATE SCHEMA IF NOT EXISTS {}", ident(ds))];
    ddl.extend(sql::system_tables(ds));
    tx.batch_execute(&ddl.join(";\n"))
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
        super::state::check_newest(&tx, pg, ds, state).await?;
    }

    // The new schema becomes the newest stored version, so a restore (`sync`) sees the change.
    let schema_hash = commit.schema.content_hash();
    super::state::write_schema_version(
        &tx,
        pg,
        ds,
        &commit.schema,
        super::state::KnownSchema::Newest,
    )
    .await?;

    if let Some(state) = &commit.state_row {
        super::state::write_state_row(&tx, pg, ds, &commit.load_id, state).await?;
    }
    super::state::write_load_record(
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
