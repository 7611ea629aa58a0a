use ele::prelude::*;

#[resource(merge_strategy = "scd3")]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(write_disposition = "append", merge_strategy = "scd2")]
async fn users(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
