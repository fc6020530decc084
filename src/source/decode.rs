//! Row images of binlog row events, decoded by binlake itself.
//!
//! mysql_common frames the events and parses TABLE_MAPs, DECIMAL and JSONB; the row values
//! are decoded here because the generic decoder guesses where binlake knows better: it
//! reads unsigned columns as signed without signedness metadata, mis-decodes (and panics on)
//! negative TIME(1)/TIME(2), reports YEAR 0 as 1900 and returns ENUM/SET as raw numbers. The
//! tracked schema supplies signedness, labels and character sets; the TABLE_MAP supplies
//! the physical layout, and the two must agree or the row is refused.

use mysql_common::binlog::decimal::Decimal;
use mysql_common::binlog::events::{OptionalMetaExtractor, OptionalMetadataField, TableMapEvent};
use mysql_common::constants::ColumnType as Wire;

use crate::schema::{Column, ColumnType, Storage, TableSchema};
use crate::source::json::{self, Json};
use crate::value::{self, Cell};

/// The value option of PARTIAL_UPDATE_ROWS after images that announces JSON diffs.
const PARTIAL_JSON_UPDATES: u64 = 1;

/// What a row image is read for.
#[derive(Clone, Copy)]
enum Image<'a> {
    Plain,
    /// The before image of a partial update: keep the JSON documents.
    KeepJson,
    /// The after image of a partial update, with the before image's JSON documents.
    PartialAfter(&'a [Option<Json>]),
}

/// The physical layout of one column as the TABLE_MAP describes it.
#[derive(Debug, Clone)]
pub struct WireColumn {
    ty: Wire,
    meta: [u8; 2],
}

/// Why a TABLE_MAP cannot be decoded with the tracked schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// The table is not what binlake's schema says (a schema change binlake did not see):
    /// it must be loaded anew.
    Drift(String),
    /// A column binlake cannot replicate at all.
    Unsupported(String),
}

/// Computes the wire layout of every column once per TABLE_MAP, and checks that the TABLE_MAP
/// describes the tracked schema: the column count, each column's type and what the TABLE_MAP
/// carries of it (DECIMAL precision and scale, string kind and length, BIT width, fractional
/// seconds, ENUM/SET sizes) and, where the server logs them (`binlog_row_metadata`), column
/// names, signedness, character sets and ENUM/SET labels.
pub fn wire_layout(schema: &TableSchema, tme: &TableMapEvent<'_>) -> Result<Vec<WireColumn>, Mismatch> {
    let n = tme.columns_count() as usize;
    if n != schema.columns.len() {
        return Err(Mismatch::Drift(format!(
            "the binlog row has {n} columns but binlake's schema of the table has {}",
            schema.columns.len()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for (i, column) in schema.columns.iter().enumerate() {
        let ty = tme
            .get_column_type(i)
            .map_err(|e| Mismatch::Drift(format!("column {}: {e}", column.name)))?
            .ok_or_else(|| Mismatch::Drift(format!("column {} missing from the TABLE_MAP", column.name)))?;
        let raw = tme.get_column_metadata(i).unwrap_or(&[]);
        let meta = [raw.first().copied().unwrap_or(0), raw.get(1).copied().unwrap_or(0)];
        if ty == Wire::MYSQL_TYPE_VECTOR {
            // MySQL 9 VECTOR (packed little-endian float32s) is refused, not passed on as
            // bytes: DMS has no mapping for it, the snapshot refuses the type too (so CDC and
            // LOAD files could not agree), and opaque bytes would silently look like a BLOB.
            return Err(Mismatch::Unsupported(format!(
                "column {} is a VECTOR column, which binlake does not support; exclude the table from replication",
                column.name
            )));
        }
        let wire = WireColumn { ty, meta };
        if !compatible(&column.ty, ty) || !same_shape(column, &wire) {
            return Err(Mismatch::Drift(format!(
                "column {} is {} in binlake's schema of the table but {} in the binlog",
                column.name,
                describe_column(column),
                describe_wire(&wire)
            )));
        }
        out.push(wire);
    }
    if let Ok(meta) = OptionalMetaExtractor::new(tme.iter_optional_meta()) {
        optional_metadata_matches(schema, tme, &meta).map_err(Mismatch::Drift)?;
    }
    Ok(out)
}

/// What the TABLE_MAP's metadata says of a column agrees with the tracked schema.
fn same_shape(column: &Column, wire: &WireColumn) -> bool {
    use ColumnType as C;
    let m = wire.meta;
    match &column.ty {
        C::Decimal { precision, scale } => m == [*precision, *scale],
        C::Bit { bits } => m[1] as u16 * 8 + m[0] as u16 == *bits,
        C::Time { fsp } | C::DateTime { fsp } | C::Timestamp { fsp } => match wire.ty {
            Wire::MYSQL_TYPE_TIME2 | Wire::MYSQL_TYPE_DATETIME2 | Wire::MYSQL_TYPE_TIMESTAMP2 => m[0] == *fsp,
            _ => *fsp == 0,
        },
        C::Enum(labels) => m[1] as usize == if labels.len() < 256 { 1 } else { 2 },
        C::Set(labels) => m[1] as usize == [1, 2, 3, 4, 8][labels.len().div_ceil(8).clamp(1, 5) - 1],
        C::Text | C::Binary => match column.storage {
            None => true,
            Some(expected) => wire_storage(wire) == Some(expected),
        },
        _ => true,
    }
}

/// The string storage a TABLE_MAP column describes.
fn wire_storage(wire: &WireColumn) -> Option<Storage> {
    match wire.ty {
        Wire::MYSQL_TYPE_STRING => Some(Storage::Fixed(string_length(wire.meta) as u32)),
        Wire::MYSQL_TYPE_VARCHAR | Wire::MYSQL_TYPE_VAR_STRING => Some(Storage::Variable(u16::from_le_bytes(wire.meta) as u32)),
        Wire::MYSQL_TYPE_BLOB | Wire::MYSQL_TYPE_TINY_BLOB | Wire::MYSQL_TYPE_MEDIUM_BLOB | Wire::MYSQL_TYPE_LONG_BLOB => {
            Some(Storage::Blob(wire.meta[0]))
        }
        _ => None,
    }
}

fn describe_column(column: &Column) -> String {
    use ColumnType as C;
    let sign = if column.unsigned { " UNSIGNED" } else { "" };
    match (&column.ty, column.storage) {
        (C::Decimal { precision, scale }, _) => format!("DECIMAL({precision},{scale}){sign}"),
        (C::Bit { bits }, _) => format!("BIT({bits})"),
        (C::Time { fsp }, _) => format!("TIME({fsp})"),
        (C::DateTime { fsp }, _) => format!("DATETIME({fsp})"),
        (C::Timestamp { fsp }, _) => format!("TIMESTAMP({fsp})"),
        (C::Enum(labels), _) => format!("ENUM of {} labels", labels.len()),
        (C::Set(labels), _) => format!("SET of {} labels", labels.len()),
        (C::Text | C::Binary, Some(storage)) => storage.to_string(),
        (ty, _) => format!("{ty:?}{sign}"),
    }
}

fn describe_wire(wire: &WireColumn) -> String {
    let m = wire.meta;
    match wire.ty {
        Wire::MYSQL_TYPE_NEWDECIMAL => format!("DECIMAL({},{})", m[0], m[1]),
        Wire::MYSQL_TYPE_BIT => format!("BIT({})", m[1] as u16 * 8 + m[0] as u16),
        Wire::MYSQL_TYPE_TIME2 => format!("TIME({})", m[0]),
        Wire::MYSQL_TYPE_DATETIME2 => format!("DATETIME({})", m[0]),
        Wire::MYSQL_TYPE_TIMESTAMP2 => format!("TIMESTAMP({})", m[0]),
        Wire::MYSQL_TYPE_ENUM => format!("ENUM of {}-byte values", m[1]),
        Wire::MYSQL_TYPE_SET => format!("SET of {}-byte values", m[1]),
        ty => match wire_storage(wire) {
            Some(storage) => storage.to_string(),
            None => format!("{ty:?}"),
        },
    }
}

/// The optional metadata of `binlog_row_metadata=MINIMAL|FULL` against the tracked schema:
/// signedness of numeric columns, character sets of string columns, and with FULL the column
/// names and ENUM/SET labels.
fn optional_metadata_matches(schema: &TableSchema, tme: &TableMapEvent<'_>, meta: &OptionalMetaExtractor<'_>) -> Result<(), String> {
    use ColumnType as C;
    let names: Vec<String> = meta.iter_column_name().filter_map(Result::ok).map(|n| n.name().into_owned()).collect();
    if let Some((logged, tracked)) = names.iter().zip(&schema.columns).find(|(logged, tracked)| !logged.eq_ignore_ascii_case(&tracked.name))
    {
        return Err(format!("the binlog names a column {logged} where binlake's schema of the table has {}", tracked.name));
    }
    let numeric = schema.columns.iter().filter(|c| {
        matches!(c.ty, C::TinyInt | C::Boolean | C::SmallInt | C::MediumInt | C::Int | C::BigInt | C::Decimal { .. } | C::Float | C::Double)
    });
    if let Some((c, _)) = numeric.zip(meta.iter_signedness()).find(|(c, unsigned)| c.unsigned != *unsigned) {
        let (was, is) = if c.unsigned { ("UNSIGNED", "signed") } else { ("signed", "UNSIGNED") };
        return Err(format!("column {} is {was} in binlake's schema of the table but {is} in the binlog", c.name));
    }
    // Character columns in the server's sense: CHAR, VARCHAR and TEXT with a character set
    // (binary strings included, as `binary`). MariaDB's UUID and INET types are strings on
    // the wire too; with them the columns cannot be paired.
    let text = schema.columns.iter().filter(|c| matches!(c.ty, C::Text | C::Binary));
    let pairable = !schema.columns.iter().any(|c| matches!(c.ty, C::Uuid | C::Inet4 | C::Inet6));
    for (c, id) in text.zip(meta.iter_charset()).filter(|_| pairable) {
        let Ok(id) = id else { break };
        let logged = mysql_common::collations::Collation::resolve(id.into()).charset().to_string();
        let tracked = c.charset.as_deref().unwrap_or("binary");
        let same = logged.is_empty() || crate::source::ddl::normalize_charset(&logged) == crate::source::ddl::normalize_charset(tracked);
        if !same {
            return Err(format!(
                "column {} is in character set {tracked} in binlake's schema of the table but {logged} in the binlog",
                c.name
            ));
        }
    }
    let labels = |want_enum: bool| {
        schema.columns.iter().filter_map(move |c| match (&c.ty, want_enum) {
            (C::Enum(l), true) | (C::Set(l), false) => Some((c, l)),
            _ => None,
        })
    };
    for field in tme.iter_optional_meta().flatten() {
        let (is_enum, logged): (bool, Vec<Vec<String>>) = match field {
            OptionalMetadataField::EnumStrValue(v) => (
                true,
                v.iter_values().filter_map(Result::ok).map(|l| l.values().iter().map(|x| x.value().into_owned()).collect()).collect(),
            ),
            OptionalMetadataField::SetStrValue(v) => (
                false,
                v.iter_values().filter_map(Result::ok).map(|l| l.values().iter().map(|x| x.value().into_owned()).collect()).collect(),
            ),
            _ => continue,
        };
        if let Some(((c, tracked), logged)) = labels(is_enum).zip(&logged).find(|((_, tracked), logged)| tracked != logged) {
            return Err(format!("column {} has labels {tracked:?} in binlake's schema of the table but {logged:?} in the binlog", c.name));
        }
    }
    Ok(())
}

fn compatible(ty: &ColumnType, wire: Wire) -> bool {
    use ColumnType as C;
    match ty {
        C::TinyInt | C::Boolean => wire == Wire::MYSQL_TYPE_TINY,
        C::SmallInt => wire == Wire::MYSQL_TYPE_SHORT,
        C::MediumInt => wire == Wire::MYSQL_TYPE_INT24,
        C::Int => wire == Wire::MYSQL_TYPE_LONG,
        C::BigInt => wire == Wire::MYSQL_TYPE_LONGLONG,
        C::Decimal { .. } => wire == Wire::MYSQL_TYPE_NEWDECIMAL,
        C::Float => wire == Wire::MYSQL_TYPE_FLOAT,
        C::Double => wire == Wire::MYSQL_TYPE_DOUBLE,
        C::Bit { .. } => wire == Wire::MYSQL_TYPE_BIT,
        C::Date => matches!(wire, Wire::MYSQL_TYPE_DATE | Wire::MYSQL_TYPE_NEWDATE),
        C::Time { .. } => matches!(wire, Wire::MYSQL_TYPE_TIME | Wire::MYSQL_TYPE_TIME2),
        C::DateTime { .. } => matches!(wire, Wire::MYSQL_TYPE_DATETIME | Wire::MYSQL_TYPE_DATETIME2),
        C::Timestamp { .. } => matches!(wire, Wire::MYSQL_TYPE_TIMESTAMP | Wire::MYSQL_TYPE_TIMESTAMP2),
        C::Year => wire == Wire::MYSQL_TYPE_YEAR,
        C::Enum(_) => wire == Wire::MYSQL_TYPE_ENUM,
        C::Set(_) => wire == Wire::MYSQL_TYPE_SET,
        C::Json => matches!(wire, Wire::MYSQL_TYPE_JSON | Wire::MYSQL_TYPE_BLOB),
        C::Uuid | C::Inet4 | C::Inet6 => wire == Wire::MYSQL_TYPE_STRING,
        C::Text | C::Binary | C::Geometry => matches!(
            wire,
            Wire::MYSQL_TYPE_STRING
                | Wire::MYSQL_TYPE_VARCHAR
                | Wire::MYSQL_TYPE_VAR_STRING
                | Wire::MYSQL_TYPE_BLOB
                | Wire::MYSQL_TYPE_TINY_BLOB
                | Wire::MYSQL_TYPE_MEDIUM_BLOB
                | Wire::MYSQL_TYPE_LONG_BLOB
                | Wire::MYSQL_TYPE_GEOMETRY
        ),
    }
}

/// A cursor over the rows data of one rows event.
#[derive(Clone)]
pub struct RowReader<'a> {
    buf: &'a [u8],
}

impl<'a> RowReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!("row image truncated: need {n} bytes, {} left", self.buf.len()));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn uint_le(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn uint_be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    /// Reads one row image. `present` says which columns the image holds (from the event's
    /// column bitmap); binlake needs all of them (`binlog_row_image=FULL`).
    pub fn read_row(&mut self, schema: &TableSchema, wire: &[WireColumn], present: &[bool]) -> Result<Vec<Cell>, String> {
        Ok(self.read_image(schema, wire, present, Image::Plain)?.0)
    }

    /// Reads the before image of a PARTIAL_UPDATE_ROWS row, keeping its MySQL JSON values
    /// as documents for the after image's diffs to apply to.
    pub fn read_partial_before(
        &mut self,
        schema: &TableSchema,
        wire: &[WireColumn],
        present: &[bool],
    ) -> Result<(Vec<Cell>, Vec<Option<Json>>), String> {
        self.read_image(schema, wire, present, Image::KeepJson)
    }

    /// Reads the after image of a PARTIAL_UPDATE_ROWS row. It starts with the row's value
    /// options and, with PARTIAL_JSON, one bit per JSON column of the table: a set bit means
    /// the column holds diffs against the before value (`before_json`, from
    /// [`RowReader::read_partial_before`]) rather than a whole value.
    pub fn read_partial_after(
        &mut self,
        schema: &TableSchema,
        wire: &[WireColumn],
        present: &[bool],
        before_json: &[Option<Json>],
    ) -> Result<Vec<Cell>, String> {
        Ok(self.read_image(schema, wire, present, Image::PartialAfter(before_json))?.0)
    }

    /// Reads one row image for its primary key only, in key order: the other columns are
    /// skipped, not decoded (an update's before image matters only when its key changed).
    pub fn read_key(&mut self, schema: &TableSchema, wire: &[WireColumn], present: &[bool]) -> Result<Vec<Cell>, String> {
        require_full_image(schema, present)?;
        #[cfg(debug_assertions)]
        let whole = {
            let mut r = self.clone();
            r.read_row(schema, wire, present)?;
            r.buf.len()
        };
        let nulls = self.take(present.len().div_ceil(8))?;
        let mut key = vec![Cell::Null; schema.primary_key.len()];
        for (i, (column, w)) in schema.columns.iter().zip(wire).enumerate() {
            if nulls[i / 8] & (1 << (i % 8)) != 0 {
                continue;
            }
            match schema.primary_key.iter().position(|&k| k == i) {
                Some(slot) => key[slot] = self.read_value(column, w).map_err(|e| format!("column {}: {e}", column.name))?,
                None => self.skip_value(w).map_err(|e| format!("column {}: {e}", column.name))?,
            }
        }
        #[cfg(debug_assertions)]
        assert_eq!(self.buf.len(), whole, "skipping a row image of {} must consume what decoding it does", schema.id);
        Ok(key)
    }

    fn read_image(
        &mut self,
        schema: &TableSchema,
        wire: &[WireColumn],
        present: &[bool],
        image: Image<'_>,
    ) -> Result<(Vec<Cell>, Vec<Option<Json>>), String> {
        require_full_image(schema, present)?;
        // PARTIAL_JSON: one bit per JSON column of the table, in column order.
        let mut partial_bits: Option<&[u8]> = None;
        if let Image::PartialAfter(_) = image {
            let options = self.packed_int()?;
            if options & PARTIAL_JSON_UPDATES != 0 {
                let json_columns = wire.iter().filter(|w| w.ty == Wire::MYSQL_TYPE_JSON).count();
                partial_bits = Some(self.take(json_columns.div_ceil(8))?);
            }
        }
        let nulls = self.take(present.len().div_ceil(8))?;
        let mut row = Vec::with_capacity(wire.len());
        let mut docs = Vec::new();
        let mut json_index = 0;
        for (i, (column, w)) in schema.columns.iter().zip(wire).enumerate() {
            let mut partial = false;
            if w.ty == Wire::MYSQL_TYPE_JSON {
                partial = partial_bits.is_some_and(|bits| bits[json_index / 8] & (1 << (json_index % 8)) != 0);
                json_index += 1;
            }
            let null = nulls[i / 8] & (1 << (i % 8)) != 0;
            let in_column = |e: String| format!("column {}: {e}", column.name);
            let mut doc = None;
            let cell = if null {
                Cell::Null
            } else if w.ty == Wire::MYSQL_TYPE_JSON {
                let raw = self.prefixed(w)?;
                let json = if partial {
                    let Image::PartialAfter(before) = image else { unreachable!("partial bits only in partial after images") };
                    let mut json = before
                        .get(i)
                        .cloned()
                        .flatten()
                        .ok_or_else(|| in_column("a partial JSON update of a value that was NULL".into()))?;
                    let diffs = json::parse_diffs(raw).map_err(in_column)?;
                    json::apply_diffs(&mut json, &diffs).map_err(in_column)?;
                    json
                } else {
                    Json::parse(raw).map_err(in_column)?
                };
                let cell = Cell::Text(json.to_mysql_text());
                doc = Some(json);
                cell
            } else {
                self.read_value(column, w).map_err(in_column)?
            };
            row.push(cell);
            if let Image::KeepJson = image {
                docs.push(doc);
            }
        }
        Ok((row, docs))
    }

    /// A packed (length-encoded) integer.
    fn packed_int(&mut self) -> Result<u64, String> {
        Ok(match self.uint_le(1)? {
            0xFC => self.uint_le(2)?,
            0xFD => self.uint_le(3)?,
            0xFE => self.uint_le(8)?,
            0xFB | 0xFF => return Err("bad packed integer in the row image".into()),
            v => v,
        })
    }

    /// Steps over one non-NULL value.
    fn skip_value(&mut self, w: &WireColumn) -> Result<(), String> {
        let fraction = |fsp: u8| (fsp as usize).div_ceil(2);
        let n = match w.ty {
            Wire::MYSQL_TYPE_TINY | Wire::MYSQL_TYPE_YEAR => 1,
            Wire::MYSQL_TYPE_SHORT => 2,
            Wire::MYSQL_TYPE_INT24 | Wire::MYSQL_TYPE_DATE | Wire::MYSQL_TYPE_NEWDATE | Wire::MYSQL_TYPE_TIME => 3,
            Wire::MYSQL_TYPE_LONG | Wire::MYSQL_TYPE_FLOAT | Wire::MYSQL_TYPE_TIMESTAMP => 4,
            Wire::MYSQL_TYPE_LONGLONG | Wire::MYSQL_TYPE_DOUBLE | Wire::MYSQL_TYPE_DATETIME => 8,
            Wire::MYSQL_TYPE_NEWDECIMAL => decimal_size(w.meta[0] as usize, w.meta[1] as usize),
            Wire::MYSQL_TYPE_DATETIME2 => 5 + fraction(w.meta[0]),
            Wire::MYSQL_TYPE_TIMESTAMP2 => 4 + fraction(w.meta[0]),
            Wire::MYSQL_TYPE_TIME2 => 3 + fraction(w.meta[0]),
            Wire::MYSQL_TYPE_BIT => (w.meta[1] as usize * 8 + w.meta[0] as usize).div_ceil(8),
            Wire::MYSQL_TYPE_ENUM | Wire::MYSQL_TYPE_SET => w.meta[1].max(1) as usize,
            _ => return self.prefixed(w).map(|_| ()),
        };
        self.take(n).map(|_| ())
    }

    /// The bytes of a length-prefixed value: strings, BLOBs, GEOMETRY and JSON.
    fn prefixed(&mut self, w: &WireColumn) -> Result<&'a [u8], String> {
        let prefix = match w.ty {
            Wire::MYSQL_TYPE_STRING if string_length(w.meta) > 255 => 2,
            Wire::MYSQL_TYPE_VARCHAR | Wire::MYSQL_TYPE_VAR_STRING if u16::from_le_bytes(w.meta) > 255 => 2,
            Wire::MYSQL_TYPE_STRING | Wire::MYSQL_TYPE_VARCHAR | Wire::MYSQL_TYPE_VAR_STRING => 1,
            Wire::MYSQL_TYPE_BLOB
            | Wire::MYSQL_TYPE_TINY_BLOB
            | Wire::MYSQL_TYPE_MEDIUM_BLOB
            | Wire::MYSQL_TYPE_LONG_BLOB
            | Wire::MYSQL_TYPE_GEOMETRY
            | Wire::MYSQL_TYPE_JSON => w.meta[0].clamp(1, 4) as usize,
            other => return Err(format!("unsupported binlog column type {other:?}")),
        };
        let n = self.uint_le(prefix)? as usize;
        self.take(n)
    }

    fn read_value(&mut self, column: &Column, w: &WireColumn) -> Result<Cell, String> {
        let int = |v: u64, bytes: u32, unsigned: bool| -> Cell {
            if unsigned {
                Cell::UInt(v)
            } else {
                let shift = 64 - bytes * 8;
                Cell::Int(((v << shift) as i64) >> shift)
            }
        };
        Ok(match w.ty {
            Wire::MYSQL_TYPE_TINY if column.ty == ColumnType::Boolean => value::boolean(column, self.uint_le(1)? as u8 as i8 as i64)?,
            Wire::MYSQL_TYPE_TINY => int(self.uint_le(1)?, 1, column.unsigned),
            Wire::MYSQL_TYPE_SHORT => int(self.uint_le(2)?, 2, column.unsigned),
            Wire::MYSQL_TYPE_INT24 => int(self.uint_le(3)?, 3, column.unsigned),
            Wire::MYSQL_TYPE_LONG => int(self.uint_le(4)?, 4, column.unsigned),
            Wire::MYSQL_TYPE_LONGLONG => int(self.uint_le(8)?, 8, column.unsigned),
            Wire::MYSQL_TYPE_FLOAT => Cell::Float(f32::from_bits(self.uint_le(4)? as u32)),
            Wire::MYSQL_TYPE_DOUBLE => Cell::Double(f64::from_bits(self.uint_le(8)?)),
            Wire::MYSQL_TYPE_NEWDECIMAL => {
                let (precision, scale) = (w.meta[0] as usize, w.meta[1] as usize);
                let dec = Decimal::read_bin(&mut self.buf, precision, scale, false).map_err(|e| e.to_string())?;
                Cell::Decimal(dec.to_string())
            }
            Wire::MYSQL_TYPE_YEAR => match self.uint_le(1)? {
                0 => Cell::Int(0),
                y => Cell::Int(1900 + y as i64),
            },
            Wire::MYSQL_TYPE_DATE | Wire::MYSQL_TYPE_NEWDATE => {
                let v = self.uint_le(3)? as u32;
                date_cell(value::days_from_civil((v >> 9) as i32, (v >> 5) & 15, v & 31))
            }
            Wire::MYSQL_TYPE_DATETIME2 => {
                let int_part = self.uint_be(5)? as i64 - 0x80_0000_0000;
                let frac = self.fraction(w.meta[0])?;
                let ymd = int_part >> 17;
                let (ym, d) = (ymd >> 5, (ymd & 31) as u32);
                let (y, m) = ((ym / 13) as i32, (ym % 13) as u32);
                let hms = int_part & 0x1_FFFF;
                match value::days_from_civil(y, m, d) {
                    Some(days) => Cell::Micros(value::micros(days, hms >> 12, (hms >> 6) & 63, hms & 63, frac)),
                    None => Cell::Null, // zero date
                }
            }
            Wire::MYSQL_TYPE_DATETIME => {
                // Pre-5.6 format: YYYYMMDDhhmmss as an integer.
                let v = self.uint_le(8)? as i64;
                let (date, time) = (v / 1_000_000, v % 1_000_000);
                match value::days_from_civil((date / 10_000) as i32, ((date / 100) % 100) as u32, (date % 100) as u32) {
                    Some(days) => Cell::Micros(value::micros(days, time / 10_000, (time / 100) % 100, time % 100, 0)),
                    None => Cell::Null,
                }
            }
            Wire::MYSQL_TYPE_TIMESTAMP2 => {
                let sec = self.uint_be(4)? as i64;
                let frac = self.fraction(w.meta[0])?;
                if sec == 0 && frac == 0 { Cell::Null } else { Cell::Micros(sec * 1_000_000 + frac) }
            }
            Wire::MYSQL_TYPE_TIMESTAMP => match self.uint_le(4)? as i64 {
                0 => Cell::Null,
                sec => Cell::Micros(sec * 1_000_000),
            },
            Wire::MYSQL_TYPE_TIME2 => Cell::Text(self.time2(w.meta[0], column)?),
            Wire::MYSQL_TYPE_TIME => {
                // Pre-5.6 format: a signed HHMMSS integer.
                let v = self.uint_le(3)? as i64;
                let v = (v << 40) >> 40;
                let (neg, v) = (v < 0, v.abs());
                Cell::Text(value::format_time(neg, (v / 10_000) as u64, ((v / 100) % 100) as u64, (v % 100) as u64, 0, 0))
            }
            Wire::MYSQL_TYPE_BIT => {
                let bits = w.meta[1] as usize * 8 + w.meta[0] as usize;
                let bytes = self.take(bits.div_ceil(8))?;
                if matches!(column.ty, ColumnType::Bit { bits: 1 }) {
                    Cell::Bool(bytes.iter().any(|b| *b != 0))
                } else {
                    Cell::Bytes(bytes.to_vec())
                }
            }
            Wire::MYSQL_TYPE_ENUM => {
                let index = self.uint_le(w.meta[1].max(1) as usize)? as usize;
                let ColumnType::Enum(labels) = &column.ty else { return Err("ENUM value for a non-ENUM column".into()) };
                match index {
                    0 => Cell::Text(String::new()), // MySQL's invalid-value marker
                    i => {
                        Cell::Text(labels.get(i - 1).cloned().ok_or_else(|| format!("ENUM index {i} beyond its {} labels", labels.len()))?)
                    }
                }
            }
            Wire::MYSQL_TYPE_SET => {
                let mask = self.uint_le(w.meta[1].max(1) as usize)?;
                let ColumnType::Set(labels) = &column.ty else { return Err("SET value for a non-SET column".into()) };
                let chosen: Vec<&str> = labels.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, l)| l.as_str()).collect();
                Cell::Text(chosen.join(","))
            }
            Wire::MYSQL_TYPE_STRING => {
                let length = string_length(w.meta);
                let bytes = self.prefixed(w)?;
                match column.ty {
                    // The binlog strips trailing zero bytes of fixed-size binary values.
                    ColumnType::Binary | ColumnType::Uuid | ColumnType::Inet4 | ColumnType::Inet6 if bytes.len() < length => {
                        let mut padded = bytes.to_vec();
                        padded.resize(length, 0);
                        bytes_cell(column, &padded)?
                    }
                    _ => bytes_cell(column, bytes)?,
                }
            }
            Wire::MYSQL_TYPE_VARCHAR | Wire::MYSQL_TYPE_VAR_STRING => bytes_cell(column, self.prefixed(w)?)?,
            Wire::MYSQL_TYPE_BLOB
            | Wire::MYSQL_TYPE_TINY_BLOB
            | Wire::MYSQL_TYPE_MEDIUM_BLOB
            | Wire::MYSQL_TYPE_LONG_BLOB
            | Wire::MYSQL_TYPE_GEOMETRY => bytes_cell(column, self.prefixed(w)?)?,
            Wire::MYSQL_TYPE_JSON => Cell::Text(Json::parse(self.prefixed(w)?)?.to_mysql_text()),
            other => return Err(format!("unsupported binlog column type {other:?}")),
        })
    }

    /// Fractional seconds of DATETIME2/TIMESTAMP2, in microseconds.
    fn fraction(&mut self, fsp: u8) -> Result<i64, String> {
        Ok(match fsp {
            1 | 2 => self.uint_be(1)? as i64 * 10_000,
            3 | 4 => self.uint_be(2)? as i64 * 100,
            5 | 6 => self.uint_be(3)? as i64,
            _ => 0,
        })
    }

    /// TIME2: a signed packed value. Negative values with one to four fractional digits
    /// store the fraction as a borrow from the integer part.
    fn time2(&mut self, fsp: u8, column: &Column) -> Result<String, String> {
        let packed: i64 = match fsp {
            1 | 2 => {
                let mut int_part = self.uint_be(3)? as i64 - 0x80_0000;
                let mut frac = self.uint_be(1)? as i64;
                if int_part < 0 && frac > 0 {
                    int_part += 1;
                    frac -= 0x100;
                }
                (int_part << 24) + frac * 10_000
            }
            3 | 4 => {
                let mut int_part = self.uint_be(3)? as i64 - 0x80_0000;
                let mut frac = self.uint_be(2)? as i64;
                if int_part < 0 && frac > 0 {
                    int_part += 1;
                    frac -= 0x1_0000;
                }
                (int_part << 24) + frac * 100
            }
            5 | 6 => self.uint_be(6)? as i64 - 0x8000_0000_0000,
            _ => (self.uint_be(3)? as i64 - 0x80_0000) << 24,
        };
        let (neg, packed) = (packed < 0, packed.abs());
        let hms = packed >> 24;
        let fsp_out = match column.ty {
            ColumnType::Time { fsp } => fsp,
            _ => fsp,
        };
        Ok(value::format_time(
            neg,
            ((hms >> 12) & 0x3FF) as u64,
            ((hms >> 6) & 63) as u64,
            (hms & 63) as u64,
            (packed & 0xFF_FFFF) as u64,
            fsp_out,
        ))
    }
}

/// The declared length of a CHAR/BINARY column; its metadata is [real type | length's high
/// bits, length's low byte].
fn string_length(meta: [u8; 2]) -> usize {
    (((((meta[0] as u32) & 0x30) ^ 0x30) << 4) | meta[1] as u32) as usize
}

fn require_full_image(schema: &TableSchema, present: &[bool]) -> Result<(), String> {
    match present.iter().position(|p| !p) {
        Some(missing) => Err(format!(
            "column {} is missing from the row image; binlake needs binlog_row_image=FULL (SET GLOBAL binlog_row_image='FULL')",
            schema.columns.get(missing).map_or("?", |c| c.name.as_str())
        )),
        None => Ok(()),
    }
}

/// Bytes of a binary DECIMAL: 4 per 9 digits on each side of the point, fewer for the rest.
fn decimal_size(precision: usize, scale: usize) -> usize {
    const REST: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    let int_digits = precision.saturating_sub(scale);
    int_digits / 9 * 4 + REST[int_digits % 9] + scale / 9 * 4 + REST[scale % 9]
}

fn date_cell(days: Option<i32>) -> Cell {
    days.map_or(Cell::Null, Cell::Date)
}

fn bytes_cell(column: &Column, bytes: &[u8]) -> Result<Cell, String> {
    Ok(match column.ty {
        ColumnType::Binary => Cell::Bytes(bytes.to_vec()),
        ColumnType::Geometry => value::geometry_cell(bytes)?,
        ColumnType::Uuid | ColumnType::Inet4 | ColumnType::Inet6 => Cell::Text(value::mariadb_fixed_text(&column.ty, bytes)?),
        _ => Cell::Text(value::decode_text(column.charset.as_deref(), bytes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: ColumnType) -> Column {
        Column { name: "t".into(), ty, unsigned: false, nullable: true, charset: None, default: None, large: false, storage: None }
    }

    #[test]
    fn binary_decimal_sizes() {
        // 4 bytes per 9 digits, then 1, 1, 2, 2, 3, 3, 4, 4, 4 bytes for 1..9 more, per side.
        assert_eq!(decimal_size(12, 2), 5 + 1);
        assert_eq!(decimal_size(10, 0), 4 + 1);
        assert_eq!(decimal_size(18, 9), 4 + 4);
        assert_eq!(decimal_size(65, 30), 3 * 4 + 4 + 3 * 4 + 2);
    }

    #[test]
    fn negative_time_with_two_fraction_digits() {
        // '-12:34:56.78' as TIME(2): the server stores int part -(12:34:56)-1... see time2().
        let hms: i64 = (12 << 12) | (34 << 6) | 56;
        let packed = -((hms << 24) + 780_000);
        // Encode like the server: int part = floor(nr / 2^24), fraction = C remainder / 10^4.
        let int_part = (packed >> 24) + 0x80_0000;
        let frac = ((packed % (1 << 24)) / 10_000) as i8 as u8;
        let mut bytes = (int_part as u32).to_be_bytes()[1..].to_vec();
        bytes.push(frac);
        let c = col(ColumnType::Time { fsp: 2 });
        let mut r = RowReader::new(&bytes);
        assert_eq!(r.time2(2, &c).unwrap(), "-12:34:56.78");
        assert!(r.is_empty());
    }

    #[test]
    fn signed_and_unsigned_ints() {
        let mut r = RowReader::new(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        let mut c = col(ColumnType::BigInt);
        c.unsigned = true;
        let w = WireColumn { ty: Wire::MYSQL_TYPE_LONGLONG, meta: [0, 0] };
        assert_eq!(r.read_value(&c, &w).unwrap(), Cell::UInt(u64::MAX));
        let mut r = RowReader::new(&[0xFE, 0xFF, 0xFF]);
        let c = col(ColumnType::MediumInt);
        let w = WireColumn { ty: Wire::MYSQL_TYPE_INT24, meta: [0, 0] };
        assert_eq!(r.read_value(&c, &w).unwrap(), Cell::Int(-2));
    }

    #[test]
    fn empty_json_is_null() {
        let c = col(ColumnType::Json);
        let w = WireColumn { ty: Wire::MYSQL_TYPE_JSON, meta: [4, 0] };
        assert_eq!(RowReader::new(&[0, 0, 0, 0]).read_value(&c, &w).unwrap(), Cell::Text("null".into()));
    }

    #[test]
    fn year_zero_is_zero() {
        let c = col(ColumnType::Year);
        let w = WireColumn { ty: Wire::MYSQL_TYPE_YEAR, meta: [0, 0] };
        assert_eq!(RowReader::new(&[0]).read_value(&c, &w).unwrap(), Cell::Int(0));
        assert_eq!(RowReader::new(&[124]).read_value(&c, &w).unwrap(), Cell::Int(2024));
    }

    #[test]
    fn bit_one_is_a_bool_wider_bits_are_bytes() {
        let w = WireColumn { ty: Wire::MYSQL_TYPE_BIT, meta: [1, 0] };
        assert_eq!(RowReader::new(&[1]).read_value(&col(ColumnType::Bit { bits: 1 }), &w).unwrap(), Cell::Bool(true));
        let w = WireColumn { ty: Wire::MYSQL_TYPE_BIT, meta: [2, 1] };
        assert_eq!(RowReader::new(&[0x01, 0x02]).read_value(&col(ColumnType::Bit { bits: 10 }), &w).unwrap(), Cell::Bytes(vec![1, 2]));
    }

    /// `{"age": 25, "name": "Joe"}` in MySQL's binary JSON (a small object).
    const JOE: &[u8] = &[
        0x00, 0x02, 0x00, 0x1D, 0x00, 0x12, 0x00, 0x03, 0x00, 0x15, 0x00, 0x04, 0x00, 0x05, 0x19, 0x00, 0x0C, 0x19, 0x00, b'a', b'g', b'e',
        b'n', b'a', b'm', b'e', 0x03, b'J', b'o', b'e',
    ];

    fn partial_update(diff_path: &str, partial: bool) -> Result<(Vec<Cell>, Vec<Cell>), String> {
        let schema = TableSchema::new(
            crate::schema::TableId::new("db", "t"),
            vec![Column { name: "id".into(), ..col(ColumnType::Int) }, Column { name: "j".into(), ..col(ColumnType::Json) }],
            vec![],
            None,
        );
        let wire = [WireColumn { ty: Wire::MYSQL_TYPE_LONG, meta: [0, 0] }, WireColumn { ty: Wire::MYSQL_TYPE_JSON, meta: [4, 0] }];
        // Before image: null bitmap, id 1, the whole document.
        let mut data = vec![0x00, 1, 0, 0, 0];
        data.extend((JOE.len() as u32).to_le_bytes());
        data.extend(JOE);
        // After image: value options PARTIAL_JSON, partial bits, null bitmap, id 1, then the
        // column's diffs (REPLACE <path> with 26) or a whole value.
        data.extend([0x01, partial as u8, 0x00, 1, 0, 0, 0]);
        let value: Vec<u8> = if partial {
            let mut diff = vec![0, diff_path.len() as u8];
            diff.extend(diff_path.as_bytes());
            diff.extend([3, 0x05, 26, 0]);
            diff
        } else {
            vec![0x05, 26, 0]
        };
        data.extend((value.len() as u32).to_le_bytes());
        data.extend(value);
        let mut reader = RowReader::new(&data);
        let (before, docs) = reader.read_partial_before(&schema, &wire, &[true, true])?;
        let after = reader.read_partial_after(&schema, &wire, &[true, true], &docs)?;
        assert!(reader.is_empty());
        Ok((before, after))
    }

    #[test]
    fn partial_json_updates_are_applied() {
        let (before, after) = partial_update("$.age", true).unwrap();
        assert_eq!(before, [Cell::Int(1), Cell::Text(r#"{"age": 25, "name": "Joe"}"#.into())]);
        assert_eq!(after, [Cell::Int(1), Cell::Text(r#"{"age": 26, "name": "Joe"}"#.into())]);
        // A JSON column not flagged partial holds its whole new value.
        let (_, after) = partial_update("", false).unwrap();
        assert_eq!(after, [Cell::Int(1), Cell::Text("26".into())]);
        // A diff that does not fit the before image is an error naming the column.
        let err = partial_update("$.height", true).unwrap_err();
        assert!(err.contains("column j") && err.contains("$.height"), "{err}");
    }
}
