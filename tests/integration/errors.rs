//! What `ele` says and returns when something is wrong, as a scheduler and a user see it: each class of error
//! with its exit code (0 success, 1 the run failed, 2 usage or configuration, 75 try again later) and its words,
//! and output that behaves in pipes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use crate::cli::ele;
use crate::support::{TestDb, server_address};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A one-line JSON Lines file in a temp dir.
fn events_file(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("events.jsonl");
    std::fs::write(&file, "{\"id\": 1}\n{\"id\": 2}\n").expect("write");
    file
}

/// `ele load FILE --table events --destination DESTINATION` in `db`'s pipelines dir.
fn load_into(db: &TestDb, file: &std::path::Path, destination: &str) -> Output {
    ele(
        db,
        &[
            "-q",
            "load",
            file.to_str().expect("utf-8"),
            "--table",
            "events",
            "--destination",
            destination,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_the_server_refuses_are_configuration_errors_said_once() {
    let db = TestDb::new("errcfg").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = events_file(dir.path());
    let (host, port, user, _) = server_address();

    let missing_db = format!("host={host} port={port} user={user} dbname=no_such_database");
    let out = load_into(&db, &file, &missing_db);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.starts_with("error: configuration error: cannot connect to ")
            && text.trim_end().ends_with(
                "database \"no_such_database\" does not exist (3D000); check that the database exists"
            ),
        "{text}"
    );
    assert_eq!(
        text.matches("does not exist").count(),
        1,
        "said once: {text}"
    );

    let unknown_role = format!("host={host} port={port} user=no_such_role dbname=postgres");
    let out = load_into(&db, &file, &unknown_role);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains(
            "role \"no_such_role\" does not exist (28000); check the user name and password"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("does not exist").count(),
        1,
        "said once: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_errors_name_the_file_and_are_not_configuration_errors() {
    let db = TestDb::new("errinput").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.jsonl");
    let out = ele(
        &db,
        &[
            "load",
            missing.to_str().expect("utf-8"),
            "--table",
            "events",
        ],
    );
    // A missing input file is a bad argument (exit code 2), said before connecting anywhere.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: cannot read input file `{}`: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_postgresql_fails_the_run_without_asking_for_retries() {
    let db = TestDb::new("errproto").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = events_file(dir.path());
    // A server that declines TLS, then answers the startup message with something that is not PostgreSQL's
    // protocol (an unknown message type): a protocol failure, which retrying cannot fix.
    let server = TcpListener::bind("127.0.0.1:0").expect("port");
    let port = server.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in server.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"N");
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"x\0\0\0\x04");
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    });
    let out = load_into(&db, &file, &format!("postgresql://u@127.0.0.1:{port}/db"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("cannot connect to postgresql://u@127.0.0.1:{port}/db"))
            && text.contains(
                "check that host and port are those of a PostgreSQL server (or of a pooler in front of one)"
            ),
        "{text}"
    );

    // Nothing listening: that may heal (a restarting server), so exit code 75.
    let closed = TcpListener::bind("127.0.0.1:0").expect("port");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = load_into(
        &db,
        &file,
        &format!("postgresql://u@127.0.0.1:{closed_port}/db?connect_timeout=2"),
    );
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("check that the server is running and reachable"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_to_a_pipe_has_no_control_sequences_and_a_closed_pipe_ends_quietly() {
    let db = TestDb::new("errpipe").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = events_file(dir.path());
    let out = ele(
        &db,
        &["load", file.to_str().expect("utf-8"), "--table", "events"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for command in [
        &["pipeline", "events", "state"][..],
        &["pipeline", "events", "info"],
    ] {
        let out = ele(&db, command);
        assert!(out.status.success(), "{command:?}: {}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.is_empty(), "{command:?} prints something");
        assert!(
            !stdout.contains('\u{1b}') && !stderr(&out).contains('\u{1b}'),
            "{command:?} wrote control sequences into a pipe: {stdout:?}"
        );
    }
    // `ele pipeline events state | head -0`: the reader is gone before ele writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["pipeline", "events", "state"])
        .envs(db.cli_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ele starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ele runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "a closed pipe ends quietly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_leads_with_the_cause_and_shortens_the_sql() {
    let db = TestDb::new("errwide").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wide.jsonl");
    let wide: serde_json::Map<String, serde_json::Value> = (0..1702)
        .map(|i| (format!("column_number_{i}"), serde_json::Value::from(i)))
        .collect();
    std::fs::write(&file, format!("{}\n", serde_json::Value::Object(wide))).expect("write");
    let out = ele(
        &db,
        &[
            "-q",
            "load",
            file.to_str().expect("utf-8"),
            "--table",
            "wide",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    let location = db.postgres().location();
    assert!(
        text.starts_with(&format!(
            "error: destination error: creating table \"wide_dataset\".\"wide\" failed on {location}: tables can \
             have at most 1600 columns (54011); a table holds at most 1,600 columns; keep deep objects as json \
             with `max_table_nesting`, give a wide object a `json` column hint, or stop new columns with a \
             schema contract; statement: `CREATE TABLE \"wide_dataset\".\"wide\" (\"column_number_0\" bigint"
        )),
        "{text}"
    );
    assert!(
        text.contains("characters; RUST_LOG=ele_destinations=debug logs it whole); load package "),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with(
            " stays pending and is loaded first by the next run: fix the cause, or discard it with `ele pipeline \
             wide drop-pending-packages` (`Pipeline::drop_pending_packages`)"
        ),
        "{text}"
    );
    assert!(text.len() < 1200, "{} bytes: {text}", text.len());

    // The package cannot load here at all: discard it, and the pipeline is free again.
    let out = ele(&db, &["pipeline", "wide", "drop-pending-packages"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("Discarded 1 pending load package(s): "),
        "{said}"
    );
    let out = ele(&db, &["pipeline", "wide", "info"]);
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(info.contains("  pending packages: none\n"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_fail_the_run_or_are_skipped_and_reported_when_asked() {
    let db = TestDb::new("errbadlines").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(
        &file,
        "{\"id\": 1}\n{\"id\" 2}\n{\"id\": 3}\n{\"id\": \r\n{\"id\": 5}\n",
    )
    .expect("write");
    let load = |table: &str, extra: &[&str]| {
        let mut args = vec![
            "-q",
            "load",
            file.to_str().expect("utf-8"),
            "--table",
            table,
        ];
        args.extend_from_slice(extra);
        ele(&db, &args)
    };
    let problems = format!(
        "  `{0}` line 2: not valid JSON: expected `:` at column 7\n  `{0}` line 4: not valid JSON: EOF while \
         parsing a value at the end of the line",
        file.display()
    );

    // The default: the run fails at the first bad line and loads nothing.
    let out = load("strict", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("`{}` line 2: not valid JSON", file.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM pg_namespace WHERE nspname = 'strict_dataset'")
            .await,
        ["0"]
    );

    // skip: the good lines load; the bad ones are counted and named.
    let out = load("skipping", &["--bad-lines", "skip"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!("warning: skipped 2 line(s) that are not JSON:\n{problems}\n")
    );
    assert_eq!(
        db.lines("SELECT id FROM skipping_dataset.skipping ORDER BY id")
            .await,
        ["1", "3", "5"]
    );

    // A dead-letter file gets the bad lines as they were.
    let dead = dir.path().join("dead.jsonl");
    let out = load("lettered", &["--bad-lines", dead.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "warning: skipped 2 line(s) that are not JSON, appended to `{}`:\n{problems}\n",
            dead.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&dead).expect("the dead-letter file"),
        "{\"id\" 2}\n{\"id\": \n"
    );
    assert_eq!(
        db.lines("SELECT count(*) FROM lettered_dataset.lettered")
            .await,
        ["3"]
    );
}
