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
