//! Local PostgreSQL clusters started from the installed server binaries: a throwaway cluster for tests
//! ([`LocalCluster::start_temporary`]) and a managed, persistent instance for examples and `ele load --local`
//! ([`LocalCluster::ensure_managed`]).
//!
//! The server binaries are those of `$ELE_POSTGRES_BIN_DIR` when it is set, else the first found in `PATH`,
//! `pg_config --bindir` and the newest `/usr/lib/postgresql/*/bin`; [`LocalCluster::start_temporary_with`]
//! starts a throwaway cluster from a given directory (the tests' PostgreSQL 18, from `.ci/install-pg18`).
//!
//! A cluster lives in one root directory holding `data/` (the data directory), `postgres.log` (the server log)
//! and the unix socket. It listens on that socket only (`listen_addresses = ''`), its superuser is `postgres`
//! and authentication is `trust`: the root directory's mode (0700) is what keeps other users out.
//!
//! `initdb` refuses to run as root, so as root `initdb`, `pg_ctl` and the server run as the `postgres` OS user:
//! the root directory belongs to that user and all its ancestors must be traversable by it. A managed instance
//! whose directory that user cannot reach (e.g. under `/root`), or whose path is too long for a unix socket,
//! lives in a fallback directory whose path is written to `<dir>/location`.
//!
//! - `cluster`: the `LocalCluster` type; `server`: initdb and `pg_ctl`; `process`: running the server tools
//!   (binaries, OS user, errors quoting their output); `dirs`: root directories; `watchdog`: cleanup of
//!   throwaway clusters after a kill or at exit; `sys`: the only `unsafe` code (libc calls), justified there;
//!   `settings`: fixed settings; `error`: [`LocalError`].

mod cluster;
mod dirs;
mod error;
mod process;
mod server;
mod settings;
mod sys;
#[cfg(test)]
mod tests;
mod watchdog;

pub use cluster::LocalCluster;
pub use error::LocalError;
