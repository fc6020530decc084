//! The MySQL/MariaDB side: connections, server facts, table catalog, the replication stream
//! and the consistent snapshot.

pub mod binlog;
pub(crate) mod chunks;
pub(crate) mod ddl;
pub(crate) mod decode;
pub(crate) mod json;
pub mod preflight;
pub(crate) mod snapshot;
pub(crate) mod statement;
pub(crate) mod tracker;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn, Opts, OptsBuilder, Row};
use mysql_common::binlog::events::Event;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::error::{Error, Result};
use crate::position::{BinlogPos, MariadbGtidPos};
use crate::schema::{Column, InformationSchemaColumn, SchemaOptions, TableFilter, TableId, TableSchema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MySql,
    MariaDb,
}

/// A configured source server.
#[derive(Clone)]
pub struct Source {
    opts: Opts,
    /// The URL with the password hidden, for messages.
    pub display: String,
}

impl Source {
    /// Parses `mysql://user:pass@host:port[?require_ssl=true...]`.
    pub fn new(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Config(format!("source URL {url:?}: {e}")))?;
        if parsed.scheme() != "mysql" && parsed.scheme() != "mariadb" {
            return Err(Error::Config(format!("source URL must start with mysql:// (got {}://)", parsed.scheme())));
        }
        let mut normalized = parsed.clone();
        let _ = normalized.set_scheme("mysql");
        let opts = Opts::from_url(normalized.as_str()).map_err(|e| Error::Config(format!("source URL: {e}")))?;
        let opts =
            OptsBuilder::from_opts(opts).conn_ttl(None).stmt_cache_size(0).init(vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"]);
        let mut display = parsed;
        if display.password().is_some() {
            let _ = display.set_password(Some("***"));
        }
        Ok(Self { opts: opts.into(), display: display.to_string() })
    }

    pub async fn connect(&self) -> Result<Conn> {
        let connect = Conn::new(self.opts.clone());
        match tokio::time::timeout(Duration::from_secs(15), connect).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => {
                let hint = match &e {
                    mysql_async::Error::Server(s) if s.code == 1045 => {
                        " (check the user and password in the source URL, and add ?require_ssl=true if the user must connect with TLS)"
                    }
                    mysql_async::Error::Server(s) if s.code == 1049 => " (the database in the source URL does not exist; leave it out)",
                    mysql_async::Error::Io(_) => " (is the server running, and are host and port right?)",
                    _ => "",
                };
                Err(Error::source(format!("connecting to {}{hint}", self.display), e))
            }
            Err(_) => Err(Error::Disconnected(format!(
                "connecting to {} timed out after 15 s; is the host reachable and the port open?",
                self.display
            ))),
        }
    }

    /// Opens the replication stream at `from`, registering as replica `server_id`. Also
    /// returns whether the server checksums its events (`binlog_checksum` other than NONE).
    pub async fn binlog_stream(&self, server_id: u32, from: &StreamFrom, heartbeat: Duration) -> Result<(Events, bool)> {
        let mut conn = self.connect().await?;
        let flavor = flavor(&mut conn).await?;
        let checksum: Option<String> =
            conn.query_first("SELECT @@GLOBAL.binlog_checksum").await.map_err(|e| Error::source("reading binlog_checksum", e))?;
        let checksummed = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
        let period_ns = heartbeat.as_nanos().min(u64::MAX as u128) as u64;
        conn.query_drop(format!("SET @master_heartbeat_period = {period_ns}"))
            .await
            .map_err(|e| Error::source("setting the heartbeat period", e))?;
        if flavor == Flavor::MariaDb {
            // Capability 4 (GTID): the server sends its GTID events instead of rewriting them.
            conn.query_drop("SET @mariadb_slave_capability = 4")
                .await
                .map_err(|e| Error::source("announcing MariaDB replica capabilities", e))?;
        }
        let request = match from {
            StreamFrom::Position(pos) => BinlogStreamRequest::new(server_id).with_filename(pos.file.as_bytes()).with_pos(pos.offset),
            StreamFrom::MariadbGtid(gtid) => {
                // The server looks the GTID position up in its binlogs and ignores file/offset.
                let state = gtid.to_string().replace('\'', "");
                conn.query_drop(format!("SET @slave_connect_state = '{state}', @slave_gtid_strict_mode = 1"))
                    .await
                    .map_err(|e| Error::source("setting the MariaDB GTID start position", e))?;
                BinlogStreamRequest::new(server_id).with_filename(b"").with_pos(4)
            }
        };
        let mut stream = conn.get_binlog_stream(request).await.map_err(|e| stream_error(e, from))?;
        let (tx, rx) = mpsc::channel(READ_AHEAD_BATCHES);
        let budget = ReadAhead::default();
        let reader = tokio::spawn(async move {
            // Events already received go over together: one hand-over for many events. The
            // share is reserved before reading, so that a large event is not read while the
            // decoder still holds another.
            loop {
                let mut held = budget.reserve(BATCH_BYTES).await;
                let Some(first) = stream.next().await else { return };
                let mut failed = first.is_err();
                let mut bytes = event_size(&first);
                let mut batch = vec![first];
                while !failed && batch.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
                    match stream.next().now_or_never() {
                        Some(Some(event)) => {
                            failed = event.is_err();
                            bytes += event_size(&event);
                            batch.push(event);
                        }
                        _ => break,
                    }
                }
                budget.fit(&mut held, bytes).await;
                if tx.send((batch, held)).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok((Events { rx, ready: VecDeque::new(), held: None, reader }, checksummed))
    }
}

/// The replication stream's reader hands events over in batches of at most this many events
/// or bytes (or one larger event), and holds at most this many batches and [`ReadAhead`]
/// bytes ahead of the decoder.
const BATCH_EVENTS: usize = 256;
const BATCH_BYTES: usize = 1 << 20;
const READ_AHEAD_BATCHES: usize = 4;

/// What a reader task (the replication stream's, the snapshot's) may hold ahead of its
/// consumer, in bytes: it reserves a share before reading what it hands over, fits the share
/// to what it read (at most the whole budget, so a value larger than the budget still
/// passes, alone), and the consumer gives it back by dropping the [`Held`] share once done
/// with what came with it.
#[derive(Clone)]
pub struct ReadAhead(Arc<Semaphore>);

pub type Held = OwnedSemaphorePermit;

impl Default for ReadAhead {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(Self::BYTES)))
    }
}

impl ReadAhead {
    const BYTES: usize = 16 << 20;

    pub async fn reserve(&self, bytes: usize) -> Held {
        let share = bytes.clamp(1, Self::BYTES) as u32;
        self.0.clone().acquire_many_owned(share).await.expect("the read-ahead budget is never closed")
    }

    /// Grows or shrinks a share to `bytes` (within the budget).
    pub async fn fit(&self, share: &mut Held, bytes: usize) {
        let want = bytes.clamp(1, Self::BYTES);
        let have = share.num_permits();
        if want > have {
            share.merge(self.reserve(want - have).await);
        } else if want < have {
            drop(share.split(have - want));
        }
    }
}

type StreamItem = std::result::Result<Event, mysql_async::Error>;

fn event_size(event: &StreamItem) -> usize {
    event.as_ref().map_or(0, |e| e.data().len())
}

/// The replication stream, received and framed by a task of its own so that the network
/// and the decoder work at the same time.
pub struct Events {
    rx: mpsc::Receiver<(Vec<StreamItem>, Held)>,
    ready: VecDeque<StreamItem>,
    /// The share of the batch in `ready`, given back when the decoder comes for more after
    /// its last event (done with it, so the reader may read on).
    held: Option<Held>,
    reader: tokio::task::JoinHandle<()>,
}

impl Events {
    /// The next event if one has arrived already.
    pub fn ready(&mut self) -> Option<StreamItem> {
        if self.ready.is_empty() {
            self.held = None;
            let batch = self.rx.try_recv().ok()?;
            self.take_batch(batch);
        }
        self.ready.pop_front()
    }

    /// The next event; `None` once the server closed the stream.
    pub async fn next(&mut self) -> Option<StreamItem> {
        if self.ready.is_empty() {
            self.held = None;
            let batch = self.rx.recv().await?;
            self.take_batch(batch);
        }
        self.ready.pop_front()
    }

    fn take_batch(&mut self, (batch, held): (Vec<StreamItem>, Held)) {
        self.ready.extend(batch);
        self.held = Some(held);
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Where a replication stream starts.
#[derive(Debug, Clone)]
pub enum StreamFrom {
    Position(BinlogPos),
    /// MariaDB only: the server finds the position of a GTID state in its own binlogs, so
    /// this works after a failover to a server whose binlog files are named differently.
    MariadbGtid(MariadbGtidPos),
}

impl std::fmt::Display for StreamFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamFrom::Position(p) => write!(f, "{p}"),
            StreamFrom::MariadbGtid(g) => write!(f, "GTID {g}"),
        }
    }
}

/// Maps replication errors, recognising a purged binlog (server error 1236).
pub fn stream_error(e: mysql_async::Error, from: &impl std::fmt::Display) -> Error {
    if let mysql_async::Error::Server(s) = &e
        && s.code == 1236
    {
        return Error::BinlogPurged { position: from.to_string(), detail: s.message.clone() };
    }
    Error::source(format!("reading the binlog from {from}"), e)
}

/// MariaDB: the complete GTID state at a binlog position (every domain), or `None` when the
/// server cannot tell (MySQL, or the file is gone).
pub async fn mariadb_gtid_at(conn: &mut Conn, pos: &BinlogPos) -> Result<Option<MariadbGtidPos>> {
    if flavor(conn).await? != Flavor::MariaDb {
        return Ok(None);
    }
    let text: Option<Option<String>> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&pos.file, pos.offset))
        .await
        .map_err(|e| Error::source("reading BINLOG_GTID_POS", e))?;
    Ok(text.flatten().and_then(|t| MariadbGtidPos::parse(&t)))
}

pub async fn flavor(conn: &mut Conn) -> Result<Flavor> {
    let version: String =
        conn.query_first("SELECT VERSION()").await.map_err(|e| Error::source("reading the server version", e))?.unwrap_or_default();
    Ok(if version.to_ascii_lowercase().contains("mariadb") { Flavor::MariaDb } else { Flavor::MySql })
}

/// The server's current binlog end (a transaction boundary).
pub async fn current_position(conn: &mut Conn) -> Result<BinlogPos> {
    let row: Option<Row> = match conn.query_first("SHOW MASTER STATUS").await {
        Ok(row) => row,
        // MySQL 8.4 renamed it.
        Err(_) => conn
            .query_first("SHOW BINARY LOG STATUS")
            .await
            .map_err(|e| Error::source("reading the binlog position (SHOW MASTER STATUS)", e))?,
    };
    let row =
        row.ok_or_else(|| Error::Preflight("the binary log is disabled (log_bin=OFF): SHOW MASTER STATUS returned nothing".into()))?;
    let file: String = row.get(0).unwrap_or_default();
    let offset: u64 = row.get(1).unwrap_or_default();
    Ok(BinlogPos::new(file, offset))
}

/// Reads the schemas of all selected base tables from `information_schema`.
pub async fn load_catalog(conn: &mut Conn, filter: &TableFilter, options: SchemaOptions) -> Result<HashMap<TableId, Arc<TableSchema>>> {
    let tables: Vec<(String, String)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')")
        .await
        .map_err(|e| Error::source("listing tables", e))?;
    let mut catalog = HashMap::new();
    for (db, table) in tables {
        if filter.matches(&db, &table) {
            let id = TableId::new(db, table);
            let schema = load_schema(conn, &id, options).await?;
            catalog.insert(id, Arc::new(schema));
        }
    }
    Ok(catalog)
}

pub async fn load_schema(conn: &mut Conn, id: &TableId, options: SchemaOptions) -> Result<TableSchema> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE, \
             DATETIME_PRECISION, CHARACTER_SET_NAME, COLUMN_KEY, COLUMN_DEFAULT, CHARACTER_OCTET_LENGTH \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&id.database, &id.table),
        )
        .await
        .map_err(|e| Error::source(format!("reading the columns of {id}"), e))?;
    let mut columns = Vec::with_capacity(rows.len());
    for mut row in rows {
        let fields = InformationSchemaColumn {
            name: row.take(0).unwrap_or_default(),
            data_type: row.take(1).unwrap_or_default(),
            column_type: row.take(2).unwrap_or_default(),
            nullable: row.take::<String, _>(3).unwrap_or_default() == "YES",
            numeric_precision: row.take::<Option<u64>, _>(4).flatten(),
            numeric_scale: row.take::<Option<u64>, _>(5).flatten(),
            datetime_precision: row.take::<Option<u64>, _>(6).flatten(),
            charset: row.take::<Option<String>, _>(7).flatten(),
            default: row.take::<Option<String>, _>(9).flatten(),
            octet_length: row.take::<Option<u64>, _>(10).flatten(),
        };
        let column = Column::from_information_schema(fields, options).map_err(|e| Error::Preflight(format!("table {id}: {e}")))?;
        columns.push(column);
    }
    let key: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (&id.database, &id.table),
        )
        .await
        .map_err(|e| Error::source(format!("reading the primary key of {id}"), e))?;
    let primary_key = key.iter().filter_map(|k| columns.iter().position(|c| &c.name == k)).collect();
    let unique_keys = if key.is_empty() { unique_keys(conn, id, &columns).await? } else { Vec::new() };
    let collation: Option<Option<String>> = conn
        .exec_first(
            "SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&id.database, &id.table),
        )
        .await
        .map_err(|e| Error::source(format!("reading the character set of {id}"), e))?;
    let charset = collation.flatten().map(|c| crate::source::ddl::charset_of_collation(&c));
    let mut schema = TableSchema { unique_keys, ..TableSchema::new(id.clone(), columns, primary_key, charset) };
    schema.choose_row_key();
    Ok(schema)
}

/// The table's UNIQUE keys of whole columns, in `SHOW INDEX` order: the server's order of its
/// keys, whose first one of NOT NULL columns InnoDB clusters a table without a primary key by.
async fn unique_keys(conn: &mut Conn, id: &TableId, columns: &[Column]) -> Result<Vec<Vec<usize>>> {
    let rows: Vec<Row> =
        conn.query(format!("SHOW INDEX FROM {}", id.quoted())).await.map_err(|e| Error::source(format!("reading the keys of {id}"), e))?;
    // (name, columns, usable)
    let mut keys: Vec<(String, Vec<usize>, bool)> = Vec::new();
    for row in rows {
        let field = |name: &str| {
            row.columns_ref().iter().position(|c| c.name_str().eq_ignore_ascii_case(name)).and_then(|i| row.as_ref(i)).cloned()
        };
        let text = |name: &str| field(name).and_then(|v| mysql_async::from_value_opt::<Option<String>>(v).ok().flatten());
        let (Some(name), Some(non_unique)) = (text("Key_name"), text("Non_unique")) else { continue };
        if name == "PRIMARY" || non_unique != "0" {
            continue;
        }
        // A prefix, an expression (MySQL's functional keys) or a TEXT/BLOB column (MariaDB's
        // hash of a long value) makes a key unusable as the row's identity.
        let column = text("Column_name").and_then(|c| columns.iter().position(|k| k.name.eq_ignore_ascii_case(&c)));
        let whole = text("Sub_part").is_none() && column.is_some_and(|i| !columns[i].unique_is_hashed());
        match keys.last_mut() {
            Some((key, parts, usable)) if *key == name => {
                parts.extend(column);
                *usable &= whole;
            }
            _ => keys.push((name, column.into_iter().collect(), whole)),
        }
    }
    Ok(keys.into_iter().filter(|(.., usable)| *usable).map(|(_, parts, _)| parts).collect())
}

/// Whether `id` is a base table at the source now, under exactly that name (as
/// [`load_catalog`] lists tables: the full load finds it).
pub async fn table_exists(conn: &mut Conn, id: &TableId) -> Result<bool> {
    let names: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
            (&id.database, &id.table),
        )
        .await
        .map_err(|e| Error::source(format!("looking up {id}"), e))?;
    Ok(names.iter().any(|(db, table)| *db == id.database && *table == id.table))
}

/// The default character sets text columns take when their DDL names none.
#[derive(Debug, Clone, Default)]
pub struct Charsets {
    /// Every database's default character set.
    pub databases: HashMap<String, String>,
    /// The server's, for databases created later without one.
    pub server: String,
}

/// Every database's default character set, and the server's.
pub async fn database_charsets(conn: &mut Conn) -> Result<Charsets> {
    let rows: Vec<(String, String)> = conn
        .query("SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA")
        .await
        .map_err(|e| Error::source("reading the databases' character sets", e))?;
    let server: Option<String> =
        conn.query_first("SELECT @@character_set_server").await.map_err(|e| Error::source("reading character_set_server", e))?;
    let normalize = crate::source::ddl::normalize_charset;
    Ok(Charsets {
        databases: rows.into_iter().map(|(db, cs)| (db, normalize(&cs))).collect(),
        server: normalize(&server.unwrap_or_else(|| "utf8mb4".into())),
    })
}
