//! A custom `last_value_func`: the last value is a map holding the newest `created_at` per event type, so an
//! event of one type that arrives late is still loaded when a newer event of another type was loaded before.
//!
//! Mirrors the seed's (`incremental-loading.md`) "max, min or custom `last_value_func`":
//!
//! ```python
//! def by_event_type(event):
//!     last_value = None
//!     if len(event) == 1:
//!         item, = event
//!     else:
//!         item, last_value = event
//!     if last_value is None:
//!         last_value = {}
//!     else:
//!         last_value = dict(last_value)
//!     item_type = item["type"]
//!     last_value[item_type] = max(item["created_at"], last_value.get(item_type, "1970-01-01T00:00:00Z"))
//!     return last_value
//!
//! @dlt.resource(primary_key="id", table_name=lambda i: i['type'])
//! def get_events(last_created_at = dlt.sources.incremental("$", last_value_func=by_event_type)):
//!     with open("tests/normalize/cases/github.events.load_page_1_duck.json", "r", encoding="utf-8") as f:
//!         yield json.load(f)
//! ```
//!
//! The cursor `$` selects the whole item; the function receives `[item]` or `[item, last_value]`, as dlt's
//! does. Here the page comes from a stand-in for the GitHub API instead of a file.
//!
//! Run: `cargo run --example custom_last_value`.

use ele::http::RestClient;
use ele::prelude::*;
use serde_json::{Map, Value};

#[path = "fixtures/server.rs"]
pub mod server;

/// The seed's `by_event_type`: `values` is `[item]` or `[item, last_value]`; the new last value is the map with
/// the item's type set to the newer of its `created_at` and the map's value for that type.
pub fn by_event_type(values: &[Value]) -> Value {
    let (item, last_value) = match values {
        [item] => (item, None),
        [item, last_value, ..] => (item, Some(last_value)),
        [] => return Value::Null,
    };
    let mut last_value: Map<String, Value> = last_value
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let item_type = item["type"].as_str().unwrap_or_default().to_owned();
    let created_at = item["created_at"].as_str().unwrap_or_default();
    let known = last_value
        .get(&item_type)
        .and_then(Value::as_str)
        .unwrap_or("1970-01-01T00:00:00Z");
    // ISO 8601 timestamps in the same format order as strings.
    let newest = created_at.max(known).to_owned();
    last_value.insert(item_type, Value::String(newest));
    Value::Object(last_value)
}

/// The table of an event: its type.
pub fn event_table(event: &Value) -> String {
    event["type"].as_str().unwrap_or("unknown_event").to_owned()
}

/// One page of events of duckdb/duckdb; the incremental on `$` keeps the newest `created_at` per event type and
/// drops the events not newer than that of their type.
#[resource(primary_key = "id", table_name = event_table)]
pub async fn get_events(
    out: Emit<Value>,
    api_url: String,
    #[incremental(cursor = "$", last_value_func = by_event_type)] last_created_at: Incremental<
        Value,
    >,
) -> Result<(), ele::BoxError> {
    let github = RestClient::new(api_url)?;
    let page = github.get("/repos/duckdb/duckdb/events", &[]).await?;
    out.send(page.into_values()).await?;
    println!(
        "newest event per type: {}",
        last_created_at.last_value().unwrap_or_default()
    );
    Ok(())
}

/// One run of the pipeline over the events at `api_url`.
pub async fn load_events(pipeline: &Pipeline, api_url: &str) -> ele::Result<LoadInfo> {
    pipeline.run(get_events(api_url.to_owned())).await
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let canned = fake_api::Canned::load();
    let api = server::FixtureServer::start(fake_api::events(canned.page.clone())).await?;
    let pipeline = Pipeline::builder("custom_last_value")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("custom_last_value_data")
        .build()?;
    println!("{}", load_events(&pipeline, api.base_url()).await?);
    // Later the page starts with a new PushEvent and a WatchEvent that arrived late: older than the newest
    // PushEvent loaded, newer than the newest WatchEvent. Both are loaded, nothing else.
    api.set_handler(fake_api::events(canned.later_page.clone()));
    println!("{}", load_events(&pipeline, api.base_url()).await?);
    let state = pipeline.state()?.map(|s| s.sources).unwrap_or_default();
    println!(
        "state at sources.custom_last_value.resources.get_events.incremental.$: {}",
        state
            .get("custom_last_value")
            .map(|s| s["resources"]["get_events"]["incremental"]["$"].clone())
            .unwrap_or_default()
    );
    Ok(())
}

/// The stand-in for the GitHub API (not part of the pattern): `GET /repos/duckdb/duckdb/events` answers a canned
/// page of `fixtures/custom_last_value.json`.
pub mod fake_api {
    use serde_json::Value;

    use super::server::Request;

    /// The canned pages.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Canned {
        /// The page on the first run.
        pub page: Vec<Value>,
        /// The page later.
        pub later_page: Vec<Value>,
    }

    impl Canned {
        /// Reads `fixtures/custom_last_value.json`.
        pub fn load() -> Canned {
            serde_json::from_str(include_str!("fixtures/custom_last_value.json"))
                .expect("fixtures/custom_last_value.json is valid")
        }
    }

    /// An API answering `page`.
    pub fn events(page: Vec<Value>) -> impl Fn(&Request) -> Option<Value> + Send + Sync + 'static {
        move |request| {
            (request.path == "/repos/duckdb/duckdb/events").then(|| Value::Array(page.clone()))
        }
    }
}
