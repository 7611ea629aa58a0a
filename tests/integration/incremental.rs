//! `Incremental<T>` and pipeline state, as the seed describes them.

use std::sync::{Arc, Mutex};

use ele::prelude::*;
use serde_json::{Value, json};

use crate::support::TestDb;

type Feed = Arc<Mutex<Vec<Value>>>;

fn feed(items: Vec<Value>) -> Feed {
    Arc::new(Mutex::new(items))
}

fn items_of(feed: &Feed) -> Vec<Value> {
    feed.lock().expect("feed lock").clone()
}

/// Events by id, newer than the last run's `created_at`; dedup by the resource's primary key.
#[resource(primary_key = "id", write_disposition = "append")]
async fn events(
    out: Emit<Value>,
    source: Feed,
    #[incremental(cursor = "created_at", initial_value = "1970-01-01T00:00:00Z")]
    created_at: Incremental<String>,
) -> ele::Result<()> {
    let _ = created_at.start_value();
    out.send(items_of(&source)).await
}

fn ev(id: i64, created_at: &str) -> Value {
    json!({"id": id, "created_at": created_at})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_run_loads_only_new_rows_and_skips_boundary_duplicates() {
    let db = TestDb::new("incr_basic").await;
    let p = db.pipeline("incr", "incr");
    let source = feed(vec![
        ev(1, "2024-01-01T00:00:00Z"),
        ev(2, "2024-01-02T00:00:00Z"),
        ev(3, "2024-01-02T00:00:00Z"),
    ]);
    p.run(events(source.clone())).await.expect("first run");
    // The same page again plus one row at the boundary value with a new id and one newer row.
    source
        .lock()
        .expect("lock")
        .extend([ev(4, "2024-01-02T00:00:00Z"), ev(5, "2024-01-03T00:00:00Z")]);
    let info = p.run(events(source.clone())).await.expect("second run");
    assert_eq!(info.rows("events"), 2, "{info}");
    assert_eq!(
        db.lines("SELECT id FROM incr.events ORDER BY id").await,
        ["1", "2", "3", "4", "5"]
    );
    // A third run with nothing new loads nothing.
    let info = p.run(events(source.clone())).await.expect("third run");
    assert_eq!(info.rows("events"), 0, "{info}");
    assert_eq!(db.lines("SELECT count(*) FROM incr.events").await, ["5"]);
    // State at dlt's path.
    let state = p.state().expect("readable").expect("saved");
    let entry = &state.sources["incr"]["resources"]["events"]["incremental"]["created_at"];
    assert_eq!(entry["last_value"], json!("2024-01-03T00:00:00Z"));
    assert_eq!(entry["initial_value"], json!("1970-01-01T00:00:00Z"));
    assert_eq!(entry["unique_hashes"].as_array().map(Vec::len), Some(1));
}

#[resource(primary_key = "delta", write_disposition = "append")]
async fn some_data(
    out: Emit<Value>,
    source: Feed,
    #[incremental(cursor = "item.ts", primary_key = ())] last_timestamp: Incremental<i64>,
) -> ele::Result<()> {
    let _ = last_timestamp.last_value();
    out.send(items_of(&source)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_primary_key_disables_dedup_on_a_nested_cursor() {
    let db = TestDb::new("incr_nodedup").await;
    let p = db.pipeline("nodedup", "nd");
    let source = feed(
        (0..3)
            .map(|i| json!({"delta": i, "item": {"ts": 10}}))
            .collect(),
    );
    p.run(some_data(source.clone())).await.expect("first");
    p.run(some_data(source.clone())).await.expect("second");
    // Without boundary hashes the rows at the last value come again.
    assert_eq!(db.lines("SELECT count(*) FROM nd.some_data").await, ["6"]);
    let state = p.state().expect("ok").expect("saved");
    assert_eq!(
        state.sources["nodedup"]["resources"]["some_data"]["incremental"]["item.ts"]["unique_hashes"],
        json!([])
    );
}

#[resource(primary_key = "id", write_disposition = "merge")]
async fn countdown(
    out: Emit<Value>,
    source: Feed,
    #[incremental(cursor = "n", initial_value = 100, last_value_func = "min")] n: Incremental<i64>,
) -> ele::Result<()> {
    let _ = n.start_value();
    out.send(items_of(&source)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_mirrors_the_bounds() {
    let db = TestDb::new("incr_min").await;
    let p = db.pipeline("countdown", "cd");
    let source = feed(vec![
        json!({"id": 1, "n": 90}),
        json!({"id": 2, "n": 80}),
        json!({"id": 3, "n": 120}),
    ]);
    p.run(countdown(source.clone())).await.expect("first");
    assert_eq!(
        db.lines("SELECT id FROM cd.countdown ORDER BY id").await,
        ["1", "2"]
    );
    source.lock().expect("lock").push(json!({"id": 4, "n": 70}));
    let info = p.run(countdown(source.clone())).await.expect("second");
    assert_eq!(info.rows("countdown"), 1);
    let state = p.state().expect("ok").expect("saved");
    assert_eq!(
        state.sources["countdown"]["resources"]["countdown"]["incremental"]["n"]["last_value"],
        json!(70)
    );
}

/// The seed's `by_event_type`: the last value is a map of the newest `created_at` per event type.
fn by_event_type(values: &[Value]) -> Value {
    let item = &values[0];
    let mut last = values
        .get(1)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let kind = item["type"].as_str().unwrap_or_default().to_owned();
    let created = item["created_at"].as_str().unwrap_or_default();
    let newer = match last.get(&kind).and_then(Value::as_str) {
        Some(current) if current >= created => current.to_owned(),
        _ => created.to_owned(),
    };
    last.insert(kind, Value::String(newer));
    Value::Object(last)
}

fn event_table(item: &Value) -> String {
    item["type"].as_str().unwrap_or("unknown").to_owned()
}

#[resource(primary_key = "id", table_name = event_table)]
async fn get_events(
    out: Emit<Value>,
    source: Feed,
    #[incremental(cursor = "$", last_value_func = by_event_type)] last_created_at: Incremental<
        Value,
    >,
) -> ele::Result<()> {
    let _ = last_created_at.last_value();
    out.send(items_of(&source)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_last_value_func_keeps_a_map_per_event_type() {
    let db = TestDb::new("incr_custom").await;
    let p = db.pipeline("custom", "cu");
    let source = feed(vec![
        json!({"id": 1, "type": "PushEvent", "created_at": "2024-01-01"}),
        json!({"id": 2, "type": "WatchEvent", "created_at": "2024-01-03"}),
        json!({"id": 3, "type": "PushEvent", "created_at": "2024-01-02"}),
    ]);
    p.run(get_events(source.clone())).await.expect("run");
    assert_eq!(
        db.lines("SELECT id FROM cu.push_event ORDER BY id").await,
        ["1", "3"]
    );
    assert_eq!(
        db.lines("SELECT id FROM cu.watch_event ORDER BY id").await,
        ["2"]
    );
    let state = p.state().expect("ok").expect("saved");
    assert_eq!(
        state.sources["custom"]["resources"]["get_events"]["incremental"]["$"]["last_value"],
        json!({"PushEvent": "2024-01-02", "WatchEvent": "2024-01-03"})
    );
}

#[resource(primary_key = "id", write_disposition = "merge")]
async fn repo_issues(
    out: Emit<Value>,
    source: Feed,
    #[incremental(cursor = "created_at", initial_value = "1970-01-01T00:00:00Z")]
    created_at: Incremental<String>,
) -> ele::Result<()> {
    // An API taking since/until: only the range is requested.
    let since = created_at.start_value().unwrap_or_default();
    let until = created_at.end_value();
    let page: Vec<Value> = items_of(&source)
        .into_iter()
        .filter(|i| {
            let c = i["created_at"].as_str().unwrap_or_default();
            c >= since.as_str() && until.as_deref().is_none_or(|u| c < u)
        })
        .collect();
    out.send(page).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_chunks_are_stateless_half_open_and_run_concurrently() {
    let db = TestDb::new("incr_backfill").await;
    let p = db.pipeline("issues", "gh");
    let source = feed(vec![
        ev(1, "2022-06-30T23:59:59Z"),
        ev(2, "2022-07-01T00:00:00Z"),
        ev(3, "2022-07-31T23:59:59Z"),
        ev(4, "2022-08-01T00:00:00Z"),
        ev(5, "2022-08-31T12:00:00Z"),
        ev(6, "2022-09-01T00:00:00Z"),
    ]);
    let july = repo_issues(source.clone()).created_at(Incremental::range(
        "2022-07-01T00:00:00Z",
        "2022-08-01T00:00:00Z",
    ));
    let august = repo_issues(source.clone()).created_at(Incremental::range(
        "2022-08-01T00:00:00Z",
        "2022-09-01T00:00:00Z",
    ));
    let (a, b) = tokio::join!(p.run(july).into_future(), p.run(august).into_future());
    a.expect("july");
    b.expect("august");
    assert_eq!(
        db.lines("SELECT id FROM gh.repo_issues ORDER BY id").await,
        ["2", "3", "4", "5"]
    );
    // Backfills neither read nor write incremental state: a normal run afterwards starts at the initial value.
    let state = p.state().expect("ok");
    let has_cursor = state
        .as_ref()
        .and_then(|s| s.sources.get("issues"))
        .and_then(|s| s.get("resources"))
        .is_some();
    assert!(!has_cursor, "{state:?}");
    p.run(repo_issues(source.clone()))
        .await
        .expect("incremental run");
    assert_eq!(db.lines("SELECT count(*) FROM gh.repo_issues").await, ["6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn lost_working_dir_is_restored_from_the_destination() {
    let db = TestDb::new("incr_restore").await;
    let p = db.pipeline("restore", "rs");
    let source = feed(vec![
        ev(1, "2024-01-01T00:00:00Z"),
        ev(2, "2024-01-02T00:00:00Z"),
    ]);
    p.run(events(source.clone())).await.expect("first");
    std::fs::remove_dir_all(p.working_dir()).expect("remove working dir");
    // A new machine: the state comes back from _dlt_pipeline_state, so nothing is loaded twice.
    let p = db.pipeline("restore", "rs");
    let info = p.run(events(source.clone())).await.expect("second");
    assert_eq!(info.rows("events"), 0, "{info}");
    assert_eq!(db.lines("SELECT count(*) FROM rs.events").await, ["2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_resets_the_incremental_to_its_initial_value() {
    let db = TestDb::new("incr_replace").await;
    let p = db.pipeline("refresh", "rf");
    let source = feed(vec![
        ev(1, "2024-01-01T00:00:00Z"),
        ev(2, "2024-01-02T00:00:00Z"),
    ]);
    p.run(events(source.clone())).await.expect("first");
    p.run(events(source.clone()))
        .write_disposition(Replace)
        .await
        .expect("full refresh");
    assert_eq!(
        db.lines("SELECT id FROM rf.events ORDER BY id").await,
        ["1", "2"]
    );
    // A plain run afterwards continues from the refreshed state.
    source
        .lock()
        .expect("lock")
        .push(ev(3, "2024-01-03T00:00:00Z"));
    let info = p.run(events(source.clone())).await.expect("after");
    assert_eq!(info.rows("events"), 1);
}

#[resource(write_disposition = "append")]
async fn failing_after_state(out: Emit<Value>, state: ResourceState) -> ele::Result<()> {
    state.set("marker", &"should not be committed")?;
    out.send(json!({"a": 1})).await?;
    Err(Error::config("boom"))
}

#[resource(write_disposition = "append")]
async fn players_games(
    out: Emit<Value>,
    state: ResourceState,
    archives: Vec<String>,
) -> ele::Result<()> {
    let mut loaded: Vec<String> = state.get_or_default("archives")?;
    for url in archives {
        if loaded.contains(&url) {
            continue;
        }
        out.send(json!({"archive": url, "game": 1})).await?;
        loaded.push(url);
    }
    state.set("archives", &loaded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_state_is_committed_with_the_data_and_untouched_by_a_failed_run() {
    let db = TestDb::new("incr_state").await;
    let p = db.pipeline("chess", "chess");
    p.run(players_games(vec!["2024/01".into(), "2024/02".into()]))
        .await
        .expect("first");
    p.run(players_games(vec!["2024/02".into(), "2024/03".into()]))
        .await
        .expect("second");
    assert_eq!(
        db.lines("SELECT archive FROM chess.players_games ORDER BY archive")
            .await,
        ["2024/01", "2024/02", "2024/03"]
    );
    let before = p.state().expect("ok").expect("saved");
    assert_eq!(
        before.sources["chess"]["resources"]["players_games"]["archives"],
        json!(["2024/01", "2024/02", "2024/03"])
    );
    p.run(failing_after_state()).await.expect_err("fails");
    assert_eq!(p.state().expect("ok").expect("saved"), before);
}

#[resource(primary_key = "id")]
async fn tickets(
    out: Emit<Value>,
    source: Feed,
    #[incremental(cursor = "updated_at", allow_external_schedulers = true)] updated_at: Incremental<
        i64,
    >,
) -> ele::Result<()> {
    // The API takes a start time: request from the scheduler's start (or the last run's value).
    let start = updated_at.start_value().unwrap_or(0);
    let page: Vec<Value> = items_of(&source)
        .into_iter()
        .filter(|t| t["updated_at"].as_i64().unwrap_or(0) >= start)
        .collect();
    out.send(page).await
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().expect("valid date-time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_scheduler_interval_maps_to_a_stateless_half_open_range() {
    let db = TestDb::new("incr_sched").await;
    let p = db.pipeline("zendesk", "zd");
    let week_start = utc("2023-02-12T00:00:00Z").timestamp();
    let week_end = utc("2023-02-19T00:00:00Z").timestamp();
    let source = feed(vec![
        json!({"id": 1, "updated_at": week_start - 1}),
        json!({"id": 2, "updated_at": week_start}),
        json!({"id": 3, "updated_at": week_end - 1}),
        json!({"id": 4, "updated_at": week_end}),
    ]);
    // Integer cursor: the interval becomes unix timestamps, [start, end).
    p.run(tickets(source.clone()))
        .interval(
            utc("2023-02-12T00:00:00Z"),
            Some(utc("2023-02-19T00:00:00Z")),
        )
        .await
        .expect("scheduled run");
    assert_eq!(
        db.lines("SELECT id FROM zd.tickets ORDER BY id").await,
        ["2", "3"]
    );
    let state = p.state().expect("ok");
    let cursor = state
        .as_ref()
        .and_then(|s| s.sources.get("zendesk"))
        .and_then(|s| s.get("resources"))
        .and_then(|r| r.get("tickets"));
    assert!(
        cursor.is_none(),
        "a scheduled run must not write incremental state: {state:?}"
    );
    // A manual run (start == end) loads from the start until now.
    p.run(tickets(source.clone()))
        .interval(
            utc("2023-02-19T00:00:00Z"),
            Some(utc("2023-02-19T00:00:00Z")),
        )
        .await
        .expect("manual run");
    assert_eq!(
        db.lines("SELECT id FROM zd.tickets ORDER BY id").await,
        ["2", "3", "4"]
    );
    // Without an interval the incremental keeps state as usual.
    p.run(tickets(source.clone())).await.expect("plain run");
    let state = p.state().expect("ok").expect("saved");
    assert_eq!(
        state.sources["zendesk"]["resources"]["tickets"]["incremental"]["updated_at"]["last_value"],
        json!(week_end)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn concurrent_stateful_runs_wait_for_each_other() {
    let db = TestDb::new("incr_concurrent").await;
    let p = db.pipeline("concurrent", "cc");
    let source = feed(
        (0..50)
            .map(|i| ev(i, &format!("2024-01-01T00:00:{i:02}Z")))
            .collect(),
    );
    p.run(events(source.clone())).await.expect("first run");
    source
        .lock()
        .expect("lock")
        .extend((50..60).map(|i| ev(i, &format!("2024-01-01T00:01:{:02}Z", i - 50))));
    // Two runs of the same pipeline at once: the second waits for the first and then starts from its state, so
    // the new rows are appended once.
    let (a, b) = tokio::join!(
        p.run(events(source.clone())).into_future(),
        p.run(events(source.clone())).into_future()
    );
    let (a, b) = (
        a.expect("first concurrent run"),
        b.expect("second concurrent run"),
    );
    assert_eq!(a.rows("events") + b.rows("events"), 10, "{a}\n{b}");
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM cc.events")
            .await,
        ["60|60"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_run_gives_up_waiting_with_a_clear_message() {
    let db = TestDb::new("incr_locked").await;
    let p = ele::Pipeline::builder("locked")
        .destination(db.postgres())
        .dataset_name("lk")
        .pipelines_dir(&db.pipelines_dir)
        .lock_timeout(std::time::Duration::from_millis(500))
        .build()
        .expect("builds");
    // Another process holds the pipeline's lock.
    let holder = db.client().await;
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtext('ele-run:lk:locked'))",
            &[],
        )
        .await
        .expect("lock");
    let err = p
        .run(events(feed(vec![ev(1, "2024-01-01T00:00:00Z")])))
        .await
        .expect_err("times out");
    assert!(
        err.to_string()
            .contains("pipeline `locked` (dataset `lk`) is being run by another process"),
        "{err}"
    );
    assert!(
        err.is_transient() && !err.is_config(),
        "a busy pipeline is worth retrying (exit code 75): {err:?}"
    );
    // A backfill chunk does not wait for it.
    let chunk = events(feed(vec![ev(1, "2024-01-01T00:00:00Z")])).created_at(Incremental::range(
        "2024-01-01T00:00:00Z",
        "2024-02-01T00:00:00Z",
    ));
    p.run(chunk)
        .await
        .expect("backfill runs beside the lock holder");
    assert_eq!(db.lines("SELECT count(*) FROM lk.events").await, ["1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_state_rows_are_pruned() {
    let db = TestDb::new("incr_prune").await;
    let p = db.pipeline("prune", "pr");
    let source = feed(Vec::new());
    for i in 0..13 {
        source
            .lock()
            .expect("lock")
            .push(ev(i, &format!("2024-01-01T00:00:{i:02}Z")));
        p.run(events(source.clone())).await.expect("run");
    }
    // Every run changed the state (a new last value); only the newest versions are kept.
    assert_eq!(
        db.lines("SELECT count(*), min(version), max(version) FROM pr._dlt_pipeline_state")
            .await,
        ["10|4|13"]
    );
    assert_eq!(db.lines("SELECT count(*) FROM pr.events").await, ["13"]);
    // The newest state is what a new machine restores.
    std::fs::remove_dir_all(p.working_dir()).expect("remove working dir");
    let info = db
        .pipeline("prune", "pr")
        .run(events(source.clone()))
        .await
        .expect("restored run");
    assert_eq!(info.rows("events"), 0, "{info}");
}
