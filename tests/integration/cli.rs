//! The `ele` binary, run as a user runs it.

use std::process::Command;

use crate::support::TestDb;

fn ele(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(args)
        .envs(db.cli_env())
        .output()
        .expect("the ele binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_merges_json_lines() {
    let db = TestDb::new("cli").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    std::fs::write(
        &first,
        "{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": \"b\"}\n\n",
    )
    .expect("write");
    std::fs::write(
        &second,
        "{\"id\": 2, \"name\": \"b2\"}\n{\"id\": 3, \"name\": \"c\"}\n",
    )
    .expect("write");
    for file in [&first, &second] {
        let out = ele(
            &db,
            &[
                "load",
                file.to_str().expect("utf-8 path"),
                "--table",
                "people",
                "--primary-key",
                "id",
                "--write-disposition",
                "merge",
            ],
        );
        assert!(
            out.status.success(),
            "ele load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Pipeline people load step completed"),
            "{stdout}"
        );
    }
    // Defaults as in dlt: pipeline = table, dataset = <pipeline>_dataset.
    assert_eq!(
        db.lines("SELECT id, name FROM people_dataset.people ORDER BY id")
            .await,
        ["1|a", "2|b2", "3|c"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_without_destination_is_an_error() {
    let db = TestDb::new("clinodest").await;
    let out = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["load", "x.jsonl", "--table", "t"])
        .env_remove("DESTINATION__POSTGRES__CREDENTIALS")
        .env("ELE_PIPELINES_DIR", &db.pipelines_dir)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no destination"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_reports_a_bad_line_with_its_position() {
    let db = TestDb::new("clibad").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, "{\"id\": 1}\n{\"id\": \n").expect("write");
    let out = ele(
        &db,
        &["load", file.to_str().expect("utf-8"), "--table", "t"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.jsonl:2: not valid JSON"), "{stderr}");
    assert_eq!(
        db.lines("SELECT count(*) FROM pg_namespace WHERE nspname = 't_dataset'")
            .await,
        ["0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_twice_on_a_growing_file_loads_only_new_records() {
    let db = TestDb::new("cligrow").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    let mut lines = String::from(
        "{\"id\": 1, \"created_at\": \"2024-01-01T00:00:00Z\"}\n{\"id\": 2, \"created_at\": \"2024-01-02T00:00:00Z\"}\n",
    );
    std::fs::write(&file, &lines).expect("write");
    let args = [
        "load",
        file.to_str().expect("utf-8"),
        "--table",
        "events",
        "--cursor",
        "created_at",
        "--initial-value",
        "2024-01-01T12:00:00Z",
    ];
    let out = ele(&db, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines.push_str("{\"id\": 3, \"created_at\": \"2024-01-03T00:00:00Z\"}\n");
    std::fs::write(&file, &lines).expect("append");
    let out = ele(&db, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Append disposition: a re-loaded row would show up twice.
    assert_eq!(
        db.lines("SELECT id FROM events_dataset.events ORDER BY id")
            .await,
        ["2", "3"]
    );
}
