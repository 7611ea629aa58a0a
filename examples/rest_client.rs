//! `ele::http` in one program: each paginator and each kind of auth against a local stand-in API, loaded into
//! PostgreSQL. The second page of the first resource answers `429 Too Many Requests` with `Retry-After: 1`; the
//! client waits a second and asks again.
//!
//! Run: `cargo run --example rest_client` (no network: the API is a server on 127.0.0.1 inside the program; the
//! data goes to `DESTINATION__POSTGRES__CREDENTIALS` or the managed local instance). It prints the rows loaded
//! per table and `retries: N`.

use ele::http::{
    Auth, HeaderLinkPaginator, JsonLinkPaginator, JsonResponseCursorPaginator, OffsetPaginator,
    PageNumberPaginator, Paginator, RestClient, SinglePagePaginator,
};
use ele::prelude::*;
use serde::{Deserialize, Serialize};

#[path = "fixtures/server.rs"]
pub mod server;

/// A ticket as every endpoint of the stand-in API serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// Ticket id.
    pub id: i64,
    /// Subject line.
    pub subject: String,
}

/// Reads `path` with `paginator` and sends the tickets it finds: each resource below differs only there.
async fn send_tickets(
    out: &Emit<Ticket>,
    api: &RestClient,
    path: &str,
    paginator: impl Paginator + 'static,
) -> ele::Result<()> {
    let mut pages = api.paginate(path).paginator(paginator);
    while let Some(page) = pages.next_page().await {
        out.send(page?.items::<Ticket>()?).await?;
    }
    Ok(())
}

/// `{"results": [...], "next": "<url>"}`, a bearer token.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn json_link(out: Emit<Ticket>, api: RestClient) -> ele::Result<()> {
    send_tickets(&out, &api, "/json_link", JsonLinkPaginator::new("next")).await
}

/// `Link: <...>; rel="next"` headers, an API key in a header.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn header_link(out: Emit<Ticket>, api: RestClient) -> ele::Result<()> {
    send_tickets(&out, &api, "/header_link", HeaderLinkPaginator::new()).await
}

/// `?offset=..&limit=..` with a `total` in the body, an API key in the query.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn offset(out: Emit<Ticket>, api: RestClient) -> ele::Result<()> {
    send_tickets(&out, &api, "/offset", OffsetPaginator::new(2)).await
}

/// `?page=1, 2, ...` until an empty page, HTTP basic auth.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn page_number(out: Emit<Ticket>, api: RestClient) -> ele::Result<()> {
    let paginator = PageNumberPaginator::new().base_page(1).without_total();
    send_tickets(&out, &api, "/page_number", paginator).await
}

/// A cursor in the body (`cursors.next`) sent back as `?cursor=..`, OAuth2 client credentials.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn cursor(out: Emit<Ticket>, api: RestClient) -> ele::Result<()> {
    send_tickets(
        &out,
        &api,
        "/cursor",
        JsonResponseCursorPaginator::default(),
    )
    .await
}

/// One page, no auth.
#[resource(primary_key = "id", write_disposition = "merge")]
pub async fn single_page(out: Emit<Ticket>, api: RestClient) -> ele::Result<()> {
    send_tickets(&out, &api, "/single_page", SinglePagePaginator::new()).await
}

/// One client per kind of auth, all of the API at `base_url` (clones share their connections and counters).
#[derive(Clone)]
pub struct Clients {
    /// `Authorization: Bearer ...`.
    pub bearer: RestClient,
    /// `X-API-Key: ...`.
    pub api_key_header: RestClient,
    /// `?api_key=...`.
    pub api_key_query: RestClient,
    /// `Authorization: Basic ...`.
    pub basic: RestClient,
    /// OAuth2 client credentials, the token from `/oauth/token`.
    pub oauth2: RestClient,
    /// No auth.
    pub anonymous: RestClient,
}

impl Clients {
    /// The clients, with the stand-in API's credentials (in a real program: `#[secret]` parameters or
    /// `ele::config`, never literals).
    pub fn new(base_url: &str) -> ele::Result<Clients> {
        let with = |auth: Auth| RestClient::builder(base_url).auth(auth).build();
        let secret = |s: &str| Secret::new(s.to_owned());
        Ok(Clients {
            bearer: with(Auth::bearer(secret(fake_api::TOKEN)))?,
            api_key_header: with(Auth::api_key_header("X-API-Key", secret(fake_api::KEY)))?,
            api_key_query: with(Auth::api_key_query("api_key", secret(fake_api::KEY)))?,
            basic: with(Auth::basic(fake_api::USER, secret(fake_api::PASSWORD)))?,
            oauth2: with(Auth::oauth2_client_credentials(
                format!("{base_url}/oauth/token"),
                fake_api::CLIENT_ID,
                secret(fake_api::CLIENT_SECRET),
            ))?,
            anonymous: RestClient::new(base_url)?,
        })
    }

    /// The retries made by all of them.
    pub fn retries(&self) -> u64 {
        [
            &self.bearer,
            &self.api_key_header,
            &self.api_key_query,
            &self.basic,
            &self.oauth2,
            &self.anonymous,
        ]
        .iter()
        .map(|c| c.retries())
        .sum()
    }
}

/// Every resource, each with its client.
#[source]
pub fn tickets_api(clients: Clients) -> impl ele::IntoResources {
    (
        json_link(clients.bearer),
        header_link(clients.api_key_header),
        offset(clients.api_key_query),
        page_number(clients.basic),
        cursor(clients.oauth2),
        single_page(clients.anonymous),
    )
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let api = server::FixtureServer::start(fake_api::handler).await?;
    // The second page of the first resource is rate limited once.
    api.fail_once("/json_link?page=2", server::Reply::too_many_requests(1));
    let clients = Clients::new(api.base_url())?;
    let pipeline = Pipeline::builder("rest_client")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("rest_client_data")
        .build()?;
    let info = pipeline.run(tickets_api(clients.clone())).await?;
    println!("{info}");
    for table in [
        "json_link",
        "header_link",
        "offset",
        "page_number",
        "cursor",
        "single_page",
    ] {
        println!("{table}: {} rows", info.rows(table));
    }
    println!("requests: {}", api.total_requests());
    println!("retries: {}", clients.retries());
    Ok(())
}

/// The stand-in API (not part of the pattern): the same [`TICKETS`](fake_api::TICKETS) at six paths, each paged
/// its own way and asking for its own credentials (401 without them).
pub mod fake_api {
    use serde_json::{Value, json};

    use super::server::{Reply, Request, linked_page, page_of};

    /// The bearer token.
    pub const TOKEN: &str = "fixture-bearer-token";
    /// The API key.
    pub const KEY: &str = "fixture-api-key";
    /// HTTP basic user and password.
    pub const USER: &str = "loader";
    /// See [`USER`].
    pub const PASSWORD: &str = "fixture-password";
    /// OAuth2 client id and secret.
    pub const CLIENT_ID: &str = "ele-example";
    /// See [`CLIENT_ID`].
    pub const CLIENT_SECRET: &str = "fixture-client-secret";
    /// The access token `/oauth/token` hands out.
    const ACCESS_TOKEN: &str = "fixture-access-token";
    /// Tickets per page.
    const PAGE_SIZE: usize = 2;
    /// How many tickets each path serves.
    pub const TICKETS: usize = 5;

    fn tickets() -> Vec<Value> {
        (1..=TICKETS)
            .map(|id| json!({ "id": id, "subject": format!("ticket {id}") }))
            .collect()
    }

    fn authorized(request: &Request) -> bool {
        let header = request.header("authorization").unwrap_or_default();
        match request.path.as_str() {
            // base64("loader:fixture-password")
            "/page_number" => header == "Basic bG9hZGVyOmZpeHR1cmUtcGFzc3dvcmQ=",
            "/json_link" => header == format!("Bearer {TOKEN}"),
            "/header_link" => request.header("x-api-key") == Some(KEY),
            "/offset" => request.param("api_key") == Some(KEY),
            "/cursor" => header == format!("Bearer {ACCESS_TOKEN}"),
            _ => true,
        }
    }

    /// Answers every path.
    pub fn handler(request: &Request) -> Reply {
        if request.path == "/oauth/token" {
            let form = &request.body;
            let valid = form.contains(&format!("client_id={CLIENT_ID}"))
                && form.contains(&format!("client_secret={CLIENT_SECRET}"));
            return match valid {
                true => Reply::ok(json!({ "access_token": ACCESS_TOKEN, "expires_in": 3600 })),
                false => Reply::status(401, json!({ "error": "invalid_client" })),
            };
        }
        if !authorized(request) {
            return Reply::status(401, json!({ "error": "unauthorized" }));
        }
        let all = tickets();
        let page: usize = request.param_or("page", 1);
        match request.path.as_str() {
            "/json_link" => {
                let next = (page * PAGE_SIZE < TICKETS)
                    .then(|| format!("{}/json_link?page={}", request.base_url, page + 1));
                Reply::ok(json!({ "results": page_of(&all, page, PAGE_SIZE), "next": next }))
            }
            "/header_link" => linked_page(request, &all, PAGE_SIZE),
            "/offset" => {
                let (offset, limit): (usize, usize) =
                    (request.param_or("offset", 0), request.param_or("limit", 10));
                let items: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
                Reply::ok(json!({ "items": items, "total": TICKETS }))
            }
            "/page_number" => Reply::ok(Value::Array(page_of(&all, page, PAGE_SIZE))),
            "/cursor" => {
                let page: usize = request.param_or("cursor", 1);
                let next = (page * PAGE_SIZE < TICKETS).then(|| (page + 1).to_string());
                Reply::ok(
                    json!({ "data": page_of(&all, page, PAGE_SIZE), "cursors": { "next": next } }),
                )
            }
            "/single_page" => Reply::ok(json!({ "tickets": all })),
            _ => Reply::from(None::<Value>),
        }
    }
}
