//! `LocalCluster`: a running local cluster, throwaway (for tests) or managed (persistent); how to connect to it,
//! creating a database in it, and stopping a throwaway one.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use tokio_postgres::types::Type;

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::dirs::{
    create_temp_root, existing_managed_root, lock_dir, managed_root, remove_if_exists,
    traversable_by,
};
use super::error::{LocalError, io_error};
use super::process::{
    ServerUser, find_server_binaries, has_server_binaries, not_a_bin_dir, server_user, shell_quote,
};
use super::server::{
    Durability, Status, Wait, init_cluster, not_ready, ready_now, server_status, start_server,
    stop_server, wait_for_server,
};
use super::settings::{LOG_FILE, PORT, SERVER_USER};
use super::watchdog;
use crate::postgres::classify::describe;

/// A throwaway cluster's cleanup state.
#[derive(Debug)]
struct Temporary {
    stopped: AtomicBool,
    /// A shell, in its own process group, blocked reading a pipe only we hold: when this process dies in any
    /// way the pipe closes and it stops the server and removes the directory.
    watchdog: Mutex<Option<Child>>,
}

/// A running cluster listening on a unix socket only (`listen_addresses = ''`), superuser `postgres`, trust
/// authentication.
#[derive(Debug)]
pub struct LocalCluster {
    pub(super) root: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    bin: PathBuf,
    user: Option<ServerUser>,
    temporary: Option<Temporary>,
}

impl LocalCluster {
    /// Throwaway cluster in a fresh temp dir with `fsync`, `synchronous_commit` and `full_page_writes` off;
    /// stopped (fast shutdown, waited for) and its directory removed on drop. See also
    /// [`stop_on_exit`](Self::stop_on_exit); if the process is killed, a watchdog process cleans up.
    /// The server binaries are found as for every local cluster: `$ELE_POSTGRES_BIN_DIR`, `PATH`,
    /// `pg_config --bindir`, the newest `/usr/lib/postgresql/*/bin`.
    pub fn start_temporary() -> Result<LocalCluster, LocalError> {
        Self::start_temporary_in(find_server_binaries()?)
    }

    /// Like [`start_temporary`](Self::start_temporary), with the server binaries (`initdb`, `pg_ctl`,
    /// `postgres`) of `bin_dir`: another PostgreSQL version than the installed one, e.g. the tests' PostgreSQL
    /// 18 from `.ci/install-pg18`. As root, the `postgres` OS user runs them, so it must be able to reach them.
    pub fn start_temporary_with(bin_dir: &Path) -> Result<LocalCluster, LocalError> {
        if !has_server_binaries(bin_dir) {
            return Err(not_a_bin_dir(bin_dir, &format!("`{}`", bin_dir.display())));
        }
        let bin = fs::canonicalize(bin_dir).map_err(io_error("cannot resolve", bin_dir))?;
        if let Some(user) = server_user()?
            && !traversable_by(&bin, Some(&user))
        {
            return Err(LocalError::Unusable(format!(
                "the server binaries in `{}` are out of reach of the `{SERVER_USER}` OS user, which runs them \
                 because we are root (initdb refuses root): a directory on the way is not searchable by it; \
                 put them elsewhere or run as an unprivileged user",
                bin.display()
            )));
        }
        Self::start_temporary_in(bin)
    }

    fn start_temporary_in(bin: PathBuf) -> Result<LocalCluster, LocalError> {
        let user = server_user()?;
        let root = create_temp_root(user.as_ref())?;
        // From here on, dropping `cluster` (on any error too) stops what was started and removes `root`.
        let mut cluster = LocalCluster {
            socket_dir: root.clone(),
            root,
            port: PORT,
            bin,
            user,
            temporary: Some(Temporary {
                stopped: AtomicBool::new(false),
                watchdog: Mutex::new(None),
            }),
        };
        let user = cluster.user.as_ref();
        init_cluster(&cluster.bin, user, &cluster.root, Durability::Throwaway)?;
        cluster.spawn_watchdog();
        let (socket_dir, port) = start_server(&cluster.bin, user, &cluster.root)?;
        cluster.socket_dir = socket_dir;
        cluster.port = port;
        tracing::debug!(dir = %cluster.root.display(), "started a throwaway PostgreSQL cluster");
        Ok(cluster)
    }

    /// Managed persistent instance rooted at `dir` (normally `<cwd>/.ele/postgres`): created (initdb) on first
    /// use, started if not running, reused if already running, left running when this value is dropped.
    /// Durable settings. As root, if the `postgres` user cannot reach `dir` (or its path is too long for a
    /// socket), the cluster lives under that user's home or `/var/tmp`, recorded in `dir/location`.
    pub fn ensure_managed(dir: &Path) -> Result<LocalCluster, LocalError> {
        fs::create_dir_all(dir).map_err(io_error(
            "cannot create the local PostgreSQL directory",
            dir,
        ))?;
        let dir = fs::canonicalize(dir).map_err(io_error("cannot resolve", dir))?;
        let _lock = lock_dir(&dir)?;
        let bin = find_server_binaries()?;
        let user = server_user()?;
        let root = managed_root(&dir, user.as_ref())?;
        if !root.join("data").exists() {
            tracing::info!(dir = %root.display(), "creating the local PostgreSQL instance");
            init_cluster(&bin, user.as_ref(), &root, Durability::Durable)?;
        }
        let (socket_dir, port) = match ready_now(&root) {
            Some(ready) => ready,
            None => match server_status(&bin, user.as_ref(), &root)? {
                Status::Running => match wait_for_server(&root) {
                    Wait::Ready(socket_dir, port) => (socket_dir, port),
                    Wait::Gone => start_server(&bin, user.as_ref(), &root)?,
                    Wait::TimedOut => return Err(not_ready(&root)),
                },
                Status::Stopped => {
                    tracing::info!(dir = %root.display(), "starting the local PostgreSQL instance");
                    start_server(&bin, user.as_ref(), &root)?
                }
            },
        };
        Ok(LocalCluster {
            root,
            socket_dir,
            port,
            bin,
            user,
            temporary: None,
        })
    }

    /// Stops the managed instance at `dir` if it runs (fast shutdown, waited for); `Ok(false)` if it was not
    /// running or does not exist.
    pub fn stop_managed(dir: &Path) -> Result<bool, LocalError> {
        if !dir.is_dir() {
            return Ok(false);
        }
        let dir = fs::canonicalize(dir).map_err(io_error("cannot resolve", dir))?;
        let _lock = lock_dir(&dir)?;
        let root = existing_managed_root(&dir)?;
        if !root.join("data").join("postmaster.pid").exists() {
            return Ok(false);
        }
        let bin = find_server_binaries()?;
        let user = server_user()?;
        if server_status(&bin, user.as_ref(), &root)? == Status::Stopped {
            return Ok(false);
        }
        stop_server(&bin, user.as_ref(), &root)?;
        Ok(true)
    }

    /// Leaks a throwaway cluster into a `'static` reference (for a `static OnceLock`) and stops it and removes
    /// its directory when the process exits normally (`atexit`), e.g. at the end of a test binary, even after
    /// failed tests. A managed cluster is just leaked.
    pub fn stop_on_exit(self) -> &'static LocalCluster {
        let cluster: &'static LocalCluster = Box::leak(Box::new(self));
        if cluster.temporary.is_some() {
            watchdog::at_exit(Box::new(move || cluster.shutdown()));
        }
        cluster
    }

    /// The socket directory (the `host` to connect to).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The port (names the socket file in [`socket_dir`](Self::socket_dir)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server binaries it runs.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.root.join(LOG_FILE)
    }

    /// libpq key/value connection string for tokio-postgres:
    /// `host=<socket dir> port=<port> user=postgres dbname=<database>`.
    pub fn connection_string(&self, database: &str) -> String {
        format!(
            "host={} port={} user={SERVER_USER} dbname={}",
            conninfo_value(&self.socket_dir.to_string_lossy()),
            self.port,
            conninfo_value(database)
        )
    }

    /// The command a person runs to open it: `psql -h <socket dir> -p <port> -U postgres <database>`.
    pub fn psql_command(&self, database: &str) -> String {
        format!(
            "psql -h {} -p {} -U {SERVER_USER} {}",
            shell_quote(&self.socket_dir.to_string_lossy()),
            self.port,
            shell_quote(database)
        )
    }

    /// Creates database `name` (quoted as an identifier) unless it exists, connecting to database `postgres`.
    /// Runs inside a Tokio runtime (the connection is driven by a spawned task).
    pub async fn create_database(&self, name: &str) -> Result<(), LocalError> {
        let sql_error = |what: &str, e: tokio_postgres::Error| LocalError::Sql {
            what: what.to_owned(),
            socket_dir: self.socket_dir.clone(),
            message: describe(&e),
        };
        let (client, connection) =
            tokio_postgres::connect(&self.connection_string("postgres"), NoTls)
                .await
                .map_err(|e| sql_error("connecting to database `postgres`", e))?;
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "local cluster connection closed with an error");
            }
        });
        let exists = "SELECT 1 FROM pg_database WHERE datname = $1";
        let what = format!("creating database {}", quote_ident(name));
        let result = async {
            if client
                .query_typed_opt(exists, &[(&name, Type::TEXT)])
                .await
                .map_err(|e| sql_error(&what, e))?
                .is_some()
            {
                return Ok(());
            }
            match client
                .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
                .await
            {
                Ok(()) => Ok(()),
                // Created concurrently by someone else.
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
                Err(e) => match client.query_typed_opt(exists, &[(&name, Type::TEXT)]).await {
                    Ok(Some(_)) => Ok(()),
                    _ => Err(sql_error(&what, e)),
                },
            }
        }
        .await;
        drop(client);
        let _ = connection.await;
        result
    }

    fn spawn_watchdog(&self) {
        match watchdog::spawn(&self.bin, self.user.as_ref(), &self.root) {
            Ok(child) => {
                if let Some(temporary) = &self.temporary {
                    *temporary
                        .watchdog
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(child);
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot start the watchdog of the throwaway PostgreSQL cluster; it will outlive a killed process"
            ),
        }
    }

    /// Stops a throwaway cluster and removes its directory, once; does nothing for a managed one.
    fn shutdown(&self) {
        let Some(temporary) = &self.temporary else {
            return;
        };
        if temporary.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(mut watchdog) = temporary
            .watchdog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if self.root.join("data").join("postmaster.pid").exists()
            && let Err(e) = stop_server(&self.bin, self.user.as_ref(), &self.root)
        {
            tracing::warn!(error = %e, "cannot stop the throwaway PostgreSQL cluster");
        }
        if let Err(e) = remove_if_exists(&self.root) {
            tracing::warn!(error = %e, "cannot remove the throwaway PostgreSQL cluster");
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Quotes an SQL identifier: `"` around it, inner `"` doubled.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A libpq key/value value, single-quoted (with `\` escapes) when needed.
pub(super) fn conninfo_value(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
    }
}
