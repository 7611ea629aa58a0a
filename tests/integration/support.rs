//! Test support: one throwaway PostgreSQL cluster per test binary, one database per test.
//!
//! `ELE_TEST_POSTGRES_URL` (a libpq URL of a server where the user may create databases) uses an existing
//! server instead of starting one.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ele::Pipeline;
use ele::Postgres;
use ele::postgres::local::LocalCluster;
use tokio_postgres::{Client, NoTls};

enum Server {
    Local(&'static LocalCluster),
    External(String),
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("ELE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Server::External(url),
        _ => match LocalCluster::start_temporary() {
            Ok(cluster) => Server::Local(cluster.stop_on_exit()),
            Err(e) => panic!("cannot start a throwaway PostgreSQL cluster for the tests: {e}"),
        },
    })
}

fn connection_string(database: &str) -> String {
    match server() {
        Server::Local(cluster) => cluster.connection_string(database),
        Server::External(url) => {
            let mut config: tokio_postgres::Config = url
                .parse()
                .expect("ELE_TEST_POSTGRES_URL is not a valid URL");
            config.dbname(database);
            // Rebuild as key/value text: tokio_postgres::Config has no to-string.
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".into(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let user = config.get_user().unwrap_or("postgres").to_owned();
            let password = config
                .get_password()
                .map(|p| {
                    format!(
                        " password='{}'",
                        String::from_utf8_lossy(p).replace('\'', "\\'")
                    )
                })
                .unwrap_or_default();
            format!("host={host} port={port} user={user} dbname={database}{password}")
        }
    }
}

/// A fresh database and a private pipelines dir for one test.
pub struct TestDb {
    /// libpq connection string.
    pub url: String,
    /// Pipelines dir of this test.
    pub pipelines_dir: PathBuf,
    _dir: tempfile::TempDir,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// Creates a database named after the test.
    pub async fn new(test: &str) -> TestDb {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t_{}_{}_{n}", test, std::process::id());
        let admin = connect(&connection_string("postgres")).await;
        for statement in [
            format!("DROP DATABASE IF EXISTS \"{name}\""),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            admin
                .batch_execute(&statement)
                .await
                .expect("cannot create the test database");
        }
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        TestDb {
            url: connection_string(&name),
            pipelines_dir: dir.path().join("pipelines"),
            _dir: dir,
        }
    }

    /// The destination.
    pub fn postgres(&self) -> Postgres {
        Postgres::new(&self.url).expect("valid test connection string")
    }

    /// A pipeline into this database with its working dir in the test's temp dir.
    pub fn pipeline(&self, name: &str, dataset: &str) -> Pipeline {
        Pipeline::builder(name)
            .destination(self.postgres())
            .dataset_name(dataset)
            .pipelines_dir(&self.pipelines_dir)
            .build()
            .expect("pipeline builds")
    }

    /// A client of this database.
    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Runs a query and returns every value as text (NULL as `None`), rows in the query's order.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let client = self.client().await;
        let messages = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("query `{sql}` failed: {e}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// Like [`TestDb::rows`] with NULL shown as `NULL`, each row joined by `|`.
    pub async fn lines(&self, sql: &str) -> Vec<String> {
        self.rows(sql)
            .await
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| v.unwrap_or_else(|| "NULL".into()))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    }

    /// `name type nullable` of each column of a table, in order.
    pub async fn columns(&self, schema: &str, table: &str) -> Vec<String> {
        self.lines(&format!(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
        ))
        .await
    }

    /// Environment for a child `ele` process using this database and pipelines dir.
    pub fn cli_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "DESTINATION__POSTGRES__CREDENTIALS".into(),
                self.url.clone(),
            ),
            (
                "ELE_PIPELINES_DIR".into(),
                self.pipelines_dir.display().to_string(),
            ),
        ]
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
        .batch_execute("SET TimeZone TO 'UTC'")
        .await
        .expect("cannot set the time zone");
    client
}
