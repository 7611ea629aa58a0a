use ele::prelude::*;
use serde_json::Value;

mod reexport {
    pub use ::ele;
}

#[resource(crate = "ele", write_disposition = "replace")]
async fn plain(out: Emit<Value>) -> ele::Result<()> {
    out.send(Value::Null).await
}

#[resource(
    crate = "crate::reexport::ele",
    primary_key = "id",
    write_disposition = "merge"
)]
async fn through_reexport(out: Emit<Value>, id: i64) -> ele::Result<()> {
    out.send(serde_json::json!({ "id": id })).await
}

fn main() {
    assert_eq!(
        Resource::hints(&plain()).write_disposition,
        WriteDisposition::Replace
    );
    assert_eq!(
        Resource::hints(&through_reexport(7)).primary_key,
        Key::from("id")
    );
}
