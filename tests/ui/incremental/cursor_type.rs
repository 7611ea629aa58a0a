use ele::prelude::*;

/// A cursor must be a type ele can compare and store: `Vec<u8>` is not one.
#[resource]
async fn events(
    out: Emit<serde_json::Value>,
    #[incremental(cursor = "digest")] digest: Incremental<Vec<u8>>,
) -> ele::Result<()> {
    let _ = digest;
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
