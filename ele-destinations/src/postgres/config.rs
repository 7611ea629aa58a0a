//! Credentials: a libpq URL or key/value string, from code, `DESTINATION__POSTGRES__CREDENTIALS`, or a managed
//! local instance.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use ele_core::error::{Error, Result};
use tokio_postgres::config::Host;

use super::local::LocalCluster;

/// dlt's environment variable for the PostgreSQL credentials.
pub const CREDENTIALS_ENV: &str = "DESTINATION__POSTGRES__CREDENTIALS";

/// Name of the database created in a managed local instance.
pub const LOCAL_DATABASE: &str = "ele";

/// The PostgreSQL destination: where to connect. `Debug` and messages never show the password.
#[derive(Clone)]
pub struct Postgres {
    pub(crate) config: tokio_postgres::Config,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("location", &self.location())
            .finish()
    }
}

impl Postgres {
    /// From a connection string: `postgresql://user:password@host:5432/db` or `host=... dbname=...`.
    pub fn new(credentials: &str) -> Result<Self> {
        let config = tokio_postgres::Config::from_str(credentials.trim()).map_err(|e| {
            Error::config(format!(
                "invalid PostgreSQL connection string ({e}); expected postgresql://user:password@host:port/database"
            ))
        })?;
        if config.get_dbname().is_none() {
            return Err(Error::config(
                "the PostgreSQL connection string names no database; add it: postgresql://user@host/database",
            ));
        }
        Ok(Postgres { config })
    }

    /// From `DESTINATION__POSTGRES__CREDENTIALS`.
    pub fn from_env() -> Result<Self> {
        match std::env::var(CREDENTIALS_ENV) {
            Ok(value) if !value.trim().is_empty() => Postgres::new(&value),
            _ => Err(Error::config(format!(
                "no PostgreSQL credentials: set {CREDENTIALS_ENV}=postgresql://user:password@host:port/database"
            ))),
        }
    }

    /// The managed local instance under `dir` (created on first use, left running), database `ele`.
    pub async fn local_at(dir: &Path) -> Result<Self> {
        let cluster = LocalCluster::ensure_managed(dir).map_err(|e| {
            Error::config(format!("cannot start the local PostgreSQL instance: {e}"))
        })?;
        cluster.create_database(LOCAL_DATABASE).await.map_err(|e| {
            Error::config(format!("cannot create database `{LOCAL_DATABASE}`: {e}"))
        })?;
        Postgres::new(&cluster.connection_string(LOCAL_DATABASE))
    }

    /// The managed local instance under `.ele/postgres`.
    pub async fn local() -> Result<Self> {
        Postgres::local_at(&local_dir()).await
    }

    /// `DESTINATION__POSTGRES__CREDENTIALS` when set, else the managed local instance (for examples). Prints how
    /// to open the local instance with psql.
    pub async fn from_env_or_local() -> Result<Self> {
        if std::env::var(CREDENTIALS_ENV).is_ok_and(|v| !v.trim().is_empty()) {
            return Postgres::from_env();
        }
        let dir = local_dir();
        let pg = Postgres::local_at(&dir).await?;
        let cluster = LocalCluster::ensure_managed(&dir).map_err(|e| {
            Error::config(format!("cannot start the local PostgreSQL instance: {e}"))
        })?;
        eprintln!(
            "{CREDENTIALS_ENV} is not set: using the local PostgreSQL instance in {} (open it with: {}; stop it with: ele local stop)",
            dir.display(),
            cluster.psql_command(LOCAL_DATABASE)
        );
        Ok(pg)
    }

    /// The database name.
    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or("postgres")
    }

    /// `user@host:port/database`, without the password.
    pub fn location(&self) -> String {
        let user = self.config.get_user().unwrap_or("postgres");
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("postgresql://{user}@{host}:{port}/{}", self.database())
    }
}

/// `.ele/postgres` under the current directory.
pub fn local_dir() -> PathBuf {
    PathBuf::from(".ele").join("postgres")
}
