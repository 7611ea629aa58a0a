//! Connection strings as libpq reads them (a `postgresql://` URL or `key=value` pairs): ele takes the TLS
//! parameters tokio-postgres does not know (`sslmode` with all of libpq's values, `sslrootcert`, `sslcert`,
//! `sslkey`), checks every other name, and hands the rest to tokio-postgres. No message shows a value.

use std::path::PathBuf;
use std::str::FromStr;

use ele_core::{Error, Result};

use super::tls::{RootCert, SslMode, TlsOptions};

/// A parsed connection string.
pub(super) struct Parsed {
    /// Everything but TLS, for tokio-postgres.
    pub(super) config: tokio_postgres::Config,
    /// The TLS settings.
    pub(super) tls: TlsOptions,
    /// Whether the string names an `application_name` (else ele sets its own).
    pub(super) application_name_given: bool,
}

/// Parameters tokio-postgres takes as they are.
const PASSED_ON: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "sslnegotiation",
];

/// Parameters ele handles itself.
const TLS_KEYS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq parameters ele does not support (named in the error, unlike unknown ones).
const UNSUPPORTED: &[&str] = &[
    "passfile",
    "service",
    "sslpassword",
    "sslcertmode",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "require_auth",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
    "client_encoding",
    "fallback_application_name",
    "replication",
];

/// A key as errors may show it: option names only, never text that could hold a password (a mistyped URL
/// scheme such as `postgresql+psycopg2://user:secret@host` reaches the key/value parser as one token).
fn shown_key(key: &str) -> Option<String> {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.len() <= 40
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then(|| format!("`{key}`"))
}

/// The error for text that is no option at all; it is not shown, as it may hold a password.
fn not_an_option() -> Error {
    Error::config(
        "invalid PostgreSQL connection string: a part of it is neither a `key=value` option nor a \
         postgresql:// URL (not shown: it may hold a password); expected \
         postgresql://user:password@host:port/database or host=... dbname=...",
    )
}

/// Parses a libpq URL or key/value string.
pub(super) fn parse(text: &str) -> Result<Parsed> {
    let text = text.trim();
    let mut tls = TlsOptions::default();
    let mut application_name_given = false;
    let mut take = |key: &str, value: &str| -> Result<bool> {
        match key {
            "sslmode" => tls.mode = Some(SslMode::parse(value)?),
            // ele's TLS stream offers no channel binding yet: SCRAM runs without it, so `require` could never work.
            "channel_binding" if value == "require" => {
                return Err(Error::config(
                    "channel_binding=require is not supported by ele yet; use channel_binding=prefer or disable",
                ));
            }
            "sslrootcert" => {
                tls.rootcert = Some(match value {
                    "system" => RootCert::System,
                    path => RootCert::File(PathBuf::from(path)),
                })
            }
            "sslcert" => tls.cert = Some(PathBuf::from(value)),
            "sslkey" => tls.key = Some(PathBuf::from(value)),
            key if PASSED_ON.contains(&key) => {
                application_name_given |= key == "application_name";
                // Alone, so that tokio-postgres names the option whose value is wrong (its URL parser does not).
                // Its errors name the option, never the value.
                tokio_postgres::Config::from_str(&format!("{key}={}", quote(value))).map_err(
                    |e| {
                        let cause = std::error::Error::source(&e).map(|s| s.to_string());
                        Error::config(format!(
                            "invalid PostgreSQL connection string: {}",
                            cause.unwrap_or_else(|| e.to_string())
                        ))
                    },
                )?;
                return Ok(true);
            }
            key if UNSUPPORTED.contains(&key) => {
                return Err(Error::config(format!(
                    "the connection option `{key}` is not supported by ele"
                )));
            }
            key => {
                let Some(shown) = shown_key(key) else {
                    return Err(not_an_option());
                };
                return Err(Error::config(format!(
                    "unknown connection option {shown}; ele knows {}",
                    [PASSED_ON, TLS_KEYS].concat().join(", ")
                )));
            }
        }
        Ok(false)
    };
    let rest = if text.starts_with("postgresql://") || text.starts_with("postgres://") {
        match text.split_once('?') {
            None => text.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if take(&percent_decode(key)?, &percent_decode(value)?)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (key, value) in key_values(text)? {
            if take(&key, &value)? {
                kept.push(format!("{key}={}", quote(&value)));
            }
        }
        kept.join(" ")
    };
    let mut config = tokio_postgres::Config::from_str(&rest).map_err(|e| {
        Error::config(format!(
            "invalid PostgreSQL connection string ({e}); expected postgresql://user:password@host:port/database"
        ))
    })?;
    tls.validate()?;
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    Ok(Parsed {
        config,
        tls,
        application_name_given,
    })
}

/// A value quoted for a key/value string.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The `key=value` pairs of a libpq key/value string: values bare or in single quotes, `\` escaping.
fn key_values(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            let Some(shown) = shown_key(&key) else {
                return Err(not_an_option());
            };
            return Err(Error::config(format!(
                "invalid PostgreSQL connection string: missing \"=\" after {shown}; expected \
                 postgresql://user:password@host:port/database or host=... dbname=..."
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::config(format!(
                            "invalid PostgreSQL connection string: unterminated quoted value of {}",
                            shown_key(&key).unwrap_or_else(|| "an option".to_owned())
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// Decodes `%XX` escapes of a URL query part.
fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::config("invalid PostgreSQL connection string: a bad %-escape in the URL")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::config("invalid PostgreSQL connection string: a %-escape is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_tls_parameters_are_taken_and_the_rest_passed_on() {
        let p = parse(
            "postgresql://u:pw@db.example:5433,db2.example:5434/app?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.crt\
             &application_name=mine&connect_timeout=7&target_session_attrs=read-write&options=-c%20statement_timeout%3D5s",
        );
        // The file does not exist: named, with the key.
        let message = p.err().expect("missing file").to_string();
        assert_eq!(
            message,
            "configuration error: sslrootcert file \"/tmp/ca.crt\" does not exist or is not a file"
        );
        let p = parse(
            "postgresql://u:pw@db.example:5433,db2.example:5434/app?sslmode=verify-full&sslrootcert=system\
             &application_name=mine&connect_timeout=7&target_session_attrs=read-write&options=-c%20statement_timeout%3D5s",
        )
        .expect("valid");
        assert_eq!(p.tls.mode, Some(SslMode::VerifyFull));
        assert_eq!(p.tls.rootcert, Some(RootCert::System));
        assert!(p.application_name_given);
        assert_eq!(p.config.get_application_name(), Some("mine"));
        assert_eq!(
            p.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(7))
        );
        assert_eq!(p.config.get_options(), Some("-c statement_timeout=5s"));
        assert_eq!(p.config.get_hosts().len(), 2);
        assert_eq!(p.config.get_ports(), &[5433, 5434]);
    }

    #[test]
    fn key_value_strings_with_quotes_and_tls() {
        let p = parse(
            "host=h dbname='my db' user=u password='it\\'s s3cret' sslmode=require options='-c statement_timeout=5s'",
        )
        .expect("valid");
        assert_eq!(p.tls.mode, Some(SslMode::Require));
        assert_eq!(p.config.get_dbname(), Some("my db"));
        assert_eq!(p.config.get_password(), Some(&b"it's s3cret"[..]));
        assert_eq!(p.config.get_options(), Some("-c statement_timeout=5s"));
        assert!(!p.application_name_given);
        assert_eq!(p.tls.mode().expect("mode"), SslMode::Require);
        assert_eq!(TlsOptions::default().mode().expect("mode"), SslMode::Prefer);
    }

    #[test]
    fn unknown_and_bad_options_are_config_errors_without_values() {
        for (text, expected) in [
            (
                "postgresql://u:s3cret@h/db?sslmod=require",
                "unknown connection option `sslmod`; ele knows host, hostaddr",
            ),
            (
                "host=h password=s3cret dbname=db frobnicate=s3cret",
                "unknown connection option `frobnicate`",
            ),
            (
                "postgresql://u:s3cret@h/db?sslcrl=/x",
                "the connection option `sslcrl` is not supported by ele",
            ),
            (
                "postgresql://u:s3cret@h/db?sslmode=verify",
                "invalid sslmode `verify`: expected disable, allow, prefer, require, verify-ca or verify-full",
            ),
            (
                "postgresql://u:s3cret@h/db?sslmode=require&sslrootcert=system",
                "sslrootcert=system needs sslmode=verify-full, not sslmode=require",
            ),
            (
                "host=h password='s3cret dbname=db",
                "unterminated quoted value of `password`",
            ),
            (
                "postgresql://u:s3cret@h/db?connect_timeout=s3cret",
                "invalid value for option `connect_timeout`",
            ),
            // A mistyped scheme is read as key/value text: the token holding the password is never shown.
            (
                "postgresql+psycopg2://u:s3cret@h/db",
                "a part of it is neither a `key=value` option nor a postgresql:// URL (not shown",
            ),
            (
                "postgresql+psycopg2://u:s3cret@h/db?sslmode=require",
                "a part of it is neither a `key=value` option nor a postgresql:// URL (not shown",
            ),
            (
                "postgresql://u:pa?s3cret@h/db",
                "a part of it is neither a `key=value` option nor a postgresql:// URL (not shown",
            ),
        ] {
            let e = parse(text).err().expect(text);
            let message = e.to_string();
            assert!(matches!(e, Error::Config(_)), "{message}");
            assert!(message.contains(expected), "{text}: {message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }
}
