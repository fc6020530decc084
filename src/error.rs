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
        "binlog position {position} is no longer on the server ({detail}); the binlog was purged before binlake read it. Run `binlake reload --all` (same --state) to load every table anew from a new snapshot beside its files, then start binlake again (--on-binlog-purged reload does this by itself); and raise binlog retention"
    )]
    BinlogPurged { position: String, detail: String },

    #[error("cannot decode {table} at {position}: {detail}")]
    Decode { table: String, position: BinlogPos, detail: String },

    #[error("cannot decode the row of {table} with key {key} in the full load: {detail}")]
    SnapshotDecode { table: String, key: String, detail: String },

    /// Rows of replicated tables changed in a way the binlog's rows do not show; `way_out`
    /// names the reload that gets past it.
    #[error("{what}, at {position}; binlake stopped before it. {way_out}")]
    MustReload { what: String, position: BinlogPos, way_out: String },

    /// `detail` names the column.
    #[error("cannot write the row of {table} at binlog position {position} to {file}: {detail}")]
    Encode { table: String, position: BinlogPos, file: String, detail: String },

    #[error("cannot write a row of the merged table {url}: column {column}: {detail}")]
    MergedEncode { url: String, column: String, detail: String },

    #[error("cannot read {key}: {detail}")]
    Read { key: String, detail: String },

    #[error("target {context}: {cause}")]
    Target { context: String, cause: object_store::Error },

    #[error("merged table: {context}: {cause}")]
    Lake { context: String, cause: deltalake_core::DeltaTableError },

    // These causes are part of the message and not `#[source]`s, for the same reason: printed
    // as a chain they would repeat their own causes' text.
    #[error("writing Parquet: {0}")]
    Parquet(parquet::errors::ParquetError),

    #[error("building Arrow data: {0}")]
    Arrow(arrow::error::ArrowError),

    #[error("state store: {0}")]
    State(sqlx::Error),

    #[error("state store migration: {0}")]
    Migrate(sqlx::migrate::MigrateError),

    #[error("{0}")]
    Lease(String),

    /// Something else owns what binlake was asked to write (a merged table of another state
    /// store); the message says how to resolve it.
    #[error("conflict: {0}")]
    Conflict(String),

    #[error("source connection lost: {0}")]
    Disconnected(String),

    /// A bug of binlake's: a task that panicked, a state it should never reach.
    #[error("internal error (a bug of binlake's; please report it): {0}")]
    Internal(String),
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Parquet(e)
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Arrow(e)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::State(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(e)
    }
}

impl Error {
    pub fn source(context: impl Into<String>, source: mysql_async::Error) -> Self {
        Error::Source { context: context.into(), cause: source }
    }

    pub fn target(context: impl Into<String>, source: object_store::Error) -> Self {
        Error::Target { context: context.into(), cause: source }
    }

    /// Transient errors are retried from the last checkpoint; all others stop binlake. Every
    /// variant is named, so a new one is classified where it is added.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Disconnected(_) => true,
            Error::Source { cause, .. } => match cause {
                mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => true,
                // 1053 server shutdown, 1152/1159/1160/1161 aborted connection or network
                // timeouts, 2013 lost connection, 1040 too many connections.
                mysql_async::Error::Server(e) => {
                    matches!(e.code, 1040 | 1053 | 1152 | 1159 | 1160 | 1161 | 2006 | 2013)
                }
                mysql_async::Error::Other(_) | mysql_async::Error::Url(_) => false,
            },
            Error::Target { cause, .. } => object_store_error_is_transient(cause),
            Error::Lake { cause, .. } => crate::merge::delta::error_is_transient(cause),
            // A networked state store comes back; SQLite reports its own I/O errors the same way.
            Error::State(cause) => matches!(cause, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut),
            Error::Config(_)
            | Error::Preflight(_)
            | Error::BinlogPurged { .. }
            | Error::Decode { .. }
            | Error::SnapshotDecode { .. }
            | Error::MustReload { .. }
            | Error::Encode { .. }
            | Error::MergedEncode { .. }
            | Error::Read { .. }
            | Error::Parquet(_)
            | Error::Arrow(_)
            | Error::Migrate(_)
            | Error::Lease(_)
            | Error::Conflict(_)
            | Error::Internal(_) => false,
        }
    }
}

/// The object-store failure under a Parquet reader's error, when that is what it is (an S3
/// outage while a file is read): it is classified as the store's errors are, not as a bad file.
pub(crate) fn object_store_cause(e: parquet::errors::ParquetError) -> Result<object_store::Error, parquet::errors::ParquetError> {
    match e {
        parquet::errors::ParquetError::External(cause) => match cause.downcast::<object_store::Error>() {
            Ok(cause) => Ok(*cause),
            Err(other) => Err(parquet::errors::ParquetError::External(other)),
        },
        other => Err(other),
    }
}

/// Object-store failures are worth retrying except those that never heal by themselves.
pub(crate) fn object_store_error_is_transient(cause: &object_store::Error) -> bool {
    !matches!(
        cause,
        object_store::Error::NotFound { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::NotSupported { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant, with a cause that has causes of its own where the variant
    /// carries one. The match below names every variant, so a new one must be added here.
    fn every_variant() -> Vec<Error> {
        let io = || std::io::Error::other("connection reset by peer");
        let all = vec![
            Error::Config("--target is required".into()),
            Error::source("connecting to db:3306", mysql_async::Error::Io(mysql_async::IoError::Io(io()))),
            Error::Preflight("binlog_format is STATEMENT".into()),
            Error::BinlogPurged { position: "mysql-bin.000001:4".into(), detail: "Could not find first log file name".into() },
            Error::Decode { table: "shop.orders".into(), position: BinlogPos::new("mysql-bin.000001", 4), detail: "bad length".into() },
            Error::SnapshotDecode { table: "shop.orders".into(), key: "(Int(1))".into(), detail: "column d: bad date".into() },
            Error::MustReload {
                what: "a statement logged in statement format (UPDATE t SET a = 1) changed shop.t".into(),
                position: BinlogPos::new("mysql-bin.000001", 4),
                way_out: "Run `binlake reload shop.t`".into(),
            },
            Error::Encode {
                table: "shop.orders".into(),
                position: BinlogPos::new("mysql-bin.000001", 4),
                file: "shop/orders/LOAD00000001.parquet".into(),
                detail: "column price: value out of range".into(),
            },
            Error::MergedEncode { url: "file:///lake/shop/orders".into(), column: "price".into(), detail: "value out of range".into() },
            Error::Read { key: "shop/orders/LOAD00000001.parquet".into(), detail: "not Parquet".into() },
            Error::target("uploading k", object_store::Error::Generic { store: "S3", source: Box::new(io()) }),
            Error::Lake {
                context: "opening t".into(),
                cause: deltalake_core::DeltaTableError::ObjectStore {
                    source: object_store::Error::Generic { store: "S3", source: Box::new(io()) },
                },
            },
            Error::Parquet(parquet::errors::ParquetError::External(Box::new(io()))),
            Error::Arrow(arrow::error::ArrowError::ExternalError(Box::new(io()))),
            Error::State(sqlx::Error::Io(io())),
            Error::Migrate(sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(io()))),
            Error::Lease("another binlake holds the lease".into()),
            Error::Conflict("another state store merges into t".into()),
            Error::Disconnected("no event for 30 s".into()),
            Error::Internal("the merger task failed".into()),
        ];
        for e in &all {
            match e {
                Error::Config(_)
                | Error::Source { .. }
                | Error::Preflight(_)
                | Error::BinlogPurged { .. }
                | Error::Decode { .. }
                | Error::SnapshotDecode { .. }
                | Error::MustReload { .. }
                | Error::Encode { .. }
                | Error::MergedEncode { .. }
                | Error::Read { .. }
                | Error::Target { .. }
                | Error::Lake { .. }
                | Error::Parquet(_)
                | Error::Arrow(_)
                | Error::State(_)
                | Error::Migrate(_)
                | Error::Lease(_)
                | Error::Conflict(_)
                | Error::Disconnected(_)
                | Error::Internal(_) => {}
            }
        }
        all
    }

    /// The texts of an error and of every cause under it.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        std::iter::successors(Some(e), |e| e.source()).map(|e| e.to_string()).collect()
    }

    #[test]
    fn every_message_says_its_cause_once() {
        for e in every_variant() {
            // As binlake prints it: the error and its sources on one line.
            let line = chain(&e).join(": ");
            let cause: Option<&dyn std::error::Error> = match &e {
                Error::Source { cause, .. } => Some(cause),
                Error::Target { cause, .. } => Some(cause),
                Error::Lake { cause, .. } => Some(cause),
                Error::Parquet(cause) => Some(cause),
                Error::Arrow(cause) => Some(cause),
                Error::State(cause) => Some(cause),
                Error::Migrate(cause) => Some(cause),
                _ => None,
            };
            let deepest = cause.map(chain).and_then(|c| c.last().cloned()).unwrap_or_default();
            assert_eq!(line.matches("connection reset by peer").count(), usize::from(cause.is_some()), "{line}");
            if !deepest.is_empty() {
                assert_eq!(line.matches(deepest.as_str()).count(), 1, "the cause repeats: {line}");
            }
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn an_outage_while_a_file_is_read_is_the_store_s_error() {
        let outage = object_store::Error::Generic { store: "S3", source: Box::new(std::io::Error::other("connection refused")) };
        let cause = object_store_cause(parquet::errors::ParquetError::External(Box::new(outage))).unwrap();
        assert!(Error::target("reading k", cause).is_transient());
        assert!(object_store_cause(parquet::errors::ParquetError::General("bad magic".into())).is_err());
    }

    #[test]
    fn a_state_store_that_is_unreachable_for_a_while_is_retried() {
        assert!(Error::State(sqlx::Error::PoolTimedOut).is_transient());
        assert!(Error::State(sqlx::Error::Io(std::io::Error::other("connection reset"))).is_transient());
        assert!(!Error::State(sqlx::Error::RowNotFound).is_transient());
        assert!(!Error::Internal("a task panicked".into()).is_transient());
        assert!(!Error::Conflict("another state store merges into it".into()).is_transient());
    }
}
