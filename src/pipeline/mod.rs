//! The pipeline: preflight -> recover -> full load -> stream, retried from the last
//! checkpoint on any transient error. Each job has its module: the full load (`load`), the
//! event loop (`stream`), following schema changes (`schema_changes`), and the commit point
//! both write through (`batch`): files are made durable on the target first, then one state
//! transaction records them and advances the checkpoint. A retry drops everything
//! uncommitted, so a file never holds a row twice nor misses one.

mod batch;
mod board;
mod load;
mod schema_changes;
mod stream;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::merge::input::{Inputs, Listing};
use crate::merge::supervisor::{self, CatalogSource};
use crate::merge::{MergeSettings, Merger};
use crate::metrics;
use crate::position::{BinlogPos, MariadbGtidPos};
use crate::schema::{SchemaOptions, TableFilter, TableId, TableSchema};
use crate::sink::Prefix;
use crate::sink::settings::S3Settings;
use crate::sink::target::Target;
use crate::source::chunks::{ChunkKey, LoadedTable};
use crate::source::tracker::{Tracker, shadow_base};
use crate::source::{self, Source, StreamFrom, preflight};
use crate::state::{FileKind, Lease, Phase, StateStore, Store};

use self::batch::Batch;
use self::board::Board;

pub struct Settings {
    pub source: Source,
    /// Where the files go: s3://bucket/prefix, file:///path or a directory.
    pub target: String,
    pub filter: TableFilter,
    pub server_id: u32,
    pub snapshot_chunk_rows: usize,
    /// Chunks of the full load read at once.
    pub snapshot_workers: usize,
    pub heartbeat: Duration,
    /// Bytes the chunk workers may hold together.
    pub snapshot_memory: usize,
    /// How often the full load logs each table's progress.
    pub progress_interval: Duration,
    pub until_caught_up: bool,
    /// What the files look like and when they close (DMS's S3 settings).
    pub output: S3Settings,
    /// binlake's optional sequence column.
    pub sequence_column: Option<String>,
    /// Primary-key updates as `D` of the old row and `I` of the new one.
    pub split_key_updates: bool,
    /// Delete the files of tables this state store never wrote before loading them.
    pub clear_foreign_files: bool,
    /// When a table changed without row events binlake can read.
    pub on_statement_change: OnChange,
    /// When the binlog after the checkpoint was purged.
    pub on_binlog_purged: OnChange,
    /// How source types are written.
    pub schema_options: SchemaOptions,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The merged tables, if asked for.
    pub merge: Option<MergeSettings>,
}

/// What binlake does when the binlog cannot show what happened to tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnChange {
    /// Load the tables anew from a new snapshot (beside their files) and go on.
    Reload,
    /// Stop, naming the `binlake reload` command that gets past it.
    Stop,
}

/// Runs until `stop` turns true (then flushes and commits) or, with `until_caught_up`, until
/// everything committed on the server before the call is in committed files.
pub async fn run(mut settings: Settings, store: Store, mut stop: watch::Receiver<bool>) -> Result<()> {
    let target = Target::open(&settings.target, &settings.output)?;
    let merger = match settings.merge.take() {
        None => None,
        Some(merge) => {
            let inputs = Inputs {
                target: target.clone(),
                settings: settings.output.clone(),
                sequence_column: settings.sequence_column.clone(),
                listing: Listing::Manifest(store.clone()),
            };
            Some(Merger::new(merge, inputs, store.clone())?)
        }
    };
    let lease = Lease::acquire(&store).await?;
    let (finish, finishing) = watch::channel(false);
    let merging = merger.map(|merger| {
        let catalog = CatalogSource { source: settings.source.clone(), filter: settings.filter.clone(), options: settings.schema_options };
        tokio::spawn(supervisor::merge_loop(merger, catalog, finishing))
    });
    let pipeline = Pipeline { s: settings, target, store, target_pos: None, gtid: None, sequence_epoch: 0 }.run(&mut stop);
    let result = match merging {
        None => pipeline.await,
        Some(mut merging) => tokio::select! {
            r = pipeline => {
                let _ = finish.send(true);
                r.and(supervisor::joined(merging.await))
            }
            // The merger returns early only when it cannot go on; the lake was asked for, so
            // binlake stops.
            m = &mut merging => Err(supervisor::joined(m).err().unwrap_or_else(|| Error::Internal("the merger stopped without an error".into()))),
        },
    };
    match result {
        Ok(()) => lease.release().await,
        // The lease is given back as it is dropped.
        Err(e) => Err(e),
    }
}

struct Pipeline {
    s: Settings,
    target: Target,
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
        self.target.probe().await?;
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
        let removed = batch::remove_uncommitted(&self.store, &self.target).await?;
        if removed > 0 {
            info!(files = removed, "removed files of an interrupted run that were never committed.");
        }
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
        for table in self.store.take_reload_requests().await? {
            info!(table = %table, "loading the table anew, as `binlake reload` asked.");
            metrics::table_reloaded(&table.to_string(), "requested");
        }
        let states: HashMap<TableId, _> = self.store.tables().await?.into_iter().map(|t| (t.id.clone(), t)).collect();
        let mut to_load: Vec<Arc<TableSchema>> =
            live.values().filter(|t| states.get(&t.id).is_none_or(|s| s.phase != Phase::Streaming)).cloned().collect();
        to_load.sort_by(|a, b| a.id.cmp(&b.id));
        let plan = if to_load.is_empty() { None } else { Some(self.plan_load(to_load).await?) };
        if let Some(plan) = plan.as_ref().filter(|p| !p.whole.is_empty())
            && self.load_whole(plan.whole.clone(), stop).await?
        {
            return Ok(Ended::Stopped);
        }
        let states = self.store.tables().await?;
        // What each table's LOAD files hold, or will once its chunks are read: the stream
        // skips what they hold.
        let board = Arc::new(Board::default());
        for t in &states {
            let Some(snapshot) = &t.snapshot else { continue };
            let chunks = self.store.load_chunks(&t.id).await?;
            let key = chunks.first().and_then(|c| c.key.clone()).or_else(|| live.get(&t.id).and_then(|s| ChunkKey::legacy(s)));
            let table = match key {
                Some(key) if !chunks.is_empty() => LoadedTable::chunked(key, chunks),
                _ => LoadedTable::whole(snapshot.clone()),
            };
            board.insert(t.id.clone(), table, false);
        }
        let loading: Vec<(Arc<TableSchema>, LoadedTable)> =
            plan.iter().flat_map(|p| p.chunked()).map(|(schema, table)| (schema.clone(), table)).collect();
        // The stream starts where the first change not in a committed file may be: after the
        // checkpoint, and after each table's (or each committed chunk's) snapshot; chunks not
        // read yet will be read as of a later position than this one.
        let checkpoint = self.store.checkpoint().await?;
        let after_checkpoint = |p: &BinlogPos| checkpoint.as_ref().map_or(p.clone(), |c| p.max(&c.position).clone());
        let streaming: Vec<_> = states.iter().filter(|t| t.phase == Phase::Streaming).collect();
        let firsts = streaming
            .iter()
            .filter_map(|t| t.snapshot.as_ref())
            .chain(loading.iter().filter_map(|(_, l)| l.oldest()))
            .map(after_checkpoint)
            .min();
        // Streaming tables without a snapshot (from before snapshots were recorded) go on
        // from the checkpoint.
        let from_checkpoint = checkpoint.as_ref().filter(|_| streaming.iter().any(|t| t.snapshot.is_none())).map(|c| c.position.clone());
        let start = match from_checkpoint.into_iter().chain(firsts).min() {
            Some(p) => p,
            // nothing streams yet and no chunk is committed: nothing before now is needed
            None => source::current_position(&mut conn).await?,
        };
        // Starting past the checkpoint: every table was loaded after it (`binlake reload
        // --all`), and that binlog may be gone.
        let from_snapshots = checkpoint.as_ref().is_none_or(|c| start > c.position);
        // The GTID state always restarts from what is committed, never from memory.
        let committed_gtid = checkpoint.as_ref().and_then(|c| c.gtid.as_deref()).and_then(MariadbGtidPos::parse);
        self.gtid = match source::mariadb_gtid_at(&mut conn, &start).await? {
            Some(g) => Some(g),
            None => committed_gtid.clone(),
        };
        if self.s.until_caught_up && self.target_pos.is_none() {
            self.target_pos = Some(source::current_position(&mut conn).await?);
        }
        // Every chunk not committed yet is read as of a position after this one.
        let load_from = source::current_position(&mut conn).await?;
        let mariadb = source::flavor(&mut conn).await? == source::Flavor::MariaDb;
        let mut tracker = Tracker::new(self.s.filter.clone(), self.s.schema_options, mariadb, source::database_charsets(&mut conn).await?);
        drop(conn);
        self.track_from(&mut tracker, &start, &live).await?;
        for (schema, table) in loading {
            // The chunks are read with the table's schema now: it holds from the oldest
            // committed chunk on (a column change since would have started the load anew), or
            // from now when none is committed. Statements before that are in it (a truncate
            // after a committed chunk is not: it reloads the table, and the new load has none).
            let from = table.oldest().unwrap_or(&load_from).clone();
            self.store.record_schema(&schema.id, &from, Some(&schema), "full load", &[]).await?;
            tracker.insert(schema.clone(), Some(from));
            board.insert(schema.id.clone(), table, true);
        }
        // With a MariaDB GTID checkpoint that covers every table's snapshot, a binlog file that
        // is gone (failover to another server, or purged) can still be found by GTID.
        let by_gtid = committed_gtid.filter(|g| !g.is_empty() && board.done_at(&start));
        let load = plan.filter(|p| p.chunked().next().is_some()).map(|plan| self.start_chunked(plan, board.clone()));
        let streamed = match self.stream(StreamFrom::Position(start.clone()), &mut tracker, &board, stop).await {
            Err(Error::BinlogPurged { detail, .. }) if by_gtid.is_some() => {
                let gtid = by_gtid.expect("checked");
                warn!(position = %start, gtid = %gtid, server = %detail, "the checkpoint's binlog file is not on the server; resuming by GTID.");
                self.gtid = Some(gtid.clone());
                self.sequence_epoch = self.store.raise_sequence_epoch().await?;
                // Every snapshot is before the checkpoint, and this server's positions do not
                // compare with the other's.
                tracker.forget_snapshots();
                self.stream(StreamFrom::MariadbGtid(gtid), &mut tracker, &Board::default(), stop).await
            }
            other => other,
        };
        // The load ends with the session, and has ended before anything else touches the state.
        if let Some(load) = load {
            load.stop().await;
        }
        if matches!(streamed, Ok(Ended::Stopped)) && board.loading() {
            info!("stopped during the full load; it goes on with the chunks not yet committed on the next run.");
        }
        match streamed {
            // Loading everything again helps unless that is what this session just did.
            Err(Error::BinlogPurged { position, detail }) if self.s.on_binlog_purged == OnChange::Reload && !from_snapshots => {
                warn!(position = %position, server = %detail, "the binlog after the checkpoint was purged; loading every table anew from a new snapshot (--on-binlog-purged reload).");
                for table in reload_all(&self.store).await? {
                    metrics::table_reloaded(&table.to_string(), "binlog_purged");
                }
                Ok(Ended::Reload)
            }
            other => other,
        }
    }
}

/// Marks every table of the state store that is still replicated for a new full load from a
/// new snapshot, beside its files (`binlake reload --all`, `--on-binlog-purged reload`);
/// returns them. Streaming then starts at the first new snapshot.
pub async fn reload_all(store: &Store) -> Result<Vec<TableId>> {
    let mut marked = Vec::new();
    for table in store.tables().await? {
        if table.phase != Phase::Dropped {
            store.set_phase(&table.id, Phase::Loading).await?;
            marked.push(table.id);
        }
    }
    Ok(marked)
}

impl Pipeline {
    /// A batch of LOAD or CDC files with the columns the settings ask for.
    fn batch(&self, kind: FileKind) -> Batch {
        let s = &self.s;
        let prefix = Prefix {
            op: s.output.has_op(kind == FileKind::Cdc),
            timestamp: s.output.timestamp_column.clone(),
            sequence: s.sequence_column.clone(),
        };
        Batch::new(self.store.clone(), self.target.clone(), s.output.clone(), kind, prefix)
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
