//! The examples under `examples/`, run against PostgreSQL and their fixture APIs on 127.0.0.1: what a user
//! would check after running them (rows per table, state at dlt's paths, nothing new on a second run) and the
//! request counts that prove the early stops.
//!
//! Each example file is included as a module; its `main` and the helpers only `main` uses are dead code here.

use serde_json::{Value, json};

use crate::support::TestDb;

#[allow(dead_code)]
#[path = "../../examples/github_events.rs"]
mod github_events;
#[allow(dead_code)]
#[path = "../../examples/repo_issues.rs"]
mod repo_issues;

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
async fn github_events_table_per_type_merge_and_early_stop() {
    use github_events::{fake_api, load_events, server::FixtureServer};
    let db = TestDb::new("ex_github_events").await;
    let p = db.pipeline("github_events", "gh");
    let canned = fake_api::Canned::load();
    let api = FixtureServer::start(fake_api::events(canned.events.clone()))
        .await
        .expect("fixture server");
    let path = fake_api::events_path();

    // First run: 7 events in pages of 3; nothing is out of range, so paging ends at the empty 4th page.
    let info = load_events(&p, api.base_url()).await.expect("first run");
    assert_eq!(api.requests(&path), 4, "{:?}", api.log());
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
        [format!("{path}?page=1"), format!("{path}?page=2")],
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
    assert_eq!(api.log(), [format!("{path}?page=1")]);
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
            format!(
                "{path}?since=1970-01-01T00:00:00Z&until=2022-07-01T00:00:00Z&per_page=100&page=1"
            ),
            format!(
                "{path}?since=2022-07-01T00:00:00Z&until=2022-08-01T00:00:00Z&per_page=100&page=1"
            ),
            format!(
                "{path}?since=2022-08-01T00:00:00Z&until=2022-09-01T00:00:00Z&per_page=100&page=1"
            ),
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
    // Backfill chunks write no incremental state: the state committed with them has no sources.
    let state = p.state().expect("state readable").expect("state saved");
    assert!(state.sources.is_empty(), "{state:?}");
    let stored = stored_sources(&db, "issues").await;
    assert!(
        !stored.is_empty() && stored.iter().all(|s| s == &json!({})),
        "{stored:?}"
    );

    // The incremental run starts at its initial value, not at a chunk's end, and stores its last value.
    api.reset();
    let info = load_new_issues(&p, api.base_url())
        .await
        .expect("incremental run");
    assert_eq!(
        api.log(),
        [format!(
            "{path}?since=2022-09-01T00:00:00Z&per_page=100&page=1"
        )]
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
        [format!(
            "{path}?since=2022-10-05T16:45:00Z&per_page=100&page=1"
        )]
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
        api.log().contains(&format!(
            "{path}?since=2022-10-05T16:45:00Z&per_page=100&page=1"
        )),
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
        [format!(
            "{path}?since=2022-10-20T10:00:00Z&per_page=100&page=1"
        )]
    );
    assert!(info.is_empty(), "{info}");
}

/// The same, but on a pipeline's very first run. Fails: every run of a fresh pipeline commits a state row
/// (version 1) and saves it as the local state after its load, the stateless chunks included, so the
/// chunk that finishes last overwrites the incremental's state with an empty one, and the next incremental run
/// starts again at the initial value and loads its issues twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "ele bug: concurrent first runs of a pipeline lose the incremental state (see the test's doc)"]
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
