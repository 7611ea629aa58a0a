//! GitHub issues loaded incrementally by `created_at`, the range passed to the API; plus a backfill of the
//! history in chunks that run in parallel, with each other and with the incremental load, and leave the
//! incremental state alone.
//!
//! Mirrors the seed's (`incremental-loading.md`) "Incremental loading with last value":
//!
//! ```python
//! @dlt.resource(primary_key="id")
//! def repo_issues(access_token, repository,
//!     created_at = dlt.sources.incremental("created_at", initial_value="1970-01-01T00:00:00Z")):
//!     # get issues since "created_at" stored in state on previous run (or initial_value on first run)
//!     for page in _get_issues_page(access_token, repository, since=created_at.start_value):
//!         yield page
//!         # last_value is updated after every page
//!         print(created_at.last_value)
//! ```
//!
//! and "Using `dlt.sources.incremental` for backfill": `since=created_at.start_value, until=created_at.end_value`,
//! `initial_value="1970-01-01T00:00:00Z", end_value="2022-07-01T00:00:00Z"` for everything before July, and
//!
//! ```python
//! july_issues = repo_issues(created_at=dlt.sources.incremental(
//!     initial_value='2022-07-01T00:00:00Z', end_value='2022-08-01T00:00:00Z'))
//! august_issues = repo_issues(created_at=dlt.sources.incremental(
//!     initial_value='2022-08-01T00:00:00Z', end_value='2022-09-01T00:00:00Z'))
//! ```
//!
//! In Rust the override is the resource value's setter named after the parameter:
//! `repo_issues(..).created_at(Incremental::range(initial, end))`, merged field by field over the attribute (the
//! cursor comes from there). A run with an end value reads and writes no incremental state, so chunks can run
//! at the same time, and at the same time as the incremental load ("You can run backfill and incremental load
//! in parallel ... in a single pipeline").
//!
//! One change to the seed: the incremental load starts at `2022-09-01T00:00:00Z`, where the backfill ends,
//! rather than at 1970: the resource appends (as in the seed), so the incremental load and the backfill must
//! not overlap.
//!
//! Run: `cargo run --example repo_issues`. The chunks are stateless, so running the example again loads them
//! again (appended); the incremental runs load nothing new.

use std::future::IntoFuture;

use ele::http::{HeaderLinkPaginator, RestClient};
use ele::prelude::*;
use serde::{Deserialize, Serialize};

#[path = "fixtures/server.rs"]
pub mod server;

/// The repository whose issues are loaded.
pub const REPOSITORY: &str = "duckdb/duckdb";
/// Issues per page requested.
pub const PER_PAGE: usize = 100;

/// A GitHub issue, with the fields this example keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issue {
    /// Issue id.
    pub id: i64,
    /// Issue number in the repository.
    pub number: i64,
    /// Title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// Who opened it.
    pub user: User,
    /// Labels: a child table `repo_issues__labels`.
    pub labels: Vec<Label>,
    /// When it was opened: the incremental cursor.
    pub created_at: String,
}

/// A GitHub user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub login: String,
}

/// An issue label.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Label {
    /// Label name.
    pub name: String,
}

/// Issues of `repository` created at or after the start value (the last run's newest issue, or the initial
/// value) and, for a backfill chunk, before the end value: the API filters by `since`/`until`, so only the range
/// is requested. The issue at the start value comes back (`since` is inclusive) and is filtered out by its id.
#[resource(primary_key = "id")]
pub async fn repo_issues(
    out: Emit<Issue>,
    api_url: String,
    repository: String,
    #[incremental(cursor = "created_at", initial_value = "2022-09-01T00:00:00Z")]
    created_at: Incremental<String>,
) -> Result<(), ele::BoxError> {
    let github = RestClient::new(api_url)?;
    // `since` is the start value, `until` the end value of a backfill chunk (left out otherwise); the pages are
    // linked by `Link` headers.
    let mut pages = github
        .paginate(&format!("/repos/{repository}/issues"))
        .param("since", &created_at)
        .end_param("until", &created_at)
        .param("per_page", PER_PAGE)
        .paginator(HeaderLinkPaginator::new());
    while let Some(page) = pages.next_page().await {
        out.send(page?.items::<Issue>()?).await?;
        // last_value is updated after every page
        println!(
            "{repository} issues up to {}",
            created_at.last_value().unwrap_or_default()
        );
    }
    Ok(())
}

/// The issues before July 2022: the seed's `end_value="2022-07-01T00:00:00Z"`, given at the call site.
pub fn issues_before_july(api_url: &str) -> RepoIssuesResource {
    repo_issues(api_url.to_owned(), REPOSITORY.to_owned()).created_at(
        Incremental::new("created_at")
            .with_initial_value("1970-01-01T00:00:00Z")
            .with_end_value("2022-07-01T00:00:00Z"),
    )
}

/// The issues of July 2022 (initial value inclusive, end value exclusive).
pub fn july_issues(api_url: &str) -> RepoIssuesResource {
    repo_issues(api_url.to_owned(), REPOSITORY.to_owned()).created_at(Incremental::range(
        "2022-07-01T00:00:00Z",
        "2022-08-01T00:00:00Z",
    ))
}

/// The issues of August 2022.
pub fn august_issues(api_url: &str) -> RepoIssuesResource {
    repo_issues(api_url.to_owned(), REPOSITORY.to_owned()).created_at(Incremental::range(
        "2022-08-01T00:00:00Z",
        "2022-09-01T00:00:00Z",
    ))
}

/// Backfills the history before the incremental load's initial value in three chunks, at the same time.
pub async fn backfill(pipeline: &Pipeline, api_url: &str) -> ele::Result<[LoadInfo; 3]> {
    let (before_july, july, august) = tokio::join!(
        pipeline.run(issues_before_july(api_url)).into_future(),
        pipeline.run(july_issues(api_url)).into_future(),
        pipeline.run(august_issues(api_url)).into_future(),
    );
    Ok([before_july?, july?, august?])
}

/// The incremental run: the issues created since the last run.
pub async fn load_new_issues(pipeline: &Pipeline, api_url: &str) -> ele::Result<LoadInfo> {
    pipeline
        .run(repo_issues(api_url.to_owned(), REPOSITORY.to_owned()))
        .await
}

#[tokio::main]
async fn main() -> Result<(), ele::BoxError> {
    let canned = fake_api::Canned::load();
    let api = server::FixtureServer::start(fake_api::issues(canned.issues.clone())).await?;
    let pipeline = Pipeline::builder("repo_issues")
        .destination(Postgres::from_env_or_local().await?)
        .dataset_name("repo_issues_data")
        .build()?;

    // The incremental load: the issues since its initial value (September 2022).
    println!("{}", load_new_issues(&pipeline, api.base_url()).await?);
    // Later, a new issue has arrived. The history before September is backfilled in three chunks while the next
    // incremental run loads the new issue, all at the same time in one pipeline.
    api.set_handler(fake_api::issues(canned.all_issues()));
    let (chunks, incremental) = tokio::join!(
        backfill(&pipeline, api.base_url()),
        load_new_issues(&pipeline, api.base_url())
    );
    for info in chunks? {
        println!("{info}");
    }
    println!("{}", incremental?);
    println!("requests made:");
    for request in api.log() {
        println!("  {request}");
    }
    Ok(())
}

/// The stand-in for the GitHub API (not part of the pattern): `GET /repos/{repository}/issues` answers the canned
/// issues of `fixtures/repo_issues.json` created in `[since, until)`, `per_page` per page.
pub mod fake_api {
    use serde_json::Value;

    use super::REPOSITORY;
    use super::server::{Reply, Request, linked_page};

    /// The canned issues.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Canned {
        /// The issues at first, oldest first.
        pub issues: Vec<Value>,
        /// Issues opened later.
        pub new_issues: Vec<Value>,
    }

    impl Canned {
        /// Reads `fixtures/repo_issues.json`.
        pub fn load() -> Canned {
            serde_json::from_str(include_str!("fixtures/repo_issues.json"))
                .expect("fixtures/repo_issues.json is valid")
        }

        /// All issues, the new ones included.
        pub fn all_issues(&self) -> Vec<Value> {
            self.issues
                .iter()
                .chain(&self.new_issues)
                .cloned()
                .collect()
        }
    }

    /// The path of the issues of [`REPOSITORY`].
    pub fn issues_path() -> String {
        format!("/repos/{REPOSITORY}/issues")
    }

    /// An API holding `issues`.
    pub fn issues(
        issues: Vec<Value>,
    ) -> impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static {
        let path = issues_path();
        move |request| {
            if request.path != path {
                return None;
            }
            let since = request.param("since").unwrap_or_default();
            let until = request.param("until");
            let selected: Vec<Value> = issues
                .iter()
                .filter(|issue| {
                    let created = issue["created_at"].as_str().unwrap_or_default();
                    created >= since && until.is_none_or(|until| created < until)
                })
                .cloned()
                .collect();
            Some(linked_page(request, &selected, 30))
        }
    }
}
