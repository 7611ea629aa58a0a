//! Why a local cluster could not be found, created, started, stopped or used.

use std::io;
use std::path::{Path, PathBuf};

use super::settings::TIMEOUT;

/// Why a local cluster could not be found, created, started, stopped or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// No directory with `initdb`, `pg_ctl` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries not found (looked in {looked}): install the `postgresql` package \
         (Debian/Ubuntu: `apt-get install postgresql`)"
    )]
    BinariesNotFound {
        /// Where we looked.
        looked: String,
    },
    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, which initdb refuses, and there is no `postgres` OS user (in /etc/passwd) to run the \
         server as: install the `postgresql` package (it creates that user) or run as an unprivileged user"
    )]
    NoServerUser,
    /// A file system operation failed.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        what: String,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A directory cannot hold a cluster.
    #[error("{0}")]
    Unusable(String),
    /// A command could not be run or failed.
    #[error("{what}: {command} {outcome}{details}")]
    Command {
        /// What was being done.
        what: String,
        /// The command line (and the OS user it ran as).
        command: String,
        /// How it ended.
        outcome: String,
        /// The tail of its output and of the server log, on their own lines.
        details: String,
    },
    /// A server runs but did not become ready in time.
    #[error("the PostgreSQL server in `{}` runs but did not accept connections within {} s{details}", root.display(), TIMEOUT.as_secs())]
    NotReady {
        /// The cluster's root directory.
        root: PathBuf,
        /// The tail of the server log, on its own lines.
        details: String,
    },
    /// Connecting to the cluster or running SQL on it failed.
    #[error("{what} on the local cluster at `{}`: {message}", socket_dir.display())]
    Sql {
        /// What was being done.
        what: String,
        /// The cluster's socket directory.
        socket_dir: PathBuf,
        /// The server's or driver's message.
        message: String,
    },
}

/// A closure turning an I/O error of `what` on `path` into a [`LocalError`].
pub(super) fn io_error(
    what: impl Into<String>,
    path: &Path,
) -> impl FnOnce(io::Error) -> LocalError {
    let what = what.into();
    let path = path.to_owned();
    move |source| LocalError::Io { what, path, source }
}
