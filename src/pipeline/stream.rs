//! The event loop: binlog events become rows of CDC files, which are committed at
//! transaction boundaries only (when due by time or size, before a schema change, when caught
//! up or stopping), so the checkpoint is always a position where every earlier change is in
//! committed files and no later one is.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::info;

use super::batch::{Batch, Completes};
use super::board::{Awaited, Board};
use super::{Ended, Pipeline};
use crate::change::{Change, Op, SourceEvent};
use crate::error::{Error, Result};
use crate::metrics;
use crate::position::BinlogPos;
use crate::sink::RowMeta;
use crate::sink::settings::CdcOps;
use crate::source::binlog::Assembler;
use crate::source::tracker::Tracker;
use crate::source::{self, StreamFrom, ddl};
use crate::state::{FileKind, StateStore};
use crate::value::Cell;

/// What the loop keeps between rows, besides the open files.
struct Rows {
    /// The event the last row came from, and how many rows it has given so far: rows of one
    /// event share its end position, the counter orders them.
    at: Option<BinlogPos>,
    in_event: u32,
    /// The DMS timestamp column's text for a commit time (µs), when that column is written.
    timestamp: (i64, String),
    /// Source commit time of the newest transaction with rows in the open files.
    newest_commit: Option<u32>,
}

/// How often the stream looks for `binlake reload` requests.
const RELOAD_POLL: Duration = Duration::from_secs(2);

impl Pipeline {
    /// Streams from `from`. Changes that the LOAD files hold (or will, for tables still
    /// loading) are skipped, as `board` tells. DDL is followed as it comes (see [`Tracker`]).
    pub(super) async fn stream(
        &mut self,
        from: StreamFrom,
        catalog: &mut Tracker,
        board: &Board,
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
        let mut batch = self.batch(FileKind::Cdc);
        let mut rows = Rows { at: None, in_event: 0, timestamp: (i64::MIN, String::new()), newest_commit: None };
        let mut events = Vec::new();
        // Tables changed without readable row events in the open transaction: loaded anew
        // once it commits.
        let mut unlogged = BTreeMap::new();
        // Chunks being read that the open files have changes after: committed first.
        let mut awaited = Awaited::new();
        let mut stopping = false;
        let mut reload_poll = Instant::now();
        let mut last_event = Instant::now();
        let mut read = metrics::ReadPosition::default();
        if let StreamFrom::Position(p) = &from {
            read.set(p);
        }
        let silence = self.s.heartbeat * 3;
        let interval = self.s.output.cdc_max_batch_interval;
        loop {
            if !assembler.in_transaction() {
                let at = assembler.position();
                let caught_up = self.target_pos.as_ref().is_some_and(|t| &at >= t) && board.done_at(&at);
                let due = batch.deadline(interval).is_some_and(|d| Instant::now() >= d)
                    || batch.largest() >= self.s.output.cdc_min_file_size
                    || batch.idle() >= interval;
                // `binlake reload` asked for tables to be loaded anew: the session starts over
                // with them loading, the others streaming on.
                let reload = !stopping && reload_poll.elapsed() >= RELOAD_POLL && {
                    reload_poll = Instant::now();
                    self.store.reload_requested().await?
                };
                if stopping || caught_up || due || reload {
                    self.commit(&mut batch, &mut rows, &at, board, &mut awaited).await?;
                }
                if reload {
                    return Ok(Ended::Reload);
                }
                if stopping {
                    return Ok(Ended::Stopped);
                }
                if caught_up {
                    return Ok(Ended::CaughtUp);
                }
            }
            if let Some(e) = board.failure() {
                return Err(e);
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
                        // caught up, or failed, the moment the load ends
                        _ = board.settled() => continue,
                    }
                }
            };
            let event = match next {
                Err(_) => {
                    if last_event.elapsed() > silence {
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
            last_event = Instant::now();
            assembler.push(&event, &*catalog, &mut events)?;
            // The rows own their values: a large event is not held while they are written.
            drop(event);
            for item in events.drain(..) {
                match item {
                    SourceEvent::Row { mut change, at } => {
                        if !board.unloaded_part(&mut change, &at, &mut awaited).await? {
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
                                self.append(&mut batch, &mut rows, change, &at, assembler.transaction_time()).await?;
                            }
                        }
                    }
                    SourceEvent::Commit { gtid, commit_ts, end } => {
                        read.set(&end);
                        if let Some(gtid) = gtid.as_deref().and_then(super::parse_mariadb_gtid) {
                            self.gtid.get_or_insert_with(Default::default).advance(gtid.0, gtid.1, gtid.2);
                        }
                        if !batch.is_empty() {
                            rows.newest_commit = Some(commit_ts);
                        }
                        if !unlogged.is_empty() {
                            let reload = self.reload_unlogged(std::mem::take(&mut unlogged), &end).await?;
                            self.commit(&mut batch, &mut rows, &end, board, &mut awaited).await?;
                            if reload {
                                return Ok(Ended::Reload);
                            }
                        }
                    }
                    SourceEvent::StatementRows { at, query, database } => {
                        self.statement_rows(catalog, &query, &database, &at, &mut unlogged)?;
                    }
                    SourceEvent::SchemaDrift { table, at, detail } => {
                        self.schema_drift(table, &detail, &at, &mut unlogged)?;
                    }
                    SourceEvent::Statement { start, end, query, database } => {
                        read.set(&end);
                        tracing::debug!(at = %end, query = %query, "statement.");
                        let effects = catalog.apply(ddl::parse(&query, &database), &query, &end);
                        if effects.is_empty() {
                            continue;
                        }
                        // The files written so far end before the statement; later ones have
                        // the tables' new schemas.
                        self.commit(&mut batch, &mut rows, &start, board, &mut awaited).await?;
                        if self.follow(catalog, effects, &query, &end).await? {
                            return Ok(Ended::Reload);
                        }
                    }
                    SourceEvent::Heartbeat { at } => {
                        if let Some(at) = at {
                            read.set(&at);
                        }
                    }
                }
            }
        }
    }

    /// Appends one row change; `committed_at` is its transaction's commit time (µs).
    async fn append(&self, batch: &mut Batch, rows: &mut Rows, change: Change, at: &BinlogPos, committed_at: i64) -> Result<()> {
        let id = &change.table.id;
        if !batch.has_open(id) {
            batch.open(&change.table, Some(at)).await?;
        }
        if rows.at.as_ref() != Some(at) {
            rows.at = Some(at.clone());
            rows.in_event = 0;
        }
        rows.in_event += 1;
        let sequence =
            if batch.prefix().sequence.is_some() { at.sequence(self.sequence_epoch, rows.in_event as u64) } else { String::new() };
        // All rows of a transaction share its commit time: its text is made once.
        if batch.prefix().timestamp.is_some() && rows.timestamp.0 != committed_at {
            rows.timestamp = (committed_at, crate::value::datetime_text(committed_at, 6));
        }
        let old_key = change.moved_from.as_ref().map(|old| {
            let key: Vec<&Cell> = change.table.primary_key.iter().map(|&i| &old[i]).collect();
            serde_json::to_string(&key).expect("cells serialize")
        });
        let meta = RowMeta { op: change.op, timestamp: &rows.timestamp.1, sequence: &sequence, position: at };
        batch.append(id, &meta, change.row, old_key).await
    }

    /// Commits the open files with the checkpoint `at`, once the chunks they wait for are.
    async fn commit(&self, batch: &mut Batch, rows: &mut Rows, at: &BinlogPos, board: &Board, awaited: &mut Awaited) -> Result<()> {
        board.committed(awaited).await?;
        let gtid = self.gtid.as_ref().map(|g| g.to_string()).filter(|g| !g.is_empty());
        let completes = Completes::Stream {
            source: &self.s.source.display,
            checkpoint: at,
            gtid: gtid.as_deref(),
            newest_source_commit: rows.newest_commit.take(),
        };
        let files = batch.flush(completes).await?;
        if !files.is_empty() {
            let rows: u64 = files.iter().map(|f| f.rows).sum();
            info!(files = files.len(), rows, position = %at, "committed CDC files.");
        }
        Ok(())
    }
}
