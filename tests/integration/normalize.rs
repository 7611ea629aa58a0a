//! Nested data and naming, as dlt lays them out.

use ele::prelude::*;
use serde_json::json;

use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_objects_become_double_underscore_columns_in_dlt_order() {
    let db = TestDb::new("nested").await;
    let p = db.pipeline("events", "ev");
    let event = json!({
        "id": "e1",
        "actor": {"id": 7, "login": "ann"},
        "type": "PushEvent",
        "payload": {"ref": "main", "size": 2},
        "public": true,
        "score": 1.5,
        "created_at": "2024-01-01T00:00:00Z"
    });
    p.run(items(vec![event]))
        .table_name("events")
        .await
        .expect("run");
    // Scalars of the item first in key order, then nested objects unfolded last-in-first-out, then
    // _dlt_load_id and _dlt_id (dlt 1.31's relational normalizer).
    assert_eq!(
        db.columns("ev", "events").await,
        [
            "id|character varying|YES",
            "type|character varying|YES",
            "public|boolean|YES",
            "score|double precision|YES",
            "created_at|timestamp with time zone|YES",
            "payload__ref|character varying|YES",
            "payload__size|bigint|YES",
            "actor__id|bigint|YES",
            "actor__login|character varying|YES",
            "_dlt_load_id|character varying|NO",
            "_dlt_id|character varying|NO",
        ]
    );
    assert_eq!(
        db.lines(
            "SELECT id, actor__login, payload__size, public, score, created_at FROM ev.events"
        )
        .await,
        ["e1|ann|2|t|1.5|2024-01-01 00:00:00+00"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_follow_dlt_snake_case() {
    let db = TestDb::new("naming").await;
    let p = db.pipeline("naming", "Naming Data");
    p.run(items(vec![
        json!({"Hello World!": 1, "camelCase": 2, "a-b": 3}),
    ]))
    .table_name("My Table")
    .await
    .expect("run");
    let columns: Vec<String> = db
        .columns("naming_data", "my_table")
        .await
        .into_iter()
        .map(|c| c.split('|').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        columns,
        [
            "hello_worldx",
            "camel_case",
            "a_b",
            "_dlt_load_id",
            "_dlt_id"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_become_child_tables_linked_to_their_parent() {
    let db = TestDb::new("children").await;
    let p = db.pipeline("events", "ev");
    let events = vec![
        json!({"id": 1, "payload": {"commits": [{"sha": "a", "author": {"name": "x"}}, {"sha": "b"}], "labels": ["bug", "docs"]}}),
        json!({"id": 2, "payload": {"commits": [], "labels": ["wontfix"]}}),
    ];
    p.run(items(events))
        .table_name("events")
        .write_disposition(Merge)
        .primary_key("id")
        .await
        .expect("run");
    assert_eq!(
        db.columns("ev", "events__payload__commits").await,
        [
            "sha|character varying|YES",
            "author__name|character varying|YES",
            "_dlt_root_id|character varying|NO",
            "_dlt_parent_id|character varying|NO",
            "_dlt_list_idx|bigint|NO",
            "_dlt_id|character varying|NO",
        ]
    );
    assert_eq!(
        db.lines(
            "SELECT e.id, c._dlt_list_idx, c.sha, c.author__name FROM ev.events__payload__commits c \
             JOIN ev.events e ON e._dlt_id = c._dlt_parent_id AND e._dlt_id = c._dlt_root_id ORDER BY 1, 2"
        )
        .await,
        ["1|0|a|x", "1|1|b|NULL"]
    );
    assert_eq!(
        db.lines(
            "SELECT e.id, l.value FROM ev.events__payload__labels l JOIN ev.events e ON e._dlt_id = l._dlt_parent_id \
             ORDER BY 1, l._dlt_list_idx"
        )
        .await,
        ["1|bug", "1|docs", "2|wontfix"]
    );
    // A merge that gives id 1 fewer list elements leaves no orphaned child rows.
    p.run(items(vec![
        json!({"id": 1, "payload": {"commits": [{"sha": "c"}], "labels": []}}),
    ]))
    .table_name("events")
    .write_disposition(Merge)
    .primary_key("id")
    .await
    .expect("second run");
    assert_eq!(
        db.lines(
            "SELECT e.id, c.sha FROM ev.events__payload__commits c JOIN ev.events e ON e._dlt_id = c._dlt_parent_id ORDER BY 1"
        )
        .await,
        ["1|c"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM ev.events__payload__commits")
            .await,
        ["1"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM ev.events__payload__labels")
            .await,
        ["1"]
    );
}
