//! A cluster's server: `initdb` with our settings, `pg_ctl` start, stop and status, and whether it is ready
//! (its `postmaster.pid` and socket).

use std::fs;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::dirs::remove_if_exists;
use super::error::{LocalError, io_error};
use super::process::{ServerUser, command, command_failed, log_tail, output_of, run};
use super::settings::{LOG_FILE, PORT, SERVER_USER, TIMEOUT};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Durability {
    /// Tests: no fsync, nothing survives a crash of the machine.
    Throwaway,
    /// The managed instance: PostgreSQL's defaults.
    Durable,
}

/// Quotes a `postgresql.conf` string value.
pub(super) fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', "''"))
}

/// `initdb` into `root/data.init`, add our settings, then rename it to `root/data`: `data` only ever exists
/// complete.
pub(super) fn init_cluster(
    bin: &Path,
    user: Option<&ServerUser>,
    root: &Path,
    durability: Durability,
) -> Result<(), LocalError> {
    let staging = root.join("data.init");
    remove_if_exists(&staging)?;
    let mut result = Ok(());
    for locale in ["C.UTF-8", "C"] {
        let mut cmd = command(&bin.join("initdb"), user);
        cmd.arg("-D")
            .arg(&staging)
            .args(["-U", SERVER_USER, "--auth=trust", "-E", "UTF8"])
            .arg(format!("--locale={locale}"));
        if durability == Durability::Throwaway {
            cmd.arg("--no-sync");
        }
        result = run("initializing a PostgreSQL cluster", &mut cmd, user, None).map(drop);
        if result.is_ok() {
            break;
        }
        remove_if_exists(&staging)?;
    }
    result?;

    let socket_dir = root.to_str().ok_or_else(|| {
        LocalError::Unusable(format!(
            "the cluster directory `{}` is not valid UTF-8",
            root.display()
        ))
    })?;
    let mut settings = format!(
        "\n# Added by ele: listen on a unix socket in the cluster directory only.\n\
         listen_addresses = ''\nport = {PORT}\nunix_socket_directories = {}\n",
        conf_string(socket_dir)
    );
    if durability == Durability::Throwaway {
        settings.push_str("# Throwaway cluster for tests: speed over durability.\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
    }
    let conf = staging.join("postgresql.conf");
    fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut file| file.write_all(settings.as_bytes()))
        .map_err(io_error("cannot add the local cluster settings to", &conf))?;
    let data = root.join("data");
    fs::rename(&staging, &data).map_err(io_error("cannot move the new cluster into", &data))
}

/// What `postmaster.pid` says about a running server.
struct PidFile {
    port: Option<u16>,
    socket_dir: Option<PathBuf>,
    status: String,
}

fn read_pid_file(data: &Path) -> Option<PidFile> {
    let text = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    Some(PidFile {
        port: lines.get(3).and_then(|l| l.parse().ok()),
        socket_dir: lines.get(4).filter(|l| !l.is_empty()).map(PathBuf::from),
        status: lines.get(7).copied().unwrap_or_default().to_owned(),
    })
}

fn socket_accepts(socket_dir: &Path, port: u16) -> bool {
    UnixStream::connect(socket_dir.join(format!(".s.PGSQL.{port}"))).is_ok()
}

/// The socket directory and port of a server that is ready right now.
pub(super) fn ready_now(root: &Path) -> Option<(PathBuf, u16)> {
    let pid = read_pid_file(&root.join("data"))?;
    let socket_dir = pid.socket_dir.unwrap_or_else(|| root.to_owned());
    let port = pid.port.unwrap_or(PORT);
    (pid.status == "ready" && socket_accepts(&socket_dir, port)).then_some((socket_dir, port))
}

pub(super) enum Wait {
    Ready(PathBuf, u16),
    Gone,
    TimedOut,
}

/// Waits until the server accepts connections, or its `postmaster.pid` is gone, or [`TIMEOUT`].
pub(super) fn wait_for_server(root: &Path) -> Wait {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some((socket_dir, port)) = ready_now(root) {
            return Wait::Ready(socket_dir, port);
        }
        if !root.join("data").join("postmaster.pid").exists() {
            return Wait::Gone;
        }
        if Instant::now() >= deadline {
            return Wait::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(super) fn not_ready(root: &Path) -> LocalError {
    LocalError::NotReady {
        root: root.to_owned(),
        details: log_tail(&root.join(LOG_FILE)),
    }
}

#[derive(PartialEq, Eq)]
pub(super) enum Status {
    Running,
    Stopped,
}

/// `pg_ctl status`: 0 running, 3 not running, 4 no (accessible) data directory.
pub(super) fn server_status(
    bin: &Path,
    user: Option<&ServerUser>,
    root: &Path,
) -> Result<Status, LocalError> {
    let what = "checking whether the PostgreSQL server runs";
    let mut cmd = command(&bin.join("pg_ctl"), user);
    cmd.arg("-D").arg(root.join("data")).arg("status");
    let output = output_of(what, &mut cmd, user)?;
    match output.status.code() {
        Some(0) => Ok(Status::Running),
        Some(3) | Some(4) => Ok(Status::Stopped),
        _ => Err(command_failed(what, &cmd, user, &output, None)),
    }
}

/// `pg_ctl start` (waits until the server is ready), then where it listens.
pub(super) fn start_server(
    bin: &Path,
    user: Option<&ServerUser>,
    root: &Path,
) -> Result<(PathBuf, u16), LocalError> {
    let log = root.join(LOG_FILE);
    let mut cmd = command(&bin.join("pg_ctl"), user);
    cmd.arg("-D")
        .arg(root.join("data"))
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", &TIMEOUT.as_secs().to_string(), "start"]);
    run("starting the PostgreSQL server", &mut cmd, user, Some(&log))?;
    match wait_for_server(root) {
        Wait::Ready(socket_dir, port) => Ok((socket_dir, port)),
        Wait::Gone | Wait::TimedOut => Err(not_ready(root)),
    }
}

/// `pg_ctl stop -m fast` (waits until the server is gone).
pub(super) fn stop_server(
    bin: &Path,
    user: Option<&ServerUser>,
    root: &Path,
) -> Result<(), LocalError> {
    let log = root.join(LOG_FILE);
    let mut cmd = command(&bin.join("pg_ctl"), user);
    cmd.arg("-D").arg(root.join("data")).args([
        "-m",
        "fast",
        "-w",
        "-t",
        &TIMEOUT.as_secs().to_string(),
        "stop",
    ]);
    run("stopping the PostgreSQL server", &mut cmd, user, Some(&log)).map(drop)
}
