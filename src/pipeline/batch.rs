//! The commit point, one piece for the full load and the stream. A batch holds at most one
//! open file per table; rows are appended to it; a flush closes the files (an object is
//! durable on the target once its upload returns) and then records them in one state
//! transaction together with what they complete: a table's full load at its snapshot
//! position, or the stream's checkpoint. Every file is recorded as pending before its upload
//! starts, so a crash between upload and commit leaves only pending files, which the next
//! recovery deletes: a consumer never sees an object that the state does not hold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::metrics;
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::sink::settings::S3Settings;
use crate::sink::target::Target;
use crate::sink::{FileMemory, FileWriter, Prefix, RowMeta, layout};
use crate::state::{ClosedFile, FileKind, KeyMove, LoadChunk, StateStore, Store};
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
    /// The last LOAD file number issued per table, shared by the batches of one full load;
    /// a table loaded before numbers its new LOAD files after the old ones.
    load_numbers: LoadNumbers,
    /// What each open file may hold in memory.
    memory: FileMemory,
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

/// The last LOAD file number issued per table, for the batches of one full load.
pub(crate) type LoadNumbers = Arc<Mutex<HashMap<TableId, u32>>>;

/// What the files of a flush complete, recorded in the same state transaction.
pub(crate) enum Completes<'a> {
    /// A table's full load (`generation`): its LOAD files hold the table as of `snapshot`,
    /// `rows` rows.
    Load { schema: &'a TableSchema, generation: i64, snapshot: &'a BinlogPos, rows: u64 },
    /// Chunks of a table's full load, whose rows are all in the LOAD files.
    Chunks { schema: &'a TableSchema, generation: i64, chunks: &'a [LoadChunk] },
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
            load_numbers: LoadNumbers::default(),
            memory: FileMemory::DEFAULT,
            opened: None,
            flush_took: Duration::ZERO,
            idle_since: Instant::now(),
        }
    }

    /// Numbers LOAD files with `numbers`, shared with the other batches of one full load.
    pub(crate) fn sharing_load_numbers(mut self, numbers: LoadNumbers) -> Self {
        self.load_numbers = numbers;
        self
    }

    /// Keeps each open file's buffers within `memory`.
    pub(crate) fn with_file_memory(mut self, memory: FileMemory) -> Self {
        self.memory = memory;
        self
    }

    pub(crate) fn prefix(&self) -> &Prefix {
        &self.prefix
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty() && self.closed.is_empty()
    }

    /// True when files are closed and wait for the next flush.
    pub(crate) fn has_closed(&self) -> bool {
        !self.closed.is_empty()
    }

    pub(crate) fn has_open(&self, table: &TableId) -> bool {
        self.open.contains_key(table)
    }

    /// Opens the table's next file (recorded as pending first); `first` is the position of its
    /// first row.
    pub(crate) async fn open(&mut self, table: &TableSchema, first: Option<&BinlogPos>) -> Result<()> {
        let key = self.next_key(&table.id).await?;
        self.store.add_pending(&key, &table.id, self.kind).await?;
        let writer = FileWriter::create(&self.target, &key, table, &self.prefix, &self.output, self.memory)?;
        self.open.insert(table.id.clone(), OpenFile { writer, first: first.cloned(), key_moves: Vec::new() });
        self.opened.get_or_insert_with(Instant::now);
        Ok(())
    }

    async fn next_key(&mut self, table: &TableId) -> Result<String> {
        let extension = self.output.extension();
        let relative = match self.kind {
            FileKind::Load => {
                let known = self.load_numbers.lock().expect("never poisoned").get(table).copied();
                let last = match known {
                    Some(n) => n,
                    None => self.store.last_load_number(table).await?,
                };
                let mut numbers = self.load_numbers.lock().expect("never poisoned");
                // Another batch may have numbered a file meanwhile: the larger count wins.
                let number = numbers.entry(table.clone()).or_insert(last);
                *number = (*number).max(last) + 1;
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

    /// Appends a row of a full load to the table's LOAD file, closing the file first once it
    /// holds `max_bytes` and opening the next as needed. One map lookup per row: it runs for
    /// every row of a load.
    pub(crate) async fn append_load(&mut self, table: &TableSchema, meta: &RowMeta<'_>, row: Vec<Cell>, max_bytes: u64) -> Result<()> {
        if let Some(file) = self.open.get_mut(&table.id)
            && file.writer.size() < max_bytes
        {
            return file.writer.append(meta, row).await;
        }
        self.close_if_full(&table.id, max_bytes).await?;
        if !self.has_open(&table.id) {
            self.open(table, None).await?;
        }
        self.append(&table.id, meta, row, None).await
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
            Completes::Load { schema, .. } | Completes::Chunks { schema, .. } => {
                self.open.keys().filter(|t| **t == schema.id).cloned().collect()
            }
            Completes::Stream { .. } => self.open.keys().cloned().collect(),
        };
        for table in tables {
            let file = self.open.remove(&table).expect("listed above");
            self.closed.push(close(table, file).await?);
        }
        let files: Vec<ClosedFile> = match &completes {
            Completes::Load { schema, .. } | Completes::Chunks { schema, .. } => {
                let (mine, others) = std::mem::take(&mut self.closed).into_iter().partition(|f| f.table == schema.id);
                self.closed = others;
                mine
            }
            Completes::Stream { .. } => std::mem::take(&mut self.closed),
        };
        let committed = match &completes {
            Completes::Load { schema, generation, snapshot, rows } => {
                self.store.commit_load(schema, *generation, snapshot, &files, *rows).await
            }
            Completes::Chunks { schema, generation, chunks } => self.store.commit_chunks(&schema.id, *generation, chunks, &files).await,
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
            Completes::Load { schema, rows, .. } => metrics::load_committed(&schema.id.to_string(), rows, files.len()),
            Completes::Chunks { schema, chunks, .. } => {
                metrics::load_committed(&schema.id.to_string(), chunks.iter().map(|c| c.rows).sum(), files.len())
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

/// The other half of the commit point, run before anything else: deletes the objects of
/// every file still pending (uploaded or started, never committed) and forgets them. Returns
/// how many there were.
pub(crate) async fn remove_uncommitted(store: &Store, target: &Target) -> Result<usize> {
    let pending = store.pending_files().await?;
    for key in &pending {
        target.delete_if_exists(key).await?;
    }
    if !pending.is_empty() {
        store.forget_pending(&pending).await?;
    }
    Ok(pending.len())
}

async fn close(table: TableId, file: OpenFile) -> Result<ClosedFile> {
    let key = file.writer.key.clone();
    let stats = file.writer.finish().await?;
    Ok(ClosedFile { key, table, rows: stats.rows, bytes: stats.bytes, first_position: file.first, key_moves: file.key_moves })
}

#[cfg(test)]
mod tests {
    //! The commit point without any service: an in-memory object store and a temporary
    //! SQLite state.

    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt};

    use super::*;
    use crate::change::Op;
    use crate::schema::{Column, ColumnType};
    use crate::sink::settings::Raw;
    use crate::state::Phase;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        objects: Arc<InMemory>,
        target: Target,
        table: TableSchema,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db").display().to_string()).await.unwrap();
        store.acquire_lease().await.unwrap();
        let objects = Arc::new(InMemory::new());
        let target = Target { store: objects.clone(), prefix: String::new(), display: "memory".into() };
        let column = |name: &str, ty| Column::nullable(name, ty);
        let table = TableSchema::new(
            TableId::new("shop", "orders"),
            vec![column("id", ColumnType::Int), column("note", ColumnType::Text)],
            vec![0],
            None,
        );
        Fixture { _dir: dir, store, objects, target, table }
    }

    fn batch(f: &Fixture, kind: FileKind) -> Batch {
        let (output, _) = S3Settings::resolve(&Raw::new()).unwrap();
        let prefix = Prefix { op: kind == FileKind::Cdc, timestamp: None, sequence: None };
        Batch::new(f.store.clone(), f.target.clone(), output, kind, prefix)
    }

    fn row(id: i64) -> Vec<Cell> {
        vec![Cell::Int(id), Cell::Text(format!("note {id}"))]
    }

    const AT: BinlogPos = BinlogPos { file: String::new(), offset: 4 };
    const META: RowMeta<'static> = RowMeta { op: Op::Insert, timestamp: "", sequence: "", position: &AT };

    async fn object_count(objects: &InMemory) -> usize {
        use futures::TryStreamExt;
        objects.list(None).try_collect::<Vec<_>>().await.unwrap().len()
    }

    #[tokio::test]
    async fn a_value_that_does_not_fit_names_the_table_column_and_position() {
        let f = fixture().await;
        let mut batch = batch(&f, FileKind::Cdc);
        let at = BinlogPos::new("mysql-bin.000007", 1234);
        batch.open(&f.table, Some(&at)).await.unwrap();
        let meta = RowMeta { position: &at, ..META };
        let err = batch.append(&f.table.id, &meta, vec![Cell::Text("x".into()), Cell::Null], None).await.unwrap_err();
        let text = err.to_string();
        for part in ["shop.orders", "column id", "mysql-bin.000007:1234", "expected an integer"] {
            assert!(text.contains(part), "{part} missing from: {text}");
        }
    }

    #[tokio::test]
    async fn a_flush_commits_the_files_and_the_checkpoint_together() {
        let f = fixture().await;
        let mut batch = batch(&f, FileKind::Cdc);
        let first = BinlogPos::new("mysql-bin.000001", 400);
        batch.open(&f.table, Some(&first)).await.unwrap();
        batch.append(&f.table.id, &META, row(1), None).await.unwrap();
        batch.append(&f.table.id, &META, row(2), Some("[1]".into())).await.unwrap();
        assert_eq!(f.store.pending_files().await.unwrap().len(), 1, "recorded before the upload");
        let at = BinlogPos::new("mysql-bin.000001", 900);
        let completes = Completes::Stream { source: "src", checkpoint: &at, gtid: Some("0-1-7"), newest_source_commit: None };
        let files = batch.flush(completes).await.unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].rows, 2);
        assert!(batch.is_empty() && batch.deadline(Duration::from_secs(1)).is_none());
        assert!(f.store.pending_files().await.unwrap().is_empty());
        let checkpoint = f.store.checkpoint().await.unwrap().unwrap();
        assert_eq!((checkpoint.position, checkpoint.gtid.as_deref()), (at, Some("0-1-7")));
        let committed = f.store.committed_files(&f.table.id).await.unwrap();
        assert_eq!(committed.iter().map(|c| (&c.key, c.kind)).collect::<Vec<_>>(), vec![(&files[0].key, FileKind::Cdc)]);
        assert_eq!(f.store.key_moves(&files[0].key).await.unwrap(), vec![KeyMove { row: 1, old_key: "[1]".into() }]);
        let object = f.objects.get(&files[0].key.as_str().into()).await.unwrap().bytes().await.unwrap();
        assert_eq!(object.len() as u64, files[0].bytes, "the object is whole on the target");
    }

    #[tokio::test]
    async fn a_full_load_rolls_files_at_the_size_limit_and_commits_them_with_the_table() {
        let f = fixture().await;
        let generation = f.store.begin_load(&f.table.id).await.unwrap();
        let mut batch = batch(&f, FileKind::Load);
        for id in 1..=3 {
            // Every file is full after one row: three LOAD files.
            batch.append_load(&f.table, &META, row(id), 1).await.unwrap();
        }
        let snapshot = BinlogPos::new("mysql-bin.000002", 4);
        let files = batch.flush(Completes::Load { schema: &f.table, generation, snapshot: &snapshot, rows: 3 }).await.unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.key.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["LOAD00000001.parquet", "LOAD00000002.parquet", "LOAD00000003.parquet"]);
        let state = f.store.tables().await.unwrap().into_iter().find(|t| t.id == f.table.id).unwrap();
        assert_eq!((state.phase, state.snapshot, state.rows_loaded, state.load_files), (Phase::Streaming, Some(snapshot), 3, 3));
        assert_eq!(object_count(&f.objects).await, 3);

        // A second full load of the table numbers its files after the first's.
        assert_eq!(f.store.begin_load(&f.table.id).await.unwrap(), generation + 1);
        let mut batch = self::batch(&f, FileKind::Load);
        batch.open(&f.table, None).await.unwrap();
        let key = f.store.pending_files().await.unwrap().pop().unwrap();
        assert!(key.ends_with("/LOAD00000004.parquet"), "{key}");
    }

    #[tokio::test]
    async fn files_uploaded_but_never_committed_are_removed_by_recovery() {
        let f = fixture().await;
        let mut batch = batch(&f, FileKind::Cdc);
        batch.open(&f.table, Some(&BinlogPos::new("mysql-bin.000001", 400))).await.unwrap();
        batch.append(&f.table.id, &META, row(1), None).await.unwrap();
        // The upload completes, then the process dies before the state transaction.
        batch.close_if_full(&f.table.id, 0).await.unwrap();
        drop(batch);
        assert_eq!(object_count(&f.objects).await, 1);
        assert_eq!(remove_uncommitted(&f.store, &f.target).await.unwrap(), 1);
        assert_eq!(object_count(&f.objects).await, 0, "the object is gone");
        assert!(f.store.pending_files().await.unwrap().is_empty());
        assert!(f.store.committed_files(&f.table.id).await.unwrap().is_empty());
        assert_eq!(f.store.checkpoint().await.unwrap().map(|c| c.position), None, "the checkpoint did not move");
        assert_eq!(remove_uncommitted(&f.store, &f.target).await.unwrap(), 0, "nothing left to do");
    }

    #[tokio::test]
    async fn files_start_closing_as_early_as_the_last_commit_took() {
        let f = fixture().await;
        let interval = Duration::from_secs(1);
        let mut batch = batch(&f, FileKind::Cdc);
        assert_eq!(batch.deadline(interval), None, "nothing open");
        let opened = Instant::now();
        batch.opened = Some(opened);
        assert_eq!(batch.deadline(interval), Some(opened + interval));
        batch.flush_took = Duration::from_millis(200);
        assert_eq!(batch.deadline(interval), Some(opened + Duration::from_millis(800)));
        // A slow target does not turn every event into a file of its own.
        batch.flush_took = Duration::from_secs(5);
        assert_eq!(batch.deadline(interval), Some(opened + Duration::from_millis(500)));
    }
}
