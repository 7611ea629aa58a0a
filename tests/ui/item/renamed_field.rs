//! Keys are serialized names: after `rename_all = "camelCase"` the field `created_at` is `createdAt`, and
//! after `rename = "ts"` the field `updated_at` is `ts`. Skipped fields are not serialized.
use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize, Item)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_id: i64,
    pub created_at: String,
    #[serde(rename = "ts")]
    pub updated_at: String,
    #[serde(skip)]
    pub cache: Vec<u8>,
}

#[resource(
    write_disposition = "merge",
    primary_key = ("event_id", "eventId"),
    merge_key = ["updated_at", "cache"]
)]
async fn events(
    out: Emit<Event>,
    #[incremental(cursor = "created_at", primary_key = "ts")] created_at: Incremental<String>,
) -> ele::Result<()> {
    let _ = created_at;
    out.send(Vec::<Event>::new()).await
}

fn main() {}
