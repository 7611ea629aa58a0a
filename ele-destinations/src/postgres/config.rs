//! Credentials and the `Postgres` type: a libpq URL or key/value string, from code or from the configuration
//! (`DESTINATION__POSTGRES__CREDENTIALS`, `.ele/secrets.toml`, `.ele/config.toml`). Parsing only, no network.

use std::collections::BTreeMap;

use ele_core::config::{Config, POSTGRES_CREDENTIALS, Secret};
use ele_core::{Error, Result};
use serde::Deserialize;
use tokio_postgres::config::Host;

use super::conninfo;
use super::tls::TlsOptions;

/// dlt's environment variable for the PostgreSQL credentials.
pub(super) const CREDENTIALS_ENV: &str = "DESTINATION__POSTGRES__CREDENTIALS";

/// Where merges and replaces stage: `staging = "temp" | "schema"` in `[destination.postgres]`.
const POSTGRES_STAGING: [&str; 3] = ["destination", "postgres", "staging"];
/// How replaces reach the tables: `replace_strategy = "..."` in `[destination.postgres]`.
const POSTGRES_REPLACE_STRATEGY: [&str; 3] = ["destination", "postgres", "replace_strategy"];

/// The PostgreSQL destination: where to connect. `Debug` and messages never show the password.
#[derive(Clone)]
pub struct Postgres {
    /// Everything but TLS (tokio-postgres' own `sslmode` is set per connection).
    pub(super) config: tokio_postgres::Config,
    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey` with libpq's meaning.
    pub(super) tls: TlsOptions,
    /// Whether the user named an `application_name`; else ele's `ele <version> [<pipeline>]`.
    application_name_given: bool,
    /// Where merges and replaces stage their rows.
    pub(super) staging: Staging,
    /// How replaces reach their tables.
    pub(super) replace_strategy: ReplaceStrategy,
    /// The directory of the managed local instance, when this is it.
    pub(super) local_instance: Option<std::path::PathBuf>,
}

/// Where merges and replaces stage their rows before they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Staging {
    /// Temp tables of the load transaction (the default). A role without the TEMPORARY privilege stages in
    /// the staging schema instead, and a log line says so.
    #[default]
    Temp,
    /// Tables of the staging schema `<dataset>_staging` (dlt's layout), named per load and dropped in the load
    /// transaction: no temp table is used.
    Schema,
}

impl std::str::FromStr for Staging {
    type Err = Error;

    /// `temp` or `schema`.
    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "temp" => Ok(Staging::Temp),
            "schema" => Ok(Staging::Schema),
            other => Err(Error::config(format!(
                "unknown staging `{other}`: use `temp` (temp tables, the default) or `schema` (the \
                 `<dataset>_staging` schema)"
            ))),
        }
    }
}

/// How a replace puts its rows into the tables (dlt's `replace_strategy`). Every strategy runs inside the load
/// transaction, so readers see the old rows until the commit and the new ones after, never an empty or
/// half-loaded table; they differ in how long readers wait and in what survives of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplaceStrategy {
    /// `TRUNCATE` the tables, then COPY the rows straight into them (the default, as in dlt): the rows are
    /// written once, but readers of the tables wait while they are COPYed.
    #[default]
    TruncateAndInsert,
    /// COPY the rows into staging tables, then `TRUNCATE` and `INSERT ... SELECT` them at the end of the
    /// transaction: readers wait only for that copy.
    InsertFromStaging,
    /// COPY the rows into new tables of the staging schema `<dataset>_staging`, then drop the old tables and
    /// move the new ones into the dataset: readers wait only for the swap. Like dlt's, the new tables get the
    /// columns, constraints and indexes ele defines; indexes, grants and comments added by hand are not kept,
    /// and a view on a table makes the load fail (drop the view, or use another strategy).
    StagingOptimized,
}

impl ReplaceStrategy {
    /// dlt's name of the strategy.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplaceStrategy::TruncateAndInsert => "truncate-and-insert",
            ReplaceStrategy::InsertFromStaging => "insert-from-staging",
            ReplaceStrategy::StagingOptimized => "staging-optimized",
        }
    }
}

impl std::fmt::Display for ReplaceStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReplaceStrategy {
    type Err = Error;

    /// dlt's names: `truncate-and-insert`, `insert-from-staging`, `staging-optimized`.
    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "truncate-and-insert" => Ok(ReplaceStrategy::TruncateAndInsert),
            "insert-from-staging" => Ok(ReplaceStrategy::InsertFromStaging),
            "staging-optimized" => Ok(ReplaceStrategy::StagingOptimized),
            other => Err(Error::config(format!(
                "unknown replace strategy `{other}`: use `truncate-and-insert` (the default), \
                 `insert-from-staging` or `staging-optimized`"
            ))),
        }
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("location", &self.location())
            .finish()
    }
}

impl Postgres {
    /// From a connection string: `postgresql://user:password@host:5432/db?sslmode=verify-full` or
    /// `host=... dbname=... sslmode=...`, with libpq's parameters: `sslmode` (disable, allow, prefer (default),
    /// require, verify-ca, verify-full), `sslrootcert` (a file, or `system`), `sslcert`, `sslkey`,
    /// `connect_timeout`, `application_name` (default `ele <version> <pipeline>`), `options`,
    /// `target_session_attrs`, several hosts (`host=a,b port=5432,5433`) and tokio-postgres' keepalive settings.
    /// An unknown parameter is an error that shows no value.
    pub fn new(credentials: &str) -> Result<Self> {
        let parsed = conninfo::parse(credentials)?;
        if parsed.config.get_dbname().is_none() {
            return Err(Error::config(
                "the PostgreSQL connection string names no database; add it: postgresql://user@host/database",
            ));
        }
        let mut pg = Postgres {
            config: parsed.config,
            tls: parsed.tls,
            application_name_given: parsed.application_name_given,
            staging: Staging::default(),
            replace_strategy: ReplaceStrategy::default(),
            local_instance: None,
        };
        pg.set_application_name(None);
        Ok(pg)
    }

    /// Where merges and replaces stage their rows: [`Staging::Temp`] (the default) or [`Staging::Schema`].
    pub fn staging(mut self, staging: Staging) -> Self {
        self.staging = staging;
        self
    }

    /// How replaces reach their tables: [`ReplaceStrategy::TruncateAndInsert`] (the default),
    /// [`ReplaceStrategy::InsertFromStaging`] or [`ReplaceStrategy::StagingOptimized`].
    pub fn replace_strategy(mut self, strategy: ReplaceStrategy) -> Self {
        self.replace_strategy = strategy;
        self
    }

    /// Sets ele's `application_name` (`ele <version>`, with the pipeline's name when known), unless the connection
    /// string names one, so a DBA sees in `pg_stat_activity` who is loading.
    pub(super) fn set_application_name(&mut self, pipeline_name: Option<&str>) {
        if self.application_name_given {
            return;
        }
        let mut name = format!("ele {}", env!("CARGO_PKG_VERSION"));
        if let Some(pipeline) = pipeline_name {
            name.push(' ');
            name.push_str(pipeline);
        }
        self.config.application_name(&name);
    }

    /// From `destination.postgres.credentials` in the current configuration ([`Config::current`]):
    /// `DESTINATION__POSTGRES__CREDENTIALS`, else `[destination.postgres] credentials` in `.ele/secrets.toml`,
    /// else in `.ele/config.toml`. None of them is an error naming every place looked at.
    pub fn from_env() -> Result<Self> {
        Postgres::from_config(&Config::current()?)
    }

    /// From `destination.postgres.credentials` in `config` (an explicit value, the environment,
    /// `.ele/secrets.toml`, `.ele/config.toml`, in that order): a connection string, or dlt's table form with
    /// `database`, `username`, `password`, `host`, `port`, `connect_timeout`, `query` (more parameters), and
    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `application_name`, `options`, `target_session_attrs`;
    /// `destination.postgres.staging` (`temp` or `schema`, see [`Staging`]) and
    /// `destination.postgres.replace_strategy` (see [`ReplaceStrategy`]).
    pub fn from_config(config: &Config) -> Result<Self> {
        let credentials: Secret<Credentials> = config.get(&POSTGRES_CREDENTIALS)?;
        let text = match credentials.expose() {
            Credentials::Url(url) => Secret::new(url.clone()),
            Credentials::Parts(parts) => Secret::new(parts.conninfo()),
        };
        let mut pg = Postgres::new(text.expose())?;
        if let Some(staging) = config.get_opt::<String>(&POSTGRES_STAGING)? {
            pg.staging = staging.parse()?;
        }
        if let Some(strategy) = config.get_opt::<String>(&POSTGRES_REPLACE_STRATEGY)? {
            pg.replace_strategy = strategy.parse()?;
        }
        Ok(pg)
    }

    /// Whether `config` holds PostgreSQL credentials anywhere.
    pub fn is_configured(config: &Config) -> bool {
        config.provider(&POSTGRES_CREDENTIALS).is_some()
    }

    /// The database name.
    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or("postgres")
    }

    /// The hosts, for messages: `a, b`.
    pub(super) fn hosts(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(h) => format!("`{h}`"),
                Host::Unix(p) => format!("`{}`", p.display()),
            })
            .collect();
        hosts.join(", ")
    }

    /// `postgresql://user@host:port/database`, without the password: a URL `psql` takes, also for a Unix
    /// socket directory (`postgresql://postgres@%2Ftmp%2Fpg:5432/ele`).
    pub fn location(&self) -> String {
        let user = self.config.get_user().unwrap_or("postgres");
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) if h.contains(':') => format!("[{h}]"),
            Some(Host::Tcp(h)) => url_component(h),
            Some(Host::Unix(p)) => url_component(&p.display().to_string()),
            None => "localhost".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgresql://{}@{host}:{port}/{}",
            url_component(user),
            url_component(self.database())
        )
    }
}

/// `destination.postgres.credentials`: a connection string, or its parts as dlt's table form has them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Credentials {
    Url(String),
    Parts(Box<Parts>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parts {
    database: Option<String>,
    username: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    connect_timeout: Option<u64>,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    application_name: Option<String>,
    options: Option<String>,
    target_session_attrs: Option<String>,
    /// dlt's extra query parameters of a connection string.
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[allow(dead_code)] // accepted for dlt compatibility: always PostgreSQL here
    drivername: Option<String>,
}

impl Parts {
    /// A libpq key/value string, every value quoted.
    fn conninfo(&self) -> String {
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        let mut parts = Vec::new();
        for (key, value) in [
            ("host", self.host.clone()),
            ("port", self.port.map(|p| p.to_string())),
            ("user", self.username.clone()),
            ("password", self.password.clone()),
            ("dbname", self.database.clone()),
            (
                "connect_timeout",
                self.connect_timeout.map(|t| t.to_string()),
            ),
            ("sslmode", self.sslmode.clone()),
            ("sslrootcert", self.sslrootcert.clone()),
            ("sslcert", self.sslcert.clone()),
            ("sslkey", self.sslkey.clone()),
            ("application_name", self.application_name.clone()),
            ("options", self.options.clone()),
            ("target_session_attrs", self.target_session_attrs.clone()),
        ] {
            if let Some(value) = value {
                parts.push(format!("{key}={}", quote(&value)));
            }
        }
        for (key, value) in &self.query {
            // A key with odd characters is passed as it is and then rejected as unknown.
            parts.push(format!("{key}={}", quote(value)));
        }
        parts.join(" ")
    }
}

/// `text` as a URL component: everything but RFC 3986's unreserved characters percent-encoded.
fn url_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ele_core::config::{CONFIG_FILE, SECRETS_FILE};

    fn dir_with(secrets: Option<&str>, config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(text) = secrets {
            std::fs::write(dir.path().join(SECRETS_FILE), text).expect("write secrets");
        }
        if let Some(text) = config {
            std::fs::write(dir.path().join(CONFIG_FILE), text).expect("write config");
        }
        dir
    }

    #[test]
    fn postgres_credentials_as_string_or_table() {
        let table = dir_with(
            Some(
                "[destination.postgres.credentials]\ndatabase = \"dlt_data\"\nusername = \"loader\"\n\
                 password = \"it's s3cret\"\nhost = \"db.example\"\nport = 5433\n",
            ),
            None,
        );
        let config = Config::load_from(table.path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        let pg = Postgres::from_config(&config).expect("valid credentials");
        assert_eq!(
            pg.location(),
            "postgresql://loader@db.example:5433/dlt_data"
        );
        assert!(!format!("{pg:?}").contains("s3cret"));

        let url = Config::load_from(dir_with(None, None).path())
            .expect("loads")
            .with_env([(
                "DESTINATION__POSTGRES__CREDENTIALS",
                "postgresql://u:pw@h:5432/db",
            )]);
        assert!(Postgres::is_configured(&url));
        assert_eq!(
            Postgres::from_config(&url).expect("valid").location(),
            "postgresql://u@h:5432/db"
        );

        let missing = Config::load_from(dir_with(None, None).path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        assert!(!Postgres::is_configured(&missing));
        let message = Postgres::from_config(&missing)
            .expect_err("missing")
            .to_string();
        assert!(
            message.contains("environment variable DESTINATION__POSTGRES__CREDENTIALS"),
            "{message}"
        );
    }

    #[test]
    fn tls_and_connection_options_in_the_credentials_table() {
        let dir = dir_with(
            Some(
                "[destination.postgres.credentials]\ndatabase = \"d\"\nusername = \"u\"\npassword = \"s3cret\"\n\
                 host = \"db.example\"\nsslmode = \"verify-full\"\nsslrootcert = \"system\"\n\
                 application_name = \"nightly\"\noptions = \"-c statement_timeout=5s\"\n\
                 target_session_attrs = \"read-write\"\nquery = { keepalives_idle = \"30\" }\n",
            ),
            None,
        );
        let config = Config::load_from(dir.path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        let mut pg = Postgres::from_config(&config).expect("valid");
        assert_eq!(
            pg.tls.mode().expect("mode"),
            super::super::tls::SslMode::VerifyFull
        );
        assert_eq!(pg.config.get_options(), Some("-c statement_timeout=5s"));
        assert_eq!(
            pg.config.get_keepalives_idle(),
            std::time::Duration::from_secs(30)
        );
        pg.set_application_name(Some("p"));
        assert_eq!(pg.config.get_application_name(), Some("nightly"));

        let mut default = Postgres::new("postgresql://u:s3cret@h/db").expect("valid");
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            default.config.get_application_name(),
            Some(format!("ele {version}").as_str())
        );
        default.set_application_name(Some("orders"));
        assert_eq!(
            default.config.get_application_name(),
            Some(format!("ele {version} orders").as_str())
        );

        let unknown = dir_with(
            Some(
                "[destination.postgres.credentials]\ndatabase = \"d\"\npassword = \"s3cret\"\nquery = { sslpass = \"s3cret\" }\n",
            ),
            None,
        );
        let config = Config::load_from(unknown.path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        let message = Postgres::from_config(&config)
            .expect_err("unknown")
            .to_string();
        assert!(
            message.contains("unknown connection option `sslpass`"),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn credentials_from_secrets_toml_when_the_variable_is_absent() {
        let dir = dir_with(
            Some(
                "[destination.postgres]\ncredentials = \"postgresql://loader:s3cret@db.example:5433/dlt_data\"\n",
            ),
            None,
        );
        let config = Config::load_from(dir.path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        assert!(Postgres::is_configured(&config));
        let pg = Postgres::from_config(&config).expect("valid");
        assert_eq!(pg.staging, Staging::Temp);
        assert_eq!(
            pg.location(),
            "postgresql://loader@db.example:5433/dlt_data"
        );
        assert!(!format!("{pg:?}").contains("s3cret"));
        // The variable wins over the file.
        let env = config.with_env([(CREDENTIALS_ENV, "postgresql://u@h:5432/other")]);
        assert_eq!(
            Postgres::from_config(&env).expect("valid").location(),
            "postgresql://u@h:5432/other"
        );
    }

    #[test]
    fn staging_from_the_destination_table() {
        let dir = dir_with(
            Some(
                "[destination.postgres]\ncredentials = \"postgresql://u@h/db\"\nstaging = \"schema\"\n",
            ),
            None,
        );
        let config = Config::load_from(dir.path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        assert_eq!(
            Postgres::from_config(&config).expect("valid").staging,
            Staging::Schema
        );
        let bad = Config::load_from(dir.path())
            .expect("loads")
            .with_env([("DESTINATION__POSTGRES__STAGING", "disk")]);
        let message = Postgres::from_config(&bad).expect_err("bad").to_string();
        assert!(message.contains("unknown staging `disk`"), "{message}");
        let pg = Postgres::new("postgresql://u@h/db").expect("valid");
        assert_eq!(pg.staging(Staging::Schema).staging, Staging::Schema);
    }

    #[test]
    fn replace_strategy_from_the_destination_table() {
        let dir = dir_with(
            None,
            Some(
                "[destination.postgres]\ncredentials = \"postgresql://u@h/db\"\nreplace_strategy = \"staging-optimized\"\n",
            ),
        );
        let config = Config::load_from(dir.path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        assert_eq!(
            Postgres::from_config(&config)
                .expect("valid")
                .replace_strategy,
            ReplaceStrategy::StagingOptimized
        );
        let pg = Postgres::new("postgresql://u@h/db").expect("valid");
        assert_eq!(pg.replace_strategy, ReplaceStrategy::TruncateAndInsert);
        for strategy in [
            ReplaceStrategy::TruncateAndInsert,
            ReplaceStrategy::InsertFromStaging,
            ReplaceStrategy::StagingOptimized,
        ] {
            assert_eq!(
                strategy.as_str().parse::<ReplaceStrategy>().ok(),
                Some(strategy)
            );
        }
        let message = "swap"
            .parse::<ReplaceStrategy>()
            .expect_err("unknown")
            .to_string();
        assert!(
            message.contains("unknown replace strategy `swap`"),
            "{message}"
        );
    }
}
