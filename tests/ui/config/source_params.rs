use ele::prelude::*;

#[resource]
async fn ads(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

// A secret source parameter that is not a `Secret`, and one that is not a plain name.
#[source]
fn facebook_ads(
    #[secret] token: String,
    #[config] (region, zone): (String, String),
) -> impl ele::IntoResources {
    let _ = (token, region, zone);
    ads()
}

fn main() {}
