use ele::prelude::*;
use serde_json::{Value, json};

#[resource]
async fn numbers(out: Emit<Value>) -> ele::Result<()> {
    out.send(json!({"n": 1})).await?;
    Ok(())
}

fn main() {
    let r: NumbersResource = numbers();
    let hints = Resource::hints(&r);
    assert_eq!(hints.name, "numbers");
    assert_eq!(hints.table(), "numbers");
    assert_eq!(hints.write_disposition, WriteDisposition::Append);
    assert!(hints.primary_key.is_empty());
    assert!(hints.merge_key.is_empty());
}
