//! A run's `refresh` (dlt's `drop_sources`, `drop_resources`, `drop_data`) against the in-memory destination:
//! which tables go or are emptied, which state is wiped, and what the schema keeps.

use ele_core::destination::memory::MemoryDestination;
use ele_core::state::{PipelineState, StateRow};
use ele_core::{
    Emit, FnResource, Incremental, IncrementalConfig, Pipeline, RefreshMode, Resource, ResourceExt,
    items,
};
use serde_json::{Value, json};

const DATASET: &str = "refresh_data";

fn pipeline(dir: &tempfile::TempDir, memory: &MemoryDestination) -> Pipeline {
    Pipeline::builder("refresher")
        .destination(memory.clone())
        .dataset_name(DATASET)
        .pipelines_dir(dir.path())
        .build()
        .expect("pipeline builds")
}

/// Appends `rows` (each with a nested list) through an incremental on `id`, and sets a resource state key.
fn events(rows: Vec<Value>) -> impl Resource<Item = Value> {
    FnResource::new("events", move |out: Emit<Value>| async move {
        let _id: Incremental<i64> =
            out.bind_incremental(IncrementalConfig::new().cursor_path("id"), None)?;
        out.resource_state().set("seen", &true)?;
        out.source_state().set("token", &"abc")?;
        out.send(rows).await
    })
}

fn event(id: i64) -> Value {
    json!({"id": id, "tags": [format!("t{id}")]})
}

fn committed(memory: &MemoryDestination) -> PipelineState {
    let row = memory
        .state_row(DATASET, "refresher")
        .expect("state committed");
    StateRow::decode(&row.state).expect("state decodes")
}

fn ids(memory: &MemoryDestination, table: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = memory
        .rows(DATASET, table)
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_i64))
        .collect();
    ids.sort_unstable();
    ids
}

/// Loads events 1 and 2 and an `other` table with a column `extra`.
async fn first_runs(p: &Pipeline) {
    p.run(events(vec![event(1), event(2)]))
        .await
        .expect("events load");
    p.run(items(vec![json!({"id": 9, "extra": "x"})]).name("other"))
        .await
        .expect("other loads");
}

#[tokio::test]
async fn drop_resources_drops_the_runs_tables_and_their_state_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, &memory);
    first_runs(&p).await;
    // Event 1 again: without the refresh the incremental would drop it.
    p.run(events(vec![event(1)]))
        .refresh(RefreshMode::DropResources)
        .await
        .expect("refreshed run loads");
    assert_eq!(ids(&memory, "events"), [1]);
    assert_eq!(memory.rows(DATASET, "events__tags").len(), 1);
    assert_eq!(ids(&memory, "other"), [9]);
    let state = committed(&memory);
    let source = &state.sources["refresher"];
    assert_eq!(source["token"], json!("abc"), "source state stays");
    assert_eq!(
        source["resources"]["events"]["incremental"]["id"]["last_value"],
        json!(1),
        "the incremental started again"
    );
}

#[tokio::test]
async fn drop_data_empties_the_runs_tables_and_keeps_the_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, &memory);
    first_runs(&p).await;
    // No nested list this time: the child table is emptied all the same.
    p.run(events(vec![json!({"id": 1})]))
        .refresh(RefreshMode::DropData)
        .await
        .expect("refreshed run loads");
    assert_eq!(ids(&memory, "events"), [1]);
    assert!(memory.rows(DATASET, "events__tags").is_empty());
    assert_eq!(ids(&memory, "other"), [9]);
    let schema = p.stored_schema().expect("schema").expect("exists");
    assert!(schema.tables.contains_key("events__tags"), "schema kept");
}

#[tokio::test]
async fn drop_sources_drops_every_table_and_the_whole_source_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, &memory);
    first_runs(&p).await;
    p.run(items(vec![json!({"id": 10})]).name("other"))
        .refresh(RefreshMode::DropSources)
        .await
        .expect("refreshed run loads");
    assert_eq!(ids(&memory, "other"), [10]);
    let tables = memory.tables(DATASET);
    assert!(
        !tables.iter().any(|t| t.starts_with("events")),
        "{tables:?}"
    );
    let schema = p.stored_schema().expect("schema").expect("exists");
    assert!(!schema.tables.contains_key("events"));
    assert!(
        schema
            .tables
            .get("other")
            .is_some_and(|t| !t.columns.contains_key("extra")),
        "`other` was created anew from this run's rows"
    );
    let state = committed(&memory);
    assert!(
        state
            .sources
            .get("refresher")
            .is_none_or(|s| s.get("token").is_none() && s.get("resources").is_none()),
        "{:?}",
        state.sources
    );
}

#[tokio::test]
async fn a_pipeline_refresh_applies_to_every_run_unless_the_run_sets_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, &memory);
    first_runs(&p).await;
    let refreshing = Pipeline::builder("refresher")
        .destination(memory.clone())
        .dataset_name(DATASET)
        .pipelines_dir(dir.path())
        .refresh(RefreshMode::DropData)
        .build()
        .expect("pipeline builds");
    refreshing
        .run(events(vec![event(3)]))
        .await
        .expect("refreshed run loads");
    assert_eq!(ids(&memory, "events"), [3]);
    refreshing
        .run(events(vec![event(4)]))
        .await
        .expect("refreshed again");
    assert_eq!(ids(&memory, "events"), [4]);
    // The run's own mode wins: drop_resources drops `events__tags` too, and `other` stays either way.
    refreshing
        .run(events(vec![json!({"id": 5})]))
        .refresh(RefreshMode::DropResources)
        .await
        .expect("run's refresh");
    assert_eq!(ids(&memory, "events"), [5]);
    assert!(!memory.tables(DATASET).contains(&"events__tags".to_owned()));
    assert_eq!(ids(&memory, "other"), [9]);
}
