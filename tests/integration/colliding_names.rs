//! Keys of one object that normalize to the same name (`Name` and `name`, `a b` and `a_b`): as dlt 1.31, the
//! last key's value is kept, for scalars, nested objects and lists alike, and every `_dlt_id` stays unique.

use ele::prelude::*;
use serde_json::json;

use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_scalars_keep_the_last_value_at_the_first_place() {
    let db = TestDb::new("collide_scalars").await;
    let p = db.pipeline("collide", "cs");
    p.run(items(vec![
        json!({"Name": "first", "id": 1, "name": "second", "a b": 1, "a_b": 2}),
    ]))
    .table_name("people")
    .await
    .expect("run");
    assert_eq!(
        db.columns("cs", "people").await,
        [
            "name|character varying|YES",
            "id|bigint|YES",
            "a_b|bigint|YES",
            "_dlt_load_id|character varying|NO",
            "_dlt_id|character varying|NO",
        ]
    );
    assert_eq!(
        db.lines("SELECT name, id, a_b FROM cs.people").await,
        ["second|1|2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_nested_objects_merge_and_the_first_key_wins_a_shared_field() {
    let db = TestDb::new("collide_dicts").await;
    let p = db.pipeline("collide", "cd");
    // dlt unfolds nested objects last-in-first-out: `Meta` is unfolded after `meta`, so its `x` is written last.
    p.run(items(vec![
        json!({"id": 1, "Meta": {"x": 1, "y": "from Meta"}, "meta": {"x": 2, "z": true}}),
    ]))
    .table_name("docs")
    .await
    .expect("run");
    assert_eq!(
        db.lines("SELECT id, meta__x, meta__y, meta__z FROM cd.docs")
            .await,
        ["1|1|from Meta|t"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_lists_keep_the_last_list_only() {
    let db = TestDb::new("collide_lists").await;
    let p = db.pipeline("collide", "cl");
    p.run(items(vec![
        json!({"id": 1, "Tags": ["a", "b", "c"], "tags": ["x", "y"], "a b": [{"k": 1}], "a_b": [{"k": 2}, {"k": 3}]}),
        json!({"id": 2, "tags": ["only"]}),
    ]))
    .table_name("posts")
    .await
    .expect("run");
    assert_eq!(
        db.lines(
            "SELECT p.id, t.value FROM cl.posts p JOIN cl.posts__tags t ON t._dlt_parent_id = p._dlt_id \
             ORDER BY p.id, t._dlt_list_idx"
        )
        .await,
        ["1|x", "1|y", "2|only"]
    );
    assert_eq!(
        db.lines(
            "SELECT p.id, c.k FROM cl.posts p JOIN cl.posts__a_b c ON c._dlt_parent_id = p._dlt_id \
             ORDER BY c._dlt_list_idx"
        )
        .await,
        ["1|2", "1|3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_lists_inside_lists_and_through_nested_paths_keep_one_list() {
    let db = TestDb::new("collide_nested_lists").await;
    let p = db.pipeline("collide", "cn");
    p.run(items(vec![json!({
        "id": 1,
        "orders": [
            {"Items": [1, 2, 3], "items": [4, 5]},
            {"items": [6], "ITEMS": [7, 8]},
        ],
        // `a__b` and `a` -> `b` name the same child table `docs__a__b`.
        "a": {"b": ["nested"]},
        "a__b": ["flat"],
    })]))
    .table_name("docs")
    .await
    .expect("run");
    assert_eq!(
        db.lines(
            "SELECT o._dlt_list_idx, i.value FROM cn.docs__orders o \
             JOIN cn.docs__orders__items i ON i._dlt_parent_id = o._dlt_id \
             ORDER BY o._dlt_list_idx, i._dlt_list_idx"
        )
        .await,
        ["0|4", "0|5", "1|7", "1|8"]
    );
    // The list met last while flattening wins: nested objects are unfolded after the object's own keys.
    assert_eq!(
        db.lines("SELECT value FROM cn.docs__a__b").await,
        ["nested"]
    );
}
