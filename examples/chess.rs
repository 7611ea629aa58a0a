//! Custom incremental loading with resource state: the list of chess.com game archives already loaded is kept
//! in the resource's state, committed with the games, so loading the same months again skips them.
//!
//! Mirrors the seed's (`incremental-loading.md`) "Advanced state usage: storing a list of processed entities":
//!
//! ```python
//! @dlt.resource(write_disposition="append")
//! def players_games(chess_url, players, start_month=None, end_month=None):
//!     loaded_archives_cache = dlt.current.resource_state().setdefault("archives", [])
//!     # get archives for a given player
//!     archives = get_players_archives(chess_url, players)
//!     for url in archives:
//!         # if not in cache, yield the data and cache the URL
//!         if url not in loaded_archives_cache:
//!             # add URL to cache and yield the associated data
//!             loaded_archives_cache.append(url)
//!             r = requests.get(url)
//!             r.raise_for_status()
//!             yield r.json().get("games", [])
//!         else:
//!             print(f"skipping archive {url}")
//! ```
//!
//! A `state: ResourceState` parameter is the resource's state (`dlt.current.resource_state()`):
//! `get_or_default` is `setdefault`'s read, and the list is written back with `set`; it lands in
//! `sources.<source>.resources.players_games.archives` in the same transaction as the games. The first run of
//! `main` is a full refresh (the seed's "Doing a full refresh": replace clears the table and the resource's
//! state), so the example starts from scratch each time you run it.
//!
//! Run: `cargo run --example chess`.

use ele::http::RestClient;
use ele::prelude::*;
use serde_json::Value;

#[path = "fixtures/server.rs"]
pub mod server;

/// The players whose games are loaded.
pub const PLAYERS: [&str; 2] = ["magnuscarlsen", "vincentkeymer"];

/// The URLs of the monthly game archives of `players` from `start_month` to `end_month` (`"2022/11"`, both
/// inclusive, open when `None`).
async fn get_players_archives(
    chess: &RestClient,
    players: &[String],
    start_month: Option<&str>,
    end_month: Option<&str>,
) -> Result<Vec<String>, ele::BoxError> {
    let mut urls = Vec::new();
    for player in players {
        // `{"archives": [...]}`: the page's items are the one list of the body, the archive URLs.
        let list: Vec<String> = chess
            .get(&format!("/pub/player/{player}/games/archives"), &[])
            .await?
            .items()?;
        urls.extend(list.into_iter().filter(|url| {
            // Archive URLs end with `/YYYY/MM`.
            let month = url.get(url.len().saturating_sub(7)..).unwrap_or_default();
            start_month.is_none_or(|start| month >= start)
                && end_month.is_none_or(|end| month <= end)
        }));
    }
    Ok(urls)
}

/// The games of `players` in the months given, skipping the archives that earlier runs loaded.
#[resource(write_disposition = "append")]
pub async fn players_games(
    out: Emit<Value>,
    state: ResourceState,
    chess_url: String,
    players: Vec<String>,
    start_month: Option<String>,
    end_month: Option<String>,
) -> Result<(), ele::BoxError> {
    // The archives loaded by earlier runs; an empty list on the first run.
    let mut loaded_archives_cache: Vec<String> = state.get_or_default("archives")?;
    let chess = RestClient::new(chess_url)?;
    let archives = get_players_archives(
        &chess,
        &players,
        start_month.as_deref(),
        end_month.as_deref(),
    )
    .await?;
    for url in archives {
        if loaded_archives_cache.contains(&url) {
            println!("skipping archive {url}");
            continue;
        }
        // Add the URL to the cache and send the games of the archive: both are committed together.
        loaded_archives_cache.push(url.clone());
        state.set("archives", &loaded_archives_cache)?;
        // A full URL is requested as it is; `{"games": [...]}` gives the games as the items.
        let archive = chess.get(&url, &[]).await?;
        out.send(archive.into_values()).await?;
    }
    Ok(())
}

/// The games of [`PLAYERS`] from `start_month` to `end_month`.
pub fn games_of_months(
    chess_url: &str,
    start_month: &str,
    end_month: &str,
) -> PlayersGamesResource {
    players_games(
        chess_url.to_owned(),
        PLAYERS.iter().map(|p| (*p).to_owned()).collect(),
        Some(start_month.to_owned()),
        Some(end_month.to_owned()),
    )
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let api = server::FixtureServer::start(fake_api::chess(fake_api::Canned::load())).await?;
    let pipeline = Pipeline::builder("chess")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("chess_data")
        .build()?;

    // October and November, as a full refresh: the table and the list of loaded archives start empty.
    let info = pipeline
        .run(games_of_months(api.base_url(), "2022/10", "2022/11"))
        .write_disposition(Replace)
        .await?;
    println!("{info}");
    println!("archives requested: {}\n", fake_api::archive_requests(&api));

    // November (again) and December: only the December archives are requested and loaded.
    api.reset();
    let info = pipeline
        .run(games_of_months(api.base_url(), "2022/11", "2022/12"))
        .await?;
    println!("{info}");
    println!("archives requested: {}", fake_api::archive_requests(&api));
    Ok(())
}

/// The stand-in for the chess.com API (not part of the pattern): `GET /pub/player/{player}/games/archives` lists
/// the archive URLs of a player, `GET /pub/player/{player}/games/{YYYY}/{MM}` answers the games of a month, from
/// `fixtures/chess.json`.
pub mod fake_api {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::server::{FixtureServer, Request};

    /// The canned games: player -> month (`YYYY/MM`) -> games.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Canned {
        /// Games by player and month.
        pub players: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
    }

    impl Canned {
        /// Reads `fixtures/chess.json`.
        pub fn load() -> Canned {
            serde_json::from_str(include_str!("fixtures/chess.json"))
                .expect("fixtures/chess.json is valid")
        }
    }

    /// An API holding `canned`.
    pub fn chess(canned: Canned) -> impl Fn(&Request) -> Option<Value> + Send + Sync + 'static {
        move |request| {
            let rest = request.path.strip_prefix("/pub/player/")?;
            let (player, rest) = rest.split_once("/games/")?;
            let months = canned.players.get(player)?;
            if rest == "archives" {
                let urls: Vec<String> = months
                    .keys()
                    .map(|month| format!("{}/pub/player/{player}/games/{month}", request.base_url))
                    .collect();
                return Some(json!({ "archives": urls }));
            }
            months.get(rest).map(|games| json!({ "games": games }))
        }
    }

    /// The archive requests made (not the archive lists), sorted.
    pub fn archive_requests(api: &FixtureServer) -> String {
        let mut requests: Vec<String> = api
            .log()
            .into_iter()
            .filter(|r| !r.ends_with("/archives"))
            .collect();
        requests.sort();
        requests.join(", ")
    }
}
