//! Classifying driver errors into ele's error kinds: transient (worth trying again) or not, with a message
//! saying what failed, where, and what to check.

use ele_core::Error;

use super::config::Postgres;

/// A failed connection attempt: transient when the server is unreachable, starting up or shutting down.
pub(super) fn connect_error(pg: &Postgres, e: tokio_postgres::Error) -> Error {
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
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
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
pub(super) fn sql_error(pg: &Postgres, what: &str, e: tokio_postgres::Error) -> Error {
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
