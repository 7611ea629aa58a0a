//! PostgreSQL destination: binary COPY, one transaction per load package.
//!
//! The public API is [`Postgres`] (where to connect: from code, the configuration or the managed local
//! instance), [`Staging`] (where merges stage their rows), [`ReplaceStrategy`] (how replaces reach their tables),
//! [`local_dir`] and the [`local`] clusters. The rest is
//! private:
//!
//! - `config`: credentials and the `Postgres` type (no network); `managed`: `Postgres` on the managed local
//!   instance;
//! - `conninfo`: libpq connection strings (the TLS parameters taken, the others checked); `tls`: libpq's
//!   `sslmode`s on rustls;
//! - `connect`: opening connections; `classify`: driver errors into ele's error kinds;
//! - `destination`: the one `Destination` impl, delegating to `load` (the load of one package), `stream` (the
//!   load of a package into new tables while it is written) and `state`;
//! - `copy`: COPY of job files, `catalog`: what the database already holds, `sql`: DDL and merge SQL with every
//!   identifier quoted (all three shared by `load` and `stream`);
//! - `staging`: where merges and replaces stage (temp tables or `<dataset>_staging`), from the role's
//!   privileges;
//! - `state`: restoring state and schema, the pipeline lock, the system rows a commit writes, state changes
//!   outside a load; `version`: what the server's version allows (`MERGE` for upsert needs PostgreSQL 15);
//! - [`local`]: throwaway and managed local clusters from the installed server binaries (or those named by
//!   `ELE_POSTGRES_BIN_DIR`).

mod catalog;
mod classify;
mod config;
mod connect;
mod conninfo;
mod copy;
mod destination;
mod keyed;
mod load;
pub mod local;
mod managed;
mod sql;
mod staging;
mod state;
mod stream;
mod tls;
mod version;

pub use config::{Postgres, ReplaceStrategy, Staging};
pub use managed::local_dir;
