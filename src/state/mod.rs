//! The state store: the lease, the checkpoint, per-table progress, the file manifest, the
//! schema history and the merger's progress. This module holds the types and the contract
//! every backend keeps ([`StateStore`]); `sqlite.rs` is the embedded backend, `lease.rs` the
//! one-writer rule built on the contract's lease operations.
//!
//! The contract, for every backend:
//! - Each operation is atomic: it happens whole or not at all.
//! - The two commit operations ([`StateStore::commit_load`], [`StateStore::commit_cdc`]) are
//!   the pipeline's commit point: one transaction that marks the files committed, records what
//!   they complete, and proves in the same transaction that this process still holds the
//!   lease (fencing), so two binlakes on one state can never both commit.
//! - A file is recorded as pending before its upload starts; only a commit makes it part of the
//!   manifest. Pending files are what a crash can leave behind, and recovery deletes them.
//! - Manifest order and CDC names only go forward: the sequence of files (their commit order)
//!   and the last CDC name issued per table never decrease, also across deleted pending files.

mod lease;
mod sqlite;

use std::future::Future;

pub use self::lease::{LEASE_TTL, Lease};
/// The one backend so far; a second makes this an enum over them.
pub use self::sqlite::SqliteStore as Store;
use crate::error::Result;
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::source::chunks::{ChunkKey, Key, KeyRange};

/// Where a table is in its life: being loaded (the next run loads it from a new snapshot),
/// streaming, or gone from the source (its files stop at the statement that dropped it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum Phase {
    Loading,
    Streaming,
    Dropped,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Phase::Loading => "loading",
            Phase::Streaming => "streaming",
            Phase::Dropped => "dropped",
        })
    }
}

/// A full-load file or a change file, as DMS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "UPPERCASE")]
pub enum FileKind {
    Load,
    Cdc,
}

/// Where streaming resumes: a transaction boundary whose earlier changes are all in committed
/// files.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub position: BinlogPos,
    /// MariaDB's GTID position there (every domain), to resume on a server with other files.
    pub gtid: Option<String>,
    pub committed_at: String,
}

#[derive(Debug, Clone)]
pub struct TableState {
    pub id: TableId,
    pub phase: Phase,
    /// The LOAD files hold the table as of this position; for a load in chunks, the oldest
    /// chunk's, each chunk holding its key range as of its own position.
    pub snapshot: Option<BinlogPos>,
    pub rows_loaded: i64,
    pub load_files: i64,
    pub cdc_files: i64,
    pub cdc_rows: i64,
    pub last_commit_at: Option<String>,
    /// The binlog position the table's committed files are complete up to.
    pub last_position: Option<BinlogPos>,
}

/// A file closed and durable on the target, about to be committed.
#[derive(Debug, Clone)]
pub struct ClosedFile {
    pub key: String,
    pub table: TableId,
    pub rows: u64,
    pub bytes: u64,
    pub first_position: Option<BinlogPos>,
    /// Rows that changed their primary key.
    pub key_moves: Vec<KeyMove>,
}

/// A row of a CDC file that changed its primary key: the file carries the new row only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMove {
    /// The row's number in the file, from 0.
    pub row: u64,
    /// The old key's cells, as JSON.
    pub old_key: String,
}

/// A committed file of the manifest.
#[derive(Debug, Clone)]
pub struct CommittedFile {
    /// Orders the files as they were committed.
    pub sequence: i64,
    pub key: String,
    pub kind: FileKind,
    /// The position the file is complete up to: a LOAD file's snapshot.
    pub last_position: Option<BinlogPos>,
    /// When it was committed.
    pub committed_at: Option<String>,
    /// The full load a LOAD file belongs to (none for files of releases before chunked loads:
    /// their full load is told by snapshot position and commit time).
    pub load_generation: Option<i64>,
}

/// A committed chunk of a table's full load: its LOAD rows are the rows of `range` as of
/// `position`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadChunk {
    pub range: KeyRange,
    pub position: BinlogPos,
    pub rows: u64,
    /// The table's columns as the chunk was read (see `source::chunks::columns_fingerprint`).
    pub columns: String,
    /// What `range` is a range of; `None` for chunks committed before binlake recorded it
    /// (see `ChunkKey::legacy`).
    pub key: Option<ChunkKey>,
}

/// A full load in progress, as `binlake status` shows it.
#[derive(Debug, Clone)]
pub struct LoadProgress {
    pub table: TableId,
    /// Chunks committed so far, by every run of this load.
    pub chunks: u64,
    /// The server's estimate of the table's rows when the load was planned, and the chunks
    /// that makes.
    pub estimated_rows: Option<u64>,
    pub estimated_chunks: Option<u64>,
    /// When its chunks were committed (RFC 3339) with their rows, oldest first: its rows so far
    /// are their sum.
    pub commits: Vec<(String, u64)>,
}

/// One entry of a table's schema history: its schema from `at` on (`None`: gone), and the
/// columns the change there renamed (old, new).
#[derive(Debug, Clone)]
pub struct SchemaAt {
    pub at: BinlogPos,
    pub schema: Option<TableSchema>,
    pub renamed: Vec<(String, String)>,
}

/// The merger's progress on one merged table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeProgress {
    /// The number of the last merge known to be committed (0 for none).
    pub number: i64,
    /// The last input file it covers (its order), and whether it was a LOAD file.
    pub through: Option<String>,
    pub through_load: bool,
    /// A merge recorded before its commit.
    pub pending: Option<PendingMerge>,
    /// The merged table holds merges this state store did not make (it has no progress for it).
    pub foreign: bool,
}

/// A merge recorded before its Delta commit; the table's own record tells whether it
/// committed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingMerge {
    pub number: i64,
    /// The last input file it covers (its order).
    pub through: String,
    pub through_load: bool,
}

/// A merged table's progress, as `binlake status` shows it.
#[derive(Debug, Clone)]
pub struct MergeRecord {
    pub table: TableId,
    pub url: String,
    pub merges: i64,
    pub input_files: i64,
    pub last_merge_at: Option<String>,
}

/// What every state backend does. Each operation is atomic; the commit operations also fence
/// (see the module's documentation).
pub trait StateStore {
    /// Takes the lease, or fails with [`crate::error::Error::Lease`] naming who holds it. A
    /// lease left by a dead process on this host is taken over at once; others expire after
    /// [`LEASE_TTL`]. Use [`Lease::acquire`], which keeps it renewed and gives it back.
    fn acquire_lease(&self) -> impl Future<Output = Result<()>> + Send;
    /// Extends the lease; fails if another process took it.
    fn renew_lease(&self) -> impl Future<Output = Result<()>> + Send;
    /// Gives the lease back, if this process holds it.
    fn release_lease(&self) -> impl Future<Output = Result<()>> + Send;

    /// The last committed checkpoint, if streaming ever committed.
    fn checkpoint(&self) -> impl Future<Output = Result<Option<Checkpoint>>> + Send;
    /// The first part of binlake's sequence column (0 before the first checkpoint).
    fn sequence_epoch(&self) -> impl Future<Output = Result<u32>> + Send;
    /// Raises the sequence epoch before streaming from positions that may be lower than the
    /// checkpoint's (a resume by GTID); returns the new epoch. Never decreases.
    fn raise_sequence_epoch(&self) -> impl Future<Output = Result<u32>> + Send;

    /// Every table's progress, by name.
    fn tables(&self) -> impl Future<Output = Result<Vec<TableState>>> + Send;
    /// The full load of a table about to be read: the one in progress (its committed chunks
    /// stay), or else a new one (phase loading, no rows loaded). Returns its generation.
    fn begin_load(&self, table: &TableId) -> impl Future<Output = Result<i64>> + Send;
    /// Asks for a new full load of `table` (`binlake reload`): the binlake running on this
    /// state picks it up within seconds, else the next one to run.
    fn request_reload(&self, table: &TableId) -> impl Future<Output = Result<()>> + Send;
    /// True when a reload was asked for and not yet taken.
    fn reload_requested(&self) -> impl Future<Output = Result<bool>> + Send;
    /// Marks every table a reload was asked for to be loaded anew (phase loading, a new
    /// generation) and forgets the requests, fenced. Returns those tables.
    fn take_reload_requests(&self) -> impl Future<Output = Result<Vec<TableId>>> + Send;
    /// Sets a table's phase: loading makes the next run load it anew (a new generation,
    /// whatever a load in progress had committed), dropped records that it is gone.
    fn set_phase(&self, table: &TableId, phase: Phase) -> impl Future<Output = Result<()>> + Send;
    /// The highest LOAD file number recorded for the table (committed or pending), by every
    /// full load so far: new LOAD files are numbered after it.
    fn last_load_number(&self, table: &TableId) -> impl Future<Output = Result<u32>> + Send;
    /// Records the size the current full load of `table` is expected to have.
    fn set_load_estimate(&self, table: &TableId, rows: u64, chunks: u64) -> impl Future<Output = Result<()>> + Send;
    /// Every table being loaded: how far its load is.
    fn load_progress(&self) -> impl Future<Output = Result<Vec<LoadProgress>>> + Send;
    /// The committed chunks of the table's current full load.
    fn load_chunks(&self, table: &TableId) -> impl Future<Output = Result<Vec<LoadChunk>>> + Send;

    /// Records a file before its upload starts, so a crash can never leave an unknown object;
    /// a CDC key becomes the table's last CDC key issued.
    fn add_pending(&self, key: &str, table: &TableId, kind: FileKind) -> impl Future<Output = Result<()>> + Send;
    /// The keys of files recorded but never committed.
    fn pending_files(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Forgets pending files once their objects are gone.
    fn forget_pending(&self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
    /// The last CDC key issued for a table (committed, pending, or pending and since deleted),
    /// so new names sort after it.
    fn last_cdc_key(&self, table: &TableId) -> impl Future<Output = Result<Option<String>>> + Send;
    /// A table's committed files, in the order they were created.
    fn committed_files(&self, table: &TableId) -> impl Future<Output = Result<Vec<CommittedFile>>> + Send;
    /// The old keys of a committed CDC file's rows that changed their primary key, by row.
    fn key_moves(&self, file_key: &str) -> impl Future<Output = Result<Vec<KeyMove>>> + Send;

    /// Commit point of a table's full load: its LOAD files, its snapshot position, its schema
    /// there and its phase streaming, in one fenced transaction.
    fn commit_load(
        &self,
        schema: &TableSchema,
        generation: i64,
        snapshot: &BinlogPos,
        files: &[ClosedFile],
        rows: u64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Commit point of chunks of a table's full load: the LOAD files that hold their rows and
    /// the chunks, in one fenced transaction.
    fn commit_chunks(
        &self,
        table: &TableId,
        generation: i64,
        chunks: &[LoadChunk],
        files: &[ClosedFile],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every chunk of the table's full load is committed: its snapshot position becomes the
    /// oldest chunk's (the stream judges its changes from there on, chunk by chunk), its schema
    /// there is `schema`, its phase streaming (fenced). Returns the snapshot position.
    fn finish_load(&self, schema: &TableSchema, generation: i64) -> impl Future<Output = Result<BinlogPos>> + Send;
    /// Commit point of streaming: the closed CDC files (with their key moves) and the new
    /// checkpoint, in one fenced transaction.
    fn commit_cdc(
        &self,
        source: &str,
        files: &[ClosedFile],
        checkpoint: &BinlogPos,
        gtid: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records a table's schema from `at` on (`None`: it is gone), what changed it and the
    /// columns it renamed (old, new).
    fn record_schema(
        &self,
        table: &TableId,
        at: &BinlogPos,
        schema: Option<&TableSchema>,
        cause: &str,
        renamed: &[(String, String)],
    ) -> impl Future<Output = Result<()>> + Send;
    /// One table's schema history, in position order.
    fn table_history(&self, table: &TableId) -> impl Future<Output = Result<Vec<SchemaAt>>> + Send;

    /// The merger's progress on the merged table at `table_url`.
    fn merge_progress(&self, table_url: &str) -> impl Future<Output = Result<MergeProgress>> + Send;
    /// Records merge `number`, covering input files through `order`, before its commit.
    fn begin_merge(
        &self,
        table_url: &str,
        table: &TableId,
        number: i64,
        order: &str,
        load: bool,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The pending merge committed: it is the table's progress now.
    fn end_merge(&self, table_url: &str, input_files: usize) -> impl Future<Output = Result<()>> + Send;
    /// The pending merge never committed.
    fn abandon_merge(&self, table_url: &str) -> impl Future<Output = Result<()>> + Send;
    /// Forgets a table's progress (its merged table is gone and starts over).
    fn reset_merge(&self, table_url: &str) -> impl Future<Output = Result<()>> + Send;
    /// Every merged table's progress.
    fn merges(&self) -> impl Future<Output = Result<Vec<MergeRecord>>> + Send;
}
