//! GitHub events of a repository, one table per event type, loaded incrementally by `created_at`; paging
//! stops as soon as a page reaches events loaded by an earlier run.
//!
//! Mirrors two snippets of the seed (`incremental-loading.md`). From "Merge incremental loading", the resource
//! that dispatches events to tables by type and keeps one copy of each event by id:
//!
//! ```python
//! @dlt.resource(primary_key="id", write_disposition="merge", table_name=lambda i: i['type'])
//! def github_repo_events(last_created_at = dlt.sources.incremental("created_at", "1970-01-01T00:00:00Z")):
//!     yield from _get_rest_pages("events")
//! ```
//!
//! and from "Incremental loading with last value", the early stop on an API that returns everything, newest
//! first, with no way to filter by date:
//!
//! ```python
//! for page in _get_rest_pages(access_token, repos_path + "?per_page=100"):
//!     yield page
//!     if last_created_at.start_out_of_range:
//!         break
//! ```
//!
//! Run: `cargo run --example github_events` (a local stand-in for the GitHub API serves
//! `fixtures/github_events.json`; the data goes to `DESTINATION__POSTGRES__CREDENTIALS` or the local instance).

use ele::http::{HeaderLinkPaginator, RestClient};
use ele::prelude::*;
use serde_json::Value;

#[path = "fixtures/server.rs"]
pub mod server;

/// The repository whose events are loaded.
pub const OWNER: &str = "duckdb";
/// See [`OWNER`].
pub const REPO: &str = "duckdb";

/// The table of an event: its type, `PushEvent` -> table `push_event` (dlt's `lambda i: i['type']`).
pub fn event_table(event: &Value) -> String {
    event["type"].as_str().unwrap_or("unknown_event").to_owned()
}

/// The events of `owner/repo`, newest first, page by page through `ele::http`. Each page passes the
/// `created_at` incremental in `out.send`: events not newer than the last run's newest one are filtered out
/// (the one at the boundary by its id), and `start_out_of_range()` tells that the page reached them, so older
/// pages need not be requested.
#[resource(primary_key = "id", write_disposition = "merge", table_name = event_table)]
pub async fn github_repo_events(
    out: Emit<Value>,
    api_url: String,
    owner: String,
    repo: String,
    #[incremental(
        cursor = "created_at",
        initial_value = "1970-01-01T00:00:00Z",
        last_value_func = "max"
    )]
    last_created_at: Incremental<String>,
) -> Result<(), ele::BoxError> {
    let github = RestClient::new(api_url)?;
    // GitHub pages with `Link: <...?page=2>; rel="next"` headers. The events come newest first, so once a page
    // holds an event older than the start value, every later page is out of range too: the seed's optional
    // optimization, `until_out_of_range`, stops the paging there.
    let mut pages = github
        .paginate(&format!("/repos/{owner}/{repo}/events"))
        .param("per_page", fake_api::PAGE_SIZE)
        .paginator(HeaderLinkPaginator::new())
        .until_out_of_range(&last_created_at);
    while let Some(page) = pages.next_page().await {
        out.send(page?.into_values()).await?;
    }
    Ok(())
}

/// One run of the pipeline over the events of [`OWNER`]/[`REPO`] at `api_url`.
pub async fn load_events(pipeline: &Pipeline, api_url: &str) -> ele::Result<LoadInfo> {
    pipeline
        .run(github_repo_events(
            api_url.to_owned(),
            OWNER.to_owned(),
            REPO.to_owned(),
        ))
        .await
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let canned = fake_api::Canned::load();
    let api = server::FixtureServer::start(fake_api::events(canned.events.clone())).await?;
    // Like the real API now and then: the second page is rate limited once, and the client waits as asked.
    api.fail_once(
        fake_api::page_request(2),
        server::Reply::too_many_requests(1),
    );
    let pipeline = Pipeline::builder("github_events")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("github_events_data")
        .build()?;

    println!("{}", load_events(&pipeline, api.base_url()).await?);
    println!(
        "made {} request(s) for events (one was rate limited and retried)\n",
        api.requests(&fake_api::events_path())
    );

    // Later: new events arrived on top. Only the new ones are loaded, and paging stops at the page that
    // reaches the events loaded above.
    api.reset();
    api.set_handler(fake_api::events(canned.all_events()));
    println!("{}", load_events(&pipeline, api.base_url()).await?);
    println!(
        "made {} request(s) for events",
        api.requests(&fake_api::events_path())
    );
    println!(
        "one table per event type: github_events_data.push_event, .watch_event, .issues_event (and child tables)"
    );
    Ok(())
}

/// The stand-in for the GitHub API (not part of the pattern): `GET /repos/{owner}/{repo}/events?per_page=N&page=M`
/// answers the canned events of `fixtures/github_events.json`, newest first, with a `Link` header to the next
/// page while there is one.
pub mod fake_api {
    use serde_json::Value;

    use super::server::{Reply, Request, linked_page};
    use super::{OWNER, REPO};

    /// Events per page: small, so the tiny fixture has several pages.
    pub const PAGE_SIZE: usize = 3;

    /// The canned events.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Canned {
        /// What the API holds on the first run, newest first.
        pub events: Vec<Value>,
        /// Events that arrive later, newest first.
        pub newer_events: Vec<Value>,
    }

    impl Canned {
        /// Reads `fixtures/github_events.json`.
        pub fn load() -> Canned {
            serde_json::from_str(include_str!("fixtures/github_events.json"))
                .expect("fixtures/github_events.json is valid")
        }

        /// The newer events on top of the first ones, as the API returns them later.
        pub fn all_events(&self) -> Vec<Value> {
            self.newer_events
                .iter()
                .chain(&self.events)
                .cloned()
                .collect()
        }
    }

    /// The path of the events of [`OWNER`]/[`REPO`].
    pub fn events_path() -> String {
        format!("/repos/{OWNER}/{REPO}/events")
    }

    /// The request of page `page` (2 or more) as the server logs it: the link of the page before.
    pub fn page_request(page: usize) -> String {
        format!("{}?per_page={PAGE_SIZE}&page={page}", events_path())
    }

    /// An API holding `events` (newest first).
    pub fn events(
        events: Vec<Value>,
    ) -> impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static {
        let path = events_path();
        move |request| (request.path == path).then(|| linked_page(request, &events, PAGE_SIZE))
    }
}
