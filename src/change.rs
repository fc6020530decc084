//! What the source emits: row changes inside transactions, in binlog order.

use std::sync::Arc;

use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::value::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    /// DMS's `Op` column value.
    pub fn code(self) -> &'static str {
        match self {
            Op::Insert => "I",
            Op::Update => "U",
            Op::Delete => "D",
        }
    }
}

/// One row change: the after image for inserts and updates, the before image for deletes.
#[derive(Debug, Clone)]
pub struct Change {
    pub table: Arc<TableSchema>,
    pub op: Op,
    pub row: Vec<Cell>,
    /// For an update that changed the primary key, the before image (the row under its old
    /// key); `None` otherwise.
    pub moved_from: Option<Vec<Cell>>,
}

/// What the binlog reader hands to the pipeline. Transactions are streamed, not buffered:
/// their rows arrive as `Row` items and the transaction is whole once `Commit` arrives.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// A row change of a selected table. `at` is the end of the event that carried it, which
    /// lies inside its transaction.
    Row { change: Change, at: BinlogPos },
    /// The transaction ended at `end`; `commit_ts` is the server's commit time (seconds).
    Commit { end: BinlogPos, commit_ts: u32, gtid: Option<String> },
    /// A statement outside a transaction (DDL and the like) from `start` to `end`; `database`
    /// is the default database it ran in.
    Statement { start: BinlogPos, end: BinlogPos, query: String, database: String },
    /// A data-changing statement logged as text (a session with binlog_format=STATEMENT or
    /// MIXED), ending at `at` inside its transaction: the rows it changed are not in the binlog.
    StatementRows { at: BinlogPos, query: String, database: String },
    /// The TABLE_MAP of a replicated table ending at `at` does not match binlake's schema of
    /// the table (a schema change binlake did not see): its rows from here are not decoded.
    SchemaDrift { table: TableId, at: BinlogPos, detail: String },
    /// The server is alive and has nothing newer than `at` (or nothing at all when `None`).
    Heartbeat { at: Option<BinlogPos> },
}
