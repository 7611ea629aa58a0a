use ele::prelude::*;

#[resource(primary_key = 5, merge_key = ("day", region))]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
