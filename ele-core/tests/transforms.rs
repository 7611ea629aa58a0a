//! Resource transforms (`map`, `filter`, `flat_map`) and limits against the in-memory destination: what is
//! loaded, in which order the steps run relative to the incrementals (dlt's pipe), and the state a limited run
//! commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ele_core::destination::memory::{MemoryDestination, MemoryRow};
use ele_core::state::StateRow;
use ele_core::{
    Emit, Error, FnResource, Incremental, IncrementalConfig, Pipeline, Resource, ResourceExt,
    WriteDisposition, items,
};
use serde::Serialize;
use serde_json::{Value, json};

const DATASET: &str = "transform_data";

fn pipeline(name: &str, dir: &tempfile::TempDir, memory: &MemoryDestination) -> Pipeline {
    Pipeline::builder(name)
        .destination(memory.clone())
        .dataset_name(DATASET)
        .pipelines_dir(dir.path())
        .build()
        .expect("pipeline builds")
}

fn ids(rows: &[MemoryRow], column: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.get(column).and_then(Value::as_i64))
        .collect();
    ids.sort_unstable();
    ids
}

#[derive(Serialize)]
struct Order {
    id: i64,
    cents: i64,
}

#[derive(Serialize)]
struct Priced {
    order_id: i64,
    euros: f64,
}

/// Pages of `per_page` items with ids `1..=pages * per_page`, `updated` equal to the id; counts the pages the
/// body got to send in `sent`.
fn paged(pages: i64, per_page: i64, sent: Arc<AtomicU64>) -> impl Resource<Item = Value> {
    FnResource::new("pages", move |out: Emit<Value>| async move {
        let _updated: Incremental<i64> = out.bind_incremental(
            IncrementalConfig::new()
                .cursor_path("updated")
                .initial_value(0),
            None,
        )?;
        for page in 0..pages {
            let rows: Vec<Value> = (1..=per_page)
                .map(|i| {
                    let id = page * per_page + i;
                    json!({"id": id, "updated": id})
                })
                .collect();
            sent.fetch_add(1, Ordering::SeqCst);
            out.send(rows).await?;
        }
        Ok(())
    })
    .primary_key("id")
    .write_disposition(WriteDisposition::Merge)
}

fn last_updated(memory: &MemoryDestination, pipeline: &str) -> Value {
    let row = memory
        .state_row(DATASET, pipeline)
        .expect("state committed");
    let state = StateRow::decode(&row.state).expect("state decodes");
    state.sources[pipeline]["resources"]["pages"]["incremental"]["updated"]["last_value"].clone()
}

#[tokio::test]
async fn map_filter_and_flat_map_change_typed_items_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("shop", &dir, &memory);
    let orders = items(vec![
        Order { id: 1, cents: 250 },
        Order { id: 2, cents: 0 },
        Order { id: 3, cents: 1000 },
    ])
    .name("orders")
    .filter(|o: &Order| o.cents > 0)
    .map(|o: Order| Priced {
        order_id: o.id,
        euros: o.cents as f64 / 100.0,
    })
    // Each priced order becomes two rows, one per half.
    .flat_map(|p: Priced| {
        [1, 2].map(|half| json!({"order_id": p.order_id, "half": half, "euros": p.euros / 2.0}))
    });
    p.run(orders).await.expect("run loads");
    let rows = memory.rows(DATASET, "orders");
    assert_eq!(ids(&rows, "order_id"), [1, 1, 3, 3]);
    let euros: Vec<f64> = rows
        .iter()
        .filter(|r| r["order_id"] == json!(3))
        .filter_map(|r| r["euros"].as_f64())
        .collect();
    assert_eq!(euros, [5.0, 5.0]);
    assert!(
        rows.iter().all(|r| r.get("cents").is_none()),
        "the mapped items are loaded, not the originals: {rows:?}"
    );
}

#[tokio::test]
async fn transforms_run_before_the_incremental_which_reads_the_transformed_items() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("order", &dir, &memory);
    let sent = Arc::new(AtomicU64::new(0));
    // The map moves the cursor: the incremental (after it, as in dlt's pipe) sees `updated` = 100 + id.
    let shifted = paged(1, 3, Arc::clone(&sent)).map(|mut v: Value| {
        let id = v["id"].as_i64().unwrap_or_default();
        v["updated"] = json!(100 + id);
        v
    });
    p.run(shifted).await.expect("run loads");
    assert_eq!(last_updated(&memory, "order"), json!(103));
    // A filter dropping everything leaves the incremental nothing to see: the state stays.
    let none = paged(1, 3, sent).filter(|_: &Value| false);
    p.run(none).await.expect("second run");
    assert_eq!(last_updated(&memory, "order"), json!(103));
    assert_eq!(ids(&memory.rows(DATASET, "pages"), "id"), [1, 2, 3]);
}

#[tokio::test]
async fn limit_counts_yields_closes_the_resource_and_commits_its_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("limited", &dir, &memory);
    let sent = Arc::new(AtomicU64::new(0));
    p.run(paged(10, 5, Arc::clone(&sent)).limit(2))
        .await
        .expect("a limited run ends normally");
    // Two pages of five rows loaded; the second send returned `Closed`, which ended the body.
    assert_eq!(memory.rows(DATASET, "pages").len(), 10);
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert_eq!(last_updated(&memory, "limited"), json!(10));

    // The next run goes on from the committed state: the incremental drops the first two pages, which do not
    // count, so two new pages are loaded.
    p.run(paged(10, 5, Arc::clone(&sent)).limit(2))
        .await
        .expect("second limited run");
    assert_eq!(
        ids(&memory.rows(DATASET, "pages"), "id"),
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(last_updated(&memory, "limited"), json!(20));
}

#[tokio::test]
async fn limit_rows_counts_rows_and_loads_the_last_page_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("rows", &dir, &memory);
    let sent = Arc::new(AtomicU64::new(0));
    p.run(paged(10, 4, sent).limit_rows(6))
        .await
        .expect("run loads");
    // 4 rows, then 8 >= 6: the second page is the last, loaded whole.
    assert_eq!(memory.rows(DATASET, "pages").len(), 8);
}

#[tokio::test]
async fn limit_zero_loads_nothing_and_empty_pages_count_as_yields() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("zero", &dir, &memory);
    let sent = Arc::new(AtomicU64::new(0));
    p.run(paged(3, 2, Arc::clone(&sent)).limit(0))
        .await
        .expect("run ends");
    assert!(memory.rows(DATASET, "pages").is_empty());
    assert_eq!(sent.load(Ordering::SeqCst), 1);

    // An empty page is a yield (dlt counts empty pages unless counting rows).
    let empty_first = FnResource::new("events", |out: Emit<Value>| async move {
        out.send(Vec::<Value>::new()).await?;
        out.send(vec![json!({"id": 1})]).await?;
        out.send(vec![json!({"id": 2})]).await
    });
    p.run(empty_first.limit(2)).await.expect("run loads");
    assert_eq!(ids(&memory.rows(DATASET, "events"), "id"), [1]);
}

#[tokio::test]
async fn flat_mapped_items_are_yields_of_their_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("fanout", &dir, &memory);
    // One page of one item fanned out into five; a limit of three keeps the first three, as dlt's
    // `add_yield_map` passes each item on as a yield of its own.
    let fanned = items(vec![json!({"n": 5})])
        .name("numbers")
        .flat_map(|v: Value| (1..=v["n"].as_i64().unwrap_or(0)).map(|i| json!({"id": i})))
        .limit(3);
    p.run(fanned).await.expect("run loads");
    assert_eq!(ids(&memory.rows(DATASET, "numbers"), "id"), [1, 2, 3]);
}

#[tokio::test]
async fn limit_time_stops_at_the_first_yield_after_the_duration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("timed", &dir, &memory);
    let sent = Arc::new(AtomicU64::new(0));
    // A zero duration has passed at the first yield, which is loaded and closes the resource.
    p.run(paged(5, 2, Arc::clone(&sent)).limit_time(Duration::ZERO))
        .await
        .expect("run ends");
    assert_eq!(memory.rows(DATASET, "pages").len(), 2);
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_table_chosen_per_item_follows_the_transforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("tables", &dir, &memory);
    let events = || {
        items(vec![
            json!({"id": 1, "kind": "a"}),
            json!({"id": 2, "kind": "b"}),
        ])
    };
    let after = events()
        .name("events")
        .map(|mut v: Value| {
            v["kind"] = json!(format!("kind_{}", v["kind"].as_str().unwrap_or("x")));
            v
        })
        .table_name_fn(|v: &Value| v["kind"].as_str().unwrap_or("other").to_owned());
    p.run(after).await.expect("run loads");
    assert_eq!(ids(&memory.rows(DATASET, "kind_a"), "id"), [1]);
    assert_eq!(ids(&memory.rows(DATASET, "kind_b"), "id"), [2]);

    // Chosen before a map, the table would be chosen on items that are not the ones loaded: refused.
    let before = events()
        .name("events")
        .table_name_fn(|v: &Value| v["kind"].as_str().unwrap_or("other").to_owned())
        .map(|v: Value| v);
    let err = p.run(before).await.expect_err("refused");
    assert!(
        matches!(&err, Error::Resource { .. }) && err.to_string().contains("after `map`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_source_limit_limits_each_resource() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("limited_source", &dir, &memory);
    let pages = |name: &'static str| {
        FnResource::new(name, |out: Emit<Value>| async move {
            for id in 1..=5 {
                out.send(vec![json!({"id": id})]).await?;
            }
            Ok(())
        })
    };
    let source = ele_core::Source::new("api")
        .resource(pages("a"))
        .resource(pages("b"))
        .limit(2);
    p.run(source).await.expect("run loads");
    assert_eq!(ids(&memory.rows(DATASET, "a"), "id"), [1, 2]);
    assert_eq!(ids(&memory.rows(DATASET, "b"), "id"), [1, 2]);
}

/// dlt 1.31 on the same pages (`add_limit(2)` and `add_limit(2, count_rows=True)` with an incremental starting
/// at 4): `[{id: 5}]` and `[{id: 5}, {id: 6}]`.
#[tokio::test]
async fn limits_count_what_dlt_counts_around_the_incremental() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("as_dlt", &dir, &memory);
    let pages = |name: &'static str| {
        FnResource::new(name, |out: Emit<Value>| async move {
            let _id: Incremental<i64> = out.bind_incremental(
                IncrementalConfig::new().cursor_path("id").initial_value(4),
                None,
            )?;
            out.send(Vec::<Value>::new()).await?;
            out.send(vec![json!({"id": 1}), json!({"id": 2})]).await?;
            for id in 5..=7 {
                out.send(vec![json!({"id": id})]).await?;
            }
            Ok(())
        })
    };
    p.run(pages("yields").limit(2)).await.expect("run loads");
    p.run(pages("rows").limit_rows(2)).await.expect("run loads");
    assert_eq!(ids(&memory.rows(DATASET, "yields"), "id"), [5]);
    assert_eq!(ids(&memory.rows(DATASET, "rows"), "id"), [5, 6]);
}

/// A step placed behind the incremental (dlt's `insert_at`) may remove the cursor: the incremental still saw
/// it. Items it drops are not loaded and do not count towards the limit.
#[tokio::test]
async fn a_step_after_the_incremental_sees_only_what_it_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline("behind", &dir, &memory);
    let sent = Arc::new(AtomicU64::new(0));
    let behind = paged(4, 2, Arc::clone(&sent))
        .after_incremental(|mut v: Value| {
            // Odd ids are dropped; the cursor column is not loaded.
            let id = v["id"].as_i64().unwrap_or_default();
            if let Some(object) = v.as_object_mut() {
                object.remove("updated");
            }
            (id % 2 == 0).then_some(v)
        })
        .after_incremental(|mut v: Value| {
            v["second"] = json!(true);
            Some(v)
        })
        .limit_rows(3);
    p.run(behind).await.expect("run loads");
    let rows = memory.rows(DATASET, "pages");
    // Pages [1,2] and [3,4] pass the incremental; one row each survives the step: 2 rows < 3, then [5,6]: 3.
    assert_eq!(ids(&rows, "id"), [2, 4, 6]);
    assert!(
        rows.iter()
            .all(|r| r.get("updated").is_none() && r["second"] == json!(true))
    );
    assert_eq!(last_updated(&memory, "behind"), json!(6));
    assert_eq!(sent.load(Ordering::SeqCst), 3);
}

/// [`paged`] without the counter, its pages sent as `Value`s or, as the JSON Lines reader does, as documents.
fn paged_as(pages: i64, per_page: i64, docs: bool) -> impl Resource<Item = Value> {
    FnResource::new("pages", move |out: Emit<Value>| async move {
        let _updated: Incremental<i64> = out.bind_incremental(
            IncrementalConfig::new()
                .cursor_path("updated")
                .initial_value(0),
            None,
        )?;
        for page in 0..pages {
            let rows: Vec<Value> = (1..=per_page)
                .map(|i| {
                    let id = page * per_page + i;
                    json!({"id": id, "updated": id, "nested": {"tags": [id, "x"]}})
                })
                .collect();
            if docs {
                let mut parsed = Vec::new();
                for row in &rows {
                    let mut doc = ele_core::doc::Doc::new();
                    doc.parse_json(row.to_string().as_bytes())
                        .map_err(|e| Error::input(e.to_string()))?;
                    parsed.push(doc);
                }
                out.send_docs(parsed).await?;
            } else {
                out.send(rows).await?;
            }
        }
        Ok(())
    })
    .primary_key("id")
    .write_disposition(WriteDisposition::Merge)
}

#[tokio::test]
async fn documents_pass_the_incrementals_limits_and_transforms_as_values_do() {
    let mut outcomes = Vec::new();
    for docs in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let memory = MemoryDestination::new();
        let mut outcome = Vec::new();
        // Read by the incremental and the limit as they are.
        let p = pipeline("limited", &dir, &memory);
        p.run(paged_as(3, 2, docs).limit_rows(3))
            .await
            .expect("run loads");
        outcome.push((
            ids(&memory.rows(DATASET, "pages"), "id"),
            ids(&memory.rows(DATASET, "pages__nested__tags"), "value"),
            last_updated(&memory, "limited"),
        ));
        // A step after the incremental, a map and a table per item take `Value`s.
        let memory = MemoryDestination::new();
        let p = pipeline("behind", &dir, &memory);
        let behind = paged_as(2, 2, docs).after_incremental(|v: Value| {
            (v["id"].as_i64().unwrap_or_default() % 2 == 0).then_some(v)
        });
        p.run(behind).await.expect("run loads");
        outcome.push((
            ids(&memory.rows(DATASET, "pages"), "id"),
            Vec::new(),
            last_updated(&memory, "behind"),
        ));
        let memory = MemoryDestination::new();
        let p = pipeline("mapped", &dir, &memory);
        let mapped = paged_as(1, 3, docs)
            .map(|mut v: Value| {
                let id = v["id"].as_i64().unwrap_or_default();
                v["updated"] = json!(100 + id);
                v
            })
            .table_name_fn(|v: &Value| format!("t{}", v["id"].as_i64().unwrap_or_default() % 2));
        p.run(mapped).await.expect("run loads");
        outcome.push((
            ids(&memory.rows(DATASET, "t1"), "id"),
            ids(&memory.rows(DATASET, "t0"), "id"),
            last_updated(&memory, "mapped"),
        ));
        outcomes.push(outcome);
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(
        outcomes[1],
        [
            (vec![1, 2, 3, 4], vec![1, 2, 3, 4], json!(4)),
            (vec![2, 4], Vec::new(), json!(4)),
            (vec![1, 3], vec![2], json!(103)),
        ]
    );
}
