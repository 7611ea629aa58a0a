use ele::prelude::*;

#[resource(write_disposition = "upsert", primary_key = "id")]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}

#[resource(write_disposition = "merg", primary_key = "id")]
async fn users(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}
