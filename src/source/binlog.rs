//! Binlog events -> row changes and commits. The same [`Assembler`] consumes events from the
//! replication stream and from binlog files (tests and fixtures), so both are decoded alike.
//!
//! Transactions are not buffered: rows are emitted as their events are decoded and the
//! transaction becomes whole at its `Commit`. Consumers write rows into open files and only
//! close files at commits, so memory does not grow with transaction size.

use std::collections::HashMap;
use std::io::Cursor;

use bitvec::slice::BitSlice;
use std::sync::Arc;

use mysql_async::binlog::EventType;
use mysql_async::binlog::events::{Event, EventData, RotateEvent, RowsEventData, TableMapEvent, TransactionPayloadEvent};

use crate::change::{Change, Op, SourceEvent};
use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::source::decode::{Mismatch, RowReader, WireColumn, wire_layout};
use crate::source::statement;

/// MariaDB-specific event types (mysql_common returns them undecoded).
const MARIADB_GTID: u8 = 162;
/// QUERY_COMPRESSED .. DELETE_ROWS_COMPRESSED_V1 (log_bin_compress=ON).
const MARIADB_COMPRESSED_FIRST: u8 = 165;
const MARIADB_COMPRESSED_LAST: u8 = 171;
/// XA PREPARE ends a binlog group whose rows only count once a later `XA COMMIT` arrives.
const XA_PREPARE: u8 = 38;

/// Where the schemas of the selected tables come from. Tables the catalog does not know are
/// not replicated; their events are skipped. The TABLE_MAP is offered for catalogs that have
/// no server to ask (binlog files read in tests).
pub trait Catalog {
    /// The schema of `id` for its TABLE_MAP ending at `at`; `None` when its rows there are
    /// not replicated.
    fn schema(&self, id: &TableId, table_map: &TableMapEvent<'_>, at: &BinlogPos) -> Option<Arc<TableSchema>>;
}

impl Catalog for HashMap<TableId, Arc<TableSchema>> {
    fn schema(&self, id: &TableId, _: &TableMapEvent<'_>, _: &BinlogPos) -> Option<Arc<TableSchema>> {
        self.get(id).cloned()
    }
}

type MappedTable = (Arc<TableSchema>, Vec<WireColumn>);

/// Turns binlog events into [`SourceEvent`]s and tracks the position.
pub struct Assembler {
    file: String,
    offset: u64,
    /// End offset of the TRANSACTION_PAYLOAD whose inner events are being read: inner events
    /// carry no usable positions, the whole payload ends at this offset.
    payload_end: Option<u64>,
    /// Every TABLE_MAP seen, by table id: the schema and wire layout of replicated tables.
    tables: HashMap<u64, Option<MappedTable>>,
    gtid: Option<String>,
    /// Commit time of the transaction being read (µs since the epoch), from its GTID event
    /// or its first event; and the newest event time, for rows outside any known transaction.
    transaction_time: Option<i64>,
    event_time: i64,
    in_transaction: bool,
    /// Where the current event group (a transaction, or a statement with its GTID) started.
    group_start: u64,
    /// Rows of replicated tables were emitted since the last commit.
    rows_in_transaction: bool,
    /// The server checksums events and no FORMAT_DESCRIPTION has arrived yet: the stream's
    /// opening fake ROTATE, parsed before that event says so, ends with 4 checksum bytes.
    /// (Later fake ROTATEs, one per new file, are parsed right.)
    fake_rotate_checksum: bool,
}

impl Assembler {
    pub fn new(start: &BinlogPos, fake_rotate_checksum: bool) -> Self {
        Self {
            file: start.file.clone(),
            offset: start.offset,
            payload_end: None,
            tables: HashMap::new(),
            gtid: None,
            transaction_time: None,
            event_time: 0,
            in_transaction: false,
            group_start: start.offset,
            rows_in_transaction: false,
            fake_rotate_checksum,
        }
    }

    pub fn position(&self) -> BinlogPos {
        BinlogPos::new(self.file.clone(), self.offset)
    }

    /// When the transaction being read committed at the source, in microseconds since the
    /// epoch: MySQL 8 logs it exactly in the GTID event; otherwise the server's timestamp of
    /// the transaction's first event (whole seconds), which MySQL and MariaDB write at commit.
    pub fn transaction_time(&self) -> i64 {
        self.transaction_time.unwrap_or(self.event_time)
    }

    /// True between the first event of a transaction and its commit.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Decodes one event, appending what it yields to `out`.
    pub fn push(&mut self, event: &Event, catalog: &dyn Catalog, out: &mut Vec<SourceEvent>) -> Result<()> {
        let header = event.header();
        let raw_type = header.event_type_raw();
        let end = match self.payload_end {
            Some(end) => end,
            None if header.log_pos() > 0 => header.log_pos() as u64,
            None => self.offset,
        };
        let at = BinlogPos::new(self.file.clone(), end);
        if !self.in_transaction {
            self.group_start = self.offset;
        }
        if header.timestamp() > 0 {
            self.event_time = header.timestamp() as i64 * 1_000_000;
        }
        tracing::trace!(event_type = raw_type, log_pos = header.log_pos(), at = %at, "event.");

        if raw_type == MARIADB_GTID {
            let data = event.data();
            if data.len() >= 13 {
                let seq = u64::from_le_bytes(data[0..8].try_into().unwrap());
                let domain = u32::from_le_bytes(data[8..12].try_into().unwrap());
                self.gtid = Some(format!("{domain}-{}-{seq}", header.server_id()));
            }
            self.transaction_time = Some(self.event_time);
            self.in_transaction = true;
            self.offset = end;
            return Ok(());
        }
        if (MARIADB_COMPRESSED_FIRST..=MARIADB_COMPRESSED_LAST).contains(&raw_type) {
            return Err(self.decode_error(
                "?",
                &at,
                "compressed binlog events (log_bin_compress=ON) are not supported; SET GLOBAL log_bin_compress=OFF".into(),
            ));
        }
        if raw_type >= 160 {
            // Other MariaDB events (ANNOTATE_ROWS, BINLOG_CHECKPOINT, GTID_LIST,
            // START_ENCRYPTION) carry nothing to replicate.
            self.offset = end;
            return Ok(());
        }

        if raw_type == XA_PREPARE {
            if self.rows_in_transaction {
                return Err(self.decode_error(
                    "?",
                    &at,
                    "an XA transaction changed replicated tables; XA transactions are not supported yet. Exclude those tables or avoid XA"
                        .into(),
                ));
            }
            // Nothing replicated in it: the group ends here like any other.
            self.commit(end, header.timestamp(), out);
            return Ok(());
        }
        if raw_type == EventType::FORMAT_DESCRIPTION_EVENT as u8 {
            self.fake_rotate_checksum = false;
        }
        let data = event.read_data().map_err(|e| self.decode_error("?", &at, e.to_string()))?;
        match data {
            Some(EventData::RotateEvent(rotate)) => {
                self.rotate(&rotate, header.log_pos() == 0);
                return Ok(());
            }
            Some(EventData::HeartbeatEvent) => {
                out.push(SourceEvent::Heartbeat { at: (header.log_pos() > 0).then(|| self.position()) });
            }
            Some(EventData::TransactionPayloadEvent(payload)) => {
                // mysql_async and BinlogFile expand the payload after this event; a payload
                // that fails to decompress would silently yield nothing, so check it here.
                let size = payload.uncompressed_size();
                let mut reader = payload.decompressed().map_err(|e| self.decode_error("?", &at, format!("TRANSACTION_PAYLOAD: {e}")))?;
                let n = std::io::copy(&mut reader, &mut std::io::sink())
                    .map_err(|e| self.decode_error("?", &at, format!("TRANSACTION_PAYLOAD does not decompress: {e}")))?;
                if n != size {
                    return Err(self.decode_error("?", &at, format!("TRANSACTION_PAYLOAD decompressed to {n} bytes, expected {size}")));
                }
                self.payload_end = Some(end);
                self.in_transaction = true;
            }
            Some(EventData::GtidEvent(g)) => {
                self.gtid = Some(format!("{}:{}", crate::value::uuid_text(&g.sid()), g.gno()));
                // original_commit_timestamp is the commit on the first server of a chain of
                // replicas; 0 when the server did not log it (before 8.0.1).
                let logged = [g.original_commit_timestamp(), g.immediate_commit_timestamp()].into_iter().find(|t| *t > 0);
                self.transaction_time = Some(logged.map_or(self.event_time, |t| t as i64));
                self.in_transaction = true;
            }
            Some(EventData::QueryEvent(q)) => {
                let query = q.query().trim().to_string();
                let head = statement::head(&query);
                let upper: String = head.chars().take(24).collect::<String>().to_ascii_uppercase();
                let verb = statement::keyword(head);
                match verb.as_str() {
                    "BEGIN" => {
                        self.transaction_time.get_or_insert(self.event_time);
                        self.in_transaction = true;
                    }
                    // Savepoints live inside the transaction (statements rolled back to one
                    // are not in the binlog at all).
                    "SAVEPOINT" | "RELEASE" => {}
                    "ROLLBACK" if upper.starts_with("ROLLBACK TO") => {}
                    // XA START/END open the group; XA COMMIT/ROLLBACK of a prepared
                    // transaction is a group of its own
                    "XA" if upper.starts_with("XA START") || upper.starts_with("XA BEGIN") => self.in_transaction = true,
                    "XA" if upper.starts_with("XA END") => {}
                    "COMMIT" | "ROLLBACK" => self.commit(end, header.timestamp(), out),
                    // A session in statement format: the rows are not in the binlog.
                    verb if statement::changes_rows(verb) => {
                        self.statement_rows(query, q.schema().into_owned(), &at, end, header.timestamp(), out)
                    }
                    _ => {
                        // DDL and other statements outside transactions end their group.
                        let start = BinlogPos::new(self.file.clone(), self.group_start);
                        out.push(SourceEvent::Statement { start, end: at.clone(), query, database: q.schema().into_owned() });
                        self.commit(end, header.timestamp(), out);
                    }
                }
            }
            // LOAD DATA in statement format: the file's rows are in the binlog, not as rows.
            Some(EventData::ExecuteLoadQueryEvent(q)) => {
                self.statement_rows(q.query().into_owned(), q.schema().into_owned(), &at, end, header.timestamp(), out)
            }
            Some(EventData::XidEvent(_)) => self.commit(end, header.timestamp(), out),
            Some(EventData::TableMapEvent(tme)) => {
                let id = TableId::new(tme.database_name(), tme.table_name());
                let entry = match catalog.schema(&id, &tme, &at) {
                    Some(schema) => match wire_layout(&schema, &tme) {
                        Ok(wire) => Some((schema, wire)),
                        // Its rows are not decoded from here: the table must be loaded anew.
                        Err(Mismatch::Drift(detail)) => {
                            out.push(SourceEvent::SchemaDrift { table: id, at: at.clone(), detail });
                            None
                        }
                        Err(Mismatch::Unsupported(detail)) => return Err(self.decode_error(&id.to_string(), &at, detail)),
                    },
                    None => None,
                };
                self.tables.insert(tme.table_id(), entry);
            }
            Some(EventData::RowsEvent(rows)) => {
                self.in_transaction = true;
                let before = out.len();
                self.rows(&rows, &at, out)?;
                self.rows_in_transaction |= out.len() > before;
            }
            _ => {}
        }
        if self.payload_end.is_none() || raw_type == EventType::TRANSACTION_PAYLOAD_EVENT as u8 {
            self.offset = end;
        }
        Ok(())
    }

    /// A data-changing statement logged as text; one outside a transaction is a group of its own.
    fn statement_rows(&mut self, query: String, database: String, at: &BinlogPos, end: u64, ts: u32, out: &mut Vec<SourceEvent>) {
        out.push(SourceEvent::StatementRows { at: at.clone(), query, database });
        if !self.in_transaction {
            self.commit(end, ts, out);
        }
    }

    fn rotate(&mut self, rotate: &RotateEvent<'_>, fake: bool) {
        let mut raw = rotate.name_raw();
        if fake && self.fake_rotate_checksum && raw.len() > 4 {
            raw = &raw[..raw.len() - 4];
        }
        let name = String::from_utf8_lossy(raw).into_owned();
        self.file = name;
        self.offset = rotate.position();
    }

    fn commit(&mut self, end: u64, ts: u32, out: &mut Vec<SourceEvent>) {
        self.payload_end = None;
        self.transaction_time = None;
        self.rows_in_transaction = false;
        self.offset = end;
        self.in_transaction = false;
        out.push(SourceEvent::Commit { end: BinlogPos::new(self.file.clone(), end), commit_ts: ts, gtid: self.gtid.take() });
    }

    fn rows(&self, rows: &RowsEventData<'_>, at: &BinlogPos, out: &mut Vec<SourceEvent>) -> Result<()> {
        let Some(Some((schema, wire))) = self.tables.get(&rows.table_id()) else {
            return Ok(()); // a table that is not replicated
        };
        let fail = |d: String| self.decode_error(&schema.id.to_string(), at, d);
        let op = match rows {
            RowsEventData::WriteRowsEvent(_) | RowsEventData::WriteRowsEventV1(_) => Op::Insert,
            RowsEventData::UpdateRowsEvent(_) | RowsEventData::UpdateRowsEventV1(_) | RowsEventData::PartialUpdateRowsEvent(_) => {
                Op::Update
            }
            RowsEventData::DeleteRowsEvent(_) | RowsEventData::DeleteRowsEventV1(_) => Op::Delete,
        };
        // binlog_row_value_options=PARTIAL_JSON: after images may hold JSON diffs against the
        // before image instead of whole JSON values; they are applied here, so the row is whole.
        let partial = matches!(rows, RowsEventData::PartialUpdateRowsEvent(_));
        let bitmap = |b: Option<&BitSlice<u8>>| b.map(|b| b.iter().by_vals().collect::<Vec<bool>>());
        let before = bitmap(rows.columns_before_image());
        let after = bitmap(rows.columns_after_image());
        let mut reader = RowReader::new(rows.rows_data());
        while !reader.is_empty() {
            let (before, after) = if partial {
                let (Some(before), Some(after)) = (&before, &after) else {
                    return Err(fail("partial update event without both row images".into()));
                };
                let (before, before_json) = reader.read_partial_before(schema, wire, before).map_err(fail)?;
                let after = reader.read_partial_after(schema, wire, after, &before_json).map_err(fail)?;
                (Some(before), Some(after))
            } else if let (Op::Update, Some(present_before), Some(present_after)) = (op, &before, &after) {
                // The before image is decoded whole only when the key changed.
                let mut image = reader.clone();
                let old_key = reader.read_key(schema, wire, present_before).map_err(fail)?;
                let after = reader.read_row(schema, wire, present_after).map_err(fail)?;
                let moved = schema.primary_key.iter().zip(&old_key).any(|(&k, old)| &after[k] != old);
                let before = if moved { Some(image.read_row(schema, wire, present_before).map_err(fail)?) } else { None };
                (before, Some(after))
            } else {
                let before = before.as_ref().map(|p| reader.read_row(schema, wire, p)).transpose().map_err(fail)?;
                let after = after.as_ref().map(|p| reader.read_row(schema, wire, p)).transpose().map_err(fail)?;
                (before, after)
            };
            let moved_from = match (op, &before, &after) {
                (Op::Update, Some(b), Some(a)) if schema.primary_key.iter().any(|&k| b[k] != a[k]) => before.clone(),
                _ => None,
            };
            let row = match op {
                Op::Delete => before,
                _ => after,
            }
            .ok_or_else(|| fail("row event without a row image".into()))?;
            out.push(SourceEvent::Row { change: Change { table: schema.clone(), op, row, moved_from }, at: at.clone() });
        }
        Ok(())
    }

    fn decode_error(&self, table: &str, at: &BinlogPos, detail: String) -> Error {
        Error::Decode { table: table.to_string(), position: at.clone(), detail }
    }
}

/// Reads every event of a binlog file (expanding TRANSACTION_PAYLOAD events like the network
/// stream does) through an [`Assembler`].
pub fn read_file(bytes: &[u8], catalog: &dyn Catalog) -> Result<Vec<SourceEvent>> {
    use mysql_common::binlog::{BinlogFile, consts::BinlogVersion};
    let name = "file".to_string();
    let bad = |e: std::io::Error| Error::Decode { table: "?".into(), position: BinlogPos::new(name.clone(), 0), detail: e.to_string() };
    let mut file = BinlogFile::new(BinlogVersion::Version4, Cursor::new(bytes)).map_err(bad)?;
    // Files start with their FORMAT_DESCRIPTION event: no fake ROTATE to correct.
    let mut assembler = Assembler::new(&BinlogPos::new(name.clone(), 4), false);
    let mut out = Vec::new();
    while let Some(event) = file.next() {
        let event = event.map_err(bad)?;
        assembler.push(&event, catalog, &mut out)?;
        if event.header().event_type_raw() == EventType::TRANSACTION_PAYLOAD_EVENT as u8 {
            let payload = event.read_event::<TransactionPayloadEvent<'_>>().map_err(bad)?;
            let mut inner = Cursor::new(payload.danger_decompress());
            while let Some(e) = file.reader_mut().read_decompressed(&mut inner).map_err(bad)? {
                assembler.push(&e, catalog, &mut out)?;
            }
        }
    }
    Ok(out)
}
