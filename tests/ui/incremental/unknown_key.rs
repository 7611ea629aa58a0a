use ele::prelude::*;

#[resource]
async fn events(
    out: Emit<serde_json::Value>,
    #[incremental(curser = "created_at")] created_at: Incremental<String>,
) -> ele::Result<()> {
    let _ = created_at;
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
