//! Merge strategies and merge hints on real PostgreSQL: upsert, insert-only, scd2, hard_delete, dedup_sort,
//! and the lag window of an incremental.

use ele::prelude::*;
use serde_json::{Value, json};

use crate::cli::ele;
use crate::support::TestDb;

#[resource(merge_strategy = "upsert", primary_key = "id", hard_delete = "deleted")]
async fn customers(out: Emit<Value>, rows: Vec<Value>) -> ele::Result<()> {
    out.send(rows).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn upsert_updates_in_place_deletes_flagged_keys_and_drops_vanished_list_elements()
{
    let db = TestDb::new("upsert").await;
    let p = db.pipeline("crm", "crm");
    p.run(customers(vec![
        json!({"id": 1, "name": "Ann", "tags": ["a", "b", "c"]}),
        json!({"id": 2, "name": "Bob", "tags": ["x"]}),
        json!({"id": 3, "name": "Cid"}),
    ]))
    .await
    .expect("first load");
    let ids_before = db
        .lines("SELECT id, _dlt_id FROM crm.customers ORDER BY id")
        .await;
    p.run(customers(vec![
        json!({"id": 1, "name": "Ann B.", "tags": ["a"]}),
        json!({"id": 2, "deleted": true}),
        json!({"id": 4, "name": "Dee", "tags": ["new"]}),
        // A delete of a key the table never had deletes nothing and inserts nothing.
        json!({"id": 5, "name": "ghost", "deleted": true}),
    ]))
    .await
    .expect("second load");
    assert_eq!(
        db.lines("SELECT id, name FROM crm.customers ORDER BY id")
            .await,
        ["1|Ann B.", "3|Cid", "4|Dee"]
    );
    // The root id is a hash of the key: unchanged by the update.
    let ids_after = db
        .lines("SELECT id, _dlt_id FROM crm.customers WHERE id IN (1, 3) ORDER BY id")
        .await;
    assert_eq!(ids_after, [ids_before[0].clone(), ids_before[2].clone()]);
    // Ann's list shrank to one element; Bob's elements went with him.
    assert_eq!(
        db.lines(
            "SELECT c.id, t.value, t._dlt_list_idx FROM crm.customers__tags t \
             JOIN crm.customers c ON c._dlt_id = t._dlt_root_id ORDER BY 1, 3"
        )
        .await,
        ["1|a|0", "4|new|0"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM crm.customers__tags").await,
        ["2"]
    );
    // The first load only inserted; this MERGE (flagged rows) looked the list elements up by their ids.
    assert_eq!(
        db.lines("SELECT indexname FROM pg_indexes WHERE schemaname = 'crm' AND tablename LIKE 'customers%' ORDER BY 1")
            .await,
        ["customers__primary_key", "customers__tags__root_key", "customers__tags__row_key"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_without_primary_key_is_an_error_naming_the_resource() {
    let db = TestDb::new("upsert_no_pk").await;
    let p = db.pipeline("crm", "crm");
    let err = p
        .run(ele::items(vec![json!({"id": 1})]).merge_strategy(MergeStrategy::Upsert))
        .table_name("people")
        .await
        .expect_err("upsert needs a primary key");
    let message = err.to_string();
    assert!(
        message.contains("`upsert` merge strategy needs a primary key"),
        "{message}"
    );
    // Nothing was created.
    assert_eq!(
        db.lines("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'crm'")
            .await,
        ["0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_with_a_repeated_key_and_nested_lists_fails_before_loading() {
    let db = TestDb::new("upsert_dup").await;
    let p = db.pipeline("crm", "crm");
    let err = p
        .run(customers(vec![
            json!({"id": 1, "tags": ["a"]}),
            json!({"id": 1, "tags": ["b", "c"]}),
        ]))
        .await
        .expect_err("versions of one key cannot be told apart");
    assert!(
        err.to_string()
            .contains("a primary key occurs more than once in this load"),
        "{err}"
    );
    // Without nested lists the last row sent for a key wins.
    p.run(customers(vec![
        json!({"id": 7, "name": "first"}),
        json!({"id": 7, "name": "last"}),
    ]))
    .await
    .expect("flat duplicates are resolved");
    assert_eq!(
        db.lines("SELECT id, name FROM crm.customers").await,
        ["7|last"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn insert_only_skips_keys_already_present() {
    let db = TestDb::new("insert_only").await;
    let p = db.pipeline("ledger", "ledger");
    let entries = |rows: Vec<Value>| {
        ele::items(rows)
            .name("entries")
            .primary_key("id")
            .merge_strategy(MergeStrategy::InsertOnly)
    };
    p.run(entries(vec![
        json!({"id": 1, "amount": 10, "lines": [{"sku": "a"}]}),
        json!({"id": 2, "amount": 20}),
    ]))
    .await
    .expect("first load");
    p.run(entries(vec![
        json!({"id": 1, "amount": 999, "lines": [{"sku": "changed"}, {"sku": "extra"}]}),
        json!({"id": 3, "amount": 30, "lines": [{"sku": "c"}]}),
    ]))
    .await
    .expect("second load");
    assert_eq!(
        db.lines("SELECT id, amount FROM ledger.entries ORDER BY id")
            .await,
        ["1|10", "2|20", "3|30"]
    );
    // Entry 1 keeps its original single line; the skipped version's lines are not attached to it.
    assert_eq!(
        db.lines(
            "SELECT e.id, l.sku FROM ledger.entries__lines l JOIN ledger.entries e ON e._dlt_id = l._dlt_root_id \
             ORDER BY 1, l._dlt_list_idx"
        )
        .await,
        ["1|a", "3|c"]
    );
}

#[resource(write_disposition = "merge", merge_strategy = "scd2")]
async fn products(out: Emit<Value>, rows: Vec<Value>) -> ele::Result<()> {
    out.send(rows).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn scd2_retires_missing_versions_and_inserts_new_ones() {
    let db = TestDb::new("scd2").await;
    let p = db.pipeline("shop", "shop");
    let day = |d: u32| {
        chrono::NaiveDate::from_ymd_opt(2024, 1, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .expect("valid date")
    };
    let at = |d: u32| Scd2::default().boundary_timestamp(day(d));
    p.run(
        products(vec![
            json!({"sku": "a", "price": 1, "colors": ["red", "blue"]}),
            json!({"sku": "b", "price": 2}),
        ])
        .scd2(at(1)),
    )
    .await
    .expect("day 1");
    // Day 2: a's price changes, b disappears.
    p.run(products(vec![json!({"sku": "a", "price": 5, "colors": ["red"]})]).scd2(at(2)))
        .await
        .expect("day 2");
    // Day 3: b comes back unchanged; a is unchanged.
    p.run(
        products(vec![
            json!({"sku": "a", "price": 5, "colors": ["red"]}),
            json!({"sku": "b", "price": 2}),
        ])
        .scd2(at(3)),
    )
    .await
    .expect("day 3");
    assert_eq!(
        db.lines(
            "SELECT sku, price, _dlt_valid_from::date, coalesce(_dlt_valid_to::date::text, 'active') \
             FROM shop.products ORDER BY sku, _dlt_valid_from"
        )
        .await,
        [
            "a|1|2024-01-01|2024-01-02",
            "a|5|2024-01-02|active",
            "b|2|2024-01-01|2024-01-02",
            "b|2|2024-01-03|active",
        ]
    );
    // Each version keeps its own list elements, inserted once.
    assert_eq!(
        db.lines(
            "SELECT p.price, c.value FROM shop.products__colors c JOIN shop.products p ON p._dlt_id = c._dlt_parent_id \
             ORDER BY 1, c._dlt_list_idx"
        )
        .await,
        ["1|red", "1|blue", "5|red"]
    );
    // The validity columns come first, as dlt creates them.
    let columns = db.columns("shop", "products").await;
    assert_eq!(
        columns[..2],
        [
            "_dlt_valid_from|timestamp with time zone|YES",
            "_dlt_valid_to|timestamp with time zone|YES"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scd2_with_a_compound_merge_key_retires_only_within_the_loaded_partitions() {
    let db = TestDb::new("scd2_mk").await;
    let p = db.pipeline("stock", "stock");
    let levels = |rows: Vec<Value>| {
        ele::items(rows)
            .name("levels")
            .merge_key(("store", "day"))
            .merge_strategy(MergeStrategy::Scd2)
    };
    p.run(levels(vec![
        json!({"store": "1", "day": "12", "sku": "a", "qty": 1}),
        json!({"store": "11", "day": "2", "sku": "b", "qty": 2}),
    ]))
    .await
    .expect("first load");
    // Partition ("1", "12") is reloaded without sku a; ("11", "2") concatenates to the same "112" but is another
    // partition and must stay active.
    p.run(levels(vec![
        json!({"store": "1", "day": "12", "sku": "c", "qty": 3}),
    ]))
    .await
    .expect("second load");
    assert_eq!(
        db.lines("SELECT sku, _dlt_valid_to IS NULL FROM stock.levels ORDER BY sku")
            .await,
        ["a|f", "b|t", "c|t"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn delete_insert_hard_delete_and_dedup_sort_choose_the_newest_version() {
    let db = TestDb::new("dedup_sort").await;
    let p = db.pipeline("orders", "orders");
    let orders = |rows: Vec<Value>| {
        ele::items(rows)
            .name("orders")
            .write_disposition(Merge)
            .primary_key("id")
            .hard_delete("deleted_at")
            .dedup_sort("version", SortOrder::Desc)
    };
    p.run(orders(vec![
        json!({"id": 1, "version": 1, "status": "new", "items": [1, 2]}),
        json!({"id": 1, "version": 3, "status": "shipped", "items": [3]}),
        json!({"id": 1, "version": 2, "status": "paid"}),
        json!({"id": 2, "version": 1, "status": "new"}),
        json!({"id": 3, "version": 1, "status": "new"}),
    ]))
    .await
    .expect("first load");
    assert_eq!(
        db.lines("SELECT id, version, status FROM orders.orders ORDER BY id")
            .await,
        ["1|3|shipped", "2|1|new", "3|1|new"]
    );
    assert_eq!(
        db.lines("SELECT value FROM orders.orders__items").await,
        ["3"]
    );
    // A timestamp hard-delete column: a row with a value deletes the key; the newest version of 3 is a delete.
    p.run(orders(vec![
        json!({"id": 2, "version": 2, "deleted_at": "2024-05-01T00:00:00Z"}),
        json!({"id": 3, "version": 3, "deleted_at": "2024-05-01T00:00:00Z"}),
        json!({"id": 3, "version": 2, "status": "paid"}),
    ]))
    .await
    .expect("second load");
    assert_eq!(
        db.lines("SELECT id, status FROM orders.orders ORDER BY id")
            .await,
        ["1|shipped"]
    );
}

#[resource(write_disposition = "merge", primary_key = "id")]
async fn readings(
    out: Emit<Value>,
    rows: Vec<Value>,
    #[incremental(cursor = "day", initial_value = "2024-01-01", lag = 2)] day: Incremental<String>,
) -> ele::Result<()> {
    let _ = &day;
    out.send(rows).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_reloads_the_last_two_days_and_merge_absorbs_them() {
    let db = TestDb::new("lag").await;
    let p = db.pipeline("meter", "meter");
    let rows = |days: &[(u32, i64)]| -> Vec<Value> {
        days.iter()
            .map(|(d, v)| json!({"id": d, "day": format!("2024-01-{d:02}"), "value": v}))
            .collect()
    };
    p.run(readings(rows(&[
        (1, 10),
        (2, 20),
        (3, 30),
        (4, 40),
        (5, 50),
    ])))
    .await
    .expect("first load");
    // Late corrections for days 3 and 4 arrive with day 6; day 2 is outside the two-day window.
    let info = p
        .run(readings(rows(&[
            (2, 99),
            (3, 33),
            (4, 44),
            (5, 50),
            (6, 60),
        ])))
        .await
        .expect("second load");
    assert_eq!(info.rows("readings"), 4, "days 3..=6 pass the lagged start");
    assert_eq!(
        db.lines("SELECT id, value FROM meter.readings ORDER BY id")
            .await,
        ["1|10", "2|20", "3|33", "4|44", "5|50", "6|60"]
    );
    let state = p.state().expect("state readable").expect("state saved");
    assert_eq!(
        state.sources["meter"]["resources"]["readings"]["incremental"]["day"]["last_value"],
        json!("2024-01-06")
    );
    // A third run with nothing new re-reads the window and keeps the last value.
    p.run(readings(rows(&[(5, 50), (6, 60)])))
        .await
        .expect("third load");
    let state = p.state().expect("state readable").expect("state saved");
    assert_eq!(
        state.sources["meter"]["resources"]["readings"]["incremental"]["day"]["last_value"],
        json!("2024-01-06")
    );
    assert_eq!(db.lines("SELECT count(*) FROM meter.readings").await, ["6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn ele_load_takes_a_merge_strategy_hard_delete_and_dedup_sort() {
    let db = TestDb::new("cli_strategy").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    std::fs::write(
        &first,
        "{\"id\": 1, \"v\": \"a\", \"seq\": 1}\n{\"id\": 1, \"v\": \"a-newer\", \"seq\": 2}\n{\"id\": 2, \"v\": \"b\", \"seq\": 1}\n",
    )
    .expect("write");
    std::fs::write(
        &second,
        "{\"id\": 2, \"gone\": true, \"seq\": 3}\n{\"id\": 3, \"v\": \"c\", \"seq\": 1}\n",
    )
    .expect("write");
    for file in [&first, &second] {
        let out = ele(
            &db,
            &[
                "load",
                file.to_str().expect("utf-8 path"),
                "--table",
                "things",
                "--primary-key",
                "id",
                "--merge-strategy",
                "upsert",
                "--hard-delete",
                "gone",
                "--dedup-sort",
                "seq:desc",
            ],
        );
        assert!(
            out.status.success(),
            "ele load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        db.lines("SELECT id, v FROM things_dataset.things ORDER BY id")
            .await,
        ["1|a-newer", "3|c"]
    );
    // A strategy with another disposition is a usage error (exit code 2) that says what to change.
    let out = ele(
        &db,
        &[
            "load",
            first.to_str().expect("utf-8 path"),
            "--table",
            "things",
            "--write-disposition",
            "append",
            "--merge-strategy",
            "scd2",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--merge-strategy needs --write-disposition merge"),
        "{stderr}"
    );
}
