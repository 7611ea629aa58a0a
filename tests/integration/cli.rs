//! The `ele` binary, run as a user runs it.

use std::process::Command;

use crate::support::TestDb;

/// Runs the `ele` binary with `args` against `db`.
pub(crate) fn ele(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(args)
        .envs(db.cli_env())
        .output()
        .expect("the ele binary runs")
}

/// `ele load FILE --table TABLE ARGS...` with 4 KB job files, so that a first load (or a delete-insert merge
/// into existing tables) is COPYed while it is still being normalized; returns its standard error after
/// checking that it succeeded and began loading that way.
pub(crate) fn ele_load_streaming(
    db: &TestDb,
    file: &std::path::Path,
    table: &str,
    args: &[&str],
) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["load", file.to_str().expect("utf-8"), "--table", table])
        .args(args)
        .envs(db.cli_env())
        .env("ELE_JOB_FILE_BYTES", "4096")
        .env("RUST_LOG", "ele_destinations=debug")
        .output()
        .expect("the ele binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("loading while normalizing")
            || stderr.contains("merging while normalizing"),
        "{stderr}"
    );
    stderr
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

/// A first merge into new tables is loaded while it is normalized: with tiny job files the rows go to the server
/// in many COPYs during extraction, into tables the load transaction creates and widens as columns and child
/// tables appear mid-run; the result is the complete, ordinary load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_streams_a_first_load_while_normalizing() {
    let db = TestDb::new("clistream").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    let mut text = String::new();
    for id in 0..3000 {
        let line = if id < 1500 {
            serde_json::json!({"id": id, "name": format!("n{id}")})
        } else {
            serde_json::json!({"id": id, "name": format!("n{id}"), "late": id % 7, "tags": ["a", "b"]})
        };
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(&file, text).expect("write");
    let stderr = ele_load_streaming(
        &db,
        &file,
        "events",
        &["--primary-key", "id", "--write-disposition", "merge"],
    );
    assert!(
        !stderr.contains("the load beside the normalizer"),
        "{stderr}"
    );
    assert_eq!(
        db.lines(
            "SELECT count(*), count(DISTINCT id), count(late), sum(late) FROM events_dataset.events"
        )
        .await,
        [format!(
            "3000|3000|1500|{}",
            (1500..3000).map(|i| i % 7).sum::<i64>()
        )]
    );
    assert_eq!(
        db.columns("events_dataset", "events").await,
        [
            "id|bigint|NO",
            "name|character varying|YES",
            "_dlt_load_id|character varying|NO",
            "_dlt_id|character varying|NO",
            "late|bigint|YES",
        ]
    );
    assert_eq!(
        db.lines(
            "SELECT count(*), count(DISTINCT t._dlt_root_id) FROM events_dataset.events__tags AS t \
             JOIN events_dataset.events AS e ON e._dlt_id = t._dlt_root_id"
        )
        .await,
        ["3000|1500"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM events_dataset._dlt_loads WHERE status = 0")
            .await,
        ["1"]
    );
    // The merge indexes exist, as after any first merge.
    assert_eq!(
        db.lines(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'events_dataset' \
             AND tablename LIKE 'events%' ORDER BY 1"
        )
        .await,
        ["events__primary_key", "events__tags__root_key"]
    );

    // A first replace into new tables streams too.
    ele_load_streaming(
        &db,
        &file,
        "copies",
        &[
            "--write-disposition",
            "replace",
            "--dataset",
            "events_dataset",
        ],
    );
    assert_eq!(
        db.lines(
            "SELECT (SELECT count(*) FROM events_dataset.copies), \
             (SELECT count(*) FROM events_dataset.copies__tags)"
        )
        .await,
        ["3000|3000"]
    );
}

/// A key sent twice is only known once the package is complete: the rows already COPYed while normalizing are
/// rolled back and the package is merged with deduplication, keeping the first row of the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_falls_back_from_streaming_when_a_key_repeats() {
    let db = TestDb::new("clistreamdup").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    let mut text = String::new();
    for id in 0..3000 {
        text.push_str(&serde_json::json!({"id": id, "name": format!("n{id}")}).to_string());
        text.push('\n');
    }
    text.push_str("{\"id\": 7, \"name\": \"again\"}\n");
    std::fs::write(&file, text).expect("write");
    ele_load_streaming(
        &db,
        &file,
        "events",
        &["--primary-key", "id", "--write-disposition", "merge"],
    );
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM events_dataset.events")
            .await,
        ["3000|3000"]
    );
    assert_eq!(
        db.lines("SELECT name FROM events_dataset.events WHERE id = 7")
            .await,
        ["n7"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM events_dataset._dlt_loads")
            .await,
        ["1"]
    );
}

/// A source that pauses longer than `ELE_STREAM_IDLE_SECS` after the first finished job file: the load begun
/// beside the normalizer gives up (nothing stays open and idle), and the package loads once complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_gives_up_streaming_when_the_source_pauses() {
    use std::io::Write as _;
    let db = TestDb::new("clistreamidle").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["load", "-", "--table", "events", "--primary-key", "id"])
        .args(["--write-disposition", "merge"])
        .envs(db.cli_env())
        .env("ELE_JOB_FILE_BYTES", "4096")
        .env("ELE_STREAM_IDLE_SECS", "1")
        .env("RUST_LOG", "ele_destinations=debug,ele_core=info")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the ele binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let lines = |ids: std::ops::Range<i64>| -> String {
        ids.map(|id| format!("{{\"id\": {id}, \"name\": \"n{id}\"}}\n"))
            .collect()
    };
    stdin.write_all(lines(0..3000).as_bytes()).expect("write");
    stdin.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_secs(4));
    stdin
        .write_all(lines(3000..6000).as_bytes())
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("ele finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("loading while normalizing"), "{stderr}");
    assert!(stderr.contains("no rows for 1 s"), "{stderr}");
    assert_eq!(
        db.lines("SELECT count(*), count(DISTINCT id) FROM events_dataset.events")
            .await,
        ["6000|6000"]
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM events_dataset._dlt_loads")
            .await,
        ["1"]
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
    // Bad data fails the run (exit code 1), named by file and line; it is not a configuration error.
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: resource `t` failed: bad input: `{}` line 2: not valid JSON: EOF while parsing a value at the end of the line",
            file.display()
        )
    );
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

/// Runs `ele` in `cwd` with the test database's environment, as a user runs it.
fn ele_in(db: &TestDb, cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(args)
        .envs(db.cli_env())
        .current_dir(cwd)
        .output()
        .expect("the ele binary runs")
}

/// Stdout of a run that must succeed.
fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "ele failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a run that must fail with `code`.
fn fails(out: &std::process::Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

const EVENTS_1: &str = "{\"id\": 1, \"created_at\": \"2024-01-01T00:00:00Z\", \"tags\": [\"a\"]}\n\
                        {\"id\": 2, \"created_at\": \"2024-01-02T00:00:00Z\", \"tags\": [\"b\", \"c\"]}\n";
const EVENTS_2: &str = "{\"id\": 3, \"created_at\": \"2024-01-03T00:00:00Z\", \"tags\": []}\n";

/// `ele load` of the events file: incremental on `created_at` from 2024-01-01T12:00 (so id 1 is never loaded),
/// merged on `id`.
fn load_events(db: &TestDb, cwd: &std::path::Path, file: &std::path::Path) -> std::process::Output {
    ele_in(
        db,
        cwd,
        &[
            "load",
            file.to_str().expect("utf-8 path"),
            "--table",
            "events",
            "--primary-key",
            "id",
            "--write-disposition",
            "merge",
            "--cursor",
            "created_at",
            "--initial-value",
            "2024-01-01T12:00:00Z",
        ],
    )
}

/// The `sources` of the newest committed state row of pipeline `events`.
async fn stored_sources(db: &TestDb) -> serde_json::Value {
    let rows = db
        .rows(
            "SELECT s.state FROM events_dataset._dlt_pipeline_state s \
             JOIN events_dataset._dlt_loads l ON l.load_id = s._dlt_load_id AND l.status = 0 \
             WHERE s.pipeline_name = 'events' ORDER BY s.version DESC LIMIT 1",
        )
        .await;
    let encoded = rows[0][0].clone().expect("a state");
    let state = ele::state::StateRow::decode(&encoded).expect("decodes");
    serde_json::Value::Object(state.sources)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_pipeline_info_state_schema_reset_and_drop_after_two_loads() {
    let db = TestDb::new("clipipe").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let file = cwd.join("events.jsonl");
    std::fs::write(&file, EVENTS_1).expect("write");
    let first = load_events(&db, cwd, &file);
    ok(&first);
    // Progress: one line per stage on a non-terminal stderr.
    let progress = String::from_utf8_lossy(&first.stderr);
    assert!(
        progress.contains("extract and normalize: 3 rows in"),
        "{progress}"
    );
    assert!(progress.contains("rows/s"), "{progress}");
    assert!(progress.contains("load: package "), "{progress}");
    std::fs::write(&file, format!("{EVENTS_1}{EVENTS_2}")).expect("grow");
    let second = load_events(&db, cwd, &file);
    assert!(ok(&second).contains("events: 1 row(s)"));

    // info: local only, no connection (a broken destination does not matter).
    let mut info = Command::new(env!("CARGO_BIN_EXE_ele"));
    info.args(["pipeline", "events", "info"])
        .envs(db.cli_env())
        .env(
            "DESTINATION__POSTGRES__CREDENTIALS",
            "host=127.0.0.1 port=1 user=nobody dbname=nowhere",
        )
        .current_dir(cwd);
    let info = ok(&info.output().expect("runs"));
    for part in [
        "Pipeline events",
        "dataset:          events_dataset",
        "destination:      postgres",
        "pending packages: none",
        "loaded packages:  2",
        "resources:        events",
    ] {
        assert!(info.contains(part), "`{part}` not in:\n{info}");
    }
    let events_line = info
        .lines()
        .find(|l| l.trim_start().starts_with("events ") && l.contains("merge"))
        .unwrap_or_else(|| panic!("no events table in:\n{info}"));
    assert!(events_line.contains("2 row(s)"), "{events_line}");
    assert!(
        info.lines()
            .any(|l| l.trim_start().starts_with("events__tags ") && l.contains("child of events")),
        "{info}"
    );

    // state and schema as JSON.
    let state = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "state"])));
    let cursor = &state["sources"]["events"]["resources"]["events"]["incremental"]["created_at"];
    assert_eq!(cursor["last_value"], "2024-01-03T00:00:00Z", "{state}");
    let version = state["_state_version"].as_u64().expect("a version");
    let schema = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "schema"])));
    assert!(schema["tables"]["events__tags"].is_object(), "{schema}");

    // reset: the incremental state goes, in the destination too; the rows stay.
    let reset = ok(&ele_in(&db, cwd, &["pipeline", "events", "reset"]));
    assert!(reset.contains("Changed state of: events"), "{reset}");
    let state = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "state"])));
    assert_eq!(
        state["sources"]["events"]["resources"]["events"]["incremental"],
        serde_json::Value::Null,
        "{state}"
    );
    assert_eq!(state["_state_version"].as_u64(), Some(version + 1));
    assert!(stored_sources(&db).await["events"]["resources"]["events"]["incremental"].is_null());
    assert_eq!(
        db.lines("SELECT id FROM events_dataset.events ORDER BY id")
            .await,
        ["2", "3"]
    );
    // Resetting again changes nothing and commits nothing.
    let loads = db
        .lines("SELECT count(*) FROM events_dataset._dlt_loads")
        .await;
    let again = ok(&ele_in(&db, cwd, &["pipeline", "events", "reset"]));
    assert!(again.contains("Nothing to change"), "{again}");
    assert_eq!(
        db.lines("SELECT count(*) FROM events_dataset._dlt_loads")
            .await,
        loads
    );
    // The next load starts from the initial value again: ids 2 and 3 pass the filter once more.
    assert!(ok(&load_events(&db, cwd, &file)).contains("events: 2 row(s)"));

    // drop: unknown resources are listed, known ones dropped with their tables and state.
    let unknown = fails(
        &ele_in(&db, cwd, &["pipeline", "events", "drop", "nope"]),
        2,
    );
    assert!(
        unknown.contains("has no resource `nope`; known resources: events"),
        "{unknown}"
    );
    let loads_before = db
        .lines("SELECT count(*) FROM events_dataset._dlt_loads")
        .await;
    let dropped = ok(&ele_in(&db, cwd, &["pipeline", "events", "drop", "events"]));
    assert!(
        dropped.contains("Dropped tables: events, events__tags"),
        "{dropped}"
    );
    assert_eq!(
        db.lines(
            "SELECT to_regclass('events_dataset.events') IS NULL, \
             to_regclass('events_dataset.events__tags') IS NULL"
        )
        .await,
        ["t|t"]
    );
    let loads_after = db
        .lines("SELECT count(*) FROM events_dataset._dlt_loads")
        .await;
    assert_eq!(
        loads_after[0].parse::<u64>().expect("count"),
        loads_before[0].parse::<u64>().expect("count") + 1
    );
    assert!(stored_sources(&db).await["events"].is_null());
    let state = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "state"])));
    assert!(state["sources"]["events"].is_null(), "{state}");
    let schema = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "schema"])));
    let tables: Vec<&String> = schema["tables"]
        .as_object()
        .expect("tables")
        .keys()
        .collect();
    assert_eq!(
        tables,
        ["_dlt_version", "_dlt_loads", "_dlt_pipeline_state"],
        "only dlt's system tables are left: {schema}"
    );
    assert!(
        schema["normalizers"]["json"]["config"]["propagation"]["tables"]
            .get("events")
            .is_none(),
        "{schema}"
    );
    let info = ok(&ele_in(&db, cwd, &["pipeline", "events", "info"]));
    assert!(info.contains("No tables"), "{info}");
    // The stored schema follows too, so a sync elsewhere would not bring the tables back.
    let stored_schema = db
        .lines(
            "SELECT schema FROM events_dataset._dlt_version ORDER BY inserted_at DESC, version DESC LIMIT 1",
        )
        .await;
    assert!(!stored_schema[0].contains("events__tags"));
    // Loading again recreates the tables from scratch.
    assert!(ok(&load_events(&db, cwd, &file)).contains("events: 2 row(s)"));
    assert_eq!(
        db.lines("SELECT id FROM events_dataset.events ORDER BY id")
            .await,
        ["2", "3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_pipeline_sync_restores_a_deleted_working_dir() {
    let db = TestDb::new("clisync").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let file = cwd.join("events.jsonl");
    let append = |db: &TestDb| {
        ele_in(
            db,
            cwd,
            &[
                "load",
                file.to_str().expect("utf-8"),
                "--table",
                "events",
                "--dataset",
                "synced_data",
                "--cursor",
                "created_at",
            ],
        )
    };
    std::fs::write(&file, EVENTS_1).expect("write");
    ok(&append(&db));
    std::fs::write(&file, format!("{EVENTS_1}{EVENTS_2}")).expect("grow");
    ok(&append(&db));
    let before = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "state"])));

    std::fs::remove_dir_all(db.pipelines_dir.join("events")).expect("remove the working dir");
    let gone = fails(&ele_in(&db, cwd, &["pipeline", "events", "state"]), 2);
    assert!(gone.contains("sync"), "{gone}");
    // Nothing stored under the dataset given: an error, nothing written.
    let empty = fails(
        &ele_in(
            &db,
            cwd,
            &["pipeline", "events", "sync", "--dataset", "elsewhere"],
        ),
        2,
    );
    assert!(empty.contains("nothing to restore"), "{empty}");

    // Without --dataset, the one dataset holding the pipeline's state is found.
    let out = ele_in(&db, cwd, &["pipeline", "events", "sync"]);
    let synced = ok(&out);
    let found = String::from_utf8_lossy(&out.stderr);
    assert!(
        found.contains("Found pipeline `events` in dataset `synced_data`"),
        "{found}"
    );
    assert!(synced.contains("Restored state version"), "{synced}");
    assert!(synced.contains("Restored schema version"), "{synced}");
    let after = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "state"])));
    assert_eq!(after["sources"], before["sources"]);
    assert_eq!(after["_state_version"], before["_state_version"]);
    assert_eq!(after["dataset_name"], "synced_data");
    let schema = json(&ok(&ele_in(&db, cwd, &["pipeline", "events", "schema"])));
    assert!(schema["tables"]["events"].is_object(), "{schema}");

    // The restored state keeps the cursor: the same file loads nothing twice (append would duplicate).
    let third = ok(&append(&db));
    assert!(!third.contains("events: "), "{third}");
    assert_eq!(
        db.lines("SELECT id FROM synced_data.events ORDER BY id")
            .await,
        ["1", "2", "3"]
    );

    // With the pipeline's state in two datasets, sync without --dataset names both and changes nothing.
    ok(&ele_in(
        &db,
        cwd,
        &[
            "load",
            file.to_str().expect("utf-8"),
            "--table",
            "events",
            "--dataset",
            "other_data",
        ],
    ));
    std::fs::remove_dir_all(db.pipelines_dir.join("events")).expect("remove the working dir");
    let several = fails(&ele_in(&db, cwd, &["pipeline", "events", "sync"]), 2);
    assert!(
        several.contains("pipeline `events` has state in 2 datasets: other_data, synced_data; choose one with --dataset"),
        "{several}"
    );
    assert!(!db.pipelines_dir.join("events").join("state.json").exists());
}

/// TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_takes_credentials_from_secrets_toml_before_config_toml() {
    let db = TestDb::new("clisecrets").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    std::fs::create_dir(cwd.join(".ele")).expect("mkdir");
    std::fs::write(
        cwd.join(".ele/secrets.toml"),
        format!(
            "[destination.postgres]\ncredentials = {}\n",
            toml_string(&db.url)
        ),
    )
    .expect("write secrets");
    std::fs::write(
        cwd.join(".ele/config.toml"),
        "[destination.postgres]\ncredentials = \"host=127.0.0.1 port=1 user=nobody dbname=nowhere\"\n",
    )
    .expect("write config");
    std::fs::write(cwd.join("people.jsonl"), "{\"id\": 1}\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["load", "people.jsonl", "--table", "people"])
        .env_remove("DESTINATION__POSTGRES__CREDENTIALS")
        .env("ELE_PIPELINES_DIR", &db.pipelines_dir)
        .current_dir(cwd)
        .output()
        .expect("runs");
    ok(&out);
    assert_eq!(
        db.lines("SELECT id FROM people_dataset.people").await,
        ["1"]
    );
    // The environment wins over both files.
    let out = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["load", "people.jsonl", "--table", "people"])
        .env(
            "DESTINATION__POSTGRES__CREDENTIALS",
            format!("{} dbname=no_such_database", db.url),
        )
        .env("ELE_PIPELINES_DIR", &db.pipelines_dir)
        .current_dir(cwd)
        .output()
        .expect("runs");
    let stderr = fails(&out, 2);
    assert!(stderr.contains("no_such_database"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_names_every_place_it_looked_for_missing_credentials() {
    let db = TestDb::new("climissing").await;
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["load", "x.jsonl", "--table", "t"][..],
        &["pipeline", "t", "drop", "t"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ele"))
            .args(args)
            .env_remove("DESTINATION__POSTGRES__CREDENTIALS")
            .env("ELE_PIPELINES_DIR", &db.pipelines_dir)
            .current_dir(dir.path())
            .output()
            .expect("runs");
        let stderr = fails(&out, 2);
        for place in [
            "no destination",
            "--destination flag",
            "--local",
            "environment variable DESTINATION__POSTGRES__CREDENTIALS",
            "key `credentials` in [destination.postgres] of .ele/secrets.toml (no such file)",
            "key `credentials` in [destination.postgres] of .ele/config.toml (no such file)",
        ] {
            assert!(stderr.contains(place), "`{place}` not in: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_never_prints_a_secret() {
    let db = TestDb::new("clisecret").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    const PASSWORD: &str = "Pw-s3cret-4711";
    std::fs::write(cwd.join("t.jsonl"), "{\"id\": 1}\n").expect("write");
    // A role with a password (the test server trusts local connections, so the database is what fails).
    db.client()
        .await
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ele_secret_user') THEN \
             CREATE ROLE ele_secret_user LOGIN PASSWORD '{PASSWORD}'; END IF; END $$"
        ))
        .await
        .expect("create role");
    let missing_db = format!(
        "{} user=ele_secret_user password={PASSWORD} dbname=no_such_database",
        db.url
    );
    let bad_url = format!("postgresql://ele_secret_user:{PASSWORD}@localhost:notaport/db");
    let unreachable =
        format!("host=127.0.0.1 port=1 user=ele_secret_user password={PASSWORD} dbname=db");
    let secrets_dir = cwd.join("with_secrets");
    std::fs::create_dir_all(secrets_dir.join(".ele")).expect("mkdir");
    std::fs::write(
        secrets_dir.join(".ele/secrets.toml"),
        format!(
            "[destination.postgres.credentials]\nusername = \"ele_secret_user\"\npassword = \"{PASSWORD}\"\n\
             database = \"no_such_database\"\nhost = \"127.0.0.1\"\nport = 1\n"
        ),
    )
    .expect("write secrets");
    let broken_dir = cwd.join("broken");
    std::fs::create_dir_all(broken_dir.join(".ele")).expect("mkdir");
    std::fs::write(
        broken_dir.join(".ele/secrets.toml"),
        format!("[destination.postgres]\ncredentials = \"postgresql://u:{PASSWORD}@h/db\n"),
    )
    .expect("write secrets");

    let t = cwd.join("t.jsonl");
    let t = t.to_str().expect("utf-8");
    // (arguments, DESTINATION__POSTGRES__CREDENTIALS, working dir, exit code)
    let cases: Vec<(Vec<&str>, Option<&str>, &std::path::Path, i32)> = vec![
        (
            vec!["load", t, "--table", "t", "--destination", &missing_db],
            None,
            cwd,
            2,
        ),
        (vec!["load", t, "--table", "t"], Some(&missing_db), cwd, 2),
        (
            vec!["pipeline", "t", "sync", "--destination", &missing_db],
            None,
            cwd,
            2,
        ),
        (
            vec!["load", t, "--table", "t", "--destination", &bad_url],
            None,
            cwd,
            2,
        ),
        (vec!["load", t, "--table", "t"], Some(&unreachable), cwd, 75),
        (vec!["load", t, "--table", "t"], None, &secrets_dir, 75),
        (vec!["load", t, "--table", "t"], None, &broken_dir, 2),
    ];
    for (args, env, cwd, code) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ele"));
        command
            .args(&args)
            .env("ELE_PIPELINES_DIR", &db.pipelines_dir)
            .env("RUST_LOG", "trace")
            .current_dir(cwd);
        match env {
            Some(value) => command.env("DESTINATION__POSTGRES__CREDENTIALS", value),
            None => command.env_remove("DESTINATION__POSTGRES__CREDENTIALS"),
        };
        let out = command.output().expect("runs");
        let stderr = fails(&out, code);
        let stdout = String::from_utf8_lossy(&out.stdout);
        for (name, text) in [("stdout", stdout.as_ref()), ("stderr", stderr.as_str())] {
            assert!(
                !text.contains(PASSWORD),
                "{args:?}: the password shows on {name}:\n{text}"
            );
        }
        assert!(stderr.contains("error: "), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_reads_standard_input_and_gzip() {
    use std::io::Write;
    let db = TestDb::new("clistdin").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = dir.path().join("more.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::default(),
    );
    encoder
        .write_all(b"{\"id\": 3}\n{\"id\": 4}\n")
        .expect("write");
    encoder.finish().expect("finish");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["load", "-", gz.to_str().expect("utf-8"), "--table", "mixed"])
        .envs(db.cli_env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"id\": 1}\n{\"id\": 2}\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        db.lines("SELECT id FROM mixed_dataset.mixed ORDER BY id")
            .await,
        ["1", "2", "3", "4"]
    );
}

/// A table stored as a merge table is merged into by a later `ele load` without flags, from a fresh working dir
/// (the hints come from the schema stored at the destination); a flag given still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_without_flags_keeps_the_stored_merge_hints() {
    let db = TestDb::new("clistored").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let a = cwd.join("a.jsonl");
    let b = cwd.join("b.jsonl");
    let c = cwd.join("c.jsonl");
    std::fs::write(&a, "{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \"b\"}\n").expect("write");
    std::fs::write(
        &b,
        "{\"id\": 2, \"v\": \"b2\"}\n{\"id\": 3, \"v\": \"c\"}\n",
    )
    .expect("write");
    std::fs::write(&c, "{\"id\": 3, \"v\": \"c2\"}\n").expect("write");
    let first = ok(&ele_in(
        &db,
        cwd,
        &[
            "load",
            a.to_str().expect("utf-8"),
            "--table",
            "t",
            "--write-disposition",
            "merge",
            "--primary-key",
            "id",
        ],
    ));
    assert!(!first.contains("as stored"), "{first}");

    let fresh = tempfile::tempdir().expect("tempdir");
    let fresh_dir = fresh.path().to_str().expect("utf-8");
    let second = ok(&ele_in(
        &db,
        cwd,
        &[
            "load",
            b.to_str().expect("utf-8"),
            "--table",
            "t",
            "--pipelines-dir",
            fresh_dir,
        ],
    ));
    assert!(
        second.contains("table t: merge on id, as stored at the destination"),
        "{second}"
    );
    assert_eq!(
        db.lines("SELECT id, v FROM t_dataset.t ORDER BY id").await,
        ["1|a", "2|b2", "3|c"]
    );

    // The working dir now holds the schema: the hints are taken from it.
    std::fs::write(&b, "{\"id\": 1, \"v\": \"a2\"}\n").expect("write");
    let third = ok(&ele_in(
        &db,
        cwd,
        &[
            "load",
            b.to_str().expect("utf-8"),
            "--table",
            "t",
            "--pipelines-dir",
            fresh_dir,
        ],
    ));
    assert!(
        third.contains("table t: merge on id, as stored in the working dir"),
        "{third}"
    );
    assert_eq!(
        db.lines("SELECT id, v FROM t_dataset.t ORDER BY id").await,
        ["1|a2", "2|b2", "3|c"]
    );

    // A flag wins over the stored disposition.
    let appended = ok(&ele_in(
        &db,
        cwd,
        &[
            "load",
            c.to_str().expect("utf-8"),
            "--table",
            "t",
            "--write-disposition",
            "append",
            "--pipelines-dir",
            fresh_dir,
        ],
    ));
    assert!(!appended.contains("as stored"), "{appended}");
    assert_eq!(
        db.lines("SELECT id, v FROM t_dataset.t ORDER BY id, v")
            .await,
        ["1|a2", "2|b2", "3|c", "3|c2"]
    );
}
