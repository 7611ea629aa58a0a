//! A cursor path that names no serialized field: the error is at the path and lists the fields.
use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize, Item)]
pub struct Event {
    pub id: i64,
    pub created_at: String,
}

#[resource]
async fn events(
    out: Emit<Event>,
    #[incremental(cursor = "created", initial_value = "1970-01-01T00:00:00Z")]
    created_at: Incremental<String>,
) -> ele::Result<()> {
    let _ = created_at;
    out.send(Vec::<Event>::new()).await
}

fn main() {}
