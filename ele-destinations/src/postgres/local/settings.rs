//! The fixed settings of every local cluster: port, timeouts, path limits, the server's OS user and log.

use std::time::Duration;

/// Port of every cluster: the socket directory is private, so a fixed port never collides.
pub(super) const PORT: u16 = 5432;
/// How long to wait for a server to start or stop.
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
/// Longest root (= socket directory) path: a socket path (`<root>/.s.PGSQL.65535`) must stay below 108 bytes.
pub(super) const MAX_ROOT_LEN: usize = 92;
/// The OS user that runs the server when we are root, and the cluster's superuser.
pub(super) const SERVER_USER: &str = "postgres";
/// Environment variable naming the directory of the server binaries to use instead of looking for them.
pub(super) const BIN_DIR_ENV: &str = "ELE_POSTGRES_BIN_DIR";
/// Name of the server log in the root directory.
pub(super) const LOG_FILE: &str = "postgres.log";
/// Lines of output or log quoted in errors.
pub(super) const TAIL_LINES: usize = 20;
/// Environment variables that would redirect the server tools elsewhere.
pub(super) const CLEARED_ENV: [&str; 7] = [
    "PGDATA",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
];
