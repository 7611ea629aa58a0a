use ele::prelude::*;

#[resource]
async fn ads(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource]
async fn name(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

// A string instead of a name, a resource listed twice, an accessor that would hide `Source::name`, and type
// arguments.
#[source(resources("ads", ads, ads, name, tickets::<u8>))]
fn facebook_ads() -> impl ele::IntoResources {
    (ads(), name())
}

fn main() {}
