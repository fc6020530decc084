//! The chunked full load: a table is read as key ranges of its chunk key, each by its own
//! short `START TRANSACTION WITH CONSISTENT SNAPSHOT`, so no transaction stays open on the
//! source longer than one chunk's read, and several chunks are read at once on their own
//! connections.
//!
//! Why every row change is in a LOAD file or in a CDC file, exactly once:
//! - A chunk's rows are the rows of its range as of one binlog position P (MariaDB reports the
//!   snapshot's position, `binlog_snapshot_position`): they reflect every transaction that
//!   ends at or before P and none after.
//! - The ranges of one full load partition the whole key space (the first range has no lower
//!   bound, the last no upper one), so every row, also one inserted during the load, belongs
//!   to exactly one chunk, whatever its key. Ranges are of the chunk key, the primary key's
//!   first column, an integer: a binlog row image is placed in its chunk by comparing
//!   integers, with no collation to get wrong.
//! - The stream starts at or before the smallest position of a committed chunk (and before
//!   any chunk not committed is begun) and, for each row image of the table, writes the
//!   change to a CDC file if and only if the event ends after the position of the chunk that
//!   holds the image's key ([`LoadedTable::judge`]): earlier changes are in that chunk's rows,
//!   later ones are not. A key whose chunk is not begun yet is read later, as of a position
//!   after every event the stream has read: its changes so far are in the chunk. An update
//!   that moves a row from one chunk to another is judged on each side: if only the old side
//!   is after its chunk's position, the new row is in its LOAD file and the old one must go
//!   (a delete); if only the new side is, the old row was never loaded and the new one is an
//!   insert.
//! - The stream runs while chunks are read (`pipeline::board` says how the two keep in step):
//!   a chunk is marked opening before its snapshot opens, so the stream never judges by a
//!   position it does not know, and a CDC file with changes after the position of a chunk
//!   still being read is committed only after that chunk. A chunk not committed when binlake
//!   stopped is read anew, as of a newer position; its range's changes up to there are in the
//!   new rows, and none of its changes is in a committed CDC file.
//! - The table's schema is the same for all its chunks: each chunk checks the table's columns
//!   before it is read, and a change makes the load start over as a new one.
//!
//! Chunk bounds are found without a full scan, one chunk ahead ([`Split`]). A table whose
//! primary key is one integer column with keys dense enough (its key span at most
//! [`DENSE_KEYS`] times its rows) is cut into even steps of keys from `MIN` to `MAX`, each
//! holding at most `snapshot-chunk-rows` rows times that factor (one row per key at most):
//! no query at all. Otherwise a chunk from `lo` ends at the key `snapshot-chunk-rows` rows
//! further on (`ORDER BY k LIMIT 1 OFFSET n`, a walk along the index of one chunk's length,
//! whose pages the chunk's read then finds in the buffer pool); rows that share one chunk-key
//! value (a composite key) are in one chunk however many they are. Bounds are only ever set
//! before a chunk is begun: a chunk cannot be cut once the stream judges changes by it.

use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::{ColumnType, TableSchema, quote_ident};
use crate::state::LoadChunk;
use crate::value::Cell;

/// A range `[lo, hi)` of a table's chunk key; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRange {
    pub lo: Option<i128>,
    pub hi: Option<i128>,
}

impl KeyRange {
    pub const ALL: KeyRange = KeyRange { lo: None, hi: None };

    pub fn contains(&self, key: i128) -> bool {
        self.lo.is_none_or(|lo| key >= lo) && self.hi.is_none_or(|hi| key < hi)
    }
}

impl std::fmt::Display for KeyRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound = |b: Option<i128>| b.map_or_else(String::new, |b| b.to_string());
        write!(f, "[{}, {})", bound(self.lo), bound(self.hi))
    }
}

/// The column a table is chunked by, or why it cannot be: the primary key's first column,
/// when it is an integer.
pub fn chunk_key(table: &TableSchema) -> std::result::Result<usize, &'static str> {
    let Some(&first) = table.primary_key.first() else { return Err("it has no primary key") };
    match table.columns[first].ty {
        ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::MediumInt | ColumnType::Int | ColumnType::BigInt => Ok(first),
        _ => Err("the first column of its primary key is not an integer"),
    }
}

fn key_of(cell: &Cell) -> Option<i128> {
    match cell {
        Cell::Int(i) => Some(*i as i128),
        Cell::UInt(u) => Some(*u as i128),
        _ => None,
    }
}

/// The ranges of the key space not covered by `done` (sorted, not overlapping): what a full
/// load still has to read.
pub fn gaps(done: &[LoadChunk]) -> Vec<KeyRange> {
    let mut gaps = Vec::new();
    let mut from: Option<Option<i128>> = Some(None);
    for chunk in done {
        if let Some(lo) = from
            && lo != chunk.range.lo
        {
            gaps.push(KeyRange { lo, hi: chunk.range.lo });
        }
        from = chunk.range.hi.map(Some);
    }
    if let Some(lo) = from {
        gaps.push(KeyRange { lo, hi: None });
    }
    gaps
}

/// Where one chunk of a table's full load is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkState {
    /// Its snapshot is being opened: its position is not known yet.
    Opening,
    /// Read as of this position, not committed yet.
    Reading(BinlogPos),
    /// Committed with its LOAD files, as of this position.
    Committed(BinlogPos),
}

/// Whether a row image's change is in the LOAD files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// The LOAD files hold it (or will: its chunk is read later).
    Loaded,
    /// It belongs in a CDC file; with `Some`, that file must not be committed before the
    /// chunk starting at that bound is.
    Streamed(Option<Option<i128>>),
    /// Its chunk's position is not known yet: ask again in a moment.
    Opening,
}

/// What a table's LOAD files hold or will hold, chunk by chunk, for the stream to tell which
/// changes they have.
#[derive(Debug, Clone, Default)]
pub struct LoadedTable {
    /// The begun chunks by lower bound (`None` first): their ranges do not overlap. A key no
    /// chunk covers is in a range not begun yet.
    chunks: std::collections::BTreeMap<Option<i128>, (Option<i128>, ChunkState)>,
}

impl LoadedTable {
    /// A table read from one snapshot at `position`.
    pub fn whole(position: BinlogPos) -> Self {
        Self::chunked(vec![LoadChunk { range: KeyRange::ALL, position, rows: 0, columns: String::new() }])
    }

    /// A table whose `committed` chunks are all there is so far.
    pub fn chunked(committed: Vec<LoadChunk>) -> Self {
        let chunks = committed.into_iter().map(|c| (c.range.lo, (c.range.hi, ChunkState::Committed(c.position)))).collect();
        Self { chunks }
    }

    /// The chunk of `range` goes to `state`.
    pub fn set(&mut self, range: KeyRange, state: ChunkState) {
        self.chunks.insert(range.lo, (range.hi, state));
    }

    /// The oldest committed chunk's position.
    pub fn oldest(&self) -> Option<&BinlogPos> {
        self.committed().min()
    }

    /// The newest committed chunk's position.
    pub fn newest(&self) -> Option<&BinlogPos> {
        self.committed().max()
    }

    fn committed(&self) -> impl Iterator<Item = &BinlogPos> {
        self.chunks.values().filter_map(|(_, state)| match state {
            ChunkState::Committed(p) => Some(p),
            _ => None,
        })
    }

    /// Whether the change an event ending at `at` made to `row`, a row of `table` as the
    /// event wrote it, is in the LOAD files: it is when the event ends at or before the
    /// position of the chunk that holds the row's key, or when that chunk is read later.
    pub fn judge(&self, table: &TableSchema, row: &[Cell], at: &BinlogPos) -> Judged {
        let key = table.primary_key.first().and_then(|&k| row.get(k)).and_then(key_of);
        let found = match key {
            // a table read whole is one chunk of every key
            None => self.chunks.iter().next(),
            Some(key) => self.chunks.range(..=Some(key)).next_back().filter(|(_, (hi, _))| hi.is_none_or(|hi| key < hi)),
        };
        match found {
            None => Judged::Loaded,
            Some((_, (_, ChunkState::Opening))) => Judged::Opening,
            Some((_, (_, ChunkState::Reading(p)))) if at <= p => Judged::Loaded,
            Some((lo, (_, ChunkState::Reading(_)))) => Judged::Streamed(Some(*lo)),
            Some((_, (_, ChunkState::Committed(p)))) if at <= p => Judged::Loaded,
            Some(_) => Judged::Streamed(None),
        }
    }

    /// True when the chunk starting at `lo` is committed (or gone with a new load).
    pub fn is_committed(&self, lo: Option<i128>) -> bool {
        self.chunks.get(&lo).is_none_or(|(_, state)| matches!(state, ChunkState::Committed(_)))
    }
}

/// Reads the table's columns as the server has them now, in a form that changes with any
/// change of a column: a chunk is only read with the schema its load started with.
pub async fn columns_fingerprint(conn: &mut Conn, table: &TableSchema) -> Result<String> {
    let rows: Vec<(String, String, String, Option<String>)> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLLATION_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&table.id.database, &table.id.table),
        )
        .await
        .map_err(|e| Error::source(format!("reading the columns of {}", table.id), e))?;
    Ok(rows.iter().map(|(n, t, null, c)| format!("{n} {t} {null} {}", c.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", "))
}

fn bound_value(bound: i128) -> Value {
    match i64::try_from(bound) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::UInt(bound as u64),
    }
}

fn value_key(value: &Value) -> Option<i128> {
    match value {
        Value::Int(i) => Some(*i as i128),
        Value::UInt(u) => Some(*u as i128),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// `WHERE` terms and parameters for a range of `column`.
fn range_terms(column: &str, range: &KeyRange) -> (Vec<String>, Vec<Value>) {
    let (mut terms, mut params) = (Vec::new(), Vec::new());
    if let Some(lo) = range.lo {
        terms.push(format!("{column} >= ?"));
        params.push(bound_value(lo));
    }
    if let Some(hi) = range.hi {
        terms.push(format!("{column} < ?"));
        params.push(bound_value(hi));
    }
    (terms, params)
}

/// The end of the next chunk of `gap`, `rows` rows from its start: `None` when the rest of the
/// gap is smaller.
pub async fn next_bound(conn: &mut Conn, table: &TableSchema, key: usize, gap: &KeyRange, rows: usize) -> Result<Option<i128>> {
    let column = quote_ident(&table.columns[key].name);
    let read = |e| Error::source(format!("finding the next chunk of {}", table.id), e);
    let (terms, params) = range_terms(&column, gap);
    let filter = if terms.is_empty() { String::new() } else { format!("WHERE {}", terms.join(" AND ")) };
    let query = format!("SELECT {column} FROM {} {filter} ORDER BY {column} LIMIT 1 OFFSET {rows}", table.id.quoted());
    let found: Option<Value> = conn.exec_first(query, params).await.map_err(read)?;
    let Some(bound) = found.as_ref().and_then(value_key) else { return Ok(None) };
    if gap.lo != Some(bound) && gap.lo.is_none_or(|lo| bound > lo) {
        return Ok(Some(bound));
    }
    // More than `rows` rows share the gap's first key value: they are one chunk.
    let (mut terms, mut params) = range_terms(&column, &KeyRange { lo: None, hi: gap.hi });
    terms.push(format!("{column} > ?"));
    params.push(bound_value(bound));
    let query = format!("SELECT {column} FROM {} WHERE {} ORDER BY {column} LIMIT 1", table.id.quoted(), terms.join(" AND "));
    let next: Option<Value> = conn.exec_first(query, params).await.map_err(read)?;
    Ok(next.as_ref().and_then(value_key))
}

/// Even steps are taken when the key span is at most this many times the rows: a chunk then
/// holds at most this many times `snapshot-chunk-rows` rows, also where the keys are densest.
pub const DENSE_KEYS: i128 = 4;

/// How a table's key ranges are cut into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Steps of `step` keys from `min` (the first chunk also takes every key below `min`);
    /// past `max` (rows inserted since), the walk.
    Even { min: i128, max: i128, step: i128 },
    /// Each chunk ends `snapshot-chunk-rows` rows further along the index ([`next_bound`]).
    Walk,
}

impl Split {
    /// Even steps for `rows` rows (the server's estimate) of one-integer-column keys from
    /// `min` to `max`, when they are dense enough.
    pub fn choose(single_key: bool, min_max: Option<(i128, i128)>, rows: u64, chunk_rows: usize) -> Split {
        let Some((min, max)) = min_max.filter(|_| single_key && rows > 0) else { return Split::Walk };
        let span = max - min + 1;
        if span > DENSE_KEYS * rows as i128 {
            return Split::Walk;
        }
        // keys per row at least 1: a span smaller than the estimate means the estimate is high
        let step = (chunk_rows as i128 * span / rows as i128).max(chunk_rows as i128);
        Split::Even { min, max, step }
    }

    /// Where the next chunk of `gap` ends, if the gap is cut there: `Some(hi)` leaves
    /// `[hi, gap.hi)` for later. `None` where the walk decides: ask [`next_bound`].
    pub fn even_bound(&self, gap: &KeyRange) -> Option<Option<i128>> {
        let Split::Even { min, max, step } = *self else { return None };
        let hi = gap.lo.map_or(min, |lo| lo.max(min)) + step;
        if gap.hi.is_some_and(|end| hi >= end) {
            return Some(None);
        }
        (hi <= max).then_some(Some(hi))
    }
}

/// The smallest and largest chunk key of the table, if it has rows (two index dives).
pub async fn key_span(conn: &mut Conn, table: &TableSchema, key: usize) -> Result<Option<(i128, i128)>> {
    let column = quote_ident(&table.columns[key].name);
    let row: Option<(Value, Value)> = conn
        .query_first(format!("SELECT MIN({column}), MAX({column}) FROM {}", table.id.quoted()))
        .await
        .map_err(|e| Error::source(format!("reading the key span of {}", table.id), e))?;
    Ok(row.and_then(|(min, max)| Some((value_key(&min)?, value_key(&max)?))))
}

/// One chunk being read inside its own consistent snapshot, page by page in key order, on a
/// connection the caller holds: it streams each page's rows one at a time (a page is never
/// held whole, so rows of any size take one row's memory) and tells the reader each row.
pub struct ChunkReader {
    select: String,
    key_list: String,
    terms: Vec<String>,
    params: Vec<Value>,
    primary_key: Vec<usize>,
    last: Option<Vec<Value>>,
    page_rows: usize,
    /// Rows of the page being read; none before the first page.
    in_page: Option<usize>,
    pub position: BinlogPos,
}

impl ChunkReader {
    /// Opens the chunk's snapshot on `conn` and reads its position.
    pub async fn begin(conn: &mut Conn, table: &TableSchema, key: usize, range: &KeyRange, page_rows: usize) -> Result<Self> {
        let q = |e| Error::source(format!("opening a snapshot for a chunk of {}", table.id), e);
        conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ").await.map_err(q)?;
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.map_err(q)?;
        let position = super::snapshot::snapshot_status(conn)
            .await?
            .ok_or_else(|| Error::Preflight("the server reports no binlog_snapshot_position".into()))?;
        let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let key_list = table.primary_key.iter().map(|&i| columns[i].clone()).collect::<Vec<_>>().join(", ");
        let (terms, params) = range_terms(&columns[key], range);
        Ok(Self {
            select: format!("SELECT {} FROM {}", columns.join(", "), table.id.quoted()),
            key_list,
            terms,
            params,
            primary_key: table.primary_key.clone(),
            last: None,
            page_rows: page_rows.max(1),
            in_page: None,
            position,
        })
    }

    /// The query of the chunk's next page, with its parameters; `None` once the chunk is read.
    pub fn next_page(&mut self) -> Option<(String, Vec<Value>)> {
        if self.in_page.is_some_and(|rows| rows < self.page_rows) {
            return None;
        }
        self.in_page = Some(0);
        let mut terms = self.terms.clone();
        let mut params = self.params.clone();
        if let Some(last) = &self.last {
            terms.push(format!("({}) > ({})", self.key_list, vec!["?"; last.len()].join(", ")));
            params.extend(last.iter().cloned());
        }
        let filter = if terms.is_empty() { String::new() } else { format!(" WHERE {}", terms.join(" AND ")) };
        Some((format!("{}{filter} ORDER BY {} LIMIT {}", self.select, self.key_list, self.page_rows), params))
    }

    /// A row of the page was read: the next page starts after it.
    pub fn read(&mut self, row: &Row) {
        *self.in_page.get_or_insert(0) += 1;
        self.last = Some(self.primary_key.iter().map(|&i| row.as_ref(i).cloned().unwrap_or(Value::NULL)).collect());
    }

    /// Rows of the page read so far.
    pub fn page_rows_read(&self) -> u64 {
        self.in_page.unwrap_or(0) as u64
    }

    /// Ends the chunk's snapshot.
    pub async fn finish(self, conn: &mut Conn) -> Result<()> {
        conn.query_drop("COMMIT").await.map_err(|e| Error::source("ending a chunk's snapshot", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(lo: Option<i128>, hi: Option<i128>, offset: u64) -> LoadChunk {
        LoadChunk { range: KeyRange { lo, hi }, position: BinlogPos::new("b.000001", offset), rows: 1, columns: String::new() }
    }

    #[test]
    fn dense_single_integer_keys_are_cut_in_even_steps() {
        assert_eq!(Split::choose(false, Some((1, 1000)), 1000, 100), Split::Walk);
        assert_eq!(Split::choose(true, None, 0, 100), Split::Walk);
        assert_eq!(Split::choose(true, Some((1, 100_000)), 1000, 100), Split::Walk, "too sparse");
        let split = Split::choose(true, Some((1, 2000)), 1000, 100);
        assert_eq!(split, Split::Even { min: 1, max: 2000, step: 200 });
        let range = |lo, hi| KeyRange { lo, hi };
        assert_eq!(split.even_bound(&range(None, None)), Some(Some(201)));
        assert_eq!(split.even_bound(&range(Some(201), None)), Some(Some(401)));
        assert_eq!(split.even_bound(&range(Some(1801), None)), None, "past max, the walk: rows inserted since");
        assert_eq!(split.even_bound(&range(Some(201), Some(300))), Some(None), "a gap smaller than a step is one chunk");
        assert_eq!(Split::Walk.even_bound(&range(None, None)), None);
        // an estimate above the real rows never makes a step shorter than the chunk rows
        assert_eq!(Split::choose(true, Some((1, 500)), 1000, 100), Split::Even { min: 1, max: 500, step: 100 });
    }

    #[test]
    fn gaps_are_what_the_committed_chunks_leave_of_the_key_space() {
        assert_eq!(gaps(&[]), vec![KeyRange::ALL]);
        let done = [chunk(None, Some(10), 5), chunk(Some(20), Some(30), 5), chunk(Some(30), Some(40), 5)];
        assert_eq!(gaps(&done), vec![KeyRange { lo: Some(10), hi: Some(20) }, KeyRange { lo: Some(40), hi: None }]);
        assert_eq!(gaps(&[chunk(None, Some(10), 5), chunk(Some(10), None, 5)]), vec![]);
    }

    #[test]
    fn a_change_is_in_the_load_up_to_the_position_of_its_keys_chunk() {
        let mut loaded = LoadedTable::chunked(vec![chunk(None, Some(10), 100), chunk(Some(10), Some(20), 300)]);
        let table = TableSchema {
            id: crate::schema::TableId::new("db", "t"),
            columns: vec![
                crate::schema::Column::nullable("id", ColumnType::BigInt),
                crate::schema::Column::nullable("v", ColumnType::Text),
            ],
            primary_key: vec![0],
            charset: None,
        };
        let at = |o| BinlogPos::new("b.000001", o);
        let row = |k| vec![Cell::Int(k), Cell::Text("x".into())];
        assert_eq!(loaded.judge(&table, &row(3), &at(100)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &row(3), &at(101)), Judged::Streamed(None));
        assert_eq!(loaded.judge(&table, &row(10), &at(300)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &row(-5), &at(50)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &row(19), &at(301)), Judged::Streamed(None));
        // keys of ranges not begun are read later, with every change so far
        assert_eq!(loaded.judge(&table, &row(20), &at(900)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &[Cell::UInt(u64::MAX), Cell::Null], &at(900)), Judged::Loaded);
        loaded.set(KeyRange { lo: Some(20), hi: None }, ChunkState::Opening);
        assert_eq!(loaded.judge(&table, &row(25), &at(900)), Judged::Opening);
        loaded.set(KeyRange { lo: Some(20), hi: None }, ChunkState::Reading(at(500)));
        assert_eq!(loaded.judge(&table, &row(25), &at(500)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &row(25), &at(501)), Judged::Streamed(Some(Some(20))));
        assert!(!loaded.is_committed(Some(20)) && loaded.is_committed(Some(10)));
        assert_eq!((loaded.oldest(), loaded.newest()), (Some(&at(100)), Some(&at(300))));
        let whole = LoadedTable::whole(at(100));
        assert_eq!(whole.judge(&table, &row(99), &at(100)), Judged::Loaded);
        assert_eq!(whole.judge(&table, &row(99), &at(101)), Judged::Streamed(None));
    }
}
