//! Staging in the schema `<dataset>_staging` instead of temp tables: a loading role without the TEMPORARY
//! privilege (hardened databases revoke it from PUBLIC) merges, upserts and replaces with no temp table and
//! leaves no staging table behind; a role that can create neither gets an error naming the grant; `--staging
//! schema` and `destination.postgres.staging` choose the schema for any role.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::TestDb;

/// The dataset of every load here.
const DATASET: &str = "shop";

/// A login role of the test's database, and the connection string that logs in as it.
pub(crate) struct Role {
    name: String,
    database: String,
    pub(crate) url: String,
}

/// Revokes TEMPORARY on the test's database from PUBLIC and creates a login role without it, with CREATE on
/// the database when `create`.
pub(crate) async fn role_without_temporary(db: &TestDb, create: bool) -> Role {
    let database = db.lines("SELECT current_database()").await.remove(0);
    let name = format!("{database}_loader");
    let mut statements = vec![
        format!("REVOKE TEMPORARY ON DATABASE \"{database}\" FROM PUBLIC"),
        format!("CREATE ROLE \"{name}\" LOGIN PASSWORD 'loader-pw'"),
    ];
    if create {
        statements.push(format!(
            "GRANT CREATE ON DATABASE \"{database}\" TO \"{name}\""
        ));
    }
    db.client()
        .await
        .batch_execute(&statements.join(";\n"))
        .await
        .expect("creates the role");
    // The same server and database, as the new role.
    let url = db
        .url
        .split_whitespace()
        .filter(|part| !part.starts_with("password="))
        .map(|part| {
            if part.starts_with("user=") {
                format!("user={name} password=loader-pw")
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let role = Role {
        name,
        database,
        url,
    };
    // Any temp table of a load would fail: the role cannot create one.
    let (client, connection) = tokio_postgres::connect(&role.url, tokio_postgres::NoTls)
        .await
        .expect("the role logs in");
    tokio::spawn(connection);
    let refused = client
        .batch_execute("CREATE TEMP TABLE probe (a int)")
        .await
        .expect_err("no TEMPORARY");
    assert!(
        refused.to_string().contains("permission denied")
            || format!("{refused:?}").contains("permission denied"),
        "{refused:?}"
    );
    role
}

/// Writes `items` as JSON Lines into `dir/name.jsonl`.
fn write(dir: &Path, name: &str, items: impl IntoIterator<Item = Value>) -> PathBuf {
    let path = dir.join(format!("{name}.jsonl"));
    let text: String = items.into_iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(&path, text).expect("write");
    path
}

/// `ele load FILE --table TABLE --dataset shop ARGS...` connecting with `url`, info logs of the destination on.
fn ele_load(db: &TestDb, url: &str, file: &Path, table: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ele"));
    command
        .args(["load", file.to_str().expect("utf-8 path"), "--table", table])
        .args(["--dataset", DATASET])
        .args(args)
        .envs(db.cli_env())
        .env("DESTINATION__POSTGRES__CREDENTIALS", url)
        .env("RUST_LOG", "ele_destinations=info")
        .env_remove("ELE_FAULT")
        .env_remove("ELE_FAULT_SKIP");
    command
}

/// Runs `command`, checks that it succeeded and returns its standard error.
#[track_caller]
fn succeeds(command: &mut Command) -> String {
    let out: Output = command.output().expect("the ele binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "ele load failed ({}):\n{}\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The tables of the staging schema.
async fn staging_tables(db: &TestDb) -> Vec<String> {
    db.lines(&format!(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = '{DATASET}_staging' ORDER BY 1"
    ))
    .await
}

/// Whether the staging schema exists.
async fn staging_schema_exists(db: &TestDb) -> bool {
    db.lines(&format!(
        "SELECT count(*) FROM pg_namespace WHERE nspname = '{DATASET}_staging'"
    ))
    .await
        == ["1"]
}

/// An order with a nested list of `tags`.
fn order(id: u64, name: &str, tags: &[String]) -> Value {
    json!({"id": id, "name": name, "tags": tags})
}

fn first_orders() -> Vec<Value> {
    (1..=30)
        .map(|i| order(i, &format!("n{i}"), &[format!("a{i}"), format!("b{i}")]))
        .collect()
}

fn new_tags(i: u64) -> Vec<String> {
    (0..i % 3 + 1).map(|k| format!("x{i}_{k}")).collect()
}

/// Keys 25..=35 changed (25..=30) or new, with 1 to 3 tags; key 26 twice: the first sent wins.
fn second_orders() -> Vec<Value> {
    let mut items: Vec<Value> = (25..=35)
        .map(|i| order(i, &format!("m{i}"), &new_tags(i)))
        .collect();
    items.push(order(26, "dup", &["dup".to_owned()]));
    items
}

/// `id|name|tags` of every order as both loads leave them.
fn expected_orders(second: bool) -> Vec<String> {
    (1..=if second { 35 } else { 30 })
        .map(|i| {
            if second && i >= 25 {
                format!("{i}|m{i}|{}", new_tags(i).join(","))
            } else {
                format!("{i}|n{i}|a{i},b{i}")
            }
        })
        .collect()
}

/// `id|name|tags` of every order in the dataset; checks that every child row belongs to an order.
async fn orders(db: &TestDb) -> Vec<String> {
    let orphans = db
        .lines(&format!(
            "SELECT count(*) FROM {DATASET}.orders__tags t WHERE NOT EXISTS \
             (SELECT 1 FROM {DATASET}.orders o WHERE o._dlt_id = t._dlt_parent_id AND o._dlt_id = t._dlt_root_id)"
        ))
        .await;
    assert_eq!(orphans, ["0"]);
    db.lines(&format!(
        "SELECT o.id, o.name, string_agg(t.value, ',' ORDER BY t._dlt_list_idx) FROM {DATASET}.orders o \
         LEFT JOIN {DATASET}.orders__tags t ON t._dlt_parent_id = o._dlt_id GROUP BY o._dlt_id, o.id, o.name \
         ORDER BY o.id"
    ))
    .await
}

/// Loads the orders twice as a delete-insert merge with `url` (and `args`), checking the rows and the staging
/// schema after each; returns the second run's standard error.
async fn merge_orders_twice(db: &TestDb, url: &str, dir: &Path, args: &[&str]) -> String {
    let merge = [
        &["--primary-key", "id", "--write-disposition", "merge"],
        args,
    ]
    .concat();
    let first = write(dir, "orders1", first_orders());
    succeeds(&mut ele_load(db, url, &first, "orders", &merge));
    assert_eq!(orders(db).await, expected_orders(false));
    assert_eq!(staging_tables(db).await, Vec::<String>::new());
    let second = write(dir, "orders2", second_orders());
    let stderr = succeeds(&mut ele_load(db, url, &second, "orders", &merge));
    assert_eq!(orders(db).await, expected_orders(true));
    assert_eq!(staging_tables(db).await, Vec::<String>::new());
    assert!(staging_schema_exists(db).await);
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_temporary_stages_in_the_staging_schema() {
    let db = TestDb::new("staging").await;
    let role = role_without_temporary(&db, true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();

    // Delete-insert with a nested list; the second run merges into existing rows, so it stages.
    let stderr = merge_orders_twice(&db, &role.url, dir, &[]).await;
    assert!(
        stderr.contains("no TEMPORARY privilege") && stderr.contains("shop_staging"),
        "{stderr}"
    );

    // Upsert.
    let upsert = ["--primary-key", "id", "--merge-strategy", "upsert"];
    let first = write(
        dir,
        "customers1",
        (1..=10).map(|i| json!({"id": i, "name": format!("c{i}")})),
    );
    succeeds(&mut ele_load(&db, &role.url, &first, "customers", &upsert));
    let second = write(
        dir,
        "customers2",
        (8..=12).map(|i| json!({"id": i, "name": format!("u{i}")})),
    );
    succeeds(&mut ele_load(&db, &role.url, &second, "customers", &upsert));
    let expected: Vec<String> = (1..=12)
        .map(|i| format!("{i}|{}{i}", if i >= 8 { "u" } else { "c" }))
        .collect();
    assert_eq!(
        db.lines("SELECT id, name FROM shop.customers ORDER BY id")
            .await,
        expected
    );
    assert_eq!(staging_tables(&db).await, Vec::<String>::new());

    // Replace.
    let replace = ["--write-disposition", "replace"];
    let first = write(dir, "snapshot1", (1..=5).map(|i| json!({"id": i})));
    succeeds(&mut ele_load(&db, &role.url, &first, "snapshot", &replace));
    let second = write(dir, "snapshot2", (10..=12).map(|i| json!({"id": i})));
    succeeds(&mut ele_load(&db, &role.url, &second, "snapshot", &replace));
    assert_eq!(
        db.lines("SELECT id FROM shop.snapshot ORDER BY id").await,
        ["10", "11", "12"]
    );
    assert_eq!(staging_tables(&db).await, Vec::<String>::new());

    // A small merge of new keys beyond the old ones into a larger table: the key-range delete.
    let merge = ["--primary-key", "id", "--write-disposition", "merge"];
    let first = write(dir, "events1", (1..=5000).map(|i| json!({"id": i, "v": 1})));
    succeeds(&mut ele_load(&db, &role.url, &first, "events", &merge));
    db.client()
        .await
        .batch_execute("ANALYZE shop.events")
        .await
        .expect("analyze");
    let second = write(
        dir,
        "events2",
        (5000..=5005).map(|i| json!({"id": i, "v": 2})),
    );
    succeeds(&mut ele_load(&db, &role.url, &second, "events", &merge));
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id), sum(v) FROM shop.events")
            .await,
        ["5005|5005|5011"]
    );
    assert_eq!(
        db.lines("SELECT id, v FROM shop.events WHERE id >= 4999 ORDER BY id")
            .await,
        [
            "4999|1", "5000|2", "5001|2", "5002|2", "5003|2", "5004|2", "5005|2"
        ]
    );
    assert_eq!(staging_tables(&db).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_can_create_neither_gets_the_grant_it_needs() {
    let db = TestDb::new("staging_grant").await;
    let role = role_without_temporary(&db, false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "orders1", first_orders());
    let out = ele_load(
        &db,
        &role.url,
        &file,
        "orders",
        &["--primary-key", "id", "--write-disposition", "merge"],
    )
    .output()
    .expect("the ele binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A configuration error (not retryable): the role needs a grant.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let grant = format!(
        "GRANT CREATE ON DATABASE \"{}\" TO \"{}\"",
        role.database, role.name
    );
    assert!(stderr.contains(&grant), "{stderr}");
    // Nothing was loaded; the package waits for the grant (the next run loads it first).
    assert!(
        stderr.contains("stays pending and is loaded first by the next run"),
        "{stderr}"
    );

    // The owner of pre-created dataset and staging schemas needs nothing more.
    db.client()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {DATASET} AUTHORIZATION \"{0}\"; CREATE SCHEMA {DATASET}_staging AUTHORIZATION \"{0}\"",
            role.name
        ))
        .await
        .expect("creates the schemas");
    merge_orders_twice(&db, &role.url, dir.path(), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staging_schema_by_choice() {
    let db = TestDb::new("staging_choice").await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A superuser, who may create temp tables, with `--staging schema`.
    let stderr = merge_orders_twice(&db, &db.url, dir.path(), &["--staging", "schema"]).await;
    assert!(!stderr.contains("no TEMPORARY privilege"), "{stderr}");

    // `destination.postgres.staging` from the environment.
    let upsert = ["--primary-key", "id", "--merge-strategy", "upsert"];
    for (n, name) in [(1, "a"), (2, "b")] {
        let file = write(
            dir.path(),
            &format!("c{n}"),
            [json!({"id": 1, "name": name})],
        );
        succeeds(
            ele_load(&db, &db.url, &file, "customers", &upsert)
                .env("DESTINATION__POSTGRES__STAGING", "schema"),
        );
    }
    assert_eq!(
        db.lines("SELECT id, name FROM shop.customers").await,
        ["1|b"]
    );
    assert_eq!(staging_tables(&db).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_commit_leaves_no_staging_table() {
    let db = TestDb::new("staging_crash").await;
    let role = role_without_temporary(&db, true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let merge = ["--primary-key", "id", "--write-disposition", "merge"];
    let first = write(dir.path(), "orders1", first_orders());
    succeeds(&mut ele_load(&db, &role.url, &first, "orders", &merge));
    let second = write(dir.path(), "orders2", second_orders());
    let crashed = ele_load(&db, &role.url, &second, "orders", &merge)
        .env("ELE_FAULT", "before_commit")
        .output()
        .expect("the ele binary runs");
    assert_eq!(
        crashed.status.signal(),
        Some(libc::SIGABRT),
        "{}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    assert!(staging_schema_exists(&db).await);
    assert_eq!(staging_tables(&db).await, Vec::<String>::new());
    assert_eq!(orders(&db).await, expected_orders(false));
    // The re-run loads the pending package.
    succeeds(&mut ele_load(&db, &role.url, &second, "orders", &merge));
    assert_eq!(orders(&db).await, expected_orders(true));
    assert_eq!(staging_tables(&db).await, Vec::<String>::new());
}
