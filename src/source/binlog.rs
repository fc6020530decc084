//! Binlog events -> row changes and commits. The same [`Assembler`] consumes events from the
//! replication stream and from binlog files (tests and fixtures), so both are decoded alike.
//!
//! Transactions are not buffered: rows are emitted as their events are decoded and the
//! transaction becomes whole at its `Commit`. Consumers write rows into open files and only
//! close files at commits, so memory does not grow with transaction size.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use mysql_async::binlog::EventType;
use mysql_async::binlog::events::{
    Event, EventData, RotateEvent, RowsEventData, TableMapEvent, TransactionPayloadEvent,
};
use mysql_async::binlog::row::BinlogRow;

use crate::change::{Change, Op, SourceEvent};
use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::value;

/// MariaDB-specific event types (mysql_common returns them undecoded).
const MARIADB_ANNOTATE_ROWS: u8 = 160;
const MARIADB_GTID: u8 = 162;

/// Where the schemas of the selected tables come from. Tables the catalog does not know are
/// not replicated; their events are skipped.
pub trait Catalog {
    fn schema(&self, id: &TableId) -> Option<Arc<TableSchema>>;
}

impl Catalog for HashMap<TableId, Arc<TableSchema>> {
    fn schema(&self, id: &TableId) -> Option<Arc<TableSchema>> {
        self.get(id).cloned()
    }
}

/// Turns binlog events into [`SourceEvent`]s and tracks the position.
pub struct Assembler {
    file: String,
    offset: u64,
    /// End offset of the TRANSACTION_PAYLOAD whose inner events are being read: inner events
    /// carry no usable positions, the whole payload ends at this offset.
    payload_end: Option<u64>,
    tables: HashMap<u64, Option<(Arc<TableSchema>, TableMapEvent<'static>)>>,
    gtid: Option<String>,
    in_transaction: bool,
}

impl Assembler {
    pub fn new(start: &BinlogPos) -> Self {
        Self {
            file: start.file.clone(),
            offset: start.offset,
            payload_end: None,
            tables: HashMap::new(),
            gtid: None,
            in_transaction: false,
        }
    }

    pub fn position(&self) -> BinlogPos {
        BinlogPos::new(self.file.clone(), self.offset)
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

        if raw_type == MARIADB_GTID {
            let data = event.data();
            if data.len() >= 13 {
                let seq = u64::from_le_bytes(data[0..8].try_into().unwrap());
                let domain = u32::from_le_bytes(data[8..12].try_into().unwrap());
                self.gtid = Some(format!("{domain}-{}-{seq}", header.server_id()));
            }
            self.in_transaction = true;
            self.offset = end;
            return Ok(());
        }
        if raw_type == MARIADB_ANNOTATE_ROWS || raw_type >= 160 {
            self.offset = end;
            return Ok(());
        }

        let data = event.read_data().map_err(|e| self.decode_error("?", &at, e.to_string()))?;
        match data {
            Some(EventData::RotateEvent(rotate)) => self.rotate(&rotate),
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
                self.gtid = Some(format!("{}:{}", uuid_text(&g.sid()), g.gno()));
                self.in_transaction = true;
            }
            Some(EventData::QueryEvent(q)) => {
                let query = q.query().trim().to_string();
                let verb = query.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                match verb.as_str() {
                    "BEGIN" | "XA" => self.in_transaction = true,
                    "COMMIT" | "ROLLBACK" => self.commit(end, header.timestamp(), out),
                    _ => {
                        out.push(SourceEvent::Statement { end: at.clone(), query });
                        self.commit(end, header.timestamp(), out);
                    }
                }
            }
            Some(EventData::XidEvent(_)) => self.commit(end, header.timestamp(), out),
            Some(EventData::TableMapEvent(tme)) => {
                let id = TableId::new(tme.database_name(), tme.table_name());
                let entry = catalog.schema(&id).map(|s| (s, tme.into_owned()));
                if let Some((schema, tme)) = &entry {
                    check_table_map(schema, tme).map_err(|d| self.decode_error(&id.to_string(), &at, d))?;
                }
                self.tables.insert(self.table_id_of(event)?, entry);
            }
            Some(EventData::RowsEvent(rows)) => {
                self.in_transaction = true;
                self.rows(&rows, &at, out)?;
            }
            _ => {}
        }
        if self.payload_end.is_none() || raw_type == EventType::TRANSACTION_PAYLOAD_EVENT as u8 {
            self.offset = end;
        }
        Ok(())
    }

    fn table_id_of(&self, event: &Event) -> Result<u64> {
        Ok(event.read_event::<TableMapEvent<'_>>().map_err(|e| self.decode_error("?", &self.position(), e.to_string()))?.table_id())
    }

    fn rotate(&mut self, rotate: &RotateEvent<'_>) {
        self.file = rotate.name().into_owned();
        self.offset = rotate.position();
    }

    fn commit(&mut self, end: u64, ts: u32, out: &mut Vec<SourceEvent>) {
        self.payload_end = None;
        self.offset = end;
        self.in_transaction = false;
        out.push(SourceEvent::Commit {
            end: BinlogPos::new(self.file.clone(), end),
            commit_ts: ts,
            gtid: self.gtid.take(),
        });
    }

    fn rows(&self, rows: &RowsEventData<'_>, at: &BinlogPos, out: &mut Vec<SourceEvent>) -> Result<()> {
        let Some(Some((schema, tme))) = self.tables.get(&rows.table_id()) else {
            return Ok(()); // a table that is not replicated
        };
        let op = match rows {
            RowsEventData::WriteRowsEvent(_) | RowsEventData::WriteRowsEventV1(_) => Op::Insert,
            RowsEventData::UpdateRowsEvent(_) | RowsEventData::UpdateRowsEventV1(_) | RowsEventData::PartialUpdateRowsEvent(_) => Op::Update,
            RowsEventData::DeleteRowsEvent(_) | RowsEventData::DeleteRowsEventV1(_) => Op::Delete,
        };
        for row in rows.rows(tme) {
            let (before, after) = row.map_err(|e| self.decode_error(&schema.id.to_string(), at, e.to_string()))?;
            let image = match op {
                Op::Delete => before,
                _ => after,
            };
            let image = image.ok_or_else(|| self.decode_error(&schema.id.to_string(), at, "row event without a row image".into()))?;
            let row = decode_row(schema, image).map_err(|d| self.decode_error(&schema.id.to_string(), at, d))?;
            out.push(SourceEvent::Row { change: Change { table: schema.clone(), op, row }, at: at.clone() });
        }
        Ok(())
    }

    fn decode_error(&self, table: &str, at: &BinlogPos, detail: String) -> Error {
        Error::Decode { table: table.to_string(), position: at.clone(), detail }
    }
}

fn decode_row(schema: &TableSchema, mut image: BinlogRow) -> Result<Vec<value::Cell>, String> {
    let mut cells = Vec::with_capacity(schema.columns.len());
    for (i, column) in schema.columns.iter().enumerate() {
        let v = image.take(i).ok_or_else(|| {
            format!(
                "column {} is missing from the row image; binlake needs binlog_row_image=FULL (SET GLOBAL binlog_row_image='FULL')",
                column.name
            )
        })?;
        cells.push(value::from_binlog(column, v)?);
    }
    Ok(cells)
}

/// The binlog must describe the table binlake believes it replicates: never decode a row
/// with another table version's layout.
fn check_table_map(schema: &TableSchema, tme: &TableMapEvent<'_>) -> Result<(), String> {
    let n = tme.columns_count() as usize;
    if n != schema.columns.len() {
        return Err(format!(
            "the binlog row has {n} columns but the tracked schema has {}; the table changed (DDL) after its schema was read. Re-snapshot the table (delete its state) to continue",
            schema.columns.len()
        ));
    }
    Ok(())
}

fn uuid_text(sid: &[u8; 16]) -> String {
    let h: String = sid.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Reads every event of a binlog file (expanding TRANSACTION_PAYLOAD events like the network
/// stream does) through an [`Assembler`].
pub fn read_file(bytes: &[u8], catalog: &dyn Catalog) -> Result<Vec<SourceEvent>> {
    use mysql_common::binlog::{BinlogFile, consts::BinlogVersion};
    let name = "file".to_string();
    let bad = |e: std::io::Error| Error::Decode { table: "?".into(), position: BinlogPos::new(name.clone(), 0), detail: e.to_string() };
    let mut file = BinlogFile::new(BinlogVersion::Version4, Cursor::new(bytes)).map_err(bad)?;
    let mut assembler = Assembler::new(&BinlogPos::new(name.clone(), 4));
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
