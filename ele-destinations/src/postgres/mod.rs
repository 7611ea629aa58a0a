//! PostgreSQL destination: binary COPY, one transaction per load package.
//!
//! - [`config`]: credentials and their validation (no network);
//! - [`client`]: connecting, classifying errors;
//! - [`sql`]: DDL and merge SQL, every identifier quoted;
//! - `load`: the load of one package; `stream`: the load of a package into new tables while it is written;
//!   `manage`: dropping tables and committing state outside a load;
//! - `state`: the `_dlt_pipeline_state` and `_dlt_loads` rows a commit writes;
//! - [`local`]: throwaway and managed local clusters from the installed server binaries.
pub mod client;
pub mod config;
mod load;
pub mod local;
mod manage;
pub mod sql;
mod state;
mod stream;

pub use config::Postgres;
