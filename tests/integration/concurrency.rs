//! Loads of several pipelines into the same tables at the same time, as `ele load` processes: every merge,
//! replace and first load stays exact (one row per key, no orphaned child rows).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::TestDb;

/// How many `ele load` processes run at once.
const LOADS: usize = 8;
/// Events in the file every process loads.
const EVENTS: i64 = 20_000;

/// Writes `EVENTS` events with a nested list (a child table) and a `version` that changes with `round`.
fn write_events(path: &Path, round: i64) {
    let mut text = String::new();
    for id in 0..EVENTS {
        let line = serde_json::json!({
            "id": id,
            "version": round,
            "name": format!("e{id}"),
            "tags": [format!("t{}", id % 5), format!("r{round}")],
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("write events");
}

/// Starts `LOADS` `ele load` processes of `file` into `shared.events`, each with its own pipeline name, and
/// waits for all; every one must succeed. Small job files make a first load stream while it normalizes.
fn load_concurrently(db: &TestDb, file: &Path, tag: &str, args: &[&str]) {
    let children: Vec<_> = (0..LOADS)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_ele"))
                .args([
                    "-q",
                    "load",
                    file.to_str().expect("utf-8"),
                    "--table",
                    "events",
                ])
                .args(["--pipeline", &format!("{tag}_{i}"), "--dataset", "shared"])
                .args(args)
                .envs(db.cli_env())
                .env("ELE_JOB_FILE_BYTES", "65536")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the ele binary starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("the ele binary runs");
        assert!(
            out.status.success(),
            "a concurrent load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Rows, distinct ids, child rows, child rows without a root row, and the number of versions seen.
async fn counts(db: &TestDb) -> String {
    db.lines(
        "SELECT (SELECT count(*) FROM shared.events), (SELECT count(DISTINCT id) FROM shared.events), \
         (SELECT count(*) FROM shared.events__tags), \
         (SELECT count(*) FROM shared.events__tags AS c WHERE NOT EXISTS \
            (SELECT 1 FROM shared.events AS e WHERE e._dlt_id = c._dlt_parent_id)), \
         (SELECT count(DISTINCT version) FROM shared.events)",
    )
    .await
    .concat()
}

/// Eight pipelines merge the same events into one new table at once, then again into the existing table:
/// one row per key and two child rows per row each time, for every merge strategy that keys rows.
async fn merges_stay_exact(strategy: &str) {
    let db = TestDb::new(&format!("conc_{}", strategy.replace('-', "_"))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    let args = [
        "--write-disposition",
        "merge",
        "--merge-strategy",
        strategy,
        "--primary-key",
        "id",
    ];
    let mut seen = Vec::new();
    for round in 1..=2 {
        write_events(&file, round);
        load_concurrently(&db, &file, &format!("r{round}"), &args);
        seen.push(counts(&db).await);
    }
    // Rows, distinct ids, child rows, orphaned child rows, versions: into new tables, then existing ones.
    let exact = format!("{EVENTS}|{EVENTS}|{}|0|1", 2 * EVENTS);
    assert_eq!(seen, [exact.clone(), exact], "{strategy}");
    // Every pipeline committed its state and its load.
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT pipeline_name) FROM shared._dlt_pipeline_state")
            .await,
        [format!("{}|{}", 2 * LOADS, 2 * LOADS)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_delete_insert_merges_keep_one_row_per_key() {
    merges_stay_exact("delete-insert").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_keep_one_row_per_key() {
    merges_stay_exact("upsert").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_insert_only_merges_keep_one_row_per_key() {
    merges_stay_exact("insert-only").await;
}

/// Eight replaces of one table at once, new and existing: the table holds one load's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replaces_leave_one_load() {
    let db = TestDb::new("conc_replace").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    for round in 1..=2 {
        write_events(&file, round);
        load_concurrently(
            &db,
            &file,
            &format!("r{round}"),
            &["--write-disposition", "replace"],
        );
        assert_eq!(
            counts(&db).await,
            format!("{EVENTS}|{EVENTS}|{}|0|1", 2 * EVENTS),
            "round {round}"
        );
    }
}

/// Appends beside merges of another table chain and of the same dataset: nothing deadlocks, every row lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_and_merges_do_not_deadlock() {
    let db = TestDb::new("conc_mixed").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    write_events(&file, 1);
    let path = file.to_str().expect("utf-8");
    let children: Vec<_> = (0..LOADS)
        .map(|i| {
            let (table, disposition) = if i % 2 == 0 {
                ("events", "merge")
            } else {
                ("log", "append")
            };
            Command::new(env!("CARGO_BIN_EXE_ele"))
                .args(["-q", "load", path, "--table", table, "--primary-key", "id"])
                .args(["--write-disposition", disposition])
                .args(["--pipeline", &format!("p_{i}"), "--dataset", "shared"])
                .envs(db.cli_env())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the ele binary starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("the ele binary runs");
        assert!(
            out.status.success(),
            "a concurrent load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        counts(&db).await,
        format!("{EVENTS}|{EVENTS}|{}|0|1", 2 * EVENTS)
    );
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM shared.log")
            .await,
        [format!("{}|{EVENTS}", EVENTS * LOADS as i64 / 2)]
    );
}
