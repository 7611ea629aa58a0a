use ele::prelude::*;

#[resource]
async fn ads(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

fn campaigns() {}

// `campaigns` is not a `#[resource]` function: it has no `CampaignsResource`.
#[source(resources(ads, campaigns))]
fn facebook_ads() -> impl ele::IntoResources {
    campaigns();
    ads()
}

fn main() {
    let _ = facebook_ads();
}
