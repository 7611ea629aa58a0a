//! PostgreSQL destination: COPY into staging, one transaction per load package.
//!
//! - [`config`]: credentials and their validation (no network);
//! - [`client`]: connecting, classifying errors;
//! - [`sql`]: DDL and merge SQL, every identifier quoted;
//! - [`load`]: the load of one package;
//! - [`local`]: throwaway and managed local clusters from the installed server binaries.
pub mod client;
pub mod config;
mod load;
pub mod local;
mod manage;
pub mod sql;

pub use config::Postgres;
