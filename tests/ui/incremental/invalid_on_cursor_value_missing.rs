use ele::prelude::*;

#[resource]
async fn events(
    out: Emit<serde_json::Value>,
    #[incremental(cursor = "ts", on_cursor_value_missing = "skip")] ts: Incremental<i64>,
) -> ele::Result<()> {
    let _ = ts;
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
