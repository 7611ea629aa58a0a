//! delete-insert merges into tables loaded before, COPYed while they are normalized: the rows of earlier loads
//! that the new ones replace are deleted (with their child rows) once the package is complete. The result is
//! what the usual merge gives; whatever the stream cannot take (a new column, a repeated key, a root row that
//! brings the id of the row it replaces) rolls it back and the package merges the usual way.

use std::path::Path;

use crate::cli::ele_load_streaming;
use crate::first_merges::{catalog, load, same_rows, write_events};
use crate::support::TestDb;

const MERGE: [&str; 4] = ["--write-disposition", "merge", "--primary-key", "id"];

/// Loads `base` the usual way into the datasets `streamed` and `merged`, then `increment` into `streamed` with
/// tiny job files (checking that it began merging while normalizing) and into `merged` the usual way; returns
/// the streamed load's standard error after checking that both datasets hold the same rows and columns.
async fn merge_both_ways(db: &TestDb, base: &Path, increment: &Path) -> String {
    load(db, base, "streamed", &MERGE);
    load(db, base, "merged", &MERGE);
    let mut args = MERGE.to_vec();
    args.extend(["--dataset", "streamed", "--pipeline", "streamed"]);
    let stderr = ele_load_streaming(db, increment, "events", &args);
    assert!(stderr.contains("merging while normalizing"), "{stderr}");
    load(db, increment, "merged", &MERGE);
    same_rows(db, "streamed", "merged").await;
    assert_eq!(catalog(db, "streamed").await, catalog(db, "merged").await);
    assert_eq!(
        db.lines("SELECT count(*) FROM streamed._dlt_loads WHERE status = 0")
            .await,
        ["2"]
    );
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_delete_insert_replaces_rows_and_their_child_rows() {
    let db = TestDb::new("streamed_merge").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, increment) = (
        dir.path().join("base.jsonl"),
        dir.path().join("increment.jsonl"),
    );
    write_events(&base, 0..3000, "n");
    write_events(&increment, 2900..3100, "changed");
    let stderr = merge_both_ways(&db, &base, &increment).await;
    assert!(!stderr.contains("the usual way"), "{stderr}");
    assert!(!stderr.contains("stopped"), "{stderr}");
    assert_eq!(
        db.lines(
            "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE name LIKE 'changed%') \
             FROM streamed.events"
        )
        .await,
        ["3100|3100|200"]
    );
    // The replaced keys' list elements went with their rows; the new rows brought their own.
    let lists = |ids: std::ops::Range<i64>, every: i64| ids.filter(|id| id % every == 0).count();
    assert_eq!(
        db.lines(
            "SELECT count(*) FILTER (WHERE t.value = 'changed'), count(*) FILTER (WHERE t.value = 'n'), \
             count(*) FILTER (WHERE e.id IS NULL) FROM streamed.events__tags t \
             LEFT JOIN streamed.events e ON e._dlt_id = t._dlt_root_id"
        )
        .await,
        [format!("{}|{}|0", lists(2900..3100, 6), lists(0..2900, 3))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_delete_insert_falls_back_for_a_new_column() {
    let db = TestDb::new("streamed_merge_column").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, increment) = (
        dir.path().join("base.jsonl"),
        dir.path().join("increment.jsonl"),
    );
    write_events(&base, 0..3000, "n");
    // The column comes late, after job files were COPYed.
    let mut text = String::new();
    for id in 2000..3100 {
        let mut event = serde_json::json!({"id": id, "name": format!("changed{id}")});
        if id >= 3050 {
            event["extra"] = serde_json::json!(id * 2);
        }
        text.push_str(&event.to_string());
        text.push('\n');
    }
    std::fs::write(&increment, text).expect("write");
    let stderr = merge_both_ways(&db, &base, &increment).await;
    assert!(stderr.contains("is new or has new columns"), "{stderr}");
    assert_eq!(
        db.lines("SELECT count(*), count(extra), sum(extra) FROM streamed.events")
            .await,
        [format!(
            "3100|50|{}",
            (3050..3100).map(|id| id * 2).sum::<i64>()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_delete_insert_falls_back_for_a_repeated_key() {
    let db = TestDb::new("streamed_merge_repeat").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, increment) = (
        dir.path().join("base.jsonl"),
        dir.path().join("increment.jsonl"),
    );
    write_events(&base, 0..3000, "n");
    write_events(&increment, 2000..3100, "changed");
    let mut text = std::fs::read_to_string(&increment).expect("read");
    text.push_str("{\"id\": 2500, \"name\": \"again\"}\n");
    std::fs::write(&increment, text).expect("write");
    merge_both_ways(&db, &base, &increment).await;
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM streamed.events")
            .await,
        ["3100|3100"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_delete_insert_falls_back_when_a_row_brings_its_replaced_id() {
    let db = TestDb::new("streamed_merge_own_id").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, increment) = (
        dir.path().join("base.jsonl"),
        dir.path().join("increment.jsonl"),
    );
    let events = |ids: std::ops::Range<i64>, tag: &str| -> String {
        ids.map(|id| {
            serde_json::json!({"id": id, "_dlt_id": format!("own{id}"), "tags": [tag, format!("{tag}{id}")]})
                .to_string()
                + "\n"
        })
        .collect()
    };
    std::fs::write(&base, events(0..2000, "old")).expect("write");
    std::fs::write(&increment, events(1500..2500, "new")).expect("write");
    let stderr = merge_both_ways(&db, &base, &increment).await;
    assert!(stderr.contains("cannot go by its key list"), "{stderr}");
    // Each replaced row's list is the new one alone.
    assert_eq!(
        db.lines(
            "SELECT count(*) FILTER (WHERE t.value LIKE 'old%'), count(*) FILTER (WHERE t.value LIKE 'new%') \
             FROM streamed.events__tags t"
        )
        .await,
        ["3000|2000"]
    );
}
