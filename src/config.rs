//! Configuration and secrets as dlt users know them: `.ele/config.toml`, `.ele/secrets.toml` and environment
//! variables with `__` between sections.
//!
//! A value is named by its path of sections and key, `["sources", "github", "access_token"]`, and looked up in
//! this order, the first place that has it wins:
//!
//! 1. a value given explicitly, in code or on the command line ([`Config::set`]);
//! 2. the environment variable named by the path in upper case joined by `__`: `SOURCES__GITHUB__ACCESS_TOKEN`;
//! 3. `.ele/secrets.toml`: key `access_token` in the table `[sources.github]`;
//! 4. `.ele/config.toml`, the same way.
//!
//! A missing value is an error naming every place looked at. Secrets go into [`Secret`], whose `Debug` and
//! `Display` print `***`; error messages of this module never contain a value.
//!
//! ```no_run
//! use ele::config::{Config, Secret};
//!
//! # fn main() -> ele::Result<()> {
//! let config = Config::load()?;
//! let token: Secret<String> = config.get(&["sources", "github", "access_token"])?;
//! let page_size: u32 = config.get_opt(&["sources", "github", "page_size"])?.unwrap_or(100);
//! println!("token {token}, page size {page_size}"); // token ***, page size 100
//! # let _ = token.expose();
//! # Ok(())
//! # }
//! ```
//!
//! Parameters of `#[resource]` and `#[source]` functions marked `#[config]` or `#[secret]` are filled from here
//! when the caller does not pass them, under dlt's names ([`Config::param`] gives the layout):
//!
//! ```no_run
//! use ele::prelude::*;
//!
//! #[resource(write_disposition = "append")]
//! async fn search_tweets(
//!     out: Emit<serde_json::Value>,
//!     search_terms: Vec<String>,
//!     // SOURCES__<SOURCE>__SEARCH_TWEETS__TWITTER_BEARER_TOKEN, [sources.<source>.search_tweets], ...
//!     #[secret] twitter_bearer_token: Secret<String>,
//!     // SOURCES__<SOURCE>__SEARCH_TWEETS__PAGE_SIZE, ..., also read from .ele/config.toml
//!     #[config] page_size: u32,
//! ) -> ele::Result<()> {
//!     let _ = (search_terms, twitter_bearer_token.expose(), page_size);
//!     Ok(())
//! }
//!
//! let from_config = search_tweets(vec!["rust".into()]);
//! let explicit = search_tweets(vec!["rust".into()]).page_size(50); // never looked up
//! # let _ = (from_config, explicit);
//! ```
//!
//! The PostgreSQL destination's credentials are `destination.postgres.credentials`, dlt's name, either a
//! connection string or a table (`database`, `username`, `password`, `host`, `port`, `connect_timeout`);
//! [`Postgres::from_config`](crate::Postgres::from_config) builds the destination from them, and
//! [`Postgres::from_env`](crate::Postgres::from_env) reads them from the environment and the two files.

pub use ele_core::config::{
    CONFIG_DIR, CONFIG_FILE, Config, POSTGRES_CREDENTIALS, Provider, SECRETS_FILE, Secret,
};
