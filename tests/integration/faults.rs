//! Crash safety: the `ele` binary is aborted at each fault point (`ELE_FAULT`) or killed with SIGKILL in the
//! middle of an incremental merge, re-run, and the dataset and the state must be what a clean run leaves:
//! nothing lost, nothing doubled.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::support::{DatasetDump, TableDump, TestDb};

/// Table, and so pipeline name `items` and dataset `items_dataset` (the CLI's defaults).
const TABLE: &str = "items";
const DATASET: &str = "items_dataset";

/// The fault switch (`ele_core::fault::FAULT_ENV`) and its skip count.
const FAULT: &str = "ELE_FAULT";
const FAULT_SKIP: &str = "ELE_FAULT_SKIP";

/// Rows of the base file; the CLI sends pages of 1000 lines, so step 1 has three pages.
const BASE_ROWS: u64 = 2500;
/// Lines appended for step 2: every fourth updates an existing row (newer `created_at`), the others are new.
const GROWN_ROWS: u64 = 2300;

/// `2024-01-01T00:00:00Z` plus `secs` seconds, as ISO text.
fn timestamp(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    format!(
        "2024-01-{:02}T{:02}:{:02}:{:02}Z",
        1 + days,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// One item with nested objects, a list of objects (whose items hold a list of scalars) and a list of scalars.
/// `rev` > 0 marks an update of an earlier row; step-2 rows also bring a new column and a new child table.
fn item(id: u64, at: u64, rev: u64, step2: bool) -> Value {
    let commits: Vec<Value> = (0..(id + rev) % 4)
        .map(|c| {
            json!({
                "sha": format!("{id:x}-{c}-{rev}"),
                "message": format!("commit {c} of item {id}"),
                "files": (0..=c % 3).map(|f| format!("src/m{}/f{f}.rs", (id + c) % 5)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let site = if id.is_multiple_of(5) {
        Value::Null
    } else {
        json!(format!("https://u{}.example", id % 37))
    };
    let mut value = json!({
        "id": id,
        "created_at": timestamp(at),
        "title": format!("item {id} rev {rev}"),
        "score": id as f64 * 0.25 + rev as f64,
        "open": (id + rev).is_multiple_of(3),
        "author": {
            "login": format!("user{}", id % 37),
            "profile": {"karma": id * 3 + rev, "site": site},
        },
        "commits": commits,
        "labels": (0..id % 3).map(|l| format!("label-{l}-{rev}")).collect::<Vec<_>>(),
    });
    if step2 {
        value["priority"] = json!(id % 7);
        value["reviewers"] = json!(
            (0..id % 2 + 1)
                .map(|r| json!({"login": format!("rev{}", (id + r) % 11)}))
                .collect::<Vec<_>>()
        );
    }
    value
}

/// The two input files: `base.jsonl` (step 1) and `grown.jsonl` (the same lines plus updates and new rows).
struct Fixture {
    _dir: tempfile::TempDir,
    base: PathBuf,
    grown: PathBuf,
}

fn lines(items: impl IntoIterator<Item = Value>) -> String {
    let mut text = String::new();
    for item in items {
        text.push_str(&item.to_string());
        text.push('\n');
    }
    text
}

impl Fixture {
    fn write() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let base_text = lines((0..BASE_ROWS).map(|id| item(id, id * 60, 0, false)));
        let extra = (0..GROWN_ROWS).map(|k| {
            let at = (BASE_ROWS + k) * 60;
            if k.is_multiple_of(4) {
                item(k, at, 1, true)
            } else {
                item(BASE_ROWS + k, at, 0, true)
            }
        });
        // A new row at exactly step 1's last cursor value: only the boundary hashes tell it from the old one.
        let boundary = item(100_000, (BASE_ROWS - 1) * 60, 0, true);
        let grown_text = format!(
            "{base_text}{}",
            lines(std::iter::once(boundary).chain(extra))
        );
        let base = dir.path().join("base.jsonl");
        let grown = dir.path().join("grown.jsonl");
        std::fs::write(&base, base_text).expect("write base.jsonl");
        std::fs::write(&grown, grown_text).expect("write grown.jsonl");
        Fixture {
            _dir: dir,
            base,
            grown,
        }
    }
}

/// The `ele load` command of both steps (an incremental merge), with no fault switch inherited.
fn ele_load(db: &TestDb, file: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ele"));
    command
        .args(["load", file.to_str().expect("utf-8 path"), "--table", TABLE])
        .args(["--primary-key", "id", "--write-disposition", "merge"])
        .args([
            "--cursor",
            "created_at",
            "--initial-value",
            "1970-01-01T00:00:00Z",
        ])
        .envs(db.cli_env())
        .env_remove(FAULT)
        .env_remove(FAULT_SKIP);
    command
}

fn output(command: &mut Command) -> Output {
    command.output().expect("the ele binary runs")
}

#[track_caller]
fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sources` of the pipeline's local state file.
fn local_sources(db: &TestDb) -> Value {
    let path = db.pipelines_dir.join(TABLE).join("state.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let state: Value = serde_json::from_str(&text).expect("state.json is JSON");
    state.get("sources").cloned().unwrap_or(Value::Null)
}

/// What a database looks like after a step.
#[derive(Debug, Clone)]
struct Snapshot {
    dump: DatasetDump,
    local_sources: Value,
}

async fn snapshot(db: &TestDb) -> Snapshot {
    Snapshot {
        dump: db.dump_dataset(DATASET).await,
        local_sources: local_sources(db),
    }
}

/// The clean run: step 1 and step 2 without faults, into a database of its own.
struct Reference {
    after_step1: Snapshot,
    after_step2: Snapshot,
}

async fn run_clean(fixture_files: (&Path, &Path), name: &str) -> Reference {
    let db = TestDb::new(name).await;
    let (first, second) = fixture_files;
    assert_success(&output(&mut ele_load(&db, first)), "clean step 1");
    let after_step1 = snapshot(&db).await;
    assert_success(&output(&mut ele_load(&db, second)), "clean step 2");
    let after_step2 = snapshot(&db).await;
    Reference {
        after_step1,
        after_step2,
    }
}

/// The clean run of the fault fixture, shared by the fault tests (the data is deterministic).
async fn reference() -> &'static Reference {
    static CLEAN: OnceCell<Reference> = OnceCell::const_new();
    CLEAN
        .get_or_init(|| async {
            let fixture = Fixture::write();
            let reference = run_clean((&fixture.base, &fixture.grown), "faults_clean").await;
            let dump = &reference.after_step2.dump;
            let root = dump
                .tables
                .iter()
                .find(|t| t.name == TABLE)
                .expect("root table");
            // Base rows, new rows, and the boundary row; updates replace rows.
            assert_eq!(
                root.rows.len() as u64,
                BASE_ROWS + GROWN_ROWS - GROWN_ROWS / 4 + 1
            );
            assert_eq!(dump.completed_loads, 2);
            let names: Vec<&str> = dump.tables.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "items",
                    "items__commits",
                    "items__commits__files",
                    "items__labels",
                    "items__reviewers"
                ]
            );
            assert!(!dump.state_sources.is_empty(), "no stored state");
            assert_eq!(
                dump.state_sources.get(TABLE),
                Some(&reference.after_step2.local_sources)
            );
            reference
        })
        .await
}

/// Asserts a crashed-and-resumed database matches the clean run, with no primary key twice.
async fn assert_same_as_clean(db: &TestDb, clean: &Snapshot, what: &str) {
    let got = snapshot(db).await;
    assert!(
        got.dump == clean.dump,
        "{what}: the dataset differs from the clean run's:\n{}",
        got.dump.differences(&clean.dump)
    );
    assert_eq!(
        got.local_sources, clean.local_sources,
        "{what}: the local state differs from the clean run's"
    );
    let doubled = db
        .lines(&format!(
            "SELECT id, count(*) FROM {DATASET}.{TABLE} GROUP BY id HAVING count(*) > 1 ORDER BY id"
        ))
        .await;
    assert!(
        doubled.is_empty(),
        "{what}: primary keys twice: {doubled:?}"
    );
}

/// After a crash the destination shows either the state before the crashed run or after it, never a mix: every
/// table's rows, the completed loads and the stored state are all step 1's or all step 2's. Schema changes have
/// their own transaction, so new tables and columns may already exist, but empty. Returns whether it is step 2's.
async fn assert_before_or_after(db: &TestDb, reference: &Reference, what: &str) -> bool {
    let got = db.dump_dataset(DATASET).await;
    if got == reference.after_step2.dump {
        return true;
    }
    // Step 1's dump as it looks with the new schema: columns added later are NULL, new tables empty.
    let before = &reference.after_step1.dump;
    let mut expected = before.clone();
    expected.tables = got
        .tables
        .iter()
        .map(|t| {
            let Some(old) = before.tables.iter().find(|o| o.name == t.name) else {
                return TableDump {
                    rows: Vec::new(),
                    ..t.clone()
                };
            };
            if !t.columns.starts_with(&old.columns) {
                return old.clone();
            }
            let added = t.columns.len() - old.columns.len();
            let mut rows: Vec<String> = old
                .rows
                .iter()
                .map(|r| format!("{r}{}", "|NULL".repeat(added)))
                .collect();
            rows.sort();
            TableDump { rows, ..t.clone() }
        })
        .collect();
    assert!(
        got == expected,
        "{what}: after the crash the dataset is neither step 1's nor step 2's:\nvs step 1:\n{}\nvs step 2:\n{}",
        got.differences(&expected),
        got.differences(&reference.after_step2.dump)
    );
    false
}

/// Step 1 clean, step 2 aborted at `point` (after `skip` passes), step 2 again without the fault: the result must
/// be the clean run's.
async fn crash_at(point: &str, skip: u32) {
    crash_in_merge(point, skip, false).await;
}

/// [`crash_at`], with step 2 merged into the existing tables while it is normalized when `streamed` (tiny job
/// files).
async fn crash_in_merge(point: &str, skip: u32, streamed: bool) {
    let reference = reference().await;
    let fixture = Fixture::write();
    let name = if streamed { "fault_streamed" } else { "fault" };
    let db = TestDb::new(&format!("{name}_{point}")).await;
    assert_success(&output(&mut ele_load(&db, &fixture.base)), "step 1");

    let mut step2 = ele_load(&db, &fixture.grown);
    if streamed {
        step2
            .env("ELE_JOB_FILE_BYTES", "4096")
            .env("RUST_LOG", "ele_destinations=debug");
    }
    let crashed = output(step2.env(FAULT, point).env(FAULT_SKIP, skip.to_string()));
    if streamed {
        let stderr = String::from_utf8_lossy(&crashed.stderr);
        assert!(stderr.contains("merging while normalizing"), "{stderr}");
    }
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert_eq!(
        crashed.status.signal(),
        Some(libc::SIGABRT),
        "step 2 with ELE_FAULT={point} should abort, got {}:\n{stderr}",
        crashed.status
    );
    assert!(
        stderr.contains(&format!("injected fault at `{point}`")),
        "{stderr}"
    );
    let what = format!("ELE_FAULT={point} ELE_FAULT_SKIP={skip}");
    let committed = assert_before_or_after(&db, reference, &what).await;
    assert_eq!(
        committed,
        point == "after_commit",
        "{what}: the data should be committed exactly when the crash came after the commit"
    );
    // The local state advances only after the commit was recorded locally.
    assert_eq!(
        local_sources(&db),
        reference.after_step1.local_sources,
        "{what}: the local state moved before the run finished"
    );

    let rerun = output(&mut ele_load(&db, &fixture.grown));
    assert_success(&rerun, &format!("re-run after {what}"));
    assert_same_as_clean(&db, &reference.after_step2, &what).await;
    if point != "after_commit" {
        // (after_commit: see `crash_after_commit_leaves_no_staging_tables`)
        assert_eq!(staging_tables(&db).await, Vec::<String>::new(), "{what}");
    }

    // And a further run finds nothing new.
    let again = output(&mut ele_load(&db, &fixture.grown));
    assert_success(&again, "third run");
    assert_same_as_clean(&db, &reference.after_step2, &format!("{what}, third run")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_extract_loses_and_doubles_nothing() {
    // Pages 1-2 of step 2 are old rows (all filtered); die when the fourth page was handed on.
    crash_at("during_extract", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_extract_loses_and_doubles_nothing() {
    crash_at("after_extract", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_normalize_loses_and_doubles_nothing() {
    crash_at("during_normalize", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_first_copy_loses_and_doubles_nothing() {
    crash_at("after_copy", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_a_later_copy_loses_and_doubles_nothing() {
    crash_at("after_copy", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn crash_before_commit_loses_and_doubles_nothing() {
    crash_at("before_commit", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_commit_loses_and_doubles_nothing() {
    crash_at("after_commit", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_a_streamed_merge_copy_loses_and_doubles_nothing() {
    crash_in_merge("after_copy", 1, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_committing_a_streamed_merge_loses_and_doubles_nothing() {
    crash_in_merge("before_commit", 0, true).await;
}

/// Step 1 into a new dataset goes straight into the empty tables inside the load transaction (indexes after the
/// rows): aborted at `point` it leaves the tables empty, and the next run loads everything once.
async fn crash_in_first_load(point: &str, skip: u32) {
    let reference = reference().await;
    let fixture = Fixture::write();
    let db = TestDb::new(&format!("fault_first_{point}_{skip}")).await;
    // Tiny job files: the first load COPYs them while it is still normalizing, so the crash lands mid-extract.
    let crashed = output(
        ele_load(&db, &fixture.base)
            .env(FAULT, point)
            .env(FAULT_SKIP, skip.to_string())
            .env("ELE_JOB_FILE_BYTES", "4096"),
    );
    let what = format!("first load, ELE_FAULT={point} ELE_FAULT_SKIP={skip}");
    assert_eq!(
        crashed.status.signal(),
        Some(libc::SIGABRT),
        "{what} should abort:\n{}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    let dump = db.dump_dataset(DATASET).await;
    assert_eq!(dump.completed_loads, 0, "{what}");
    for table in &dump.tables {
        assert!(table.rows.is_empty(), "{what}: rows in `{}`", table.name);
    }
    // The direct load creates the merge indexes with its rows: none exists after the crash.
    let indexes = db
        .lines(&format!(
            "SELECT indexname FROM pg_indexes WHERE schemaname = '{DATASET}' AND tablename LIKE '{TABLE}%'"
        ))
        .await;
    assert_eq!(indexes, Vec::<String>::new(), "{what}");

    assert_success(&output(&mut ele_load(&db, &fixture.base)), &what);
    assert_same_as_clean(&db, &reference.after_step1, &what).await;
    let indexes = db
        .lines(&format!(
            "SELECT indexname FROM pg_indexes WHERE schemaname = '{DATASET}' AND tablename LIKE '{TABLE}%'"
        ))
        .await;
    assert!(indexes.len() >= 2, "{what}: indexes {indexes:?}");
    assert_success(&output(&mut ele_load(&db, &fixture.grown)), "step 2");
    assert_same_as_clean(&db, &reference.after_step2, &what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_a_direct_copy_loses_and_doubles_nothing() {
    crash_in_first_load("after_copy", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn crash_before_committing_a_direct_load_loses_and_doubles_nothing() {
    crash_in_first_load("before_commit", 0).await;
}

/// More keys than the normalizer tracks (`ELE_MAX_TRACKED_KEYS`): a first load still goes straight into the
/// empty tables when its keys are unique, and is undone and merged with deduplication when a key came twice
/// after the normalizer stopped tracking. Either way the tables are what the tracked load writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untracked_keys_are_checked_by_the_loader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unique = dir.path().join("unique.jsonl");
    let doubled = dir.path().join("doubled.jsonl");
    std::fs::write(
        &unique,
        lines((0..600).map(|id| item(id, id * 60, 0, false))),
    )
    .expect("write");
    // The repeats come last, long after the normalizer stopped tracking keys; the first sent wins.
    std::fs::write(
        &doubled,
        lines(
            (0..600)
                .map(|id| item(id, id * 60, 0, false))
                .chain((0..20).map(|id| item(id * 7, 50_000 + id, 1, false))),
        ),
    )
    .expect("write");
    for (file, name) in [(&unique, "unique"), (&doubled, "doubled")] {
        let tracked = TestDb::new(&format!("keys_tracked_{name}")).await;
        assert_success(&output(&mut ele_load(&tracked, file)), "tracked load");
        let untracked = TestDb::new(&format!("keys_untracked_{name}")).await;
        assert_success(
            &output(ele_load(&untracked, file).env("ELE_MAX_TRACKED_KEYS", "50")),
            "untracked load",
        );
        let (a, b) = (
            tracked.dump_dataset(DATASET).await,
            untracked.dump_dataset(DATASET).await,
        );
        assert!(a == b, "{name}: {}", a.differences(&b));
        let root = b
            .tables
            .iter()
            .find(|t| t.name == TABLE)
            .expect("root table");
        assert_eq!(root.rows.len(), 600, "{name}");
    }
}

/// Tables left in the dataset's staging schema.
async fn staging_tables(db: &TestDb) -> Vec<String> {
    db.lines(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{DATASET}_staging' \
         ORDER BY table_name"
    ))
    .await
}

/// A crash right after the data COMMIT leaves the load's staging tables (a full copy of the merged rows)
/// behind: the re-run sees the load in `_dlt_loads` and returns before it drops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_commit_leaves_no_staging_tables() {
    let fixture = Fixture::write();
    let db = TestDb::new("fault_staging").await;
    assert_success(&output(&mut ele_load(&db, &fixture.base)), "step 1");
    let crashed = output(ele_load(&db, &fixture.grown).env(FAULT, "after_commit"));
    assert_eq!(crashed.status.signal(), Some(libc::SIGABRT));
    assert_success(&output(&mut ele_load(&db, &fixture.grown)), "re-run");
    assert_eq!(staging_tables(&db).await, Vec::<String>::new());
}

/// Packages written before binary jobs hold text COPY lines: such a package left pending by a crash is loaded
/// by the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_package_with_text_jobs_is_loaded() {
    let db = TestDb::new("fault_text_jobs").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (rows, empty) = (
        dir.path().join("rows.jsonl"),
        dir.path().join("empty.jsonl"),
    );
    std::fs::write(
        &rows,
        "{\"id\": 1, \"name\": \"tab\\there\"}\n{\"id\": 2, \"name\": \"back\\\\slash\"}\n{\"id\": 3}\n",
    )
    .expect("write rows");
    std::fs::write(&empty, "").expect("write empty file");
    let load = |file: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ele"));
        command
            .args([
                "load",
                file.to_str().expect("utf-8 path"),
                "--table",
                "texts",
            ])
            .envs(db.cli_env())
            .env_remove(FAULT_SKIP);
        command
    };
    let crashed = output(load(&rows).env(FAULT, "before_commit"));
    assert_eq!(crashed.status.signal(), Some(libc::SIGABRT));

    // Rewrite the pending package as earlier versions wrote it.
    let normalized = db.pipelines_dir.join("texts/load/normalized");
    let package = std::fs::read_dir(&normalized)
        .expect("a pending package")
        .next()
        .expect("one package")
        .expect("dir entry")
        .path();
    let manifest_path = package.join("package.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("json");
    for job in manifest["jobs"].as_array_mut().expect("jobs") {
        assert_eq!(job["format"], "binary");
        let path = package
            .join("jobs")
            .join(job["file"].as_str().expect("file"));
        let bytes = std::fs::read(&path).expect("job file");
        let columns: Vec<&str> = job["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c.as_str().expect("column name"))
            .collect();
        let mut text = String::new();
        for tuple in ele::package::decode_binary_tuples(&bytes).expect("binary tuples") {
            let fields: Vec<String> = columns
                .iter()
                .zip(tuple)
                .map(|(column, field)| match field {
                    None => "\\N".to_owned(),
                    Some(b) if *column == "id" => {
                        i64::from_be_bytes(b.try_into().expect("8 bytes")).to_string()
                    }
                    Some(b) => String::from_utf8(b.to_vec())
                        .expect("text")
                        .replace('\\', "\\\\")
                        .replace('\t', "\\t"),
                })
                .collect();
            text.push_str(&fields.join("\t"));
            text.push('\n');
        }
        std::fs::write(&path, text).expect("rewrite job");
        job["format"] = json!("text");
    }
    std::fs::write(&manifest_path, manifest.to_string()).expect("rewrite manifest");

    assert_success(&output(&mut load(&empty)), "the run after the crash");
    assert_eq!(
        db.lines("SELECT id, name FROM texts_dataset.texts ORDER BY id")
            .await,
        ["1|tab\there", "2|back\\slash", "3|NULL"]
    );
}

/// Rows of the SIGKILL tests' big file: a debug build needs a few seconds to extract them, so a kill lands
/// mid-run.
const BIG_ROWS: u64 = 50_000;
/// Rows of its step 1.
const BIG_BASE_ROWS: u64 = 1000;

/// A small line; every tenth row has a list (a child table), the last 100 lines update rows of step 1.
fn small_item(id: u64, at: u64, rev: u64) -> Value {
    let mut value =
        json!({"id": id, "created_at": timestamp(at), "v": format!("{}-{rev}", id % 97)});
    if id.is_multiple_of(10) {
        value["tags"] = json!([format!("t{}", id % 5), format!("r{rev}")]);
    }
    value
}

struct BigFixture {
    _dir: tempfile::TempDir,
    base: PathBuf,
    big: PathBuf,
}

impl BigFixture {
    fn write() -> BigFixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let base_text = lines((0..BIG_BASE_ROWS).map(|id| small_item(id, id, 0)));
        let updates = (0..100).map(|k| small_item(k * 7, BIG_ROWS + k, 1));
        let big_text = format!(
            "{base_text}{}",
            lines(
                (BIG_BASE_ROWS..BIG_ROWS)
                    .map(|id| small_item(id, id, 0))
                    .chain(updates)
            )
        );
        let base = dir.path().join("base.jsonl");
        let big = dir.path().join("big.jsonl");
        std::fs::write(&base, base_text).expect("write base.jsonl");
        std::fs::write(&big, big_text).expect("write big.jsonl");
        BigFixture {
            _dir: dir,
            base,
            big,
        }
    }
}

async fn big_reference() -> &'static Reference {
    static CLEAN: OnceCell<Reference> = OnceCell::const_new();
    CLEAN
        .get_or_init(|| async {
            let fixture = BigFixture::write();
            run_clean((&fixture.base, &fixture.big), "faults_big_clean").await
        })
        .await
}

/// Whether `dir` exists and has an entry.
fn has_entry(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// Step 1 clean; step 2 on the big file, killed with SIGKILL `delay` after `<pipeline>/<stage>` got an entry
/// (`load/new`: a package being extracted; `load/normalized`: a package being loaded); step 2 again.
async fn sigkill_during(stage: &str, delay: Duration) {
    let reference = big_reference().await;
    let fixture = BigFixture::write();
    let db = TestDb::new("fault_sigkill").await;
    assert_success(&output(&mut ele_load(&db, &fixture.base)), "step 1");

    let watched = db.pipelines_dir.join(TABLE).join(stage);
    let mut child = ele_load(&db, &fixture.big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the ele binary starts");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "step 2 ended ({status}) before {} had an entry: nothing to kill",
                watched.display()
            );
        }
        if has_entry(&watched) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} never got an entry",
            watched.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "step 2 ended ({status}) before it was killed {delay:?} after {} had an entry: \
         a bigger file or a shorter delay is needed",
        watched.display()
    );
    let what = format!("SIGKILL {delay:?} after {stage} had an entry");
    assert_before_or_after(&db, reference, &what).await;

    let rerun = output(&mut ele_load(&db, &fixture.big));
    assert_success(&rerun, &format!("re-run after {what}"));
    assert_same_as_clean(&db, &reference.after_step2, &what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_extract_loses_and_doubles_nothing() {
    sigkill_during("load/new", Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_loses_and_doubles_nothing() {
    sigkill_during("load/normalized", Duration::from_millis(20)).await;
}

/// The comparison itself: random ids do not count, a lost, doubled or re-parented row does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_dump_ignores_random_ids_and_sees_lost_doubled_and_moved_rows() {
    let db = TestDb::new("fault_dump").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("items.jsonl");
    std::fs::write(&file, lines((1..=3).map(|id| item(id, id, 0, true)))).expect("write");
    assert_success(&output(&mut ele_load(&db, &file)), "load");
    let ds = DATASET;
    let original = db.dump_dataset(ds).await;
    assert_eq!(original.completed_loads, 1);
    let commits = original
        .tables
        .iter()
        .find(|t| t.name == "items__commits")
        .expect("child table");
    assert!(
        commits.rows.iter().any(|r| r.starts_with("id=1[0] | ")),
        "{commits:?}"
    );

    // New random ids everywhere, links kept: the same dump.
    db.rows(&format!(
        "UPDATE {ds}.items__commits__files SET _dlt_id = _dlt_id || 'x', _dlt_parent_id = _dlt_parent_id || 'x', \
         _dlt_root_id = _dlt_root_id || 'x';
         UPDATE {ds}.items__commits SET _dlt_id = _dlt_id || 'x', _dlt_parent_id = _dlt_parent_id || 'x', \
         _dlt_root_id = _dlt_root_id || 'x';
         UPDATE {ds}.items__labels SET _dlt_id = _dlt_id || 'x', _dlt_parent_id = _dlt_parent_id || 'x', \
         _dlt_root_id = _dlt_root_id || 'x';
         UPDATE {ds}.items__reviewers SET _dlt_id = _dlt_id || 'x', _dlt_parent_id = _dlt_parent_id || 'x', \
         _dlt_root_id = _dlt_root_id || 'x';
         UPDATE {ds}.items SET _dlt_id = _dlt_id || 'x', _dlt_load_id = '1';"
    ))
    .await;
    let renamed = db.dump_dataset(ds).await;
    assert!(renamed == original, "{}", renamed.differences(&original));

    // A grandchild row doubled (with an id of its own).
    db.rows(&format!(
        "CREATE TEMP TABLE dup AS SELECT * FROM {ds}.items__commits__files LIMIT 1;
         UPDATE dup SET _dlt_id = 'doubled';
         INSERT INTO {ds}.items__commits__files SELECT * FROM dup;"
    ))
    .await;
    let doubled = db.dump_dataset(ds).await;
    assert!(doubled != original);
    assert!(
        doubled
            .differences(&original)
            .contains("only on the left side"),
        "{}",
        doubled.differences(&original)
    );
    db.rows(&format!(
        "DELETE FROM {ds}.items__commits__files WHERE _dlt_id = 'doubled'"
    ))
    .await;
    assert!(db.dump_dataset(ds).await == original);

    // A child row moved under another root row.
    db.rows(&format!(
        "UPDATE {ds}.items__labels SET _dlt_parent_id = (SELECT _dlt_id FROM {ds}.items WHERE id = 1) \
         WHERE _dlt_parent_id = (SELECT _dlt_id FROM {ds}.items WHERE id = 2)"
    ))
    .await;
    let moved = db.dump_dataset(ds).await;
    assert!(moved != original, "{moved:?}");

    // A row lost.
    db.rows(&format!("DELETE FROM {ds}.items WHERE id = 3"))
        .await;
    let lost = db.dump_dataset(ds).await;
    assert!(
        lost.differences(&original)
            .contains("table items: 2 vs 3 rows"),
        "{}",
        lost.differences(&original)
    );
}
