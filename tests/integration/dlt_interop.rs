//! One dataset, either engine: Python dlt 1.31 takes over a pipeline `ele load` made, and ele continues one dlt
//! made, each with a fresh working dir, restoring state and schema from the destination.
//!
//! These tests run real dlt through `tests/dlt/takeover.py` in the virtual environment `target/dlt-venv`
//! (`.ci/run` creates it), or the Python named by `ELE_TEST_DLT_PYTHON`; without it they fail saying how to make
//! it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::cli::ele;
use crate::support::TestDb;

const PIPELINE: &str = "interop";
const DATASET: &str = "interop_data";
const INITIAL: &str = "2024-01-01T00:00:00Z";

/// The Python of a virtual environment with dlt 1.31 and psycopg2.
fn dlt_python() -> PathBuf {
    let python = std::env::var_os("ELE_TEST_DLT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dlt-venv/bin/python")
        });
    assert!(
        python.exists(),
        "the dlt interop tests need Python dlt 1.31 at {}: create it with\n  \
         python3 -m venv target/dlt-venv && target/dlt-venv/bin/pip install 'dlt[postgres]==1.31.*'\n\
         (or point ELE_TEST_DLT_PYTHON at a Python that has it); .ci/run does this",
        python.display()
    );
    python
}

/// Runs `tests/dlt/takeover.py` with `spec` (dsn and pipeline added) and returns what it printed.
fn dlt(db: &TestDb, pipelines_dir: &Path, spec: Value) -> Value {
    let mut spec = spec;
    let (host, port, user, password) = crate::support::server_address();
    let config: tokio_postgres::Config = db.url.parse().expect("a connection string");
    // dlt asks for a password even where the server does not; a socket directory goes in the query
    let password = password.unwrap_or_else(|| "unused".into());
    let database = config.get_dbname().unwrap_or("postgres");
    spec["credentials"] = json!(if host.starts_with('/') {
        format!("postgresql://{user}:{password}@localhost:{port}/{database}?host={host}")
    } else {
        format!("postgresql://{user}:{password}@{host}:{port}/{database}")
    });
    spec["pipeline"] = json!(PIPELINE);
    spec["dataset"] = json!(DATASET);
    spec["pipelines_dir"] = json!(pipelines_dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dlt/takeover.py");
    let out = Command::new(dlt_python())
        .arg(script)
        .arg(spec.to_string())
        .env("RUNTIME__DLTHUB_TELEMETRY", "false")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dlt failed on {spec}:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("dlt printed {stdout}: {e}"))
}

/// An event per id: `updated_at` `hour` hours after the initial value, a nested list, a decimal as text.
fn event(id: u32, hour: u32) -> Value {
    json!({
        "id": id,
        "updated_at": format!("2024-01-{:02}T{:02}:00:00Z", 1 + hour / 24, hour % 24),
        "amount": format!("{id}.25"),
        "tags": ["a", format!("t{id}")],
    })
}

/// `base.jsonl` (ids 1..=30) and `increment.jsonl` (ids 21..=40, 21..=30 changed, all newer).
fn write_files(dir: &Path) -> (PathBuf, PathBuf) {
    let lines = |events: Vec<Value>| {
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let base = dir.join("base.jsonl");
    let increment = dir.join("increment.jsonl");
    std::fs::write(&base, lines((1..=30).map(|i| event(i, i)).collect())).expect("write");
    std::fs::write(
        &increment,
        lines((21..=40).map(|i| event(i, 100 + i)).collect()),
    )
    .expect("write");
    (base, increment)
}

/// `ele load FILE` as the pipeline, merging on `id` with the `updated_at` cursor; checks it succeeded.
fn ele_load(db: &TestDb, file: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "load",
        file.to_str().expect("utf-8"),
        "--pipeline",
        PIPELINE,
        "--dataset",
        DATASET,
        "--table",
        "events",
        "--primary-key",
        "id",
        "--write-disposition",
        "merge",
        "--cursor",
        "updated_at",
        "--initial-value",
        INITIAL,
    ];
    args.extend_from_slice(extra);
    let out = ele(db, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ele load failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

fn dlt_run(db: &TestDb, dir: &Path, file: &Path, extra: Value) -> Value {
    let mut spec = json!({
        "action": "run", "table": "events", "file": file, "wd": "merge", "pk": "id",
        "cursor": "updated_at", "initial": INITIAL,
    });
    if let (Value::Object(spec), Value::Object(extra)) = (&mut spec, extra) {
        spec.extend(extra);
    }
    dlt(db, dir, spec)
}

async fn count(db: &TestDb, table: &str) -> String {
    db.lines(&format!("SELECT count(*) FROM {DATASET}.{table}"))
        .await
        .join("")
}

/// The newest stored schema document, its row's version and hash, and the hash of the newest load.
async fn stored(db: &TestDb) -> (Value, i64, String, String) {
    let rows = db
        .rows(&format!(
            "SELECT schema, version, version_hash, engine_version FROM {DATASET}._dlt_version \
             ORDER BY inserted_at DESC, version DESC LIMIT 1"
        ))
        .await;
    let row = &rows[0];
    let text = row[0].clone().unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).expect("the stored schema is JSON");
    assert_eq!(row[3].as_deref(), Some("11"), "engine version");
    let load_hash = db
        .lines(&format!(
            "SELECT schema_version_hash FROM {DATASET}._dlt_loads ORDER BY load_id DESC LIMIT 1"
        ))
        .await
        .join("");
    (
        doc,
        row[1].as_deref().unwrap_or("0").parse().expect("version"),
        row[2].clone().unwrap_or_default(),
        load_hash,
    )
}

/// The incremental state of `events` in a state's `sources`.
fn cursor_state(sources: &Value) -> Value {
    sources[PIPELINE]["resources"]["events"]["incremental"]["updated_at"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlt_takes_over_a_dataset_ele_made() {
    dlt_python();
    let db = TestDb::new("dlt_takeover").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, increment) = write_files(dir.path());
    ele_load(&db, &base, &[]);
    assert_eq!(count(&db, "events").await, "30");

    // The stored schema is dlt's document, and the load row carries its hash.
    let (doc, version, hash, load_hash) = stored(&db).await;
    assert_eq!(doc["engine_version"], 11);
    assert_eq!(doc["version_hash"], json!(hash));
    assert_eq!(doc["version"], json!(version));
    assert_eq!(load_hash, hash);
    let ele_state = db
        .lines(&format!(
            "SELECT version FROM {DATASET}._dlt_pipeline_state ORDER BY version DESC LIMIT 1"
        ))
        .await;

    // A fresh dlt working dir: sync_destination() restores ele's state and schema, unchanged.
    let synced = dlt(&db, &dir.path().join("dlt-sync"), json!({"action": "sync"}));
    assert_eq!(synced["schema_hash"], json!(hash), "{synced}");
    assert_eq!(synced["schema_version"], json!(version));
    assert_eq!(synced["hash_matches_content"], true);
    let cursor = cursor_state(&synced["state"]);
    assert_eq!(cursor["last_value"], "2024-01-02T06:00:00Z", "{synced}");
    assert_eq!(
        synced["schema"]["tables"]["events"]["columns"]["id"]["primary_key"],
        true
    );

    // dlt reruns the base from another fresh dir: nothing new, nothing written.
    let dlt_dir = dir.path().join("dlt");
    let rerun = dlt_run(&db, &dlt_dir, &base, json!({}));
    assert_eq!(rerun["rows"].get("events"), None, "{rerun}");
    assert_eq!(count(&db, "events").await, "30");
    assert_eq!(count(&db, "events__tags").await, "60");

    // and merges the increment.
    let merged = dlt_run(&db, &dlt_dir, &increment, json!({}));
    assert_eq!(merged["rows"]["events"], 20, "{merged}");
    assert_eq!(count(&db, "events").await, "40");
    assert_eq!(count(&db, "events__tags").await, "80");
    assert_eq!(
        db.lines(&format!(
            "SELECT updated_at FROM {DATASET}.events WHERE id = 25"
        ))
        .await,
        vec!["2024-01-06 05:00:00+00"]
    );
    let newer_state = db
        .lines(&format!(
            "SELECT version FROM {DATASET}._dlt_pipeline_state ORDER BY version DESC LIMIT 1"
        ))
        .await;
    assert!(newer_state > ele_state, "{newer_state:?} {ele_state:?}");

    // ele, in its old working dir, restores dlt's newer state: the increment again loads nothing.
    ele_load(&db, &increment, &[]);
    assert_eq!(count(&db, "events").await, "40");
    assert_eq!(count(&db, "events__tags").await, "80");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_continues_a_dataset_dlt_made() {
    dlt_python();
    let db = TestDb::new("dlt_continued").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, increment) = write_files(dir.path());
    let columns = json!({
        "amount": {"data_type": "decimal", "precision": 12, "scale": 2},
        "note": {"x-annotation": "kept", "data_type": "text"},
    });
    let first = dlt_run(
        &db,
        &dir.path().join("dlt"),
        &base,
        json!({"columns": columns, "extra_resource": "counter"}),
    );
    assert_eq!(first["rows"]["events"], 30, "{first}");
    let counter = first["state"][PIPELINE]["resources"]["counter"].clone();
    assert!(counter.is_object(), "{first}");

    // ele, with a fresh working dir: the base again loads nothing (dlt's state was restored) ...
    let out = ele_load(&db, &base, &[]);
    assert_eq!(count(&db, "events").await, "30", "{out}");
    // ... and the increment merges into dlt's columns: amount stays numeric(12,2), no variant column.
    ele_load(&db, &increment, &[]);
    assert_eq!(count(&db, "events").await, "40");
    assert_eq!(count(&db, "events__tags").await, "80");
    let amount = db
        .lines(&format!(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = '{DATASET}.events'::regclass AND attname LIKE 'amount%' AND attnum > 0"
        ))
        .await;
    assert_eq!(amount, vec!["numeric(12,2)"]);
    assert_eq!(
        db.lines(&format!(
            "SELECT amount FROM {DATASET}.events WHERE id = 40"
        ))
        .await,
        vec!["40.25"]
    );

    // The schema ele stored keeps what dlt stored; the state keeps the resource only dlt runs.
    let (doc, _, hash, load_hash) = stored(&db).await;
    assert_eq!(load_hash, hash);
    let events = &doc["tables"]["events"];
    assert_eq!(events["columns"]["note"]["x-annotation"], "kept", "{doc}");
    assert_eq!(
        events["columns"]["updated_at"]["incremental"], true,
        "{doc}"
    );
    assert_eq!(
        doc["normalizers"]["json"]["config"]["propagation"]["tables"]["events"]["_dlt_id"],
        "_dlt_root_id"
    );
    let synced = dlt(
        &db,
        &dir.path().join("dlt-again"),
        json!({"action": "sync"}),
    );
    assert_eq!(synced["schema_hash"], json!(hash));
    assert_eq!(synced["hash_matches_content"], true);
    assert_eq!(
        synced["state"][PIPELINE]["resources"]["counter"], counter,
        "{synced}"
    );
    assert_eq!(
        cursor_state(&synced["state"])["last_value"],
        "2024-01-06T20:00:00Z"
    );

    // and dlt continues after ele: the increment again writes nothing.
    let again = dlt_run(
        &db,
        &dir.path().join("dlt"),
        &increment,
        json!({"columns": columns}),
    );
    assert_eq!(again["rows"].get("events"), None, "{again}");
    assert_eq!(count(&db, "events").await, "40");
}

/// A dataset whose `_dlt_version` holds the schema document of ele before it wrote dlt's still loads from a
/// fresh working dir (its columns and hints are restored), and the next load stores dlt's document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_older_ele_stored_still_loads_and_is_rewritten_as_dlts() {
    let db = TestDb::new("legacy_schema").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    std::fs::write(&first, "{\"id\": 1, \"amount\": \"1.50\"}\n").expect("write");
    std::fs::write(&second, "{\"id\": 2, \"amount\": \"2.75\"}\n").expect("write");
    let load = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "load",
            file.to_str().expect("utf-8"),
            "--table",
            "legacy",
            "--dataset",
            "legacy_data",
        ];
        args.extend_from_slice(extra);
        let out = ele(&db, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    load(
        &first,
        &[
            "--columns",
            r#"{"amount": {"data_type": "decimal", "precision": 12, "scale": 2}}"#,
        ],
    );
    // What ele stored before it wrote dlt's document: its own shape, its own hash.
    let legacy = json!({
        "name": "legacy", "version": 2, "tables": {"legacy": {"name": "legacy", "columns": {
            "amount": {"name": "amount", "data_type": "decimal", "nullable": true, "precision": 12, "scale": 2},
            "id": {"name": "id", "data_type": "bigint", "nullable": true},
            "_dlt_load_id": {"name": "_dlt_load_id", "data_type": "text", "nullable": false},
            "_dlt_id": {"name": "_dlt_id", "data_type": "text", "nullable": false}
        }, "write_disposition": "append", "resource": "legacy"}}
    });
    let client = db.client().await;
    client
        .execute(
            "UPDATE legacy_data._dlt_version SET schema = $1, version_hash = 'ele-legacy-hash'",
            &[&legacy.to_string()],
        )
        .await
        .expect("rewrite the stored schema");
    std::fs::remove_dir_all(&db.pipelines_dir).expect("a fresh working dir");

    load(&second, &[]);
    assert_eq!(
        db.lines("SELECT id, amount FROM legacy_data.legacy ORDER BY id")
            .await,
        ["1|1.50", "2|2.75"],
        "amount stays numeric(12,2): no variant column, nothing inferred anew"
    );
    let newest = db
        .lines(
            "SELECT schema FROM legacy_data._dlt_version ORDER BY inserted_at DESC, version DESC LIMIT 1",
        )
        .await;
    let doc: Value = serde_json::from_str(&newest[0]).expect("JSON");
    assert_eq!(doc["engine_version"], 11, "{doc}");
    assert_eq!(
        doc["tables"]["legacy"]["columns"]["amount"]["precision"],
        12
    );
    assert!(doc["tables"]["_dlt_loads"].is_object());
    let load_hash = db
        .lines(
            "SELECT schema_version_hash FROM legacy_data._dlt_loads ORDER BY load_id DESC LIMIT 1",
        )
        .await;
    assert_eq!(json!(load_hash[0]), doc["version_hash"]);
}

/// `ele load` without disposition or key flags continues a table dlt made as dlt would: as the merge (here
/// upsert) on the primary key dlt stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_without_flags_keeps_the_hints_dlt_stored() {
    dlt_python();
    let db = TestDb::new("dlt_hints").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, increment) = write_files(dir.path());
    let first = dlt_run(
        &db,
        &dir.path().join("dlt"),
        &base,
        json!({"wd": {"disposition": "merge", "strategy": "upsert"}}),
    );
    assert_eq!(first["rows"]["events"], 30, "{first}");

    let out = ele(
        &db,
        &[
            "load",
            increment.to_str().expect("utf-8"),
            "--pipeline",
            PIPELINE,
            "--dataset",
            DATASET,
            "--table",
            "events",
            "--cursor",
            "updated_at",
            "--initial-value",
            INITIAL,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ele load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("table events: merge (upsert) on id, as stored at the destination"),
        "{stdout}"
    );
    // Ids 21..=30 were updated in place, 31..=40 added: no id twice.
    assert_eq!(count(&db, "events").await, "40");
    assert_eq!(
        db.lines(&format!("SELECT count(DISTINCT id) FROM {DATASET}.events"))
            .await,
        vec!["40"]
    );
    assert_eq!(
        db.lines(&format!(
            "SELECT updated_at FROM {DATASET}.events WHERE id = 25"
        ))
        .await
        .len(),
        1
    );
    let (doc, ..) = stored(&db).await;
    let events = &doc["tables"]["events"];
    assert_eq!(events["write_disposition"], "merge", "{doc}");
    assert_eq!(events["x-merge-strategy"], "upsert", "{doc}");
    assert_eq!(events["columns"]["id"]["primary_key"], true, "{doc}");
}
