use ele::prelude::*;

#[resource]
async fn events(
    out: Emit<serde_json::Value>,
    #[incremental(cursor = "created_at")] since: String,
) -> ele::Result<()> {
    let _ = since;
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
