use ele::prelude::*;

#[resource]
async fn events(
    out: Emit<serde_json::Value>,
    #[incremental(cursor = "created_at", initial_value = 0, cursor = "updated_at")]
    created_at: Incremental<i64>,
) -> ele::Result<()> {
    let _ = created_at;
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
