//! The main example: GitHub-like events merged into PostgreSQL by id.
//!
//! Run: `cargo run --example quickstart`. With `DESTINATION__POSTGRES__CREDENTIALS` unset it starts (once) a
//! local PostgreSQL instance under `.ele/postgres` and prints how to open it with psql.

use ele::prelude::*;
use serde::Serialize;

#[derive(Serialize)]
struct Actor {
    id: i64,
    login: String,
}

#[derive(Serialize)]
struct Commit {
    sha: String,
    message: String,
}

#[derive(Serialize)]
struct Event {
    id: String,
    r#type: String,
    created_at: String,
    actor: Actor,
    commits: Vec<Commit>,
}

/// Events of a repository, one row per event id; a run that sees an event again updates it.
#[resource(
    primary_key = "id",
    write_disposition = "merge",
    table_name = "github_events"
)]
async fn repo_events(out: Emit<Event>, first_id: u32, count: u32) -> ele::Result<()> {
    let page: Vec<Event> = (first_id..first_id + count)
        .map(|i| Event {
            id: format!("{}", 30_000_000_000u64 + u64::from(i)),
            r#type: if i % 2 == 0 {
                "PushEvent"
            } else {
                "WatchEvent"
            }
            .to_owned(),
            created_at: format!("2024-01-01T00:{:02}:{:02}Z", i / 60 % 60, i % 60),
            actor: Actor {
                id: i64::from(i % 7),
                login: format!("user{}", i % 7),
            },
            commits: (0..i % 3)
                .map(|c| Commit {
                    sha: format!("{i:08x}{c:032x}"),
                    message: format!("commit {c} of event {i}"),
                })
                .collect(),
        })
        .collect();
    out.send(page).await
}

#[tokio::main]
async fn main() -> ele::Result<()> {
    let pipeline = Pipeline::builder("quickstart")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("github_data")
        .build()?;
    // Two overlapping pages: events 50..99 are loaded twice and kept once.
    println!("{}", pipeline.run(repo_events(0, 100)).await?);
    println!("{}", pipeline.run(repo_events(50, 100)).await?);
    println!(
        "github_data.github_events now holds one row per event id (150 rows); its commits are in \
         github_data.github_events__commits."
    );
    Ok(())
}
