//! Custom incremental loading with source state: the newest tweet id seen for each search term is kept in the
//! source's state, and the next run asks the search API only for newer tweets of each term.
//!
//! Mirrors the seed's (`incremental-loading.md`) "Advanced state usage: tracking the last value for all search
//! terms in Twitter API":
//!
//! ```python
//! @dlt.resource(write_disposition="append")
//! def search_tweets(twitter_bearer_token=dlt.secrets.value, search_terms=None, start_time=None, end_time=None, last_value=None):
//!     headers = _headers(twitter_bearer_token)
//!     for search_term in search_terms:
//!         # make cache for each term
//!         last_value_cache = dlt.current.state().setdefault(f"last_value_{search_term}", None)
//!         print(f'last_value_cache: {last_value_cache}')
//!         params = {...}
//!         url = "https://api.twitter.com/2/tweets/search/recent"
//!         response = _paginated_get(url, headers=headers, params=params)
//!         for page in response:
//!             page['search_term'] = search_term
//!             last_id = page.get('meta', {}).get('newest_id', 0)
//!             #set it back - not needed if we
//!             dlt.current.state()[f"last_value_{search_term}"] = max(last_value_cache or 0, int(last_id))
//!             # print the value for each search term
//!             print(f'new_last_value_cache for term {search_term}: {last_value_cache}')
//!             yield page
//! ```
//!
//! A `state: SourceState` parameter is `dlt.current.state()`: the state of the source, shared by its resources,
//! at `sources.<source>.last_value_<term>`. The last id is passed to the API as `since_id`, and the stored
//! value is the largest id of all pages (pages come newest first, so a later page must not lower it). Empty
//! result pages are not sent: a run without new tweets loads nothing.
//!
//! `twitter_bearer_token=dlt.secrets.value` is `#[secret] twitter_bearer_token: Secret<String>`: unless the caller
//! sets it, it is looked up when the run starts, as `SOURCES__TWITTER__SEARCH_TWEETS__TWITTER_BEARER_TOKEN` (or
//! `SOURCES__TWITTER__TWITTER_BEARER_TOKEN`, ...) or in `.ele/secrets.toml`:
//!
//! ```toml
//! [sources.twitter]
//! twitter_bearer_token = "AAAA..."
//! ```
//!
//! Run: `cargo run --example search_terms`.

use ele::http::{Auth, JsonResponseCursorPaginator, RestClient};
use ele::prelude::*;
use serde_json::Value;

#[path = "fixtures/server.rs"]
pub mod server;

/// The search terms tracked.
pub const SEARCH_TERMS: [&str; 2] = ["rustlang", "postgresql"];

/// The key of a term's last id in the source state.
pub fn last_value_key(search_term: &str) -> String {
    format!("last_value_{search_term}")
}

/// Pages of recent tweets for each search term, newer than the last id stored for that term. Each page is a row
/// of `search_tweets` (with the term), its tweets a child table `search_tweets__data`.
#[resource(write_disposition = "append")]
pub async fn search_tweets(
    out: Emit<Value>,
    state: SourceState,
    api_url: String,
    search_terms: Vec<String>,
    #[secret] twitter_bearer_token: Secret<String>,
) -> Result<(), ele::BoxError> {
    let twitter = RestClient::builder(api_url)
        .auth(Auth::bearer(twitter_bearer_token))
        .build()?;
    for search_term in search_terms {
        let key = last_value_key(&search_term);
        // The newest id seen for this term by earlier runs, if any.
        let last_value_cache: Option<u64> = state.get(&key)?;
        println!("last_value_cache for term {search_term}: {last_value_cache:?}");
        // The pages are linked by a cursor in the body, `meta.next_token`, sent back as `next_token`.
        let mut pages = twitter
            .paginate("/2/tweets/search/recent")
            .param("query", &search_term)
            .param("max_results", 10)
            .param("since_id", last_value_cache)
            .paginator(JsonResponseCursorPaginator::new(
                "meta.next_token",
                "next_token",
            ));
        while let Some(page) = pages.next_page().await {
            let mut page = page?.body().clone();
            if page["meta"]["result_count"].as_u64().unwrap_or(0) == 0 {
                break;
            }
            page["search_term"] = Value::String(search_term.clone());
            let last_id: u64 = page["meta"]["newest_id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .unwrap_or(0);
            let newest = state.update(&key, |last: &mut Option<u64>| {
                *last = Some(last.unwrap_or(0).max(last_id));
                *last
            })?;
            println!("new_last_value_cache for term {search_term}: {newest:?}");
            out.send(page).await?;
        }
    }
    Ok(())
}

/// The `twitter` source: its name is the state key of [`search_tweets`]'s source state. Without a `token`, the
/// bearer token comes from the configuration.
pub fn twitter_source(api_url: &str, token: Option<Secret<String>>) -> Source {
    let mut search = search_tweets(
        api_url.to_owned(),
        SEARCH_TERMS.iter().map(|t| (*t).to_owned()).collect(),
    );
    if let Some(token) = token {
        search = search.twitter_bearer_token(token);
    }
    Source::new("twitter").resource(search)
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let canned = fake_api::Canned::load();
    let api = server::FixtureServer::start(fake_api::search(canned.tweets.clone())).await?;
    let pipeline = Pipeline::builder("search_terms")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("search_terms_data")
        .build()?;
    // The fixture API takes any token; a configured one (environment, .ele/secrets.toml) wins over this default.
    let configured = ele::config::Config::current()?.param::<Secret<String>>(
        "twitter",
        Some("search_tweets"),
        "twitter_bearer_token",
        true,
    );
    let token = configured
        .is_err()
        .then(|| Secret::new("fixture-token".to_owned()));
    println!(
        "{}",
        pipeline
            .run(twitter_source(api.base_url(), token.clone()))
            .await?
    );
    // Later: a new tweet for one term. Each term is searched from its own last id.
    api.reset();
    api.set_handler(fake_api::search(canned.all_tweets()));
    println!(
        "{}",
        pipeline.run(twitter_source(api.base_url(), token)).await?
    );
    println!("requests made:");
    for request in api.log() {
        println!("  {request}");
    }
    Ok(())
}

/// The stand-in for the Twitter API v2 (not part of the pattern): `GET /2/tweets/search/recent?query=..` answers
/// the canned tweets of `fixtures/search_terms.json` with an id above `since_id`, newest first, in pages of
/// [`PAGE_SIZE`](fake_api::PAGE_SIZE) linked by `next_token`; a request without a bearer token gets a 401.
pub mod fake_api {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::server::{Reply, Request, page_of};

    /// Tweets per page: small, so the tiny fixture has several pages.
    pub const PAGE_SIZE: usize = 2;

    /// The canned tweets, by search term, newest first.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Canned {
        /// The tweets at first.
        pub tweets: BTreeMap<String, Vec<Value>>,
        /// Tweets posted later.
        pub new_tweets: BTreeMap<String, Vec<Value>>,
    }

    impl Canned {
        /// Reads `fixtures/search_terms.json`.
        pub fn load() -> Canned {
            serde_json::from_str(include_str!("fixtures/search_terms.json"))
                .expect("fixtures/search_terms.json is valid")
        }

        /// All tweets, the new ones on top.
        pub fn all_tweets(&self) -> BTreeMap<String, Vec<Value>> {
            let mut all = self.tweets.clone();
            for (term, new) in &self.new_tweets {
                let old = all.remove(term).unwrap_or_default();
                all.insert(term.clone(), new.iter().chain(&old).cloned().collect());
            }
            all
        }
    }

    fn id_of(tweet: &Value) -> u64 {
        tweet["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or(0)
    }

    /// An API holding `tweets`.
    pub fn search(
        tweets: BTreeMap<String, Vec<Value>>,
    ) -> impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static {
        move |request| {
            if request.path != "/2/tweets/search/recent" {
                return None;
            }
            if !request
                .header("authorization")
                .is_some_and(|a| a.starts_with("Bearer "))
            {
                return Some(Reply::status(401, json!({"title": "Unauthorized"})));
            }
            let since_id: u64 = request.param_or("since_id", 0);
            let matching: Vec<Value> = tweets
                .get(request.param("query")?)
                .into_iter()
                .flatten()
                .filter(|t| id_of(t) > since_id)
                .cloned()
                .collect();
            let page: usize = request.param_or("next_token", 1);
            let data = page_of(&matching, page, PAGE_SIZE);
            if data.is_empty() {
                return Some(Reply::ok(json!({"meta": {"result_count": 0}})));
            }
            let mut meta = json!({
                "newest_id": data[0]["id"],
                "oldest_id": data[data.len() - 1]["id"],
                "result_count": data.len(),
            });
            if matching.len() > page * PAGE_SIZE {
                meta["next_token"] = json!((page + 1).to_string());
            }
            Some(Reply::ok(json!({ "data": data, "meta": meta })))
        }
    }
}
