//! Schema contracts (dlt's `schema_contract`) against the in-memory destination: each mode of each entity,
//! where a contract comes from (run > resource > source > the one stored with the table), and what is
//! counted. The PostgreSQL suite (`tests/integration/contracts.rs`) checks the rows and messages on a server.

use ele_core::destination::Destination;
use ele_core::destination::memory::{MemoryDestination, MemoryRow};
use ele_core::{
    Error, EvolutionMode, FnResource, Pipeline, ResourceExt, SchemaContract, Source, items,
};
use serde_json::{Value, json};

const DATASET: &str = "contract_data";

fn pipeline(dir: &tempfile::TempDir, destination: impl Destination) -> Pipeline {
    Pipeline::builder("contracts")
        .destination(destination)
        .dataset_name(DATASET)
        .pipelines_dir(dir.path())
        .build()
        .expect("pipeline builds")
}

fn contract(text: &str) -> SchemaContract {
    SchemaContract::parse(text).expect("valid contract")
}

fn events(rows: Vec<Value>) -> ele_core::ItemsResource<Vec<Value>> {
    items(rows).name("events")
}

fn values(rows: &[MemoryRow], column: &str) -> Vec<Value> {
    rows.iter()
        .map(|r| r.get(column).cloned().unwrap_or(Value::Null))
        .collect()
}

fn has_column(rows: &[MemoryRow], column: &str) -> bool {
    rows.iter().any(|r| r.contains_key(column))
}

/// The first run (no contract) defines the table; what the second run may change is up to the contract.
async fn second_run(
    contract_text: &str,
    second: Vec<Value>,
) -> (
    MemoryDestination,
    tempfile::TempDir,
    ele_core::Result<ele_core::LoadInfo>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, memory.clone());
    p.run(events(vec![json!({"id": 1, "n": 1, "tags": ["a"]})]))
        .await
        .expect("first run");
    let result = p
        .run(events(second).schema_contract(contract(contract_text)))
        .await;
    (memory, dir, result)
}

#[tokio::test]
async fn columns_freeze_fails_on_a_new_column_and_loads_nothing() {
    let (memory, dir, result) = second_run(
        r#"{"columns": "freeze"}"#,
        vec![json!({"id": 2, "n": 2}), json!({"id": 3, "note": "x"})],
    )
    .await;
    let e = result.expect_err("a new column is frozen");
    assert!(matches!(e, Error::Contract { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "schema contract: resource `events`, table `events`, column `note`: cannot add column `note` because \
         `columns` are frozen (item #2, at `note`); nothing of this run was loaded"
    );
    assert_eq!(values(&memory.rows(DATASET, "events"), "id"), [json!(1)]);
    // No package is left to block the next run.
    let p = pipeline(&dir, memory.clone());
    p.run(events(vec![json!({"id": 4})]))
        .await
        .expect("a run without new columns loads");
    assert_eq!(
        values(&memory.rows(DATASET, "events"), "id"),
        [json!(1), json!(4)]
    );
}

#[tokio::test]
async fn columns_freeze_still_makes_variants_and_new_tables() {
    let (memory, _dir, result) = second_run(
        r#"{"columns": "freeze"}"#,
        vec![json!({"id": 2, "n": "abc", "more": [1]})],
    )
    .await;
    result.expect("variants and tables evolve");
    let rows = memory.rows(DATASET, "events");
    assert_eq!(values(&rows, "n__v_text"), [Value::Null, json!("abc")]);
    assert_eq!(memory.rows(DATASET, "events__more").len(), 1);
}

#[tokio::test]
async fn columns_discard_row_drops_rows_with_a_new_column_and_counts_them() {
    let (memory, _dir, result) = second_run(
        r#"{"columns": "discard_row"}"#,
        vec![
            json!({"id": 2, "note": "x", "tags": ["b"]}),
            json!({"id": 3, "n": "abc"}),
        ],
    )
    .await;
    let info = result.expect("runs");
    let rows = memory.rows(DATASET, "events");
    assert_eq!(values(&rows, "id"), [json!(1), json!(3)]);
    assert!(!has_column(&rows, "note"));
    assert_eq!(values(&rows, "n__v_text"), [Value::Null, json!("abc")]);
    // The dropped row's nested rows are dropped with it.
    assert_eq!(memory.rows(DATASET, "events__tags").len(), 1);
    assert_eq!(info.discarded_rows("events"), 1);
    assert_eq!(info.discarded_values("events"), 0);
    assert!(
        info.to_string()
            .contains("Schema contract discarded 1 row(s) and 0 value(s) of table events"),
        "{info}"
    );
}

#[tokio::test]
async fn columns_discard_value_keeps_the_row_without_the_value() {
    let (memory, _dir, result) = second_run(
        r#"{"columns": "discard_value"}"#,
        vec![
            json!({"id": 2, "note": "x", "other": 5}),
            json!({"id": 3, "note": "y"}),
        ],
    )
    .await;
    let info = result.expect("runs");
    let rows = memory.rows(DATASET, "events");
    assert_eq!(values(&rows, "id"), [json!(1), json!(2), json!(3)]);
    assert!(!has_column(&rows, "note") && !has_column(&rows, "other"));
    assert_eq!(info.discarded_rows("events"), 0);
    assert_eq!(info.discarded_values("events"), 3);
}

#[tokio::test]
async fn data_type_freeze_fails_on_a_variant_even_in_a_new_table() {
    let (memory, _dir, result) = second_run(
        r#"{"data_type": "freeze"}"#,
        vec![
            json!({"id": 2, "note": "new columns evolve"}),
            json!({"id": 3, "n": "abc"}),
        ],
    )
    .await;
    let e = result.expect_err("a variant is frozen");
    assert_eq!(
        e.to_string(),
        "schema contract: resource `events`, table `events`, column `n`: value \"abc\" does not fit type \
         `bigint`, and the variant column `n__v_text` cannot be created because `data_type` is frozen \
         (item #2, at `n`); nothing of this run was loaded"
    );
    assert_eq!(memory.rows(DATASET, "events").len(), 1);

    // In a table new in this run the variant is checked too.
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let e = pipeline(&dir, memory.clone())
        .run(
            events(vec![json!({"id": 1, "n": 1}), json!({"id": 2, "n": true})])
                .schema_contract(contract(r#"{"data_type": "freeze"}"#)),
        )
        .await
        .expect_err("a variant in a new table is frozen");
    assert!(e.to_string().contains("`n__v_bool`"), "{e}");
    assert!(memory.tables(DATASET).iter().all(|t| t != "events"));
}

#[tokio::test]
async fn data_type_discard_row_and_discard_value() {
    let (memory, _dir, result) = second_run(
        r#"{"data_type": "discard_row"}"#,
        vec![json!({"id": 2, "n": "abc"}), json!({"id": 3, "n": "4"})],
    )
    .await;
    let info = result.expect("runs");
    let rows = memory.rows(DATASET, "events");
    assert_eq!(values(&rows, "id"), [json!(1), json!(3)]);
    assert_eq!(values(&rows, "n"), [json!(1), json!(4)]);
    assert!(!has_column(&rows, "n__v_text"));
    assert_eq!(info.discarded_rows("events"), 1);

    let (memory, _dir, result) = second_run(
        r#"{"data_type": "discard_value"}"#,
        vec![json!({"id": 2, "n": "abc", "new": 1})],
    )
    .await;
    let info = result.expect("runs");
    let rows = memory.rows(DATASET, "events");
    assert_eq!(values(&rows, "id"), [json!(1), json!(2)]);
    assert_eq!(values(&rows, "n"), [json!(1), Value::Null]);
    assert_eq!(values(&rows, "new"), [Value::Null, json!(1)]);
    assert_eq!(info.discarded_values("events"), 1);
}

#[tokio::test]
async fn tables_freeze_fails_a_first_run_and_a_new_nested_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, memory.clone());
    let e = p
        .run(events(vec![json!({"id": 1})]).schema_contract(contract(r#"{"tables": "freeze"}"#)))
        .await
        .expect_err("a new table is frozen");
    assert_eq!(
        e.to_string(),
        "schema contract: resource `events`, table `events`: cannot create table `events` because `tables` \
         are frozen (item #1); nothing of this run was loaded"
    );
    assert!(memory.tables(DATASET).iter().all(|t| t != "events"));

    let (memory, _dir, result) = second_run(
        r#"{"tables": "freeze"}"#,
        vec![json!({"id": 2, "new_column": true, "tags": ["b"]})],
    )
    .await;
    result.expect("new columns and known nested tables evolve");
    assert_eq!(memory.rows(DATASET, "events__tags").len(), 2);
    let (memory, _dir, result) = second_run(
        r#"{"tables": "freeze"}"#,
        vec![json!({"id": 2, "orders": [{"sku": "a"}, {"sku": "b", "lines": [1]}]})],
    )
    .await;
    let e = result.expect_err("a new nested table is frozen");
    assert_eq!(
        e.to_string(),
        "schema contract: resource `events`, table `events__orders`: cannot create table `events__orders` \
         because `tables` are frozen (item #1, at `orders[0]`); nothing of this run was loaded"
    );
    assert_eq!(memory.rows(DATASET, "events").len(), 1);
}

#[tokio::test]
async fn tables_discard_drops_the_rows_of_new_tables() {
    for mode in ["discard_row", "discard_value"] {
        let text = format!(r#"{{"tables": "{mode}"}}"#);
        let dir = tempfile::tempdir().expect("temp dir");
        let memory = MemoryDestination::new();
        let info = pipeline(&dir, memory.clone())
            .run(events(vec![json!({"id": 1}), json!({"id": 2})]).schema_contract(contract(&text)))
            .await
            .expect("runs");
        assert!(memory.rows(DATASET, "events").is_empty(), "{mode}");
        assert_eq!(info.discarded_rows("events"), 2, "{mode}");

        let (memory, _dir, result) = second_run(
            &text,
            vec![json!({"id": 2, "orders": [{"sku": "a", "lines": [1, 2]}], "tags": ["b"]})],
        )
        .await;
        let info = result.expect("runs");
        assert_eq!(
            values(&memory.rows(DATASET, "events"), "id"),
            [json!(1), json!(2)]
        );
        assert!(memory.rows(DATASET, "events__orders").is_empty(), "{mode}");
        assert_eq!(memory.rows(DATASET, "events__tags").len(), 2, "{mode}");
        assert_eq!(info.discarded_rows("events__orders"), 1, "{mode}");
        assert_eq!(info.discarded_rows("events__orders__lines"), 0, "{mode}");
    }
}

#[tokio::test]
async fn a_first_run_defines_the_columns_of_its_table_but_nested_tables_only_by_their_first_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, memory.clone());
    p.run(
        events(vec![json!({"id": 1}), json!({"id": 2, "late": true})])
            .schema_contract(contract(r#"{"columns": "freeze"}"#)),
    )
    .await
    .expect("a new root table evolves its columns for the whole first run");
    // As dlt: a nested table new in this run is new for its first row only.
    let e = p
        .run(
            items(vec![
                json!({"id": 1, "items": [{"a": 1}, {"a": 2, "b": 3}]}),
            ])
            .name("orders")
            .schema_contract(contract(r#"{"columns": "freeze"}"#)),
        )
        .await
        .expect_err("the second row of a new nested table adds a column");
    assert!(
        e.to_string()
            .contains("table `orders__items`, column `b`: cannot add column `b` because `columns` are frozen (item #1, at `items[1].b`)"),
        "{e}"
    );
}

#[tokio::test]
async fn the_run_overrides_the_resource_which_overrides_the_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = MemoryDestination::new();
    let p = pipeline(&dir, memory.clone());
    let source = |resource_contract: Option<&str>, rows: Vec<Value>| {
        let mut r = FnResource::new("events", move |out: ele_core::Emit<Value>| {
            let rows = rows.clone();
            async move { out.send(rows).await }
        });
        if let Some(c) = resource_contract {
            r = r.schema_contract(contract(c));
        }
        Source::new("src")
            .schema_contract(contract(r#"{"columns": "discard_value"}"#))
            .resource(r)
    };
    p.run(source(None, vec![json!({"id": 1})]))
        .await
        .expect("first run");
    // The source's discard_value.
    let info = p
        .run(source(None, vec![json!({"id": 2, "a": 1})]))
        .await
        .expect("source contract");
    assert_eq!(info.discarded_values("events"), 1);
    // The resource's own freeze beats the source's.
    let e = p
        .run(source(Some("freeze"), vec![json!({"id": 3, "b": 1})]))
        .await
        .expect_err("resource contract");
    assert!(matches!(e, Error::Contract { .. }), "{e}");
    // The run's evolve beats both.
    p.run(source(Some("freeze"), vec![json!({"id": 4, "c": 1})]))
        .schema_contract(EvolutionMode::Evolve)
        .await
        .expect("run contract");
    let rows = memory.rows(DATASET, "events");
    assert_eq!(values(&rows, "id"), [json!(1), json!(2), json!(4)]);
    assert_eq!(values(&rows, "c"), [Value::Null, Value::Null, json!(1)]);
}

#[tokio::test]
async fn the_contract_stored_with_the_table_holds_on_a_new_machine() {
    let memory = MemoryDestination::new();
    let first = tempfile::tempdir().expect("temp dir");
    pipeline(&first, memory.clone())
        .run(events(vec![json!({"id": 1})]))
        .await
        .expect("first run");
    // Freezing an existing table stores the contract with it.
    pipeline(&first, memory.clone())
        .run(events(vec![json!({"id": 2})]).schema_contract(EvolutionMode::Freeze))
        .await
        .expect("no change");
    // Same machine, no contract in the code: the stored one applies.
    let e = pipeline(&first, memory.clone())
        .run(events(vec![json!({"id": 3, "new": 1})]))
        .await
        .expect_err("stored contract");
    assert!(matches!(e, Error::Contract { .. }), "{e}");
    // A fresh working dir restores the schema, and its contract, from the destination.
    let second = tempfile::tempdir().expect("temp dir");
    let e = pipeline(&second, memory.clone())
        .run(events(vec![json!({"id": 3, "new": 1})]))
        .await
        .expect_err("stored contract on a new machine");
    assert!(
        e.to_string()
            .contains("column `new`: cannot add column `new`"),
        "{e}"
    );
    assert_eq!(
        values(&memory.rows(DATASET, "events"), "id"),
        [json!(1), json!(2)]
    );
    // Evolving it explicitly is allowed and stored.
    pipeline(&second, memory.clone())
        .run(events(vec![json!({"id": 4, "new": 1})]).schema_contract(EvolutionMode::Evolve))
        .await
        .expect("evolve");
    pipeline(&first, memory.clone())
        .run(events(vec![json!({"id": 5, "newer": 1})]))
        .await
        .expect("the stored contract is evolve now");
}
