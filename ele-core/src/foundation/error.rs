//! The one error type of ele, classified by where a failure happened.

use std::path::PathBuf;

/// A boxed error from user code or a library ele calls.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with ele's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a pipeline run. Each variant names the place (resource, table, file, server)
/// so the message alone tells the user what happened and where.
///
/// `Debug` prints the message and its causes as text, so `fn main() -> ele::Result<()>` reads well.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The user's resource returned an error or panicked while producing items.
    #[error("resource `{resource}` failed: {source}")]
    Resource {
        /// Name of the resource.
        resource: String,
        /// What the resource reported.
        #[source]
        source: BoxError,
    },
    /// An item could not be turned into rows (not an object, missing primary key, unserializable value, ...).
    #[error("resource `{resource}`, table `{table}`: {message}")]
    Item {
        /// Name of the resource that produced the item.
        resource: String,
        /// Table the item was going to.
        table: String,
        /// What is wrong with the item.
        message: String,
    },
    /// A schema contract in `freeze` mode forbids a change the data asks for; nothing of the run was loaded.
    #[error(
        "schema contract: resource `{resource}`, table `{table}`{}: {message}",
        column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default()
    )]
    Contract {
        /// Name of the resource that produced the item.
        resource: String,
        /// The table that would change (or be created).
        table: String,
        /// The column that would be created, for `columns` and `data_type`.
        column: Option<String>,
        /// What is forbidden, and where the value is in the item.
        message: String,
    },
    /// Configuration is missing or invalid (pipeline, destination, hints, credentials, TLS settings): running
    /// again without changing it fails the same way.
    #[error("configuration error: {0}")]
    Config(String),
    /// Input data cannot be read: a line of a file that is not JSON, an unreadable input. The message names the
    /// file and the line.
    #[error("bad input: {0}")]
    Input(String),
    /// Another run holds what this one needs (the pipeline lock) and did not let go in time: try again later.
    #[error("{0}")]
    Busy(String),
    /// Something ele did not expect of itself (a worker that panicked, a package that contradicts its manifest).
    #[error("internal error: {0}; please report it")]
    Internal(String),
    /// The destination failed; the message names the server, the statement or table, and what to check.
    #[error("destination error: {message}")]
    Destination {
        /// What failed and what to check.
        message: String,
        /// Whether a retry may succeed (connection lost, server restarting).
        transient: bool,
        /// The underlying driver error.
        #[source]
        source: Option<BoxError>,
    },
    /// An HTTP API a resource reads failed (`ele::http`): the message names the method, the URL (without
    /// secrets), the status and the start of the response body.
    #[error("http error: {message}")]
    Http {
        /// What failed, where, and what the server said.
        message: String,
        /// The response status, when there was a response.
        status: Option<u16>,
        /// Whether a later retry may succeed (connection errors, timeouts, 429 and 5xx once the retries ran out).
        transient: bool,
        /// The underlying client error (without its URL).
        #[source]
        source: Option<BoxError>,
    },
    /// Reading or writing the pipeline working directory or a load package failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What ele was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A stored state, schema or package file is not what ele wrote.
    #[error("corrupt {what} `{}`: {message}", path.display())]
    Corrupt {
        /// Which kind of file.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Returned by `Emit::send` when an incremental with a declared `row_order` knows the remaining items are
    /// out of range, or the resource's limit is reached; the pipeline treats it as the normal end of the
    /// resource.
    #[error(
        "resource `{resource}` was closed: its remaining items are out of the incremental's range or past its limit"
    )]
    Closed {
        /// Name of the resource.
        resource: String,
    },
    /// Another run of the same pipeline committed a newer state while this one ran: this run's package is
    /// discarded (loading it could load an increment twice); run again to continue from the committed state.
    #[error(
        "pipeline `{pipeline}` was run concurrently: state version {committed} was committed while this run (which would write version {this_run}) was in progress; nothing of this run was committed, run it again"
    )]
    StateConflict {
        /// The pipeline.
        pipeline: String,
        /// The newest committed state version.
        committed: u64,
        /// The version this run would have written.
        this_run: u64,
    },
    /// Serializing an item or a state value failed.
    #[error("serialization failed: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// An error from user code inside a resource, e.g. `Err(Error::resource("events", e))`.
    pub fn resource(resource: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Resource {
            resource: resource.into(),
            source: source.into(),
        }
    }

    /// A configuration error with the given message.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    /// An input error with the given message (naming the file and the line).
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }

    /// An internal error: something that should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// An I/O error on `path` while doing `action` ("cannot write", "cannot read", ...).
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A permanent destination error.
    pub fn destination(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Destination {
            message: message.into(),
            transient: false,
            source,
        }
    }

    /// Whether retrying the same operation may succeed: the destination or a source's HTTP API was unreachable
    /// or failed transiently, or another run of the pipeline committed first or holds its lock.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.cause(),
            Error::Destination {
                transient: true,
                ..
            } | Error::Http {
                transient: true,
                ..
            } | Error::StateConflict { .. }
                | Error::Busy(_)
        )
    }

    /// Whether the error is in the configuration or the invocation (settings, credentials, TLS, arguments): the
    /// same run fails the same way until they are changed. An HTTP API refusing the credentials (401, 403, 407)
    /// is one.
    pub fn is_config(&self) -> bool {
        matches!(
            self.cause(),
            Error::Config(_)
                | Error::Http {
                    status: Some(401 | 403 | 407),
                    ..
                }
        )
    }

    /// The error a resource failed with when it is one of ele's (its class is the run's), else `self`.
    fn cause(&self) -> &Error {
        match self {
            Error::Resource { source, .. } => source
                .downcast_ref::<Error>()
                .map_or(self, |inner| inner.cause()),
            other => other,
        }
    }
}

impl Error {
    /// The causes of the error that its message does not already say, outermost first.
    pub fn untold_causes(&self) -> Vec<String> {
        let message = self.to_string();
        let mut causes: Vec<String> = Vec::new();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            // A driver's rendering of a server error the message already quotes (`db error: ERROR: ...`).
            let core = ["db error: ", "ERROR: ", "FATAL: "]
                .iter()
                .fold(text.as_str(), |t, prefix| {
                    t.strip_prefix(prefix).unwrap_or(t)
                });
            let says_nothing = core == "db error";
            if !says_nothing && !message.contains(core) && !causes.contains(&text) {
                causes.push(text);
            }
            source = cause.source();
        }
        causes
    }

    /// The message and the causes it does not already say, on one line: `message: cause: cause`.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        for cause in self.untold_causes() {
            text.push_str(": ");
            text.push_str(&cause);
        }
        text
    }
}

impl std::fmt::Debug for Error {
    /// The message, then each cause not already part of it, one a line (`Caused by:`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let causes = self.untold_causes();
        if !causes.is_empty() {
            write!(f, "\n\nCaused by:")?;
            for (i, cause) in causes.iter().enumerate() {
                write!(f, "\n    {i}: {cause}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_reads_like_the_message_with_its_causes() {
        let error = Error::resource(
            "events",
            std::io::Error::new(std::io::ErrorKind::TimedOut, "the API timed out"),
        );
        assert_eq!(
            format!("{error:?}"),
            "resource `events` failed: the API timed out"
        );
        let error = Error::io(
            "cannot read",
            "/data/events.jsonl",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        );
        assert_eq!(
            format!("{error:?}"),
            "cannot read `/data/events.jsonl`: no such file"
        );
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Error::destination(
            "loading `events` failed",
            Some(Box::new(Outer(std::io::Error::other("connection reset")))),
        );
        assert_eq!(
            format!("{error:?}"),
            "destination error: loading `events` failed\n\nCaused by:\n    0: outer\n    1: connection reset"
        );
        assert_eq!(
            format!("{:?}", Error::config("no destination")),
            "configuration error: no destination"
        );
    }

    #[test]
    fn a_resource_failing_with_an_error_of_ele_has_its_class() {
        let config = Error::resource("events", Error::config("no cursor"));
        assert!(config.is_config() && !config.is_transient());
        let busy = Error::resource("events", Error::Busy("locked".into()));
        assert!(busy.is_transient() && !busy.is_config());
        let own = Error::resource("events", std::io::Error::other("HTTP 500"));
        assert!(!own.is_transient() && !own.is_config());
    }
}
