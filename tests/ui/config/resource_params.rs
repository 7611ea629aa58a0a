use ele::prelude::*;

// A secret that could show in `Debug` output, a config value with arguments, both attributes, a setter that
// would hide a resource method, and `#[config]` on the emitter.
#[resource]
async fn tweets(
    out: Emit<serde_json::Value>,
    #[secret] bearer_token: String,
    #[config(key = "size")] page_size: u32,
    #[config]
    #[secret]
    token: Secret<String>,
    #[config] name: String,
    #[config] limit: u32,
) -> ele::Result<()> {
    let _ = (bearer_token, page_size, token, name, limit);
    out.send(serde_json::json!({"id": 1})).await
}

#[resource]
async fn emitter(#[config] out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource]
async fn incremental(
    out: Emit<serde_json::Value>,
    #[config]
    #[incremental(cursor = "id")]
    id: Incremental<i64>,
    #[config]
    #[config]
    region: String,
    #[secret]
    #[allow(unused_mut)]
    token: Secret<String>,
) -> ele::Result<()> {
    let _ = (id, region, token);
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
