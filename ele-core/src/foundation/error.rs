//! The one error type of ele, classified by where a failure happened.

use std::path::PathBuf;

/// A boxed error from user code or a library ele calls.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with ele's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a pipeline run. Each variant names the place (resource, table, file, server)
/// so the message alone tells the user what happened and where.
#[derive(Debug, thiserror::Error)]
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
    /// Configuration is missing or invalid (pipeline, destination, hints).
    #[error("configuration error: {0}")]
    Config(String),
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
    /// out of range; the pipeline treats it as the normal end of the resource.
    #[error(
        "resource `{resource}` was closed: its remaining items are out of the incremental's range"
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

    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Destination {
                transient: true,
                ..
            }
        )
    }
}
