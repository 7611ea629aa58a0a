//! Column types from Rust at compile time: a `#[derive(ele::Item)]` struct's field types give its columns' types
//! and NOT NULL, `#[ele(...)]` field hints refine them and a resource's `columns` hints override them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use ele::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::support::TestDb;

#[derive(Serialize, Item)]
struct Customer {
    name: String,
    vip: Option<bool>,
}

#[derive(Serialize, Item)]
struct Line {
    sku: String,
    qty: i32,
}

#[derive(Serialize, Item)]
#[serde(rename_all = "camelCase")]
struct Order {
    order_id: i64,
    day: NaiveDate,
    amount: Decimal,
    note: Option<String>,
    small: i16,
    count: i32,
    big: u64,
    huge: i128,
    ratio: f64,
    paid: bool,
    at: DateTime<Utc>,
    local_at: NaiveDateTime,
    clock: NaiveTime,
    customer: Customer,
    referrer: Option<Customer>,
    blob: Vec<u8>,
    lines: Vec<Line>,
    #[serde(rename = "extra")]
    doc: serde_json::Value,
    id: uuid::Uuid,
    #[serde(skip)]
    #[allow(dead_code)]
    cache: String,
}

fn order() -> Order {
    Order {
        order_id: 1,
        day: NaiveDate::from_ymd_opt(2024, 3, 1).expect("date"),
        amount: "1234567890.123456789".parse().expect("decimal"),
        note: None,
        small: -7,
        count: 70000,
        big: u64::MAX,
        huge: i128::MAX,
        ratio: 0.5,
        paid: true,
        at: DateTime::parse_from_rfc3339("2024-03-01T10:00:00+02:00")
            .expect("timestamp")
            .with_timezone(&Utc),
        local_at: NaiveDate::from_ymd_opt(2024, 3, 1)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("date-time"),
        clock: NaiveTime::from_hms_opt(12, 34, 56).expect("time"),
        customer: Customer {
            name: "Ada".into(),
            vip: Some(true),
        },
        referrer: None,
        blob: vec![0xde, 0xad, 0xbe, 0xef],
        lines: vec![
            Line {
                sku: "A-1".into(),
                qty: 2,
            },
            Line {
                sku: "B-2".into(),
                qty: 1,
            },
        ],
        doc: serde_json::json!({"k": [1, 2]}),
        id: uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        cache: "not serialized".into(),
    }
}

#[resource(primary_key = "orderId", write_disposition = "merge")]
async fn orders(out: Emit<Order>) -> ele::Result<()> {
    out.send(order()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_struct_fields_give_column_types_not_null_and_rows() {
    let db = TestDb::new("typed_items").await;
    let p = db.pipeline("typed_items", "typed");
    p.run(orders()).await.expect("loads");
    assert_eq!(
        db.typed_columns("typed", "orders").await,
        [
            "order_id bigint NOT NULL",
            "day date NOT NULL",
            "amount numeric(38,9) NOT NULL",
            "note character varying",
            "small smallint NOT NULL",
            "count integer NOT NULL",
            "big numeric(20,0) NOT NULL",
            "huge numeric(39,0) NOT NULL",
            "ratio double precision NOT NULL",
            "paid boolean NOT NULL",
            "at timestamp with time zone NOT NULL",
            "local_at timestamp without time zone NOT NULL",
            "clock time without time zone NOT NULL",
            "customer__name character varying NOT NULL",
            "customer__vip boolean",
            "referrer__name character varying",
            "referrer__vip boolean",
            "blob bytea NOT NULL",
            "extra jsonb NOT NULL",
            "id character varying NOT NULL",
            "_dlt_load_id character varying NOT NULL",
            "_dlt_id character varying NOT NULL",
        ]
    );
    assert_eq!(
        db.lines(
            "SELECT order_id, day, amount, note, small, count, big, huge, paid, at, local_at, clock, \
             customer__name, customer__vip, referrer__name, encode(blob, 'hex'), extra, id FROM typed.orders"
        )
        .await,
        [
            "1|2024-03-01|1234567890.123456789|NULL|-7|70000|18446744073709551615|\
             170141183460469231731687303715884105727|t|2024-03-01 08:00:00+00|2024-03-01 10:00:00|12:34:56|\
             Ada|t|NULL|deadbeef|{\"k\": [1, 2]}|01234567-89ab-cdef-0123-456789abcdef"
        ]
    );
    // `Vec<Line>` is a child table, typed by inference as dlt types a nested table.
    assert_eq!(
        db.lines("SELECT sku, qty, _dlt_list_idx FROM typed.orders__lines ORDER BY _dlt_list_idx")
            .await,
        ["A-1|2|0", "B-2|1|1"]
    );
}

#[derive(Serialize, Item)]
struct Payment {
    id: i64,
    #[ele(data_type = "decimal", precision = 12, scale = 2)]
    amount: String,
    #[ele(unique)]
    reference: String,
    #[ele(nullable = false)]
    memo: Option<String>,
    #[ele(precision = 3)]
    at: DateTime<Utc>,
    #[serde(with = "serde_bytes")]
    raw: Vec<u8>,
}

#[resource]
async fn payments(out: Emit<Payment>) -> ele::Result<()> {
    out.send(Payment {
        id: 1,
        amount: "12.5".into(),
        reference: "R-1".into(),
        memo: Some("first".into()),
        at: DateTime::parse_from_rfc3339("2024-03-01T10:00:00.123456Z")
            .expect("timestamp")
            .with_timezone(&Utc),
        raw: vec![1, 2, 255],
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_field_hints_refine_the_types_columns() {
    let db = TestDb::new("typed_hints").await;
    let p = db.pipeline("typed_hints", "typed");
    p.run(payments()).await.expect("loads");
    assert_eq!(
        db.typed_columns("typed", "payments").await,
        [
            "id bigint NOT NULL",
            "amount numeric(12,2) NOT NULL",
            "reference character varying NOT NULL",
            "memo character varying NOT NULL",
            "at timestamp(3) with time zone NOT NULL",
            "raw bytea NOT NULL",
            "_dlt_load_id character varying NOT NULL",
            "_dlt_id character varying NOT NULL",
        ]
    );
    let unique = db
        .lines(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'typed' AND tablename = 'payments' \
             AND indexdef LIKE 'CREATE UNIQUE INDEX%(reference)%'",
        )
        .await;
    assert_eq!(unique, ["1"], "a UNIQUE index on `reference`");
    assert_eq!(
        db.lines("SELECT amount, at, encode(raw, 'hex') FROM typed.payments")
            .await,
        ["12.50|2024-03-01 10:00:00.123+00|0102ff"]
    );
}

#[derive(Serialize, Item)]
struct Reading {
    id: i64,
    value: u64,
    label: Option<String>,
}

#[resource(columns = r#"{"value": {"data_type": "bigint"}, "label": {"nullable": false}}"#)]
async fn readings(out: Emit<Reading>) -> ele::Result<()> {
    out.send(Reading {
        id: 1,
        value: 42,
        label: Some("a".into()),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_columns_hints_override_the_types() {
    let db = TestDb::new("typed_override").await;
    let p = db.pipeline("typed_override", "typed");
    // The builder's hints override too, whatever the order.
    let resource = readings().columns(ColumnHints::new().column("id", ColumnHint::text()));
    p.run(resource).await.expect("loads");
    assert_eq!(
        db.typed_columns("typed", "readings").await,
        [
            "id character varying NOT NULL",
            "value bigint NOT NULL",
            "label character varying NOT NULL",
            "_dlt_load_id character varying NOT NULL",
            "_dlt_id character varying NOT NULL",
        ]
    );
    assert_eq!(
        db.lines("SELECT id, value, label FROM typed.readings")
            .await,
        ["1|42|a"]
    );
}
