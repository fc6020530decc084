//! The state store (SQLite through sqlx): lease, checkpoint, per-table progress and the file
//! manifest. Every commit is one SQLite transaction that also proves this process still
//! holds the lease, so two binlakes on the same state can never both commit.

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, Transaction};

use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};

pub const LEASE_TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    owner: String,
}

#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub position: BinlogPos,
    pub gtid: Option<String>,
    pub committed_at: String,
}

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

#[derive(Debug, Clone)]
pub struct TableState {
    pub id: TableId,
    pub phase: Phase,
    pub snapshot: Option<BinlogPos>,
    pub rows_loaded: i64,
    pub load_files: i64,
    pub cdc_files: i64,
    pub cdc_rows: i64,
    pub last_commit_at: Option<String>,
    /// The binlog position the table's committed files are complete up to.
    pub last_position: Option<String>,
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

impl Store {
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
        let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let owner = format!("{}:{}:{}", process_namespace(), std::process::id(), rand::random::<u32>());
        Ok(Self { pool, owner })
    }

    /// Takes the lease, or explains who holds it. A lease left by a dead process on this
    /// host is taken over at once; others expire after [`LEASE_TTL`].
    pub async fn acquire_lease(&self) -> Result<()> {
        let now = Utc::now().timestamp();
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query("SELECT owner, expires_at FROM lease WHERE id = 1").fetch_optional(&mut *tx).await?;
        if let Some(row) = current {
            let owner: String = row.get(0);
            let expires_at: i64 = row.get(1);
            if expires_at > now && !holder_is_dead(&owner) {
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

    pub async fn renew_lease(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn release_lease(&self) -> Result<()> {
        sqlx::query("DELETE FROM lease WHERE owner = ?").bind(&self.owner).execute(&self.pool).await?;
        Ok(())
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

    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let row = sqlx::query("SELECT binlog_file, binlog_offset, gtid, committed_at FROM checkpoint WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Checkpoint {
            position: BinlogPos::new(r.get::<String, _>(0), r.get::<i64, _>(1) as u64),
            gtid: r.get(2),
            committed_at: r.get(3),
        }))
    }

    /// The first part of binlake's sequence column (0 before the first checkpoint).
    pub async fn sequence_epoch(&self) -> Result<u32> {
        let epoch: Option<i64> =
            sqlx::query_scalar("SELECT sequence_epoch FROM checkpoint WHERE id = 1").fetch_optional(&self.pool).await?;
        Ok(epoch.unwrap_or(0) as u32)
    }

    /// Raises the sequence epoch before streaming from positions that may be lower than the
    /// checkpoint's (a resume by GTID); returns the new epoch.
    pub async fn raise_sequence_epoch(&self) -> Result<u32> {
        sqlx::query("UPDATE checkpoint SET sequence_epoch = sequence_epoch + 1 WHERE id = 1").execute(&self.pool).await?;
        self.sequence_epoch().await
    }

    pub async fn tables(&self) -> Result<Vec<TableState>> {
        let rows = sqlx::query(
            "SELECT t.database_name, t.table_name, phase, snapshot_file, snapshot_offset, rows_loaded, load_files, cdc_files, cdc_rows, last_commit_at, \
             (SELECT f.last_position FROM files f WHERE f.database_name = t.database_name AND f.table_name = t.table_name \
              AND f.status = 'committed' ORDER BY f.committed_at DESC, f.key DESC LIMIT 1) \
             FROM tables t ORDER BY t.database_name, t.table_name",
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
                last_position: r.get(10),
            })
            .collect())
    }

    /// Records a file before its upload starts, so a crash can never leave an unknown object.
    pub async fn add_pending(&self, key: &str, table: &TableId, kind: FileKind) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO files (key, database_name, table_name, kind, status, created_at) VALUES (?, ?, ?, ?, 'pending', ?)")
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

    pub async fn pending_files(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT key FROM files WHERE status = 'pending' ORDER BY key").fetch_all(&self.pool).await?)
    }

    /// Forgets pending files once their objects are gone.
    pub async fn forget_pending(&self, keys: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query("DELETE FROM files WHERE key = ? AND status = 'pending'").bind(key).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The last CDC key issued for a table (committed, pending, or pending and since deleted),
    /// so new names sort after it.
    pub async fn last_cdc_key(&self, table: &TableId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT last_cdc_key FROM tables WHERE database_name = ? AND table_name = ?")
            .bind(&table.database)
            .bind(&table.table)
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    /// Starts (or restarts) the full load of a table.
    pub async fn begin_load(&self, table: &TableId) -> Result<()> {
        sqlx::query(
            "INSERT INTO tables (database_name, table_name, phase) VALUES (?, ?, ?) \
             ON CONFLICT (database_name, table_name) DO UPDATE SET phase = excluded.phase, rows_loaded = 0, load_files = 0",
        )
        .bind(&table.database)
        .bind(&table.table)
        .bind(Phase::Loading)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Commit point of a table's full load: its LOAD files, its snapshot position and its
    /// schema there.
    pub async fn commit_load(&self, schema: &TableSchema, snapshot: &BinlogPos, files: &[ClosedFile], rows: u64) -> Result<()> {
        let table = &schema.id;
        let mut tx = self.pool.begin().await?;
        self.fence(&mut tx).await?;
        let now = Utc::now().to_rfc3339();
        for f in files {
            mark_committed(&mut tx, f, Some(snapshot), &now).await?;
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

    /// Commit point of streaming: the closed CDC files and the new checkpoint, atomically.
    pub async fn commit_cdc(&self, source: &str, files: &[ClosedFile], checkpoint: &BinlogPos, gtid: Option<&str>) -> Result<()> {
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
}

/// A committed file of the manifest.
#[derive(Debug, Clone)]
pub struct CommittedFile {
    /// Orders the files as they were created.
    pub sequence: i64,
    pub key: String,
    pub kind: FileKind,
    /// The position the file is complete up to: a LOAD file's snapshot.
    pub last_position: Option<String>,
    /// When it was committed: all LOAD files of one full load share it.
    pub committed_at: Option<String>,
}

/// One entry of a table's schema history: its schema from `at` on (`None`: gone), and the
/// columns the change there renamed (old, new).
#[derive(Debug, Clone)]
pub struct SchemaAt {
    pub at: BinlogPos,
    pub schema: Option<TableSchema>,
    pub renamed: Vec<(String, String)>,
}

impl Store {
    /// Records a table's schema from `at` on (`None`: it is gone), what changed it and the
    /// columns it renamed (old, new).
    pub async fn record_schema(
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

    /// One table's schema history, in position order.
    pub async fn table_history(&self, table: &TableId) -> Result<Vec<SchemaAt>> {
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

    /// Sets a table's phase: `loading` makes the next run load it anew, `dropped` records that
    /// it is gone.
    pub async fn set_phase(&self, table: &TableId, phase: Phase) -> Result<()> {
        sqlx::query(
            "INSERT INTO tables (database_name, table_name, phase) VALUES (?, ?, ?) \
             ON CONFLICT (database_name, table_name) DO UPDATE SET phase = excluded.phase",
        )
        .bind(&table.database)
        .bind(&table.table)
        .bind(phase)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many LOAD files of the table were committed, by every full load so far: a new
    /// full load numbers its files after them.
    pub async fn committed_load_files(&self, table: &TableId) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM files WHERE database_name = ? AND table_name = ? AND kind = 'LOAD' AND status = 'committed'",
        )
        .bind(&table.database)
        .bind(&table.table)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u32)
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

/// The merger's progress on one merged table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeProgress {
    /// The number of the last merge known to be committed (0 for none).
    pub number: i64,
    /// The last input file it covers, and whether it was a LOAD file.
    pub through: Option<String>,
    pub through_load: bool,
    /// A merge recorded before its commit: (number, last input file, LOAD?).
    pub pending: Option<(i64, String, bool)>,
    /// The merged table holds merges this state store did not make (it has no progress for it).
    pub foreign: bool,
}

impl Store {
    /// The old keys of a committed CDC file's rows that changed their primary key.
    pub async fn key_moves(&self, file_key: &str) -> Result<Vec<KeyMove>> {
        let rows = sqlx::query("SELECT row_number, old_key FROM key_moves WHERE file_key = ? ORDER BY row_number")
            .bind(file_key)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| KeyMove { row: r.get::<i64, _>(0) as u64, old_key: r.get(1) }).collect())
    }

    /// binlake's committed files of a table, in the order they were created.
    pub async fn committed_files(&self, table: &TableId) -> Result<Vec<CommittedFile>> {
        let rows = sqlx::query(
            "SELECT rowid, key, kind, last_position, committed_at FROM files \
             WHERE database_name = ? AND table_name = ? AND status = 'committed' ORDER BY rowid",
        )
        .bind(&table.database)
        .bind(&table.table)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CommittedFile { sequence: r.get(0), key: r.get(1), kind: r.get(2), last_position: r.get(3), committed_at: r.get(4) })
            .collect())
    }

    pub async fn merge_progress(&self, table_url: &str) -> Result<MergeProgress> {
        let row = sqlx::query(
            "SELECT merge_number, through_order, through_kind, pending_number, pending_order, pending_kind FROM merges WHERE table_url = ?",
        )
        .bind(table_url)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or_else(MergeProgress::default, |r| MergeProgress {
            number: r.get(0),
            through: r.get(1),
            through_load: r.get::<Option<String>, _>(2).as_deref() == Some("LOAD"),
            pending: match (r.get::<Option<i64>, _>(3), r.get::<Option<String>, _>(4)) {
                (Some(n), Some(order)) => Some((n, order, r.get::<Option<String>, _>(5).as_deref() == Some("LOAD"))),
                _ => None,
            },
            foreign: false,
        }))
    }

    /// Records merge `number`, covering input files through `order`, before its commit.
    pub async fn begin_merge(&self, table_url: &str, table: &TableId, number: i64, order: &str, load: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO merges (table_url, database_name, table_name, pending_number, pending_order, pending_kind) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (table_url) DO UPDATE SET pending_number = excluded.pending_number, pending_order = excluded.pending_order, pending_kind = excluded.pending_kind",
        )
        .bind(table_url)
        .bind(&table.database)
        .bind(&table.table)
        .bind(number)
        .bind(order)
        .bind(if load { "LOAD" } else { "CDC" })
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every merged table's progress: (table, URL, merges, input files merged, last merge time).
    pub async fn merges(&self) -> Result<Vec<(TableId, String, i64, i64, Option<String>)>> {
        let rows =
            sqlx::query("SELECT database_name, table_name, table_url, merge_number, input_files, merged_at FROM merges ORDER BY 1, 2, 3")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| (TableId::new(r.get::<String, _>(0), r.get::<String, _>(1)), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect())
    }

    /// The pending merge committed: it is the table's progress now.
    pub async fn end_merge(&self, table_url: &str, input_files: usize) -> Result<()> {
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

    /// The pending merge never committed.
    pub async fn abandon_merge(&self, table_url: &str) -> Result<()> {
        sqlx::query("UPDATE merges SET pending_number = NULL, pending_order = NULL, pending_kind = NULL WHERE table_url = ?")
            .bind(table_url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a table's progress (its merged table is gone and starts over).
    pub async fn reset_merge(&self, table_url: &str) -> Result<()> {
        sqlx::query("DELETE FROM merges WHERE table_url = ?").bind(table_url).execute(&self.pool).await?;
        Ok(())
    }
}

async fn mark_committed(tx: &mut Transaction<'_, Sqlite>, f: &ClosedFile, last: Option<&BinlogPos>, now: &str) -> Result<()> {
    let done = sqlx::query(
        "UPDATE files SET status = 'committed', rows = ?, bytes = ?, first_position = ?, last_position = ?, committed_at = ? WHERE key = ? AND status = 'pending'",
    )
    .bind(f.rows as i64)
    .bind(f.bytes as i64)
    .bind(f.first_position.as_ref().map(|p| p.to_string()))
    .bind(last.map(|p| p.to_string()))
    .bind(now)
    .bind(&f.key)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Lease(format!("file {} was not pending in the state store; another process changed the state", f.key)));
    }
    Ok(())
}

/// Host name and PID namespace: a process id means something only within both (two
/// containers may share a host name and still have separate PID namespaces).
fn process_namespace() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let pidns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.display().to_string()).unwrap_or_default();
    format!("{}/{}", host.trim(), pidns.trim_start_matches("pid:").trim_matches(|c| c == '[' || c == ']'))
}

/// True when `owner` (namespace:pid:nonce) names a process of this host and PID namespace
/// that no longer exists.
fn holder_is_dead(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(namespace), Some(pid)) = (parts.next(), parts.next()) else { return false };
    namespace == process_namespace() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
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
}
