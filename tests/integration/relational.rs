//! The relational layout across runs: root keys, merge keys, per-item tables, schema evolution, long names.

use ele::prelude::*;
use serde_json::{Value, json};

use crate::support::TestDb;

#[resource(name = "ads", write_disposition = "append")]
async fn ads(out: Emit<Value>, states: Vec<String>) -> ele::Result<()> {
    let all = [
        (1, "DISAPPROVED"),
        (2, "PAUSED"),
        (3, "DISAPPROVED"),
        (4, "PAUSED"),
    ];
    for (id, state) in all {
        if states.iter().any(|s| s == state) {
            out.send(json!({"id": id, "state": state, "creatives": [{"cid": id * 10}, {"cid": id * 10 + 1}]}))
                .await?;
        }
    }
    Ok(())
}

fn facebook_ads(states: &[&str]) -> Source {
    Source::new("facebook_ads")
        .resource(ads(states.iter().map(|s| s.to_string()).collect()).primary_key("id"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_key_lets_a_replace_load_be_merged_into_later() {
    let db = TestDb::new("fbads").await;
    let p = db.pipeline("facebook_insights", "fb");
    // Replace first, with root keys forced on: child rows carry _dlt_root_id.
    let mut fb = facebook_ads(&["DISAPPROVED"]);
    fb.set_root_key(true);
    p.run(fb.with_resources(["ads"]).expect("known resource"))
        .write_disposition(Replace)
        .await
        .expect("replace");
    assert_eq!(
        db.lines("SELECT count(*) FROM fb.ads__creatives WHERE _dlt_root_id IS NOT NULL")
            .await,
        ["4"]
    );
    // Then merge the paused ads: the disapproved ads stay.
    p.run(facebook_ads(&["PAUSED"]))
        .write_disposition(Merge)
        .await
        .expect("merge");
    assert_eq!(
        db.lines("SELECT id, state FROM fb.ads ORDER BY id").await,
        ["1|DISAPPROVED", "2|PAUSED", "3|DISAPPROVED", "4|PAUSED"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM fb.ads__creatives").await,
        ["8"]
    );
    // Merging the same ads again replaces their children instead of adding to them.
    p.run(facebook_ads(&["PAUSED"]))
        .write_disposition(Merge)
        .await
        .expect("merge again");
    assert_eq!(
        db.lines("SELECT count(*) FROM fb.ads__creatives").await,
        ["8"]
    );
    let unknown = facebook_ads(&[])
        .with_resources(["tickets"])
        .expect_err("unknown resource");
    assert!(
        unknown.to_string().contains("its resources are `ads`"),
        "{unknown}"
    );
}

#[resource(merge_key = "batch_day", write_disposition = "merge")]
async fn get_daily_batch(out: Emit<Value>, day: String, values: Vec<i64>) -> ele::Result<()> {
    let page: Vec<Value> = values
        .into_iter()
        .map(|v| json!({"batch_day": day, "value": v}))
        .collect();
    out.send(page).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_key_replaces_a_whole_batch_and_keeps_other_batches() {
    let db = TestDb::new("mergekey").await;
    let p = db.pipeline("daily", "daily");
    p.run(get_daily_batch("2024-01-01".into(), vec![1, 2]))
        .await
        .expect("day 1");
    p.run(get_daily_batch("2024-01-02".into(), vec![3]))
        .await
        .expect("day 2");
    p.run(get_daily_batch("2024-01-01".into(), vec![4, 5, 6]))
        .await
        .expect("day 1 again");
    assert_eq!(
        db.lines("SELECT batch_day, value FROM daily.get_daily_batch ORDER BY 1, 2")
            .await,
        [
            "2024-01-01|4",
            "2024-01-01|5",
            "2024-01-01|6",
            "2024-01-02|3"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compound_merge_key() {
    let db = TestDb::new("compoundmk").await;
    let p = db.pipeline("regions", "rg");
    let load = |rows: Vec<Value>| {
        p.run(items(rows))
            .table_name("sales")
            .write_disposition(Merge)
            .merge_key(("day", "region"))
    };
    load(vec![
        json!({"day": 1, "region": "eu", "v": 1}),
        json!({"day": 1, "region": "us", "v": 2}),
    ])
    .await
    .expect("first");
    load(vec![json!({"day": 1, "region": "eu", "v": 3})])
        .await
        .expect("second");
    assert_eq!(
        db.lines("SELECT day, region, v FROM rg.sales ORDER BY 1, 2, 3")
            .await,
        ["1|eu|3", "1|us|2"]
    );
}

fn by_type(event: &Value) -> String {
    event["type"].as_str().unwrap_or("other").to_owned()
}

#[resource(primary_key = "id", write_disposition = "merge", table_name = by_type)]
async fn github_repo_events(out: Emit<Value>, page: Vec<Value>) -> ele::Result<()> {
    out.send(page).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_table_per_event_type_with_child_tables() {
    let db = TestDb::new("dispatch").await;
    let p = db.pipeline("gh", "gh");
    let page = vec![
        json!({"id": 1, "type": "PushEvent", "payload": {"commits": [{"sha": "a"}, {"sha": "b"}]}}),
        json!({"id": 2, "type": "WatchEvent", "payload": {"action": "started"}}),
        json!({"id": 3, "type": "PushEvent", "payload": {"commits": [{"sha": "c"}]}}),
    ];
    p.run(github_repo_events(page.clone()))
        .await
        .expect("first");
    p.run(github_repo_events(page))
        .await
        .expect("again: merge keeps one row per id");
    assert_eq!(
        db.lines("SELECT id FROM gh.push_event ORDER BY id").await,
        ["1", "3"]
    );
    assert_eq!(
        db.lines("SELECT id, payload__action FROM gh.watch_event")
            .await,
        ["2|started"]
    );
    assert_eq!(
        db.lines(
            "SELECT e.id, c.sha FROM gh.push_event__payload__commits c JOIN gh.push_event e ON e._dlt_id = c._dlt_root_id ORDER BY 2"
        )
        .await,
        ["1|a", "1|b", "3|c"]
    );
    let tables = db
        .lines("SELECT table_name FROM information_schema.tables WHERE table_schema = 'gh' AND table_name NOT LIKE '\\_dlt%' ORDER BY 1")
        .await;
    assert_eq!(
        tables,
        ["push_event", "push_event__payload__commits", "watch_event"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn schema_evolves_new_columns_and_variants() {
    let db = TestDb::new("evolve").await;
    let p = db.pipeline("evolve", "ev");
    let long_key = "a_very_long_field_name_that_goes_on_and_on_beyond_what_postgres_allows_x";
    assert_eq!(long_key.len(), 72);
    p.run(items(vec![json!({"id": 1, "price": 10})]))
        .table_name("t")
        .await
        .expect("first");
    p.run(items(vec![
        json!({"id": 2, "price": "n/a", "note": "added", long_key: true}),
    ]))
    .table_name("t")
    .await
    .expect("second");
    let columns = db.columns("ev", "t").await;
    let names: Vec<&str> = columns
        .iter()
        .map(|c| c.split('|').next().unwrap_or_default())
        .collect();
    assert_eq!(&names[..4], ["id", "price", "_dlt_load_id", "_dlt_id"]);
    assert!(
        columns.contains(&"price__v_text|character varying|YES".to_owned()),
        "{columns:?}"
    );
    assert!(
        columns.contains(&"note|character varying|YES".to_owned()),
        "{columns:?}"
    );
    // Shortened to 63 characters with dlt's hash tag.
    let long = names
        .iter()
        .find(|n| n.starts_with("a_very_long"))
        .expect("long column");
    assert_eq!(long.len(), 63, "{long}");
    assert_eq!(
        db.lines("SELECT id, price, price__v_text, note FROM ev.t ORDER BY id")
            .await,
        ["1|10|NULL|NULL", "2|NULL|n/a|added"]
    );
    // The schema change is recorded in _dlt_version.
    assert_eq!(
        db.lines("SELECT count(DISTINCT version_hash) FROM ev._dlt_version")
            .await,
        ["2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_table_nesting_stores_deeper_data_as_json() {
    let db = TestDb::new("nesting").await;
    let p = db.pipeline("nesting", "ns");
    let item = json!({"id": 1, "a": {"b": {"c": 1}}, "list": [1, 2]});
    p.run(items(vec![item]).max_table_nesting(1))
        .table_name("t")
        .await
        .expect("run");
    assert_eq!(
        db.columns("ns", "t").await,
        [
            "id|bigint|YES",
            "a__b|jsonb|YES",
            "_dlt_load_id|character varying|NO",
            "_dlt_id|character varying|NO",
        ]
    );
    assert_eq!(
        db.lines("SELECT value FROM ns.t__list ORDER BY 1").await,
        ["1", "2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_with_no_rows_empties_the_table_chain() {
    let db = TestDb::new("replaceempty").await;
    let p = db.pipeline("rte", "rte");
    p.run(items(vec![json!({"id": 1, "items": [1, 2]})]))
        .table_name("rte")
        .write_disposition(Replace)
        .await
        .expect("first");
    p.run(items(Vec::<Value>::new()))
        .table_name("rte")
        .write_disposition(Replace)
        .await
        .expect("empty replace");
    assert_eq!(db.lines("SELECT count(*) FROM rte.rte").await, ["0"]);
    assert_eq!(db.lines("SELECT count(*) FROM rte.rte__items").await, ["0"]);
    assert_eq!(db.lines("SELECT count(*) FROM rte._dlt_loads").await, ["2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_after_a_merge_keeps_writing_root_keys() {
    let db = TestDb::new("mergeappend").await;
    let p = db.pipeline("mta", "mta");
    p.run(items(vec![json!({"id": 1, "items": [1]})]))
        .table_name("mta")
        .write_disposition(Merge)
        .primary_key("id")
        .await
        .expect("merge");
    p.run(items(vec![json!({"id": 1, "items": [2]})]))
        .table_name("mta")
        .write_disposition(Append)
        .await
        .expect("append");
    assert_eq!(
        db.lines("SELECT c.value FROM mta.mta__items c JOIN mta.mta p ON p._dlt_id = c._dlt_root_id ORDER BY 1").await,
        ["1", "2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_key_columns_are_required() {
    let db = TestDb::new("mknull").await;
    let p = db.pipeline("mkn", "mkn");
    let err = p
        .run(items(vec![
            json!({"day": 1, "v": "a"}),
            json!({"v": "no day"}),
        ]))
        .table_name("mkn")
        .write_disposition(Merge)
        .merge_key("day")
        .await
        .expect_err("a row without its merge key");
    assert!(
        err.to_string()
            .contains("item #2 has no value for merge key column `day`"),
        "{err}"
    );
}
