//! Opening connections: with TLS as `sslmode` says, retried while the server is unreachable or starting up,
//! failing at once otherwise.

use ele_core::Error;
use tokio_postgres::config::{Host, SslMode as DriverSslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, NoTls, Socket};

use super::classify::connect_error;
use super::config::Postgres;
use super::tls::{MakeRustls, SslMode};

/// How many times a connection is tried when the server cannot be reached (refused, reset, starting up).
const CONNECT_ATTEMPTS: u32 = 5;

/// Opens a connection; the connection task runs in the background until the client is dropped.
///
/// Transient failures (the server is unreachable or restarting) are retried with exponential backoff, about
/// 3 seconds in all; permanent ones (authentication, missing database, permissions, TLS) fail at once.
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
    // Settings that cannot work (a missing root certificate file, an unreadable key) fail like TLS itself does.
    let settings = |e: Error| match e {
        Error::Config(message) => {
            Error::config(format!("cannot connect to {}: {message}", pg.location()))
        }
        other => other,
    };
    let mode = pg.tls.mode().map_err(settings)?;
    // libpq never uses TLS on Unix sockets (the managed local instance listens on one). A `hostaddr` without
    // `host` is a TCP address: it gets TLS like any other.
    let hosts = pg.config.get_hosts();
    let unix_only = !hosts.is_empty()
        && hosts.iter().all(|h| matches!(h, Host::Unix(_)))
        && pg.config.get_hostaddrs().is_empty();
    let client = match pg.tls.client_config().map_err(settings)? {
        Some(config) if !unix_only => {
            let tls = MakeRustls(config);
            match mode {
                SslMode::Allow => match open(pg, DriverSslMode::Disable, NoTls).await {
                    // The server refused the plaintext connection in pg_hba (`hostssl` only: 28000): try TLS.
                    // Any other refusal (a wrong password, a missing database) is the error to show.
                    Err(e)
                        if e.code()
                            == Some(&tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION) =>
                    {
                        open(pg, DriverSslMode::Require, tls).await
                    }
                    other => other,
                },
                SslMode::Prefer => open(pg, DriverSslMode::Prefer, tls).await,
                _ => open(pg, DriverSslMode::Require, tls).await,
            }
        }
        _ => open(pg, DriverSslMode::Disable, NoTls).await,
    }
    .map_err(|e| connect_error(pg, e))?;
    Ok(client)
}

/// One connection attempt in the driver's `mode`; the connection runs on a task of its own.
async fn open<T>(
    pg: &Postgres,
    mode: DriverSslMode,
    tls: T,
) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let mut config = pg.config.clone();
    config.ssl_mode(mode);
    let (client, mut connection) = config.connect(tls).await?;
    // The connection's messages are drained here rather than by awaiting the connection, which would log the
    // server's notices (`table does not exist, skipping`) at info level. Silencing them with a session `SET
    // client_min_messages` is not an option: behind a pooler in transaction mode, session settings leak to other
    // clients and are missing from the next transaction.
    tokio::spawn(async move {
        let drained = std::future::poll_fn(|cx| {
            loop {
                match std::task::ready!(connection.poll_message(cx)) {
                    Some(Ok(AsyncMessage::Notice(notice))) => {
                        tracing::debug!(severity = notice.severity(), "{}", notice.message())
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return std::task::Poll::Ready(Err(e)),
                    None => return std::task::Poll::Ready(Ok(())),
                }
            }
        })
        .await;
        if let Err(e) = drained {
            tracing::debug!(error = %e, "postgres connection closed with an error");
        }
    });
    Ok(client)
}
