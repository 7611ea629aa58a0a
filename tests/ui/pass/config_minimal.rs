//! The smallest forms of `#[config]`, `#[secret]`, `selected` and `resources(...)`.
#![deny(warnings)]

use ele::prelude::*;
use serde_json::Value;

#[resource(selected = false)]
async fn numbers(out: Emit<Value>, #[config] count: u32, #[secret] token: Secret<String>) -> ele::Result<()> {
    let _ = token.expose();
    out.send(Value::from(count)).await
}

#[source(resources(numbers))]
fn counting(#[config] start: u32) -> impl ele::IntoResources {
    numbers().count(start)
}

fn main() {
    let mut source = counting(Some(1));
    source.numbers().count(2).token(Secret::new("t".into()));
    assert!(source.selected_resource_names().is_empty());
}
