//! Resource transforms and limits against PostgreSQL: `#[resource]` values mapped, filtered and flat-mapped
//! (typed items in, the column types of the items that come out), and a limited incremental first run that
//! stops cleanly with its state committed, the next run going on from it.

use ele::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::support::TestDb;

const DATASET: &str = "shaped";

#[derive(Serialize)]
struct Order {
    id: i64,
    cents: i64,
    lines: Vec<String>,
}

#[derive(Serialize)]
struct Line {
    order_id: i64,
    line: String,
    euros: f64,
}

#[resource(write_disposition = "append")]
async fn orders(out: Emit<Order>) -> ele::Result<()> {
    out.send(vec![
        Order {
            id: 1,
            cents: 250,
            lines: vec!["a".into(), "b".into()],
        },
        Order {
            id: 2,
            cents: 0,
            lines: vec!["c".into()],
        },
        Order {
            id: 3,
            cents: 1000,
            lines: vec!["d".into()],
        },
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_filter_and_flat_map_shape_typed_items() {
    let db = TestDb::new("transforms_shape").await;
    let p = db.pipeline("shaper", DATASET);
    let lines = orders()
        .filter(|o: &Order| o.cents > 0)
        .flat_map(|o: Order| {
            let euros = o.cents as f64 / 100.0;
            o.lines.into_iter().map(move |line| Line {
                order_id: o.id,
                line,
                euros,
            })
        })
        .map(|l: Line| json!({"order_id": l.order_id, "line": l.line.to_uppercase(), "euros": l.euros}));
    p.run(lines).await.expect("run loads");
    assert_eq!(
        db.lines(&format!(
            "SELECT order_id, line, euros FROM {DATASET}.orders ORDER BY order_id, line"
        ))
        .await,
        ["1|A|2.5", "1|B|2.5", "3|D|10"]
    );
    assert_eq!(
        db.columns(DATASET, "orders").await,
        [
            "order_id|bigint|YES",
            "line|character varying|YES",
            "euros|double precision|YES",
            "_dlt_load_id|character varying|NO",
            "_dlt_id|character varying|NO",
        ]
    );
}

/// Ten pages of five events, `id` 1..=50, through an incremental on `id`.
#[resource(primary_key = "id", write_disposition = "merge")]
async fn events(
    out: Emit<Value>,
    #[incremental(cursor = "id", initial_value = 0)] id: Incremental<i64>,
) -> ele::Result<()> {
    let since = id.start_value().unwrap_or_default();
    for page in 0..10 {
        let rows: Vec<Value> = (1..=5)
            .map(|i| page * 5 + i)
            .filter(|i| *i > since)
            .map(|i| json!({"id": i}))
            .collect();
        out.send(rows).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_first_run_commits_its_state_and_the_next_goes_on() {
    let db = TestDb::new("transforms_limit").await;
    let p = db.pipeline("limited", DATASET);
    let last_value = |db: &TestDb| {
        let state = p.state().expect("state").expect("exists");
        let value =
            state.sources["limited"]["resources"]["events"]["incremental"]["id"]["last_value"]
                .clone();
        let _ = db;
        value
    };
    p.run(events().limit(3)).await.expect("limited run loads");
    assert_eq!(
        db.lines(&format!("SELECT count(*), max(id) FROM {DATASET}.events"))
            .await,
        ["15|15"]
    );
    assert_eq!(last_value(&db), json!(15));
    // The state the destination holds is the local one.
    let local = p.state().expect("state").expect("exists");
    assert_eq!(
        db.lines(&format!(
            "SELECT max(version) FROM {DATASET}._dlt_pipeline_state"
        ))
        .await,
        [local.version.to_string()]
    );

    // Counting rows: the page reaching 12 rows (the third) is loaded whole.
    p.run(events().limit_rows(12))
        .await
        .expect("second run loads");
    assert_eq!(
        db.lines(&format!("SELECT count(*), max(id) FROM {DATASET}.events"))
            .await,
        ["30|30"]
    );
    assert_eq!(last_value(&db), json!(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_after_the_incremental_reshapes_the_loaded_rows() {
    let db = TestDb::new("transforms_after").await;
    let p = db.pipeline("behind", DATASET);
    let doubled = events()
        .after_incremental(|v: Value| {
            let id = v["id"].as_i64()?;
            (id % 2 == 1).then(|| json!({"id": id, "doubled": id * 2}))
        })
        .limit(2);
    p.run(doubled).await.expect("run loads");
    assert_eq!(
        db.lines(&format!(
            "SELECT id, doubled FROM {DATASET}.events ORDER BY id"
        ))
        .await,
        ["1|2", "3|6", "5|10", "7|14", "9|18"]
    );
    let state = p.state().expect("state").expect("exists");
    assert_eq!(
        state.sources["behind"]["resources"]["events"]["incremental"]["id"]["last_value"],
        json!(10)
    );
}
