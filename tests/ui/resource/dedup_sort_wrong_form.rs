use ele::prelude::*;

#[resource(write_disposition = "merge", primary_key = "id", dedup_sort = ("updated_at", "newest"))]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(write_disposition = "merge", primary_key = "id", dedup_sort = 3)]
async fn users(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
