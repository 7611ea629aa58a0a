//! Write dispositions end to end: append, replace, merge, keys, staging dedup, system tables.

use ele::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::support::TestDb;

#[resource(write_disposition = "append")]
async fn numbers(out: Emit<Value>, from: i64, to: i64) -> ele::Result<()> {
    for i in from..to {
        out.send(json!({"n": i, "label": format!("n{i}")})).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_twice_doubles_rows() {
    let db = TestDb::new("append").await;
    let p = db.pipeline("numbers", "nums");
    let info = p.run(numbers(0, 3)).await.expect("first run");
    assert_eq!(info.rows("numbers"), 3);
    p.run(numbers(0, 3)).await.expect("second run");
    assert_eq!(
        db.lines("SELECT n, count(*) FROM nums.numbers GROUP BY n ORDER BY n")
            .await,
        ["0|2", "1|2", "2|2"]
    );
    // Two completed loads, each with status 0.
    assert_eq!(
        db.lines("SELECT count(*), min(status), max(status) FROM nums._dlt_loads")
            .await,
        ["2|0|0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn replace_twice_keeps_only_the_second_run() {
    let db = TestDb::new("replace").await;
    let p = db.pipeline("numbers", "nums");
    p.run(numbers(0, 5).write_disposition(WriteDisposition::Replace))
        .await
        .expect("first run");
    p.run(numbers(10, 12))
        .write_disposition(Replace)
        .await
        .expect("second run");
    assert_eq!(
        db.lines("SELECT n FROM nums.numbers ORDER BY n").await,
        ["10", "11"]
    );
}

#[derive(Serialize)]
struct Issue {
    id: i64,
    title: String,
    state: String,
}

#[resource(name = "issues", primary_key = "id", write_disposition = "merge")]
async fn issues(
    out: Emit<Issue>,
    batch: Vec<(i64, &'static str)>,
    state: String,
) -> ele::Result<()> {
    let page: Vec<Issue> = batch
        .into_iter()
        .map(|(id, title)| Issue {
            id,
            title: title.to_owned(),
            state: state.clone(),
        })
        .collect();
    out.send(page).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_keeps_one_row_per_key_with_the_newer_values() {
    let db = TestDb::new("merge").await;
    let p = db.pipeline("github", "gh");
    p.run(issues(vec![(1, "a"), (2, "b"), (3, "c")], "open".into()))
        .await
        .expect("first run");
    p.run(issues(
        vec![(2, "b2"), (3, "c2"), (4, "d")],
        "closed".into(),
    ))
    .await
    .expect("second run");
    assert_eq!(
        db.lines("SELECT id, title, state FROM gh.issues ORDER BY id")
            .await,
        ["1|a|open", "2|b2|closed", "3|c2|closed", "4|d|closed"]
    );
    // Primary key and system columns are NOT NULL, as dlt creates them.
    assert_eq!(
        db.columns("gh", "issues").await,
        [
            "id|bigint|NO",
            "title|character varying|YES",
            "state|character varying|YES",
            "_dlt_load_id|character varying|NO",
            "_dlt_id|character varying|NO",
        ]
    );
}

/// The first merge into new tables COPYs its rows frozen (every page holding rows all-visible and all-frozen,
/// nothing left for vacuum; PostgreSQL 16+ extends a table by several pages at a time and leaves the empty ones
/// unmarked); merges and replaces stage in temp tables, so no `<dataset>_staging` schema is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn first_merge_lands_frozen_and_staging_leaves_no_schema() {
    let db = TestDb::new("merge_frozen").await;
    let p = db.pipeline("github", "gh");
    let many: Vec<(i64, &str)> = (0..2000).map(|i| (i, "x")).collect();
    p.run(issues(many, "open".into())).await.expect("first run");
    db.rows("CREATE EXTENSION IF NOT EXISTS pg_visibility")
        .await;
    let frozen = "SELECT count(*) > 1, bool_and(all_visible AND all_frozen) \
                  FROM pg_visibility_map('gh.issues') WHERE blkno IN \
                  (SELECT DISTINCT (ctid::text::point)[0]::bigint FROM gh.issues)";
    assert_eq!(db.lines(frozen).await, ["t|t"]);

    p.run(issues(vec![(1, "a2"), (5000, "new")], "closed".into()))
        .await
        .expect("merge into the filled table");
    p.run(numbers(0, 3).write_disposition(Replace))
        .await
        .expect("replace");
    assert_eq!(
        db.lines("SELECT id, title, state FROM gh.issues WHERE id IN (0, 1, 5000) ORDER BY id")
            .await,
        ["0|x|open", "1|a2|closed", "5000|new|closed"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'gh%'")
            .await,
        ["1"]
    );
}

/// A small merge of mostly new, higher keys (the usual increment) deletes through the index range between its
/// smallest and largest key; a small merge of keys spread over the table looks each key up. Both replace
/// exactly the rows of their keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn small_merges_replace_exactly_their_keys() {
    let db = TestDb::new("merge_ranges").await;
    let p = db.pipeline("github", "gh");
    let base: Vec<(i64, &str)> = (0..3000).map(|i| (i, "old")).collect();
    p.run(issues(base, "open".into())).await.expect("base");
    // Keys 2990..3090: ten old ones at the top of the table, ninety new ones beyond it.
    let tail: Vec<(i64, &str)> = (2990..3090).map(|i| (i, "tail")).collect();
    p.run(issues(tail, "closed".into()))
        .await
        .expect("increment at the top");
    // Keys spread over the whole table.
    let spread: Vec<(i64, &str)> = (0..3000).step_by(100).map(|i| (i, "spread")).collect();
    p.run(issues(spread, "closed".into()))
        .await
        .expect("increment spread out");
    assert_eq!(
        db.lines(
            "SELECT title, count(*), min(id), max(id), count(DISTINCT id) FROM gh.issues \
             GROUP BY title ORDER BY title"
        )
        .await,
        [
            "old|2960|1|2989|2960",
            "spread|30|0|2900|30",
            "tail|100|2990|3089|100"
        ]
    );
}

/// The same small merges with text keys (one of them not ASCII) and child rows: the replaced rows' list
/// elements go with them, the new ones come in, nothing else moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn small_merges_of_text_keys_replace_their_child_rows() {
    let db = TestDb::new("merge_text_ranges").await;
    let p = db.pipeline("tagged", "tg");
    let run = |keys: Vec<String>, version: &'static str| {
        let page: Vec<Value> = keys
            .into_iter()
            .map(|id| json!({"id": id, "v": version, "tags": [format!("{version}-a"), format!("{version}-b")]}))
            .collect();
        p.run(items(page))
            .write_disposition(Merge)
            .primary_key("id")
            .table_name("things")
    };
    let key = |i: usize| format!("k{i:05}");
    run((0..3000).map(key).collect(), "old")
        .await
        .expect("base");
    // Ten old keys at the top, forty new ones beyond them, and one that sorts past every ASCII key.
    let mut tail: Vec<String> = (2990..3030).map(key).collect();
    tail.push("k\u{e9}t\u{e9}".to_owned());
    run(tail, "tail").await.expect("increment at the top");
    run((0..3000).step_by(100).map(key).collect(), "spread")
        .await
        .expect("increment spread out");
    assert_eq!(
        db.lines("SELECT v, count(*), count(DISTINCT id), min(id), max(id) FROM tg.things GROUP BY v ORDER BY v")
            .await,
        [
            "old|2960|2960|k00001|k02989",
            "spread|30|30|k00000|k02900",
            "tail|41|41|k02990|k\u{e9}t\u{e9}"
        ]
    );
    // Two list elements per root row, each of its root row's version.
    assert_eq!(
        db.lines(
            "SELECT t.v, count(*), bool_and(c.value LIKE t.v || '-%') FROM tg.things__tags AS c \
             JOIN tg.things AS t ON t._dlt_id = c._dlt_root_id GROUP BY t.v ORDER BY t.v"
        )
        .await,
        ["old|5920|t", "spread|60|t", "tail|82|t"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM tg.things__tags").await,
        ["6062"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_in_one_run_collapse_to_the_first_one() {
    let db = TestDb::new("dedup").await;
    let p = db.pipeline("github", "gh");
    p.run(issues(
        vec![(1, "first"), (2, "b"), (1, "second"), (1, "third")],
        "open".into(),
    ))
    .await
    .expect("run");
    assert_eq!(
        db.lines("SELECT id, title FROM gh.issues ORDER BY id")
            .await,
        ["1|first", "2|b"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compound_primary_key() {
    let db = TestDb::new("compound").await;
    let p = db.pipeline("pages", "web");
    let first = vec![
        json!({"id": 1, "url": "a", "v": 1}),
        json!({"id": 1, "url": "b", "v": 1}),
        json!({"id": 2, "url": "a", "v": 1}),
    ];
    let second = vec![
        json!({"id": 1, "url": "b", "v": 2}),
        json!({"id": 2, "url": "b", "v": 2}),
    ];
    for page in [first, second] {
        p.run(items(page))
            .write_disposition(Merge)
            .primary_key(("id", "url"))
            .table_name("pages")
            .await
            .expect("run");
    }
    assert_eq!(
        db.lines("SELECT id, url, v FROM web.pages ORDER BY id, url")
            .await,
        ["1|a|1", "1|b|2", "2|a|1", "2|b|2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_without_keys_appends() {
    let db = TestDb::new("mergenokey").await;
    let p = db.pipeline("nokey", "nk");
    for _ in 0..2 {
        p.run(items(vec![json!({"a": 1})]))
            .write_disposition(Merge)
            .table_name("t")
            .await
            .expect("run");
    }
    assert_eq!(db.lines("SELECT count(*) FROM nk.t").await, ["2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn state_and_loads_rows_are_committed_with_the_data() {
    let db = TestDb::new("state").await;
    let p = db.pipeline("stateful", "st");
    let info = p.run(numbers(0, 2)).await.expect("run");
    let load_id = &info.packages[0].load_id;
    assert_eq!(
        db.lines("SELECT load_id, schema_name, status FROM st._dlt_loads")
            .await,
        [format!("{load_id}|stateful|0")]
    );
    assert_eq!(
        db.lines("SELECT pipeline_name, _dlt_load_id, version, engine_version FROM st._dlt_pipeline_state").await,
        [format!("stateful|{load_id}|1|4")]
    );
    assert_eq!(
        db.lines("SELECT DISTINCT _dlt_load_id FROM st.numbers")
            .await,
        vec![load_id.to_string()]
    );
    assert_eq!(
        db.lines("SELECT schema_name FROM st._dlt_version").await,
        ["stateful"]
    );
    // The local state advanced to what was committed.
    let state = p.state().expect("state readable").expect("state saved");
    assert_eq!(state.version, 1);
    // Nothing new in the second run: data appended, but the unchanged state is not written again.
    p.run(numbers(5, 6)).await.expect("second run");
    assert_eq!(
        db.lines("SELECT count(*) FROM st._dlt_pipeline_state")
            .await,
        ["1"]
    );
    assert_eq!(db.lines("SELECT count(*) FROM st._dlt_loads").await, ["2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_committed_before_a_crash_is_not_applied_twice() {
    let db = TestDb::new("replay").await;
    let p = db.pipeline("replay", "rp");
    let info = p.run(numbers(0, 3)).await.expect("run");
    // Simulate a crash between the commit and the local bookkeeping: the package is pending again.
    let load_id = &info.packages[0].load_id;
    let loaded = p.working_dir().join("load/loaded").join(load_id);
    let pending = p.working_dir().join("load/normalized").join(load_id);
    std::fs::create_dir_all(pending.parent().expect("parent")).expect("mkdir");
    std::fs::rename(&loaded, &pending).expect("move back");
    let info = p.run(numbers(3, 4)).await.expect("rerun");
    assert_eq!(info.packages.len(), 2, "{info}");
    assert_eq!(
        info.packages[0].outcome,
        ele::destination::LoadOutcome::AlreadyLoaded
    );
    assert_eq!(
        db.lines("SELECT n FROM rp.numbers ORDER BY n").await,
        ["0", "1", "2", "3"]
    );
}

#[resource(write_disposition = "append")]
async fn failing(out: Emit<Value>) -> ele::Result<()> {
    out.send(json!({"a": 1})).await?;
    Err(ele::Error::config("the API returned 500"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_resource_commits_nothing() {
    let db = TestDb::new("failing").await;
    let p = db.pipeline("failing", "fl");
    let err = p.run(failing()).await.expect_err("must fail");
    assert!(err.to_string().contains("the API returned 500"), "{err}");
    assert_eq!(
        db.lines("SELECT count(*) FROM pg_namespace WHERE nspname = 'fl'")
            .await,
        ["0"]
    );
    assert!(p.state().expect("readable").is_none());
}

/// `_dlt_version` numbers schema versions as dlt does: a step per stage that changed the schema, so the
/// versions match those of a dlt pipeline fed the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_versions_are_numbered_as_dlt_numbers_them() {
    let db = TestDb::new("versions").await;
    let p = db.pipeline("versions", "vs");
    let run = |rows: Vec<Value>| p.run(ele::items(rows).name("t"));
    run(vec![json!({"id": 1})]).await.expect("first");
    run(vec![json!({"id": 2})]).await.expect("same columns");
    run(vec![json!({"id": 3, "new": 1})])
        .await
        .expect("a new column");
    run(vec![json!({"id": 4, "list": [1]})])
        .await
        .expect("a new child table");
    // dlt 1.31 gives 2 (extract and normalize of the first run), then 3 and 4.
    assert_eq!(
        db.lines("SELECT version FROM vs._dlt_version ORDER BY version")
            .await,
        ["2", "3", "4"]
    );
}
