//! Full load. All tables of one snapshot are read inside a single
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT`, so every table is consistent with one exact
//! binlog position: LOAD and CDC meet without gap or overlap. `FLUSH TABLES WITH READ LOCK`
//! (not allowed on RDS) is never used.
//!
//! - MariaDB reports the snapshot's binlog position itself (`binlog_snapshot_position`).
//! - MySQL has no such status, and `SHOW MASTER STATUS` alone is not enough: it counts
//!   transactions already written to the binlog but not yet committed in InnoDB, which the
//!   snapshot would miss. A second connection takes `LOCK TABLES ... READ` on the selected
//!   tables, which waits for every open transaction that wrote them and holds off new ones,
//!   for the moment it takes to open the snapshot and read the position. Readers are never
//!   blocked; the user needs the LOCK TABLES privilege.
//!
//! Rows with a primary key are read in key order in keyset chunks (`WHERE (pk) > (last)
//! ORDER BY pk LIMIT n`); keyless tables in one streamed scan. Rows are streamed as they
//! arrive, in chunks of a few thousand rows or a few MB, within a read-ahead budget of bytes:
//! memory is bounded whatever the table or row size.

use std::sync::Arc;

use futures::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::{TableSchema, quote_ident};
use crate::source::{Flavor, Held, ReadAhead, Source, current_position, flavor};
use crate::value::{self, Cell};

/// Whether to take MySQL's table-lock path on MariaDB, where no MySQL server can be installed:
/// the tests ask for it with this variable, in a build with the `test-hooks` feature only.
pub(crate) fn force_table_lock() -> bool {
    cfg!(feature = "test-hooks") && std::env::var_os("BINLAKE_TEST_FORCE_TABLE_LOCK").is_some()
}

pub enum Chunk {
    /// Rows as the server sent them: [`cells`] converts them, on the consumer's side, which
    /// drops `held` once done with them.
    Rows {
        table: usize,
        rows: Vec<Row>,
        held: Held,
    },
    TableDone {
        table: usize,
        rows: u64,
    },
}

/// Opens a consistent snapshot and returns its position and a receiver of row chunks for
/// `tables`, read one table after another.
pub async fn start(
    source: &Source,
    tables: Vec<Arc<TableSchema>>,
    chunk_rows: usize,
) -> Result<(BinlogPos, mpsc::Receiver<Result<Chunk>>)> {
    let mut conn = source.connect().await?;
    let flavor = flavor(&mut conn).await?;
    let q = |e| Error::source("starting the snapshot transaction", e);
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ").await.map_err(q)?;
    // A slow target must not make the server drop a streamed keyless scan.
    conn.query_drop("SET SESSION net_write_timeout = 3600").await.map_err(q)?;
    let position = if flavor == Flavor::MariaDb && !force_table_lock() {
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.map_err(q)?;
        snapshot_status(&mut conn).await?.ok_or_else(|| Error::Preflight("the server reports no binlog_snapshot_position".into()))?
    } else {
        let mut lock = source.connect().await?;
        let l = |e| Error::source("locking the tables for a moment to read an exact snapshot position (a long transaction on them?)", e);
        lock.query_drop("SET SESSION lock_wait_timeout = 60").await.map_err(l)?;
        if !tables.is_empty() {
            let list: Vec<String> = tables.iter().map(|t| format!("{} READ", t.id.quoted())).collect();
            lock.query_drop(format!("LOCK TABLES {}", list.join(", "))).await.map_err(l)?;
        }
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.map_err(q)?;
        let position = current_position(&mut lock).await;
        let _ = lock.query_drop("UNLOCK TABLES").await;
        let _ = lock.disconnect().await;
        tracing::info!(tables = tables.len(), "read the snapshot position under a brief table lock.");
        position?
    };
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let budget = ReadAhead::default();
        for (i, table) in tables.iter().enumerate() {
            if let Err(e) = read_table(&mut conn, i, table, chunk_rows, &budget, &tx).await {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
        let _ = conn.query_drop("COMMIT").await;
        let _ = conn.disconnect().await;
    });
    Ok((position, rx))
}

pub(super) async fn snapshot_status(conn: &mut Conn) -> Result<Option<BinlogPos>> {
    let rows: Vec<(String, String)> =
        conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await.map_err(|e| Error::source("reading binlog_snapshot_position", e))?;
    let get = |name: &str| rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    Ok(match (get("binlog_snapshot_file"), get("binlog_snapshot_position")) {
        (Some(file), Some(pos)) if !file.is_empty() => pos.parse().ok().map(|p| BinlogPos::new(file, p)),
        _ => None,
    })
}

async fn read_table(
    conn: &mut Conn,
    index: usize,
    table: &TableSchema,
    chunk_rows: usize,
    budget: &ReadAhead,
    tx: &mpsc::Sender<Result<Chunk>>,
) -> Result<()> {
    let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let select = format!("SELECT {} FROM {}", columns.join(", "), table.id.quoted());
    let mut total = 0u64;
    if table.primary_key.is_empty() {
        total += stream_rows(conn, &select, Vec::new(), table, index, budget, tx).await?.0;
    } else {
        let key: Vec<&str> = table.primary_key.iter().map(|&i| columns[i].as_str()).collect();
        let key_list = key.join(", ");
        let marks = vec!["?"; key.len()].join(", ");
        let first = format!("{select} ORDER BY {key_list} LIMIT {chunk_rows}");
        let next = format!("{select} WHERE ({key_list}) > ({marks}) ORDER BY {key_list} LIMIT {chunk_rows}");
        let mut last_key: Option<Vec<Value>> = None;
        loop {
            let (n, last) = match last_key {
                None => stream_rows(conn, &first, Vec::new(), table, index, budget, tx).await?,
                Some(k) => stream_rows(conn, &next, k, table, index, budget, tx).await?,
            };
            total += n;
            last_key = last;
            if n < chunk_rows as u64 {
                break;
            }
        }
    }
    send(tx, Chunk::TableDone { table: index, rows: total }).await
}

/// Rows handed over at once: a few thousand, fewer when they are large, at least one.
const SEND_ROWS: usize = 4096;
const SEND_BYTES: usize = 8 << 20;

/// Streams the rows of one query to the consumer as they arrive; returns how many there were
/// and the primary key of the last one.
async fn stream_rows(
    conn: &mut Conn,
    query: &str,
    params: Vec<Value>,
    table: &TableSchema,
    index: usize,
    budget: &ReadAhead,
    tx: &mpsc::Sender<Result<Chunk>>,
) -> Result<(u64, Option<Vec<Value>>)> {
    let read_err = |e| Error::source(format!("reading {}", table.id), e);
    let mut result = conn.exec_iter(query, params).await.map_err(read_err)?;
    let mut stream = result.stream::<Row>().await.map_err(read_err)?.ok_or_else(|| Error::Preflight("empty result".into()))?;
    let key_of = |row: &Row| -> Vec<Value> { table.primary_key.iter().map(|&i| row.as_ref(i).cloned().unwrap_or(Value::NULL)).collect() };
    let (mut n, mut last_key) = (0u64, None);
    let (mut chunk, mut bytes) = (Vec::with_capacity(SEND_ROWS), 0);
    // A chunk's share is reserved before its rows are read: a large row is not read while
    // the consumer still holds another.
    let mut held = None;
    loop {
        if held.is_none() {
            held = Some(budget.reserve(SEND_BYTES).await);
        }
        let row = stream.next().await.transpose().map_err(read_err)?;
        let done = row.is_none();
        if let Some(row) = row {
            n += 1;
            bytes += (0..row.len()).map(|i| if let Some(Value::Bytes(b)) = row.as_ref(i) { b.len() } else { 8 }).sum::<usize>();
            chunk.push(row);
        }
        if !chunk.is_empty() && (done || chunk.len() >= SEND_ROWS || bytes >= SEND_BYTES) {
            last_key = chunk.last().map(key_of);
            let mut share = held.take().expect("reserved above");
            budget.fit(&mut share, bytes).await;
            send(tx, Chunk::Rows { table: index, rows: std::mem::replace(&mut chunk, Vec::with_capacity(SEND_ROWS)), held: share }).await?;
            bytes = 0;
        }
        if done {
            return Ok((n, last_key));
        }
    }
}

async fn send(tx: &mpsc::Sender<Result<Chunk>>, chunk: Chunk) -> Result<()> {
    tx.send(Ok(chunk)).await.map_err(|_| Error::Disconnected("snapshot consumer stopped".into()))
}

pub(crate) fn cells(table: &TableSchema, row: Row) -> Result<Vec<Cell>> {
    let mut values = row.unwrap();
    let mut cells = Vec::with_capacity(values.len());
    for (i, column) in table.columns.iter().enumerate() {
        let value = std::mem::replace(&mut values[i], Value::NULL);
        match value::from_snapshot(column, value) {
            Ok(cell) => cells.push(cell),
            Err(detail) => {
                // The key's columns before this one are cells by now, the later ones not yet.
                let key: Vec<String> = table
                    .primary_key
                    .iter()
                    .map(|&k| match k.cmp(&i) {
                        std::cmp::Ordering::Less => format!("{:?}", cells[k]),
                        std::cmp::Ordering::Equal => "(this value)".to_string(),
                        std::cmp::Ordering::Greater => values[k].as_sql(false),
                    })
                    .collect();
                let key = if key.is_empty() {
                    "(none: the table has no primary key nor a UNIQUE key of NOT NULL columns)".to_string()
                } else {
                    format!("({})", key.join(", "))
                };
                return Err(Error::SnapshotDecode {
                    table: table.id.to_string(),
                    key,
                    detail: format!("column {}: {detail}", column.name),
                });
            }
        }
    }
    Ok(cells)
}
