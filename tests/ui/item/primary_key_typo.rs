//! A key that is not a serialized field of a typed item: the error is at the literal and lists the fields.
use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize, Item)]
pub struct Event {
    pub id: i64,
    pub created_at: String,
}

#[resource(primary_key = "idd", write_disposition = "merge")]
async fn events(out: Emit<Event>) -> ele::Result<()> {
    out.send(Event {
        id: 1,
        created_at: String::new(),
    })
    .await
}

fn main() {}
