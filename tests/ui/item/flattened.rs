//! A flattened field's names are the struct's own; a name in neither is an error naming both.
use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize, Item)]
pub struct Meta {
    pub source: String,
}

#[derive(Serialize, Item)]
pub struct Event {
    pub id: i64,
    #[serde(flatten)]
    pub meta: Meta,
}

#[resource(write_disposition = "merge", primary_key = ("id", "source", "sauce"))]
async fn events(out: Emit<Event>) -> ele::Result<()> {
    out.send(Vec::<Event>::new()).await
}

fn main() {}
