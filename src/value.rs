//! One typed cell model shared by the snapshot path (text protocol rows) and the binlog path
//! (decoded row events), so both produce identical Parquet values for the same source row.

use mysql_async::Value;

use crate::schema::{Column, ColumnType};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    Bool(bool),
    /// Exact decimal text as MySQL prints it (`-12.50`).
    Decimal(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00 (UTC for TIMESTAMP, wall clock for DATETIME).
    Micros(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// Converts one text-protocol value of the snapshot (session `time_zone = '+00:00'`,
/// connection charset utf8mb4) into a cell.
pub fn from_snapshot(column: &Column, value: Value) -> Result<Cell, String> {
    let bytes = match value {
        Value::NULL => return Ok(Cell::Null),
        Value::Bytes(b) => b,
        other => return Err(format!("unexpected non-text value {other:?}")),
    };
    let text = || {
        String::from_utf8(bytes.clone())
            .map_err(|_| format!("column {} returned invalid UTF-8", column.name))
    };
    let parse_err = |what: &str| format!("column {}: cannot parse {what}", column.name);
    Ok(match &column.ty {
        ColumnType::TinyInt
        | ColumnType::SmallInt
        | ColumnType::MediumInt
        | ColumnType::Int
        | ColumnType::BigInt
        | ColumnType::Year => {
            let t = text()?;
            if column.unsigned {
                Cell::UInt(t.parse().map_err(|_| parse_err(&t))?)
            } else {
                Cell::Int(t.parse().map_err(|_| parse_err(&t))?)
            }
        }
        ColumnType::Decimal { .. } => Cell::Decimal(text()?),
        ColumnType::Float => Cell::Float(text()?.parse().map_err(|_| parse_err("float"))?),
        ColumnType::Double => Cell::Double(text()?.parse().map_err(|_| parse_err("double"))?),
        ColumnType::Bit { bits } => bit_cell(*bits, bytes),
        ColumnType::Date => match parse_date(&text()?) {
            Some(days) => Cell::Date(days),
            None => Cell::Null, // zero date
        },
        ColumnType::DateTime | ColumnType::Timestamp => match parse_datetime(&text()?) {
            Some(us) => Cell::Micros(us),
            None => Cell::Null,
        },
        ColumnType::Time { .. } => Cell::Text(text()?),
        ColumnType::Text | ColumnType::Enum(_) | ColumnType::Set(_) | ColumnType::Json => {
            Cell::Text(text()?)
        }
        ColumnType::Binary => Cell::Bytes(bytes),
    })
}

fn bit_cell(bits: u16, bytes: Vec<u8>) -> Cell {
    if bits == 1 { Cell::Bool(bytes.iter().any(|b| *b != 0)) } else { Cell::Bytes(bytes) }
}

/// Text from the binlog arrives as raw bytes in the column's character set.
pub fn decode_text(charset: Option<&str>, bytes: &[u8]) -> String {
    match charset {
        Some("latin1") => bytes.iter().map(|&b| cp1252(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// MySQL's `latin1` is Windows-1252.
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
        '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}',
        '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
        '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
    ];
    if (0x80..0xA0).contains(&b) { HIGH[(b - 0x80) as usize] } else { b as char }
}

fn micros(days: i32, h: i64, mi: i64, s: i64, us: i64) -> i64 {
    ((days as i64 * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000 + us
}

/// Days since the epoch for a civil date; `None` for MySQL zero dates (month or day 0).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> Option<i32> {
    if m == 0 || d == 0 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe as u32 * 365 + yoe as u32 / 4 - yoe as u32 / 100 + doy;
    Some(era * 146_097 + doe as i32 - 719_468)
}

/// `YYYY-MM-DD` -> days since the epoch; `None` for zero dates.
pub fn parse_date(text: &str) -> Option<i32> {
    let mut it = text.splitn(3, '-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    days_from_civil(y, m, d)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` -> microseconds since the epoch; `None` for zero dates.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(' ').unwrap_or((text, "00:00:00"));
    let days = parse_date(date)?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut it = hms.splitn(3, ':');
    let h: i64 = it.next()?.parse().ok()?;
    let mi: i64 = it.next()?.parse().ok()?;
    let s: i64 = it.next()?.parse().ok()?;
    let us: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}")[..6].parse().ok()? };
    Some(micros(days, h, mi, s, us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(1969, 12, 31), Some(-1));
        assert_eq!(parse_date("0000-00-00"), None);
        assert_eq!(parse_datetime("1970-01-02 00:00:01.5"), Some(86_401_500_000));
    }

    #[test]
    fn latin1_text() {
        assert_eq!(decode_text(Some("latin1"), &[0x63, 0x61, 0x66, 0xE9, 0x80]), "café€");
        assert_eq!(decode_text(Some("utf8mb4"), "café".as_bytes()), "café");
    }
}
