use ele::prelude::*;

// upsert and insert-only identify rows by their primary key.
#[resource(merge_strategy = "upsert", merge_key = "day")]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(write_disposition = "merge", merge_strategy = "insert-only")]
async fn users(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
