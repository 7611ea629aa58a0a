use ele::prelude::*;

#[resource(schema_contract = "frozen")]
async fn unknown_mode(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(schema_contract = (column = "freeze", data_type = "discard"))]
async fn unknown_entity_and_mode(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(schema_contract = r#"{"columns": "freeze"}"#)]
async fn dict_as_text(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(schema_contract = (columns = "freeze", columns = "evolve"))]
async fn entity_twice(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(schema_contract = true)]
async fn not_a_contract(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
