use ele::prelude::*;

#[resource]
async fn events(
    out: Emit<serde_json::Value>,
    #[incremental(
        cursor = "",
        intial_value = "1970-01-01T00:00:00Z",
        last_value_func = "avg",
        primary_key = 5,
        allow_external_schedulers = "yes",
        row_order = "up",
        lag = "1h"
    )]
    created_at: Incremental<String>,
) -> ele::Result<()> {
    let _ = created_at;
    out.send(serde_json::json!({"id": 1})).await
}

fn main() {}
