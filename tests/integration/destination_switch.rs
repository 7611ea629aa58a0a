//! A pipeline pointed at another destination: its local state, committed to the first one, must not filter
//! everything the new one never received (dlt's `sync_destination` rule).

use crate::cli::ele;
use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_pointed_at_a_new_destination_starts_from_the_initial_values() {
    let first = TestDb::new("switch_a").await;
    let second = TestDb::new("switch_b").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n").expect("write");
    let load = |destination: &str| {
        // Both runs share the first test database's pipelines dir: one working dir, two destinations.
        ele(
            &first,
            &[
                "load",
                file.to_str().expect("utf-8"),
                "--table",
                "events",
                "--cursor",
                "id",
                "--destination",
                destination,
            ],
        )
    };
    let out = load(&first.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = load(&second.url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let location = second.postgres().location();
    assert!(
        stderr.contains(&format!(
            "dataset `events_dataset` holds no loads at {location}: the local state of pipeline `events` \
             (committed to another destination, or the dataset was dropped) is reset, and the run starts from \
             the initial values"
        )),
        "{stderr}"
    );
    assert_eq!(
        second
            .lines("SELECT id FROM events_dataset.events ORDER BY id")
            .await,
        ["1", "2", "3"]
    );
    // Back on the first destination: its stored state replaces the local one (the second's), as dlt does when
    // the destination's is not older, so nothing is loaded twice.
    let out = load(&first.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        first
            .lines("SELECT count(*) FROM events_dataset.events")
            .await,
        ["3"]
    );
}
