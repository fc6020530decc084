//! The run loop: preflight -> recover -> snapshot -> stream. It owns the commit point:
//! files are made durable on the target first, then one state transaction records them and
//! advances the checkpoint. Any transient error drops everything uncommitted and resumes
//! from the last checkpoint, so a file never holds a row twice nor misses one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::change::{Change, Op, SourceEvent};
use crate::error::{Error, Result};
use crate::merge::input::{Inputs, Listing};
use crate::merge::{MergeSettings, Merger};
use crate::metrics;
use crate::position::{BinlogPos, MariadbGtidPos};
use crate::schema::{SchemaOptions, TableFilter, TableId, TableSchema};
use crate::sink::settings::{CdcOps, S3Settings};
use crate::sink::target::Target;
use crate::sink::{FileWriter, Prefix, RowMeta, layout};
use crate::source::binlog::Assembler;
use crate::source::ddl;
use crate::source::snapshot::{self, Chunk};
use crate::source::tracker::{Effect, Tracker, shadow_base};
use crate::source::{self, Source, StreamFrom, preflight};
use crate::state::{ClosedFile, Store};

pub struct Settings {
    pub source: Source,
    pub target: Target,
    pub filter: TableFilter,
    pub server_id: u32,
    pub snapshot_chunk_rows: usize,
    pub heartbeat: Duration,
    pub until_caught_up: bool,
    /// What the files look like and when they close (DMS's S3 settings).
    pub output: S3Settings,
    /// binlake's optional sequence column.
    pub sequence_column: Option<String>,
    /// Primary-key updates as `D` of the old row and `I` of the new one.
    pub split_key_updates: bool,
    /// How source types are written.
    pub schema_options: SchemaOptions,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The merged tables, if asked for.
    pub merge: Option<MergeSettings>,
}

/// Runs until `stop` turns true (then flushes and commits) or, with `until_caught_up`, until
/// everything committed on the server before the call is in committed files.
pub async fn run(mut settings: Settings, store: Store, mut stop: watch::Receiver<bool>) -> Result<()> {
    store.acquire_lease().await?;
    // Commits renew the lease too, but a long full load or a quiet source may go longer
    // than the lease without committing.
    let renewer = store.clone();
    let renewal = tokio::spawn(async move {
        loop {
            tokio::time::sleep(crate::state::LEASE_TTL / 3).await;
            if let Err(e) = renewer.renew_lease().await {
                warn!(error = %e, "could not renew the state lease.");
            }
        }
    });
    let (finish, finishing) = watch::channel(false);
    let merging = settings.merge.take().map(|merge| {
        let inputs = Inputs {
            target: settings.target.clone(),
            settings: settings.output.clone(),
            sequence_column: settings.sequence_column.clone(),
            listing: Listing::Manifest(store.clone()),
        };
        let catalog = CatalogSource { source: settings.source.clone(), filter: settings.filter.clone(), options: settings.schema_options };
        tokio::spawn(merge_loop(Merger::new(merge, inputs, store.clone()), catalog, finishing))
    });
    let pipeline = Pipeline { s: settings, store, target_pos: None, gtid: None, sequence_epoch: 0 }.run(&mut stop);
    let result = match merging {
        None => pipeline.await,
        Some(mut merging) => tokio::select! {
            r = pipeline => {
                let _ = finish.send(true);
                r.and(joined(merging.await))
            }
            // The merger returns early only when it cannot go on; the lake was asked for, so
            // binlake stops.
            m = &mut merging => Err(joined(m).err().unwrap_or_else(|| Error::Config("the merger stopped early".into()))),
        },
    };
    renewal.abort();
    result
}

async fn merge_round(merger: &mut Merger, catalog: &CatalogSource) -> Result<()> {
    let mut conn = catalog.source.connect().await?;
    let tables = source::load_catalog(&mut conn, &catalog.filter, catalog.options).await?;
    drop(conn);
    merger.merge_all(&tables).await.map(|_| ())
}

fn joined(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    r.unwrap_or_else(|e| Err(Error::Config(format!("the merger failed: {e}"))))
}

/// Where the merger learns the replicated tables' schemas.
struct CatalogSource {
    source: Source,
    filter: TableFilter,
    options: SchemaOptions,
}

/// Merges committed files every interval, and once more when told to finish (the pipeline
/// stopped or caught up), so `--until caught-up` leaves the lake merged too.
async fn merge_loop(mut merger: Merger, catalog: CatalogSource, mut finish: watch::Receiver<bool>) -> Result<()> {
    loop {
        let last = tokio::select! {
            _ = tokio::time::sleep(merger.interval()) => false,
            _ = finish.changed() => true,
        };
        match merge_round(&mut merger, &catalog).await {
            Ok(_) => {}
            Err(e) if e.is_transient() && !last => warn!(error = %e, "merging failed; trying again at the next interval."),
            Err(e) => return Err(e),
        }
        if last {
            return Ok(());
        }
    }
}

struct Pipeline {
    s: Settings,
    store: Store,
    /// With `--until caught-up`: the server position to reach.
    target_pos: Option<BinlogPos>,
    gtid: Option<MariadbGtidPos>,
    /// The sequence column's epoch (see `Store::raise_sequence_epoch`).
    sequence_epoch: u32,
}

enum Ended {
    Stopped,
    CaughtUp,
    /// Tables must be loaded anew (created, truncated, renamed in): the session starts over
    /// from the checkpoint, after their full load.
    Reload,
}

impl Pipeline {
    async fn run(mut self, stop: &mut watch::Receiver<bool>) -> Result<()> {
        let checks = preflight::run(&self.s.source, self.s.server_id).await?;
        let failed: Vec<String> = checks.iter().filter(|c| c.status == preflight::Status::Fail).map(|c| c.to_string()).collect();
        if !failed.is_empty() {
            return Err(Error::Preflight(format!("run `binlake check` for details\n{}", failed.join("\n"))));
        }
        self.s.target.probe().await?;
        let mut backoff = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            match self.attempt(stop).await {
                Ok(Ended::Reload) => continue,
                Ok(Ended::Stopped) => info!("stopped after committing all complete transactions"),
                Ok(Ended::CaughtUp) => {
                    info!(position = %self.target_pos.as_ref().map(|p| p.to_string()).unwrap_or_default(), "caught up with the source")
                }
                Err(e) if e.is_transient() => {
                    if started.elapsed() > Duration::from_secs(60) {
                        backoff = Duration::from_secs(1);
                    }
                    warn!(error = %e, retry_in = ?backoff, "transient error; resuming from the last checkpoint.");
                    metrics::reconnect();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        self.recover().await?;
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    continue;
                }
                Err(e) => {
                    return Err(e);
                }
            }
            break;
        }
        self.store.release_lease().await?;
        Ok(())
    }

    /// One attempt from the last checkpoint: clean up what was never committed, then load and
    /// stream until stopped, caught up or failed.
    async fn attempt(&mut self, stop: &mut watch::Receiver<bool>) -> Result<Ended> {
        self.recover().await?;
        self.sequence_epoch = self.store.sequence_epoch().await?;
        self.session(stop).await
    }

    /// Removes every object that was uploaded (or started) but never committed.
    async fn recover(&self) -> Result<()> {
        let pending = self.store.pending_files().await?;
        if pending.is_empty() {
            return Ok(());
        }
        for key in &pending {
            self.s.target.delete_if_exists(key).await?;
        }
        self.store.forget_pending(&pending).await?;
        info!(files = pending.len(), "removed files of an interrupted run that were never committed.");
        Ok(())
    }

    async fn session(&mut self, stop: &mut watch::Receiver<bool>) -> Result<Ended> {
        let mut conn = self.s.source.connect().await?;
        let mut live = source::load_catalog(&mut conn, &self.s.filter, self.s.schema_options).await?;
        // An online schema change in progress: its helper tables are followed, not loaded.
        let helpers: Vec<TableId> = live.keys().filter(|t| shadow_base(t).is_some_and(|base| live.contains_key(&base))).cloned().collect();
        for helper in helpers {
            live.remove(&helper);
        }
        if live.is_empty() {
            warn!("no table matches the table selection; only the binlog position is tracked.");
        }
        let states: HashMap<TableId, _> = self.store.tables().await?.into_iter().map(|t| (t.id.clone(), t)).collect();
        let mut to_load: Vec<Arc<TableSchema>> =
            live.values().filter(|t| states.get(&t.id).is_none_or(|s| s.phase != "streaming")).cloned().collect();
        to_load.sort_by(|a, b| a.id.cmp(&b.id));
        if !to_load.is_empty() && self.snapshot(to_load, stop).await? {
            return Ok(Ended::Stopped);
        }
        let snapshots: HashMap<TableId, BinlogPos> =
            self.store.tables().await?.into_iter().filter_map(|t| Some((t.id, t.snapshot?))).collect();
        let checkpoint = self.store.checkpoint().await?;
        let start = match &checkpoint {
            Some(c) => c.position.clone(),
            None => match snapshots.values().min() {
                Some(p) => p.clone(),
                None => source::current_position(&mut conn).await?,
            },
        };
        // The GTID state always restarts from what is committed, never from memory.
        let committed_gtid = checkpoint.as_ref().and_then(|c| c.gtid.as_deref()).and_then(MariadbGtidPos::parse);
        self.gtid = match source::mariadb_gtid_at(&mut conn, &start).await? {
            Some(g) => Some(g),
            None => committed_gtid.clone(),
        };
        if self.s.until_caught_up && self.target_pos.is_none() {
            self.target_pos = Some(source::current_position(&mut conn).await?);
        }
        let mariadb = source::flavor(&mut conn).await? == source::Flavor::MariaDb;
        let mut tracker = Tracker::new(self.s.filter.clone(), self.s.schema_options, mariadb, source::database_charsets(&mut conn).await?);
        drop(conn);
        self.track_from(&mut tracker, &start, &live).await?;
        // With a MariaDB GTID checkpoint that covers every table's snapshot, a binlog file that
        // is gone (failover to another server, or purged) can still be found by GTID.
        let by_gtid = committed_gtid.filter(|g| !g.is_empty() && snapshots.values().all(|s| s <= &start));
        match self.stream(StreamFrom::Position(start.clone()), &mut tracker, &snapshots, stop).await {
            Err(Error::BinlogPurged { detail, .. }) if by_gtid.is_some() => {
                let gtid = by_gtid.expect("checked");
                warn!(position = %start, gtid = %gtid, server = %detail, "the checkpoint's binlog file is not on the server; resuming by GTID.");
                self.gtid = Some(gtid.clone());
                self.sequence_epoch = self.store.raise_sequence_epoch().await?;
                // Every snapshot is before the checkpoint, and this server's positions do not
                // compare with the other's.
                tracker.forget_snapshots();
                self.stream(StreamFrom::MariadbGtid(gtid), &mut tracker, &HashMap::new(), stop).await
            }
            other => other,
        }
    }

    /// Sets up `tracker` with every streaming table's schema as of `start`, from the schema
    /// history: a table loaded after `start` has its snapshot's schema, and its events up to
    /// the snapshot are skipped.
    async fn track_from(&self, tracker: &mut Tracker, start: &BinlogPos, live: &HashMap<TableId, Arc<TableSchema>>) -> Result<()> {
        for state in self.store.tables().await? {
            if state.phase != "streaming" {
                continue;
            }
            let entries = self.store.table_history(&state.id).await?;
            let entry = match &state.snapshot {
                Some(snapshot) if snapshot >= start => entries.iter().find(|h| &h.at == snapshot),
                _ => entries.iter().rev().find(|h| &h.at <= start),
            };
            let schema = match entry {
                Some(entry) => entry.schema.clone().map(Arc::new),
                // A state from before schema histories: the table as it is now, from here on.
                None => {
                    let schema = live.get(&state.id).cloned();
                    if let Some(schema) = &schema {
                        self.store.record_schema(&state.id, start, Some(schema), "schema history started", &[]).await?;
                    }
                    schema
                }
            };
            if let Some(schema) = schema {
                tracker.insert(schema, state.snapshot.clone());
            }
        }
        Ok(())
    }

    /// Loads `tables` from one consistent snapshot. Returns true when stopped midway.
    async fn snapshot(&self, tables: Vec<Arc<TableSchema>>, stop: &mut watch::Receiver<bool>) -> Result<bool> {
        for t in &tables {
            self.store.begin_load(&t.id).await?;
        }
        let (position, mut chunks) = snapshot::start(&self.s.source, tables.clone(), self.s.snapshot_chunk_rows).await?;
        info!(tables = tables.len(), position = %position, "full load started from a consistent snapshot.");
        // A table loaded before (then truncated, or renamed away and back) numbers its new
        // LOAD files after the old ones.
        let mut load = LoadState { number: self.store.committed_load_files(&tables[0].id).await?, ..LoadState::default() };
        let started = Instant::now();
        let prefix = self.s.prefix(false);
        let task_start = timestamp_text(chrono::Utc::now());
        loop {
            let chunk = tokio::select! {
                c = chunks.recv() => c,
                _ = stop.changed() => {
                    if let Some(w) = load.writer.take() { drop(w); }
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
                        if load.writer.as_ref().is_some_and(|w| w.size() >= self.s.output.max_file_size) {
                            load.close().await?;
                        }
                        if load.writer.is_none() {
                            load.number += 1;
                            let name = layout::load_name(load.number, self.s.output.extension());
                            let key = self.s.target.path(&format!("{}/{name}", layout::table_folder(&schema.id))).to_string();
                            self.store.add_pending(&key, &schema.id, "LOAD").await?;
                            load.writer = Some(FileWriter::create(&self.s.target, &key, schema, &prefix, &self.s.output)?);
                            load.table = Some(schema.id.clone());
                        }
                        let writer = load.writer.as_mut().unwrap();
                        // The table's nth LOAD row carries the snapshot position and n: LOAD rows
                        // are ordered among themselves and before every CDC row of the table,
                        // whose events all end after the snapshot position.
                        let sequence = if prefix.sequence.is_some() {
                            position.sequence(self.sequence_epoch, load.rows + writer.rows() + 1)
                        } else {
                            String::new()
                        };
                        writer.append(&RowMeta { op: Op::Insert, timestamp: &transferred, sequence: &sequence }, row).await?;
                    }
                    let loaded = load.rows + load.writer.as_ref().map_or(0, |w| w.rows());
                    if loaded >= load.next_progress {
                        load.next_progress = loaded + PROGRESS_EVERY_ROWS;
                        info!(table = %schema.id, rows = loaded, rows_per_s = (loaded as f64 / started.elapsed().as_secs_f64()) as u64, "loading.");
                    }
                }
                Chunk::TableDone { table, rows } => {
                    load.close().await?;
                    let schema = &tables[table];
                    self.store.commit_load(schema, &position, &load.files, rows).await?;
                    metrics::load_committed(&schema.id.to_string(), rows, load.files.len());
                    info!(table = %schema.id, rows, files = load.files.len(), "table loaded.");
                    load = LoadState::default();
                    if table + 1 == tables.len() {
                        return Ok(false);
                    }
                    load.number = self.store.committed_load_files(&tables[table + 1].id).await?;
                }
            }
        }
    }

    /// Streams from `from`. Changes of a table at or before its snapshot position in
    /// `snapshots` are already in its LOAD files and are skipped. DDL is followed as it comes
    /// (see [`Tracker`]).
    async fn stream(
        &mut self,
        from: StreamFrom,
        catalog: &mut Tracker,
        snapshots: &HashMap<TableId, BinlogPos>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Ended> {
        let (mut stream, checksummed) = self.s.source.binlog_stream(self.s.server_id, &from, self.s.heartbeat).await?;
        info!(from = %from, tables = catalog.replicated_tables().count(), "streaming the binlog.");
        let start = match &from {
            StreamFrom::Position(p) => p.clone(),
            // the server's opening ROTATE names the file and offset
            StreamFrom::MariadbGtid(_) => BinlogPos::new("", 4),
        };
        let mut assembler = Assembler::new(&start, checksummed);
        let mut batch = Batch { prefix: self.s.prefix(true), ..Batch::default() };
        let mut events = Vec::new();
        let mut stopping = false;
        let silence = self.s.heartbeat * 3;
        let interval = self.s.output.cdc_max_batch_interval;
        loop {
            if !assembler.in_transaction() {
                let at = assembler.position();
                let caught_up = self.target_pos.as_ref().is_some_and(|t| &at >= t);
                let due = batch.deadline(interval).is_some_and(|d| Instant::now() >= d)
                    || batch.largest() >= self.s.output.cdc_min_file_size
                    || batch.idle_since.elapsed() >= interval;
                if stopping || caught_up || due {
                    self.flush(&mut batch, &at).await?;
                }
                if stopping {
                    return Ok(Ended::Stopped);
                }
                if caught_up {
                    return Ok(Ended::CaughtUp);
                }
            }
            if !stopping && stop.has_changed().unwrap_or(true) {
                stopping = true;
                continue;
            }
            // Events that have arrived are taken without arming a timer for each.
            let next = match stream.ready() {
                Some(event) => Ok(Some(event)),
                None => {
                    let deadline = if assembler.in_transaction() { None } else { batch.deadline(interval) };
                    let tick = deadline.map_or(interval, |d| d.saturating_duration_since(Instant::now())).min(Duration::from_secs(1));
                    tokio::select! {
                        n = tokio::time::timeout(tick, stream.next()) => n,
                        _ = stop.changed(), if !stopping => { stopping = true; continue; }
                    }
                }
            };
            let event = match next {
                Err(_) => {
                    if batch.last_event.elapsed() > silence {
                        return Err(Error::Disconnected(format!("no event or heartbeat from the source for {} s", silence.as_secs())));
                    }
                    continue;
                }
                Ok(None) => return Err(Error::Disconnected("the source closed the replication stream".into())),
                Ok(Some(Err(e))) => {
                    let at = assembler.position();
                    return Err(if at == start { source::stream_error(e, &from) } else { source::stream_error(e, &at) });
                }
                Ok(Some(Ok(event))) => event,
            };
            batch.last_event = Instant::now();
            assembler.push(&event, &*catalog, &mut events)?;
            // The rows own their values: a large event is not held while they are written.
            drop(event);
            for item in events.drain(..) {
                match item {
                    SourceEvent::Row { mut change, at } => {
                        if snapshots.get(&change.table.id).is_some_and(|s| &at <= s) {
                            continue; // already in the table's LOAD files
                        }
                        // With --split-key-updates, a key change is D of the old row, then I;
                        // files of inserts (and updates) only keep DMS's single U.
                        let gone = match change.moved_from.take() {
                            Some(old) if self.s.split_key_updates && self.s.output.cdc_ops == CdcOps::All => {
                                change.op = Op::Insert;
                                Some(Change { table: change.table.clone(), op: Op::Delete, row: old, moved_from: None })
                            }
                            unsplit => {
                                change.moved_from = unsplit;
                                None
                            }
                        };
                        for change in gone.into_iter().chain([change]) {
                            if self.s.output.cdc_ops.keeps(change.op) {
                                self.append(&mut batch, change, &at, assembler.transaction_time()).await?;
                            }
                        }
                    }
                    SourceEvent::Commit { gtid, commit_ts, .. } => {
                        if let Some(gtid) = gtid.as_deref().and_then(parse_mariadb_gtid) {
                            self.gtid.get_or_insert_with(Default::default).advance(gtid.0, gtid.1, gtid.2);
                        }
                        if !batch.files.is_empty() {
                            batch.newest_commit_ts = Some(commit_ts);
                        }
                    }
                    SourceEvent::Statement { start, end, query, database } => {
                        tracing::debug!(at = %end, query = %query, "statement.");
                        let effects = catalog.apply(ddl::parse(&query, &database), &query, &end);
                        if effects.is_empty() {
                            continue;
                        }
                        // The files written so far end before the statement; later ones have
                        // the tables' new schemas.
                        self.flush(&mut batch, &start).await?;
                        if self.follow(catalog, effects, &query, &end).await? {
                            return Ok(Ended::Reload);
                        }
                    }
                    SourceEvent::Heartbeat { .. } => {}
                }
            }
        }
    }

    /// Records what a DDL statement that ended at `end` did to replicated tables. Returns true
    /// when tables must be loaded anew before streaming goes on.
    async fn follow(&self, tracker: &mut Tracker, effects: Vec<Effect>, query: &str, end: &BinlogPos) -> Result<bool> {
        let statement: String = query.chars().take(200).collect();
        let mut reload = false;
        for effect in effects {
            match effect {
                Effect::Schema { schema, renamed } => {
                    self.store.record_schema(&schema.id, end, Some(&schema), query, &renamed).await?;
                    info!(table = %schema.id, position = %end, statement = %statement, "following a schema change.");
                }
                Effect::Gone(table) => {
                    self.store.record_schema(&table, end, None, query, &[]).await?;
                    self.store.set_phase(&table, "dropped").await?;
                    info!(table = %table, position = %end, statement = %statement, "the table is gone; its files stop here.");
                }
                Effect::Reload { table, why } => reload |= self.reload(&table, &why, end, &statement).await?,
                Effect::Unknown { table, reason } => match self.schema_now_if_current(&table, end).await? {
                    Some(schema) => {
                        tracker.insert(schema.clone(), None);
                        self.store.record_schema(&table, end, Some(&schema), query, &[]).await?;
                        warn!(table = %table, position = %end, statement = %statement, reason = %reason,
                            "a statement binlake cannot parse changed the table; its schema is read from information_schema (no later change is in the binlog).");
                    }
                    None => {
                        warn!(table = %table, position = %end, statement = %statement, reason = %reason,
                            "a statement binlake cannot parse changed the table, and later changes are in the binlog already.");
                        reload |= self.reload(&table, "binlake could not follow a statement", end, &statement).await?;
                    }
                },
            }
        }
        Ok(reload)
    }

    /// Marks `table` for a new full load, if it still exists at the source; returns whether it
    /// does. A table gone since (renamed on, dropped) is not loaded under this name: what it
    /// became is loaded under its own.
    async fn reload(&self, table: &TableId, why: &str, end: &BinlogPos, statement: &str) -> Result<bool> {
        let mut conn = self.s.source.connect().await?;
        if !source::table_exists(&mut conn, table).await? {
            info!(table = %table, position = %end, statement = %statement, "not loading the table ({why}): it is not at the source any more.");
            return Ok(false);
        }
        self.store.set_phase(table, "loading").await?;
        info!(table = %table, position = %end, statement = %statement, "loading the table anew: {why}.");
        Ok(true)
    }

    /// The schema `information_schema` shows for `table`, when nothing was written to the
    /// binlog after `end`: then it is the schema as of `end`, not of some later DDL.
    async fn schema_now_if_current(&self, table: &TableId, end: &BinlogPos) -> Result<Option<Arc<TableSchema>>> {
        let mut conn = self.s.source.connect().await?;
        if &source::current_position(&mut conn).await? != end {
            return Ok(None);
        }
        let schema = source::load_schema(&mut conn, table, self.s.schema_options).await?;
        // Read again: a DDL that ran meanwhile makes what was read unusable.
        let current = &source::current_position(&mut conn).await? == end && !schema.columns.is_empty();
        Ok(current.then(|| Arc::new(schema)))
    }

    /// Appends one row change; `committed_at` is its transaction's commit time (µs).
    async fn append(&self, batch: &mut Batch, change: Change, at: &BinlogPos, committed_at: i64) -> Result<()> {
        let id = &change.table.id;
        if !batch.files.contains_key(id) {
            let last = self.store.last_cdc_key(id).await?;
            let last_name = last.as_deref().and_then(|k| k.rsplit('/').next());
            let relative = layout::cdc_key(chrono::Utc::now(), self.s.output.date_partition.as_ref(), last_name, self.s.output.extension());
            let key = self.s.target.path(&format!("{}/{relative}", layout::table_folder(id))).to_string();
            self.store.add_pending(&key, id, "CDC").await?;
            let writer = FileWriter::create(&self.s.target, &key, &change.table, &batch.prefix, &self.s.output)?;
            batch.files.insert(id.clone(), (writer, at.clone()));
            batch.opened.get_or_insert_with(Instant::now);
        }
        // Rows of one event share its end position; the counter orders them.
        if batch.row_at.as_ref() != Some(at) {
            batch.row_at = Some(at.clone());
            batch.row_in_event = 0;
        }
        batch.row_in_event += 1;
        let sequence =
            if batch.prefix.sequence.is_some() { at.sequence(self.sequence_epoch, batch.row_in_event as u64) } else { String::new() };
        // All rows of a transaction share its commit time: its text is made once.
        if batch.prefix.timestamp.is_some() && batch.timestamp.0 != committed_at {
            batch.timestamp = (committed_at, crate::value::datetime_text(committed_at, 6));
        }
        let (writer, _) = batch.files.get_mut(id).expect("opened above");
        if let Some(old) = &change.moved_from {
            // The files carry the new row only; the merger learns the old key from the state.
            let key: Vec<&crate::value::Cell> = change.table.primary_key.iter().map(|&i| &old[i]).collect();
            let json = serde_json::to_string(&key).expect("cells serialize");
            batch.key_moves.entry(id.clone()).or_default().push((writer.rows(), json));
        }
        writer.append(&RowMeta { op: change.op, timestamp: &batch.timestamp.1, sequence: &sequence }, change.row).await
    }

    /// The commit point: close every open file (durable on the target), then record them and
    /// the checkpoint `at` in one state transaction.
    async fn flush(&self, batch: &mut Batch, at: &BinlogPos) -> Result<()> {
        let started = Instant::now();
        let mut closed = Vec::with_capacity(batch.files.len());
        for (id, (writer, first)) in batch.files.drain() {
            let key = writer.key.clone();
            let stats = writer.finish().await?;
            let key_moves = batch.key_moves.remove(&id).unwrap_or_default();
            closed.push(ClosedFile { key, table: id, rows: stats.rows, bytes: stats.bytes, first_position: Some(first), key_moves });
        }
        let gtid = self.gtid.as_ref().map(|g| g.to_string()).filter(|g| !g.is_empty());
        if let Err(e) = self.store.commit_cdc(&self.s.source.display, &closed, at, gtid.as_deref()).await {
            if matches!(e, Error::Lease(_)) {
                // Another binlake owns the state now and will never learn of these objects.
                for f in &closed {
                    let _ = self.s.target.delete_if_exists(&f.key).await;
                }
            }
            return Err(e);
        }
        for f in &closed {
            metrics::cdc_file_committed(&f.table.to_string(), f.rows, f.bytes);
        }
        metrics::checkpoint(at, batch.newest_commit_ts.take());
        if !closed.is_empty() {
            let rows: u64 = closed.iter().map(|f| f.rows).sum();
            info!(files = closed.len(), rows, position = %at, "committed CDC files.");
            batch.flush_took = started.elapsed();
        }
        batch.opened = None;
        batch.idle_since = Instant::now();
        Ok(())
    }
}

impl Settings {
    fn prefix(&self, cdc: bool) -> Prefix {
        Prefix { op: self.output.has_op(cdc), timestamp: self.output.timestamp_column.clone(), sequence: self.sequence_column.clone() }
    }
}

/// `domain-server-seq`; `None` for MySQL's `uuid:number`.
fn parse_mariadb_gtid(gtid: &str) -> Option<(u32, u32, u64)> {
    let mut it = gtid.splitn(3, '-');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// DMS's timestamp column text for a wall-clock time (UTC).
fn timestamp_text(at: chrono::DateTime<chrono::Utc>) -> String {
    crate::value::datetime_text(at.timestamp_micros(), 6)
}

/// The open CDC files of the current batch, one per table.
struct Batch {
    prefix: Prefix,
    files: HashMap<TableId, (FileWriter, BinlogPos)>,
    /// Per open file, the rows that changed their primary key and the old keys.
    key_moves: HashMap<TableId, Vec<(u64, String)>>,
    /// The event the last row came from, and how many rows it has given so far.
    row_at: Option<BinlogPos>,
    row_in_event: u32,
    /// The DMS timestamp column's text for a commit time (µs), when that column is written.
    timestamp: (i64, String),
    /// Source commit time of the newest transaction with rows in the open files.
    newest_commit_ts: Option<u32>,
    opened: Option<Instant>,
    /// How long closing and committing the last files took.
    flush_took: Duration,
    idle_since: Instant,
    last_event: Instant,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            prefix: Prefix::default(),
            files: HashMap::new(),
            key_moves: HashMap::new(),
            row_at: None,
            row_in_event: 0,
            timestamp: (i64::MIN, String::new()),
            newest_commit_ts: None,
            opened: None,
            flush_took: Duration::ZERO,
            idle_since: Instant::now(),
            last_event: Instant::now(),
        }
    }
}

impl Batch {
    /// When the open files start closing: as long before the end of `interval` as the last
    /// commit took (at most half of it), so that their rows are in the lake within it.
    fn deadline(&self, interval: Duration) -> Option<Instant> {
        self.opened.map(|t| t + interval - self.flush_took.min(interval / 2))
    }

    fn largest(&self) -> u64 {
        self.files.values().map(|(w, _)| w.size()).max().unwrap_or(0)
    }
}

/// The full load logs its progress every so many rows of a table.
const PROGRESS_EVERY_ROWS: u64 = 100_000;

/// The LOAD files of the table being loaded.
#[derive(Default)]
struct LoadState {
    writer: Option<FileWriter>,
    table: Option<TableId>,
    number: u32,
    rows: u64,
    next_progress: u64,
    files: Vec<ClosedFile>,
}

impl LoadState {
    async fn close(&mut self) -> Result<()> {
        if let (Some(w), Some(table)) = (self.writer.take(), self.table.clone()) {
            let key = w.key.clone();
            let stats = w.finish().await?;
            self.rows += stats.rows;
            self.files.push(ClosedFile { key, table, rows: stats.rows, bytes: stats.bytes, first_position: None, key_moves: Vec::new() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_start_closing_as_early_as_the_last_commit_took() {
        let interval = Duration::from_secs(1);
        let mut batch = Batch::default();
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
