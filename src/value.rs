//! One typed cell model shared by the snapshot path (text protocol rows) and the binlog path
//! (decoded row events), so both produce identical Parquet values for the same source row.

use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;

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

/// Converts one decoded binlog value into a cell, using the tracked schema for what the
/// binlog leaves out (signedness, ENUM/SET labels, character sets).
pub fn from_binlog(column: &Column, value: BinlogValue<'_>) -> Result<Cell, String> {
    let value = match value {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            let json = serde_json::Value::try_from(j)
                .map_err(|e| format!("column {}: bad JSON: {e}", column.name))?;
            return Ok(Cell::Text(json.to_string()));
        }
        BinlogValue::JsonDiff(_) => {
            return Err(format!(
                "column {}: partial JSON update (binlog_row_value_options=PARTIAL_JSON) is not supported; set binlog_row_value_options='' on the server",
                column.name
            ));
        }
    };
    let unexpected = |v: &Value| format!("column {}: unexpected binlog value {v:?}", column.name);
    Ok(match (&column.ty, value) {
        (_, Value::NULL) => Cell::Null,
        (
            ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::MediumInt | ColumnType::Int | ColumnType::BigInt,
            Value::Int(i),
        ) => {
            if column.unsigned {
                Cell::UInt(unsigned_from_signed(&column.ty, i))
            } else {
                Cell::Int(i)
            }
        }
        (_, Value::UInt(u)) if column.unsigned => Cell::UInt(u),
        (ColumnType::Float, Value::Float(f)) => Cell::Float(f),
        (ColumnType::Double, Value::Double(d)) => Cell::Double(d),
        (ColumnType::Decimal { .. }, Value::Bytes(b)) => {
            Cell::Decimal(String::from_utf8(b).map_err(|_| format!("column {}: bad decimal", column.name))?)
        }
        (ColumnType::Bit { bits }, Value::Bytes(b)) => bit_cell(*bits, b),
        (ColumnType::Date, Value::Date(y, m, d, ..)) => match days_from_civil(y as i32, m as u32, d as u32) {
            Some(days) => Cell::Date(days),
            None => Cell::Null,
        },
        (ColumnType::DateTime, Value::Date(y, mo, d, h, mi, s, us)) => {
            match days_from_civil(y as i32, mo as u32, d as u32) {
                Some(days) => Cell::Micros(micros(days, h as i64, mi as i64, s as i64, us as i64)),
                None => Cell::Null,
            }
        }
        // TIMESTAMP2 arrives as "seconds[.micros]" since the epoch, zero meaning the zero date.
        (ColumnType::Timestamp, Value::Bytes(b)) => {
            let t = String::from_utf8(b).map_err(|_| format!("column {}: bad timestamp", column.name))?;
            let (sec, frac) = t.split_once('.').unwrap_or((&t, "0"));
            let sec: i64 = sec.parse().map_err(|_| format!("column {}: bad timestamp {t}", column.name))?;
            let us: i64 = format!("{frac:0<6}")[..6].parse().unwrap_or(0);
            if sec == 0 && us == 0 { Cell::Null } else { Cell::Micros(sec * 1_000_000 + us) }
        }
        (ColumnType::Timestamp, Value::Int(sec)) => {
            if sec == 0 { Cell::Null } else { Cell::Micros(sec * 1_000_000) }
        }
        (ColumnType::Time { fsp }, Value::Time(neg, days, h, m, s, us)) => {
            Cell::Text(format_time(neg, days * 24 + h as u32, m, s, us, *fsp))
        }
        (ColumnType::Year, Value::Bytes(b)) => {
            let y: i64 = String::from_utf8_lossy(&b).parse().map_err(|_| format!("column {}: bad year", column.name))?;
            // The row format stores YEAR as (year - 1900) with 0 meaning the year 0000.
            Cell::Int(if y == 1900 { 0 } else { y })
        }
        (ColumnType::Year, Value::Int(y)) => Cell::Int(y),
        (ColumnType::Enum(labels), Value::Int(i)) => match i {
            0 => Cell::Text(String::new()),
            i => Cell::Text(
                labels
                    .get(i as usize - 1)
                    .cloned()
                    .ok_or_else(|| format!("column {}: ENUM index {i} beyond its {} labels", column.name, labels.len()))?,
            ),
        },
        (ColumnType::Set(labels), Value::Bytes(mask)) => {
            let mut out = Vec::new();
            for (i, label) in labels.iter().enumerate() {
                if mask.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0) {
                    out.push(label.as_str());
                }
            }
            Cell::Text(out.join(","))
        }
        (ColumnType::Text | ColumnType::Json, Value::Bytes(b)) => Cell::Text(decode_text(column, b)),
        (ColumnType::Binary, Value::Bytes(b)) => Cell::Bytes(b),
        (_, v) => return Err(unexpected(&v)),
    })
}

/// MySQL's binlog decoder returns unsigned columns as signed integers unless the TABLE_MAP
/// carries signedness metadata; reinterpret them at the column's width.
fn unsigned_from_signed(ty: &ColumnType, i: i64) -> u64 {
    match ty {
        ColumnType::TinyInt => i as u8 as u64,
        ColumnType::SmallInt => i as u16 as u64,
        ColumnType::MediumInt => (i as u64) & 0xFF_FFFF,
        ColumnType::Int => i as u32 as u64,
        _ => i as u64,
    }
}

fn bit_cell(bits: u16, bytes: Vec<u8>) -> Cell {
    if bits == 1 { Cell::Bool(bytes.iter().any(|b| *b != 0)) } else { Cell::Bytes(bytes) }
}

/// Text columns arrive from the binlog as raw bytes in the column's character set.
fn decode_text(column: &Column, bytes: Vec<u8>) -> String {
    match column.charset.as_deref() {
        Some("latin1") => bytes.iter().map(|&b| cp1252(b)).collect(),
        _ => String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
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

fn format_time(neg: bool, hours: u32, m: u8, s: u8, us: u32, fsp: u8) -> String {
    let sign = if neg { "-" } else { "" };
    let mut t = format!("{sign}{hours:02}:{m:02}:{s:02}");
    if fsp > 0 {
        let frac = format!("{us:06}");
        t.push('.');
        t.push_str(&frac[..fsp as usize]);
    }
    t
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

    fn col(ty: ColumnType, unsigned: bool) -> Column {
        Column { name: "c".into(), ty, unsigned, nullable: true, charset: None }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(1969, 12, 31), Some(-1));
        assert_eq!(parse_date("0000-00-00"), None);
        assert_eq!(parse_datetime("1970-01-02 00:00:01.5"), Some(86_401_500_000));
    }

    #[test]
    fn unsigned_without_signedness_metadata() {
        let c = col(ColumnType::BigInt, true);
        assert_eq!(from_binlog(&c, BinlogValue::Value(Value::Int(-1))).unwrap(), Cell::UInt(u64::MAX));
        let c = col(ColumnType::TinyInt, true);
        assert_eq!(from_binlog(&c, BinlogValue::Value(Value::Int(-1))).unwrap(), Cell::UInt(255));
        let c = col(ColumnType::Int, true);
        assert_eq!(from_binlog(&c, BinlogValue::Value(Value::Int(-1064765173))).unwrap(), Cell::UInt(3_230_202_123));
    }

    #[test]
    fn enum_set_and_time() {
        let e = col(ColumnType::Enum(vec!["a".into(), "b".into()]), false);
        assert_eq!(from_binlog(&e, BinlogValue::Value(Value::Int(2))).unwrap(), Cell::Text("b".into()));
        let s = col(ColumnType::Set(vec!["x".into(), "y".into(), "z".into()]), false);
        assert_eq!(from_binlog(&s, BinlogValue::Value(Value::Bytes(vec![0b101]))).unwrap(), Cell::Text("x,z".into()));
        let t = col(ColumnType::Time { fsp: 2 }, false);
        assert_eq!(
            from_binlog(&t, BinlogValue::Value(Value::Time(true, 1, 2, 3, 4, 500_000))).unwrap(),
            Cell::Text("-26:03:04.50".into())
        );
    }

    #[test]
    fn latin1_text() {
        let mut c = col(ColumnType::Text, false);
        c.charset = Some("latin1".into());
        assert_eq!(from_binlog(&c, BinlogValue::Value(Value::Bytes(vec![0x63, 0x61, 0x66, 0xE9, 0x80]))).unwrap(), Cell::Text("café€".into()));
    }
}
