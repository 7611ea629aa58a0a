//! Loads through PgBouncer in transaction pooling mode, with Debian's 1.18 defaults otherwise (no
//! protocol-level prepared statements, no `options` startup parameter), in front of the test server: the way
//! the poolers of Supabase and Neon behave too. A merge, an incremental rerun on a new machine and two
//! concurrent runs of one pipeline all go through it.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::support::{TestDb, server_address, service_user_ids};

/// How to get PgBouncer, for the failure message.
const PGBOUNCER_INSTALL: &str = "install PgBouncer: `apt-get install pgbouncer` (`.ci/run` does), or put a \
    `pgbouncer` binary on PATH";

/// `pgbouncer` on PATH, else Debian's `/usr/sbin/pgbouncer`.
fn pgbouncer_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pgbouncer"))
            .find(|bin| bin.is_file())
    });
    let bin = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/pgbouncer"));
    assert!(
        bin.is_file(),
        "the pooler tests need PgBouncer and found none: {PGBOUNCER_INSTALL}"
    );
    bin
}

/// A PgBouncer on 127.0.0.1 in transaction mode, pooling every database of the test server; stopped when
/// dropped.
struct Bouncer {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Bouncer {
    fn start() -> Bouncer {
        let bin = pgbouncer_bin();
        let dir = tempfile::Builder::new()
            .prefix("ele-pgbouncer-")
            .tempdir()
            .expect("tempdir");
        let (host, backend_port, user, password) = server_address();
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let password = password
            .map(|p| format!(" password={p}"))
            .unwrap_or_default();
        // `auth_type = any` logs every client in as the backend user named here; everything else but the pool
        // mode is PgBouncer's default.
        let config = format!(
            "[databases]\n\
             * = host={host} port={backend_port} user={user}{password}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = any\n\
             pool_mode = transaction\n\
             logfile = {log}\n",
            log = dir.path().join("pgbouncer.log").display(),
        );
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini, config).expect("write pgbouncer.ini");
        let ids = service_user_ids();
        if let Some((uid, gid)) = ids {
            for path in [dir.path().to_owned(), ini.clone()] {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown");
            }
        }
        let mut command = Command::new(&bin);
        command
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = ids {
            command.uid(uid).gid(gid);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", bin.display()));
        let bouncer = Bouncer { dir, child, port };
        bouncer.wait_until_listening();
        bouncer
    }

    fn wait_until_listening(&self) {
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "PgBouncer did not start listening on port {}; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    /// A plain URL to `db` through the pooler.
    fn url(&self, db: &TestDb) -> String {
        let config: tokio_postgres::Config = db.url.parse().expect("the test URL parses");
        let name = config.get_dbname().expect("the test URL names a database");
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes JSON Lines of events `ids` with cursor `updated_at` and a nested list (a child table).
fn write_events(path: &Path, ids: impl Iterator<Item = i64>, updated_at: i64) {
    let mut text = String::new();
    for id in ids {
        let line = serde_json::json!({
            "id": id,
            "updated_at": updated_at,
            "tags": [format!("t{}", id % 3), format!("u{updated_at}")],
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("write events");
}

/// `ele load` of `files` into table `events` of pipeline `pooled`, merging on `id` with cursor `updated_at`.
fn ele_load(destination: &str, pipelines_dir: &Path, file: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ele"));
    command
        .args(["-q", "load", file.to_str().expect("utf-8")])
        .args(["--table", "events", "--pipeline", "pooled"])
        .args(["--write-disposition", "merge", "--primary-key", "id"])
        .args(["--cursor", "updated_at", "--destination", destination])
        .env("ELE_PIPELINES_DIR", pipelines_dir)
        .env_remove("DESTINATION__POSTGRES__CREDENTIALS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn assert_success(out: &Output, what: &str, bouncer: &Bouncer) {
    assert!(
        out.status.success(),
        "{what} through PgBouncer failed: {}{}\nPgBouncer's log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        bouncer.log()
    );
}

/// Rows, distinct ids, rows per `updated_at`, child rows, child rows without a parent row.
async fn counts(db: &TestDb) -> Vec<String> {
    db.lines(
        "SELECT 'rows', count(*), count(DISTINCT id) FROM pooled_dataset.events \
         UNION ALL SELECT 'updated_at ' || updated_at, count(*), count(DISTINCT id) FROM pooled_dataset.events \
           GROUP BY updated_at \
         UNION ALL SELECT 'tags', count(*), count(*) FILTER (WHERE NOT EXISTS \
           (SELECT 1 FROM pooled_dataset.events e WHERE e._dlt_id = t._dlt_parent_id)) \
           FROM pooled_dataset.events__tags t \
         ORDER BY 1",
    )
    .await
}

#[tokio::test]
async fn merges_and_incremental_reruns_work_through_pgbouncer_in_transaction_mode() {
    let db = TestDb::new("pooler").await;
    let bouncer = Bouncer::start();
    let url = bouncer.url(&db);
    let files = tempfile::tempdir().expect("tempdir");

    // A merge: ids 1..=100 at updated_at 1.
    let first = files.path().join("first.jsonl");
    write_events(&first, 1..=100, 1);
    let out = ele_load(&url, &db.pipelines_dir, &first)
        .output()
        .expect("ele runs");
    assert_success(&out, "the first merge", &bouncer);
    assert_eq!(
        counts(&db).await,
        ["rows|100|100", "tags|200|0", "updated_at 1|100|100"]
    );

    // An incremental rerun on a new machine (the state is restored from the destination through the pooler):
    // ids 1..=50 at updated_at 0 are behind the cursor and filtered; 51..=150 at 2 are merged.
    let second = files.path().join("second.jsonl");
    let mut text = String::new();
    write_events(&second, 1..=50, 0);
    text.push_str(&std::fs::read_to_string(&second).expect("read"));
    write_events(&second, 51..=150, 2);
    text.push_str(&std::fs::read_to_string(&second).expect("read"));
    std::fs::write(&second, text).expect("write");
    let new_machine = files.path().join("new-machine");
    let out = ele_load(&url, &new_machine, &second)
        .output()
        .expect("ele runs");
    assert_success(&out, "the incremental rerun", &bouncer);
    assert_eq!(
        counts(&db).await,
        [
            "rows|150|150",
            "tags|300|0",
            "updated_at 1|50|50",
            "updated_at 2|100|100"
        ]
    );

    // Two runs of the one pipeline at once (their own working dirs, so both start from the stored state):
    // the pipeline lock, held through the pooler, makes them take turns; the second finds nothing new.
    let third = files.path().join("third.jsonl");
    write_events(&third, 1..=2000, 3);
    let runs: Vec<Child> = ["a", "b"]
        .iter()
        .map(|dir| {
            ele_load(&url, &files.path().join(dir), &third)
                .spawn()
                .expect("ele starts")
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().expect("ele runs");
        assert_success(&out, "a concurrent run of the pipeline", &bouncer);
    }
    assert_eq!(
        counts(&db).await,
        ["rows|2000|2000", "tags|4000|0", "updated_at 3|2000|2000"]
    );
    let loads = db
        .lines("SELECT count(*) FROM pooled_dataset._dlt_loads WHERE status = 0")
        .await;
    // One load per run that had rows: the two merges, and one of the concurrent runs (the other loaded
    // nothing, or only its state).
    let loads: u32 = loads[0].parse().expect("a count");
    assert!((3..=4).contains(&loads), "{loads} completed loads");
    let versions = db
        .lines(
            "SELECT count(DISTINCT version) = count(*) FROM pooled_dataset._dlt_pipeline_state \
             WHERE pipeline_name = 'pooled'",
        )
        .await;
    assert_eq!(versions, ["t"], "every committed state has its own version");
}
