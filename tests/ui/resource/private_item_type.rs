use ele::prelude::*;

#[derive(serde::Serialize)]
struct Event {
    id: i64,
}

/// A public resource cannot produce a private item type: the item type is part of its public interface.
#[resource]
pub async fn events(out: Emit<Event>) -> ele::Result<()> {
    out.send(Event { id: 1 }).await
}

fn main() {}
