use ele::prelude::*;

#[resource]
async fn ads(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[source(
    name = "",
    root_key = 1,
    max_table_nesting = "2",
    name = "facebook_ads",
    primary_key = "id"
)]
fn facebook_ads<T: Into<String>>(token: T) {
    let _ = (token, ads());
}

fn main() {}
