//! `Incremental<T>` over the cursor types of optional crates: `rust_decimal::Decimal` (compared and lagged digit
//! for digit) and jiff's `Timestamp` and `civil::Date` (compared as instants and dates, lagged in seconds and days).

use std::sync::{Arc, Mutex};

use ele::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use crate::support::TestDb;

type Feed<T> = Arc<Mutex<Vec<T>>>;

fn items_of<T: Clone>(feed: &Feed<T>) -> Vec<T> {
    feed.lock().expect("feed lock").clone()
}

#[derive(Serialize, Item, Clone)]
struct Price {
    id: i64,
    version: Decimal,
}

fn price(id: i64, version: &str) -> Price {
    let version = version.parse().expect("a decimal literal");
    Price { id, version }
}

/// Prices newer than the last version, with a window of 0.1 behind it; the start value each run saw.
#[resource(primary_key = "id", write_disposition = "merge")]
async fn prices(
    out: Emit<Price>,
    source: Feed<Price>,
    started: Feed<Option<Decimal>>,
    #[incremental(cursor = "version", initial_value = "1.00", lag = 0.1)] version: Incremental<
        Decimal,
    >,
) -> ele::Result<()> {
    started.lock().expect("lock").push(version.start_value());
    out.send(items_of(&source)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decimal_cursor_compares_and_lags_digit_for_digit() {
    let db = TestDb::new("cursor_decimal").await;
    let p = db.pipeline("decimal_cursor", "cursors");
    let started: Feed<Option<Decimal>> = Arc::default();
    let source = Arc::new(Mutex::new(vec![
        price(1, "0.99"),
        price(2, "1.10"),
        price(3, "9.75"),
        price(4, "10.30"),
    ]));
    let first = p
        .run(prices(source.clone(), started.clone()))
        .await
        .expect("first run loads");
    assert_eq!(first.rows("prices"), 3, "0.99 is below the initial 1.00");
    let state = p.state().expect("readable").expect("saved");
    let entry = &state.sources["decimal_cursor"]["resources"]["prices"]["incremental"]["version"];
    assert_eq!(
        entry["last_value"],
        json!("10.30"),
        "10.30 is the largest: compared as decimals, not as text (\"9.75\" > \"10.30\")"
    );

    // 10.30 - 0.1 is exactly 10.20 (a float gives 10.200000000000001 and would drop the row at 10.20).
    *source.lock().expect("lock") = vec![price(5, "10.19"), price(6, "10.20"), price(7, "11")];
    let second = p
        .run(prices(source.clone(), started.clone()))
        .await
        .expect("second run loads");
    assert_eq!(second.rows("prices"), 2);
    assert_eq!(
        *started.lock().expect("lock"),
        [
            Some(price(0, "1.00").version),
            Some(price(0, "10.20").version)
        ]
    );
    assert_eq!(
        db.lines("SELECT id || ' ' || version FROM cursors.prices ORDER BY id")
            .await,
        [
            "2 1.100000000",
            "3 9.750000000",
            "4 10.300000000",
            "6 10.200000000",
            "7 11.000000000"
        ]
    );
    let state = p.state().expect("readable").expect("saved");
    let entry = &state.sources["decimal_cursor"]["resources"]["prices"]["incremental"]["version"];
    assert_eq!(entry["last_value"], json!("11"));
}

#[derive(Serialize, Item, Clone)]
struct Reading {
    id: i64,
    at: jiff::Timestamp,
    day: jiff::civil::Date,
}

fn reading(id: i64, at: &str) -> Reading {
    let at: jiff::Timestamp = at.parse().expect("an RFC 3339 instant");
    let day = jiff::tz::Offset::UTC.to_datetime(at).date();
    Reading { id, at, day }
}

/// Readings after the last instant, with an hour's window behind it.
#[resource(primary_key = "id", write_disposition = "merge")]
async fn readings(
    out: Emit<Reading>,
    source: Feed<Reading>,
    #[incremental(cursor = "at", initial_value = "2024-01-01T00:00:00Z", lag = 3600)]
    at: Incremental<jiff::Timestamp>,
) -> ele::Result<()> {
    let _ = at.start_value();
    out.send(items_of(&source)).await
}

/// Readings of days after the last one, with a day's window behind it.
#[resource(primary_key = "id", write_disposition = "merge")]
async fn daily(
    out: Emit<Reading>,
    source: Feed<Reading>,
    #[incremental(cursor = "day", initial_value = "2024-01-01", lag = 1)] day: Incremental<
        jiff::civil::Date,
    >,
) -> ele::Result<()> {
    let _ = day.start_value();
    out.send(items_of(&source)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jiff_cursors_compare_as_instants_and_dates_and_lag_in_seconds_and_days() {
    let db = TestDb::new("cursor_jiff").await;
    let p = db.pipeline("jiff_cursor", "cursors");
    let source = Arc::new(Mutex::new(vec![
        reading(1, "2023-12-31T23:00:00Z"),
        reading(2, "2024-01-01T05:00:00Z"),
        reading(3, "2024-01-03T10:00:00Z"),
    ]));
    let first = p
        .run(readings(source.clone()))
        .await
        .expect("first run loads");
    assert_eq!(first.rows("readings"), 2);
    let first = p.run(daily(source.clone())).await.expect("first daily run");
    assert_eq!(first.rows("daily"), 2);

    // Start one hour (one day) behind the last value: 09:00 (2024-01-02) are in, anything earlier is out.
    *source.lock().expect("lock") = vec![
        reading(4, "2024-01-03T08:59:59Z"),
        reading(5, "2024-01-03T09:00:00Z"),
        reading(6, "2024-01-01T12:00:00Z"),
        reading(7, "2024-01-02T00:00:00Z"),
    ];
    let second = p.run(readings(source.clone())).await.expect("second run");
    assert_eq!(second.rows("readings"), 1, "only 09:00 is within the hour");
    let second = p
        .run(daily(source.clone()))
        .await
        .expect("second daily run");
    assert_eq!(
        second.rows("daily"),
        3,
        "2024-01-02 and 2024-01-03 are within a day"
    );
    assert_eq!(
        db.lines("SELECT string_agg(id::text, ',' ORDER BY id) FROM cursors.readings")
            .await,
        ["2,3,5"]
    );
    assert_eq!(
        db.lines("SELECT string_agg(id::text, ',' ORDER BY id) FROM cursors.daily")
            .await,
        ["2,3,4,5,7"]
    );
    let state = p.state().expect("readable").expect("saved");
    let resources = &state.sources["jiff_cursor"]["resources"];
    assert_eq!(
        resources["readings"]["incremental"]["at"]["last_value"],
        json!("2024-01-03T10:00:00Z")
    );
    assert_eq!(
        resources["daily"]["incremental"]["day"]["last_value"],
        json!("2024-01-03")
    );
}
