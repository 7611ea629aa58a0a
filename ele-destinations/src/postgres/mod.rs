//! PostgreSQL destination: binary COPY, one transaction per load package.
//!
//! - [`config`]: credentials and their validation (no network);
//! - `connect`: opening connections; `classify`: driver errors into ele's error kinds;
//! - `managed`: `Postgres` pointed at the managed local instance;
//! - [`sql`]: DDL and merge SQL, every identifier quoted;
//! - `load`: the load of one package; `stream`: the load of a package into new tables while it is written;
//!   `manage`: dropping tables and committing state outside a load;
//! - `state`: the `_dlt_pipeline_state` and `_dlt_loads` rows a commit writes;
//! - [`local`]: throwaway and managed local clusters from the installed server binaries.
mod catalog;
mod classify;
pub mod config;
mod connect;
mod copy;
mod destination;
mod load;
pub mod local;
mod managed;
pub mod sql;
mod state;
mod stream;

pub use config::Postgres;
pub use managed::local_dir;
