//! Connecting and turning driver errors into messages that say what failed and what to check.

use ele_core::Error;
use tokio_postgres::{Client, NoTls};

use super::config::Postgres;

/// How many times a connection is tried when the server cannot be reached (refused, reset, starting up).
const CONNECT_ATTEMPTS: u32 = 5;

/// Opens a connection; the connection task runs in the background until the client is dropped.
///
/// Transient failures (the server is unreachable or restarting) are retried with exponential backoff, about
/// 3 seconds in all; permanent ones (authentication, missing database, permissions) fail at once.
pub async fn connect(pg: &Postgres) -> Result<Client, Error> {
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

fn connect_error(pg: &Postgres, e: tokio_postgres::Error) -> Error {
    // Unreachable, or reachable but starting up or shutting down (57P03, 57P01).
    let transient = e.as_db_error().is_none()
        || matches!(e.code().map(|c| c.code()), Some("57P03") | Some("57P01"));
    let hint = match e.code().map(|c| c.code()) {
        Some("28P01") | Some("28000") => "check the user name and password",
        Some("3D000") => "check that the database exists",
        Some("42501") => "check the user's permissions",
        _ if transient => "check that the server is running and reachable",
        _ => "check the connection settings",
    };
    Error::Destination {
        message: format!(
            "cannot connect to {}: {}; {hint}",
            pg.location(),
            describe(&e)
        ),
        transient,
        source: Some(Box::new(e)),
    }
}

/// A driver error as one line: the server's message with detail and hint, or the client-side cause.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            if let Some(place) = db.where_() {
                text.push_str(&format!("; where: {place}"));
            }
            text
        }
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// Wraps a driver error of `what` (a statement or step) into a destination error.
pub fn sql_error(pg: &Postgres, what: &str, e: tokio_postgres::Error) -> Error {
    // Lost connections (also a backend terminated by an administrator or a restarting server: 57P0x,
    // connection exceptions 08xxx), deadlocks and serialization failures may succeed when tried again.
    let code = e.code().map(|c| c.code()).unwrap_or_default();
    let transient = e.as_db_error().is_none()
        || e.is_closed()
        || matches!(code, "40P01" | "40001")
        || code.starts_with("57P")
        || code.starts_with("08");
    Error::Destination {
        message: format!("{what} failed on {}: {}", pg.location(), describe(&e)),
        transient,
        source: Some(Box::new(e)),
    }
}
