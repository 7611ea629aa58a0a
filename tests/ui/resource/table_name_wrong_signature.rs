use ele::prelude::*;

#[derive(serde::Serialize)]
struct Event {
    kind: String,
}

/// Takes the item by value: a table name function borrows it.
fn event_table(e: Event) -> String {
    e.kind
}

#[resource(table_name = event_table)]
async fn events(out: Emit<Event>) -> ele::Result<()> {
    out.send(Event {
        kind: "push".into(),
    })
    .await
}

fn main() {}
