use ele::prelude::*;

#[resource]
async fn ads(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

// The mistake in the attribute is the only error: `FacebookAdsSource` still resolves.
#[source(root_key = "yes")]
fn facebook_ads() -> impl IntoResources {
    ads()
}

#[allow(dead_code)]
fn takes(_: Option<FacebookAdsSource>) {}

fn main() {}
