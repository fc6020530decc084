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
//!   to exactly one chunk, whatever its key. Ranges are of the chunk key ([`ChunkKey`]): the
//!   primary key's columns, or as many of the first ones as binlake orders exactly as the
//!   server does (integers, DECIMAL, DATE, DATETIME, TIMESTAMP, binary strings, text of a
//!   UTF-8 `_bin` collation); a binlog row image is placed in its chunk by comparing its key
//!   with the chunks' bounds in that order ([`KeyPart`]), so the server and binlake never
//!   disagree on which chunk holds a key. Text of other collations (`utf8mb4_general_ci`,
//!   `utf8mb4_0900_ai_ci`, ...) is not ordered by binlake: a key starting with one is not
//!   chunked, and the table is read from one snapshot.
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
//! further on (`ORDER BY key LIMIT 1 OFFSET n`, a walk along the index of one chunk's length,
//! whose pages the chunk's read then finds in the buffer pool). Composite bounds are compared
//! column by column in the queries (`a > ? OR a = ? AND b >= ?`), which the range optimizer
//! reads as index ranges. Where the chunk key is only the first columns of the primary key,
//! rows that share one chunk-key value are in one chunk however many they are. Bounds are only ever set
//! before a chunk is begun: a chunk cannot be cut once the stream judges changes by it.

use std::cmp::Ordering;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::{ColumnType, Storage, TableSchema, quote_ident};
use crate::state::LoadChunk;
use crate::value::Cell;

/// One column's value in a chunk key, ordered as the server orders that column.
#[derive(Debug, Clone)]
pub enum KeyPart {
    /// Integers; DECIMAL unscaled, DATE in days, DATETIME and TIMESTAMP in microseconds (a
    /// zero date, which binlake reads as NULL, is `i128::MIN`: the server sorts it first).
    Int(i128),
    /// Binary strings in byte order; text of a UTF-8 `_bin` collation in code point order,
    /// which is its bytes' order, with trailing spaces not counting where `pad` (PAD SPACE).
    Bytes { bytes: Vec<u8>, pad: bool },
}

impl Ord for KeyPart {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (KeyPart::Int(a), KeyPart::Int(b)) => a.cmp(b),
            (KeyPart::Bytes { bytes: a, pad: true }, KeyPart::Bytes { bytes: b, .. }) => pad_space_cmp(a, b),
            (KeyPart::Bytes { bytes: a, .. }, KeyPart::Bytes { bytes: b, .. }) => a.cmp(b),
            (KeyPart::Int(_), KeyPart::Bytes { .. }) => Ordering::Less,
            (KeyPart::Bytes { .. }, KeyPart::Int(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for KeyPart {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for KeyPart {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for KeyPart {}

impl std::hash::Hash for KeyPart {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            KeyPart::Int(i) => i.hash(h),
            KeyPart::Bytes { bytes, pad: true } => bytes[..bytes.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1)].hash(h),
            KeyPart::Bytes { bytes, .. } => bytes.hash(h),
        }
    }
}

/// PAD SPACE: the shorter string compares as if padded with spaces to the longer's length.
fn pad_space_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let against_spaces = |rest: &[u8]| rest.iter().map(|c| c.cmp(&b' ')).find(|o| o.is_ne()).unwrap_or(Ordering::Equal);
        if a.len() > n { against_spaces(&a[n..]) } else { against_spaces(&b[n..]).reverse() }
    })
}

/// A value of a table's chunk key: one part per key column, compared column by column as the
/// server compares the key's tuples.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub Vec<KeyPart>);

impl Key {
    pub fn int(i: i128) -> Self {
        Key(vec![KeyPart::Int(i)])
    }

    /// The key as the state store keeps it: parts joined by `,`, each `i` and decimal digits,
    /// `x` (binary) or `s` (PAD SPACE text) and hex bytes. A lone integer is its digits.
    pub fn to_text(&self) -> String {
        if let [KeyPart::Int(i)] = self.0.as_slice() {
            return i.to_string();
        }
        let part = |p: &KeyPart| match p {
            KeyPart::Int(i) => format!("i{i}"),
            KeyPart::Bytes { bytes, pad } => format!("{}{}", if *pad { 's' } else { 'x' }, crate::value::hex(bytes)),
        };
        self.0.iter().map(part).collect::<Vec<_>>().join(",")
    }

    pub fn parse(text: &str) -> Option<Self> {
        if let Ok(i) = text.parse() {
            return Some(Key::int(i));
        }
        let part = |p: &str| -> Option<KeyPart> {
            let (tag, rest) = p.split_at_checked(1)?;
            match tag {
                "i" => rest.parse().ok().map(KeyPart::Int),
                "x" => Some(KeyPart::Bytes { bytes: crate::value::unhex(rest)?, pad: false }),
                "s" => Some(KeyPart::Bytes { bytes: crate::value::unhex(rest)?, pad: true }),
                _ => None,
            }
        };
        text.split(',').map(part).collect::<Option<Vec<_>>>().map(Key)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |p: &KeyPart| match p {
            KeyPart::Int(i) => i.to_string(),
            KeyPart::Bytes { bytes, .. } => format!("{:?}", String::from_utf8_lossy(bytes)),
        };
        match self.0.as_slice() {
            [one] => write!(f, "{}", part(one)),
            parts => write!(f, "({})", parts.iter().map(part).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// A range `[lo, hi)` of a table's chunk key; `None` is unbounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRange {
    pub lo: Option<Key>,
    pub hi: Option<Key>,
}

impl KeyRange {
    pub const ALL: KeyRange = KeyRange { lo: None, hi: None };

    pub fn contains(&self, key: &Key) -> bool {
        self.lo.as_ref().is_none_or(|lo| key >= lo) && self.hi.as_ref().is_none_or(|hi| key < hi)
    }
}

impl std::fmt::Display for KeyRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound = |b: &Option<Key>| b.as_ref().map_or_else(String::new, |b| b.to_string());
        write!(f, "[{}, {})", bound(&self.lo), bound(&self.hi))
    }
}

/// How one key column's values become key parts, so binlake orders them as the server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Int,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    /// DATETIME and TIMESTAMP (the session's time zone is UTC).
    Micros,
    Binary,
    /// Text of a UTF-8 `_bin` collation.
    Utf8Bin {
        pad: bool,
    },
}

/// The columns a table is chunked by: its primary key, or as many of its first columns as
/// binlake can order exactly as the server does (rows that share those are one chunk).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkKey {
    pub columns: Vec<(String, KeyKind)>,
    /// The key is the whole primary key: no two rows share a value.
    pub unique: bool,
}

impl ChunkKey {
    /// Chunks committed before binlake recorded its chunk key were of the primary key's first
    /// column, an integer.
    pub fn legacy(table: &TableSchema) -> Option<Self> {
        let first = &table.columns[*table.primary_key.first()?];
        Some(ChunkKey { columns: vec![(first.name.clone(), KeyKind::Int)], unique: table.primary_key.len() == 1 })
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a chunk key serializes")
    }

    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// The key's columns' places in `table` (they are all there while the key is in use: a
    /// change of the table's columns starts its load over).
    fn places<'a>(&'a self, table: &'a TableSchema) -> impl Iterator<Item = Option<(usize, KeyKind)>> + 'a {
        self.columns.iter().map(|(name, kind)| Some((table.columns.iter().position(|c| &c.name == name)?, *kind)))
    }

    /// The key of a row of `table` (cells in the table's column order).
    pub fn of_cells(&self, table: &TableSchema, row: &[Cell]) -> Option<Key> {
        self.places(table).map(|place| part_of_cell(place?.1, row.get(place?.0)?)).collect::<Option<Vec<_>>>().map(Key)
    }

    /// The key of values the server returned for the key's columns, in order.
    fn of_values(&self, table: &TableSchema, values: Vec<Value>) -> Result<Key> {
        let mut parts = Vec::with_capacity(values.len());
        for (place, value) in self.places(table).zip(values) {
            let (index, kind) = place.ok_or_else(|| Error::Internal(format!("a chunk key column of {} is gone", table.id)))?;
            let cell = crate::value::from_snapshot(&table.columns[index], value).map_err(Error::Internal)?;
            parts.push(part_of_cell(kind, &cell).ok_or_else(|| Error::Internal(format!("a chunk key value of {} is {cell:?}", table.id)))?);
        }
        Ok(Key(parts))
    }

    /// The key's values as query parameters.
    fn values(&self, key: &Key) -> Vec<Value> {
        self.columns.iter().zip(&key.0).map(|((_, kind), part)| value_of_part(*kind, part)).collect()
    }

    fn column_list(&self) -> Vec<String> {
        self.columns.iter().map(|(name, _)| quote_ident(name)).collect()
    }
}

fn part_of_cell(kind: KeyKind, cell: &Cell) -> Option<KeyPart> {
    Some(match (kind, cell) {
        (KeyKind::Int, Cell::Int(i)) => KeyPart::Int(*i as i128),
        (KeyKind::Int, Cell::UInt(u)) => KeyPart::Int(*u as i128),
        (KeyKind::Decimal { precision, scale }, Cell::Decimal(text)) => {
            KeyPart::Int(crate::sink::parquet::decimal_to_i128(text, precision, scale as i8).ok()?)
        }
        (KeyKind::Date, Cell::Date(days)) => KeyPart::Int(*days as i128),
        (KeyKind::Micros, Cell::Micros(us)) => KeyPart::Int(*us as i128),
        (KeyKind::Date | KeyKind::Micros, Cell::Null) => KeyPart::Int(i128::MIN),
        (KeyKind::Binary, Cell::Bytes(b)) => KeyPart::Bytes { bytes: b.clone(), pad: false },
        (KeyKind::Utf8Bin { pad }, Cell::Text(t)) => KeyPart::Bytes { bytes: t.as_bytes().to_vec(), pad },
        _ => return None,
    })
}

fn value_of_part(kind: KeyKind, part: &KeyPart) -> Value {
    match (kind, part) {
        (KeyKind::Int, KeyPart::Int(i)) => i64::try_from(*i).map_or(Value::UInt(*i as u64), Value::Int),
        (KeyKind::Decimal { scale, .. }, KeyPart::Int(i)) => Value::Bytes(decimal_text(*i, scale).into_bytes()),
        (KeyKind::Date, KeyPart::Int(i128::MIN)) => Value::Bytes(b"0000-00-00".to_vec()),
        (KeyKind::Micros, KeyPart::Int(i128::MIN)) => Value::Bytes(b"0000-00-00 00:00:00".to_vec()),
        (KeyKind::Date, KeyPart::Int(days)) => Value::Bytes(crate::value::date_text(*days as i32).into_bytes()),
        (KeyKind::Micros, KeyPart::Int(us)) => Value::Bytes(crate::value::datetime_text(*us as i64, 6).into_bytes()),
        (_, KeyPart::Bytes { bytes, .. }) => Value::Bytes(bytes.clone()),
        (_, KeyPart::Int(i)) => Value::Bytes(i.to_string().into_bytes()),
    }
}

/// An unscaled decimal as text at `scale` (`-1250`, 2 -> `-12.50`).
fn decimal_text(unscaled: i128, scale: u8) -> String {
    let digits = format!("{:0>width$}", unscaled.unsigned_abs(), width = scale as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - scale as usize);
    let sign = if unscaled < 0 { "-" } else { "" };
    if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") }
}

/// How a key column of type `ty` with collation `collation` orders, if binlake can follow it.
fn key_kind(ty: &ColumnType, storage: Option<Storage>, collation: Option<&str>) -> std::result::Result<KeyKind, String> {
    Ok(match ty {
        ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::MediumInt | ColumnType::Int | ColumnType::BigInt | ColumnType::Year => {
            KeyKind::Int
        }
        ColumnType::Decimal { precision, scale } if *precision <= 38 => KeyKind::Decimal { precision: *precision, scale: *scale },
        ColumnType::Date => KeyKind::Date,
        ColumnType::DateTime { .. } | ColumnType::Timestamp { .. } => KeyKind::Micros,
        ColumnType::Binary => KeyKind::Binary,
        ColumnType::Text => {
            let collation = collation.unwrap_or("");
            let utf8 = ["utf8mb4_", "utf8mb3_", "utf8_", "ascii_"].iter().any(|p| collation.starts_with(p));
            let no_pad = collation.ends_with("_nopad_bin") || collation.ends_with("_0900_bin");
            match () {
                _ if utf8 && no_pad && !matches!(storage, Some(Storage::Fixed(_))) => KeyKind::Utf8Bin { pad: false },
                _ if utf8 && collation.ends_with("_bin") && !no_pad => KeyKind::Utf8Bin { pad: true },
                _ => return Err(format!("collation {collation}, whose order binlake does not reproduce")),
            }
        }
        other => return Err(format!("type {other:?}")),
    })
}

/// The key a table is chunked by, or why it cannot be: its primary key's columns, as many of
/// the first ones as binlake orders as the server does. `collation` gives a column's
/// collation by name.
pub fn chunk_key(table: &TableSchema, collation: impl Fn(&str) -> Option<String>) -> std::result::Result<ChunkKey, String> {
    if table.primary_key.is_empty() {
        return Err("it has no primary key nor a UNIQUE key of NOT NULL columns".into());
    }
    let mut columns = Vec::new();
    let mut why = None;
    for &i in &table.primary_key {
        let column = &table.columns[i];
        match key_kind(&column.ty, column.storage, collation(&column.name).as_deref()) {
            Ok(kind) => columns.push((column.name.clone(), kind)),
            Err(e) => {
                why = Some(format!("its key column {} has {e}", column.name));
                break;
            }
        }
    }
    match why {
        Some(why) if columns.is_empty() => Err(why),
        _ => Ok(ChunkKey { unique: columns.len() == table.primary_key.len(), columns }),
    }
}

/// The ranges of the key space not covered by `done` (sorted, not overlapping): what a full
/// load still has to read.
pub fn gaps(done: &[LoadChunk]) -> Vec<KeyRange> {
    let mut gaps = Vec::new();
    let mut from: Option<Option<Key>> = Some(None);
    for chunk in done {
        if let Some(lo) = from
            && lo != chunk.range.lo
        {
            gaps.push(KeyRange { lo, hi: chunk.range.lo.clone() });
        }
        from = chunk.range.hi.clone().map(Some);
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// The LOAD files hold it (or will: its chunk is read later).
    Loaded,
    /// It belongs in a CDC file; with `Some`, that file must not be committed before the
    /// chunk starting at that bound is.
    Streamed(Option<Option<Key>>),
    /// Its chunk's position is not known yet: ask again in a moment.
    Opening,
    /// The row's key is not of the chunk key's form (its table changed), while chunks may
    /// still hold it or not.
    Unplaceable,
}

/// What a table's LOAD files hold or will hold, chunk by chunk, for the stream to tell which
/// changes they have.
#[derive(Debug, Clone, Default)]
pub struct LoadedTable {
    /// What its chunks are ranges of; `None` for a table read whole.
    key: Option<ChunkKey>,
    /// The begun chunks by lower bound (`None` first): their ranges do not overlap. A key no
    /// chunk covers is in a range not begun yet.
    chunks: std::collections::BTreeMap<Option<Key>, (Option<Key>, ChunkState)>,
    /// The newest chunk's position once the load is done ([`LoadedTable::settle`]): every
    /// later change is streamed, whatever its key, so the stream's rows skip the key lookup.
    settled: Option<BinlogPos>,
}

impl LoadedTable {
    /// A table read from one snapshot at `position`.
    pub fn whole(position: BinlogPos) -> Self {
        let chunk = (None, ChunkState::Committed(position.clone()));
        Self { key: None, chunks: [(None, chunk)].into(), settled: Some(position) }
    }

    /// A table chunked by `key` whose `committed` chunks are all there is so far.
    pub fn chunked(key: ChunkKey, committed: Vec<LoadChunk>) -> Self {
        let chunks = committed.into_iter().map(|c| (c.range.lo, (c.range.hi, ChunkState::Committed(c.position)))).collect();
        let mut table = Self { key: Some(key), chunks, settled: None };
        table.settle();
        table
    }

    /// The chunk of `range` goes to `state`.
    pub fn set(&mut self, range: KeyRange, state: ChunkState) {
        self.chunks.insert(range.lo, (range.hi, state));
        self.settled = None;
    }

    /// Notes whether the load is done (asked when it ends, not on every chunk, which would
    /// make a load of n chunks cost n² here): its chunks all committed and covering the whole
    /// key space (while ranges are not begun yet, their keys' changes go into their chunks).
    pub fn settle(&mut self) {
        let mut next: Option<&Option<Key>> = Some(&None);
        for (lo, (hi, state)) in &self.chunks {
            if next != Some(lo) || !matches!(state, ChunkState::Committed(_)) {
                self.settled = None;
                return;
            }
            next = hi.as_ref().map(|_| hi);
        }
        self.settled = if next.is_none() { self.newest().cloned() } else { None };
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
        if self.settled.as_ref().is_some_and(|newest| at > newest) {
            return Judged::Streamed(None);
        }
        let found = match &self.key {
            // a table read whole is one chunk of every key
            None => self.chunks.iter().next(),
            Some(key) => match key.of_cells(table, row) {
                Some(key) => {
                    let key = Some(key);
                    self.chunks.range(..=&key).next_back().filter(|(_, (hi, _))| hi.is_none() || *hi > key)
                }
                None => return Judged::Unplaceable,
            },
        };
        match found {
            None => Judged::Loaded,
            Some((_, (_, ChunkState::Opening))) => Judged::Opening,
            Some((_, (_, ChunkState::Reading(p)))) if at <= p => Judged::Loaded,
            Some((lo, (_, ChunkState::Reading(_)))) => Judged::Streamed(Some(lo.clone())),
            Some((_, (_, ChunkState::Committed(p)))) if at <= p => Judged::Loaded,
            Some(_) => Judged::Streamed(None),
        }
    }

    /// True when the chunk starting at `lo` is committed (or gone with a new load).
    pub fn is_committed(&self, lo: &Option<Key>) -> bool {
        self.chunks.get(lo).is_none_or(|(_, state)| matches!(state, ChunkState::Committed(_)))
    }
}

/// A table's columns as the server has them now: name, type, nullability, collation.
pub struct ServerColumns(Vec<(String, String, String, Option<String>)>);

impl ServerColumns {
    pub async fn read(conn: &mut Conn, table: &TableSchema) -> Result<Self> {
        let rows = conn
            .exec(
                "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLLATION_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (&table.id.database, &table.id.table),
            )
            .await
            .map_err(|e| Error::source(format!("reading the columns of {}", table.id), e))?;
        Ok(Self(rows))
    }

    /// The columns in a form that changes with any change of a column: a chunk is only read
    /// with the schema its load started with.
    pub fn fingerprint(&self) -> String {
        self.0.iter().map(|(n, t, null, c)| format!("{n} {t} {null} {}", c.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", ")
    }

    /// The collation of the column `name`, if it has one.
    pub fn collation(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, ..)| n == name).and_then(|(.., c)| c.as_deref())
    }
}

/// A `WHERE` term comparing the tuple `columns` with `values` by `op` (`>=`, `>` or `<`),
/// spelled out column by column (`a > ? OR (a = ? AND b >= ?)`), a form every server's range
/// optimizer reads as ranges of the key's index.
fn tuple_term(columns: &[String], op: &str, values: &[Value]) -> (String, Vec<Value>) {
    let strict = op.trim_end_matches('=');
    let (mut alternatives, mut params) = (Vec::new(), Vec::new());
    for n in 0..columns.len() {
        let mut term: Vec<String> = (0..n).map(|i| format!("{} = ?", columns[i])).collect();
        params.extend(values[..n].iter().cloned());
        term.push(format!("{} {} ?", columns[n], if n + 1 == columns.len() { op } else { strict }));
        params.push(values[n].clone());
        alternatives.push(term.join(" AND "));
    }
    let term = if alternatives.len() == 1 { alternatives.remove(0) } else { format!("({})", alternatives.join(" OR ")) };
    (term, params)
}

/// `WHERE` terms and parameters for a range of the chunk key.
fn range_terms(key: &ChunkKey, range: &KeyRange) -> (Vec<String>, Vec<Value>) {
    let columns = key.column_list();
    let (mut terms, mut params) = (Vec::new(), Vec::new());
    for (bound, op) in [(&range.lo, ">="), (&range.hi, "<")] {
        if let Some(bound) = bound {
            let (term, values) = tuple_term(&columns, op, &key.values(bound));
            terms.push(term);
            params.extend(values);
        }
    }
    (terms, params)
}

fn filter(terms: &[String]) -> String {
    if terms.is_empty() { String::new() } else { format!(" WHERE {}", terms.join(" AND ")) }
}

/// The end of the next chunk of `gap`, `rows` rows from its start: `None` when the rest of the
/// gap is smaller.
pub async fn next_bound(conn: &mut Conn, table: &TableSchema, key: &ChunkKey, gap: &KeyRange, rows: usize) -> Result<Option<Key>> {
    let read = |e| Error::source(format!("finding the next chunk of {}", table.id), e);
    let columns = key.column_list().join(", ");
    let (terms, params) = range_terms(key, gap);
    let query = format!("SELECT {columns} FROM {}{} ORDER BY {columns} LIMIT 1 OFFSET {rows}", table.id.quoted(), filter(&terms));
    let found: Option<Row> = conn.exec_first(query, params).await.map_err(read)?;
    let Some(found) = found else { return Ok(None) };
    let bound = key.of_values(table, found.unwrap())?;
    if gap.lo.as_ref().is_none_or(|lo| bound > *lo) {
        return Ok(Some(bound));
    }
    // More than `rows` rows share the gap's first key value (the key is a prefix of the
    // primary key): they are one chunk.
    let (mut terms, mut params) = range_terms(key, &KeyRange { lo: None, hi: gap.hi.clone() });
    let (after, values) = tuple_term(&key.column_list(), ">", &key.values(&bound));
    terms.push(after);
    params.extend(values);
    let query = format!("SELECT {columns} FROM {}{} ORDER BY {columns} LIMIT 1", table.id.quoted(), filter(&terms));
    let next: Option<Row> = conn.exec_first(query, params).await.map_err(read)?;
    next.map(|row| key.of_values(table, row.unwrap())).transpose()
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
    /// Even steps for `rows` rows (the server's estimate) of keys from `min` to `max` of a
    /// key that is one integer column, when they are dense enough.
    pub fn choose(min_max: Option<(i128, i128)>, rows: u64, chunk_rows: usize) -> Split {
        let Some((min, max)) = min_max.filter(|_| rows > 0) else { return Split::Walk };
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
    pub fn even_bound(&self, gap: &KeyRange) -> Option<Option<Key>> {
        let Split::Even { min, max, step } = *self else { return None };
        let int = |k: &Key| match k.0.as_slice() {
            [KeyPart::Int(i)] => *i,
            _ => unreachable!("even steps are of one integer column"),
        };
        let hi = gap.lo.as_ref().map_or(min, |lo| int(lo).max(min)) + step;
        if gap.hi.as_ref().is_some_and(|end| hi >= int(end)) {
            return Some(None);
        }
        (hi <= max).then_some(Some(Key::int(hi)))
    }
}

/// The smallest and largest key of a table chunked by one integer column that is its whole
/// primary key, if it has rows (two index dives); `None` for other keys.
pub async fn key_span(conn: &mut Conn, table: &TableSchema, key: &ChunkKey) -> Result<Option<(i128, i128)>> {
    let [(name, KeyKind::Int)] = key.columns.as_slice() else { return Ok(None) };
    if !key.unique {
        return Ok(None);
    }
    let column = quote_ident(name);
    let row: Option<(Value, Value)> = conn
        .query_first(format!("SELECT MIN({column}), MAX({column}) FROM {}", table.id.quoted()))
        .await
        .map_err(|e| Error::source(format!("reading the key span of {}", table.id), e))?;
    // the text protocol: MIN and MAX arrive as digits
    let int = |v: Value| match v {
        Value::Int(i) => Some(i as i128),
        Value::UInt(u) => Some(u as i128),
        Value::Bytes(b) => std::str::from_utf8(&b).ok()?.parse().ok(),
        _ => None,
    };
    Ok(row.and_then(|(min, max)| Some((int(min)?, int(max)?))))
}

/// One chunk being read inside its own consistent snapshot, page by page in key order, on a
/// connection the caller holds: it streams each page's rows one at a time (a page is never
/// held whole, so rows of any size take one row's memory) and tells the reader each row.
pub struct ChunkReader {
    select: String,
    key_columns: Vec<String>,
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
    pub async fn begin(conn: &mut Conn, table: &TableSchema, key: &ChunkKey, range: &KeyRange, page_rows: usize) -> Result<Self> {
        let q = |e| Error::source(format!("opening a snapshot for a chunk of {}", table.id), e);
        conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ").await.map_err(q)?;
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.map_err(q)?;
        let position = super::snapshot::snapshot_status(conn)
            .await?
            .ok_or_else(|| Error::Preflight("the server reports no binlog_snapshot_position".into()))?;
        let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let key_columns: Vec<String> = table.primary_key.iter().map(|&i| columns[i].clone()).collect();
        let (terms, params) = range_terms(key, range);
        Ok(Self {
            select: format!("SELECT {} FROM {}", columns.join(", "), table.id.quoted()),
            key_list: key_columns.join(", "),
            key_columns,
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
            let (after, values) = tuple_term(&self.key_columns, ">", last);
            terms.push(after);
            params.extend(values);
        }
        Some((format!("{}{} ORDER BY {} LIMIT {}", self.select, filter(&terms), self.key_list, self.page_rows), params))
    }

    /// A row of the page was read: the next page starts after it.
    pub fn read(&mut self, row: &Row) {
        *self.in_page.get_or_insert(0) += 1;
        // Refilled in place: this runs for every row.
        let last = self.last.get_or_insert_with(Vec::new);
        last.clear();
        last.extend(self.primary_key.iter().map(|&i| row.as_ref(i).cloned().unwrap_or(Value::NULL)));
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
    use crate::schema::{Column, TableId};

    fn int(i: i128) -> Option<Key> {
        Some(Key::int(i))
    }

    fn chunk(lo: Option<i128>, hi: Option<i128>, offset: u64) -> LoadChunk {
        LoadChunk {
            range: KeyRange { lo: lo.map(Key::int), hi: hi.map(Key::int) },
            position: BinlogPos::new("b.000001", offset),
            rows: 1,
            columns: String::new(),
            key: None,
        }
    }

    fn text(t: &str, pad: bool) -> KeyPart {
        KeyPart::Bytes { bytes: t.as_bytes().to_vec(), pad }
    }

    fn table(columns: Vec<Column>, primary_key: Vec<usize>) -> TableSchema {
        TableSchema::new(TableId::new("db", "t"), columns, primary_key, None)
    }

    #[test]
    fn dense_single_integer_keys_are_cut_in_even_steps() {
        assert_eq!(Split::choose(None, 0, 100), Split::Walk);
        assert_eq!(Split::choose(Some((1, 100_000)), 1000, 100), Split::Walk, "too sparse");
        let split = Split::choose(Some((1, 2000)), 1000, 100);
        assert_eq!(split, Split::Even { min: 1, max: 2000, step: 200 });
        let range = |lo: Option<i128>, hi: Option<i128>| KeyRange { lo: lo.map(Key::int), hi: hi.map(Key::int) };
        assert_eq!(split.even_bound(&range(None, None)), Some(int(201)));
        assert_eq!(split.even_bound(&range(Some(201), None)), Some(int(401)));
        assert_eq!(split.even_bound(&range(Some(1801), None)), None, "past max, the walk: rows inserted since");
        assert_eq!(split.even_bound(&range(Some(201), Some(300))), Some(None), "a gap smaller than a step is one chunk");
        assert_eq!(Split::Walk.even_bound(&range(None, None)), None);
        // an estimate above the real rows never makes a step shorter than the chunk rows
        assert_eq!(Split::choose(Some((1, 500)), 1000, 100), Split::Even { min: 1, max: 500, step: 100 });
    }

    #[test]
    fn gaps_are_what_the_committed_chunks_leave_of_the_key_space() {
        assert_eq!(gaps(&[]), vec![KeyRange::ALL]);
        let done = [chunk(None, Some(10), 5), chunk(Some(20), Some(30), 5), chunk(Some(30), Some(40), 5)];
        assert_eq!(gaps(&done), vec![KeyRange { lo: int(10), hi: int(20) }, KeyRange { lo: int(40), hi: None }]);
        assert_eq!(gaps(&[chunk(None, Some(10), 5), chunk(Some(10), None, 5)]), vec![]);
    }

    #[test]
    fn pad_space_text_orders_as_if_padded_with_spaces() {
        assert_eq!(text("a", true), text("a   ", true), "trailing spaces do not count");
        assert!(text("a", true) > text("a\t", true), "but a tab sorts below the space it is compared with");
        assert!(text("a", true) < text("a!", true));
        assert!(text("a\t", false) > text("a", false), "NO PAD: a longer string is greater");
        assert!(text("B", true) < text("a", true), "a _bin collation orders code points, not letters");
        assert!(text("z", true) < text("é", true));
        let hash = |p: &KeyPart| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            p.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&text("a", true)), hash(&text("a  ", true)));
    }

    #[test]
    fn keys_keep_their_order_through_the_state_stores_text() {
        let keys = [
            Key::int(-5),
            Key::int(u64::MAX as i128),
            Key(vec![KeyPart::Int(3), text("x,y", true)]),
            Key(vec![KeyPart::Bytes { bytes: vec![0, 255, 10], pad: false }, KeyPart::Int(i128::MIN)]),
        ];
        for key in &keys {
            assert_eq!(Key::parse(&key.to_text()).as_ref(), Some(key), "{}", key.to_text());
        }
        assert_eq!(Key::parse("42"), Some(Key::int(42)), "bounds recorded as plain integers");
        assert_eq!(Key::parse("q12"), None);
        assert!(Key(vec![KeyPart::Int(1), text("b", true)]) < Key(vec![KeyPart::Int(2), text("a", true)]));
        let key = ChunkKey { columns: vec![("a".into(), KeyKind::Utf8Bin { pad: true }), ("b".into(), KeyKind::Micros)], unique: true };
        assert_eq!(ChunkKey::parse(&key.to_text()), Some(key));
    }

    #[test]
    fn a_chunk_key_is_the_primary_keys_columns_binlake_orders_as_the_server_does() {
        let mut name = Column::nullable("name", ColumnType::Text);
        name.storage = Some(Storage::Variable(400));
        let mut code = Column::nullable("code", ColumnType::Text);
        code.storage = Some(Storage::Fixed(40));
        let columns = vec![
            Column::nullable("id", ColumnType::Int),
            name,
            Column::nullable("at", ColumnType::DateTime { fsp: 6 }),
            Column::nullable("amount", ColumnType::Decimal { precision: 12, scale: 2 }),
            code,
            Column::nullable("f", ColumnType::Double),
        ];
        let collations = |bin: &'static str| {
            move |column: &str| match column {
                "name" => Some(bin.to_string()),
                "code" => Some("utf8mb4_nopad_bin".to_string()),
                _ => None,
            }
        };
        let key = chunk_key(&table(columns.clone(), vec![0, 1, 2, 3]), collations("utf8mb4_bin")).unwrap();
        let kinds: Vec<KeyKind> = key.columns.iter().map(|(_, k)| *k).collect();
        assert_eq!(kinds, [KeyKind::Int, KeyKind::Utf8Bin { pad: true }, KeyKind::Micros, KeyKind::Decimal { precision: 12, scale: 2 }]);
        assert!(key.unique);
        // a case-insensitive collation ends the key: rows sharing the id are one chunk
        let key = chunk_key(&table(columns.clone(), vec![0, 1]), collations("utf8mb4_general_ci")).unwrap();
        assert_eq!((key.columns.len(), key.unique), (1, false));
        let why = chunk_key(&table(columns.clone(), vec![1]), collations("utf8mb4_unicode_ci")).unwrap_err();
        assert!(why.contains("utf8mb4_unicode_ci"), "{why}");
        assert_eq!(
            chunk_key(&table(columns.clone(), vec![1]), collations("utf8mb4_nopad_bin")).unwrap().columns[0].1,
            KeyKind::Utf8Bin { pad: false }
        );
        assert!(chunk_key(&table(columns.clone(), vec![4]), collations("x")).is_err(), "a NO PAD CHAR is stored padded");
        assert!(chunk_key(&table(columns.clone(), vec![5]), collations("x")).is_err());
        assert!(chunk_key(&table(columns, vec![]), collations("x")).is_err());
    }

    #[test]
    fn ranges_of_composite_keys_are_spelled_out_column_by_column() {
        let columns = ["`a`".to_string(), "`b`".to_string(), "`c`".to_string()];
        let values = [Value::Int(1), Value::Int(2), Value::Int(3)];
        let (term, params) = tuple_term(&columns, ">=", &values);
        assert_eq!(term, "(`a` > ? OR `a` = ? AND `b` > ? OR `a` = ? AND `b` = ? AND `c` >= ?)");
        assert_eq!(params.len(), 6);
        assert_eq!(tuple_term(&columns[..1], "<", &values[..1]).0, "`a` < ?");
        assert_eq!(decimal_text(-1250, 2), "-12.50");
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(decimal_text(42, 0), "42");
    }

    #[test]
    fn a_change_is_in_the_load_up_to_the_position_of_its_keys_chunk() {
        let key = ChunkKey { columns: vec![("id".into(), KeyKind::Int)], unique: true };
        let mut loaded = LoadedTable::chunked(key, vec![chunk(None, Some(10), 100), chunk(Some(10), Some(20), 300)]);
        let table = table(vec![Column::nullable("id", ColumnType::BigInt), Column::nullable("v", ColumnType::Text)], vec![0]);
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
        // a key of another form cannot be placed while a chunk may still hold it
        assert_eq!(loaded.judge(&table, &[Cell::Text("3".into()), Cell::Null], &at(301)), Judged::Unplaceable);
        loaded.set(KeyRange { lo: int(20), hi: None }, ChunkState::Opening);
        assert_eq!(loaded.judge(&table, &row(25), &at(900)), Judged::Opening);
        loaded.set(KeyRange { lo: int(20), hi: None }, ChunkState::Reading(at(500)));
        assert_eq!(loaded.judge(&table, &row(25), &at(500)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &row(25), &at(501)), Judged::Streamed(Some(int(20))));
        assert!(!loaded.is_committed(&int(20)) && loaded.is_committed(&int(10)));
        assert_eq!((loaded.oldest(), loaded.newest()), (Some(&at(100)), Some(&at(300))));
        // once chunks cover every key and all are committed, every later change is streamed
        loaded.set(KeyRange { lo: int(20), hi: None }, ChunkState::Committed(at(500)));
        loaded.settle();
        assert_eq!(loaded.judge(&table, &row(25), &at(500)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &row(3), &at(100)), Judged::Loaded);
        assert_eq!(loaded.judge(&table, &[Cell::Text("3".into()), Cell::Null], &at(501)), Judged::Streamed(None));
        let mut gap = LoadedTable::chunked(ChunkKey::legacy(&table).unwrap(), vec![chunk(None, Some(10), 100), chunk(Some(20), None, 100)]);
        assert_eq!(gap.judge(&table, &row(15), &at(900)), Judged::Loaded, "a range not begun is read later");
        gap.set(KeyRange { lo: int(10), hi: int(20) }, ChunkState::Committed(at(300)));
        gap.settle();
        assert_eq!(gap.judge(&table, &row(15), &at(900)), Judged::Streamed(None));
        let whole = LoadedTable::whole(at(100));
        assert_eq!(whole.judge(&table, &row(99), &at(100)), Judged::Loaded);
        assert_eq!(whole.judge(&table, &row(99), &at(101)), Judged::Streamed(None));
    }

    #[test]
    fn text_and_composite_keys_find_their_chunk() {
        let key = ChunkKey { columns: vec![("k".into(), KeyKind::Utf8Bin { pad: true }), ("n".into(), KeyKind::Int)], unique: true };
        let bound = |t: &str, n| Some(Key(vec![text(t, true), KeyPart::Int(n)]));
        let range = |lo, hi| KeyRange { lo, hi };
        let mut loaded = LoadedTable::chunked(key, vec![]);
        loaded.set(range(None, bound("b", 5)), ChunkState::Committed(BinlogPos::new("b.000001", 100)));
        loaded.set(range(bound("b", 5), bound("m", 0)), ChunkState::Committed(BinlogPos::new("b.000001", 300)));
        let table = table(vec![Column::nullable("n", ColumnType::Int), Column::nullable("k", ColumnType::Text)], vec![1, 0]);
        let at = BinlogPos::new("b.000001", 200);
        let row = |n, k: &str| vec![Cell::Int(n), Cell::Text(k.into())];
        assert_eq!(loaded.judge(&table, &row(4, "b"), &at), Judged::Streamed(None), "(b, 4) is in the first chunk, as of 100");
        assert_eq!(loaded.judge(&table, &row(5, "b "), &at), Judged::Loaded, "(b , 5) = (b, 5) opens the second, as of 300");
        assert_eq!(loaded.judge(&table, &row(9, "B"), &at), Judged::Streamed(None), "B sorts before b");
        assert_eq!(loaded.judge(&table, &row(0, "m"), &at), Judged::Loaded, "not begun yet");
    }
}
