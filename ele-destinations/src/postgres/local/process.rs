//! Running the server tools: where the binaries are, which OS user runs them (the `postgres` user when we are
//! root, since initdb refuses root), and a failed command's output and server log quoted in the error.

use std::fs;
use std::io::{self, Read, Seek};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::error::LocalError;
use super::settings::{BIN_DIR_ENV, CLEARED_ENV, SERVER_USER, TAIL_LINES};
use super::sys::effective_uid;

/// Where the server binaries are: `$ELE_POSTGRES_BIN_DIR` when set, else `PATH`, then `pg_config --bindir`,
/// then the newest `/usr/lib/postgresql/*/bin`. The directory contains `initdb`, `pg_ctl` and `postgres`.
pub(super) fn find_server_binaries() -> Result<PathBuf, LocalError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_server_binaries(&dir) {
            Ok(dir)
        } else {
            Err(not_a_bin_dir(
                &dir,
                &format!("{BIN_DIR_ENV} names `{}`", dir.display()),
            ))
        };
    }
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

/// The error for a directory that was named as the server binaries' but does not hold them.
pub(super) fn not_a_bin_dir(dir: &Path, named: &str) -> LocalError {
    LocalError::Unusable(format!(
        "{named}, which should hold the PostgreSQL server binaries ({}) but does not: {}",
        SERVER_BINARIES.join(", "),
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() =>
                "name the `bin` directory of a PostgreSQL installation".to_owned(),
            Ok(_) => "it is not a directory".to_owned(),
            Err(e) => format!("{e}"),
        }
    ))
}

pub(super) fn has_server_binaries(dir: &Path) -> bool {
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
pub(super) fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The OS user the server tools run as when we are root.
#[derive(Clone, Debug)]
pub(super) struct ServerUser {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) home: PathBuf,
}

/// `None` when not root (the tools run as the current user), else the `postgres` user from /etc/passwd.
pub(super) fn server_user() -> Result<Option<ServerUser>, LocalError> {
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

/// A `Command` for a server tool, run as `user` from `/`, without libpq variables that would redirect it.
pub(super) fn command(program: &Path, user: Option<&ServerUser>) -> Command {
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
pub(super) fn shell_quote(word: &str) -> String {
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
pub(super) fn log_tail(log: &Path) -> String {
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
pub(super) fn output_of(
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

pub(super) fn command_failed(
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
pub(super) fn run(
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
