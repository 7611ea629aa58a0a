//! The seed's "typical mistake": a dynamic resource is made from the function, not from a call of it (nor
//! from a stream), and `bind` takes the arguments as one tuple.
use ele::prelude::*;
use serde_json::{Value, json};

#[resource]
async fn get_resource(out: Emit<Value>, key: String, endpoint: String) -> ele::Result<()> {
    out.send(json!({ "key": key, "endpoint": endpoint })).await
}

fn main() {
    let key = "charges".to_owned();
    let endpoint = "/v1/charges".to_owned();
    let _ = ele::from_fn(get_resource(key.clone(), endpoint.clone())).name("charges");
    let _ = ele::from_fn(futures::stream::iter(vec![json!({})]));
    let _ = ele::from_fn(get_resource).bind((key, endpoint, 3));
}
