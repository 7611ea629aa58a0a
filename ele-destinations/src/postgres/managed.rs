//! `Postgres` pointed at the managed local instance (`.ele/postgres`): started, and its database created, on
//! first use; for examples and `ele load --local`.

use std::path::{Path, PathBuf};

use ele_core::config::Config;
use ele_core::{Error, Result};

use super::config::{CREDENTIALS_ENV, Postgres};
use super::local::LocalCluster;

/// Name of the database created in a managed local instance.
const LOCAL_DATABASE: &str = "ele";

impl Postgres {
    /// The managed local instance under `dir` (created on first use, left running), database `ele`.
    pub async fn local_at(dir: &Path) -> Result<Self> {
        let cluster = LocalCluster::ensure_managed(dir).map_err(|e| {
            Error::config(format!("cannot start the local PostgreSQL instance: {e}"))
        })?;
        cluster.create_database(LOCAL_DATABASE).await.map_err(|e| {
            Error::config(format!("cannot create database `{LOCAL_DATABASE}`: {e}"))
        })?;
        let mut pg = Postgres::new(&cluster.connection_string(LOCAL_DATABASE))?;
        pg.local_instance = Some(dir.to_owned());
        Ok(pg)
    }

    /// The managed local instance under `.ele/postgres`.
    pub async fn local() -> Result<Self> {
        Postgres::local_at(&local_dir()).await
    }

    /// The configured credentials when there are any ([`Postgres::from_env`]), else the managed local instance
    /// (for examples). Prints how to open the local instance with psql.
    pub async fn from_env_or_local() -> Result<Self> {
        let config = Config::current()?;
        if Postgres::is_configured(&config) {
            return Postgres::from_config(&config);
        }
        let dir = local_dir();
        let pg = Postgres::local_at(&dir).await?;
        eprintln!(
            "no PostgreSQL credentials configured ({CREDENTIALS_ENV} or .ele/secrets.toml): {}",
            pg.local_notice(&dir)
        );
        Ok(pg)
    }

    /// What the examples and `ele load --local` print about the managed local instance in `dir`: where it is,
    /// and how to open and stop it.
    pub fn local_notice(&self, dir: &Path) -> String {
        format!(
            "using the local PostgreSQL instance in {} (open it with: psql '{}'; stop it with: ele local stop)",
            dir.display(),
            self.location()
        )
    }
}

/// `.ele/postgres` under the current directory.
pub fn local_dir() -> PathBuf {
    PathBuf::from(".ele").join("postgres")
}
