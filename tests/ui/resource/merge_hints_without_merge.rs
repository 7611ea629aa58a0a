use ele::prelude::*;

#[resource(primary_key = "id", hard_delete = "deleted")]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(write_disposition = "replace", primary_key = "id", dedup_sort = "updated_at")]
async fn users(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

// dedup_sort picks among rows sharing a primary key.
#[resource(write_disposition = "merge", merge_key = "day", dedup_sort = "updated_at")]
async fn days(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"day": 1})).await
}

fn main() {}
