//! One error type for the library. Every error is either *transient* (the pipeline retries
//! from its last checkpoint with backoff) or *definite* (binlake stops and tells the operator
//! what to change).

use crate::position::BinlogPos;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),

    // The cause is part of the message (not a `#[source]`): printed as a chain it would
    // repeat the server's text.
    #[error("source {context}: {cause}")]
    Source { context: String, cause: mysql_async::Error },

    #[error("source is not ready for replication: {0}")]
    Preflight(String),

    #[error(
        "binlog position {position} is no longer on the server ({detail}); the binlog was purged before binlake read it. Re-snapshot: delete the state file (or use a new one) and run again, and raise binlog retention"
    )]
    BinlogPurged { position: String, detail: String },

    #[error("cannot decode {table} at {position}: {detail}")]
    Decode { table: String, position: BinlogPos, detail: String },

    #[error("cannot write {key}: {detail}")]
    Encode { key: String, detail: String },

    #[error("target {context}: {cause}")]
    Target { context: String, cause: object_store::Error },

    #[error("merged table: {context}: {cause}")]
    Lake { context: String, cause: deltalake_core::DeltaTableError },

    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("building Arrow data: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("state store: {0}")]
    State(#[from] sqlx::Error),

    #[error("state store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("{0}")]
    Lease(String),

    #[error("source connection lost: {0}")]
    Disconnected(String),

    /// A bug of binlake's: a task that panicked, a state it should never reach.
    #[error("internal error (a bug of binlake's; please report it): {0}")]
    Internal(String),
}

impl Error {
    pub fn source(context: impl Into<String>, source: mysql_async::Error) -> Self {
        Error::Source { context: context.into(), cause: source }
    }

    pub fn target(context: impl Into<String>, source: object_store::Error) -> Self {
        Error::Target { context: context.into(), cause: source }
    }

    /// Transient errors are retried from the last checkpoint; all others stop binlake.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Disconnected(_) => true,
            Error::Source { cause, .. } => match cause {
                mysql_async::Error::Io(_) => true,
                mysql_async::Error::Driver(_) => true,
                // 1053 server shutdown, 1152/1159/1160/1161 aborted connection or network
                // timeouts, 2013 lost connection, 1040 too many connections.
                mysql_async::Error::Server(e) => {
                    matches!(e.code, 1040 | 1053 | 1152 | 1159 | 1160 | 1161 | 2006 | 2013)
                }
                _ => false,
            },
            Error::Target { cause, .. } => !matches!(
                cause,
                object_store::Error::NotFound { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
                    | object_store::Error::NotSupported { .. }
            ),
            Error::Lake { cause, .. } => lake_error_is_transient(cause),
            _ => false,
        }
    }
}

/// Object-store failures of a merged table are retried like the target's; so is a commit that
/// lost a race (the next attempt starts from the new table version).
fn lake_error_is_transient(cause: &deltalake_core::DeltaTableError) -> bool {
    use deltalake_core::DeltaTableError as E;
    match cause {
        E::ObjectStore { source } => !matches!(
            source,
            object_store::Error::NotFound { .. }
                | object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ),
        E::VersionAlreadyExists(_) => true,
        E::Transaction { source } => matches!(
            source,
            deltalake_core::kernel::transaction::TransactionError::VersionAlreadyExists(_)
                | deltalake_core::kernel::transaction::TransactionError::ObjectStore { .. }
        ),
        _ => false,
    }
}
