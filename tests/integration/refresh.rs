//! A run's `refresh` against PostgreSQL, as dlt 1.31's: `drop_resources` drops the run's tables (child tables
//! included) and creates them anew from this run's rows, wiping those resources' state; `drop_data` empties
//! them and keeps their columns; `drop_sources` also drops the other tables of the pipeline and wipes the
//! source state. The drops happen in the load transaction: a crash before the commit leaves the old tables.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use ele::prelude::*;
use serde_json::{Value, json};

use crate::support::TestDb;

const DATASET: &str = "refreshed";

/// Events through an incremental on `id`, with a nested list, setting a resource and a source state key.
fn events(rows: Vec<Value>) -> impl Resource<Item = Value> {
    ele::FnResource::new("events", move |out: Emit<Value>| async move {
        let _id: Incremental<i64> =
            out.bind_incremental(ele::IncrementalConfig::new().cursor_path("id"), None)?;
        out.source_state().set("token", &"abc")?;
        out.send(rows).await
    })
}

/// Events 1 and 2, with a column `old` and tags; and an `other` table.
async fn first_runs(p: &Pipeline) {
    p.run(events(vec![
        json!({"id": 1, "old": "x", "tags": ["a"]}),
        json!({"id": 2, "old": "y", "tags": ["b", "c"]}),
    ]))
    .await
    .expect("events load");
    p.run(items(vec![json!({"id": 9})]).name("other"))
        .await
        .expect("other loads");
}

async fn tables(db: &TestDb) -> Vec<String> {
    db.lines(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{DATASET}' \
         AND table_name NOT LIKE '\\_dlt%' ORDER BY table_name"
    ))
    .await
}

async fn ids(db: &TestDb, table: &str) -> Vec<String> {
    db.lines(&format!("SELECT id FROM {DATASET}.{table} ORDER BY id"))
        .await
}

/// The source state committed with the last load.
async fn committed_sources(db: &TestDb, p: &Pipeline) -> Value {
    let local = p.state().expect("state").expect("exists");
    // The destination holds the same version the working dir does.
    assert_eq!(
        db.lines(&format!(
            "SELECT max(version) FROM {DATASET}._dlt_pipeline_state"
        ))
        .await,
        [local.version.to_string()]
    );
    serde_json::to_value(&local.sources).expect("state is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn drop_resources_recreates_the_runs_tables_and_resets_their_state() {
    let db = TestDb::new("refresh_resources").await;
    let p = db.pipeline("refresher", DATASET);
    first_runs(&p).await;
    p.run(events(vec![json!({"id": 1, "new": 5, "tags": ["z"]})]))
        .refresh(RefreshMode::DropResources)
        .await
        .expect("refreshed run loads");
    // Event 1 is loaded again (the incremental starts over) into a table built from this run's rows only.
    assert_eq!(ids(&db, "events").await, ["1"]);
    let columns: Vec<String> = db
        .columns(DATASET, "events")
        .await
        .into_iter()
        .map(|c| c.split('|').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(columns, ["id", "new", "_dlt_load_id", "_dlt_id"]);
    assert_eq!(
        db.lines(&format!("SELECT value FROM {DATASET}.events__tags"))
            .await,
        ["z"]
    );
    assert_eq!(ids(&db, "other").await, ["9"]);
    let sources = committed_sources(&db, &p).await;
    assert_eq!(sources["refresher"]["token"], json!("abc"));
    assert_eq!(
        sources["refresher"]["resources"]["events"]["incremental"]["id"]["last_value"],
        json!(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_data_empties_the_runs_tables_and_keeps_their_columns() {
    let db = TestDb::new("refresh_data").await;
    let p = db.pipeline("refresher", DATASET);
    first_runs(&p).await;
    let columns = db.columns(DATASET, "events").await;
    p.run(events(vec![json!({"id": 1})]))
        .refresh(RefreshMode::DropData)
        .await
        .expect("refreshed run loads");
    assert_eq!(ids(&db, "events").await, ["1"]);
    assert_eq!(db.columns(DATASET, "events").await, columns);
    assert_eq!(
        db.lines(&format!("SELECT 1 FROM {DATASET}.events__tags"))
            .await
            .len(),
        0
    );
    assert_eq!(ids(&db, "other").await, ["9"]);
    let sources = committed_sources(&db, &p).await;
    assert_eq!(
        sources["refresher"]["resources"]["events"]["incremental"]["id"]["last_value"],
        json!(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_sources_drops_every_table_and_the_source_state() {
    let db = TestDb::new("refresh_sources").await;
    let p = db.pipeline("refresher", DATASET);
    first_runs(&p).await;
    p.run(items(vec![json!({"id": 10})]).name("other"))
        .refresh(RefreshMode::DropSources)
        .await
        .expect("refreshed run loads");
    assert_eq!(tables(&db).await, ["other"]);
    assert_eq!(ids(&db, "other").await, ["10"]);
    let sources = committed_sources(&db, &p).await;
    assert!(
        sources
            .get("refresher")
            .is_none_or(|s| s.get("token").is_none() && s.get("resources").is_none()),
        "{sources}"
    );
}

/// `ele load --refresh`: a crash before the commit leaves the old table and rows; the next run refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_refresh_drops_in_the_load_transaction() {
    let db = TestDb::new("refresh_cli").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    std::fs::write(
        &first,
        "{\"id\": 1, \"old\": \"x\"}\n{\"id\": 2, \"old\": \"y\"}\n",
    )
    .expect("writes");
    std::fs::write(&second, "{\"id\": 3}\n").expect("writes");
    let load = |file: &std::path::Path, refresh: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ele"));
        command
            .args([
                "load",
                file.to_str().expect("utf-8 path"),
                "--table",
                "events",
            ])
            .args(["--dataset", DATASET])
            .envs(db.cli_env())
            .env_remove("ELE_FAULT");
        if let Some(mode) = refresh {
            command.args(["--refresh", mode]);
        }
        command
    };
    let out = load(&first, None).output().expect("runs");
    assert!(out.status.success(), "{out:?}");
    let crashed = load(&second, Some("drop_resources"))
        .env("ELE_FAULT", "before_commit")
        .output()
        .expect("runs");
    assert_eq!(crashed.status.signal(), Some(libc::SIGABRT), "{crashed:?}");
    assert_eq!(ids(&db, "events").await, ["1", "2"]);
    assert!(
        db.columns(DATASET, "events")
            .await
            .iter()
            .any(|c| c.starts_with("old|")),
        "the old table is still there"
    );
    // The pending package (its drop included) is loaded first, then the file is appended once more.
    let out = load(&second, None).output().expect("runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(ids(&db, "events").await, ["3", "3"]);
    assert!(
        !db.columns(DATASET, "events")
            .await
            .iter()
            .any(|c| c.starts_with("old|")),
        "the table was created anew"
    );
    let out = load(&second, Some("drop_data")).output().expect("runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(ids(&db, "events").await, ["3"]);
}
