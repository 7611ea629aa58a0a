use ele::prelude::*;

#[resource]
async fn ads(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource]
async fn name(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

// A string instead of a name, a resource listed twice, and an accessor that would hide `Source::name`.
#[source(resources("ads", ads, ads, name))]
fn facebook_ads() -> impl ele::IntoResources {
    (ads(), name())
}

fn main() {}
