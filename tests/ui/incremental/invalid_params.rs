use ele::prelude::*;

/// Types the macro recognises by name, in forms it does not accept (valid Rust, so only its errors show).
mod other {
    pub struct Incremental<A, B>(pub A, pub B);
    pub struct SourceState<T>(pub T);
}

#[resource]
async fn events(
    out: Emit<serde_json::Value>,
    borrowed: &Incremental<String>,
    two: other::Incremental<String, i64>,
    ref by_ref: Incremental,
    name: Incremental<String>,
    #[incremental = "created_at"] eq: Incremental,
    #[allow(unused)] allowed: Incremental<i64>,
    state: &ResourceState,
    shared: other::SourceState<u8>,
) -> ele::Result<()> {
    let _ = (borrowed, two, by_ref, name, eq, allowed, state, shared);
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
