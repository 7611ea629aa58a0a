//! `Incremental<T>` must have the cursor field's type (or `Option`'s inner type, or `serde_json::Value`).
use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize, Item)]
pub struct Event {
    pub id: i64,
    pub created_at: String,
    pub updated_at: Option<i64>,
}

#[resource]
async fn events(
    out: Emit<Event>,
    #[incremental(cursor = "created_at")] created_at: Incremental<i64>,
    #[incremental(cursor = "updated_at")] updated_at: Incremental<String>,
) -> ele::Result<()> {
    let _ = (created_at, updated_at);
    out.send(Vec::<Event>::new()).await
}

fn main() {}
