//! The full load. Tables with a chunk key (see `source::chunks`) are read in chunks by
//! `snapshot-workers` connections at once while the stream runs (see `board`), each chunk
//! committed with its LOAD files as it is done, so a load stopped midway goes on with the
//! chunks not yet committed. Other tables are read from one consistent snapshot (see
//! `source::snapshot`) before the stream starts, and committed whole: a load stopped midway
//! loads them again from a new snapshot.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mysql_async::prelude::*;
use tokio::sync::{Mutex, watch};
use tracing::{info, warn};

use super::batch::{Batch, Completes, LoadNumbers};
use super::board::Board;
use super::{Pipeline, timestamp_text};
use crate::change::Op;
use crate::error::{Error, Result};
use crate::progress::{self, Figures};
use crate::schema::TableSchema;
use crate::sink::settings::S3Settings;
use crate::sink::target::Target;
use crate::sink::{FileMemory, Prefix, RowMeta, layout};
use crate::source::chunks::{self, ChunkKey, ChunkReader, ChunkState, KeyRange, LoadedTable, Split};
use crate::source::snapshot::{self, Chunk};
use crate::source::{Flavor, Source};
use crate::state::{FileKind, LoadChunk, StateStore, Store};

/// The smallest share of `--snapshot-memory` a chunk worker runs with (see `FileMemory::within`).
const SMALLEST_SHARE: usize = 16 << 20;
/// Rows a chunk's read fetches at once.
const PAGE_ROWS: usize = 4096;

/// One table's chunked full load.
struct TableLoad {
    schema: Arc<TableSchema>,
    key: ChunkKey,
    split: Split,
    generation: i64,
    /// Its columns as the load reads them: every chunk checks them first.
    columns: String,
    /// Rows and chunks read so far (committed or not yet), also by earlier runs.
    rows: AtomicU64,
    chunks: AtomicU64,
    /// Chunks committed so far.
    committed: AtomicU64,
    /// The server's estimate of the table's rows (`information_schema.TABLES`), and the
    /// chunks that makes.
    estimated_rows: u64,
    estimated_chunks: u64,
    /// Its live display on a terminal.
    bar: Option<indicatif::ProgressBar>,
}

impl TableLoad {
    /// `chunks` more chunks are committed.
    fn committed(&self, chunks: u64) {
        let done = self.committed.fetch_add(chunks, Ordering::Relaxed) + chunks;
        crate::metrics::load_progress(&self.schema.id.to_string(), done, self.estimated_chunks, self.estimated_rows);
    }

    fn figures(&self, rows_per_s: Option<f64>) -> Figures {
        Figures {
            rows: self.rows.load(Ordering::Relaxed),
            of_about: self.estimated_rows,
            chunks: self.chunks.load(Ordering::Relaxed),
            of_chunks: self.estimated_chunks,
            rows_per_s,
        }
    }
}

/// Shows how far each table's load is: every second on the terminal's bars, every
/// `interval` in a log line for each table that went on since the last one.
struct Reporter {
    interval: Duration,
    started: Instant,
    last_line: Instant,
    /// Per table: (seconds since `started`, rows) over the last rate window, and the rows of
    /// its last log line.
    samples: Vec<VecDeque<(f64, u64)>>,
    logged: Vec<u64>,
}

impl Reporter {
    fn new(tables: &[TableLoad], interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            interval,
            started: now,
            last_line: now,
            samples: tables.iter().map(|t| VecDeque::from([(0.0, t.rows.load(Ordering::Relaxed))])).collect(),
            logged: tables.iter().map(|t| t.rows.load(Ordering::Relaxed)).collect(),
        }
    }

    fn tick(&mut self, tables: &[TableLoad]) {
        let at = self.started.elapsed().as_secs_f64();
        let line = self.last_line.elapsed() >= self.interval && !progress::bars();
        if line {
            self.last_line = Instant::now();
        }
        for (i, table) in tables.iter().enumerate() {
            let samples = &mut self.samples[i];
            samples.push_back((at, table.rows.load(Ordering::Relaxed)));
            while samples.get(1).is_some_and(|(t, _)| at - t > progress::RATE_WINDOW.as_secs_f64()) {
                samples.pop_front();
            }
            let figures = table.figures(progress::recent_rate(samples.make_contiguous()));
            if let Some(bar) = &table.bar {
                progress::update(bar, &figures);
            }
            if line && figures.rows != self.logged[i] {
                self.logged[i] = figures.rows;
                info!(
                    table = %table.schema.id,
                    rows = figures.rows,
                    of_about = figures.of_about,
                    chunks = figures.chunks,
                    of_chunks = figures.chunks_expected(),
                    rows_per_s = figures.rows_per_s.map(|r| r.round() as u64),
                    eta_s = figures.eta().map(|d| d.as_secs()),
                    "loading."
                );
            }
        }
    }
}

/// A pause after each chunk's read, outside its snapshot, so that a test can watch the stream
/// go on while a load lasts: `BINLAKE_TEST_CHUNK_PAUSE_MS`, in a build with `test-hooks` only.
fn test_pause_after_chunk() -> Option<Duration> {
    if !cfg!(feature = "test-hooks") {
        return None;
    }
    std::env::var("BINLAKE_TEST_CHUNK_PAUSE_MS").ok()?.parse().ok().map(Duration::from_millis)
}

/// A chunked full load running beside the stream.
pub(super) struct ChunkLoad {
    shared: Arc<Chunking>,
    task: tokio::task::JoinHandle<()>,
}

impl ChunkLoad {
    /// Stops the load and waits until every worker has returned. A worker that is committing
    /// finishes its commit; one reading a chunk drops it at the next page (its file stays
    /// pending, for recovery to remove). Waiting matters: the state store runs a commit on a
    /// thread of its own, so a worker merely dropped could still commit its files after the
    /// next session's recovery had removed them as never committed.
    pub(super) async fn stop(self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        if let Err(e) = self.task.await {
            warn!(error = %e, "the chunked full load ended abnormally.");
        }
    }
}

/// What the chunk workers share.
struct Chunking {
    source: Source,
    store: Store,
    target: Target,
    output: S3Settings,
    prefix: Prefix,
    numbers: LoadNumbers,
    chunk_rows: usize,
    /// What each worker's open file may hold in memory.
    file_memory: FileMemory,
    sequence_epoch: u32,
    tables: Vec<TableLoad>,
    /// The key ranges still to read, by table; a worker takes one, splits a chunk off its
    /// front and puts the rest at the end.
    todo: Mutex<VecDeque<(usize, KeyRange)>>,
    progress_interval: Duration,
    /// See [`test_pause_after_chunk`].
    pause_after_chunk: Option<Duration>,
    board: Arc<Board>,
    /// The session ends: workers return without committing more.
    stopping: AtomicBool,
}

impl Chunking {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// What a session loads: tables in chunks, beside the stream, and tables from one snapshot,
/// before it.
pub(super) struct LoadPlan {
    chunked: Vec<(TableLoad, Vec<LoadChunk>)>,
    pub whole: Vec<(Arc<TableSchema>, i64)>,
}

impl LoadPlan {
    /// The tables loaded in chunks, with what their LOAD files hold so far.
    pub fn chunked(&self) -> impl Iterator<Item = (&Arc<TableSchema>, LoadedTable)> {
        self.chunked.iter().map(|(t, done)| (&t.schema, LoadedTable::chunked(t.key.clone(), done.clone())))
    }
}

impl Pipeline {
    /// Decides how each of `tables` is loaded, going on with a load in chunks where one was
    /// begun with the same columns.
    pub(super) async fn plan_load(&self, tables: Vec<Arc<TableSchema>>) -> Result<LoadPlan> {
        self.refuse_foreign_files(&tables).await?;
        let mut conn = self.s.source.connect().await?;
        // Exact chunk positions come from MariaDB's snapshot position; MySQL's watermarks are
        // not done yet.
        let exact_positions = crate::source::flavor(&mut conn).await? == Flavor::MariaDb && !snapshot::force_table_lock();
        let (mut chunked, mut whole) = (Vec::new(), Vec::new());
        for table in tables {
            let mut generation = self.store.begin_load(&table.id).await?;
            let mut done = self.store.load_chunks(&table.id).await?;
            let server = if exact_positions {
                Ok(chunks::ServerColumns::read(&mut conn, &table).await?)
            } else {
                Err("MySQL sources are read from one snapshot for now".to_string())
            };
            let key = server.and_then(|columns| {
                let key = chunks::chunk_key(&table, |name| columns.collation(name).map(str::to_string))?;
                Ok((key, columns.fingerprint()))
            });
            match key {
                Ok((key, columns)) => {
                    let legacy = ChunkKey::legacy(&table);
                    let same_key = |c: &LoadChunk| c.key.as_ref().or(legacy.as_ref()) == Some(&key);
                    if done.iter().any(|c| c.columns != columns || !same_key(c)) {
                        warn!(table = %table.id, "the table's columns or key changed since its full load began; it is loaded anew.");
                        self.store.set_phase(&table.id, crate::state::Phase::Loading).await?;
                        generation = self.store.begin_load(&table.id).await?;
                        done.clear();
                    } else if !done.is_empty() {
                        info!(table = %table.id, chunks = done.len(), rows = done.iter().map(|c| c.rows).sum::<u64>(), "the full load goes on after its committed chunks.");
                    }
                    let estimated_rows: Option<Option<u64>> = conn
                        .exec_first(
                            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                            (&table.id.database, &table.id.table),
                        )
                        .await
                        .map_err(|e| Error::source(format!("reading the size of {}", table.id), e))?;
                    let rows: u64 = done.iter().map(|c| c.rows).sum();
                    let estimated_rows = estimated_rows.flatten().unwrap_or(0);
                    let estimated_chunks =
                        done.len() as u64 + estimated_rows.saturating_sub(rows).div_ceil(self.s.snapshot_chunk_rows as u64).max(1);
                    self.store.set_load_estimate(&table.id, estimated_rows, estimated_chunks).await?;
                    let span = chunks::key_span(&mut conn, &table, &key).await?;
                    let split = Split::choose(span, estimated_rows, self.s.snapshot_chunk_rows);
                    match split {
                        Split::Even { step, .. } => {
                            info!(table = %table.id, keys_per_chunk = step as u64, "chunks are even steps of its key.")
                        }
                        Split::Walk => {
                            let key = key.columns.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ");
                            info!(table = %table.id, key, "chunks end where an index walk of snapshot-chunk-rows rows does (a composite, sparse or non-integer key).")
                        }
                    }
                    let mut load = TableLoad {
                        schema: table,
                        key,
                        split,
                        generation,
                        columns,
                        rows: AtomicU64::new(rows),
                        chunks: AtomicU64::new(done.len() as u64),
                        committed: AtomicU64::new(done.len() as u64),
                        estimated_rows,
                        estimated_chunks,
                        bar: None,
                    };
                    load.bar = progress::bar(&load.schema.id.to_string(), &load.figures(None));
                    chunked.push((load, done));
                }
                Err(why) => {
                    if !done.is_empty() {
                        self.store.set_phase(&table.id, crate::state::Phase::Loading).await?;
                        generation = self.store.begin_load(&table.id).await?;
                    }
                    info!(table = %table.id, reason = %why, "the table is read from one consistent snapshot, not in chunks.");
                    whole.push((table, generation));
                }
            }
        }
        Ok(LoadPlan { chunked, whole })
    }

    /// Starts reading the chunks of `plan` with `snapshot-workers` connections, telling
    /// `board` where each chunk is; the tables are marked loaded on it once all are committed.
    /// The session ends it with [`ChunkLoad::stop`].
    pub(super) fn start_chunked(&self, plan: LoadPlan, board: Arc<Board>) -> ChunkLoad {
        let mut todo = VecDeque::new();
        for (i, (_, done)) in plan.chunked.iter().enumerate() {
            todo.extend(chunks::gaps(done).into_iter().map(|gap| (i, gap)));
        }
        // Each worker's files keep within its share of the memory budget; a share too small to
        // upload with runs fewer workers instead.
        let workers = self.s.snapshot_workers.clamp(1, (self.s.snapshot_memory / SMALLEST_SHARE).max(1));
        if workers < self.s.snapshot_workers {
            warn!(
                workers,
                asked = self.s.snapshot_workers,
                memory_mb = self.s.snapshot_memory >> 20,
                "fewer chunk workers than asked: each needs 16 MB of --snapshot-memory."
            );
        }
        let file_memory = FileMemory::within(self.s.snapshot_memory / workers);
        info!(
            tables = plan.chunked.len(),
            workers,
            memory_mb = self.s.snapshot_memory >> 20,
            "full load started, in chunks, beside the stream."
        );
        let shared = Arc::new(Chunking {
            source: self.s.source.clone(),
            store: self.store.clone(),
            target: self.target.clone(),
            output: self.s.output.clone(),
            prefix: self.batch(FileKind::Load).prefix().clone(),
            numbers: LoadNumbers::default(),
            chunk_rows: self.s.snapshot_chunk_rows,
            file_memory,
            sequence_epoch: self.sequence_epoch,
            tables: plan.chunked.into_iter().map(|(t, _)| t).collect(),
            todo: Mutex::new(todo),
            progress_interval: self.s.progress_interval,
            pause_after_chunk: test_pause_after_chunk(),
            board,
            stopping: AtomicBool::new(false),
        });
        let running = shared.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = load_chunks(&running, workers).await {
                running.board.fail(e);
            }
        });
        ChunkLoad { shared, task }
    }

    /// Loads `tables` (with their generations) from one consistent snapshot. Returns true when
    /// stopped midway.
    pub(super) async fn load_whole(&self, tables: Vec<(Arc<TableSchema>, i64)>, stop: &mut watch::Receiver<bool>) -> Result<bool> {
        let (tables, generations): (Vec<_>, Vec<_>) = tables.into_iter().unzip();
        let (position, mut chunks) = snapshot::start(&self.s.source, tables.clone(), self.s.snapshot_chunk_rows).await?;
        info!(tables = tables.len(), position = %position, "full load started from a consistent snapshot.");
        let mut batch = self.batch(FileKind::Load);
        let sequenced = batch.prefix().sequence.is_some();
        let started = Instant::now();
        let task_start = timestamp_text(chrono::Utc::now());
        // Rows of the table being loaded so far, and when its progress was last logged.
        let mut loaded = 0u64;
        let mut logged = Instant::now();
        loop {
            let chunk = tokio::select! {
                c = chunks.recv() => c,
                _ = stop.changed() => {
                    info!("stopping during the full load; tables not fully loaded start over on the next run.");
                    return Ok(true);
                }
            };
            let Some(chunk) = chunk else {
                return Err(Error::Disconnected("the snapshot connection ended early".into()));
            };
            match chunk? {
                Chunk::Rows { table, rows, held: _held } => {
                    let schema = &tables[table];
                    // DMS's "transfer time", once per chunk.
                    let transferred =
                        if self.s.output.task_start_time_for_full_load { task_start.clone() } else { timestamp_text(chrono::Utc::now()) };
                    for row in rows {
                        let row = snapshot::cells(schema, row)?;
                        loaded += 1;
                        // The table's nth LOAD row carries the snapshot position and n: LOAD rows
                        // are ordered among themselves and before every CDC row of the table,
                        // whose events all end after the snapshot position.
                        let sequence = if sequenced { position.sequence(self.sequence_epoch, loaded) } else { String::new() };
                        let meta = RowMeta { op: Op::Insert, timestamp: &transferred, sequence: &sequence, position: &position };
                        batch.append_load(schema, &meta, row, self.s.output.max_file_size).await?;
                    }
                    if logged.elapsed() >= self.s.progress_interval {
                        logged = Instant::now();
                        info!(table = %schema.id, rows = loaded, rows_per_s = (loaded as f64 / started.elapsed().as_secs_f64()) as u64, "loading.");
                    }
                }
                Chunk::TableDone { table, rows } => {
                    let schema = &tables[table];
                    let generation = generations[table];
                    let files = batch.flush(Completes::Load { schema, generation, snapshot: &position, rows }).await?;
                    info!(table = %schema.id, rows, files = files.len(), "table loaded.");
                    loaded = 0;
                    if table + 1 == tables.len() {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// A table this state store never committed a file of must have an empty folder on the
    /// target: files there are another state store's (or DMS's), and a full load beside them
    /// would mix two histories (its LOAD00000001 over theirs, their CDC files after it). With
    /// --clear-foreign-files they are deleted first.
    async fn refuse_foreign_files(&self, tables: &[Arc<TableSchema>]) -> Result<()> {
        let mut foreign = Vec::new();
        for t in tables {
            if !self.store.committed_files(&t.id).await?.is_empty() {
                continue;
            }
            let folder = self.target.path(&layout::table_folder(&t.id));
            let objects: Vec<_> =
                self.target.store.list(Some(&folder)).try_collect().await.map_err(|e| Error::target(format!("listing {folder}"), e))?;
            if objects.is_empty() {
                continue;
            }
            if self.s.clear_foreign_files {
                for object in &objects {
                    self.target.delete_if_exists(object.location.as_ref()).await?;
                }
                warn!(table = %t.id, files = objects.len(), folder = %folder, "removed files another state wrote, before loading the table.");
            } else {
                foreign.push(format!("{} ({} files in {folder})", t.id, objects.len()));
            }
        }
        if foreign.is_empty() {
            return Ok(());
        }
        Err(Error::Conflict(format!(
            "the target holds files of {} that this state store did not write (another state store's, or DMS's), and a full load beside them would mix two histories. \
             Use the state store that wrote them (--state), another target prefix, or --clear-foreign-files to delete those tables' folders and load them anew",
            foreign.join(", ")
        )))
    }
}

/// Runs `workers` chunk workers until every chunk is committed, then marks the tables loaded.
async fn load_chunks(shared: &Arc<Chunking>, workers: usize) -> Result<()> {
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..workers {
        running.spawn(chunk_worker(shared.clone()));
    }
    let mut reporter = Reporter::new(&shared.tables, shared.progress_interval);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            _ = tick.tick() => {
                reporter.tick(&shared.tables);
                continue;
            }
        };
        match joined {
            None => break,
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(e)) => return Err(Error::Internal(format!("a chunk worker failed: {e}"))),
        }
    }
    reporter.tick(&shared.tables);
    if shared.stopping() {
        return Ok(());
    }
    for table in &shared.tables {
        let snapshot = shared.store.finish_load(&table.schema, table.generation).await?;
        shared.board.loaded(&table.schema.id);
        if let Some(bar) = &table.bar {
            bar.finish_with_message("loaded");
        }
        info!(table = %table.schema.id, rows = table.rows.load(Ordering::Relaxed), snapshot = %snapshot, "table loaded.");
    }
    Ok(())
}

/// A worker's LOAD files in the making: the chunks of one table whose rows they hold,
/// committed together once a file is full or they have been open for a while.
struct Group {
    table: usize,
    batch: Batch,
    chunks: Vec<LoadChunk>,
    opened: Instant,
}

/// The longest a worker keeps chunks uncommitted: what a restart may read again.
const GROUP_SECONDS: u64 = 30;

/// Reads chunks until none are left, each on this worker's own connection, and writes them
/// into LOAD files of up to MaxFileSize, committed with the chunks whose rows they hold.
async fn chunk_worker(shared: Arc<Chunking>) -> Result<()> {
    let mut conn = shared.source.connect().await?;
    let task_start = timestamp_text(chrono::Utc::now());
    let mut group: Option<Group> = None;
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let next = {
            let mut todo = shared.todo.lock().await;
            // The table this worker's files are of, else the one waiting longest: every table
            // is begun early, and a small one is not held back behind a large one.
            let same = group.as_ref().and_then(|g| todo.iter().position(|(index, _)| *index == g.table));
            match todo.remove(same.unwrap_or(0)) {
                None => None,
                Some((index, gap)) => {
                    let table = &shared.tables[index];
                    let hi = match table.split.even_bound(&gap) {
                        Some(hi) => hi,
                        None => chunks::next_bound(&mut conn, &table.schema, &table.key, &gap, shared.chunk_rows).await?,
                    };
                    let hi = match hi {
                        Some(hi) => {
                            todo.push_back((index, KeyRange { lo: Some(hi.clone()), hi: gap.hi }));
                            Some(hi)
                        }
                        None => gap.hi,
                    };
                    Some((index, KeyRange { lo: gap.lo, hi }))
                }
            }
        };
        let due = |g: &Group| {
            next.as_ref().is_none_or(|(index, _)| *index != g.table)
                || g.batch.has_closed()
                || g.batch.largest() >= shared.output.max_file_size
                || g.opened.elapsed().as_secs() >= GROUP_SECONDS
                || shared.board.hurry()
        };
        if let Some(mut done) = group.take_if(|g| due(g)) {
            let table = &shared.tables[done.table];
            let completes = Completes::Chunks { schema: &table.schema, generation: table.generation, chunks: &done.chunks };
            let files = done.batch.flush(completes).await?;
            for chunk in &done.chunks {
                shared.board.set(&table.schema.id, chunk.range.clone(), ChunkState::Committed(chunk.position.clone()));
            }
            let rows: u64 = done.chunks.iter().map(|c| c.rows).sum();
            tracing::debug!(table = %table.schema.id, chunks = done.chunks.len(), rows, files = files.len(), "chunks committed.");
            table.committed(done.chunks.len() as u64);
        }
        let Some((index, range)) = next else { return Ok(()) };
        let table = &shared.tables[index];
        let schema = &table.schema;
        if chunks::ServerColumns::read(&mut conn, schema).await?.fingerprint() != table.columns {
            shared.store.set_phase(&schema.id, crate::state::Phase::Loading).await?;
            return Err(Error::Disconnected(format!("the columns of {} changed during its full load; it is loaded anew", schema.id)));
        }
        let group = group.get_or_insert_with(|| Group {
            table: index,
            batch: Batch::new(shared.store.clone(), shared.target.clone(), shared.output.clone(), FileKind::Load, shared.prefix.clone())
                .sharing_load_numbers(shared.numbers.clone())
                .with_file_memory(shared.file_memory),
            chunks: Vec::new(),
            opened: Instant::now(),
        });
        shared.board.set(&schema.id, range.clone(), ChunkState::Opening);
        let mut reader = ChunkReader::begin(&mut conn, schema, &table.key, &range, PAGE_ROWS.min(shared.chunk_rows)).await?;
        let position = reader.position.clone();
        shared.board.set(&schema.id, range.clone(), ChunkState::Reading(position.clone()));
        let mut rows = 0u64;
        let read = |e| Error::source(format!("reading a chunk of {}", schema.id), e);
        while let Some((query, params)) = reader.next_page() {
            if shared.stopping() {
                return Ok(());
            }
            // DMS's "transfer time", once per page.
            let transferred =
                if shared.output.task_start_time_for_full_load { task_start.clone() } else { timestamp_text(chrono::Utc::now()) };
            let mut page = conn.exec_iter(query, params).await.map_err(read)?;
            while let Some(row) = page.next().await.map_err(read)? {
                reader.read(&row);
                let row = snapshot::cells(schema, row)?;
                rows += 1;
                // A chunk's nth row carries the chunk's position and n: every CDC row of its
                // keys ends after that position.
                let sequence =
                    if shared.prefix.sequence.is_some() { position.sequence(shared.sequence_epoch, rows) } else { String::new() };
                let meta = RowMeta { op: Op::Insert, timestamp: &transferred, sequence: &sequence, position: &position };
                group.batch.append_load(schema, &meta, row, shared.output.max_file_size).await?;
            }
            table.rows.fetch_add(reader.page_rows_read(), Ordering::Relaxed);
        }
        reader.finish(&mut conn).await?;
        table.chunks.fetch_add(1, Ordering::Relaxed);
        if let Some(pause) = shared.pause_after_chunk {
            tokio::time::sleep(pause).await;
        }
        group.chunks.push(LoadChunk { range, position, rows, columns: table.columns.clone(), key: Some(table.key.clone()) });
    }
}
