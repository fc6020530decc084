//! The commit point, one piece for the full load and the stream. A batch holds at most one
//! open file per table; rows are appended to it; a flush closes the files (an object is
//! durable on the target once its upload returns) and then records them in one state
//! transaction together with what they complete: a table's full load at its snapshot
//! position, or the stream's checkpoint. Every file is recorded as pending before its upload
//! starts, so a crash between upload and commit leaves only pending files, which the next
//! recovery deletes: a consumer never sees an object that the state does not hold.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::metrics;
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::sink::settings::S3Settings;
use crate::sink::target::Target;
use crate::sink::{FileWriter, Prefix, RowMeta, layout};
use crate::state::{ClosedFile, FileKind, KeyMove, Store};
use crate::value::Cell;

pub(crate) struct Batch {
    store: Store,
    target: Target,
    output: S3Settings,
    kind: FileKind,
    prefix: Prefix,
    open: HashMap<TableId, OpenFile>,
    /// Files closed before the flush (a LOAD file reached MaxFileSize), committed with it.
    closed: Vec<ClosedFile>,
    /// The last LOAD file number issued per table; a table loaded before (then truncated, or
    /// renamed away and back) numbers its new LOAD files after the old ones.
    load_numbers: HashMap<TableId, u32>,
    /// When the first of the open files was opened.
    opened: Option<Instant>,
    /// How long closing and committing the last files took.
    flush_took: Duration,
    idle_since: Instant,
}

struct OpenFile {
    writer: FileWriter,
    /// The position of the file's first row (CDC).
    first: Option<BinlogPos>,
    key_moves: Vec<KeyMove>,
}

/// What the files of a flush complete, recorded in the same state transaction.
pub(crate) enum Completes<'a> {
    /// A table's full load: its LOAD files hold the table as of `snapshot`, `rows` rows.
    Load { schema: &'a TableSchema, snapshot: &'a BinlogPos, rows: u64 },
    /// The stream up to `checkpoint`, a transaction boundary: every change before it is in
    /// committed files. `newest_source_commit` is the source commit time (unix seconds) of the
    /// newest transaction in the files, for the latency metric.
    Stream { source: &'a str, checkpoint: &'a BinlogPos, gtid: Option<&'a str>, newest_source_commit: Option<u32> },
}

impl Batch {
    pub(crate) fn new(store: Store, target: Target, output: S3Settings, kind: FileKind, prefix: Prefix) -> Self {
        Self {
            store,
            target,
            output,
            kind,
            prefix,
            open: HashMap::new(),
            closed: Vec::new(),
            load_numbers: HashMap::new(),
            opened: None,
            flush_took: Duration::ZERO,
            idle_since: Instant::now(),
        }
    }

    pub(crate) fn prefix(&self) -> &Prefix {
        &self.prefix
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty() && self.closed.is_empty()
    }

    pub(crate) fn has_open(&self, table: &TableId) -> bool {
        self.open.contains_key(table)
    }

    /// Opens the table's next file (recorded as pending first); `first` is the position of its
    /// first row.
    pub(crate) async fn open(&mut self, table: &TableSchema, first: Option<&BinlogPos>) -> Result<()> {
        let key = self.next_key(&table.id).await?;
        self.store.add_pending(&key, &table.id, self.kind).await?;
        let writer = FileWriter::create(&self.target, &key, table, &self.prefix, &self.output)?;
        self.open.insert(table.id.clone(), OpenFile { writer, first: first.cloned(), key_moves: Vec::new() });
        self.opened.get_or_insert_with(Instant::now);
        Ok(())
    }

    async fn next_key(&mut self, table: &TableId) -> Result<String> {
        let extension = self.output.extension();
        let relative = match self.kind {
            FileKind::Load => {
                let number = match self.load_numbers.get_mut(table) {
                    Some(n) => n,
                    None => self.load_numbers.entry(table.clone()).or_insert(self.store.committed_load_files(table).await?),
                };
                *number += 1;
                layout::load_name(*number, extension)
            }
            FileKind::Cdc => {
                let last = self.store.last_cdc_key(table).await?;
                let last_name = last.as_deref().and_then(|k| k.rsplit('/').next());
                layout::cdc_key(chrono::Utc::now(), self.output.date_partition.as_ref(), last_name, extension)
            }
        };
        Ok(self.target.path(&format!("{}/{relative}", layout::table_folder(table))).to_string())
    }

    /// Appends a row to the table's open file. `old_key` (the old primary key's cells as JSON)
    /// is given for an update that changed the key: the files carry the new row only, the
    /// merger learns the old key from the state.
    pub(crate) async fn append(&mut self, table: &TableId, meta: &RowMeta<'_>, row: Vec<Cell>, old_key: Option<String>) -> Result<()> {
        let file = self.open.get_mut(table).ok_or_else(|| Error::Internal(format!("no open file for {table}")))?;
        if let Some(old_key) = old_key {
            file.key_moves.push(KeyMove { row: file.writer.rows(), old_key });
        }
        file.writer.append(meta, row).await
    }

    /// Closes the table's open file once it holds `max_bytes`; it is committed with the next
    /// flush.
    pub(crate) async fn close_if_full(&mut self, table: &TableId, max_bytes: u64) -> Result<()> {
        if self.open.get(table).is_some_and(|f| f.writer.size() >= max_bytes) {
            let file = self.open.remove(table).expect("checked");
            self.closed.push(close(table.clone(), file).await?);
        }
        Ok(())
    }

    /// The commit point: closes the files `completes` covers (a full load: its table's; the
    /// stream: all), then records them and what they complete in one state transaction.
    /// Returns the committed files.
    pub(crate) async fn flush(&mut self, completes: Completes<'_>) -> Result<Vec<ClosedFile>> {
        let started = Instant::now();
        let tables: Vec<TableId> = match &completes {
            Completes::Load { schema, .. } => self.open.keys().filter(|t| **t == schema.id).cloned().collect(),
            Completes::Stream { .. } => self.open.keys().cloned().collect(),
        };
        for table in tables {
            let file = self.open.remove(&table).expect("listed above");
            self.closed.push(close(table, file).await?);
        }
        let files: Vec<ClosedFile> = match &completes {
            Completes::Load { schema, .. } => {
                let (mine, others) = std::mem::take(&mut self.closed).into_iter().partition(|f| f.table == schema.id);
                self.closed = others;
                mine
            }
            Completes::Stream { .. } => std::mem::take(&mut self.closed),
        };
        let committed = match &completes {
            Completes::Load { schema, snapshot, rows } => self.store.commit_load(schema, snapshot, &files, *rows).await,
            Completes::Stream { source, checkpoint, gtid, .. } => self.store.commit_cdc(source, &files, checkpoint, *gtid).await,
        };
        if let Err(e) = committed {
            if matches!(e, Error::Lease(_)) {
                // Another binlake owns the state now and will never learn of these objects.
                for f in &files {
                    let _ = self.target.delete_if_exists(&f.key).await;
                }
            }
            return Err(e);
        }
        match completes {
            Completes::Load { schema, rows, .. } => {
                self.load_numbers.remove(&schema.id);
                metrics::load_committed(&schema.id.to_string(), rows, files.len());
            }
            Completes::Stream { checkpoint, newest_source_commit, .. } => {
                for f in &files {
                    metrics::cdc_file_committed(&f.table.to_string(), f.rows, f.bytes);
                }
                metrics::checkpoint(checkpoint, newest_source_commit);
            }
        }
        if !files.is_empty() {
            self.flush_took = started.elapsed();
        }
        if self.open.is_empty() {
            self.opened = None;
        }
        self.idle_since = Instant::now();
        Ok(files)
    }

    /// When the open files start closing: as long before the end of `interval` as the last
    /// commit took (at most half of it), so that their rows are in the lake within it.
    pub(crate) fn deadline(&self, interval: Duration) -> Option<Instant> {
        self.opened.map(|t| t + interval - self.flush_took.min(interval / 2))
    }

    /// The size of the largest open file.
    pub(crate) fn largest(&self) -> u64 {
        self.open.values().map(|f| f.writer.size()).max().unwrap_or(0)
    }

    /// How long since the last flush.
    pub(crate) fn idle(&self) -> Duration {
        self.idle_since.elapsed()
    }
}

async fn close(table: TableId, file: OpenFile) -> Result<ClosedFile> {
    let key = file.writer.key.clone();
    let stats = file.writer.finish().await?;
    Ok(ClosedFile { key, table, rows: stats.rows, bytes: stats.bytes, first_position: file.first, key_moves: file.key_moves })
}
