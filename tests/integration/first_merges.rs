//! First loads of upsert, insert-only and scd2 merges into new tables, COPYed while they are normalized: the
//! result (rows, column definitions, indexes) is what merging the same rows through staging gives, and later
//! loads merge into it as usual. Keys or versions that repeat send the package to the usual merge.

use std::path::Path;

use crate::cli::{ele, ele_load_streaming};
use crate::support::TestDb;

/// Events `ids` with a name made of `tag`, every third (every sixth when `tag` is `changed`) with a nested list
/// (a child table).
pub(crate) fn write_events(path: &Path, ids: std::ops::Range<i64>, tag: &str) {
    let every = if tag == "changed" { 6 } else { 3 };
    let mut text = String::new();
    for id in ids {
        let mut event = serde_json::json!({"id": id, "name": format!("{tag}{id}")});
        if id % every == 0 {
            event["tags"] = serde_json::json!([format!("t{}", id % 5), tag]);
        }
        text.push_str(&event.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("write events");
}

/// `ele load FILE --table events ARGS --dataset DATASET --pipeline DATASET` the usual way (the package loads once
/// complete).
pub(crate) fn load(db: &TestDb, file: &Path, dataset: &str, args: &[&str]) {
    let mut all = vec![
        "load",
        file.to_str().expect("utf-8"),
        "--table",
        "events",
        "--dataset",
        dataset,
        "--pipeline",
        dataset,
    ];
    all.extend_from_slice(args);
    let out = ele(db, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tables of `dataset` as a user inspects them: per column its type (with length and precision), `NOT NULL`
/// and whether it has a default; per index its definition.
pub(crate) async fn catalog(db: &TestDb, dataset: &str) -> Vec<String> {
    let mut lines = db
        .lines(&format!(
            "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             a.atthasdef, a.attisdropped FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{dataset}' AND c.relkind = 'r' \
             AND a.attnum > 0 AND c.relname NOT LIKE '\\_dlt\\_%' ORDER BY 1, 2"
        ))
        .await;
    lines.extend(
        db.lines(&format!(
            "SELECT replace(indexdef, '{dataset}', 'DS') FROM pg_indexes WHERE schemaname = '{dataset}' \
             ORDER BY indexname"
        ))
        .await,
    );
    lines
}

/// The rows of both datasets' data tables differ in nothing.
pub(crate) async fn same_rows(db: &TestDb, streamed: &str, merged: &str) {
    let a = db.dump_dataset(streamed).await;
    let mut b = db.dump_dataset(merged).await;
    b.completed_loads = a.completed_loads;
    b.state_sources = a.state_sources.clone();
    assert_eq!(a.differences(&b), "", "{streamed} vs {merged}");
}

/// A first merge streamed into new tables against the same rows merged through staging into a table that held
/// one other row (removed after): the same rows, columns and indexes; then an increment merged into both.
async fn streamed_first_merge_equals_the_staged_one(strategy: &str) {
    let db = TestDb::new(&format!("first_{}", strategy.replace('-', "_"))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (seed, base, increment) = (
        dir.path().join("seed.jsonl"),
        dir.path().join("base.jsonl"),
        dir.path().join("increment.jsonl"),
    );
    write_events(&seed, -1..0, "seed");
    write_events(&base, 0..3000, "n");
    write_events(&increment, 2900..3100, "changed");
    let args = [
        "--write-disposition",
        "merge",
        "--merge-strategy",
        strategy,
        "--primary-key",
        "id",
    ];
    let mut streaming = args.to_vec();
    streaming.extend(["--dataset", "streamed", "--pipeline", "streamed"]);
    let stderr = ele_load_streaming(&db, &base, "events", &streaming);
    assert!(
        !stderr.contains("the load beside the normalizer") && !stderr.contains("instead"),
        "{stderr}"
    );
    load(&db, &seed, "merged", &args);
    load(&db, &base, "merged", &args);
    db.client()
        .await
        .batch_execute("DELETE FROM merged.events WHERE id = -1")
        .await
        .expect("delete the seed row");
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM streamed.events")
            .await,
        ["3000|3000"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM streamed.events__tags").await,
        ["2000"]
    );
    same_rows(&db, "streamed", "merged").await;
    assert_eq!(catalog(&db, "streamed").await, catalog(&db, "merged").await);
    let indexes = db
        .lines("SELECT indexname FROM pg_indexes WHERE schemaname = 'streamed' ORDER BY 1")
        .await;
    // upsert's child tables get their `_dlt_id` index from the first upsert that MERGEs.
    assert_eq!(indexes, ["events__primary_key", "events__tags__root_key"]);

    // The next load merges into the streamed tables as into any others.
    load(&db, &increment, "streamed", &args);
    load(&db, &increment, "merged", &args);
    same_rows(&db, "streamed", "merged").await;
    let expected = if strategy == "upsert" {
        ["3100|200|2900"]
    } else {
        ["3100|100|3000"]
    };
    assert_eq!(
        db.lines(
            "SELECT count(*), count(*) FILTER (WHERE name LIKE 'changed%'), \
             count(*) FILTER (WHERE name LIKE 'n%') FROM streamed.events"
        )
        .await,
        expected
    );
    // The list elements of a key's new version replace its old ones (upsert), or stay (insert-only); none is
    // left without its root row.
    let changed = if strategy == "upsert" { 2900 } else { 3000 };
    let lists = |ids: std::ops::Range<i64>, every: i64| ids.filter(|id| id % every == 0).count();
    assert_eq!(
        db.lines(
            "SELECT count(*) FILTER (WHERE t.value = 'changed'), count(*) FILTER (WHERE t.value = 'n'), \
             count(*) FILTER (WHERE e.id IS NULL) FROM streamed.events__tags t \
             LEFT JOIN streamed.events e ON e._dlt_id = t._dlt_root_id"
        )
        .await,
        [format!(
            "{}|{}|0",
            lists(changed..3100, 6),
            lists(0..changed, 3)
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_first_upsert_equals_the_staged_merge() {
    streamed_first_merge_equals_the_staged_one("upsert").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_first_insert_only_equals_the_staged_merge() {
    streamed_first_merge_equals_the_staged_one("insert-only").await;
}

/// Checks that every version of `dataset.events` is valid from the boundary of the load that inserted it (the
/// time of its load id).
async fn check_validity(db: &TestDb, dataset: &str) {
    assert_eq!(
        db.lines(&format!(
            "SELECT count(*) FROM {dataset}.events e JOIN {dataset}._dlt_loads l ON l.load_id = e._dlt_load_id \
             WHERE abs(extract(epoch FROM e._dlt_valid_from) - l.load_id::numeric) < 0.001"
        ))
        .await,
        db.lines(&format!("SELECT count(*) FROM {dataset}.events"))
            .await,
        "{dataset}: versions valid from their load's boundary"
    );
}

/// Blanks the validity values of `dataset.events` (active versions stay recognizable), as they differ between
/// datasets loaded at other times.
async fn blank_validity(db: &TestDb, dataset: &str) {
    db.client()
        .await
        .batch_execute(&format!(
            "UPDATE {dataset}.events SET _dlt_valid_from = NULL, \
             _dlt_valid_to = CASE WHEN _dlt_valid_to IS NULL THEN NULL ELSE '2000-01-01'::timestamptz END"
        ))
        .await
        .expect("blank the validity columns");
}

/// scd2 streamed into new tables: every row a version valid from the load's boundary, active, with the columns
/// (no default left behind) and indexes of a staged merge; the next load retires and inserts versions as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_first_scd2_equals_the_staged_merge() {
    let db = TestDb::new("first_scd2").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (seed, base, increment) = (
        dir.path().join("seed.jsonl"),
        dir.path().join("base.jsonl"),
        dir.path().join("increment.jsonl"),
    );
    write_events(&seed, -1..0, "seed");
    write_events(&base, 0..3000, "n");
    write_events(&increment, 2900..3100, "changed");
    let args = [
        "--write-disposition",
        "merge",
        "--merge-strategy",
        "scd2",
        "--merge-key",
        "id",
    ];
    let mut streaming = args.to_vec();
    streaming.extend(["--dataset", "streamed", "--pipeline", "streamed"]);
    let stderr = ele_load_streaming(&db, &base, "events", &streaming);
    assert!(
        !stderr.contains("the load beside the normalizer") && !stderr.contains("instead"),
        "{stderr}"
    );
    load(&db, &seed, "merged", &args);
    load(&db, &base, "merged", &args);
    db.client()
        .await
        .batch_execute("DELETE FROM merged.events WHERE id = -1")
        .await
        .expect("delete the seed row");
    assert_eq!(
        db.lines(
            "SELECT count(*), count(DISTINCT _dlt_id), count(_dlt_valid_to), count(DISTINCT _dlt_valid_from) \
             FROM streamed.events"
        )
        .await,
        ["3000|3000|0|1"]
    );
    // The columns as a staged merge leaves them: validity columns first, no default.
    assert_eq!(
        db.lines(
            "SELECT column_name, data_type, is_nullable, column_default IS NULL FROM information_schema.columns \
             WHERE table_schema = 'streamed' AND table_name = 'events' ORDER BY ordinal_position LIMIT 2"
        )
        .await,
        [
            "_dlt_valid_from|timestamp with time zone|YES|t",
            "_dlt_valid_to|timestamp with time zone|YES|t"
        ]
    );
    assert_eq!(catalog(&db, "streamed").await, catalog(&db, "merged").await);
    assert_eq!(
        db.lines("SELECT indexname FROM pg_indexes WHERE schemaname = 'streamed' ORDER BY 1")
            .await,
        ["events__row_version", "events__tags__row_key"]
    );
    for dataset in ["streamed", "merged"] {
        check_validity(&db, dataset).await;
        blank_validity(&db, dataset).await;
    }
    same_rows(&db, "streamed", "merged").await;

    // The next load retires the changed ids' versions and inserts their new ones, in both.
    load(&db, &increment, "streamed", &args);
    load(&db, &increment, "merged", &args);
    assert_eq!(
        db.lines(
            "SELECT count(*), count(*) FILTER (WHERE _dlt_valid_to IS NULL), \
             count(*) FILTER (WHERE name LIKE 'changed%' AND _dlt_valid_from IS NOT NULL) FROM streamed.events"
        )
        .await,
        ["3200|3100|200"]
    );
    for dataset in ["streamed", "merged"] {
        blank_validity(&db, dataset).await;
    }
    same_rows(&db, "streamed", "merged").await;
}

/// An item sent twice is one scd2 version: the rows COPYed while normalizing are rolled back and the package is
/// merged the usual way, which inserts it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_scd2_falls_back_when_a_version_repeats() {
    let db = TestDb::new("first_scd2_dup").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    write_events(&file, 0..3000, "n");
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str("{\"id\": 6, \"name\": \"n6\", \"tags\": [\"t1\", \"n\"]}\n");
    std::fs::write(&file, text).expect("write");
    let stderr = ele_load_streaming(
        &db,
        &file,
        "events",
        &[
            "--write-disposition",
            "merge",
            "--merge-strategy",
            "scd2",
            "--merge-key",
            "id",
        ],
    );
    assert!(stderr.contains("occurs twice"), "{stderr}");
    assert_eq!(
        db.lines(
            "SELECT count(*), count(DISTINCT _dlt_id), count(_dlt_valid_to) FROM events_dataset.events"
        )
        .await,
        ["3000|3000|0"]
    );
    assert_eq!(
        db.lines(
            "SELECT count(*) FROM events_dataset.events__tags WHERE _dlt_parent_id IN \
             (SELECT _dlt_id FROM events_dataset.events WHERE id = 6)"
        )
        .await,
        ["2"]
    );
    assert_eq!(
        db.lines(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'events_dataset' \
             AND column_default IS NOT NULL"
        )
        .await,
        ["0"]
    );
}

/// A key sent twice to a first upsert: the usual merge keeps the row sent last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_upsert_falls_back_when_a_key_repeats() {
    let db = TestDb::new("first_upsert_dup").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    let mut text = String::new();
    for id in 0..3000 {
        text.push_str(&serde_json::json!({"id": id, "name": format!("n{id}")}).to_string());
        text.push('\n');
    }
    text.push_str("{\"id\": 7, \"name\": \"again\"}\n");
    std::fs::write(&file, text).expect("write");
    ele_load_streaming(
        &db,
        &file,
        "events",
        &[
            "--write-disposition",
            "merge",
            "--merge-strategy",
            "upsert",
            "--primary-key",
            "id",
        ],
    );
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM events_dataset.events")
            .await,
        ["3000|3000"]
    );
    assert_eq!(
        db.lines("SELECT name FROM events_dataset.events WHERE id = 7")
            .await,
        ["again"]
    );
}

/// scd2 with its own validity column names, an "active" timestamp and a row version column, first loaded
/// straight into new tables inside the load transaction (a small load): active versions carry the active
/// timestamp and the given boundary, no default is left on the columns, the next load retires as usual. Two
/// items of one version in a first load keep the first, as the usual merge does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_first_scd2_with_an_active_timestamp_and_a_row_version_column() {
    use ele::prelude::*;
    use serde_json::{Value, json};
    let db = TestDb::new("first_scd2_active").await;
    let day = |y: i32, m: u32, d: u32| {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .expect("valid date")
    };
    let spec = |d: u32| {
        Scd2::default()
            .validity_columns("valid_from", "valid_to")
            .active_record_timestamp(day(9999, 12, 31))
            .boundary_timestamp(day(2024, 1, d))
            .row_version_column("version")
    };
    let products = |rows: Vec<Value>, d: u32| {
        ele::items(rows)
            .name("products")
            .merge_strategy(MergeStrategy::Scd2)
            .scd2(spec(d))
    };
    let p = db.pipeline("shop", "shop");
    p.run(products(
        vec![
            json!({"sku": "a", "version": "1", "colors": ["red"]}),
            json!({"sku": "b", "version": "2"}),
        ],
        1,
    ))
    .await
    .expect("day 1");
    let rows = "SELECT sku, version, valid_from::date, valid_to::date FROM shop.products ORDER BY sku, valid_from";
    assert_eq!(
        db.lines(rows).await,
        ["a|1|2024-01-01|9999-12-31", "b|2|2024-01-01|9999-12-31"]
    );
    assert_eq!(
        db.lines(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = 'shop' AND table_name = 'products' AND column_default IS NULL \
             AND column_name LIKE 'valid%' ORDER BY ordinal_position"
        )
        .await,
        [
            "valid_from|timestamp with time zone|YES",
            "valid_to|timestamp with time zone|YES"
        ]
    );
    assert_eq!(
        db.lines("SELECT value FROM shop.products__colors").await,
        ["red"]
    );
    p.run(products(vec![json!({"sku": "a", "version": "3"})], 2))
        .await
        .expect("day 2");
    assert_eq!(
        db.lines(rows).await,
        [
            "a|1|2024-01-01|2024-01-02",
            "a|3|2024-01-02|9999-12-31",
            "b|2|2024-01-01|2024-01-02"
        ]
    );

    let p = db.pipeline("shop2", "shop2");
    p.run(products(
        vec![
            json!({"sku": "a", "version": "1"}),
            json!({"sku": "b", "version": "1"}),
        ],
        1,
    ))
    .await
    .expect("repeated version");
    assert_eq!(
        db.lines("SELECT sku, valid_to::date FROM shop2.products")
            .await,
        ["a|9999-12-31"]
    );
    assert_eq!(
        db.lines(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'shop2' \
             AND column_default IS NOT NULL"
        )
        .await,
        ["0"]
    );
}
