//! Incremental and state parameters, and tables chosen per item: every key of `#[incremental]`, the bare
//! `Incremental` (cursor type `serde_json::Value`), a function path, an annotated and an unannotated closure as
//! `table_name`, and a merge on a merge key alone.
#![deny(warnings)]

use ele::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Serialize)]
struct Event {
    id: i64,
    kind: String,
    created_at: String,
}

fn event_table(e: &Event) -> String {
    e.kind.clone()
}

/// Events newer than the last run, one table per kind.
#[resource(primary_key = "id", write_disposition = "merge", table_name = event_table)]
async fn repo_events(
    out: Emit<Event>,
    repo: String,
    #[incremental(cursor = "created_at", initial_value = "1970-01-01T00:00:00Z")]
    created_at: Incremental<String>,
    state: ResourceState,
) -> ele::Result<()> {
    let since = created_at.start_value().unwrap_or_default();
    let pages: u32 = state.get_or_default("pages")?;
    out.send(Event {
        id: 1,
        kind: repo,
        created_at: since,
    })
    .await?;
    if !created_at.start_out_of_range() {
        state.set("pages", &(pages + 1))?;
    }
    Ok(())
}

/// The newest value per event type, dlt's `by_event_type`.
fn by_event_type(values: &[Value]) -> Value {
    values.last().cloned().unwrap_or(Value::Null)
}

#[resource(table_name = |e: &Value| e["kind"].as_str().unwrap_or("other").to_owned())]
async fn everything(
    #[incremental(
        cursor = "$",
        initial_value = json!({}),
        end_value = json!({ "push": "2022-08-01" }),
        last_value_func = by_event_type,
        primary_key = (),
        allow_external_schedulers = false,
        on_cursor_value_missing = "exclude",
        row_order = "desc",
        lag = 1.5,
    )]
    mut r#type: Incremental,
    out: Emit<Value>,
    shared: SourceState,
) -> Result<(), String> {
    r#type = r#type.clone();
    let last: Option<Value> = r#type.last_value();
    shared.set("last", &last).map_err(|e| e.to_string())?;
    out.send(json!({ "kind": "push" }))
        .await
        .map_err(|e| e.to_string())
}

/// Two incrementals, an unannotated closure, and `merge` on a merge key only.
#[resource(
    write_disposition = "merge",
    merge_key = "day",
    table_name = |e| format!("day_{}", e.id)
)]
pub(crate) async fn daily(
    out: Emit<Event>,
    #[incremental(
        cursor = "id",
        initial_value = 0,
        last_value_func = "min",
        primary_key = ("id", "kind"),
        allow_external_schedulers = true,
        on_cursor_value_missing = "include",
        row_order = "asc",
        lag = 3600,
    )]
    id: Incremental<i64>,
    #[incremental] updated_at: ele::Incremental<String>,
) -> ele::Result<()> {
    let _ = (id.start_value(), updated_at.end_out_of_range());
    out.send(Vec::<Event>::new()).await
}

fn main() {
    let r: RepoEventsResource = repo_events("ele".to_owned()).created_at(
        Incremental::new("created_at")
            .with_initial_value("2022-07-01T00:00:00Z")
            .with_end_value("2022-08-01T00:00:00Z"),
    );
    let hints = Resource::hints(&r);
    assert_eq!(hints.name, "repo_events");
    assert_eq!(hints.table_name, None);
    assert_eq!(hints.write_disposition, WriteDisposition::Merge);
    let table = Resource::table_name_fn(&r).expect("a table name function");
    let event = Event {
        id: 7,
        kind: "push".to_owned(),
        created_at: String::new(),
    };
    assert_eq!(table(&event), "push");

    let r = everything().r#type(Incremental::range(
        json!({}),
        json!({ "push": "2022-09-01" }),
    ));
    let table = Resource::table_name_fn(&r).expect("a table name function");
    assert_eq!(table(&json!({ "kind": "watch" })), "watch");
    assert_eq!(table(&json!({})), "other");

    let r: DailyResource = daily().updated_at(Incremental::new("updated_at"));
    assert_eq!(Resource::hints(&r).merge_key, Key::from("day"));
    assert!(Resource::hints(&r).primary_key.is_empty());
    let table = Resource::table_name_fn(&r).expect("a table name function");
    assert_eq!(table(&event), "day_7");

    // A fixed table name stays a hint, with no function.
    #[resource(table_name = "fixed")]
    async fn fixed(out: Emit<Value>) -> ele::Result<()> {
        out.send(Value::Null).await
    }
    assert_eq!(Resource::hints(&fixed()).table(), "fixed");
    assert!(Resource::table_name_fn(&fixed()).is_none());
}
