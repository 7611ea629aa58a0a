use ele::prelude::*;

#[resource]
async fn ads(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[source(root_key = "yes")]
fn facebook_ads() -> impl ele::IntoResources {
    ads()
}

fn main() {
    let _ = facebook_ads();
}
