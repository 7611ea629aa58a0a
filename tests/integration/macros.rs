//! What the macros generate, run against PostgreSQL: `selected`, `with_resources`, typed accessors, and
//! `#[config]`/`#[secret]` parameters filled from the configuration (with no secret in any error or `Debug`).

use ele::config::{Config, Secret};
use ele::prelude::*;
use serde_json::{Value, json};

use crate::support::TestDb;

#[resource(primary_key = "id", write_disposition = "merge")]
async fn tickets(out: Emit<Value>, count: i64) -> ele::Result<()> {
    out.send(
        (1..=count)
            .map(|id| json!({ "id": id }))
            .collect::<Vec<_>>(),
    )
    .await
}

/// Not extracted unless picked with `with_resources`.
#[resource(selected = false)]
async fn ticket_events(out: Emit<Value>) -> ele::Result<()> {
    out.send(json!({ "event": "created" })).await
}

#[source(name = "zendesk_selected", resources(tickets, ticket_events))]
fn zendesk() -> impl ele::IntoResources {
    (tickets(2), ticket_events())
}

/// A resource routed to tables per item inside the source body is still reached by its typed accessor.
#[source(name = "zendesk_routed", resources(tickets))]
fn zendesk_routed() -> impl ele::IntoResources {
    (tickets(2)
        .table_name_fn(|item: &Value| format!("tickets_{}", item["id"].as_i64().unwrap_or(0) % 2)),)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accessor_reaches_a_resource_routed_by_table_name_fn() {
    let db = TestDb::new("macros_routed").await;
    let p = db.pipeline("zendesk_routed", "zr");
    let mut source = zendesk_routed();
    source.tickets().count(5);
    let info = p.run(source).await.expect("run");
    assert_eq!(info.rows("tickets_0"), 2, "{info}");
    assert_eq!(info.rows("tickets_1"), 3, "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deselected_resources_run_only_when_picked() {
    let db = TestDb::new("macros_selected").await;
    let p = db.pipeline("zendesk", "zd");

    let info = p.run(zendesk()).await.expect("run");
    assert_eq!(info.rows("tickets"), 2, "{info}");
    assert_eq!(info.rows("ticket_events"), 0, "{info}");
    assert_eq!(
        db.lines("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'zd' AND table_name = 'ticket_events'")
            .await,
        ["0"]
    );

    // `with_resources` selects exactly the listed ones, a deselected one included.
    let mut source = zendesk();
    source.tickets().count(5);
    let info = p
        .run(source.with_resources(["ticket_events"]).expect("known"))
        .await
        .expect("run");
    assert_eq!(info.rows("ticket_events"), 1, "{info}");
    assert_eq!(info.rows("tickets"), 0, "{info}");
    assert_eq!(db.lines("SELECT count(*) FROM zd.tickets").await, ["2"]);

    // The accessor's setter reaches the resource the run extracts.
    let mut source = zendesk();
    source.tickets().count(5);
    let info = p.run(source).await.expect("run");
    assert_eq!(info.rows("tickets"), 5, "{info}");

    // A resource run on its own is not subject to selection.
    let info = p.run(ticket_events()).await.expect("run");
    assert_eq!(info.rows("ticket_events"), 1, "{info}");
}

/// The seed's `search_tweets(twitter_bearer_token=dlt.secrets.value, ...)`.
#[resource(write_disposition = "append")]
async fn search_tweets(
    out: Emit<Value>,
    search_terms: Vec<String>,
    #[secret] twitter_bearer_token: Secret<String>,
    #[config] page_size: u32,
) -> ele::Result<()> {
    let token_length = twitter_bearer_token.expose().len();
    for term in search_terms {
        out.send(json!({ "term": term, "page_size": page_size, "token_length": token_length }))
            .await?;
    }
    Ok(())
}

#[source(name = "twitter_cfg")]
fn twitter(#[secret] api_key: Secret<String>) -> impl ele::IntoResources {
    let _ = api_key.expose();
    search_tweets(vec!["rust".into()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_secret_parameters_come_from_the_configuration() {
    const SECRET: &str = "hunter2-bearer";
    let db = TestDb::new("macros_config").await;
    let p = db.pipeline("tweets", "tw");
    // Values in code (the top of the lookup order), for this process; everything else looks as without them.
    Config::load()
        .expect("config")
        .with(
            &[
                "sources",
                "twitter_cfg",
                "search_tweets",
                "twitter_bearer_token",
            ],
            SECRET,
        )
        .with(&["sources", "twitter_cfg", "page_size"], 25)
        .with(&["sources", "twitter_cfg", "api_key"], "key")
        .install();

    // Inside the source: both values found, at the resource's and at the source's section.
    let info = p.run(twitter(None)).await.expect("run");
    assert_eq!(info.rows("search_tweets"), 1, "{info}");
    assert_eq!(
        db.lines("SELECT term, page_size, token_length FROM tw.search_tweets")
            .await,
        [format!("rust|25|{}", SECRET.len())]
    );

    // Run on its own, the resource's source is the pipeline, whose section has no secret.
    let err = p
        .run(search_tweets(vec!["pg".into()]).page_size(7))
        .await
        .expect_err("no secret under `sources.tweets`");
    let message = format!("{err} {err:?}");
    assert!(
        message.contains(
            "missing secret `twitter_bearer_token` of resource `search_tweets` of source `tweets`"
        ),
        "{message}"
    );
    for place in [
        "environment variable SOURCES__TWEETS__SEARCH_TWEETS__TWITTER_BEARER_TOKEN",
        "environment variable SOURCES__TWEETS__TWITTER_BEARER_TOKEN",
        "environment variable SOURCES__TWITTER_BEARER_TOKEN",
        "environment variable TWITTER_BEARER_TOKEN",
        "key `twitter_bearer_token` in [sources.tweets.search_tweets] of .ele/secrets.toml",
        "(secrets are not read from config.toml)",
    ] {
        assert!(message.contains(place), "`{place}` not in {message}");
    }
    assert!(!message.contains("config.toml:"), "{message}");
    // Passed by the caller: not looked up.
    let info = p
        .run(
            search_tweets(vec!["pg".into()])
                .page_size(7)
                .twitter_bearer_token(Secret::new(SECRET.into())),
        )
        .await
        .expect("explicit values");
    assert_eq!(info.rows("search_tweets"), 1, "{info}");

    // A source whose secret is missing fails its run, naming the places, never a value.
    let source = twitter_missing(None);
    let debug = format!("{source:?}");
    let err = p.run(source).await.expect_err("missing secret");
    let message = format!("{err} {err:?} {debug}");
    assert!(
        message.contains("missing secret `api_key` of source `twitter_missing`")
            && message.contains("SOURCES__TWITTER_MISSING__API_KEY"),
        "{message}"
    );
    assert!(!message.contains(SECRET), "{message}");

    // A value of the wrong type names the place and the type, not the value.
    let err = p
        .run(search_tweets(vec!["x".into()]).twitter_bearer_token(Secret::new(SECRET.into())))
        .await
        .expect_err("page_size is missing for source `tweets`");
    assert!(!err.to_string().contains(SECRET), "{err}");
    Config::load()
        .expect("config")
        .with(&["sources", "tweets", "page_size"], SECRET)
        .install();
    let err = p
        .run(search_tweets(vec!["x".into()]).twitter_bearer_token(Secret::new(SECRET.into())))
        .await
        .expect_err("not a number");
    let message = format!("{err} {err:?}");
    assert!(message.contains("is not a valid u32"), "{message}");
    assert!(!message.contains(SECRET), "{message}");
    Config::load().expect("config").install();
}

#[source]
fn twitter_missing(#[secret] api_key: Secret<String>) -> impl ele::IntoResources {
    let _ = api_key.expose();
    ticket_events()
}
