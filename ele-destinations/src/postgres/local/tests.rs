//! Tests of the local clusters: quoting, finding the binaries, a throwaway cluster's round trip and cleanup (on
//! drop, at exit, by the watchdog after a kill), the managed instance's life cycle.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{self, BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use super::cluster::{LocalCluster, conninfo_value, quote_ident};
use super::dirs::{recorded_location, usable_root};
use super::process::{find_server_binaries, has_server_binaries, shell_quote, version_key};
use super::server::{conf_string, ready_now};
use super::settings::TIMEOUT;
use super::sys::effective_uid;

async fn select_one(connection_string: &str) -> (i32, String) {
    let (client, connection) = tokio_postgres::connect(connection_string, NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let row = client
        .query_one("SELECT 1, current_database()::text", &[])
        .await
        .unwrap();
    let result = (row.get(0), row.get(1));
    drop(client);
    let _ = task.await;
    result
}

#[test]
fn quoting() {
    assert_eq!(quote_ident(r#"we"ird db"#), r#""we""ird db""#);
    assert_eq!(conninfo_value("/tmp/x"), "/tmp/x");
    assert_eq!(conninfo_value("a b'c\\"), r"'a b\'c\\'");
    assert_eq!(conninfo_value(""), "''");
    assert_eq!(shell_quote("/tmp/x"), "/tmp/x");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(conf_string("/a'b"), "'/a''b'");
    assert_eq!(version_key("15"), Some(vec![15]));
    assert_eq!(version_key("9.6"), Some(vec![9, 6]));
    assert_eq!(version_key("main"), None);
    assert!(version_key("10").unwrap() > version_key("9.6").unwrap());
    assert!(usable_root(Path::new("/tmp/ele")));
    assert!(!usable_root(Path::new("relative")));
    assert!(!usable_root(&Path::new("/tmp").join("x".repeat(100))));
    assert!(!usable_root(Path::new("/tmp/a$b")));
}

#[test]
fn finds_server_binaries() {
    let bin = find_server_binaries().unwrap();
    assert!(has_server_binaries(&bin), "{}", bin.display());
}

#[tokio::test]
async fn temporary_cluster_round_trip() {
    let cluster = LocalCluster::start_temporary().unwrap();
    let name = r#"we"ird db"#;
    cluster.create_database(name).await.unwrap();
    cluster.create_database(name).await.unwrap();
    assert_eq!(
        select_one(&cluster.connection_string(name)).await,
        (1, name.to_owned())
    );
    assert!(cluster.psql_command(name).starts_with("psql -h /"));
    let root = cluster.socket_dir().to_owned();
    assert!(root.join("data").join("PG_VERSION").exists());
    drop(cluster);
    assert!(!root.exists(), "{} still exists", root.display());
}

#[test]
fn start_temporary_with_a_dir_without_the_binaries_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for (bin, why) in [
        (dir.path().to_owned(), "name the `bin` directory"),
        (dir.path().join("missing"), "No such file or directory"),
    ] {
        let err = LocalCluster::start_temporary_with(&bin)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "`{}`, which should hold the PostgreSQL server binaries (initdb, pg_ctl, postgres) but does not: ",
                bin.display()
            )) && err.contains(why),
            "{err}"
        );
    }
}

/// As root the `postgres` OS user runs the binaries: a directory it cannot reach is refused up front.
#[test]
fn start_temporary_with_binaries_the_server_user_cannot_reach() {
    if effective_uid() != 0 {
        return;
    }
    let real = find_server_binaries().unwrap();
    let private = tempfile::tempdir().unwrap();
    fs::set_permissions(private.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let bin = private.path().join("bin");
    fs::create_dir(&bin).unwrap();
    for name in ["initdb", "pg_ctl", "postgres"] {
        std::os::unix::fs::symlink(real.join(name), bin.join(name)).unwrap();
    }
    let err = LocalCluster::start_temporary_with(&bin)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("are out of reach of the `postgres` OS user"),
        "{err}"
    );
}

#[tokio::test]
async fn temporary_cluster_from_a_given_bin_dir() {
    let bin = find_server_binaries().unwrap();
    let cluster = LocalCluster::start_temporary_with(&bin).unwrap();
    assert_eq!(cluster.bin_dir(), fs::canonicalize(&bin).unwrap());
    assert_eq!(
        select_one(&cluster.connection_string("postgres")).await,
        (1, "postgres".to_owned())
    );
}

/// ensure twice (reused, same socket and port), stop, stop again, ensure (restarted), stop; cleans up.
async fn managed_cycle(dir: &Path) -> Option<PathBuf> {
    let first = LocalCluster::ensure_managed(dir).unwrap();
    first.create_database("ele").await.unwrap();
    assert_eq!(select_one(&first.connection_string("ele")).await.0, 1);
    drop(first);
    let second = LocalCluster::ensure_managed(dir).unwrap();
    assert!(
        ready_now(&second.root).is_some(),
        "the server should still run"
    );
    let again = LocalCluster::ensure_managed(dir).unwrap();
    assert_eq!(again.socket_dir(), second.socket_dir());
    assert_eq!(again.port(), second.port());
    assert_eq!(select_one(&again.connection_string("ele")).await.0, 1);
    assert!(LocalCluster::stop_managed(dir).unwrap());
    assert!(!LocalCluster::stop_managed(dir).unwrap());
    assert!(ready_now(&second.root).is_none());
    let restarted = LocalCluster::ensure_managed(dir).unwrap();
    assert_eq!(restarted.socket_dir(), second.socket_dir());
    assert_eq!(
        select_one(&restarted.connection_string("ele")).await.0,
        1,
        "the database survives a restart"
    );
    assert!(LocalCluster::stop_managed(dir).unwrap());
    let location = recorded_location(&fs::canonicalize(dir).unwrap()).unwrap();
    if let Some(root) = &location {
        fs::remove_dir_all(root).unwrap();
    }
    location
}

#[tokio::test]
async fn managed_instance_in_a_reachable_dir() {
    let tmp = tempfile::Builder::new()
        .prefix("ele-m")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join(".ele/postgres");
    assert_eq!(managed_cycle(&dir).await, None);
    assert!(dir.join("data").join("PG_VERSION").exists());
}

#[tokio::test]
async fn managed_instance_in_an_unreachable_dir() {
    // 0700 and owned by us: as root, the `postgres` user cannot traverse it.
    let tmp = tempfile::Builder::new()
        .prefix("ele-m")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let dir = tmp.path().join(".ele/postgres");
    let location = managed_cycle(&dir).await;
    assert_eq!(location.is_some(), effective_uid() == 0);
}

#[tokio::test]
async fn managed_instance_in_a_long_dir() {
    let tmp = tempfile::Builder::new()
        .prefix("ele-m")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("a".repeat(100)).join(".ele/postgres");
    assert!(managed_cycle(&dir).await.is_some());
}

#[test]
fn stop_managed_without_an_instance() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(!LocalCluster::stop_managed(&tmp.path().join("missing")).unwrap());
    assert!(!LocalCluster::stop_managed(tmp.path()).unwrap());
}

const CHILD_ENV: &str = "ELE_LOCAL_TEST_CHILD";

/// Run by the two tests below in a child process: starts a throwaway cluster, prints its directory, then
/// exits normally or waits to be killed.
#[test]
#[ignore = "only run as a child process by the stop_on_exit tests"]
fn stop_on_exit_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cluster = LocalCluster::start_temporary().unwrap().stop_on_exit();
    println!("ROOT={}", cluster.socket_dir().display());
    io::stdout().flush().unwrap();
    if mode == "kill" {
        std::thread::sleep(Duration::from_secs(120));
    }
}

/// The child, the directory of its cluster, and the rest of its output (keep reading it: a closed pipe
/// would make the child's harness fail).
fn spawn_child(
    mode: &str,
) -> (
    Child,
    PathBuf,
    io::Lines<io::BufReader<std::process::ChildStdout>>,
) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "postgres::local::tests::stop_on_exit_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if let Some(root) = line.unwrap().strip_prefix("ROOT=") {
            return (child, PathBuf::from(root), lines);
        }
    }
    panic!("the child printed no ROOT= line: {:?}", child.wait());
}

#[test]
fn stop_on_exit_cleans_up_at_exit() {
    let (mut child, root, rest) = spawn_child("exit");
    let rest: Vec<String> = rest.map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert!(!root.exists(), "{} still exists", root.display());
}

#[test]
fn watchdog_cleans_up_after_a_kill() {
    let (mut child, root, _rest) = spawn_child("kill");
    assert!(root.join("data").exists());
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while root.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!root.exists(), "{} still exists", root.display());
}
