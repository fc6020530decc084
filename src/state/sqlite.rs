//! The embedded state store: SQLite through sqlx, in WAL mode with full syncs. Each commit
//! is one SQLite transaction that also proves this process still holds the lease.

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, Transaction};

use super::lease::{self, LEASE_TTL};
use super::*;
use crate::error::Error;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Who this process is in the lease (see `lease::owner_id`).
    owner: String,
}

/// SQLite's result code for a file that is not a database.
const SQLITE_NOTADB: &str = "26";

impl SqliteStore {
    /// Opens (creating if needed) the store at `sqlite://path` or a bare path.
    pub async fn open(url: &str) -> Result<Self> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::Config(format!("state directory {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let not_a_state = |cause: String| {
            Error::Config(format!(
                "not a binlake state store ({cause}); point --state at the file binlake wrote, or restore it from a backup"
            ))
        };
        let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some(SQLITE_NOTADB) => not_a_state(db.message().to_string()),
            _ => Error::State(e),
        })?;
        sqlx::migrate!("./migrations").run(&pool).await.map_err(|e| match &e {
            sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db)) if db.code().as_deref() == Some(SQLITE_NOTADB) => {
                not_a_state(db.message().to_string())
            }
            _ => Error::Migrate(e),
        })?;
        let owner = lease::owner_id();
        Ok(Self { pool, owner })
    }

    /// Extends the lease inside a commit transaction, failing if another process took it.
    async fn fence(&self, tx: &mut Transaction<'_, Sqlite>) -> Result<()> {
        let expires = Utc::now().timestamp() + LEASE_TTL.as_secs() as i64;
        let done = sqlx::query("UPDATE lease SET expires_at = ? WHERE id = 1 AND owner = ?")
            .bind(expires)
            .bind(&self.owner)
            .execute(&mut **tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Lease("the state lease was taken by another binlake; stopping without committing".into()));
        }
        Ok(())
    }
}

impl StateStore for SqliteStore {
    async fn acquire_lease(&self) -> Result<()> {
        let now = Utc::now().timestamp();
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query("SELECT owner, expires_at FROM lease WHERE id = 1").fetch_optional(&mut *tx).await?;
        if let Some(row) = current {
            let owner: String = row.get(0);
            let expires_at: i64 = row.get(1);
            if expires_at > now && !lease::holder_is_dead(&owner) {
                return Err(Error::Lease(format!(
                    "another binlake ({owner}) is running on this state for {} more seconds; stop it first, or use another --state",
                    expires_at - now
                )));
            }
        }
        sqlx::query("INSERT INTO lease (id, owner, expires_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at")
            .bind(&self.owner)
            .bind(now + LEASE_TTL.as_secs() as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn renew_lease(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn release_lease(&self) -> Result<()> {
        sqlx::query("DELETE FROM lease WHERE owner = ?").bind(&self.owner).execute(&self.pool).await?;
        Ok(())
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let row = sqlx::query("SELECT binlog_file, binlog_offset, gtid, committed_at FROM checkpoint WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Checkpoint {
            position: BinlogPos::new(r.get::<String, _>(0), r.get::<i64, _>(1) as u64),
            gtid: r.get(2),
            committed_at: r.get(3),
        }))
    }

    async fn sequence_epoch(&self) -> Result<u32> {
        let epoch: Option<i64> =
            sqlx::query_scalar("SELECT sequence_epoch FROM checkpoint WHERE id = 1").fetch_optional(&self.pool).await?;
        Ok(epoch.unwrap_or(0) as u32)
    }

    async fn raise_sequence_epoch(&self) -> Result<u32> {
        sqlx::query("UPDATE checkpoint SET sequence_epoch = sequence_epoch + 1 WHERE id = 1").execute(&self.pool).await?;
        self.sequence_epoch().await
    }

    async fn tables(&self) -> Result<Vec<TableState>> {
        let rows = sqlx::query(
            "SELECT t.database_name, t.table_name, phase, snapshot_file, snapshot_offset, rows_loaded, load_files, cdc_files, cdc_rows, last_commit_at, \
             f.last_file, f.last_offset \
             FROM tables t LEFT JOIN files f ON f.key = (SELECT l.key FROM files l WHERE l.database_name = t.database_name AND l.table_name = t.table_name \
              AND l.status = 'committed' ORDER BY l.committed_at DESC, l.key DESC LIMIT 1) \
             ORDER BY t.database_name, t.table_name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| TableState {
                id: TableId::new(r.get::<String, _>(0), r.get::<String, _>(1)),
                phase: r.get(2),
                snapshot: r.get::<Option<String>, _>(3).map(|f| BinlogPos::new(f, r.get::<Option<i64>, _>(4).unwrap_or(0) as u64)),
                rows_loaded: r.get(5),
                load_files: r.get(6),
                cdc_files: r.get(7),
                cdc_rows: r.get(8),
                last_commit_at: r.get(9),
                last_position: position(r.get(10), r.get(11)),
            })
            .collect())
    }

    async fn add_pending(&self, key: &str, table: &TableId, kind: FileKind) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO files (key, database_name, table_name, kind, status, created_at, sequence) \
             VALUES (?, ?, ?, ?, 'pending', ?, (SELECT COALESCE(MAX(sequence), 0) + 1 FROM files))",
        )
        .bind(key)
        .bind(&table.database)
        .bind(&table.table)
        .bind(kind)
        .bind(Utc::now().to_rfc3339())
        .execute(&mut *tx)
        .await?;
        if kind == FileKind::Cdc {
            sqlx::query("UPDATE tables SET last_cdc_key = ? WHERE database_name = ? AND table_name = ?")
                .bind(key)
                .bind(&table.database)
                .bind(&table.table)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_files(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT key FROM files WHERE status = 'pending' ORDER BY key").fetch_all(&self.pool).await?)
    }

    async fn forget_pending(&self, keys: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query("DELETE FROM files WHERE key = ? AND status = 'pending'").bind(key).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn last_cdc_key(&self, table: &TableId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT last_cdc_key FROM tables WHERE database_name = ? AND table_name = ?")
            .bind(&table.database)
            .bind(&table.table)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    async fn begin_load(&self, table: &TableId) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let current: Option<(Phase, i64)> =
            sqlx::query_as("SELECT phase, load_generation FROM tables WHERE database_name = ? AND table_name = ?")
                .bind(&table.database)
                .bind(&table.table)
                .fetch_optional(&mut *tx)
                .await?;
        let generation = match current {
            Some((Phase::Loading, generation)) if generation > 0 => generation,
            _ => new_generation(&mut tx, table).await?,
        };
        tx.commit().await?;
        Ok(generation)
    }

    async fn commit_load(
        &self,
        schema: &TableSchema,
        generation: i64,
        snapshot: &BinlogPos,
        files: &[ClosedFile],
        rows: u64,
    ) -> Result<()> {
        let table = &schema.id;
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        let now = Utc::now().to_rfc3339();
        for f in files {
            mark_committed(&mut tx, f, Some(snapshot), &now).await?;
            set_generation(&mut tx, f, generation).await?;
        }
        record_schema(&mut tx, table, snapshot, Some(schema), "full load").await?;
        sqlx::query(
            "UPDATE tables SET phase = ?, snapshot_file = ?, snapshot_offset = ?, rows_loaded = ?, load_files = ?, last_commit_at = ? \
             WHERE database_name = ? AND table_name = ?",
        )
        .bind(Phase::Streaming)
        .bind(&snapshot.file)
        .bind(snapshot.offset as i64)
        .bind(rows as i64)
        .bind(files.len() as i64)
        .bind(&now)
        .bind(&table.database)
        .bind(&table.table)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn commit_chunks(&self, table: &TableId, generation: i64, chunks: &[LoadChunk], files: &[ClosedFile]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        let now = Utc::now().to_rfc3339();
        let newest = chunks.iter().map(|c| &c.position).max();
        for f in files {
            mark_committed(&mut tx, f, newest, &now).await?;
            set_generation(&mut tx, f, generation).await?;
        }
        for chunk in chunks {
            sqlx::query(
                "INSERT INTO load_chunks (database_name, table_name, generation, key_from, key_to, binlog_file, binlog_offset, rows, columns, chunk_key, committed_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&table.database)
            .bind(&table.table)
            .bind(generation)
            .bind(chunk.range.lo.as_ref().map(Key::to_text))
            .bind(chunk.range.hi.as_ref().map(Key::to_text))
            .bind(&chunk.position.file)
            .bind(chunk.position.offset as i64)
            .bind(chunk.rows as i64)
            .bind(&chunk.columns)
            .bind(chunk.key.as_ref().map(ChunkKey::to_text))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        let updated = sqlx::query(
            "UPDATE tables SET rows_loaded = rows_loaded + ?, load_files = load_files + ?, last_commit_at = ? \
             WHERE database_name = ? AND table_name = ? AND phase = ? AND load_generation = ?",
        )
        .bind(chunks.iter().map(|c| c.rows as i64).sum::<i64>())
        .bind(files.len() as i64)
        .bind(&now)
        .bind(&table.database)
        .bind(&table.table)
        .bind(Phase::Loading)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::Lease(format!("the full load {generation} of {table} is not in progress in the state store any more")));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_load(&self, schema: &TableSchema, generation: i64) -> Result<BinlogPos> {
        let table = &schema.id;
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        let positions: Vec<(String, i64)> = sqlx::query_as(
            "SELECT binlog_file, binlog_offset FROM load_chunks WHERE database_name = ? AND table_name = ? AND generation = ?",
        )
        .bind(&table.database)
        .bind(&table.table)
        .bind(generation)
        .fetch_all(&mut *tx)
        .await?;
        let snapshot = positions
            .into_iter()
            .map(|(file, offset)| BinlogPos::new(file, offset as u64))
            .min()
            .ok_or_else(|| Error::Internal(format!("the full load of {table} has no committed chunk")))?;
        record_schema(&mut tx, table, &snapshot, Some(schema), "full load").await?;
        sqlx::query(
            "UPDATE tables SET phase = ?, snapshot_file = ?, snapshot_offset = ? \
             WHERE database_name = ? AND table_name = ? AND load_generation = ?",
        )
        .bind(Phase::Streaming)
        .bind(&snapshot.file)
        .bind(snapshot.offset as i64)
        .bind(&table.database)
        .bind(&table.table)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(snapshot)
    }

    async fn set_load_estimate(&self, table: &TableId, rows: u64, chunks: u64) -> Result<()> {
        sqlx::query("UPDATE tables SET estimated_rows = ?, estimated_chunks = ? WHERE database_name = ? AND table_name = ?")
            .bind(rows as i64)
            .bind(chunks as i64)
            .bind(&table.database)
            .bind(&table.table)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn load_progress(&self) -> Result<Vec<LoadProgress>> {
        let loading: Vec<(String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT database_name, table_name, estimated_rows, estimated_chunks FROM tables WHERE phase = ? ORDER BY database_name, table_name",
        )
        .bind(Phase::Loading)
        .fetch_all(&self.pool)
        .await?;
        let mut progress = Vec::with_capacity(loading.len());
        for (database, name, estimated_rows, estimated_chunks) in loading {
            let commits: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT c.committed_at, COUNT(*), SUM(c.rows) FROM load_chunks c JOIN tables t \
                 ON t.database_name = c.database_name AND t.table_name = c.table_name AND t.load_generation = c.generation \
                 WHERE c.database_name = ? AND c.table_name = ? GROUP BY c.committed_at ORDER BY c.committed_at",
            )
            .bind(&database)
            .bind(&name)
            .fetch_all(&self.pool)
            .await?;
            progress.push(LoadProgress {
                table: TableId::new(database, name),
                chunks: commits.iter().map(|c| c.1 as u64).sum(),
                estimated_rows: estimated_rows.map(|r| r as u64),
                estimated_chunks: estimated_chunks.map(|c| c as u64),
                commits: commits.into_iter().map(|(at, _, rows)| (at, rows as u64)).collect(),
            });
        }
        Ok(progress)
    }

    async fn load_chunks(&self, table: &TableId) -> Result<Vec<LoadChunk>> {
        let rows = sqlx::query(
            "SELECT c.key_from, c.key_to, c.binlog_file, c.binlog_offset, c.rows, c.columns, c.chunk_key FROM load_chunks c JOIN tables t \
             ON t.database_name = c.database_name AND t.table_name = c.table_name AND t.load_generation = c.generation \
             WHERE c.database_name = ? AND c.table_name = ?",
        )
        .bind(&table.database)
        .bind(&table.table)
        .fetch_all(&self.pool)
        .await?;
        let bound = |text: Option<String>| -> Result<Option<Key>> {
            text.map(|t| Key::parse(&t).ok_or_else(|| Error::Internal(format!("a chunk bound of {table} is not a key: {t}")))).transpose()
        };
        let mut chunks = Vec::with_capacity(rows.len());
        for r in rows {
            chunks.push(LoadChunk {
                range: KeyRange { lo: bound(r.get(0))?, hi: bound(r.get(1))? },
                position: BinlogPos::new(r.get::<String, _>(2), r.get::<i64, _>(3) as u64),
                rows: r.get::<i64, _>(4) as u64,
                columns: r.get(5),
                key: r
                    .get::<Option<String>, _>(6)
                    .map(|t| ChunkKey::parse(&t).ok_or_else(|| Error::Internal(format!("the chunk key of {table} is unreadable: {t}"))))
                    .transpose()?,
            });
        }
        chunks.sort_by(|a, b| a.range.cmp(&b.range));
        Ok(chunks)
    }

    async fn commit_cdc(&self, source: &str, files: &[ClosedFile], checkpoint: &BinlogPos, gtid: Option<&str>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        let now = Utc::now().to_rfc3339();
        for f in files {
            mark_committed(&mut tx, f, Some(checkpoint), &now).await?;
            for m in &f.key_moves {
                sqlx::query("INSERT INTO key_moves (file_key, row_number, old_key) VALUES (?, ?, ?)")
                    .bind(&f.key)
                    .bind(m.row as i64)
                    .bind(&m.old_key)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE tables SET cdc_files = cdc_files + 1, cdc_rows = cdc_rows + ?, last_commit_at = ? WHERE database_name = ? AND table_name = ?")
                .bind(f.rows as i64)
                .bind(&now)
                .bind(&f.table.database)
                .bind(&f.table.table)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO checkpoint (id, source, binlog_file, binlog_offset, gtid, committed_at) VALUES (1, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET source = excluded.source, binlog_file = excluded.binlog_file, binlog_offset = excluded.binlog_offset, \
             gtid = COALESCE(excluded.gtid, checkpoint.gtid), committed_at = excluded.committed_at",
        )
        .bind(source)
        .bind(&checkpoint.file)
        .bind(checkpoint.offset as i64)
        .bind(gtid)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_schema(
        &self,
        table: &TableId,
        at: &BinlogPos,
        schema: Option<&TableSchema>,
        cause: &str,
        renamed: &[(String, String)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        record_schema(&mut tx, table, at, schema, cause).await?;
        if !renamed.is_empty() {
            sqlx::query(
                "UPDATE schema_history SET renamed_columns = ? WHERE database_name = ? AND table_name = ? AND binlog_file = ? AND binlog_offset = ?",
            )
            .bind(serde_json::to_string(renamed).expect("names serialize"))
            .bind(&table.database)
            .bind(&table.table)
            .bind(&at.file)
            .bind(at.offset as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn table_history(&self, table: &TableId) -> Result<Vec<SchemaAt>> {
        let rows = sqlx::query(
            "SELECT binlog_file, binlog_offset, schema_json, renamed_columns FROM schema_history WHERE database_name = ? AND table_name = ?",
        )
        .bind(&table.database)
        .bind(&table.table)
        .fetch_all(&self.pool)
        .await?;
        let bad = |e: serde_json::Error| {
            Error::Config(format!("the state store's schema history of {table} does not read ({e}); was it written by a newer binlake?"))
        };
        let mut history = Vec::with_capacity(rows.len());
        for r in rows {
            history.push(SchemaAt {
                at: BinlogPos::new(r.get::<String, _>(0), r.get::<i64, _>(1) as u64),
                schema: r.get::<Option<String>, _>(2).map(|j| serde_json::from_str(&j)).transpose().map_err(bad)?,
                renamed: r.get::<Option<String>, _>(3).map(|j| serde_json::from_str(&j)).transpose().map_err(bad)?.unwrap_or_default(),
            });
        }
        history.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(history)
    }

    async fn request_reload(&self, table: &TableId) -> Result<()> {
        sqlx::query("INSERT OR REPLACE INTO reload_requests (database_name, table_name, requested_at) VALUES (?, ?, ?)")
            .bind(&table.database)
            .bind(&table.table)
            .bind(Utc::now().to_rfc3339())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn reload_requested(&self) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reload_requests)").fetch_one(&self.pool).await?)
    }

    async fn take_reload_requests(&self) -> Result<Vec<TableId>> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        let requested: Vec<(String, String)> =
            sqlx::query_as("SELECT database_name, table_name FROM reload_requests ORDER BY database_name, table_name")
                .fetch_all(&mut *tx)
                .await?;
        let tables: Vec<TableId> = requested.into_iter().map(|(db, t)| TableId::new(db, t)).collect();
        for table in &tables {
            new_generation(&mut tx, table).await?;
        }
        sqlx::query("DELETE FROM reload_requests").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(tables)
    }

    async fn set_phase(&self, table: &TableId, phase: Phase) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if phase == Phase::Loading {
            new_generation(&mut tx, table).await?;
        } else {
            sqlx::query(
                "INSERT INTO tables (database_name, table_name, phase) VALUES (?, ?, ?) \
                 ON CONFLICT (database_name, table_name) DO UPDATE SET phase = excluded.phase",
            )
            .bind(&table.database)
            .bind(&table.table)
            .bind(phase)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn last_load_number(&self, table: &TableId) -> Result<u32> {
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM files WHERE database_name = ? AND table_name = ? AND kind = ?")
            .bind(&table.database)
            .bind(&table.table)
            .bind(FileKind::Load)
            .fetch_all(&self.pool)
            .await?;
        Ok(keys.iter().filter_map(|k| crate::sink::layout::load_number(k)).max().unwrap_or(0))
    }

    async fn key_moves(&self, file_key: &str) -> Result<Vec<KeyMove>> {
        let rows = sqlx::query("SELECT row_number, old_key FROM key_moves WHERE file_key = ? ORDER BY row_number")
            .bind(file_key)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| KeyMove { row: r.get::<i64, _>(0) as u64, old_key: r.get(1) }).collect())
    }

    async fn committed_files(&self, table: &TableId) -> Result<Vec<CommittedFile>> {
        let rows = sqlx::query(
            "SELECT sequence, key, kind, last_file, last_offset, committed_at, load_generation FROM files \
             WHERE database_name = ? AND table_name = ? AND status = 'committed' ORDER BY sequence",
        )
        .bind(&table.database)
        .bind(&table.table)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CommittedFile {
                sequence: r.get(0),
                key: r.get(1),
                kind: r.get(2),
                last_position: position(r.get(3), r.get(4)),
                committed_at: r.get(5),
                load_generation: r.get(6),
            })
            .collect())
    }

    async fn merge_progress(&self, table_url: &str) -> Result<MergeProgress> {
        let row = sqlx::query(
            "SELECT merge_number, through_order, through_kind, pending_number, pending_order, pending_kind FROM merges WHERE table_url = ?",
        )
        .bind(table_url)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or_else(MergeProgress::default, |r| MergeProgress {
            number: r.get(0),
            through: r.get(1),
            through_load: r.get::<Option<FileKind>, _>(2) == Some(FileKind::Load),
            pending: match (r.get::<Option<i64>, _>(3), r.get::<Option<String>, _>(4)) {
                (Some(number), Some(through)) => {
                    Some(PendingMerge { number, through, through_load: r.get::<Option<FileKind>, _>(5) == Some(FileKind::Load) })
                }
                _ => None,
            },
            foreign: false,
        }))
    }

    async fn begin_merge(&self, table_url: &str, table: &TableId, number: i64, order: &str, load: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO merges (table_url, database_name, table_name, pending_number, pending_order, pending_kind) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (table_url) DO UPDATE SET pending_number = excluded.pending_number, pending_order = excluded.pending_order, pending_kind = excluded.pending_kind",
        )
        .bind(table_url)
        .bind(&table.database)
        .bind(&table.table)
        .bind(number)
        .bind(order)
        .bind(if load { FileKind::Load } else { FileKind::Cdc })
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn merges(&self) -> Result<Vec<MergeRecord>> {
        let rows =
            sqlx::query("SELECT database_name, table_name, table_url, merge_number, input_files, merged_at FROM merges ORDER BY 1, 2, 3")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| MergeRecord {
                table: TableId::new(r.get::<String, _>(0), r.get::<String, _>(1)),
                url: r.get(2),
                merges: r.get(3),
                input_files: r.get(4),
                last_merge_at: r.get(5),
            })
            .collect())
    }

    async fn end_merge(&self, table_url: &str, input_files: usize) -> Result<()> {
        sqlx::query(
            "UPDATE merges SET merge_number = pending_number, through_order = pending_order, through_kind = pending_kind, \
             pending_number = NULL, pending_order = NULL, pending_kind = NULL, input_files = input_files + ?, merged_at = ? WHERE table_url = ?",
        )
        .bind(input_files as i64)
        .bind(Utc::now().to_rfc3339())
        .bind(table_url)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn abandon_merge(&self, table_url: &str) -> Result<()> {
        sqlx::query("UPDATE merges SET pending_number = NULL, pending_order = NULL, pending_kind = NULL WHERE table_url = ?")
            .bind(table_url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn reset_merge(&self, table_url: &str) -> Result<()> {
        sqlx::query("DELETE FROM merges WHERE table_url = ?").bind(table_url).execute(&self.pool).await?;
        Ok(())
    }
}

async fn record_schema(
    tx: &mut Transaction<'_, Sqlite>,
    table: &TableId,
    at: &BinlogPos,
    schema: Option<&TableSchema>,
    cause: &str,
) -> Result<()> {
    let json = schema.map(|s| serde_json::to_string(s).expect("schemas serialize"));
    sqlx::query(
        "INSERT INTO schema_history (database_name, table_name, binlog_file, binlog_offset, schema_json, cause, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (database_name, table_name, binlog_file, binlog_offset) DO UPDATE SET schema_json = excluded.schema_json, cause = excluded.cause, recorded_at = excluded.recorded_at",
    )
    .bind(&table.database)
    .bind(&table.table)
    .bind(&at.file)
    .bind(at.offset as i64)
    .bind(json)
    .bind(cause)
    .bind(Utc::now().to_rfc3339())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A position stored as its file and offset.
fn position(file: Option<String>, offset: Option<i64>) -> Option<BinlogPos> {
    Some(BinlogPos::new(file?, offset? as u64))
}

/// A new full load of the table: phase loading, the next generation, nothing loaded yet.
async fn new_generation(tx: &mut Transaction<'_, Sqlite>, table: &TableId) -> Result<i64> {
    let generation: i64 = sqlx::query_scalar(
        "INSERT INTO tables (database_name, table_name, phase, load_generation) VALUES (?, ?, ?, 1) \
         ON CONFLICT (database_name, table_name) DO UPDATE SET phase = excluded.phase, rows_loaded = 0, load_files = 0, \
         estimated_rows = NULL, estimated_chunks = NULL, \
         load_generation = tables.load_generation + 1 RETURNING load_generation",
    )
    .bind(&table.database)
    .bind(&table.table)
    .bind(Phase::Loading)
    .fetch_one(&mut **tx)
    .await?;
    Ok(generation)
}

async fn set_generation(tx: &mut Transaction<'_, Sqlite>, f: &ClosedFile, generation: i64) -> Result<()> {
    sqlx::query("UPDATE files SET load_generation = ? WHERE key = ?").bind(generation).bind(&f.key).execute(&mut **tx).await?;
    Ok(())
}

/// Marks a pending file committed. Its sequence becomes the next of all: files are read back
/// (and merged) in the order they were committed, which is not the order they were opened in
/// when several chunk workers write LOAD files at once.
async fn mark_committed(tx: &mut Transaction<'_, Sqlite>, f: &ClosedFile, last: Option<&BinlogPos>, now: &str) -> Result<()> {
    let done = sqlx::query(
        "UPDATE files SET status = 'committed', rows = ?, bytes = ?, first_file = ?, first_offset = ?, last_file = ?, last_offset = ?, committed_at = ?, \
         sequence = (SELECT MAX(sequence) + 1 FROM files) WHERE key = ? AND status = 'pending'",
    )
    .bind(f.rows as i64)
    .bind(f.bytes as i64)
    .bind(f.first_position.as_ref().map(|p| p.file.as_str()))
    .bind(f.first_position.as_ref().map(|p| p.offset as i64))
    .bind(last.map(|p| p.file.as_str()))
    .bind(last.map(|p| p.offset as i64))
    .bind(now)
    .bind(&f.key)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Lease(format!("file {} was not pending in the state store; another process changed the state", f.key)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cdc_names_continue_after_every_name_ever_issued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db").display().to_string()).await.unwrap();
        let table = TableId::new("shop", "orders");
        store.begin_load(&table).await.unwrap();
        assert_eq!(store.last_cdc_key(&table).await.unwrap(), None);
        // DDMMYYYY folders: the later file's key sorts first as text.
        let october = "shop/orders/31102026/20261031-235900000.parquet".to_string();
        let november = "shop/orders/01112026/20261101-015900000.parquet".to_string();
        store.add_pending(&october, &table, FileKind::Cdc).await.unwrap();
        store.add_pending(&november, &table, FileKind::Cdc).await.unwrap();
        assert_eq!(store.last_cdc_key(&table).await.unwrap(), Some(november.clone()));
        // A pending file deleted at recovery keeps its name from being issued again.
        store.forget_pending(std::slice::from_ref(&november)).await.unwrap();
        assert_eq!(store.last_cdc_key(&table).await.unwrap(), Some(november));
    }

    #[tokio::test]
    async fn a_chunked_load_goes_on_after_its_committed_chunks_and_a_reload_starts_anew() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db").display().to_string()).await.unwrap();
        store.acquire_lease().await.unwrap();
        let schema = TableSchema::new(
            TableId::new("shop", "orders"),
            vec![crate::schema::Column::nullable("id", crate::schema::ColumnType::BigInt)],
            vec![0],
            None,
        );
        let table = &schema.id;
        let generation = store.begin_load(table).await.unwrap();
        let key = ChunkKey { columns: vec![("id".into(), crate::source::chunks::KeyKind::Int)], unique: true };
        let chunk = |lo: Option<i128>, hi: Option<i128>, offset| LoadChunk {
            range: KeyRange { lo: lo.map(Key::int), hi: hi.map(Key::int) },
            position: BinlogPos::new("mysql-bin.000001", offset),
            rows: 10,
            columns: "id bigint NO".into(),
            key: Some(key.clone()),
        };
        let file =
            |key: &str| ClosedFile { key: key.into(), table: table.clone(), rows: 10, bytes: 1, first_position: None, key_moves: vec![] };
        store.add_pending("shop/orders/LOAD00000002.parquet", table, FileKind::Load).await.unwrap();
        store.commit_chunks(table, generation, &[chunk(Some(100), None, 900)], &[file("shop/orders/LOAD00000002.parquet")]).await.unwrap();
        // A restart goes on with the same load and its chunk.
        assert_eq!(store.begin_load(table).await.unwrap(), generation);
        assert_eq!(store.load_chunks(table).await.unwrap(), vec![chunk(Some(100), None, 900)]);
        assert_eq!(store.last_load_number(table).await.unwrap(), 2);
        store.commit_chunks(table, generation, &[chunk(None, Some(100), 700)], &[]).await.unwrap();
        let snapshot = store.finish_load(&schema, generation).await.unwrap();
        assert_eq!(snapshot, BinlogPos::new("mysql-bin.000001", 700), "the oldest chunk's position");
        let state = store.tables().await.unwrap().pop().unwrap();
        assert_eq!((state.phase, state.rows_loaded, state.load_files), (Phase::Streaming, 20, 1));
        let files = store.committed_files(table).await.unwrap();
        assert_eq!(files[0].load_generation, Some(generation));
        // A reload is a new load: no chunk of the old one counts, and the old one cannot commit.
        store.set_phase(table, Phase::Loading).await.unwrap();
        assert_eq!(store.begin_load(table).await.unwrap(), generation + 1);
        assert!(store.load_chunks(table).await.unwrap().is_empty());
        assert!(store.commit_chunks(table, generation, &[chunk(None, None, 950)], &[]).await.is_err());
    }

    #[tokio::test]
    async fn a_resume_by_gtid_keeps_the_sequence_increasing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db").display().to_string()).await.unwrap();
        store.acquire_lease().await.unwrap();
        assert_eq!(store.sequence_epoch().await.unwrap(), 0);
        let before = BinlogPos::new("mysql-bin.000042", 1234);
        store.commit_cdc("src", &[], &before, Some("0-1-100")).await.unwrap();
        let last_before = before.sequence(store.sequence_epoch().await.unwrap(), 7);
        // Another server after a failover: lower file numbers and offsets.
        let epoch = store.raise_sequence_epoch().await.unwrap();
        assert_eq!(epoch, 1);
        assert!(BinlogPos::new("mysql-bin.000003", 4).sequence(epoch, 1) > last_before);
        assert_eq!(store.sequence_epoch().await.unwrap(), 1, "the epoch is kept in the state");
    }

    #[tokio::test]
    async fn a_state_file_of_the_previous_release_migrates_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        // The schema the release before typed positions made (migrations 1 to 4), and rows as
        // it wrote them: positions as "file:offset" text, file order by rowid.
        {
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display())).unwrap().create_if_missing(true);
            let pool = SqlitePoolOptions::new().connect_with(options).await.unwrap();
            let mut migrator = sqlx::migrate!("./migrations");
            migrator.migrations = std::borrow::Cow::Owned(migrator.migrations.iter().filter(|m| m.version <= 4).cloned().collect());
            migrator.run(&pool).await.unwrap();
            for sql in [
                "INSERT INTO tables (database_name, table_name, phase, snapshot_file, snapshot_offset, rows_loaded, load_files, cdc_files, cdc_rows, last_commit_at, last_cdc_key) \
                 VALUES ('shop', 'orders', 'streaming', 'mysql-bin.000001', 1234, 2, 1, 1, 1, '2026-12-01T00:00:01+00:00', 'shop/orders/20261201-000002000.parquet')",
                "INSERT INTO files (key, database_name, table_name, kind, status, rows, bytes, first_position, last_position, created_at, committed_at) VALUES \
                 ('shop/orders/LOAD00000001.parquet', 'shop', 'orders', 'LOAD', 'committed', 2, 100, NULL, 'mysql-bin.000001:1234', 't0', '2026-12-01T00:00:00+00:00'), \
                 ('shop/orders/20261201-000001000.parquet', 'shop', 'orders', 'CDC', 'committed', 1, 50, 'mysql-bin.000001:1300', 'mysql-bin.000002:4', 't1', '2026-12-01T00:00:01+00:00'), \
                 ('shop/orders/20261201-000002000.parquet', 'shop', 'orders', 'CDC', 'pending', NULL, NULL, NULL, NULL, 't2', NULL)",
                "INSERT INTO checkpoint (id, source, binlog_file, binlog_offset, gtid, committed_at) VALUES (1, 'src', 'mysql-bin.000002', 4, '0-1-9', '2026-12-01T00:00:01+00:00')",
            ] {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        let store = Store::open(&path.display().to_string()).await.unwrap();
        let table = TableId::new("shop", "orders");
        let files = store.committed_files(&table).await.unwrap();
        let seen: Vec<_> = files.iter().map(|f| (f.kind, f.last_position.clone())).collect();
        assert_eq!(
            seen,
            [
                (FileKind::Load, Some(BinlogPos::new("mysql-bin.000001", 1234))),
                (FileKind::Cdc, Some(BinlogPos::new("mysql-bin.000002", 4)))
            ]
        );
        assert!(files[0].sequence < files[1].sequence);
        let state = store.tables().await.unwrap().remove(0);
        assert_eq!((state.phase, state.last_position), (Phase::Streaming, Some(BinlogPos::new("mysql-bin.000002", 4))));
        assert_eq!(store.pending_files().await.unwrap(), ["shop/orders/20261201-000002000.parquet"], "pending files stay pending");
        // A file recorded now is ordered after every file of the old state.
        store.acquire_lease().await.unwrap();
        store.add_pending("shop/orders/20261201-000003000.parquet", &table, FileKind::Cdc).await.unwrap();
        let closed = ClosedFile {
            key: "shop/orders/20261201-000003000.parquet".into(),
            table: table.clone(),
            rows: 1,
            bytes: 10,
            first_position: Some(BinlogPos::new("mysql-bin.000002", 100)),
            key_moves: Vec::new(),
        };
        store.commit_cdc("src", &[closed], &BinlogPos::new("mysql-bin.000002", 200), None).await.unwrap();
        let files = store.committed_files(&table).await.unwrap();
        assert_eq!(files.len(), 3);
        assert!(files[2].sequence > files[1].sequence);
        assert_eq!(files[2].last_position, Some(BinlogPos::new("mysql-bin.000002", 200)));
        assert_eq!(store.checkpoint().await.unwrap().unwrap().gtid.as_deref(), Some("0-1-9"), "the checkpoint's GTID is kept");
    }
}
