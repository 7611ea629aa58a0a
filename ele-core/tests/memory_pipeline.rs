//! The pipeline against the in-memory destination: extract, normalize, load, state and incremental loading,
//! checked in milliseconds without a database (the PostgreSQL suite checks the same against a server).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ele_core::destination::memory::{MemoryDestination, MemoryRow};
use ele_core::destination::{Destination, LoadOutcome, Restored};
use ele_core::package::LoadPackage;
use ele_core::state::StateRow;
use ele_core::{
    Emit, Error, FnResource, Incremental, IncrementalConfig, Pipeline, Resource, ResourceExt,
    WriteDisposition, items,
};
use futures::future::BoxFuture;
use serde_json::{Value, json};

const DATASET: &str = "memory_data";

fn pipeline(name: &str, dir: &tempfile::TempDir, destination: impl Destination) -> Pipeline {
    Pipeline::builder(name)
        .destination(destination)
        .dataset_name(DATASET)
        .pipelines_dir(dir.path())
        .build()
        .expect("pipeline builds")
}

/// A merge resource with an incremental on `updated`, sending `rows`.
fn tickets(rows: Vec<Value>) -> impl Resource<Item = Value> {
    FnResource::new("tickets", move |out: Emit<Value>| async move {
        let _updated: Incremental<i64> = out.bind_incremental(
            IncrementalConfig::new()
                .cursor_path("updated")
                .initial_value(0),
            None,
        )?;
        out.send(rows).await
    })
    .primary_key("id")
    .write_disposition(WriteDisposition::Merge)
}

fn column(rows: &[MemoryRow], name: &str) -> Vec<Value> {
    rows.iter()
        .map(|r| r.get(name).cloned().unwrap_or(Value::Null))
        .collect()
}

fn sorted_ids(rows: &[MemoryRow]) -> Vec<i64> {
    let mut ids: Vec<i64> = column(rows, "id")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    ids.sort_unstable();
    ids
}

fn last_value(state: &ele_core::state::PipelineState, pipeline: &str) -> Value {
    state.sources[pipeline]["resources"]["tickets"]["incremental"]["updated"]["last_value"].clone()
}

#[tokio::test]
async fn appends_write_root_and_child_rows_and_commit_the_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("appender", &dir, memory.clone());
    let events = || {
        items(vec![
            json!({"id": 1, "tags": ["a", "b"], "at": "2024-01-01T00:00:00Z"}),
            json!({"id": 2, "tags": [], "meta": {"n": 1.5}}),
        ])
        .name("events")
    };
    let info = p.run(events()).await.expect("first run loads");
    assert_eq!(info.packages.len(), 1);
    p.run(events()).await.expect("second run loads");

    let roots = memory.rows(DATASET, "events");
    assert_eq!(sorted_ids(&roots), [1, 1, 2, 2]);
    assert_eq!(column(&roots, "meta__n")[1], json!(1.5));
    assert_eq!(column(&roots, "at")[0], json!("2024-01-01T00:00:00Z"));
    let tags = memory.rows(DATASET, "events__tags");
    assert_eq!(
        column(&tags, "value"),
        [json!("a"), json!("b"), json!("a"), json!("b")]
    );
    // Each child row points at a root row of its own load.
    let root_ids: Vec<Value> = column(&roots, "_dlt_id");
    assert!(
        column(&tags, "_dlt_parent_id")
            .iter()
            .all(|id| root_ids.contains(id))
    );
    assert_eq!(memory.loads(DATASET).len(), 2);

    let restored = memory
        .restore(DATASET, "appender", "appender")
        .await
        .expect("restores");
    let schema = restored.schema.expect("schema stored");
    let columns: Vec<&str> = schema.tables["events"]
        .columns
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(columns, ["id", "at", "_dlt_load_id", "_dlt_id", "meta__n"]);
}

#[tokio::test]
async fn an_incremental_merge_loads_only_new_and_changed_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("desk", &dir, memory.clone());
    p.run(tickets(vec![
        json!({"id": 1, "updated": 1, "title": "one"}),
        json!({"id": 2, "updated": 2, "title": "two"}),
        json!({"id": 3, "updated": 3, "title": "three"}),
    ]))
    .await
    .expect("first run loads");
    // The API returns the boundary row again (filtered by its hash), a changed row and a new one.
    p.run(tickets(vec![
        json!({"id": 3, "updated": 3, "title": "three"}),
        json!({"id": 2, "updated": 4, "title": "two, edited"}),
        json!({"id": 4, "updated": 5, "title": "four"}),
        json!({"id": 1, "updated": 0, "title": "stale"}),
    ]))
    .await
    .expect("second run loads");

    let rows = memory.rows(DATASET, "tickets");
    assert_eq!(sorted_ids(&rows), [1, 2, 3, 4]);
    let title = |id: i64| {
        rows.iter()
            .find(|r| r["id"] == json!(id))
            .map(|r| r["title"].clone())
    };
    assert_eq!(title(1), Some(json!("one")));
    assert_eq!(title(2), Some(json!("two, edited")));
    let committed = memory.state_row(DATASET, "desk").expect("state committed");
    let state = StateRow::decode(&committed.state).expect("state decodes");
    assert_eq!(last_value(&state, "desk"), json!(5));
    let local = p.state().expect("local state").expect("exists");
    assert_eq!(local.version, committed.version);
}

#[tokio::test]
async fn a_lost_working_dir_restores_the_state_from_the_destination() {
    let memory = MemoryDestination::new();
    let first_dir = tempfile::tempdir().expect("temp dir");
    pipeline("desk", &first_dir, memory.clone())
        .run(tickets(vec![json!({"id": 1, "updated": 7})]))
        .await
        .expect("loads");
    let committed = memory.state_row(DATASET, "desk").expect("state committed");
    let second_dir = tempfile::tempdir().expect("temp dir");
    let p = pipeline("desk", &second_dir, memory.clone());
    let info = p
        .run(tickets(vec![
            json!({"id": 1, "updated": 7}),
            json!({"id": 2, "updated": 6}),
        ]))
        .await
        .expect("runs");
    assert!(info.packages.is_empty(), "nothing new to load: {info}");
    assert_eq!(sorted_ids(&memory.rows(DATASET, "tickets")), [1]);
    let after = memory.state_row(DATASET, "desk").expect("state kept");
    assert_eq!(
        after.version, committed.version,
        "no new state was committed"
    );
    let state = StateRow::decode(&after.state).expect("state decodes");
    assert_eq!(last_value(&state, "desk"), json!(7));
}

#[tokio::test]
async fn replace_swaps_the_rows_of_the_root_and_its_children() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("lists", &dir, memory.clone());
    let lists = |rows: Vec<Value>| {
        items(rows)
            .name("lists")
            .write_disposition(WriteDisposition::Replace)
    };
    p.run(lists(vec![json!({"id": 1, "items": [1, 2, 3]})]))
        .await
        .expect("loads");
    p.run(lists(vec![json!({"id": 2, "items": [4]})]))
        .await
        .expect("replaces");
    assert_eq!(sorted_ids(&memory.rows(DATASET, "lists")), [2]);
    assert_eq!(
        column(&memory.rows(DATASET, "lists__items"), "value"),
        [json!(4)]
    );
}

/// A destination whose first load fails: the package must wait in the working dir and load exactly once.
struct FailsOnce {
    inner: MemoryDestination,
    failed: Arc<AtomicBool>,
}

impl Destination for FailsOnce {
    fn kind(&self) -> &'static str {
        "memory"
    }
    fn location(&self) -> String {
        "memory (failing once)".to_owned()
    }
    fn restore<'a>(
        &'a self,
        dataset: &'a str,
        pipeline_name: &'a str,
        schema_name: &'a str,
    ) -> BoxFuture<'a, ele_core::Result<Restored>> {
        self.inner.restore(dataset, pipeline_name, schema_name)
    }
    fn load<'a>(
        &'a self,
        package: &'a LoadPackage,
    ) -> BoxFuture<'a, ele_core::Result<LoadOutcome>> {
        if !self.failed.swap(true, Ordering::SeqCst) {
            return Box::pin(async { Err(Error::config("the destination refused the load")) });
        }
        self.inner.load(package)
    }
}

#[tokio::test]
async fn a_failed_load_stays_pending_and_the_next_run_loads_it_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(
        "desk",
        &dir,
        FailsOnce {
            inner: memory.clone(),
            failed: Arc::new(AtomicBool::new(false)),
        },
    );
    let rows = || {
        tickets(vec![
            json!({"id": 1, "updated": 1}),
            json!({"id": 2, "updated": 2}),
        ])
    };
    let err = p.run(rows()).await.expect_err("the first load fails");
    assert!(err.to_string().contains("refused the load"), "{err}");
    assert!(memory.rows(DATASET, "tickets").is_empty());
    assert!(
        p.state().expect("local state").is_none(),
        "state advances only with a commit"
    );

    let info = p.run(rows()).await.expect("the pending package loads");
    assert_eq!(
        info.packages.len(),
        1,
        "the pending package, and nothing new: {info}"
    );
    assert_eq!(sorted_ids(&memory.rows(DATASET, "tickets")), [1, 2]);
    assert_eq!(memory.loads(DATASET).len(), 1);
    let state = p.state().expect("local state").expect("committed");
    assert_eq!(last_value(&state, "desk"), json!(2));
}

#[tokio::test]
async fn a_naive_date_cursor_compares_dates_and_lags_in_days() {
    use chrono::NaiveDate;
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("daily", &dir, memory.clone());
    let started_at = Arc::new(std::sync::Mutex::new(None::<NaiveDate>));
    let days = |rows: Vec<Value>| {
        let started_at = started_at.clone();
        FnResource::new("days", move |out: Emit<Value>| async move {
            let day: Incremental<NaiveDate> = out.bind_incremental(
                IncrementalConfig::new()
                    .cursor_path("day")
                    .initial_value("2024-01-01")
                    .lag(1.0),
                None,
            )?;
            *started_at.lock().expect("not poisoned") = day.start_value();
            out.send(rows).await
        })
        .primary_key("id")
        .write_disposition(WriteDisposition::Merge)
    };
    let first = p
        .run(days(vec![
            json!({"id": 1, "day": "2023-12-31"}),
            json!({"id": 2, "day": "2024-01-02"}),
            json!({"id": 3, "day": "2024-01-03"}),
        ]))
        .await
        .expect("first run loads");
    assert_eq!(
        first.rows("days"),
        2,
        "the day before the initial value is filtered"
    );
    let second = p
        .run(days(vec![
            json!({"id": 2, "day": "2024-01-02"}),
            json!({"id": 4, "day": "2024-01-01"}),
            json!({"id": 5, "day": "2024-01-10"}),
        ]))
        .await
        .expect("second run loads");
    // The window starts a day behind the last value (2024-01-03), as a date.
    assert_eq!(
        *started_at.lock().expect("not poisoned"),
        NaiveDate::from_ymd_opt(2024, 1, 2)
    );
    assert_eq!(second.rows("days"), 2, "ids 2 and 5 are in the window");
    let state = p.state().expect("reads").expect("has state");
    assert_eq!(
        state.sources["daily"]["resources"]["days"]["incremental"]["day"]["last_value"],
        json!("2024-01-10")
    );
    assert_eq!(sorted_ids(&memory.rows(DATASET, "days")), [2, 3, 5]);
}
