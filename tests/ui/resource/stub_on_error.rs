use ele::prelude::*;

// The attribute has a mistake: the only error is about it. The function and a stand-in for the generated
// `EventsResource` are still emitted, so code naming them keeps resolving (no "cannot find type" error).
#[resource(write_disposition = "upsert")]
async fn events(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[allow(dead_code)]
fn takes(_: Option<EventsResource>) {}

fn main() {}
