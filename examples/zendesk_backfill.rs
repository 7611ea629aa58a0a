//! A backfill of Zendesk tickets by month that stops requesting pages at the end of its range: the tickets
//! export is ordered oldest to newest and filters by `start_time` only.
//!
//! Mirrors the seed's (`incremental-loading.md`) "Using `start/end_out_of_range` flags with incremental
//! resources":
//!
//! ```python
//! @dlt.resource(primary_key="id")
//! def tickets(
//!     zendesk_client,
//!     updated_at=dlt.sources.incremental(
//!         "updated_at",
//!         initial_value="2023-01-01T00:00:00Z",
//!         end_value="2023-02-01T00:00:00Z",
//!     ),
//! ):
//!     for page in zendesk_client.get_pages(
//!         "/api/v2/incremental/tickets", "tickets", start_time=updated_at.start_value
//!     ):
//!         yield page
//!
//!         # Optimization: Stop loading when we reach the end value
//!         if updated_at.end_out_of_range:
//!             return
//! ```
//!
//! `end_out_of_range()` is true once a page sent through `out.send` held a ticket at or after the end value;
//! those tickets are filtered out, and as the export is ordered, so would every later page be. With an end value
//! the run is stateless: it can be repeated, or run for another month with a call-site range such as
//! `tickets(..).updated_at(Incremental::range("2023-02-01T00:00:00Z", "2023-03-01T00:00:00Z"))` (the seed's
//! Airflow backfill, one interval at a time). The resource merges by `id` (the seed appends) so that running a
//! chunk again does not duplicate its tickets.
//!
//! Run: `cargo run --example zendesk_backfill`.

use ele::http::{JsonLinkPaginator, RestClient};
use ele::prelude::*;
use serde::{Deserialize, Serialize};

#[path = "fixtures/server.rs"]
pub mod server;

/// A Zendesk ticket, with the fields this example keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// Ticket id.
    pub id: i64,
    /// Subject line.
    pub subject: String,
    /// `open`, `pending`, `solved`, ...
    pub status: String,
    /// Tags: a child table `tickets__tags`.
    pub tags: Vec<String>,
    /// Last change: the incremental cursor.
    pub updated_at: String,
}

/// Tickets changed in January 2023 (or the range given at the call site), page by page from the start of the
/// range; stops at the first page that reaches the end of the range.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn tickets(
    out: Emit<Ticket>,
    zendesk_url: String,
    #[incremental(
        cursor = "updated_at",
        initial_value = "2023-01-01T00:00:00Z",
        end_value = "2023-02-01T00:00:00Z"
    )]
    updated_at: Incremental<String>,
) -> Result<(), ele::BoxError> {
    let zendesk = RestClient::new(zendesk_url)?;
    // The export takes the start as a Unix timestamp.
    let start = updated_at
        .start_value()
        .ok_or("the incremental has an initial value")?;
    let start_time = chrono::DateTime::parse_from_rfc3339(&start)?.timestamp();
    let mut pages = zendesk
        .paginate("/api/v2/incremental/tickets")
        .param("start_time", start_time)
        .data_selector("tickets")
        .paginator(JsonLinkPaginator::new("next_page"))
        // Optimization: stop loading when we reach the end value.
        .until_out_of_range(&updated_at);
    while let Some(page) = pages.next_page().await {
        out.send(page?.items::<Ticket>()?).await?;
    }
    Ok(())
}

/// The tickets of February 2023: a call-site range over the same resource.
pub fn february_tickets(zendesk_url: &str) -> TicketsResource {
    tickets(zendesk_url.to_owned()).updated_at(Incremental::range(
        "2023-02-01T00:00:00Z",
        "2023-03-01T00:00:00Z",
    ))
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let api = server::FixtureServer::start(fake_api::tickets(fake_api::canned())).await?;
    // Zendesk rate limits often: the second page answers 429 once, with `Retry-After`.
    api.fail_once(
        format!("{}?start_time=1672531200&page=2", fake_api::PATH),
        server::Reply::too_many_requests(1),
    );
    let pipeline = Pipeline::builder("zendesk_backfill")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("zendesk_data")
        .build()?;

    println!(
        "{}",
        pipeline.run(tickets(api.base_url().to_owned())).await?
    );
    println!(
        "January: {} requests (a rate-limited one retried) of an export of {} pages\n",
        api.requests(fake_api::PATH),
        fake_api::pages_from("2023-01-01T00:00:00Z")
    );
    api.reset();
    println!("{}", pipeline.run(february_tickets(api.base_url())).await?);
    println!(
        "February: requested {} of {} pages",
        api.requests(fake_api::PATH),
        fake_api::pages_from("2023-02-01T00:00:00Z")
    );
    Ok(())
}

/// The stand-in for the Zendesk incremental tickets export (not part of the pattern):
/// `GET /api/v2/incremental/tickets?start_time=<unix>` answers the canned tickets of
/// `fixtures/zendesk_tickets.json` changed at or after `start_time`, oldest first, [`PAGE_SIZE`](fake_api::PAGE_SIZE)
/// per page, with `next_page` and `end_of_stream`.
pub mod fake_api {
    use serde_json::{Value, json};

    use super::server::{Request, page_of};

    /// The export's path.
    pub const PATH: &str = "/api/v2/incremental/tickets";
    /// Tickets per page: small, so the tiny fixture has several pages.
    pub const PAGE_SIZE: usize = 2;

    /// The canned tickets, oldest first.
    pub fn canned() -> Vec<Value> {
        let doc: Value = serde_json::from_str(include_str!("fixtures/zendesk_tickets.json"))
            .expect("fixtures/zendesk_tickets.json is valid");
        doc["tickets"].as_array().cloned().unwrap_or_default()
    }

    fn unix(timestamp: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(timestamp).map_or(0, |t| t.timestamp())
    }

    fn changed_since(tickets: &[Value], start_time: i64) -> Vec<Value> {
        tickets
            .iter()
            .filter(|t| unix(t["updated_at"].as_str().unwrap_or_default()) >= start_time)
            .cloned()
            .collect()
    }

    /// How many pages the export has from `start` on.
    pub fn pages_from(start: &str) -> usize {
        changed_since(&canned(), unix(start))
            .len()
            .div_ceil(PAGE_SIZE)
    }

    /// An API holding `tickets`.
    pub fn tickets(
        tickets: Vec<Value>,
    ) -> impl Fn(&Request) -> Option<Value> + Send + Sync + 'static {
        move |request| {
            if request.path != PATH {
                return None;
            }
            let start_time: i64 = request.param_or("start_time", 0);
            let page: usize = request.param_or("page", 1);
            let selected = changed_since(&tickets, start_time);
            let end_of_stream = selected.len() <= page * PAGE_SIZE;
            let next_page = format!(
                "{}{PATH}?start_time={start_time}&page={}",
                request.base_url,
                page + 1
            );
            Some(json!({
                "tickets": page_of(&selected, page, PAGE_SIZE),
                "next_page": if end_of_stream { Value::Null } else { json!(next_page) },
                "end_of_stream": end_of_stream,
                "count": selected.len(),
            }))
        }
    }
}
