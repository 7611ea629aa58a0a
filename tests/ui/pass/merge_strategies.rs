//! The merge strategies and their hints, in the smallest valid forms.
use ele::prelude::*;

#[resource(merge_strategy = "upsert", primary_key = "id", hard_delete = "deleted")]
async fn customers(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1, "deleted": false})).await
}

#[resource(write_disposition = "merge", merge_strategy = "scd2")]
async fn dimension(out: Emit<serde_json::Value>) -> ele::Result<()> {
    out.send(serde_json::json!({"id": 1})).await
}

#[resource(write_disposition = "merge", primary_key = "id", dedup_sort = ("seq", "asc"))]
async fn events(
    out: Emit<serde_json::Value>,
    #[incremental(cursor = "updated_at", lag = 172800)] updated_at: Incremental<String>,
) -> ele::Result<()> {
    let _ = updated_at.start_value();
    out.send(serde_json::json!({"id": 1, "seq": 1})).await
}

fn main() {
    let upsert = customers();
    assert_eq!(upsert.hints().merge_strategy, MergeStrategy::Upsert);
    assert_eq!(upsert.hints().write_disposition, WriteDisposition::Merge);
    let _ = dimension().scd2(Scd2::default().validity_columns("valid_from", "valid_to"));
    let _ = events().dedup_sort("seq", SortOrder::Desc).hard_delete("gone");
}
