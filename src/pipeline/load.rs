//! The full load: the tables of one consistent snapshot (see `source::snapshot`) written to
//! LOAD files, each table committed with its snapshot position once all its rows are in
//! files. A load stopped midway commits nothing of the table it was writing: the next run
//! loads that table again from a new snapshot.

use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt;
use tokio::sync::watch;
use tracing::{info, warn};

use super::batch::Completes;
use super::{Pipeline, timestamp_text};
use crate::change::Op;
use crate::error::{Error, Result};
use crate::schema::TableSchema;
use crate::sink::{RowMeta, layout};
use crate::source::snapshot::{self, Chunk};
use crate::state::{FileKind, StateStore};

/// The full load logs its progress every so many rows of a table.
const PROGRESS_EVERY_ROWS: u64 = 100_000;

impl Pipeline {
    /// Loads `tables` from one consistent snapshot. Returns true when stopped midway.
    pub(super) async fn load(&self, tables: Vec<Arc<TableSchema>>, stop: &mut watch::Receiver<bool>) -> Result<bool> {
        self.refuse_foreign_files(&tables).await?;
        for t in &tables {
            self.store.begin_load(&t.id).await?;
        }
        let (position, mut chunks) = snapshot::start(&self.s.source, tables.clone(), self.s.snapshot_chunk_rows).await?;
        info!(tables = tables.len(), position = %position, "full load started from a consistent snapshot.");
        let mut batch = self.batch(FileKind::Load);
        let sequenced = batch.prefix().sequence.is_some();
        let started = Instant::now();
        let task_start = timestamp_text(chrono::Utc::now());
        // Rows of the table being loaded so far, and when to log its progress next.
        let mut loaded = 0u64;
        let mut next_progress = 0u64;
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
                        batch.close_if_full(&schema.id, self.s.output.max_file_size).await?;
                        if !batch.has_open(&schema.id) {
                            batch.open(schema, None).await?;
                        }
                        loaded += 1;
                        // The table's nth LOAD row carries the snapshot position and n: LOAD rows
                        // are ordered among themselves and before every CDC row of the table,
                        // whose events all end after the snapshot position.
                        let sequence = if sequenced { position.sequence(self.sequence_epoch, loaded) } else { String::new() };
                        batch
                            .append(
                                &schema.id,
                                &RowMeta { op: Op::Insert, timestamp: &transferred, sequence: &sequence, position: &position },
                                row,
                                None,
                            )
                            .await?;
                    }
                    if loaded >= next_progress {
                        next_progress = loaded + PROGRESS_EVERY_ROWS;
                        info!(table = %schema.id, rows = loaded, rows_per_s = (loaded as f64 / started.elapsed().as_secs_f64()) as u64, "loading.");
                    }
                }
                Chunk::TableDone { table, rows } => {
                    let schema = &tables[table];
                    let files = batch.flush(Completes::Load { schema, snapshot: &position, rows }).await?;
                    info!(table = %schema.id, rows, files = files.len(), "table loaded.");
                    (loaded, next_progress) = (0, 0);
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
