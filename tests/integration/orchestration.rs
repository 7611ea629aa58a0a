//! Orchestration (issue 10): dev mode, resource selection and the data interval given from outside
//! (`ele::RunArgs`), the Airflow example's pipeline program, `ele deploy airflow`, and progress reports.

use std::process::Command;
use std::sync::{Arc, Mutex};

use ele::RunArgs;
use ele::progress::Progress;

use crate::support::TestDb;

#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../examples/airflow/zendesk_support.rs"]
mod zendesk_support;

fn args(list: &[&str]) -> RunArgs {
    RunArgs::parse_known(list.iter().copied())
        .expect("valid arguments")
        .0
}

async fn count(db: &TestDb, sql: &str) -> u64 {
    db.lines(sql).await[0].parse().expect("a count")
}

/// The ids of the canned items of `export` whose cursor is in `[start, end)` (Unix seconds).
fn canned_ids(export: &str, start: i64, end: i64) -> Vec<String> {
    use zendesk_support::fake_api;
    let data = fake_api::canned().expect("fixture parses");
    let cursor = fake_api::EXPORTS
        .iter()
        .find(|(name, _)| *name == export)
        .expect("an export")
        .1;
    let mut ids: Vec<i64> = data[export]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|item| (start..end).contains(&fake_api::unix(&item[cursor])))
        .filter_map(|item| item["id"].as_i64())
        .collect();
    ids.sort_unstable();
    ids.into_iter().map(|id| id.to_string()).collect()
}

const FEB_12: i64 = 1_676_160_000; // 2023-02-12T00:00:00Z
const FEB_19: i64 = 1_676_764_800; // 2023-02-19T00:00:00Z

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_loads_each_instance_into_a_fresh_dataset_from_empty_state() {
    use zendesk_support::{fake_api, server::FixtureServer};
    let db = TestDb::new("orch_dev_mode").await;
    let api = FixtureServer::start(fake_api::handler(fake_api::canned().expect("fixture")))
        .await
        .expect("fixture server");
    let dev = || {
        ele::Pipeline::builder("zendesk_dev")
            .destination(db.postgres())
            .dataset_name("zendesk_dev_data")
            .pipelines_dir(&db.pipelines_dir)
            .dev_mode(true)
            .build()
            .expect("builds")
    };
    let only_tickets = args(&["--resources", "tickets"]);
    let first = dev();
    let name = first.dataset_name().to_owned();
    let suffix = name
        .strip_prefix("zendesk_dev_data_")
        .expect("dlt's suffix");
    assert!(
        suffix.len() == 14 && suffix.chars().all(|c| c.is_ascii_digit()),
        "{name}"
    );
    let all = canned_ids("tickets", 0, i64::MAX).len() as u64;
    let info = zendesk_support::load(&first, &only_tickets, api.base_url())
        .await
        .expect("first instance");
    assert_eq!(info.rows("tickets"), all);
    // The same instance is incremental as usual: nothing new.
    let info = zendesk_support::load(&first, &only_tickets, api.base_url())
        .await
        .expect("first instance again");
    assert_eq!(info.rows("tickets"), 0, "{info}");

    // A second instance: another dataset, empty state (neither the working dir nor the first dataset's
    // state is used), so everything is loaded again.
    let second = dev();
    assert_ne!(second.dataset_name(), name);
    assert!(second.state().expect("readable").is_none());
    let info = zendesk_support::load(&second, &only_tickets, api.base_url())
        .await
        .expect("second instance");
    assert_eq!(info.rows("tickets"), all);
    for dataset in [name.as_str(), second.dataset_name()] {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {dataset}.tickets")).await,
            all
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_interval_loads_exactly_the_half_open_interval_and_leaves_state_alone() {
    use zendesk_support::{fake_api, server::FixtureServer};
    let db = TestDb::new("orch_interval").await;
    let api = FixtureServer::start(fake_api::handler(fake_api::canned().expect("fixture")))
        .await
        .expect("fixture server");
    let p = db.pipeline("zendesk_support_backfill", "zendesk_support_data");

    // A stateful run of tickets first: its state must survive the interval runs.
    let info = zendesk_support::load(&p, &args(&["--resources", "tickets"]), api.base_url())
        .await
        .expect("incremental run");
    assert_eq!(
        info.rows("tickets"),
        canned_ids("tickets", 0, i64::MAX).len() as u64
    );
    let state_rows = "SELECT version, version_hash FROM zendesk_support_data._dlt_pipeline_state \
                      ORDER BY version";
    let stored_before = db.lines(state_rows).await;
    let local_before = p.state().expect("readable").expect("saved");
    db.rows("DELETE FROM zendesk_support_data.tickets").await;

    // The week of February 12th, as an Airflow task passes it; the ticket at 2023-02-19T00:00:00Z is out.
    let week = args(&[
        "--resources",
        "tickets,ticket_events,ticket_metric_events",
        "--interval-start",
        "2023-02-12 00:00:00+00:00",
        "--interval-end",
        "2023-02-19T00:00:00Z",
    ]);
    let info = zendesk_support::load(&p, &week, api.base_url())
        .await
        .expect("interval run");
    let expected = canned_ids("tickets", FEB_12, FEB_19);
    assert_eq!(expected, ["1007", "1008", "1009"]);
    assert_eq!(
        db.lines("SELECT id FROM zendesk_support_data.tickets ORDER BY id")
            .await,
        expected
    );
    assert_eq!(
        db.lines("SELECT id FROM zendesk_support_data.ticket_events ORDER BY id")
            .await,
        canned_ids("ticket_events", FEB_12, FEB_19)
    );
    assert_eq!(
        db.lines("SELECT id FROM zendesk_support_data.ticket_metric_events ORDER BY id")
            .await,
        canned_ids("ticket_metric_events", FEB_12, FEB_19)
    );
    assert!(info.rows("ticket_events") > 0 && info.rows("ticket_metric_events") > 0);
    assert_eq!(info.rows("users"), 0, "users were not selected");

    // The incremental state is untouched, in the destination and locally.
    assert_eq!(db.lines(state_rows).await, stored_before);
    let local_after = p.state().expect("readable").expect("saved");
    assert_eq!(local_after.sources, local_before.sources);
    assert_eq!(local_after.version, local_before.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_from_outside_select_and_an_unknown_one_is_an_error() {
    use zendesk_support::{fake_api, server::FixtureServer};
    let db = TestDb::new("orch_select").await;
    let api = FixtureServer::start(fake_api::handler(fake_api::canned().expect("fixture")))
        .await
        .expect("fixture server");
    let p = db.pipeline("zendesk_support", "zendesk_support_data");
    let info = zendesk_support::load(&p, &args(&["--resources=users"]), api.base_url())
        .await
        .expect("users only");
    assert_eq!(info.rows("users"), 5);
    assert_eq!(info.rows("tickets"), 0);
    let tables = db
        .lines(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = \
             'zendesk_support_data' AND table_name NOT LIKE '\\_dlt%' ORDER BY 1",
        )
        .await;
    assert_eq!(tables, ["users"]);
    let Err(err) =
        zendesk_support::load(&p, &args(&["--resources", "tikets"]), api.base_url()).await
    else {
        panic!("an unknown resource must fail");
    };
    assert!(
        err.to_string()
            .contains("has no resource `tikets`; its resources are `tickets`, `ticket_events`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_extract_normalize_and_load() {
    use zendesk_support::{fake_api, server::FixtureServer};
    let db = TestDb::new("orch_progress").await;
    let api = FixtureServer::start(fake_api::handler(fake_api::canned().expect("fixture")))
        .await
        .expect("fixture server");
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let seen = Arc::clone(&events);
    let p = ele::Pipeline::builder("zendesk_progress")
        .destination(db.postgres())
        .pipelines_dir(&db.pipelines_dir)
        .progress(move |event| {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(event.clone())
        })
        .build()
        .expect("builds");
    let info = zendesk_support::load(&p, &args(&["--resources", "tickets"]), api.base_url())
        .await
        .expect("run");
    let events = events.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let tickets = canned_ids("tickets", 0, i64::MAX).len() as u64;
    assert!(
        matches!(&events[0], Progress::ExtractStarted { resources } if resources == &["tickets"])
    );
    let extracted: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Extracted { items, .. } => Some(*items),
            _ => None,
        })
        .collect();
    // Pages of 10: the count grows page by page up to every ticket.
    assert!(extracted.len() >= 2, "{events:?}");
    assert!(extracted.windows(2).all(|w| w[0] < w[1]), "{extracted:?}");
    assert_eq!(extracted.last(), Some(&tickets));
    let load_id = &info.packages[0].load_id;
    let normalized = events.iter().find_map(|e| match e {
        Progress::Normalized {
            load_id: Some(id),
            items,
            rows,
            ..
        } if id == load_id => Some((*items, rows.clone())),
        _ => None,
    });
    let (items, rows) = normalized.expect("a Normalized event for the package");
    assert_eq!(items, tickets);
    assert_eq!(rows, info.packages[0].row_counts);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::LoadStarted { load_id: id, .. } if id == load_id))
    );
    assert!(matches!(
        events.last(),
        Some(Progress::Loaded { load_id: id, rows: r, .. }) if id == load_id && r == &rows
    ));
}

fn ele(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ele"))
        .args(args)
        .current_dir(cwd)
        .env(
            "DESTINATION__POSTGRES__CREDENTIALS",
            "postgresql://loader:s3cr3t-pw@db.example:5432/dw",
        )
        .output()
        .expect("the ele binary runs")
}

#[test]
fn ele_deploy_airflow_writes_the_dag_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ele(
        &[
            "deploy",
            "airflow",
            "/opt/ele/bin/zendesk_support",
            "--pipeline",
            "zendesk_support_backfill",
            "--resources",
            "tickets,ticket_events,ticket_metric_events",
            "--schedule",
            "@weekly",
            "--start-date",
            "2023-02-01",
            "--end-date",
            "2023-08-01",
            "--catchup",
            "--retries",
            "2",
            "--connection",
            "ele_postgres",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.path().join("dags").join("zendesk_support_backfill.py");
    assert!(
        stdout.contains("dags/zendesk_support_backfill.py"),
        "{stdout}"
    );
    let py = std::fs::read_to_string(&path).expect("the DAG file");
    for line in [
        "dag_id=\"zendesk_support_backfill\",",
        "schedule=CronDataIntervalTimetable(\"@weekly\", timezone=\"UTC\"),",
        "start_date=pendulum.datetime(2023, 2, 1, tz=\"UTC\"),",
        "end_date=pendulum.datetime(2023, 8, 1, tz=\"UTC\"),",
        "catchup=True,",
        "max_active_runs=1,",
        "\"retries\": 2",
        "\"ELE_INTERVAL_START\": \"{{ data_interval_start }}\",",
        "\"ELE_INTERVAL_END\": \"{{ data_interval_end }}\",",
        "\"DESTINATION__POSTGRES__CREDENTIALS\": \"{{ conn.ele_postgres.get_uri() }}\",",
        "bash_command=\"/opt/ele/bin/zendesk_support --pipeline zendesk_support_backfill --resources tickets\",",
        "tickets >> ticket_events >> ticket_metric_events",
        "Generated by: ele deploy airflow /opt/ele/bin/zendesk_support --pipeline zendesk_support_backfill",
    ] {
        assert!(py.contains(line), "missing `{line}` in\n{py}");
    }
    // The credentials of the environment never reach the file.
    assert!(!py.contains("s3cr3t") && !py.contains("db.example"), "{py}");

    // One task, credentials from a variable, written where asked.
    let out = ele(
        &[
            "deploy",
            "airflow",
            "zendesk_support",
            "--dag-id",
            "zendesk_daily",
            "--decompose",
            "none",
            "--variable",
            "zendesk_dsn",
            "--start-date",
            "2023-02-01",
            "-o",
            "daily.py",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = std::fs::read_to_string(dir.path().join("daily.py")).expect("the DAG file");
    assert!(py.contains("schedule=CronDataIntervalTimetable(\"@daily\", timezone=\"UTC\"),"));
    assert!(py.contains("catchup=False,"));
    assert!(py.contains("\"{{ var.value.zendesk_dsn }}\""));
    assert!(py.contains("bash_command=\"zendesk_support\","));
    assert_eq!(py.matches("BashOperator(").count(), 1);

    // Usage errors exit with 2 and name what is missing.
    let out = ele(
        &[
            "deploy",
            "airflow",
            "zendesk_support",
            "--start-date",
            "2023-02-01",
            "--connection",
            "pg",
            "-o",
            "-",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resources"));
    let out = ele(
        &[
            "deploy",
            "airflow",
            "zendesk_support",
            "--start-date",
            "2023-02-01",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connection"));
}

#[test]
fn the_committed_dags_are_what_the_generator_writes() {
    // examples/airflow/generate.sh regenerates them; this keeps them in step with the generator.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script =
        std::fs::read_to_string(root.join("examples/airflow/generate.sh")).expect("script");
    let dir = tempfile::tempdir().expect("tempdir");
    for dag in ["zendesk_support_backfill", "zendesk_support_new"] {
        let committed = std::fs::read_to_string(root.join(format!("examples/airflow/{dag}.py")))
            .expect("committed DAG");
        // The command recorded in the file's header, run again.
        let line = committed
            .lines()
            .find_map(|l| l.strip_prefix("Generated by: ele "))
            .expect("a Generated by line");
        assert!(script.contains(line), "generate.sh runs `{line}`");
        let words: Vec<String> = shell_words(line)
            .into_iter()
            .map(|w| {
                if w.ends_with(&format!("{dag}.py")) {
                    dir.path().join(format!("{dag}.py")).display().to_string()
                } else {
                    w
                }
            })
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_ele"))
            .args(&words)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let regenerated =
            std::fs::read_to_string(dir.path().join(format!("{dag}.py"))).expect("written");
        let strip = |s: &str| -> String {
            s.lines()
                .filter(|l| !l.starts_with("Generated by: "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(&regenerated),
            strip(&committed),
            "{dag}.py is stale: run examples/airflow/generate.sh"
        );
    }
}

/// Splits a command line recorded by `ele deploy airflow` (words, some single-quoted).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}
