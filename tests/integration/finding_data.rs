//! Finding your data after `ele load`: the summary's `psql` command opens it (also on a Unix socket), `--local`
//! says where the managed instance is, and `--table` defaults to the input file's name.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::cli::ele;
use crate::support::TestDb;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the `psql ...` command line printed by ele (through the shell, as a user pastes it) with `-Atc sql`.
fn run_printed_psql(command: &str, sql: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} -Atc '{sql}'"))
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The command after `prefix` on a line of `text`.
fn command_after<'t>(text: &'t str, prefix: &str) -> &'t str {
    text.lines()
        .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no `{prefix}` in: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_prints_a_psql_command_that_opens_the_data() {
    let db = TestDb::new("findpsql").await;
    let dir = tempfile::tempdir().expect("tempdir");
    // `--table` defaults to the file's name without `.jsonl.gz`.
    let file = dir.path().join("daily_events.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&file).expect("create"),
        flate2::Compression::fast(),
    );
    gz.write_all(b"{\"id\": 1}\n{\"id\": 2}\n").expect("write");
    gz.finish().expect("finish");
    let out = ele(&db, &["-q", "load", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("daily_events: 2 row(s)"),
        "the table is named after the file: {stdout}"
    );
    let command = command_after(&stdout, "Open the data with: ");
    assert_eq!(command, format!("psql '{}'", db.postgres().location()));
    // The test server listens on a Unix socket only: the URL still works.
    assert!(command.contains("%2F"), "{command}");
    assert_eq!(
        run_printed_psql(
            command,
            "SELECT count(*) FROM daily_events_dataset.daily_events"
        ),
        "2"
    );

    // `pipeline info` counts the rows at the destination now, next to what this working dir loaded.
    let out = ele(&db, &["pipeline", "daily_events", "info"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(
        info.contains(&format!(
            "  last loaded into: {}\n",
            db.postgres().location()
        )),
        "{info}"
    );
    assert!(
        info.contains("Tables (rows at the destination now; rows loaded by this working dir):\n")
            && info.contains("daily_events  append   2 row(s) now; 2 row(s) loaded  3 column(s)"),
        "{info}"
    );
    // Without credentials, a command that needs the destination says where the pipeline last loaded.
    let out = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["pipeline", "daily_events", "reset"])
        .env("ELE_PIPELINES_DIR", &db.pipelines_dir)
        .env_remove("DESTINATION__POSTGRES__CREDENTIALS")
        .current_dir(dir.path())
        .output()
        .expect("ele runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "; pipeline `daily_events` last loaded into {}: give its credentials",
            db.postgres().location()
        )),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_must_be_named_for_standard_input_and_several_files() {
    let db = TestDb::new("findtable").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    for file in [&a, &b] {
        std::fs::write(file, "{\"id\": 1}\n").expect("write");
    }
    let out = ele(
        &db,
        &[
            "load",
            a.to_str().expect("utf-8"),
            b.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        "error: configuration error: --table is needed when loading several files: name the table they go to"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(["load", "-"])
        .envs(db.cli_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ele starts");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("ele runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        "error: configuration error: --table is needed when reading standard input: name the table it goes to"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_local_says_where_the_instance_is_and_how_to_open_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    std::fs::write(cwd.join("people.jsonl"), "{\"id\": 1, \"name\": \"a\"}\n").expect("write");
    let ele_in_cwd = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ele"))
            .args(args)
            .env_remove("DESTINATION__POSTGRES__CREDENTIALS")
            .env_remove("ELE_PIPELINES_DIR")
            .current_dir(cwd)
            .output()
            .expect("ele runs")
    };
    let out = ele_in_cwd(&["-q", "load", "people.jsonl", "--local"]);
    // Pipeline commands find the local instance again without `--local`.
    let info = ele_in_cwd(&["pipeline", "people", "info"]);
    let reset = ele_in_cwd(&["pipeline", "people", "reset"]);
    let text = stderr(&out);
    let stopped = ele_in_cwd(&["local", "stop"]);
    assert!(out.status.success(), "{text}");
    assert!(info.status.success(), "{}", stderr(&info));
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("(the local instance in .ele/postgres)")
            && info.contains("people  append   1 row(s) now; 1 row(s) loaded"),
        "{info}"
    );
    assert!(reset.status.success(), "{}", stderr(&reset));
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    let notice = text
        .lines()
        .find(|l| {
            l.starts_with(
                "using the local PostgreSQL instance in .ele/postgres (open it with: psql '",
            )
        })
        .unwrap_or_else(|| panic!("no notice in: {text}"));
    assert!(
        notice.ends_with("; stop it with: ele local stop)"),
        "{notice}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let command = command_after(&stdout, "Open the data with: ");
    assert!(notice.contains(command), "{notice} / {command}");
}
