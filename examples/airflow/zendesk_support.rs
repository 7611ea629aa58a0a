//! The pipeline program the Airflow DAGs of this folder run: a Zendesk-like support source whose incremental
//! resources take their range from the scheduler.
//!
//! Mirrors the seed's (`incremental-loading.md`) "Using Airflow schedule for backfill and incremental loading":
//!
//! ```python
//! @dlt.resource(primary_key="id")
//! def tickets(
//!     zendesk_client,
//!     updated_at=dlt.sources.incremental[int]("updated_at", allow_external_schedulers=True),
//! ):
//!     for page in zendesk_client.get_pages(
//!         "/api/v2/incremental/tickets", "tickets", start_time=updated_at.start_value
//!     ):
//!         yield page
//! ```
//!
//! One binary serves every task: [`ele::RunArgs`] reads `--resources`, `--pipeline`, `--dataset` and the data
//! interval (`ELE_INTERVAL_START`/`ELE_INTERVAL_END`, set by the DAG's tasks from `{{ data_interval_start }}`
//! and `{{ data_interval_end }}`). With an interval the incrementals load exactly `[start, end)` and leave the
//! incremental state alone; without one they load incrementally from the pipeline state, as usual.
//!
//! The DAGs (regenerate them with `examples/airflow/generate.sh`):
//! - `zendesk_support_backfill.py`: weekly from 2023-02-01 to 2023-08-01 with catchup, pipeline
//!   `zendesk_support_backfill`, the three incremental resources, one task each, chained;
//! - `zendesk_support_new.py`: daily without catchup, pipeline `zendesk_support_new` (so both DAGs can run
//!   side by side), every resource.
//!
//! Both load into the dataset `zendesk_support_data`. The Zendesk API is stood in for by a fixture server on
//! 127.0.0.1 started by the program itself (`examples/fixtures/zendesk_support.json`).
//!
//! Run: `cargo run --example zendesk_support -- --resources tickets --interval-start 2023-02-12T00:00:00Z
//! --interval-end 2023-02-19T00:00:00Z`.

use std::process::ExitCode;

use ele::http::{JsonLinkPaginator, RestClient};
use ele::prelude::*;
use ele::{LoadInfo, RunArgs};
use serde_json::Value;

#[path = "../fixtures/server.rs"]
pub mod server;

/// The default pipeline name (`--pipeline` overrides it).
pub const PIPELINE: &str = "zendesk_support";
/// The dataset of both DAGs (`--dataset` overrides it).
pub const DATASET: &str = "zendesk_support_data";

/// A client of the support API.
#[derive(Clone)]
pub struct ZendeskClient {
    api: RestClient,
}

impl ZendeskClient {
    /// A client of the API at `base_url`.
    pub fn new(base_url: impl Into<String>) -> ele::Result<Self> {
        Ok(ZendeskClient {
            api: RestClient::new(base_url)?,
        })
    }

    /// Sends every page of the incremental export `export` changed at or after `start_time` (Unix seconds)
    /// through `out`, following `next_page`; stops early once a page reached the end of the incremental's
    /// range (`end_out_of_range`), as the export is ordered by its cursor.
    async fn export_pages<T: ele::Cursor>(
        &self,
        out: &Emit<Value>,
        export: &str,
        start_time: i64,
        cursor: &Incremental<T>,
    ) -> Result<(), ele::BoxError> {
        let mut pages = self
            .api
            .paginate(&format!("/api/v2/incremental/{export}"))
            .param("start_time", start_time)
            .data_selector(export)
            .paginator(JsonLinkPaginator::new("next_page"))
            .until_out_of_range(cursor);
        while let Some(page) = pages.next_page().await {
            out.send(page?.into_values()).await?;
        }
        Ok(())
    }
}

/// Tickets by `updated_at` (Unix seconds), the seed's resource.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn tickets(
    out: Emit<Value>,
    client: ZendeskClient,
    #[incremental(cursor = "updated_at", allow_external_schedulers = true)] updated_at: Incremental<
        i64,
    >,
) -> Result<(), ele::BoxError> {
    let start = updated_at.start_value().unwrap_or(0);
    client
        .export_pages(&out, "tickets", start, &updated_at)
        .await
}

/// Ticket events by `timestamp` (Unix seconds).
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn ticket_events(
    out: Emit<Value>,
    client: ZendeskClient,
    #[incremental(cursor = "timestamp", allow_external_schedulers = true)] timestamp: Incremental<
        i64,
    >,
) -> Result<(), ele::BoxError> {
    let start = timestamp.start_value().unwrap_or(0);
    client
        .export_pages(&out, "ticket_events", start, &timestamp)
        .await
}

/// Ticket metric events by `time`, an ISO 8601 string: the scheduler's instants become strings of the same
/// form.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn ticket_metric_events(
    out: Emit<Value>,
    client: ZendeskClient,
    #[incremental(
        cursor = "time",
        initial_value = "1970-01-01T00:00:00Z",
        allow_external_schedulers = true
    )]
    time: Incremental<String>,
) -> Result<(), ele::BoxError> {
    let start = time.start_value().unwrap_or_default();
    let start_time = chrono::DateTime::parse_from_rfc3339(&start).map_or(0, |t| t.timestamp());
    client
        .export_pages(&out, "ticket_metric_events", start_time, &time)
        .await
}

/// Users: not incremental, replaced on every run.
#[resource(primary_key = "id", write_disposition = "replace")]
pub async fn users(out: Emit<Value>, client: ZendeskClient) -> Result<(), ele::BoxError> {
    let page = client.api.get("/api/v2/users", &[]).await?;
    out.send(page.into_values()).await?;
    Ok(())
}

/// The support source: every resource (`--resources` selects some).
#[source]
pub fn zendesk_support(client: ZendeskClient) -> impl ele::IntoResources {
    (
        tickets(client.clone()),
        ticket_events(client.clone()),
        ticket_metric_events(client.clone()),
        users(client),
    )
}

/// Runs what `args` select on `pipeline`, with their interval, against the API at `api_url`.
pub async fn load(pipeline: &Pipeline, args: &RunArgs, api_url: &str) -> ele::Result<LoadInfo> {
    args.run(pipeline, zendesk_support(ZendeskClient::new(api_url)?))?
        .await
}

async fn run() -> Result<LoadInfo, ele::BoxError> {
    let args = RunArgs::from_env_args()?;
    let api = server::FixtureServer::start(fake_api::handler(fake_api::canned()?)).await?;
    // A scheduler's task (it gives an interval) must never load into a throwaway database: it needs
    // DESTINATION__POSTGRES__CREDENTIALS. By hand, the managed local instance will do.
    let destination = if args.interval().is_some() {
        Postgres::from_env()?
    } else {
        Postgres::from_env_or_local().await?
    };
    let pipeline = args
        .pipeline_builder(PIPELINE, Some(DATASET))
        .destination(destination)
        .build()?;
    Ok(load(&pipeline, &args, api.base_url()).await?)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(info) => {
            println!("{info}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The stand-in for the support API (not part of the pattern): `GET /api/v2/incremental/<export>?start_time=<unix>`
/// answers the canned items of the export changed at or after `start_time`, oldest first,
/// [`PAGE_SIZE`](fake_api::PAGE_SIZE) per page, with `next_page` and `end_of_stream`; `GET /api/v2/users`
/// answers the users.
pub mod fake_api {
    use serde_json::{Value, json};

    use super::server::{Request, page_of};

    /// Items per page.
    pub const PAGE_SIZE: usize = 10;
    /// The incremental exports and the cursor each is ordered by.
    pub const EXPORTS: [(&str, &str); 3] = [
        ("tickets", "updated_at"),
        ("ticket_events", "timestamp"),
        ("ticket_metric_events", "time"),
    ];

    /// The canned API data (`fixtures/zendesk_support.json`).
    pub fn canned() -> serde_json::Result<Value> {
        serde_json::from_str(include_str!("../fixtures/zendesk_support.json"))
    }

    /// A cursor value as Unix seconds (numbers as they are, ISO 8601 strings parsed).
    pub fn unix(value: &Value) -> i64 {
        match value {
            Value::Number(n) => n.as_i64().unwrap_or(0),
            Value::String(s) => {
                chrono::DateTime::parse_from_rfc3339(s).map_or(0, |t| t.timestamp())
            }
            _ => 0,
        }
    }

    /// The API holding `data`.
    pub fn handler(data: Value) -> impl Fn(&Request) -> Option<Value> + Send + Sync + 'static {
        move |request| {
            if request.path == "/api/v2/users" {
                return Some(json!({ "users": data["users"] }));
            }
            let export = request.path.strip_prefix("/api/v2/incremental/")?;
            let (_, cursor) = EXPORTS.iter().find(|(name, _)| *name == export)?;
            let start_time: i64 = request.param_or("start_time", 0);
            let page: usize = request.param_or("page", 1);
            let selected: Vec<Value> = data[export]
                .as_array()?
                .iter()
                .filter(|item| unix(&item[*cursor]) >= start_time)
                .cloned()
                .collect();
            let end_of_stream = selected.len() <= page * PAGE_SIZE;
            let next_page = format!(
                "{}{}?start_time={start_time}&page={}",
                request.base_url,
                request.path,
                page + 1
            );
            Some(json!({
                export: page_of(&selected, page, PAGE_SIZE),
                "next_page": if end_of_stream { Value::Null } else { json!(next_page) },
                "end_of_stream": end_of_stream,
                "count": selected.len(),
            }))
        }
    }
}
