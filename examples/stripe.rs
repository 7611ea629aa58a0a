//! Resources created in a loop: one `#[resource]` function called once per Stripe endpoint, each call renamed
//! after its endpoint, merged by `id`, with its own incremental on `created` kept per resource.
//!
//! Mirrors the seed's (`incremental-loading.md`) "Using `dlt.sources.incremental` with dynamically created
//! resources":
//!
//! ```python
//! @dlt.source
//! def stripe():
//!     # declare a generator function
//!     def get_resource(
//!         endpoint: Endpoints,
//!         created: dlt.sources.incremental=dlt.sources.incremental("created")
//!     ):
//!         ...
//!         yield data
//!
//!     # create resources for several endpoints on a single decorator function
//!     for endpoint in Endpoints:
//!         yield dlt.resource(
//!             get_resource,
//!             name=endpoint.value,
//!             write_disposition="merge",
//!             primary_key="id"
//!         )(endpoint)
//! ```
//!
//! The seed warns against passing a started generator, which keeps dlt from binding `created`. In Rust
//! calling `get_resource(..)` runs nothing: it returns a resource value, and the runtime binds `created` from
//! the state of the resource it ends up named as (`sources.stripe.resources.<endpoint>.incremental.created`)
//! when a pipeline runs it. `.name(..)`, `.write_disposition(..)` and `.primary_key(..)` set the hints the seed
//! passes to `dlt.resource`.
//!
//! Run: `cargo run --example stripe`.

use ele::http::{PageRequest, PageResponse, Paginator, RestClient};
use ele::prelude::*;
use serde_json::Value;

#[path = "fixtures/server.rs"]
pub mod server;

/// The Stripe endpoints loaded (the seed's `Endpoints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/customers`
    Customers,
    /// `/v1/subscriptions`
    Subscriptions,
    /// `/v1/invoices`
    Invoices,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 3] = [
        Endpoint::Customers,
        Endpoint::Subscriptions,
        Endpoint::Invoices,
    ];

    /// The endpoint's name: the path segment, the resource name and the table name.
    pub fn value(self) -> &'static str {
        match self {
            Endpoint::Customers => "customers",
            Endpoint::Subscriptions => "subscriptions",
            Endpoint::Invoices => "invoices",
        }
    }
}

/// The objects of one endpoint created at or after the last run's newest one (all of them on the first run:
/// the incremental has no initial value), following Stripe's `starting_after` pagination.
#[resource]
pub async fn get_resource(
    out: Emit<Value>,
    api_url: String,
    endpoint: Endpoint,
    #[incremental(cursor = "created")] created: Incremental<i64>,
) -> Result<(), ele::BoxError> {
    let stripe = RestClient::new(api_url)?;
    let mut pages = stripe
        .paginate(&format!("/v1/{}", endpoint.value()))
        .param("limit", 100)
        .param("created[gte]", &created)
        .paginator(StartingAfter);
    while let Some(page) = pages.next_page().await {
        out.send(page?.into_values()).await?;
    }
    Ok(())
}

/// Stripe's pagination, a custom [`Paginator`]: while `has_more` is true, the next page starts after the id of
/// the last object of this one.
pub struct StartingAfter;

impl Paginator for StartingAfter {
    fn next_request(
        &mut self,
        page: &PageResponse<'_>,
        request: &mut PageRequest,
    ) -> ele::Result<bool> {
        let last_id = page.items().last().and_then(|object| object["id"].as_str());
        match last_id {
            Some(id) if page.body()["has_more"] == true => {
                request.set_param("starting_after", id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// The `stripe` source: one resource per endpoint, made from the same function.
pub fn stripe_source(api_url: &str) -> Source {
    let mut source = Source::new("stripe");
    for endpoint in Endpoint::ALL {
        source.push(
            get_resource(api_url.to_owned(), endpoint)
                .name(endpoint.value())
                .write_disposition(Merge)
                .primary_key("id"),
        );
    }
    source
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let canned = fake_api::Canned::load();
    let api = server::FixtureServer::start(fake_api::stripe(canned.endpoints.clone())).await?;
    // The API has a bad moment on the first request for customers: the client retries it after a backoff.
    api.fail_once("/v1/customers?limit=100", server::Reply::server_error());
    let pipeline = Pipeline::builder("stripe")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("stripe_data")
        .build()?;
    println!("{}", pipeline.run(stripe_source(api.base_url())).await?);
    // Later: a new customer. Each endpoint is asked for the objects created since its own last value.
    api.reset();
    api.set_handler(fake_api::stripe(canned.all_objects()));
    println!("{}", pipeline.run(stripe_source(api.base_url())).await?);
    println!("requests made:");
    let mut requests = api.log();
    requests.sort();
    for request in requests {
        println!("  {request}");
    }
    Ok(())
}

/// The stand-in for the Stripe API (not part of the pattern): `GET /v1/{endpoint}?created[gte]=..&limit=..
/// &starting_after=..` answers the canned objects of `fixtures/stripe.json`, newest first, `has_more` telling
/// whether a next page starts after the last object's id.
pub mod fake_api {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::server::Request;

    /// The canned objects, by endpoint, newest first.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Canned {
        /// The objects at first.
        pub endpoints: BTreeMap<String, Vec<Value>>,
        /// Objects created later.
        pub new: BTreeMap<String, Vec<Value>>,
    }

    impl Canned {
        /// Reads `fixtures/stripe.json`.
        pub fn load() -> Canned {
            serde_json::from_str(include_str!("fixtures/stripe.json"))
                .expect("fixtures/stripe.json is valid")
        }

        /// All objects, the new ones on top.
        pub fn all_objects(&self) -> BTreeMap<String, Vec<Value>> {
            let mut all = self.endpoints.clone();
            for (endpoint, new) in &self.new {
                let old = all.remove(endpoint).unwrap_or_default();
                all.insert(endpoint.clone(), new.iter().chain(&old).cloned().collect());
            }
            all
        }
    }

    /// An API holding `objects`.
    pub fn stripe(
        objects: BTreeMap<String, Vec<Value>>,
    ) -> impl Fn(&Request) -> Option<Value> + Send + Sync + 'static {
        move |request| {
            let endpoint = request.path.strip_prefix("/v1/")?;
            let gte: i64 = request.param_or("created[gte]", i64::MIN);
            let limit: usize = request.param_or("limit", 10);
            let mut matching = objects
                .get(endpoint)?
                .iter()
                .filter(|o| o["created"].as_i64().is_some_and(|c| c >= gte));
            if let Some(after) = request.param("starting_after") {
                matching.by_ref().find(|o| o["id"] == after);
            }
            let rest: Vec<Value> = matching.cloned().collect();
            let data: Vec<Value> = rest.iter().take(limit).cloned().collect();
            Some(json!({
                "object": "list",
                "url": request.path,
                "has_more": rest.len() > limit,
                "data": data,
            }))
        }
    }
}
