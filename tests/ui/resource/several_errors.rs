use ele::prelude::*;

#[resource(
    primry_key = "id",
    write_disposition = "upsert",
    table = "events",
    max_table_nesting = "2"
)]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
