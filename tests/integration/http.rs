//! `ele::http` against a local HTTP server (the examples' fixture server): each paginator, each auth kind, the
//! retry rules, secrets kept out of errors, and the incremental binding in a pipeline run.

use std::time::Duration;

use ele::http::{
    Auth, HeaderLinkPaginator, JsonLinkPaginator, JsonResponseCursorPaginator, OffsetPaginator,
    PageNumberPaginator, PageRequest, PageResponse, Paginator, RestClient, RetryPolicy,
    SinglePagePaginator,
};
use ele::prelude::*;
use serde_json::{Value, json};

use crate::support::TestDb;

#[allow(clippy::duplicate_mod)]
#[path = "../../examples/fixtures/server.rs"]
mod server;

use server::{FixtureServer, Reply, Request, page_of};

/// A client of `api` that retries at once (no backoff), so tests wait for nothing.
fn client(api: &FixtureServer) -> RestClient {
    RestClient::builder(api.base_url())
        .retry(quick_retries())
        .build()
        .expect("valid settings")
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy::new()
        .initial_backoff(Duration::ZERO)
        .max_retries(3)
}

/// Items 1..=n as `{"id": i}`.
fn numbered(n: u64) -> Vec<Value> {
    (1..=n).map(|id| json!({ "id": id })).collect()
}

#[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
struct Numbered {
    id: u64,
}

async fn all_ids(mut pages: ele::http::Paginate) -> Vec<u64> {
    let mut ids = Vec::new();
    while let Some(page) = pages.next_page().await {
        let page = page.expect("a page");
        ids.extend(
            page.items::<Numbered>()
                .expect("typed")
                .into_iter()
                .map(|n| n.id),
        );
    }
    ids
}

#[tokio::test]
async fn json_link_follows_next_urls_in_the_body() {
    let api = FixtureServer::start(|r: &Request| {
        let page: usize = r.param_or("page", 1);
        let next = (page < 3).then(|| format!("{}/items?page={}", r.base_url, page + 1));
        json!({ "results": page_of(&numbered(5), page, 2), "next": next })
    })
    .await
    .expect("server");
    let ids = all_ids(
        client(&api)
            .paginate("/items")
            .paginator(JsonLinkPaginator::new("next")),
    )
    .await;
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(api.log(), ["/items", "/items?page=2", "/items?page=3"]);
}

#[tokio::test]
async fn header_link_follows_the_link_header() {
    let api = FixtureServer::start(|r: &Request| {
        let page: usize = r.param_or("page", 1);
        let mut reply = Reply::ok(Value::Array(page_of(&numbered(5), page, 2)));
        if page < 3 {
            let next = format!(
                "<{}/items?page={}&per_page=2>; rel=\"next\"",
                r.base_url,
                page + 1
            );
            reply = reply.header(
                "Link",
                &format!("{next}, <{}/items?page=3>; rel=\"last\"", r.base_url),
            );
        }
        reply
    })
    .await
    .expect("server");
    let pages = client(&api)
        .paginate("/items")
        .param("per_page", 2)
        .paginator(HeaderLinkPaginator::new());
    assert_eq!(all_ids(pages).await, [1, 2, 3, 4, 5]);
    assert_eq!(
        api.log(),
        [
            "/items?per_page=2",
            "/items?page=2&per_page=2",
            "/items?page=3&per_page=2"
        ]
    );
    // Without a paginator, the Link header is detected.
    api.reset();
    assert_eq!(
        all_ids(client(&api).paginate("/items")).await,
        [1, 2, 3, 4, 5]
    );
    assert_eq!(api.total_requests(), 3);
}

#[tokio::test]
async fn offset_paginator_stops_at_the_total() {
    let api = FixtureServer::start(|r: &Request| {
        let (offset, limit): (usize, usize) = (r.param_or("offset", 0), r.param_or("limit", 10));
        let items: Vec<Value> = numbered(7).into_iter().skip(offset).take(limit).collect();
        json!({ "data": items, "total": 7 })
    })
    .await
    .expect("server");
    let pages = client(&api)
        .paginate("/items")
        .paginator(OffsetPaginator::new(3))
        .data_selector("data");
    assert_eq!(all_ids(pages).await, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        api.log(),
        [
            "/items?offset=0&limit=3",
            "/items?offset=3&limit=3",
            "/items?offset=6&limit=3"
        ]
    );
}

#[tokio::test]
async fn page_number_paginator_stops_at_an_empty_page() {
    let api = FixtureServer::start(|r: &Request| {
        Value::Array(page_of(&numbered(4), r.param_or("page", 1), 2))
    })
    .await
    .expect("server");
    let pages = client(&api)
        .paginate("/items")
        .paginator(PageNumberPaginator::new().base_page(1).without_total());
    assert_eq!(all_ids(pages).await, [1, 2, 3, 4]);
    assert_eq!(
        api.log(),
        ["/items?page=1", "/items?page=2", "/items?page=3"]
    );
}

#[tokio::test]
async fn json_response_cursor_sends_the_cursor_back() {
    let api = FixtureServer::start(|r: &Request| {
        let page: usize = r
            .param("after")
            .map_or(1, |c| c.trim_start_matches('c').parse().unwrap_or(1));
        let next = (page < 2).then(|| format!("c{}", page + 1));
        json!({ "items": page_of(&numbered(4), page, 2), "meta": { "next_cursor": next } })
    })
    .await
    .expect("server");
    let pages = client(&api)
        .paginate("/items")
        .paginator(JsonResponseCursorPaginator::new(
            "meta.next_cursor",
            "after",
        ));
    assert_eq!(all_ids(pages).await, [1, 2, 3, 4]);
    assert_eq!(api.log(), ["/items", "/items?after=c2"]);
}

#[tokio::test]
async fn single_page_and_custom_paginators() {
    let api = FixtureServer::start(|r: &Request| {
        let after: u64 = r.param_or("starting_after", 0);
        let items: Vec<Value> = numbered(5)
            .into_iter()
            .skip(after as usize)
            .take(2)
            .collect();
        json!({ "data": items, "has_more": after + 2 < 5 })
    })
    .await
    .expect("server");
    let single = client(&api)
        .paginate("/items")
        .paginator(SinglePagePaginator::new());
    assert_eq!(all_ids(single).await, [1, 2]);

    /// Stripe's `starting_after`.
    struct StartingAfter;
    impl Paginator for StartingAfter {
        fn next_request(
            &mut self,
            page: &PageResponse<'_>,
            request: &mut PageRequest,
        ) -> ele::Result<bool> {
            let last = page.items().last().and_then(|i| i["id"].as_u64());
            match last {
                Some(id) if page.body()["has_more"] == true => {
                    request.set_param("starting_after", id);
                    Ok(true)
                }
                _ => Ok(false),
            }
        }
    }
    api.reset();
    let custom = client(&api).paginate("/items").paginator(StartingAfter);
    assert_eq!(all_ids(custom).await, [1, 2, 3, 4, 5]);
    assert_eq!(
        api.log(),
        [
            "/items",
            "/items?starting_after=2",
            "/items?starting_after=4"
        ]
    );
    // `get` is one page.
    let page = client(&api)
        .get("/items", &[("starting_after", "3")])
        .await
        .expect("a page");
    assert_eq!(
        page.items::<Numbered>().expect("typed"),
        [Numbered { id: 4 }, Numbered { id: 5 }]
    );
    assert_eq!(page.body()["has_more"], json!(false));
}

#[tokio::test]
async fn typed_items_that_do_not_fit_name_the_page() {
    let api = FixtureServer::start(|_: &Request| json!([{"id": 1}, {"id": "two"}]))
        .await
        .expect("server");
    let page = client(&api).get("/items", &[]).await.expect("a page");
    let error = page
        .items::<Numbered>()
        .expect_err("the second item has a string id");
    let text = error.to_string();
    assert!(
        text.contains("item 1 of page 1") && text.contains("/items"),
        "{text}"
    );
}

/// A server that answers with what it saw of the credentials.
async fn echo_server() -> FixtureServer {
    FixtureServer::start(|r: &Request| {
        if r.path == "/token" {
            let form = r.body.clone();
            let ok = form.contains("grant_type=client_credentials")
                && form.contains("client_id=app")
                && form.contains("client_secret=cl1ent-s3cret");
            // The scope `short` gets tokens that expire at once.
            let expires_in = if form.contains("scope=short") { 0 } else { 3600 };
            return if ok {
                Reply::ok(
                    json!({ "access_token": "tok0", "token_type": "bearer", "expires_in": expires_in }),
                )
            } else {
                Reply::status(401, json!({ "error": "invalid_client" }))
            };
        }
        Reply::ok(json!([{
            "authorization": r.header("authorization"),
            "x_api_key": r.header("x-api-key"),
            "query": r.param("api_key"),
        }]))
    })
    .await
    .expect("server")
}

async fn seen_with(api: &FixtureServer, auth: Auth) -> Value {
    let client = RestClient::builder(api.base_url())
        .auth(auth)
        .build()
        .expect("client");
    let page = client.get("/whoami", &[]).await.expect("a page");
    page.values()[0].clone()
}

#[tokio::test]
async fn each_auth_kind_sends_its_credentials() {
    let api = echo_server().await;
    let seen = seen_with(&api, Auth::bearer("t0ken".to_owned())).await;
    assert_eq!(seen["authorization"], json!("Bearer t0ken"));
    let seen = seen_with(&api, Auth::api_key_header("X-API-Key", "k3y".to_owned())).await;
    assert_eq!(seen["x_api_key"], json!("k3y"));
    let seen = seen_with(&api, Auth::api_key_query("api_key", "k3y".to_owned())).await;
    assert_eq!(seen["query"], json!("k3y"));
    let seen = seen_with(&api, Auth::basic("user", "pa55".to_owned())).await;
    // base64("user:pa55")
    assert_eq!(seen["authorization"], json!("Basic dXNlcjpwYTU1"));

    // OAuth2: one token request, the token on every page.
    api.reset();
    let oauth = Auth::oauth2_client_credentials(
        format!("{}/token", api.base_url()),
        "app",
        "cl1ent-s3cret".to_owned(),
    );
    let client = RestClient::builder(api.base_url())
        .auth(oauth)
        .build()
        .expect("client");
    for _ in 0..2 {
        let page = client.get("/whoami", &[]).await.expect("a page");
        assert_eq!(page.values()[0]["authorization"], json!("Bearer tok0"));
    }
    assert_eq!(api.log(), ["/token", "/whoami", "/whoami"]);

    // A 401 asks for a new token once, then the request goes through.
    api.reset();
    api.fail_once(
        "/whoami",
        Reply::status(401, json!({"error": "token revoked"})),
    );
    let page = client
        .get("/whoami", &[])
        .await
        .expect("a page after a new token");
    assert_eq!(page.values()[0]["authorization"], json!("Bearer tok0"));
    assert_eq!(api.log(), ["/whoami", "/token", "/whoami"]);

    // A token about to expire is replaced before the request.
    api.reset();
    let short_lived = Auth::oauth2_client_credentials(
        format!("{}/token", api.base_url()),
        "app",
        "cl1ent-s3cret".to_owned(),
    )
    .scopes(["short"]);
    let client = RestClient::builder(api.base_url())
        .auth(short_lived)
        .build()
        .expect("client");
    for _ in 0..2 {
        client.get("/whoami", &[]).await.expect("a page");
    }
    assert_eq!(api.log(), ["/token", "/whoami", "/token", "/whoami"]);

    // Wrong client credentials: a configuration error that does not show the secret.
    let wrong = Auth::oauth2_client_credentials(
        format!("{}/token", api.base_url()),
        "app",
        "wr0ng-s3cret".to_owned(),
    );
    let client = RestClient::builder(api.base_url())
        .auth(wrong)
        .build()
        .expect("client");
    let error = client.get("/whoami", &[]).await.expect_err("refused");
    assert!(error.is_config(), "{error}");
    assert!(!format!("{error:?}").contains("wr0ng-s3cret"), "{error:?}");
}

#[tokio::test]
async fn secrets_appear_in_no_debug_output_or_error() {
    // The server echoes the key in its error body, as some APIs do.
    let api = FixtureServer::start(|r: &Request| {
        Reply::status(404, json!({ "error": format!("no such thing for key {}", r.param("api_key").unwrap_or_default()) }))
    })
    .await
    .expect("server");
    let key = "sup3r-s3cret-k3y";
    for auth in [
        Auth::api_key_query("api_key", key.to_owned()),
        Auth::bearer(key.to_owned()),
        Auth::api_key_header("X-Key", key.to_owned()),
        Auth::basic("me", key.to_owned()),
        Auth::oauth2_client_credentials("https://auth.example.com/token", "app", key.to_owned()),
    ] {
        let shown = format!("{auth:?}");
        assert!(!shown.contains(key), "{shown}");
        let client = RestClient::builder(api.base_url())
            .auth(auth)
            .build()
            .expect("client");
        assert!(!format!("{client:?}").contains(key), "{client:?}");
    }
    let client = RestClient::builder(api.base_url())
        .auth(Auth::api_key_query("api_key", key.to_owned()))
        .build()
        .expect("client");
    let error = client.get("/things", &[("q", "x")]).await.expect_err("404");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(key), "{text}");
    // The URL is there, with the key's parameter hidden, and so is the body.
    assert!(text.contains("/things?q=x&api_key=***"), "{text}");
    assert!(
        text.contains("404 Not Found") && text.contains("no such thing for key ***"),
        "{text}"
    );
    assert!(!error.is_transient() && !error.is_config(), "{error}");
}

#[tokio::test]
async fn retries_honour_retry_after_and_recover() {
    let api = FixtureServer::start(|r: &Request| {
        Value::Array(page_of(&numbered(4), r.param_or("page", 1), 2))
    })
    .await
    .expect("server");
    api.fail_once("/items?page=2", Reply::too_many_requests(0));
    api.fail_once("/items?page=2", Reply::server_error());
    let client = client(&api);
    let mut pages = client
        .paginate("/items")
        .paginator(PageNumberPaginator::new().base_page(1).without_total());
    let mut retries = Vec::new();
    while let Some(page) = pages.next_page().await {
        retries.push(page.expect("a page").retries());
    }
    assert_eq!(retries, [0, 2, 0]);
    assert_eq!(client.retries(), 2);
    assert_eq!(client.requests(), 5);
    assert_eq!(
        api.log(),
        [
            "/items?page=1",
            "/items?page=2",
            "/items?page=2",
            "/items?page=2",
            "/items?page=3"
        ]
    );
}

#[tokio::test]
async fn retries_run_out_into_a_transient_error() {
    let api =
        FixtureServer::start(|_: &Request| Reply::status(503, json!({"error": "maintenance"})))
            .await
            .expect("server");
    let error = client(&api)
        .get("/items", &[])
        .await
        .expect_err("always 503");
    assert!(error.is_transient(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("503 Service Unavailable") && text.contains("maintenance"),
        "{text}"
    );
    assert!(text.contains("gave up after 3 retries"), "{text}");
    assert_eq!(api.total_requests(), 4);

    // A Retry-After beyond the budget is not waited for.
    api.reset();
    api.set_handler(|_: &Request| Reply::too_many_requests(3600));
    let client = RestClient::builder(api.base_url())
        .retry(RetryPolicy::new().budget(Duration::from_secs(60)))
        .build()
        .expect("client");
    let error = client
        .get("/items", &[])
        .await
        .expect_err("rate limited for an hour");
    assert!(error.is_transient(), "{error}");
    assert!(
        error
            .to_string()
            .contains("retry after 3600 s, past the retry budget"),
        "{error}"
    );
    assert_eq!(api.total_requests(), 1);
}

#[tokio::test]
async fn client_errors_fail_at_once() {
    let api = FixtureServer::start(|r: &Request| match r.path.as_str() {
        "/private" => Reply::status(401, json!({"message": "Bad credentials"})),
        "/forbidden" => Reply::status(403, json!({"message": "Resource not accessible"})),
        _ => Reply::status(422, json!({"message": "Validation Failed"})),
    })
    .await
    .expect("server");
    let client = client(&api);
    let error = client.get("/private", &[]).await.expect_err("401");
    assert!(error.is_config() && !error.is_transient(), "{error}");
    assert!(
        error.to_string().contains("check the credentials"),
        "{error}"
    );
    let error = client.get("/forbidden", &[]).await.expect_err("403");
    assert!(error.is_config(), "{error}");
    let error = client.get("/invalid", &[]).await.expect_err("422");
    assert!(!error.is_config() && !error.is_transient(), "{error}");
    assert!(error.to_string().contains("Validation Failed"), "{error}");
    assert_eq!(api.total_requests(), 3, "no retries");
}

#[tokio::test]
async fn connection_errors_and_timeouts_are_retried_then_transient() {
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("an address").port()
    };
    let client = RestClient::builder(format!("http://127.0.0.1:{port}"))
        .retry(quick_retries().max_retries(1))
        .build()
        .expect("client");
    let error = client.get("/items", &[]).await.expect_err("refused");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("cannot connect"), "{error}");
    assert_eq!(client.retries(), 1);

    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = silent.local_addr().expect("an address");
    let _keep = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let client = RestClient::builder(format!("http://{address}"))
        .timeout(Duration::from_millis(200))
        .retry(quick_retries().max_retries(1))
        .build()
        .expect("client");
    let error = client.get("/items", &[]).await.expect_err("timed out");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
}

/// Events newest first, filtered by `since` when given; the resource stops paging once out of range.
#[resource(primary_key = "id", write_disposition = "merge")]
async fn events(
    out: Emit<Value>,
    api: RestClient,
    #[incremental(cursor = "created_at", initial_value = "2024-01-01T00:00:00Z")]
    created_at: Incremental<String>,
) -> ele::Result<()> {
    let mut pages = api
        .paginate("/events")
        .param("since", &created_at)
        .end_param("until", &created_at)
        .paginator(PageNumberPaginator::new().base_page(1).without_total());
    while let Some(page) = pages.next_page().await {
        out.send(page?.into_values()).await?;
    }
    Ok(())
}

fn event(id: u64, day: u32) -> Value {
    json!({ "id": id, "created_at": format!("2024-03-{day:02}T00:00:00Z") })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_params_and_the_early_stop_in_a_pipeline() {
    let db = TestDb::new("http_incremental").await;
    let p = db.pipeline("http_events", "http_events");
    // Newest first, 2 a page; the API ignores `since` (as GitHub's events do), so paging must stop by itself.
    let all: Vec<Value> = (1..=6).rev().map(|i| event(i, i as u32)).collect();
    let api = FixtureServer::start(move |r: &Request| {
        Value::Array(page_of(&all, r.param_or("page", 1), 2))
    })
    .await
    .expect("server");
    let info = p.run(events(client(&api))).await.expect("first run");
    assert_eq!(info.rows("events"), 6, "{info}");
    assert_eq!(
        api.log(),
        [
            "/events?since=2024-01-01T00:00:00Z&page=1",
            "/events?since=2024-01-01T00:00:00Z&page=2",
            "/events?since=2024-01-01T00:00:00Z&page=3",
            "/events?since=2024-01-01T00:00:00Z&page=4",
        ]
    );
    // Two newer events: `since` is the last value, and page 2 reaches loaded events, so there is no page 3.
    let all: Vec<Value> = (1..=8).rev().map(|i| event(i, i as u32)).collect();
    api.set_handler(move |r: &Request| Value::Array(page_of(&all, r.param_or("page", 1), 2)));
    api.reset();
    let info = p.run(events(client(&api))).await.expect("second run");
    assert_eq!(info.rows("events"), 2, "{info}");
    assert_eq!(
        api.log(),
        [
            "/events?since=2024-03-06T00:00:00Z&page=1",
            "/events?since=2024-03-06T00:00:00Z&page=2"
        ]
    );
    // A backfill chunk sends its end too, and stops once past it (the API here ignores both).
    api.reset();
    let chunk = events(client(&api)).created_at(Incremental::range(
        "2024-03-01T00:00:00Z",
        "2024-03-07T00:00:00Z",
    ));
    let info = p.run(chunk).await.expect("chunk");
    assert!(info.is_empty(), "{info}");
    assert_eq!(
        api.log(),
        ["/events?since=2024-03-01T00:00:00Z&until=2024-03-07T00:00:00Z&page=1"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM http_events.events").await,
        ["8"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_failure_fails_the_run_with_its_class() {
    let db = TestDb::new("http_failure").await;
    let p = db.pipeline("http_failure", "http_failure");
    let api = FixtureServer::start(|_: &Request| Reply::server_error())
        .await
        .expect("server");
    let error = p.run(events(client(&api))).await.expect_err("500 forever");
    assert!(error.is_transient(), "{error:?}");
    api.set_handler(|_: &Request| Reply::status(401, json!({"message": "Bad credentials"})));
    let error = p.run(events(client(&api))).await.expect_err("401");
    assert!(error.is_config() && !error.is_transient(), "{error:?}");
}
