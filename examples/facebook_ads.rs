//! Forcing root key propagation: a replace load of the disapproved ads, then a merge of the paused ones into the
//! same tables. The disapproved ads stay, and merging the same ads again replaces their child rows.
//!
//! Mirrors the seed's (`incremental-loading.md`) "Forcing root key propagation":
//!
//! ```python
//! pipeline = dlt.pipeline(
//!     pipeline_name='facebook_insights',
//!     destination='duckdb',
//!     dataset_name='facebook_insights_data',
//!     full_refresh=True
//! )
//! fb_ads = facebook_ads_source()
//! # enable root key propagation on a source that is not a merge one by default.
//! # this is not required if you always use merge but below we start with replace
//! fb_ads.root_key = True
//! # load only disapproved ads
//! fb_ads.ads.bind(states=("DISAPPROVED", ))
//! info = pipeline.run(fb_ads.with_resources("ads"), write_disposition="replace")
//! # merge the paused ads. the disapproved ads stay there!
//! fb_ads = facebook_ads_source()
//! fb_ads.ads.bind(states=("PAUSED", ))
//! info = pipeline.run(fb_ads.with_resources("ads"), write_disposition="merge")
//! ```
//!
//! A merge finds the child rows of the replaced parents by `_dlt_root_id`. A replace load does not write that
//! column unless the source asks for it (`root_key(true)`, dlt's `root_key = True`); without it the later merge
//! could not replace the ads' labels. The seed's `fb_ads.ads.bind(states=...)` is the typed accessor
//! `fb_ads.ads().states(...)`, which `#[source(resources(ads, campaigns))]` generates: one setter per argument
//! of the `ads` resource function. `with_resources(["ads"])` leaves the other resource (campaigns) out of the
//! run, so it is not even requested.
//!
//! Run: `cargo run --example facebook_ads`.

use ele::http::{JsonLinkPaginator, RestClient};
use ele::prelude::*;
use serde_json::Value;

#[path = "fixtures/server.rs"]
pub mod server;

/// The ad account loaded.
pub const ACCOUNT_ID: &str = "act_1234567890";

/// The objects of an edge of the account, page by page: the Graph API links its pages with a next URL in the
/// body, `paging.next`, and holds the objects in `data`.
async fn get_data(
    graph_url: String,
    edge: &str,
    query: &[(&str, String)],
) -> Result<Vec<Value>, ele::BoxError> {
    let graph = RestClient::new(graph_url)?;
    let mut pages = graph
        .paginate(&format!("/v17.0/{ACCOUNT_ID}/{edge}"))
        .param("limit", fake_api::PAGE_SIZE)
        .data_selector("data")
        .paginator(JsonLinkPaginator::new("paging.next"));
    for (name, value) in query {
        pages = pages.param(name, value);
    }
    Ok(pages.collect_items().await?)
}

/// The ads of the account in the given effective states; their labels become the child table `ads__adlabels`.
#[resource(name = "ads", primary_key = "id", write_disposition = "replace")]
pub async fn ads(
    out: Emit<Value>,
    graph_url: String,
    states: Vec<String>,
) -> Result<(), ele::BoxError> {
    let query = [
        ("effective_status", states.join(",")),
        (
            "fields",
            "id,name,effective_status,adset_id,campaign_id,created_time,creative,adlabels"
                .to_owned(),
        ),
    ];
    out.send(get_data(graph_url, "ads", &query).await?).await?;
    Ok(())
}

/// The campaigns of the account.
#[resource(name = "campaigns", primary_key = "id", write_disposition = "replace")]
pub async fn campaigns(out: Emit<Value>, graph_url: String) -> Result<(), ele::BoxError> {
    let query = [("fields", "id,name,status,objective".to_owned())];
    out.send(get_data(graph_url, "campaigns", &query).await?)
        .await?;
    Ok(())
}

/// The `facebook_ads` source: the ads (in every state until `ads().states(...)` says otherwise) and the
/// campaigns. `resources(ads, campaigns)` gives the returned source an accessor per resource.
#[source(name = "facebook_ads", resources(ads, campaigns))]
pub fn facebook_ads(graph_url: String) -> impl ele::IntoResources {
    (campaigns(graph_url.clone()), ads(graph_url, Vec::new()))
}

/// The seed's two runs: replace with the disapproved ads (root keys forced on), then merge the paused ones.
pub async fn replace_then_merge(
    pipeline: &Pipeline,
    graph_url: &str,
) -> Result<(LoadInfo, LoadInfo), ele::BoxError> {
    let mut fb_ads = facebook_ads(graph_url.to_owned());
    // Enable root key propagation on a source that is not a merge one by default: not required if you always
    // use merge, but below we start with replace.
    fb_ads.set_root_key(true);
    // Load only disapproved ads.
    fb_ads.ads().states(vec!["DISAPPROVED".into()]);
    let replaced = pipeline
        .run(fb_ads.with_resources(["ads"])?)
        .write_disposition(Replace)
        .await?;
    // Merge the paused ads: the disapproved ads stay there.
    let mut fb_ads = facebook_ads(graph_url.to_owned());
    fb_ads.ads().states(vec!["PAUSED".into()]);
    let merged = pipeline
        .run(fb_ads.with_resources(["ads"])?)
        .write_disposition(Merge)
        .await?;
    Ok((replaced, merged))
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let api = server::FixtureServer::start(fake_api::graph(fake_api::Canned::load())).await?;
    let pipeline = Pipeline::builder("facebook_insights")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("facebook_insights_data")
        .build()?;
    let (replaced, merged) = replace_then_merge(&pipeline, api.base_url()).await?;
    println!("{replaced}\n{merged}");
    println!(
        "requests: {} for ads, {} for campaigns",
        api.requests(&fake_api::path("ads")),
        api.requests(&fake_api::path("campaigns"))
    );
    println!(
        "facebook_insights_data.ads holds the disapproved and the paused ads; their labels are in ads__adlabels"
    );
    Ok(())
}

/// The stand-in for the Facebook Graph API (not part of the pattern): `GET /v17.0/{account}/ads?effective_status=..`
/// and `GET /v17.0/{account}/campaigns` answer the canned objects of `fixtures/facebook_ads.json`, `limit` a page,
/// linked by `paging.next`.
pub mod fake_api {
    use serde_json::{Value, json};

    use super::ACCOUNT_ID;
    use super::server::{Request, percent_encode};

    /// The canned objects.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Canned {
        /// Ads in every state.
        pub ads: Vec<Value>,
        /// Campaigns.
        pub campaigns: Vec<Value>,
    }

    impl Canned {
        /// Reads `fixtures/facebook_ads.json`.
        pub fn load() -> Canned {
            serde_json::from_str(include_str!("fixtures/facebook_ads.json"))
                .expect("fixtures/facebook_ads.json is valid")
        }
    }

    /// The path of an edge of [`ACCOUNT_ID`]: `ads`, `campaigns`.
    pub fn path(edge: &str) -> String {
        format!("/v17.0/{ACCOUNT_ID}/{edge}")
    }

    /// Objects per page: small, so the tiny fixture has several pages.
    pub const PAGE_SIZE: usize = 1;

    /// Page of `data` from the `after` cursor on, `limit` objects, with `paging.next` while there are more.
    fn paged(request: &Request, data: &[Value]) -> Value {
        let after: usize = request.param_or("after", 0);
        let limit: usize = request.param_or("limit", 25);
        let page: Vec<&Value> = data.iter().skip(after).take(limit).collect();
        let mut paging = json!({ "cursors": { "after": (after + page.len()).to_string() } });
        if after + limit < data.len() {
            let query: Vec<String> = request
                .query
                .iter()
                .filter(|(k, _)| k != "after")
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect();
            paging["next"] = json!(format!(
                "{}{}?{}&after={}",
                request.base_url,
                request.path,
                query.join("&"),
                after + limit
            ));
        }
        json!({ "data": page, "paging": paging })
    }

    /// An API holding `canned`.
    pub fn graph(canned: Canned) -> impl Fn(&Request) -> Option<Value> + Send + Sync + 'static {
        move |request| {
            if request.path == path("campaigns") {
                return Some(paged(request, &canned.campaigns));
            }
            if request.path != path("ads") {
                return None;
            }
            // All ads without a filter, else those in one of the comma-separated states.
            let states: Option<Vec<&str>> = request
                .param("effective_status")
                .map(|s| s.split(',').collect());
            let data: Vec<Value> = canned
                .ads
                .iter()
                .filter(|ad| {
                    let state = ad["effective_status"].as_str().unwrap_or_default();
                    states.as_ref().is_none_or(|states| states.contains(&state))
                })
                .cloned()
                .collect();
            Some(paged(request, &data))
        }
    }
}
