use ele::prelude::*;

#[resource(write_disposition = "merge", primary_key = ())]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
