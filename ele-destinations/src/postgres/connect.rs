//! Opening connections: retried while the server is unreachable or starting up, failing at once otherwise.

use ele_core::Error;
use tokio_postgres::{Client, NoTls};

use super::classify::connect_error;
use super::config::Postgres;

/// How many times a connection is tried when the server cannot be reached (refused, reset, starting up).
const CONNECT_ATTEMPTS: u32 = 5;

/// Opens a connection; the connection task runs in the background until the client is dropped.
///
/// Transient failures (the server is unreachable or restarting) are retried with exponential backoff, about
/// 3 seconds in all; permanent ones (authentication, missing database, permissions) fail at once.
pub(super) async fn connect(pg: &Postgres) -> Result<Client, Error> {
    let mut attempt = 1;
    loop {
        match try_connect(pg).await {
            Err(e) if e.is_transient() && attempt < CONNECT_ATTEMPTS => {
                let wait = std::time::Duration::from_millis(200 << attempt.min(6));
                tracing::warn!(error = %e, attempt, ?wait, "cannot connect to PostgreSQL, retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn try_connect(pg: &Postgres) -> Result<Client, Error> {
    let (client, connection) = pg
        .config
        .connect(NoTls)
        .await
        .map_err(|e| connect_error(pg, e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection closed with an error");
        }
    });
    client
        .batch_execute("SET client_min_messages TO warning")
        .await
        .map_err(|e| connect_error(pg, e))?;
    Ok(client)
}
