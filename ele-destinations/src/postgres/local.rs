//! Local PostgreSQL clusters started from the installed server binaries: a throwaway cluster for tests
//! ([`LocalCluster::start_temporary`]) and a managed, persistent instance for examples and `ele load --local`
//! ([`LocalCluster::ensure_managed`]).
//!
//! A cluster lives in one root directory holding `data/` (the data directory), `postgres.log` (the server log)
//! and the unix socket. It listens on that socket only (`listen_addresses = ''`), its superuser is `postgres`
//! and authentication is `trust`: the root directory's mode (0700) is what keeps other users out.
//!
//! `initdb` refuses to run as root, so as root `initdb`, `pg_ctl` and the server run as the `postgres` OS user:
//! the root directory belongs to that user and all its ancestors must be traversable by it. A managed instance
//! whose directory that user cannot reach (e.g. under `/root`), or whose path is too long for a unix socket,
//! lives in a fallback directory whose path is written to `<dir>/location`.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// Port of every cluster: the socket directory is private, so a fixed port never collides.
const PORT: u16 = 5432;
/// How long to wait for a server to start or stop.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Longest root (= socket directory) path: a socket path (`<root>/.s.PGSQL.65535`) must stay below 108 bytes.
const MAX_ROOT_LEN: usize = 92;
/// The OS user that runs the server when we are root, and the cluster's superuser.
const SERVER_USER: &str = "postgres";
/// Name of the server log in the root directory.
const LOG_FILE: &str = "postgres.log";
/// Lines of output or log quoted in errors.
const TAIL_LINES: usize = 20;
/// Environment variables that would redirect the server tools elsewhere.
const CLEARED_ENV: [&str; 7] = [
    "PGDATA",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
];

/// Why a local cluster could not be found, created, started, stopped or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// No directory with `initdb`, `pg_ctl` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries not found (looked in {looked}): install the `postgresql` package \
         (Debian/Ubuntu: `apt-get install postgresql`)"
    )]
    BinariesNotFound {
        /// Where we looked.
        looked: String,
    },
    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, which initdb refuses, and there is no `postgres` OS user (in /etc/passwd) to run the \
         server as: install the `postgresql` package (it creates that user) or run as an unprivileged user"
    )]
    NoServerUser,
    /// A file system operation failed.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        what: String,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A directory cannot hold a cluster.
    #[error("{0}")]
    Unusable(String),
    /// A command could not be run or failed.
    #[error("{what}: {command} {outcome}{details}")]
    Command {
        /// What was being done.
        what: String,
        /// The command line (and the OS user it ran as).
        command: String,
        /// How it ended.
        outcome: String,
        /// The tail of its output and of the server log, on their own lines.
        details: String,
    },
    /// A server runs but did not become ready in time.
    #[error("the PostgreSQL server in `{}` runs but did not accept connections within {} s{details}", root.display(), TIMEOUT.as_secs())]
    NotReady {
        /// The cluster's root directory.
        root: PathBuf,
        /// The tail of the server log, on its own lines.
        details: String,
    },
    /// Connecting to the cluster or running SQL on it failed.
    #[error("{what} on the local cluster at `{}`: {message}", socket_dir.display())]
    Sql {
        /// What was being done.
        what: String,
        /// The cluster's socket directory.
        socket_dir: PathBuf,
        /// The server's or driver's message.
        message: String,
    },
}

fn io_error(what: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> LocalError {
    let what = what.into();
    let path = path.to_owned();
    move |source| LocalError::Io { what, path, source }
}

/// Where the server binaries are: `PATH`, then `pg_config --bindir`, then the newest
/// `/usr/lib/postgresql/*/bin`. The directory contains `initdb`, `pg_ctl` and `postgres`.
pub fn find_server_binaries() -> Result<PathBuf, LocalError> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.is_absolute() && has_server_binaries(&dir) {
                return Ok(real_bin_dir(dir));
            }
        }
    }
    let mut looked = String::from("PATH, `pg_config --bindir`");
    if let Ok(output) = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        looked = format!("PATH, `pg_config --bindir` ({})", dir.display());
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = version_key(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => Err(LocalError::BinariesNotFound {
            looked: format!("{looked}, /usr/lib/postgresql/*/bin"),
        }),
    }
}

const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

fn has_server_binaries(dir: &Path) -> bool {
    SERVER_BINARIES.iter().all(|name| {
        fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `/usr/local/bin` may hold symlinks into the real directory: prefer that one when it is complete.
fn real_bin_dir(dir: PathBuf) -> PathBuf {
    match fs::canonicalize(dir.join("initdb"))
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
    {
        Some(real) if real != dir && has_server_binaries(&real) => real,
        _ => dir,
    }
}

/// `15` → `[15]`, `9.6` → `[9, 6]`; anything else is not a version.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The OS user the server tools run as when we are root.
#[derive(Clone, Debug)]
struct ServerUser {
    uid: u32,
    gid: u32,
    home: PathBuf,
}

#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() }
}

/// `None` when not root (the tools run as the current user), else the `postgres` user from /etc/passwd.
fn server_user() -> Result<Option<ServerUser>, LocalError> {
    if effective_uid() != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(|_| LocalError::NoServerUser)?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() >= 7 && fields[0] == SERVER_USER)
        .and_then(|fields| {
            Some(ServerUser {
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
                home: PathBuf::from(fields[5]),
            })
        })
        .map(Some)
        .ok_or(LocalError::NoServerUser)
}

/// The uid that must own a cluster's root directory.
fn owner_uid(user: Option<&ServerUser>) -> u32 {
    user.map_or_else(effective_uid, |u| u.uid)
}

/// Whether `dir` and all its ancestors are traversable by `user` (with the credentials `Command::uid/gid`
/// gives: no supplementary groups). Always true when not root.
fn traversable_by(dir: &Path, user: Option<&ServerUser>) -> bool {
    let Some(user) = user else { return true };
    dir.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .all(|a| match fs::metadata(a) {
            Ok(m) => {
                let bit = if m.uid() == user.uid {
                    0o100
                } else if m.gid() == user.gid {
                    0o010
                } else {
                    0o001
                };
                m.is_dir() && m.mode() & bit != 0
            }
            Err(_) => false,
        })
}

/// Whether `root` can be a cluster root: short enough for a socket path, and free of characters that
/// `pg_ctl`'s shell command line or our quoting would not survive.
fn usable_root(root: &Path) -> bool {
    root.to_str().is_some_and(|s| {
        root.is_absolute()
            && s.len() <= MAX_ROOT_LEN
            && !s
                .chars()
                .any(|c| c.is_control() || matches!(c, '"' | '$' | '`' | '\\'))
    })
}

/// Makes `root` private to the user the server runs as.
fn claim(root: &Path, user: Option<&ServerUser>) -> Result<(), LocalError> {
    fs::set_permissions(root, fs::Permissions::from_mode(0o700))
        .map_err(io_error("cannot set the mode of", root))?;
    if let Some(user) = user {
        std::os::unix::fs::chown(root, Some(user.uid), Some(user.gid)).map_err(io_error(
            format!("cannot give the `{SERVER_USER}` user the directory"),
            root,
        ))?;
    }
    Ok(())
}

/// A `Command` for a server tool, run as `user` from `/`, without libpq variables that would redirect it.
fn command(program: &Path, user: Option<&ServerUser>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir("/").stdin(Stdio::null());
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
    if let Some(user) = user {
        cmd.uid(user.uid)
            .gid(user.gid)
            .env("HOME", &user.home)
            .env("USER", SERVER_USER)
            .env("LOGNAME", SERVER_USER);
    }
    cmd
}

/// A command line as a person would type it, and the user it ran as.
fn describe_command(cmd: &Command, user: Option<&ServerUser>) -> String {
    let mut text = shell_quote(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&shell_quote(&arg.to_string_lossy()));
    }
    match user {
        Some(_) => format!("`{text}` (as OS user `{SERVER_USER}`)"),
        None => format!("`{text}`"),
    }
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The last non-empty lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last lines of a (possibly large) log file, as a titled block; empty when there is nothing to show.
fn log_tail(log: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(log)?;
        let len = file.metadata()?.len();
        file.seek(io::SeekFrom::Start(len.saturating_sub(16 * 1024)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(last_lines(&String::from_utf8_lossy(&bytes), TAIL_LINES))
    };
    match read() {
        Ok(tail) if !tail.is_empty() => {
            format!("\n--- last lines of {} ---\n{tail}", log.display())
        }
        _ => String::new(),
    }
}

/// Runs `cmd` to completion, capturing its output; only fails when it cannot be run.
fn output_of(
    what: &str,
    cmd: &mut Command,
    user: Option<&ServerUser>,
) -> Result<Output, LocalError> {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| LocalError::Command {
            what: what.to_owned(),
            command: describe_command(cmd, user),
            outcome: format!("could not be run: {e}"),
            details: String::new(),
        })
}

fn command_failed(
    what: &str,
    cmd: &Command,
    user: Option<&ServerUser>,
    output: &Output,
    log: Option<&Path>,
) -> LocalError {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let tail = last_lines(&text, TAIL_LINES);
    let mut details = String::new();
    if !tail.is_empty() {
        details.push_str(&format!("\n--- output ---\n{tail}"));
    }
    if let Some(log) = log {
        details.push_str(&log_tail(log));
    }
    LocalError::Command {
        what: what.to_owned(),
        command: describe_command(cmd, user),
        outcome: format!("failed ({})", output.status),
        details,
    }
}

/// Runs `cmd`; a non-zero exit is an error quoting its output and the tail of `log`.
fn run(
    what: &str,
    cmd: &mut Command,
    user: Option<&ServerUser>,
    log: Option<&Path>,
) -> Result<Output, LocalError> {
    let output = output_of(what, cmd, user)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(command_failed(what, cmd, user, &output, log))
    }
}

fn remove_if_exists(path: &Path) -> Result<(), LocalError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("cannot remove", path)(e)),
        _ => Ok(()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Durability {
    /// Tests: no fsync, nothing survives a crash of the machine.
    Throwaway,
    /// The managed instance: PostgreSQL's defaults.
    Durable,
}

/// Quotes a `postgresql.conf` string value.
fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', "''"))
}

/// `initdb` into `root/data.init`, add our settings, then rename it to `root/data`: `data` only ever exists
/// complete.
fn init_cluster(
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
fn ready_now(root: &Path) -> Option<(PathBuf, u16)> {
    let pid = read_pid_file(&root.join("data"))?;
    let socket_dir = pid.socket_dir.unwrap_or_else(|| root.to_owned());
    let port = pid.port.unwrap_or(PORT);
    (pid.status == "ready" && socket_accepts(&socket_dir, port)).then_some((socket_dir, port))
}

enum Wait {
    Ready(PathBuf, u16),
    Gone,
    TimedOut,
}

/// Waits until the server accepts connections, or its `postmaster.pid` is gone, or [`TIMEOUT`].
fn wait_for_server(root: &Path) -> Wait {
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

fn not_ready(root: &Path) -> LocalError {
    LocalError::NotReady {
        root: root.to_owned(),
        details: log_tail(&root.join(LOG_FILE)),
    }
}

#[derive(PartialEq, Eq)]
enum Status {
    Running,
    Stopped,
}

/// `pg_ctl status`: 0 running, 3 not running, 4 no (accessible) data directory.
fn server_status(bin: &Path, user: Option<&ServerUser>, root: &Path) -> Result<Status, LocalError> {
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
fn start_server(
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
fn stop_server(bin: &Path, user: Option<&ServerUser>, root: &Path) -> Result<(), LocalError> {
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

/// Serializes work on one managed instance across processes; released when the file is dropped.
fn lock_dir(dir: &Path) -> Result<fs::File, LocalError> {
    let path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error("cannot open the lock file", &path))?;
    file.lock().map_err(io_error("cannot lock", &path))?;
    Ok(file)
}

/// The root recorded in `dir/location` by an earlier run, if any.
fn recorded_location(dir: &Path) -> Result<Option<PathBuf>, LocalError> {
    let path = dir.join("location");
    match fs::read_to_string(&path) {
        Ok(text) => {
            let root = PathBuf::from(text.trim());
            if root.is_absolute() {
                Ok(Some(root))
            } else {
                Err(LocalError::Unusable(format!(
                    "`{}` should hold the absolute path of the local cluster, not {:?}: fix or remove it",
                    path.display(),
                    text.trim()
                )))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("cannot read", &path)(e)),
    }
}

/// 64-bit FNV-1a: a short, stable name for a directory.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where a managed instance lives when its own directory cannot hold it: under the server user's home
/// (persistent, e.g. `/var/lib/postgresql`) when we are root and it is usable, else under `/var/tmp`.
fn fallback_root(dir: &Path, user: Option<&ServerUser>) -> PathBuf {
    let name = format!("ele-postgres-{:016x}", fnv1a(dir.as_os_str().as_bytes()));
    if let Some(user) = user {
        let home_ok = fs::metadata(&user.home).is_ok_and(|m| m.is_dir() && m.uid() == user.uid);
        let root = user.home.join(&name);
        if home_ok && usable_root(&root) && traversable_by(&user.home, Some(user)) {
            return root;
        }
    }
    Path::new("/var/tmp").join(name)
}

/// Creates `root` for the server user, or checks that an existing one belongs to it.
fn ensure_root_dir(root: &Path, user: Option<&ServerUser>) -> Result<(), LocalError> {
    match fs::create_dir(root) {
        Ok(()) => claim(root, user),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = fs::metadata(root).map_err(io_error("cannot inspect", root))?;
            let uid = owner_uid(user);
            if meta.is_dir() && meta.uid() == uid {
                Ok(())
            } else {
                Err(LocalError::Unusable(format!(
                    "`{}` should be a directory of uid {uid} (the user that runs the local cluster) but is not: \
                     remove it",
                    root.display()
                )))
            }
        }
        Err(e) => Err(io_error("cannot create the cluster directory", root)(e)),
    }
}

/// The root directory of the managed instance for `dir` (canonical), created if needed.
fn managed_root(dir: &Path, user: Option<&ServerUser>) -> Result<PathBuf, LocalError> {
    if let Some(root) = recorded_location(dir)? {
        ensure_root_dir(&root, user)?;
        return Ok(root);
    }
    if dir.join("data").exists() {
        return Ok(dir.to_owned());
    }
    if usable_root(dir)
        && dir
            .parent()
            .is_none_or(|parent| traversable_by(parent, user))
    {
        claim(dir, user)?;
        return Ok(dir.to_owned());
    }
    let root = fallback_root(dir, user);
    tracing::info!(
        dir = %dir.display(),
        cluster = %root.display(),
        "the local PostgreSQL directory is unreachable for the server user or too long for a socket path; \
         keeping the cluster elsewhere"
    );
    ensure_root_dir(&root, user)?;
    let location = dir.join("location");
    fs::write(&location, format!("{}\n", root.display()))
        .map_err(io_error("cannot write", &location))?;
    Ok(root)
}

/// The root of an existing managed instance for `dir` (canonical), without creating anything.
fn existing_managed_root(dir: &Path) -> Result<PathBuf, LocalError> {
    Ok(recorded_location(dir)?.unwrap_or_else(|| dir.to_owned()))
}

/// A throwaway cluster's cleanup state.
#[derive(Debug)]
struct Temporary {
    stopped: AtomicBool,
    /// A shell, in its own process group, blocked reading a pipe only we hold: when this process dies in any
    /// way the pipe closes and it stops the server and removes the directory.
    watchdog: Mutex<Option<Child>>,
}

/// A running cluster listening on a unix socket only (`listen_addresses = ''`), superuser `postgres`, trust
/// authentication.
#[derive(Debug)]
pub struct LocalCluster {
    root: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    bin: PathBuf,
    user: Option<ServerUser>,
    temporary: Option<Temporary>,
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where throwaway clusters go: the temp dir when the server user can reach it and it is short, else `/tmp`.
fn temp_base(user: Option<&ServerUser>) -> PathBuf {
    let dir = std::env::temp_dir();
    let dir = fs::canonicalize(&dir).unwrap_or(dir);
    let longest = dir.join(format!("ele-pg-{}-{}-{:x}", u32::MAX, u32::MAX, u32::MAX));
    if usable_root(&longest) && traversable_by(&dir, user) {
        dir
    } else {
        PathBuf::from("/tmp")
    }
}

fn create_temp_root(user: Option<&ServerUser>) -> Result<PathBuf, LocalError> {
    let base = temp_base(user);
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root = base.join(format!("ele-pg-{pid}-{n}-{nanos:x}"));
        match fs::create_dir(&root) {
            Ok(()) => {
                if let Err(e) = claim(&root, user) {
                    let _ = fs::remove_dir_all(&root);
                    return Err(e);
                }
                return Ok(root);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1_000_000 => continue,
            Err(e) => return Err(io_error("cannot create a temporary directory", &root)(e)),
        }
    }
}

impl LocalCluster {
    /// Throwaway cluster in a fresh temp dir with `fsync`, `synchronous_commit` and `full_page_writes` off;
    /// stopped (fast shutdown, waited for) and its directory removed on drop. See also
    /// [`stop_on_exit`](Self::stop_on_exit); if the process is killed, a watchdog process cleans up.
    pub fn start_temporary() -> Result<LocalCluster, LocalError> {
        let bin = find_server_binaries()?;
        let user = server_user()?;
        let root = create_temp_root(user.as_ref())?;
        // From here on, dropping `cluster` (on any error too) stops what was started and removes `root`.
        let mut cluster = LocalCluster {
            socket_dir: root.clone(),
            root,
            port: PORT,
            bin,
            user,
            temporary: Some(Temporary {
                stopped: AtomicBool::new(false),
                watchdog: Mutex::new(None),
            }),
        };
        let user = cluster.user.as_ref();
        init_cluster(&cluster.bin, user, &cluster.root, Durability::Throwaway)?;
        cluster.spawn_watchdog();
        let (socket_dir, port) = start_server(&cluster.bin, user, &cluster.root)?;
        cluster.socket_dir = socket_dir;
        cluster.port = port;
        tracing::debug!(dir = %cluster.root.display(), "started a throwaway PostgreSQL cluster");
        Ok(cluster)
    }

    /// Managed persistent instance rooted at `dir` (normally `<cwd>/.ele/postgres`): created (initdb) on first
    /// use, started if not running, reused if already running, left running when this value is dropped.
    /// Durable settings. As root, if the `postgres` user cannot reach `dir` (or its path is too long for a
    /// socket), the cluster lives under that user's home or `/var/tmp`, recorded in `dir/location`.
    pub fn ensure_managed(dir: &Path) -> Result<LocalCluster, LocalError> {
        fs::create_dir_all(dir).map_err(io_error(
            "cannot create the local PostgreSQL directory",
            dir,
        ))?;
        let dir = fs::canonicalize(dir).map_err(io_error("cannot resolve", dir))?;
        let _lock = lock_dir(&dir)?;
        let bin = find_server_binaries()?;
        let user = server_user()?;
        let root = managed_root(&dir, user.as_ref())?;
        if !root.join("data").exists() {
            tracing::info!(dir = %root.display(), "creating the local PostgreSQL instance");
            init_cluster(&bin, user.as_ref(), &root, Durability::Durable)?;
        }
        let (socket_dir, port) = match ready_now(&root) {
            Some(ready) => ready,
            None => match server_status(&bin, user.as_ref(), &root)? {
                Status::Running => match wait_for_server(&root) {
                    Wait::Ready(socket_dir, port) => (socket_dir, port),
                    Wait::Gone => start_server(&bin, user.as_ref(), &root)?,
                    Wait::TimedOut => return Err(not_ready(&root)),
                },
                Status::Stopped => {
                    tracing::info!(dir = %root.display(), "starting the local PostgreSQL instance");
                    start_server(&bin, user.as_ref(), &root)?
                }
            },
        };
        Ok(LocalCluster {
            root,
            socket_dir,
            port,
            bin,
            user,
            temporary: None,
        })
    }

    /// Stops the managed instance at `dir` if it runs (fast shutdown, waited for); `Ok(false)` if it was not
    /// running or does not exist.
    pub fn stop_managed(dir: &Path) -> Result<bool, LocalError> {
        if !dir.is_dir() {
            return Ok(false);
        }
        let dir = fs::canonicalize(dir).map_err(io_error("cannot resolve", dir))?;
        let _lock = lock_dir(&dir)?;
        let root = existing_managed_root(&dir)?;
        if !root.join("data").join("postmaster.pid").exists() {
            return Ok(false);
        }
        let bin = find_server_binaries()?;
        let user = server_user()?;
        if server_status(&bin, user.as_ref(), &root)? == Status::Stopped {
            return Ok(false);
        }
        stop_server(&bin, user.as_ref(), &root)?;
        Ok(true)
    }

    /// Leaks a throwaway cluster into a `'static` reference (for a `static OnceLock`) and stops it and removes
    /// its directory when the process exits normally (`atexit`), e.g. at the end of a test binary, even after
    /// failed tests. A managed cluster is just leaked.
    pub fn stop_on_exit(self) -> &'static LocalCluster {
        let cluster: &'static LocalCluster = Box::leak(Box::new(self));
        if cluster.temporary.is_some() {
            static REGISTER: Once = Once::new();
            REGISTER.call_once(register_at_exit);
            AT_EXIT
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(cluster);
        }
        cluster
    }

    /// The socket directory (the `host` to connect to).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The port (names the socket file in [`socket_dir`](Self::socket_dir)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.root.join(LOG_FILE)
    }

    /// libpq key/value connection string for tokio-postgres:
    /// `host=<socket dir> port=<port> user=postgres dbname=<database>`.
    pub fn connection_string(&self, database: &str) -> String {
        format!(
            "host={} port={} user={SERVER_USER} dbname={}",
            conninfo_value(&self.socket_dir.to_string_lossy()),
            self.port,
            conninfo_value(database)
        )
    }

    /// The command a person runs to open it: `psql -h <socket dir> -p <port> -U postgres <database>`.
    pub fn psql_command(&self, database: &str) -> String {
        format!(
            "psql -h {} -p {} -U {SERVER_USER} {}",
            shell_quote(&self.socket_dir.to_string_lossy()),
            self.port,
            shell_quote(database)
        )
    }

    /// Creates database `name` (quoted as an identifier) unless it exists, connecting to database `postgres`.
    /// Runs inside a Tokio runtime (the connection is driven by a spawned task).
    pub async fn create_database(&self, name: &str) -> Result<(), LocalError> {
        let sql_error = |what: &str, e: tokio_postgres::Error| LocalError::Sql {
            what: what.to_owned(),
            socket_dir: self.socket_dir.clone(),
            message: super::classify::describe(&e),
        };
        let (client, connection) =
            tokio_postgres::connect(&self.connection_string("postgres"), NoTls)
                .await
                .map_err(|e| sql_error("connecting to database `postgres`", e))?;
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "local cluster connection closed with an error");
            }
        });
        let exists = "SELECT 1 FROM pg_database WHERE datname = $1";
        let what = format!("creating database {}", quote_ident(name));
        let result = async {
            if client
                .query_opt(exists, &[&name])
                .await
                .map_err(|e| sql_error(&what, e))?
                .is_some()
            {
                return Ok(());
            }
            match client
                .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
                .await
            {
                Ok(()) => Ok(()),
                // Created concurrently by someone else.
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
                Err(e) => match client.query_opt(exists, &[&name]).await {
                    Ok(Some(_)) => Ok(()),
                    _ => Err(sql_error(&what, e)),
                },
            }
        }
        .await;
        drop(client);
        let _ = connection.await;
        result
    }

    fn spawn_watchdog(&self) {
        let script = r#"read -r _; "$1" -D "$2" -m fast -w stop >/dev/null 2>&1; rm -rf -- "$3""#;
        let mut cmd = command(Path::new("/bin/sh"), self.user.as_ref());
        cmd.arg("-c")
            .arg(script)
            .arg("ele-postgres-watchdog")
            .arg(self.bin.join("pg_ctl"))
            .arg(self.root.join("data"))
            .arg(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Not in our process group: a Ctrl-C on the terminal must not kill it before it cleans up.
            .process_group(0);
        match cmd.spawn() {
            Ok(child) => {
                if let Some(temporary) = &self.temporary {
                    *temporary
                        .watchdog
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(child);
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot start the watchdog of the throwaway PostgreSQL cluster; it will outlive a killed process"
            ),
        }
    }

    /// Stops a throwaway cluster and removes its directory, once; does nothing for a managed one.
    fn shutdown(&self) {
        let Some(temporary) = &self.temporary else {
            return;
        };
        if temporary.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(mut watchdog) = temporary
            .watchdog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if self.root.join("data").join("postmaster.pid").exists()
            && let Err(e) = stop_server(&self.bin, self.user.as_ref(), &self.root)
        {
            tracing::warn!(error = %e, "cannot stop the throwaway PostgreSQL cluster");
        }
        if let Err(e) = remove_if_exists(&self.root) {
            tracing::warn!(error = %e, "cannot remove the throwaway PostgreSQL cluster");
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Throwaway clusters to stop when the process exits.
static AT_EXIT: Mutex<Vec<&'static LocalCluster>> = Mutex::new(Vec::new());

extern "C" fn stop_clusters_at_exit() {
    // Unwinding out of an `extern "C"` function aborts: contain any panic.
    let _ = std::panic::catch_unwind(|| {
        let clusters = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner));
        for cluster in clusters {
            cluster.shutdown();
        }
    });
}

#[allow(unsafe_code)]
fn register_at_exit() {
    // SAFETY: atexit(3) only stores the function pointer; `stop_clusters_at_exit` is a plain `extern "C" fn()`
    // that never unwinds and only touches 'static data.
    let rc = unsafe { libc::atexit(stop_clusters_at_exit) };
    if rc != 0 {
        tracing::warn!("cannot register the exit handler that stops throwaway PostgreSQL clusters");
    }
}

/// Quotes an SQL identifier: `"` around it, inner `"` doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A libpq key/value value, single-quoted (with `\` escapes) when needed.
fn conninfo_value(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::io::BufRead;

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
}
