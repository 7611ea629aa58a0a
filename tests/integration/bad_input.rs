//! Bad input and broken connections: a clear error naming what and where, or a defined outcome; never a
//! partial load.

use ele::prelude::*;
use ele::{OnCursorValueMissing, Postgres};
use serde::Serialize;
use serde_json::{Value, json};

use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_retried_then_reported_without_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pipeline::builder("unreachable")
        .destination(
            Postgres::new("postgresql://loader:s3cr3t-pw@127.0.0.1:1/warehouse")
                .expect("valid url"),
        )
        .pipelines_dir(dir.path())
        .build()
        .expect("builds");
    let err = p
        .run(items(vec![json!({"a": 1})]))
        .table_name("t")
        .await
        .expect_err("no server");
    let text = err.to_string();
    assert!(
        text.contains("cannot connect to postgresql://loader@127.0.0.1:1/warehouse"),
        "{text}"
    );
    assert!(text.contains("check that the server is running"), "{text}");
    assert!(
        !text.contains("s3cr3t-pw") && !format!("{err:?}").contains("s3cr3t-pw"),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_database_fails_at_once_naming_it() {
    let db = TestDb::new("missingdb").await;
    let url = db.url.replace("dbname=", "dbname=no_such_");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Pipeline::builder("missing")
        .destination(Postgres::new(&url).expect("valid"))
        .pipelines_dir(dir.path())
        .build()
        .expect("builds");
    let started = std::time::Instant::now();
    let err = p
        .run(items(vec![json!({"a": 1})]))
        .table_name("t")
        .await
        .expect_err("no database");
    let text = err.to_string();
    assert!(
        text.contains("does not exist") && text.contains("check that the database exists"),
        "{text}"
    );
    assert!(!err.is_transient());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "permanent errors are not retried"
    );
}

#[resource(primary_key = "id", write_disposition = "append")]
async fn cursor_items(
    out: Emit<Value>,
    page: Vec<Value>,
    #[incremental(cursor = "ts", initial_value = 0)] ts: Incremental<i64>,
) -> ele::Result<()> {
    let _ = ts.last_value();
    out.send(page).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_null_cursor_follows_on_cursor_value_missing() {
    let db = TestDb::new("cursormissing").await;
    let page = vec![
        json!({"id": 1, "ts": 5}),
        json!({"id": 2}),
        json!({"id": 3, "ts": null}),
    ];
    let p = db.pipeline("raise", "cm_raise");
    let err = p.run(cursor_items(page.clone())).await.expect_err("raise");
    assert!(
        err.to_string()
            .contains("cursor `ts` is missing in item {\"id\":2}"),
        "{err}"
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM pg_namespace WHERE nspname = 'cm_raise'")
            .await,
        ["0"]
    );
    for (mode, dataset, expected) in [
        (
            OnCursorValueMissing::Include,
            "cm_include",
            vec!["1", "2", "3"],
        ),
        (OnCursorValueMissing::Exclude, "cm_exclude", vec!["1"]),
    ] {
        let p = db.pipeline(dataset, dataset);
        let resource = cursor_items(page.clone())
            .ts(Incremental::new("ts").with_on_cursor_value_missing(mode));
        p.run(resource).await.expect("run");
        assert_eq!(
            db.lines(&format!(
                "SELECT id FROM {dataset}.cursor_items ORDER BY id"
            ))
            .await,
            expected
        );
        // Items without a cursor do not move the last value.
        let state = p.state().expect("ok").expect("saved");
        assert_eq!(
            state.sources[dataset]["resources"]["cursor_items"]["incremental"]["ts"]["last_value"],
            json!(5)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_values_of_mixed_types_are_an_error_naming_both() {
    let db = TestDb::new("cursormixed").await;
    let p = db.pipeline("mixed", "mixed");
    let err = p
        .run(cursor_items(vec![
            json!({"id": 1, "ts": 5}),
            json!({"id": 2, "ts": "6"}),
        ]))
        .await
        .expect_err("mixed types");
    let text = err.to_string();
    assert!(
        text.contains("resource `cursor_items`") && text.contains("`ts`"),
        "{text}"
    );
    assert!(text.contains("\"6\"") && text.contains('5'), "{text}");
    assert!(p.state().expect("ok").is_none(), "state untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_primary_key_is_an_error_and_nothing_is_loaded() {
    let db = TestDb::new("pkmissing").await;
    let p = db.pipeline("pk", "pk");
    let err = p
        .run(items(vec![json!({"id": 1}), json!({"name": "no id"})]))
        .table_name("t")
        .write_disposition(Merge)
        .primary_key("id")
        .await
        .expect_err("missing key");
    assert!(
        err.to_string()
            .contains("item #2 has no value for primary key column `id`"),
        "{err}"
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM pg_namespace WHERE nspname = 'pk'")
            .await,
        ["0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalars_go_to_a_value_column_and_arrays_of_a_page_stay_items() {
    let db = TestDb::new("scalars").await;
    let p = db.pipeline("scalars", "sc");
    p.run(items(vec![json!(1), json!(2), json!([3, 4])]))
        .table_name("t")
        .await
        .expect("run");
    assert_eq!(
        db.lines("SELECT value FROM sc.t WHERE value IS NOT NULL ORDER BY 1")
            .await,
        ["1", "2"]
    );
    assert_eq!(
        db.lines("SELECT value FROM sc.t__value ORDER BY 1").await,
        ["3", "4"]
    );
}

#[derive(Serialize)]
struct Measurement {
    id: i64,
    reading: f64,
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_values_load_or_fail_clearly() {
    let db = TestDb::new("awkward").await;
    let p = db.pipeline("awkward", "aw");
    let big = "x".repeat(1 << 20);
    let rows = vec![
        Measurement {
            id: 1,
            reading: f64::NAN,
            text: big.clone(),
        },
        Measurement {
            id: 2,
            reading: f64::INFINITY,
            text: "nul\u{0}byte".into(),
        },
        Measurement {
            id: 3,
            reading: 1.5,
            text: "tab\tnewline\nback\\slash \u{2713}".into(),
        },
    ];
    p.run(items(rows)).table_name("m").await.expect("run");
    // JSON has no NaN or infinity: serde writes them as null, so they load as NULL.
    assert_eq!(
        db.lines("SELECT id, reading, length(text) FROM aw.m ORDER BY id")
            .await,
        ["1|NULL|1048576", "2|NULL|7", "3|1.5|24"]
    );
    // PostgreSQL text cannot hold NUL: it is dropped, as dlt drops it.
    assert_eq!(
        db.lines("SELECT text FROM aw.m WHERE id = 2").await,
        ["nulbyte"]
    );
    let err = p
        .run(items(vec![json!({"big": 18_446_744_073_709_551_615u64})]))
        .table_name("n")
        .await
        .expect_err("beyond i64");
    assert!(err.to_string().contains("beyond the 64-bit range"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_quoted_and_normalized() {
    let db = TestDb::new("hostile").await;
    let p = db.pipeline("hostile", "hostile");
    let long = "k".repeat(200);
    let item = json!({
        "select": 1,
        "drop table x; --": 2,
        "quote\"d": 3,
        "ünïcødé": 4,
        long.clone(): 5,
        "order": {"by": 6},
    });
    p.run(items(vec![item]))
        .table_name("Robert'); DROP TABLE students;--")
        .await
        .expect("run");
    let tables = db
        .lines("SELECT table_name FROM information_schema.tables WHERE table_schema = 'hostile' AND table_name NOT LIKE '\\_dlt%'")
        .await;
    assert_eq!(tables, ["robert_drop_table_studentsxxx"]);
    let columns: Vec<String> = db
        .columns("hostile", &tables[0])
        .await
        .into_iter()
        .map(|c| c.split('|').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        &columns[..4],
        ["select", "drop_table_xxxx", "quote_d", "_n_c_dx"]
    );
    // dlt 1.31 gives the same names, the 200-character key shortened with its hash tag.
    assert_eq!(
        columns[4],
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkk1pihigkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
    );
    assert_eq!(columns[5], "order__by");
    assert_eq!(
        db.lines(&format!(
            "SELECT \"select\", order__by FROM hostile.\"{}\"",
            tables[0]
        ))
        .await,
        ["1|6"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_run_loads_nothing_and_fails_nothing() {
    let db = TestDb::new("empty").await;
    let p = db.pipeline("empty", "empty");
    let info = p
        .run(items(Vec::<Value>::new()))
        .table_name("t")
        .await
        .expect("empty run");
    assert_eq!(info.rows("t"), 0);
    let again = p
        .run(items(Vec::<Value>::new()))
        .table_name("t")
        .await
        .expect("second empty run");
    assert!(again.is_empty(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_copy_is_retried_and_loads_once() {
    let db = TestDb::new("killcopy").await;
    let p = db.pipeline("killcopy", "kc");
    let rows: Vec<Value> = (0..60_000)
        .map(|i| json!({"id": i, "payload": "x".repeat(200)}))
        .collect();
    let killer_client = db.client().await;
    let killer = tokio::spawn(async move {
        // Kill the first COPY into this database that shows up (the server drops that connection).
        for _ in 0..3000 {
            let killed = killer_client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'COPY %'",
                    &[],
                )
                .await
                .map(|rows| !rows.is_empty())
                .unwrap_or(false);
            if killed {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        false
    });
    let info = p
        .run(items(rows))
        .table_name("t")
        .write_disposition(Merge)
        .primary_key("id")
        .await
        .unwrap_or_else(|e| {
            panic!("the load must be retried after the connection was killed: {e:?}")
        });
    let killed = killer.await.expect("killer task");
    assert_eq!(info.rows("t"), 60_000);
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM kc.t")
            .await,
        ["60000|60000"]
    );
    assert_eq!(db.lines("SELECT count(*) FROM kc._dlt_loads").await, ["1"]);
    eprintln!("a COPY was killed during the run: {killed}");
}
