//! `schema_contract` in its two forms: one mode, or a mode per entity.
use ele::prelude::*;

#[resource(schema_contract = "freeze")]
async fn frozen(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(schema_contract = (columns = "discard_value", data_type = "discard_row"))]
async fn per_entity(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(schema_contract = (tables = "freeze"))]
async fn one_entity(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {
    assert_eq!(
        frozen().hints().schema_contract,
        Some(SchemaContract::Mode(EvolutionMode::Freeze))
    );
    assert_eq!(
        per_entity().hints().schema_contract,
        Some(SchemaContract::Entities {
            tables: None,
            columns: Some(EvolutionMode::DiscardValue),
            data_type: Some(EvolutionMode::DiscardRow),
        })
    );
    assert_eq!(
        one_entity().hints().schema_contract,
        SchemaContract::parse(r#"{"tables": "freeze"}"#).ok()
    );
    let _ = frozen().schema_contract(EvolutionMode::Evolve);
}
