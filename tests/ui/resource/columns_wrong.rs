use ele::prelude::*;

#[resource(columns = r#"{"amount": {"data_type": "decimal", "precision": 12"#)]
async fn not_json(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"amount": 1})).await
}

#[resource(columns = r#"{"amount": {"data_typ": "decimal"}}"#)]
async fn unknown_hint(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"amount": 1})).await
}

#[resource(columns = r#"{"amount": {"data_type": "money"}}"#)]
async fn unknown_type(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"amount": 1})).await
}

#[resource(columns = r#"{"amount": {"nullable": "no"}}"#)]
async fn wrong_kind(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"amount": 1})).await
}

#[resource(columns = 12)]
async fn not_a_string(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"amount": 1})).await
}

fn main() {}
