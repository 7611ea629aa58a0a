use ele::prelude::*;

#[resource]
async fn events(out: Emit<serde_json::Value>) -> Option<()> {
    out.send(serde_json::json!({"id": 1})).await.ok()
}

fn main() {}
