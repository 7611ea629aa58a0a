//! The examples under `examples/`, run against PostgreSQL and their fixture APIs on 127.0.0.1: what a user
//! would check after running them (rows per table, state at dlt's paths, nothing new on a second run) and the
//! request counts that prove the early stops.
//!
//! Each example file is included as a module; its `main` and the helpers only `main` uses are dead code here,
//! and each includes its own copy of the fixture server (`examples/fixtures/server.rs`).

use serde_json::{Value, json};

use crate::support::TestDb;

#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/chess.rs"]
mod chess;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/custom_last_value.rs"]
mod custom_last_value;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/facebook_ads.rs"]
mod facebook_ads;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/github_events.rs"]
mod github_events;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/repo_issues.rs"]
mod repo_issues;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/rest_client.rs"]
mod rest_client;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/search_terms.rs"]
mod search_terms;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/stripe.rs"]
mod stripe;
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/zendesk_backfill.rs"]
mod zendesk_backfill;

/// The state of the pipeline at a dlt path such as `sources.<source>.resources.<resource>` (`Null` when absent).
fn state_at(p: &ele::Pipeline, path: &[&str]) -> Value {
    let state = p.state().expect("state readable").expect("state saved");
    let mut value = Value::Object(state.sources);
    for key in path {
        value = value.get(*key).cloned().unwrap_or(Value::Null);
    }
    value
}

/// `sources` of every state row stored in the destination, oldest version first.
async fn stored_sources(db: &TestDb, dataset: &str) -> Vec<Value> {
    db.rows(&format!(
        "SELECT state FROM {dataset}._dlt_pipeline_state ORDER BY version, created_at"
    ))
    .await
    .into_iter()
    .map(|row| {
        let encoded = row[0].clone().expect("state is NOT NULL");
        let state = ele::state::StateRow::decode(&encoded).expect("state decodes");
        Value::Object(state.sources)
    })
    .collect()
}

async fn count(db: &TestDb, table: &str) -> u64 {
    db.lines(&format!("SELECT count(*) FROM {table}")).await[0]
        .parse()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn github_events_table_per_type_merge_and_early_stop() {
    use github_events::{
        fake_api, load_events,
        server::{FixtureServer, Reply},
    };
    let db = TestDb::new("ex_github_events").await;
    let p = db.pipeline("github_events", "gh");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::events(canned.events.clone()))
        .await
        .expect("fixture server");
    let path = fake_api::events_path();

    // First run: 7 events in pages of 3 linked by `Link` headers; nothing is out of range, so paging ends at
    // the 3rd page, which has no next link. Page 2 is rate limited once and asked for again.
    api.fail_once(fake_api::page_request(2), Reply::too_many_requests(0));
    let info = load_events(&p, api.base_url()).await.expect("first run");
    assert_eq!(
        api.log(),
        [
            format!("{path}?per_page=3"),
            fake_api::page_request(2),
            fake_api::page_request(2),
            fake_api::page_request(3),
        ]
    );
    assert_eq!(
        (
            info.rows("push_event"),
            info.rows("watch_event"),
            info.rows("issues_event")
        ),
        (3, 2, 2),
        "{info}"
    );
    assert_eq!(count(&db, "gh.push_event").await, 3);
    assert_eq!(count(&db, "gh.watch_event").await, 2);
    assert_eq!(count(&db, "gh.issues_event").await, 2);
    // Nested lists become child tables of the per-type table.
    assert_eq!(count(&db, "gh.push_event__payload__commits").await, 4);
    assert_eq!(
        db.lines("SELECT payload__issue__number FROM gh.issues_event ORDER BY 1")
            .await,
        ["11001", "11005"]
    );
    let cursor = state_at(
        &p,
        &[
            "github_events",
            "resources",
            "github_repo_events",
            "incremental",
            "created_at",
        ],
    );
    assert_eq!(cursor["last_value"], json!("2024-03-01T10:06:00Z"));
    assert_eq!(cursor["initial_value"], json!("1970-01-01T00:00:00Z"));
    assert_eq!(cursor["unique_hashes"].as_array().map(Vec::len), Some(1));

    // Second run: 4 new events on top. Page 2 holds the first old event, so it is the last page requested.
    api.reset();
    api.set_handler(fake_api::events(canned.all_events()));
    let info = load_events(&p, api.base_url()).await.expect("second run");
    assert_eq!(
        api.log(),
        [format!("{path}?per_page=3"), fake_api::page_request(2)],
        "stops after the page that went out of range"
    );
    assert_eq!(
        (
            info.rows("push_event"),
            info.rows("watch_event"),
            info.rows("issues_event")
        ),
        (2, 1, 1),
        "{info}"
    );
    assert_eq!(
        db.lines(
            "SELECT type, count(*) FROM (SELECT type FROM gh.push_event UNION ALL SELECT type FROM gh.watch_event \
             UNION ALL SELECT type FROM gh.issues_event) t GROUP BY 1 ORDER BY 1"
        )
        .await,
        ["IssuesEvent|3", "PushEvent|5", "WatchEvent|3"]
    );
    assert_eq!(
        state_at(
            &p,
            &[
                "github_events",
                "resources",
                "github_repo_events",
                "incremental",
                "created_at",
                "last_value"
            ]
        ),
        json!("2024-03-01T10:10:00Z")
    );

    // Third run, nothing new: the first page is already out of range, nothing is loaded.
    api.reset();
    let info = load_events(&p, api.base_url()).await.expect("third run");
    assert_eq!(api.log(), [format!("{path}?per_page=3")]);
    assert!(info.is_empty(), "{info}");
    assert_eq!(count(&db, "gh.push_event").await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_issues_passes_the_range_to_the_api_and_backfills_statelessly() {
    use repo_issues::{backfill, fake_api, load_new_issues, server::FixtureServer};
    let db = TestDb::new("ex_repo_issues").await;
    let p = db.pipeline("repo_issues", "issues");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::issues(canned.issues.clone()))
        .await
        .expect("fixture server");
    let path = fake_api::issues_path();

    // Three chunks at the same time: each asks the API for its range only, one request each.
    let infos = backfill(&p, api.base_url()).await.expect("backfill");
    let mut requests = api.log();
    requests.sort();
    assert_eq!(
        requests,
        [
            format!("{path}?since=1970-01-01T00:00:00Z&until=2022-07-01T00:00:00Z&per_page=100"),
            format!("{path}?since=2022-07-01T00:00:00Z&until=2022-08-01T00:00:00Z&per_page=100"),
            format!("{path}?since=2022-08-01T00:00:00Z&until=2022-09-01T00:00:00Z&per_page=100"),
        ]
    );
    let rows: Vec<u64> = infos.iter().map(|i| i.rows("repo_issues")).collect();
    assert_eq!(rows, [1, 3, 2]);
    // Half-open ranges: the issue at 2022-08-01T00:00:00Z is August's only.
    assert_eq!(
        db.lines("SELECT number, created_at FROM issues.repo_issues ORDER BY number")
            .await,
        [
            "4001|2022-06-15 08:00:00+00",
            "4002|2022-07-01 00:00:00+00",
            "4003|2022-07-20 12:00:00+00",
            "4004|2022-07-31 23:59:59+00",
            "4005|2022-08-01 00:00:00+00",
            "4006|2022-08-18 09:30:00+00",
        ]
    );
    assert_eq!(count(&db, "issues.repo_issues__labels").await, 5);
    // Backfill chunks neither read nor write state: nothing is committed or saved for them.
    let state = p.state().expect("state readable");
    assert!(
        state.as_ref().is_none_or(|s| s.sources.is_empty()),
        "{state:?}"
    );
    let stored = stored_sources(&db, "issues").await;
    assert!(stored.iter().all(|s| s == &json!({})), "{stored:?}");

    // The incremental run starts at its initial value, not at a chunk's end, and stores its last value.
    api.reset();
    let info = load_new_issues(&p, api.base_url())
        .await
        .expect("incremental run");
    assert_eq!(
        api.log(),
        [format!("{path}?since=2022-09-01T00:00:00Z&per_page=100")]
    );
    assert_eq!(info.rows("repo_issues"), 2, "{info}");
    assert_eq!(count(&db, "issues.repo_issues").await, 8);
    let cursor = state_at(
        &p,
        &[
            "repo_issues",
            "resources",
            "repo_issues",
            "incremental",
            "created_at",
        ],
    );
    assert_eq!(cursor["initial_value"], json!("2022-09-01T00:00:00Z"));
    assert_eq!(cursor["last_value"], json!("2022-10-05T16:45:00Z"));

    // Next run: `since` is the last value; the API returns the newest issue again, which is filtered out by id.
    api.reset();
    let info = load_new_issues(&p, api.base_url())
        .await
        .expect("second run");
    assert_eq!(
        api.log(),
        [format!("{path}?since=2022-10-05T16:45:00Z&per_page=100")]
    );
    assert!(info.is_empty(), "{info}");
    assert_eq!(count(&db, "issues.repo_issues").await, 8);

    // A new issue: only it is loaded.
    api.set_handler(fake_api::issues(canned.all_issues()));
    let info = load_new_issues(&p, api.base_url())
        .await
        .expect("third run");
    assert_eq!(info.rows("repo_issues"), 1, "{info}");
    assert_eq!(count(&db, "issues.repo_issues").await, 9);
    assert_eq!(
        state_at(
            &p,
            &[
                "repo_issues",
                "resources",
                "repo_issues",
                "incremental",
                "created_at",
                "last_value"
            ],
        ),
        json!("2022-10-20T10:00:00Z")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repo_issues_backfill_runs_in_parallel_with_the_incremental_load() {
    use repo_issues::{backfill, fake_api, load_new_issues, server::FixtureServer};
    let db = TestDb::new("ex_repo_issues_parallel").await;
    let p = db.pipeline("repo_issues", "issues");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::issues(canned.issues.clone()))
        .await
        .expect("fixture server");
    // What the example's main does: an incremental run, then, when a new issue has arrived, the three
    // backfill chunks and the next incremental run at the same time.
    load_new_issues(&p, api.base_url())
        .await
        .expect("first incremental run");
    api.set_handler(fake_api::issues(canned.all_issues()));
    api.reset();
    let (chunks, incremental) = tokio::join!(
        backfill(&p, api.base_url()),
        load_new_issues(&p, api.base_url())
    );
    let rows: Vec<u64> = chunks
        .expect("backfill")
        .iter()
        .map(|i| i.rows("repo_issues"))
        .collect();
    assert_eq!(rows, [1, 3, 2]);
    assert_eq!(incremental.expect("incremental run").rows("repo_issues"), 1);
    let path = fake_api::issues_path();
    assert!(
        api.log()
            .contains(&format!("{path}?since=2022-10-05T16:45:00Z&per_page=100")),
        "{:?}",
        api.log()
    );
    assert_eq!(api.total_requests(), 4);
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM issues.repo_issues")
            .await,
        ["9|9"],
        "no issue loaded twice"
    );
    // The chunks did not disturb the incremental's state: the next run asks from the newest issue on.
    assert_eq!(
        state_at(
            &p,
            &[
                "repo_issues",
                "resources",
                "repo_issues",
                "incremental",
                "created_at",
                "last_value"
            ],
        ),
        json!("2022-10-20T10:00:00Z")
    );
    api.reset();
    let info = load_new_issues(&p, api.base_url()).await.expect("next run");
    assert_eq!(
        api.log(),
        [format!("{path}?since=2022-10-20T10:00:00Z&per_page=100")]
    );
    assert!(info.is_empty(), "{info}");
}

/// The same, on the pipeline's very first run. Guards against a bug found with this example: every run of a
/// fresh pipeline used to commit a state row and save it as the local state after its load, the stateless
/// chunks included, so the chunk that finished last overwrote the incremental's state with an empty one, and the
/// next incremental run started again at the initial value and loaded its issues twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repo_issues_backfill_in_parallel_with_the_first_incremental_run() {
    use repo_issues::{backfill, fake_api, load_new_issues, server::FixtureServer};
    let db = TestDb::new("ex_repo_issues_first_parallel").await;
    let p = db.pipeline("repo_issues", "issues");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::issues(canned.issues.clone()))
        .await
        .expect("fixture server");
    let (chunks, incremental) = tokio::join!(
        backfill(&p, api.base_url()),
        load_new_issues(&p, api.base_url())
    );
    chunks.expect("backfill");
    incremental.expect("incremental run");
    assert_eq!(
        state_at(
            &p,
            &[
                "repo_issues",
                "resources",
                "repo_issues",
                "incremental",
                "created_at",
                "last_value"
            ],
        ),
        json!("2022-10-05T16:45:00Z")
    );
    let info = load_new_issues(&p, api.base_url()).await.expect("next run");
    assert!(info.is_empty(), "{info}");
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM issues.repo_issues")
            .await,
        ["8|8"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_last_value_keeps_the_newest_created_at_per_event_type() {
    use custom_last_value::{fake_api, load_events, server::FixtureServer};
    let db = TestDb::new("ex_custom_last_value").await;
    let p = db.pipeline("custom_last_value", "cu");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::events(canned.page.clone()))
        .await
        .expect("fixture server");
    let cursor_path = [
        "custom_last_value",
        "resources",
        "get_events",
        "incremental",
        "$",
        "last_value",
    ];

    let info = load_events(&p, api.base_url()).await.expect("first run");
    assert_eq!(
        (
            info.rows("push_event"),
            info.rows("watch_event"),
            info.rows("issues_event")
        ),
        (2, 1, 1),
        "{info}"
    );
    assert_eq!(
        state_at(&p, &cursor_path),
        json!({
            "PushEvent": "2024-03-01T10:00:00Z",
            "WatchEvent": "2024-03-01T09:00:00Z",
            "IssuesEvent": "2024-03-01T07:00:00Z",
        })
    );

    // Later: a new PushEvent, and a WatchEvent older than the newest PushEvent but newer than the newest
    // WatchEvent. A plain `created_at` cursor would drop the late WatchEvent; the map per type keeps it.
    api.set_handler(fake_api::events(canned.later_page.clone()));
    let info = load_events(&p, api.base_url()).await.expect("second run");
    assert_eq!(
        (
            info.rows("push_event"),
            info.rows("watch_event"),
            info.rows("issues_event")
        ),
        (1, 1, 0),
        "{info}"
    );
    assert_eq!(
        db.lines("SELECT id, created_at FROM cu.watch_event ORDER BY id")
            .await,
        [
            "35100000002|2024-03-01 09:00:00+00",
            "35100000005|2024-03-01 09:30:00+00"
        ]
    );
    assert_eq!(count(&db, "cu.push_event").await, 3);
    assert_eq!(
        state_at(&p, &cursor_path),
        json!({
            "PushEvent": "2024-03-01T10:30:00Z",
            "WatchEvent": "2024-03-01T09:30:00Z",
            "IssuesEvent": "2024-03-01T07:00:00Z",
        })
    );

    // The same page again: nothing new.
    let info = load_events(&p, api.base_url()).await.expect("third run");
    assert!(info.is_empty(), "{info}");
    assert_eq!(api.total_requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chess_skips_archives_listed_in_resource_state() {
    use chess::{fake_api, games_of_months, server::FixtureServer};
    use ele::prelude::*;
    let db = TestDb::new("ex_chess").await;
    let p = db.pipeline("chess", "chess");
    let api = FixtureServer::start(fake_api::chess(fake_api::Canned::load()))
        .await
        .expect("fixture server");
    let base = api.base_url().to_owned();
    let archive = |player: &str, month: &str| format!("/pub/player/{player}/games/{month}");
    let archives_state = ["chess", "resources", "players_games", "archives"];

    // October and November of both players: two archive lists, four archives.
    let info = p
        .run(games_of_months(&base, "2022/10", "2022/11"))
        .await
        .expect("first run");
    assert_eq!(info.rows("players_games"), 6, "{info}");
    assert_eq!(
        fake_api::archive_requests(&api),
        [
            archive("magnuscarlsen", "2022/10"),
            archive("magnuscarlsen", "2022/11"),
            archive("vincentkeymer", "2022/10"),
            archive("vincentkeymer", "2022/11"),
        ]
        .join(", ")
    );
    assert_eq!(
        state_at(&p, &archives_state),
        json!([
            format!("{base}{}", archive("magnuscarlsen", "2022/10")),
            format!("{base}{}", archive("magnuscarlsen", "2022/11")),
            format!("{base}{}", archive("vincentkeymer", "2022/10")),
            format!("{base}{}", archive("vincentkeymer", "2022/11")),
        ])
    );

    // November again and December: only the December archives are requested.
    api.reset();
    let info = p
        .run(games_of_months(&base, "2022/11", "2022/12"))
        .await
        .expect("second run");
    assert_eq!(
        fake_api::archive_requests(&api),
        [
            archive("magnuscarlsen", "2022/12"),
            archive("vincentkeymer", "2022/12"),
        ]
        .join(", ")
    );
    assert_eq!(api.total_requests(), 4, "two archive lists, two archives");
    assert_eq!(info.rows("players_games"), 3, "{info}");
    assert_eq!(count(&db, "chess.players_games").await, 9);
    assert_eq!(
        state_at(&p, &archives_state).as_array().map(Vec::len),
        Some(6)
    );
    assert_eq!(
        db.lines("SELECT white__username, count(*) FROM chess.players_games GROUP BY 1 ORDER BY 1")
            .await,
        ["Hikaru|4", "MagnusCarlsen|3", "VincentKeymer|2"]
    );

    // The same months once more: every archive is skipped, nothing is loaded.
    api.reset();
    let info = p
        .run(games_of_months(&base, "2022/10", "2022/12"))
        .await
        .expect("third run");
    assert_eq!(fake_api::archive_requests(&api), "");
    assert!(info.is_empty(), "{info}");

    // A full refresh (what the example's main starts with) clears the table and the list of archives.
    api.reset();
    let info = p
        .run(games_of_months(&base, "2022/12", "2022/12"))
        .write_disposition(Replace)
        .await
        .expect("full refresh");
    assert_eq!(info.rows("players_games"), 3, "{info}");
    assert_eq!(count(&db, "chess.players_games").await, 3);
    assert_eq!(
        state_at(&p, &archives_state),
        json!([
            format!("{base}{}", archive("magnuscarlsen", "2022/12")),
            format!("{base}{}", archive("vincentkeymer", "2022/12")),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_terms_keep_a_last_id_per_term_in_source_state() {
    use search_terms::{fake_api, server::FixtureServer, twitter_source};
    let db = TestDb::new("ex_search_terms").await;
    let p = db.pipeline("search_terms", "tw");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::search(canned.tweets.clone()))
        .await
        .expect("fixture server");

    // rustlang: 3 tweets in 2 pages; postgresql: 2 tweets in 1 page.
    let info = p
        .run(twitter_source(
            api.base_url(),
            Some("fixture-token".to_owned().into()),
        ))
        .await
        .expect("first run");
    assert_eq!(
        api.log(),
        [
            "/2/tweets/search/recent?query=rustlang&max_results=10",
            "/2/tweets/search/recent?query=rustlang&max_results=10&next_token=2",
            "/2/tweets/search/recent?query=postgresql&max_results=10",
        ]
    );
    assert_eq!(info.rows("search_tweets"), 3, "{info}");
    assert_eq!(info.rows("search_tweets__data"), 5, "{info}");
    assert_eq!(
        db.lines(
            "SELECT p.search_term, count(*) FROM tw.search_tweets p JOIN tw.search_tweets__data d \
             ON d._dlt_parent_id = p._dlt_id GROUP BY 1 ORDER BY 1"
        )
        .await,
        ["postgresql|2", "rustlang|3"]
    );
    // Source state: `sources.twitter.last_value_<term>`, next to (not under) the resources.
    let source = state_at(&p, &["twitter"]);
    assert_eq!(source["last_value_rustlang"], json!(1700000000000000007u64));
    assert_eq!(
        source["last_value_postgresql"],
        json!(1700000000000000006u64)
    );
    assert!(source.get("resources").is_none(), "{source}");

    // Nothing new: each term is searched from its own last id, and nothing is loaded.
    api.reset();
    let info = p
        .run(twitter_source(
            api.base_url(),
            Some("fixture-token".to_owned().into()),
        ))
        .await
        .expect("second run");
    assert_eq!(
        api.log(),
        [
            "/2/tweets/search/recent?query=rustlang&max_results=10&since_id=1700000000000000007",
            "/2/tweets/search/recent?query=postgresql&max_results=10&since_id=1700000000000000006",
        ]
    );
    assert!(info.is_empty(), "{info}");

    // A new rustlang tweet: only it is loaded, and only that term's last id moves.
    api.set_handler(fake_api::search(canned.all_tweets()));
    let info = p
        .run(twitter_source(
            api.base_url(),
            Some("fixture-token".to_owned().into()),
        ))
        .await
        .expect("third run");
    assert_eq!(info.rows("search_tweets__data"), 1, "{info}");
    assert_eq!(count(&db, "tw.search_tweets__data").await, 6);
    let source = state_at(&p, &["twitter"]);
    assert_eq!(source["last_value_rustlang"], json!(1700000000000000009u64));
    assert_eq!(
        source["last_value_postgresql"],
        json!(1700000000000000006u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_resources_made_in_a_loop_have_their_own_incremental() {
    use stripe::{
        Endpoint, fake_api,
        server::{FixtureServer, Reply},
        stripe_source,
    };
    let db = TestDb::new("ex_stripe").await;
    let p = db.pipeline("stripe", "stripe");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::stripe(canned.endpoints.clone()))
        .await
        .expect("fixture server");
    let last_value = |p: &ele::Pipeline, endpoint: Endpoint| {
        state_at(
            p,
            &[
                "stripe",
                "resources",
                endpoint.value(),
                "incremental",
                "created",
                "last_value",
            ],
        )
    };

    // First run: no start value, so no `created` filter; one table per resource name. The first request for
    // customers fails with a 500 and is retried.
    api.fail_once("/v1/customers?limit=100", Reply::server_error());
    let info = p
        .run(stripe_source(api.base_url()))
        .await
        .expect("first run");
    let mut requests = api.log();
    requests.sort();
    assert_eq!(
        requests,
        [
            "/v1/customers?limit=100",
            "/v1/customers?limit=100",
            "/v1/invoices?limit=100",
            "/v1/subscriptions?limit=100",
        ]
    );
    assert_eq!(
        (
            info.rows("customers"),
            info.rows("subscriptions"),
            info.rows("invoices")
        ),
        (3, 2, 2),
        "{info}"
    );
    assert_eq!(count(&db, "stripe.subscriptions__items__data").await, 3);
    assert_eq!(last_value(&p, Endpoint::Customers), json!(1680000300));
    assert_eq!(last_value(&p, Endpoint::Subscriptions), json!(1681000200));
    assert_eq!(last_value(&p, Endpoint::Invoices), json!(1682000200));

    // Nothing new: each endpoint asks from its own last value; the objects at it come back and are filtered.
    api.reset();
    let info = p
        .run(stripe_source(api.base_url()))
        .await
        .expect("second run");
    let mut requests = api.log();
    requests.sort();
    assert_eq!(
        requests,
        [
            "/v1/customers?limit=100&created[gte]=1680000300",
            "/v1/invoices?limit=100&created[gte]=1682000200",
            "/v1/subscriptions?limit=100&created[gte]=1681000200",
        ]
    );
    assert!(info.is_empty(), "{info}");

    // A new customer: only the customers resource loads, and only its last value moves.
    api.set_handler(fake_api::stripe(canned.all_objects()));
    let info = p
        .run(stripe_source(api.base_url()))
        .await
        .expect("third run");
    assert_eq!(
        (
            info.rows("customers"),
            info.rows("subscriptions"),
            info.rows("invoices")
        ),
        (1, 0, 0),
        "{info}"
    );
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM stripe.customers")
            .await,
        ["4|4"]
    );
    assert_eq!(last_value(&p, Endpoint::Customers), json!(1683000000));
    assert_eq!(last_value(&p, Endpoint::Invoices), json!(1682000200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_backfill_stops_at_the_end_of_its_range() {
    use zendesk_backfill::{
        fake_api, february_tickets,
        server::{FixtureServer, Reply},
        tickets,
    };
    let db = TestDb::new("ex_zendesk").await;
    let p = db.pipeline("zendesk_backfill", "zendesk");
    let api = FixtureServer::start(fake_api::tickets(fake_api::canned()))
        .await
        .expect("fixture server");
    let path = fake_api::PATH;
    let january = 1_672_531_200; // 2023-01-01T00:00:00Z

    // January: 9 tickets changed since January 1st, 5 pages; page 3 holds the first February ticket. Page 2 is
    // rate limited once (429 with `Retry-After`) and asked for again.
    assert_eq!(fake_api::pages_from("2023-01-01T00:00:00Z"), 5);
    api.fail_once(
        format!("{path}?start_time={january}&page=2"),
        Reply::too_many_requests(0),
    );
    let info = p
        .run(tickets(api.base_url().to_owned()))
        .await
        .expect("january");
    assert_eq!(
        api.log(),
        [
            format!("{path}?start_time={january}"),
            format!("{path}?start_time={january}&page=2"),
            format!("{path}?start_time={january}&page=2"),
            format!("{path}?start_time={january}&page=3"),
        ]
    );
    assert_eq!(info.rows("tickets"), 4, "{info}");
    assert_eq!(
        db.lines("SELECT id, updated_at FROM zendesk.tickets ORDER BY id")
            .await,
        [
            "102|2023-01-05 10:00:00+00",
            "103|2023-01-10 11:30:00+00",
            "104|2023-01-20 08:15:00+00",
            "105|2023-01-31 23:59:59+00",
        ]
    );
    assert_eq!(count(&db, "zendesk.tickets__tags").await, 3);

    // Stateless: running January again requests the same pages and keeps one row per ticket.
    api.reset();
    let info = p
        .run(tickets(api.base_url().to_owned()))
        .await
        .expect("january again");
    assert_eq!(api.requests(path), 3);
    assert_eq!(info.rows("tickets"), 4);
    assert_eq!(count(&db, "zendesk.tickets").await, 4);

    // February, a call-site range: 5 tickets from February 1st in 3 pages; page 2 reaches March.
    api.reset();
    let info = p
        .run(february_tickets(api.base_url()))
        .await
        .expect("february");
    assert_eq!(api.requests(path), 2, "{:?}", api.log());
    assert_eq!(fake_api::pages_from("2023-02-01T00:00:00Z"), 3);
    assert_eq!(info.rows("tickets"), 2, "{info}");
    assert_eq!(
        db.lines("SELECT id FROM zendesk.tickets WHERE updated_at >= '2023-02-01' ORDER BY id")
            .await,
        ["106", "107"]
    );
    // Backfills keep no incremental state, locally or in the destination.
    let state = p.state().expect("state readable");
    assert!(
        state.as_ref().is_none_or(|s| s.sources.is_empty()),
        "{state:?}"
    );
    let stored = stored_sources(&db, "zendesk").await;
    assert!(stored.iter().all(|s| s == &json!({})), "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn facebook_ads_replace_with_root_key_then_merge() {
    use ele::prelude::*;
    use facebook_ads::{facebook_ads, fake_api, replace_then_merge, server::FixtureServer};
    let db = TestDb::new("ex_facebook_ads").await;
    let p = db.pipeline("facebook_insights", "fb");
    let api = FixtureServer::start(fake_api::graph(fake_api::Canned::load()))
        .await
        .expect("fixture server");

    let (replaced, merged) = replace_then_merge(&p, api.base_url())
        .await
        .expect("replace, then merge");
    assert_eq!(replaced.rows("ads"), 2, "{replaced}");
    assert_eq!(merged.rows("ads"), 2, "{merged}");
    // Only the selected resource ran: two pages of one ad each, linked by `paging.next`, per run.
    assert_eq!(api.requests(&fake_api::path("ads")), 4, "{:?}", api.log());
    assert_eq!(api.requests(&fake_api::path("campaigns")), 0);
    // The disapproved ads stay next to the paused ones.
    assert_eq!(
        db.lines("SELECT name, effective_status FROM fb.ads ORDER BY id")
            .await,
        [
            "Spring sale - carousel|DISAPPROVED",
            "Spring sale - video|PAUSED",
            "Summer teaser|DISAPPROVED",
            "Retargeting - cart|PAUSED",
        ]
    );
    // Every label row, those written by the replace load included, carries its ad's root key.
    assert_eq!(
        db.lines(
            "SELECT a.effective_status, count(*) FROM fb.ads__adlabels l \
             JOIN fb.ads a ON a._dlt_id = l._dlt_root_id GROUP BY 1 ORDER BY 1"
        )
        .await,
        ["DISAPPROVED|3", "PAUSED|3"]
    );
    assert_eq!(count(&db, "fb.ads__adlabels").await, 6);

    // Merging the paused ads again replaces their labels instead of adding to them.
    let mut fb_ads = facebook_ads(api.base_url().to_owned());
    fb_ads.ads().states(vec!["PAUSED".into()]);
    let info = p
        .run(fb_ads.with_resources(["ads"]).expect("known resource"))
        .write_disposition(Merge)
        .await
        .expect("merge again");
    assert_eq!(info.rows("ads"), 2, "{info}");
    assert_eq!(count(&db, "fb.ads").await, 4);
    assert_eq!(count(&db, "fb.ads__adlabels").await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_client_reads_each_paginator_with_each_auth() {
    use rest_client::{
        Clients, fake_api,
        server::{FixtureServer, Reply},
        tickets_api,
    };
    let db = TestDb::new("ex_rest_client").await;
    let p = db.pipeline("rest_client", "rest");
    let api = FixtureServer::start(fake_api::handler)
        .await
        .expect("fixture server");
    // The example waits the second `Retry-After: 1` asks for; the test asks for none.
    api.fail_once("/json_link?page=2", Reply::too_many_requests(0));
    let clients = Clients::new(api.base_url()).expect("clients");
    let info = p.run(tickets_api(clients.clone())).await.expect("run");
    let tables = [
        "json_link",
        "header_link",
        "offset",
        "page_number",
        "cursor",
        "single_page",
    ];
    for table in tables {
        assert_eq!(info.rows(table), 5, "{table}: {info}");
        assert_eq!(count(&db, &format!("rest.{table}")).await, 5, "{table}");
    }
    assert_eq!(clients.retries(), 1);
    let requests = |path: &str| api.requests(path);
    // 3 pages, page 2 twice.
    assert_eq!(requests("/json_link"), 4, "{:?}", api.log());
    // 3 pages, the last without a next link.
    assert_eq!(requests("/header_link"), 3);
    // Offsets 0, 2, 4 of a total of 5.
    assert_eq!(requests("/offset"), 3);
    // Pages 1 to 3, then the empty page 4.
    assert_eq!(requests("/page_number"), 4);
    // One token for 3 pages.
    assert_eq!((requests("/oauth/token"), requests("/cursor")), (1, 3));
    assert_eq!(requests("/single_page"), 1);
    // Each path checked its credentials: a request without them would have failed the run with a 401.
    assert!(
        api.log()
            .iter()
            .any(|r| r == "/offset?offset=2&limit=2&api_key=fixture-api-key"),
        "{:?}",
        api.log()
    );
}
