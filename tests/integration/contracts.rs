//! Schema contracts (dlt's `schema_contract`) against PostgreSQL: each mode of each entity (rows, columns, the
//! error text, the counts in `LoadInfo`), a frozen schema on a fresh working dir, `#[resource(schema_contract)]`,
//! and `ele load --schema-contract`.

use ele::prelude::*;
use serde_json::{Value, json};

use crate::cli::ele;
use crate::support::TestDb;

/// A first run without contract, then `second` under `contract` (`{"<entity>": "<mode>"}`); the dataset is `ct`.
async fn second_run(
    test: &str,
    entity: &str,
    mode: &str,
    first: Value,
    second: Vec<Value>,
) -> (TestDb, ele::Result<LoadInfo>) {
    let db = TestDb::new(test).await;
    let p = db.pipeline("contracts", "ct");
    p.run(items(vec![first]).name("events"))
        .await
        .expect("first run");
    let contract =
        SchemaContract::parse(&format!(r#"{{"{entity}": "{mode}"}}"#)).expect("valid contract");
    let result = p
        .run(items(second).name("events").schema_contract(contract))
        .await;
    (db, result)
}

async fn ids(db: &TestDb) -> Vec<String> {
    db.lines("SELECT id FROM ct.events ORDER BY id").await
}

async fn has_table(db: &TestDb, table: &str) -> bool {
    db.lines(&format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ct' AND table_name = '{table}'"
    ))
    .await
        == ["1"]
}

async fn column_names(db: &TestDb) -> Vec<String> {
    db.columns("ct", "events")
        .await
        .into_iter()
        .map(|c| c.split('|').next().unwrap_or_default().to_owned())
        .collect()
}

// ---- tables: a list appearing in an existing table makes a new nested table.

async fn tables(test: &str, mode: &str) -> (TestDb, ele::Result<LoadInfo>) {
    second_run(
        test,
        "tables",
        mode,
        json!({"id": 1}),
        vec![
            json!({"id": 2, "note": "new columns evolve", "tags": ["x", "y"]}),
            json!({"id": 3}),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_evolve_creates_the_nested_table() {
    let (db, result) = tables("ct_tables_evolve", "evolve").await;
    result.expect("evolves");
    assert_eq!(ids(&db).await, ["1", "2", "3"]);
    assert_eq!(
        db.lines("SELECT value FROM ct.events__tags ORDER BY _dlt_list_idx")
            .await,
        ["x", "y"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_freeze_fails_before_anything_is_loaded() {
    let (db, result) = tables("ct_tables_freeze", "freeze").await;
    let e = result.expect_err("a new nested table is frozen");
    assert_eq!(
        e.to_string(),
        "schema contract: resource `events`, table `events__tags`: cannot create table `events__tags` because \
         `tables` are frozen (item #1, at `tags[0]`); nothing of this run was loaded"
    );
    assert_eq!(ids(&db).await, ["1"]);
    assert!(!column_names(&db).await.contains(&"note".to_owned()));
    assert!(!has_table(&db, "events__tags").await);
    assert_eq!(
        db.lines("SELECT count(*) FROM ct._dlt_loads").await,
        ["1"],
        "only the first run committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_discard_row_drops_the_rows_of_the_new_table() {
    let (db, result) = tables("ct_tables_discard_row", "discard_row").await;
    let info = result.expect("runs");
    assert_eq!(ids(&db).await, ["1", "2", "3"]);
    assert!(!has_table(&db, "events__tags").await);
    assert_eq!(info.discarded_rows("events__tags"), 2);
    assert_eq!(info.discarded_rows("events"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_discard_value_drops_the_rows_of_the_new_table_too() {
    let (db, result) = tables("ct_tables_discard_value", "discard_value").await;
    let info = result.expect("runs");
    assert_eq!(ids(&db).await, ["1", "2", "3"]);
    assert!(!has_table(&db, "events__tags").await);
    assert_eq!(info.discarded_rows("events__tags"), 2);
    assert_eq!(info.discarded_values("events__tags"), 0);
}

// ---- columns: a key appearing in an existing table makes a new column.

async fn columns(test: &str, mode: &str) -> (TestDb, ele::Result<LoadInfo>) {
    second_run(
        test,
        "columns",
        mode,
        json!({"id": 1, "n": 1}),
        vec![
            json!({"id": 2, "n": 2, "extra": "x", "tags": ["t"]}),
            json!({"id": 3, "n": "abc"}),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_evolve_adds_the_column() {
    let (db, result) = columns("ct_columns_evolve", "evolve").await;
    result.expect("evolves");
    assert_eq!(
        db.lines("SELECT id, n, extra, n__v_text FROM ct.events ORDER BY id")
            .await,
        ["1|1|NULL|NULL", "2|2|x|NULL", "3|NULL|NULL|abc"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_freeze_fails_naming_the_column_and_its_path() {
    let (db, result) = columns("ct_columns_freeze", "freeze").await;
    let e = result.expect_err("a new column is frozen");
    assert_eq!(
        e.to_string(),
        "schema contract: resource `events`, table `events`, column `extra`: cannot add column `extra` because \
         `columns` are frozen (item #1, at `extra`); nothing of this run was loaded"
    );
    assert_eq!(ids(&db).await, ["1"]);
    assert_eq!(
        column_names(&db).await,
        ["id", "n", "_dlt_load_id", "_dlt_id"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_discard_row_drops_the_row_and_its_nested_rows() {
    let (db, result) = columns("ct_columns_discard_row", "discard_row").await;
    let info = result.expect("runs");
    // The variant column still evolves (it falls under `data_type`).
    assert_eq!(
        db.lines("SELECT id, n, n__v_text FROM ct.events ORDER BY id")
            .await,
        ["1|1|NULL", "3|NULL|abc"]
    );
    assert!(!column_names(&db).await.contains(&"extra".to_owned()));
    // A new nested table is created by the rows that reach it: none did.
    assert!(!has_table(&db, "events__tags").await);
    assert_eq!(info.discarded_rows("events"), 1);
    assert_eq!(info.discarded_values("events"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_discard_value_keeps_the_row_without_the_value() {
    let (db, result) = columns("ct_columns_discard_value", "discard_value").await;
    let info = result.expect("runs");
    assert_eq!(
        db.lines("SELECT id, n, n__v_text FROM ct.events ORDER BY id")
            .await,
        ["1|1|NULL", "2|2|NULL", "3|NULL|abc"]
    );
    assert!(!column_names(&db).await.contains(&"extra".to_owned()));
    // Tables evolve: the list still makes its table.
    assert_eq!(db.lines("SELECT value FROM ct.events__tags").await, ["t"]);
    assert_eq!(info.discarded_rows("events"), 0);
    assert_eq!(info.discarded_values("events"), 1);
}

// ---- data_type: a value that does not fit its column makes a variant column.

async fn data_type(test: &str, mode: &str) -> (TestDb, ele::Result<LoadInfo>) {
    second_run(
        test,
        "data_type",
        mode,
        json!({"id": 1, "n": 1}),
        vec![
            json!({"id": 2, "n": "abc", "tags": ["t"]}),
            json!({"id": 3, "n": "3", "extra": true}),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_type_evolve_adds_the_variant_column() {
    let (db, result) = data_type("ct_data_type_evolve", "evolve").await;
    result.expect("evolves");
    assert_eq!(
        db.lines("SELECT id, n, n__v_text, extra FROM ct.events ORDER BY id")
            .await,
        ["1|1|NULL|NULL", "2|NULL|abc|NULL", "3|3|NULL|t"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_type_freeze_fails_naming_the_value_and_the_variant() {
    let (db, result) = data_type("ct_data_type_freeze", "freeze").await;
    let e = result.expect_err("a variant is frozen");
    assert_eq!(
        e.to_string(),
        "schema contract: resource `events`, table `events`, column `n`: value \"abc\" does not fit type \
         `bigint`, and the variant column `n__v_text` cannot be created because `data_type` is frozen \
         (item #1, at `n`); nothing of this run was loaded"
    );
    assert_eq!(ids(&db).await, ["1"]);
    assert!(!has_table(&db, "events__tags").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_type_discard_row_drops_the_row() {
    let (db, result) = data_type("ct_data_type_discard_row", "discard_row").await;
    let info = result.expect("runs");
    // A value that coerces into the column's type is no variant; a new column evolves.
    assert_eq!(
        db.lines("SELECT id, n, extra FROM ct.events ORDER BY id")
            .await,
        ["1|1|NULL", "3|3|t"]
    );
    assert!(!column_names(&db).await.contains(&"n__v_text".to_owned()));
    assert!(!has_table(&db, "events__tags").await);
    assert_eq!(info.discarded_rows("events"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_type_discard_value_loads_null_instead() {
    let (db, result) = data_type("ct_data_type_discard_value", "discard_value").await;
    let info = result.expect("runs");
    assert_eq!(
        db.lines("SELECT id, n, extra FROM ct.events ORDER BY id")
            .await,
        ["1|1|NULL", "2|NULL|NULL", "3|3|t"]
    );
    assert!(!column_names(&db).await.contains(&"n__v_text".to_owned()));
    assert_eq!(db.lines("SELECT value FROM ct.events__tags").await, ["t"]);
    assert_eq!(info.discarded_values("events"), 1);
    assert!(
        info.to_string()
            .contains("Schema contract discarded 0 row(s) and 1 value(s) of table events"),
        "{info}"
    );
}

// ---- where contracts come from.

#[resource(name = "events", schema_contract = (columns = "discard_value"))]
async fn events(out: Emit<Value>, rows: Vec<Value>) -> ele::Result<()> {
    out.send(rows).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_schema_is_the_destinations_so_a_fresh_working_dir_enforces_it() {
    let db = TestDb::new("ct_fresh_dir").await;
    // Machine A: the table, then a frozen contract stored with it.
    let a = db.pipeline("contracts", "ct");
    a.run(events(vec![json!({"id": 1, "name": "a"})]))
        .await
        .expect("first run");
    a.run(events(vec![json!({"id": 2, "name": "b"})]).schema_contract(EvolutionMode::Freeze))
        .await
        .expect("freezes");
    // Machine B: a fresh working dir, no contract in its code.
    let other = tempfile::tempdir().expect("temp dir");
    let b = Pipeline::builder("contracts")
        .destination(db.postgres())
        .dataset_name("ct")
        .pipelines_dir(other.path())
        .build()
        .expect("pipeline builds");
    let e = b
        .run(items(vec![json!({"id": 3, "name": "c", "email": "c@x"})]).name("events"))
        .await
        .expect_err("the stored contract holds");
    assert!(
        e.to_string()
            .contains("column `email`: cannot add column `email` because `columns` are frozen"),
        "{e}"
    );
    assert_eq!(ids(&db).await, ["1", "2"]);
    // The stored schema carries the contract as dlt's table hint.
    let stored = db
        .lines("SELECT schema FROM ct._dlt_version ORDER BY version DESC LIMIT 1")
        .await;
    let schema: Value = serde_json::from_str(&stored[0]).expect("schema JSON");
    assert_eq!(
        schema["tables"]["events"]["schema_contract"],
        json!("freeze")
    );
    // And B may load what fits the frozen schema.
    b.run(items(vec![json!({"id": 4, "name": "d"})]).name("events"))
        .await
        .expect("fits");
    assert_eq!(ids(&db).await, ["1", "2", "4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_attribute_sets_the_contract() {
    let db = TestDb::new("ct_attribute").await;
    let p = db.pipeline("contracts", "ct");
    p.run(events(vec![json!({"id": 1})]))
        .await
        .expect("first run");
    let info = p
        .run(events(vec![json!({"id": 2, "extra": 1})]))
        .await
        .expect("second run");
    assert_eq!(info.discarded_values("events"), 1);
    assert_eq!(column_names(&db).await, ["id", "_dlt_load_id", "_dlt_id"]);
}

// ---- ele load --schema-contract

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_schema_contract_modes_json_and_usage_errors() {
    let db = TestDb::new("ct_cli").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_owned()
    };
    let first = file("first.jsonl", "{\"id\": 1, \"n\": 1}\n");
    let second = file(
        "second.jsonl",
        "{\"id\": 2, \"n\": \"abc\"}\n{\"id\": 3, \"extra\": 1}\n",
    );
    let load = |path: &str, contract: Option<&str>| {
        let mut args = vec!["load", path, "--table", "events", "--dataset", "ct"];
        if let Some(c) = contract {
            args.extend(["--schema-contract", c]);
        }
        ele(&db, &args)
    };
    let out = load(&first, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (bad, says) in [
        ("frozen", "unknown schema contract mode `frozen`"),
        (r#"{"colums": "freeze"}"#, "unknown entity `colums`"),
        (
            r#"{"columns": "discard"}"#,
            "unknown mode `discard` for `columns`",
        ),
        (r#"{"columns": "#, "is not valid JSON"),
    ] {
        let out = load(&second, Some(bad));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--schema-contract"), "{stderr}");
        assert!(stderr.contains(says), "{bad}: {stderr}");
    }

    let out = load(&second, Some(r#"{"data_type": "freeze"}"#));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("variant column `n__v_text` cannot be created because `data_type` is frozen (item #1, at `n`)"),
        "{stderr}"
    );
    assert_eq!(ids(&db).await, ["1"]);

    let out = load(
        &second,
        Some(r#"{"columns": "discard_row", "data_type": "discard_value"}"#),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Schema contract discarded 1 row(s) and 1 value(s) of table events"),
        "{stdout}"
    );
    assert_eq!(
        db.lines("SELECT id, n FROM ct.events ORDER BY id").await,
        ["1|1", "2|NULL"]
    );

    // The stored schema shows the contract.
    let out = ele(&db, &["pipeline", "events", "schema"]);
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(
        schema["tables"]["events"]["schema_contract"],
        json!({"columns": "discard_row", "data_type": "discard_value"})
    );
}
