//! Classifying driver errors into ele's error kinds: transient (worth trying again) or not, with a message
//! saying what failed, where, and what to check.

use ele_core::Error;
use rustls::CertificateError;

use super::config::Postgres;
use super::tls::rustls_error;

/// A failed connection attempt: transient when the server is unreachable, starting up or shutting down; a
/// configuration error when TLS failed (an untrusted certificate or a wrong host name does not heal by retrying).
pub(super) fn connect_error(pg: &Postgres, e: tokio_postgres::Error) -> Error {
    if let Some(problem) = tls_problem(pg, &e) {
        return Error::config(format!("cannot connect to {}: {problem}", pg.location()));
    }
    // Refused for its settings: a wrong user or password, a missing database, no CONNECT privilege. Retrying
    // cannot help; the server's message says it all, once.
    let settings = match e.code().map(|c| c.code()) {
        Some("28P01") | Some("28000") => Some("check the user name and password"),
        Some("3D000") => Some("check that the database exists"),
        Some("42501") => Some("check the user's permissions"),
        _ => None,
    };
    if let Some(hint) = settings {
        return Error::config(format!(
            "cannot connect to {}: {}; {hint}",
            pg.location(),
            describe(&e)
        ));
    }
    // Unreachable, or reachable but starting up or shutting down (57P03, 57P01).
    let transient =
        is_network(&e) || matches!(e.code().map(|c| c.code()), Some("57P03") | Some("57P01"));
    let hint = if transient {
        "check that the server is running and reachable"
    } else if e.as_db_error().is_none() {
        "check that host and port are those of a PostgreSQL server (or of a pooler in front of one)"
    } else {
        "check the connection settings"
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

/// What went wrong with TLS, when that is why the connection failed.
fn tls_problem(pg: &Postgres, e: &tokio_postgres::Error) -> Option<String> {
    let mode = pg.tls.mode().map(|m| m.as_str()).unwrap_or("?");
    if let Some(error) = rustls_error(e) {
        return Some(match error {
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected,
                presented,
            }) => {
                let names: Vec<String> = presented.iter().map(|n| presented_name(n)).collect();
                format!(
                    "host name mismatch: the server certificate is for {}, not for the host `{}` (sslmode={mode} \
                     checks the host name); connect with a host name the certificate names, or use \
                     sslmode=verify-ca to check only the certificate chain",
                    if names.is_empty() {
                        "no host name".to_owned()
                    } else {
                        names.join(", ")
                    },
                    expected.to_str()
                )
            }
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => format!(
                "host name mismatch: the server certificate is not for the host {} (sslmode={mode} checks the \
                 host name)",
                pg.hosts()
            ),
            rustls::Error::InvalidCertificate(reason) => format!(
                "the server certificate is not trusted ({}): sslmode={mode} checks it against {}; give the CA \
                 that signed the server certificate with sslrootcert=/path/to/ca.crt",
                certificate_problem(reason),
                pg.tls.roots_description()
            ),
            rustls::Error::AlertReceived(alert) => format!(
                "the server refused the TLS handshake (alert: {alert:?}); when the server asks for a client \
                 certificate, check sslcert and sslkey"
            ),
            other => format!("the TLS handshake failed: {other}"),
        });
    }
    let text = e.to_string();
    if let Some(db) = e.as_db_error() {
        let message = db.message();
        if db.code().code() == "28000" && message.contains("no encryption") {
            return Some(format!(
                "the server requires TLS for this connection ({message}), and sslmode={mode} does not use it; \
                 use sslmode=require, or verify-full with the server's CA in sslrootcert"
            ));
        }
        if db.code().code() == "28000" && message.contains("certificate") {
            return Some(format!(
                "the server requires a client certificate ({message}); give it with sslcert and sslkey"
            ));
        }
        return None;
    }
    if describe(e).contains("server does not support TLS") {
        return Some(format!(
            "the server does not support TLS, and sslmode={mode} requires it; enable ssl on the server, or \
             use sslmode=prefer to fall back to an unencrypted connection"
        ));
    }
    // A handshake that rustls itself rejected is a settings problem; one cut short by the network (a reset, an
    // early EOF while the server restarts) is not, and stays retryable.
    if text.starts_with("error performing TLS handshake") && rustls_error(e).is_some() {
        return Some(format!("the TLS handshake failed: {}", describe(e)));
    }
    None
}

/// A name from a certificate as rustls reports it (`DnsName("db.example")`, `IpAddress(10.0.0.1)`), plainly.
fn presented_name(name: &str) -> String {
    let inner = name
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            name.strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(name);
    format!("`{inner}`")
}

/// Why a certificate is not trusted, in words.
fn certificate_problem(reason: &CertificateError) -> String {
    match reason {
        CertificateError::UnknownIssuer => "it is not signed by a trusted CA".to_owned(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet".to_owned()
        }
        CertificateError::Revoked => "it is revoked".to_owned(),
        CertificateError::BadSignature => "its signature is invalid".to_owned(),
        other => format!("{other:?}"),
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

/// How much of a failed statement its error shows; the whole statement is logged at debug level.
const STATEMENT_SHOWN: usize = 160;

/// A failed `statement`: what it did and to which table, then the server's message, a hint where one is known,
/// and the statement shortened (the whole at debug level: a `CREATE TABLE` of 1,700 columns is 30 KB).
pub(super) fn statement_error(pg: &Postgres, statement: &str, e: tokio_postgres::Error) -> Error {
    tracing::debug!(statement, "statement failed");
    let hint = hint_for(e.code().map(|c| c.code()).unwrap_or_default())
        .map(|hint| format!("; {hint}"))
        .unwrap_or_default();
    let shown: String = statement.chars().take(STATEMENT_SHOWN).collect();
    let error = sql_error(pg, &describe_statement(statement), e);
    let Error::Destination {
        message,
        transient,
        source,
    } = error
    else {
        return error;
    };
    let statement = if shown.len() < statement.len() {
        format!(
            "`{shown}...` ({} characters; RUST_LOG=ele_destinations=debug logs it whole)",
            statement.chars().count()
        )
    } else {
        format!("`{shown}`")
    };
    Error::Destination {
        message: format!("{message}{hint}; statement: {statement}"),
        transient,
        source,
    }
}

/// What a statement does, from its first words: `creating table "ds"."events"`, `adding columns to ...`.
fn describe_statement(statement: &str) -> String {
    let words: Vec<&str> = statement.split_whitespace().take(8).collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
    let name = |i: usize| {
        words
            .get(i)
            .map(|w| w.split('(').next().unwrap_or(w).to_owned())
            .unwrap_or_default()
    };
    let (doing, at) = match upper.as_slice() {
        ["CREATE", "TABLE", "IF", "NOT", "EXISTS", ..] => ("creating table", 5),
        ["CREATE", "TEMP" | "TEMPORARY" | "UNLOGGED", "TABLE", ..] => ("creating table", 3),
        ["CREATE", "TABLE", ..] => ("creating table", 2),
        ["ALTER", "TABLE", _, "ADD", ..] => ("adding a column to", 2),
        ["ALTER", "TABLE", ..] => ("altering table", 2),
        ["CREATE", "UNIQUE", "INDEX", _, "ON", ..] => ("creating a unique index on", 5),
        ["CREATE", "INDEX", _, "ON", ..] => ("creating an index on", 4),
        ["INSERT", "INTO", ..] => ("inserting into", 2),
        ["DELETE", "FROM", ..] => ("deleting from", 2),
        ["UPDATE", ..] => ("updating", 1),
        ["MERGE", "INTO", ..] => ("merging into", 2),
        ["TRUNCATE", "TABLE", ..] => ("truncating", 2),
        ["TRUNCATE", ..] => ("truncating", 1),
        ["DROP", "TABLE", "IF", "EXISTS", ..] => ("dropping", 4),
        ["DROP", "TABLE", ..] => ("dropping", 2),
        _ => return format!("statement `{}`", words.join(" ")),
    };
    format!("{doing} {}", name(at))
}

/// What usually helps with a statement failing with SQLSTATE `code`.
fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "54011" => {
            "a table holds at most 1,600 columns; keep deep objects as json with `max_table_nesting`, give a wide \
             object a `json` column hint, or stop new columns with a schema contract"
        }
        "22003" => "a value does not fit the column's type; widen it with a column hint",
        "23502" => "a NOT NULL column got null",
        "23505" => "two rows have the same value of a unique column",
        "42501" => {
            "the role lacks a privilege on the table or schema; see README \"Roles and grants\""
        }
        "53100" => "the server's disk is full",
        "2BP01" => {
            "a view or another object depends on the table, which a `staging-optimized` replace or a refresh \
             drops; drop the dependent object first, or replace with `truncate-and-insert` or \
             `insert-from-staging`"
        }
        _ => return None,
    })
}

/// Wraps a driver error of `what` (a statement or step) into a destination error.
pub(super) fn sql_error(pg: &Postgres, what: &str, e: tokio_postgres::Error) -> Error {
    // Lost connections (also a backend terminated by an administrator or a restarting server: 57P0x,
    // connection exceptions 08xxx), deadlocks and serialization failures may succeed when tried again.
    let code = e.code().map(|c| c.code()).unwrap_or_default();
    let transient = is_network(&e)
        || matches!(code, "40P01" | "40001")
        || code.starts_with("57P")
        || code.starts_with("08");
    Error::Destination {
        message: format!("{what} failed on {}: {}", pg.location(), describe(&e)),
        transient,
        source: Some(Box::new(e)),
    }
}

/// Whether the driver failed on the network (the connection was refused, reset or closed, or timed out), as
/// opposed to the server answering with an error or with something that is not PostgreSQL's protocol.
fn is_network(e: &tokio_postgres::Error) -> bool {
    if e.as_db_error().is_some() {
        return false;
    }
    if e.is_closed() {
        return true;
    }
    // An I/O error, unless it is the driver's own complaint about what it read (a message it cannot parse).
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return !matches!(
                io.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            );
        }
        source = cause.source();
    }
    // The driver's own timeout (connect_timeout) has no cause.
    e.to_string().starts_with("timeout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_described_by_what_they_do() {
        assert_eq!(
            describe_statement("CREATE TABLE \"ds\".\"events\" (\"id\" bigint, \"a\" varchar)"),
            "creating table \"ds\".\"events\""
        );
        assert_eq!(
            describe_statement("ALTER TABLE \"ds\".\"events\" ADD COLUMN \"b\" bigint"),
            "adding a column to \"ds\".\"events\""
        );
        assert_eq!(
            describe_statement("CREATE UNIQUE INDEX \"i\" ON \"ds\".\"events\" (\"id\")"),
            "creating a unique index on \"ds\".\"events\""
        );
        assert_eq!(
            describe_statement("DELETE FROM \"ds\".\"events\" AS d USING x"),
            "deleting from \"ds\".\"events\""
        );
        assert_eq!(describe_statement("SELECT 1"), "statement `SELECT 1`");
    }
}
