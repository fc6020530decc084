//! One typed cell model shared by the snapshot path (text protocol rows) and the binlog path
//! (decoded row events), so both produce identical Parquet values for the same source row.

use mysql_async::Value;

use crate::schema::{Column, ColumnType};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Converts one value of the snapshot (binary protocol, session `time_zone = '+00:00'`,
/// connection charset utf8mb4) into a cell. The binary protocol keeps FLOAT/DOUBLE exact and
/// types temporal values; DECIMAL, strings, ENUM/SET, JSON and BIT arrive as bytes.
pub fn from_snapshot(column: &Column, value: Value) -> Result<Cell, String> {
    let fail = |v: &Value| format!("column {}: unexpected value {v:?} for {:?}", column.name, column.ty);
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| format!("column {} returned invalid UTF-8", column.name));
    Ok(match (&column.ty, value) {
        (_, Value::NULL) => Cell::Null,
        (
            ColumnType::TinyInt
            | ColumnType::Boolean
            | ColumnType::SmallInt
            | ColumnType::MediumInt
            | ColumnType::Int
            | ColumnType::BigInt
            | ColumnType::Year,
            v @ (Value::Int(_) | Value::UInt(_) | Value::Bytes(_)),
        ) => {
            let (signed, unsigned) = match &v {
                Value::Int(i) => (Some(*i), u64::try_from(*i).ok()),
                Value::UInt(u) => (i64::try_from(*u).ok(), Some(*u)),
                Value::Bytes(b) => {
                    let t = std::str::from_utf8(b).unwrap_or("");
                    (t.parse().ok(), t.parse().ok())
                }
                _ => unreachable!(),
            };
            if column.ty == ColumnType::Boolean {
                boolean(column, signed.ok_or_else(|| fail(&v))?)?
            } else if column.unsigned {
                Cell::UInt(unsigned.ok_or_else(|| fail(&v))?)
            } else {
                Cell::Int(signed.ok_or_else(|| fail(&v))?)
            }
        }
        (ColumnType::Decimal { .. }, Value::Bytes(b)) => Cell::Decimal(text(b)?),
        (ColumnType::Float, Value::Float(f)) => Cell::Float(f),
        (ColumnType::Float, Value::Double(d)) => Cell::Float(d as f32),
        (ColumnType::Double, Value::Double(d)) => Cell::Double(d),
        (ColumnType::Float | ColumnType::Double, Value::Bytes(b)) => {
            let t = text(b)?;
            let d: f64 = t.parse().map_err(|_| format!("column {}: bad number {t}", column.name))?;
            if column.ty == ColumnType::Float { Cell::Float(d as f32) } else { Cell::Double(d) }
        }
        (ColumnType::Bit { bits }, Value::Bytes(b)) => bit_cell(*bits, b),
        (ColumnType::Date, Value::Date(y, m, d, ..)) => days_from_civil(y as i32, m as u32, d as u32).map_or(Cell::Null, Cell::Date),
        (ColumnType::DateTime { .. } | ColumnType::Timestamp { .. }, Value::Date(y, mo, d, h, mi, s, us)) => {
            days_from_civil(y as i32, mo as u32, d as u32)
                .map_or(Cell::Null, |days| Cell::Micros(micros(days, h as i64, mi as i64, s as i64, us as i64)))
        }
        (ColumnType::Date, Value::Bytes(b)) => parse_date(&text(b)?).map_or(Cell::Null, Cell::Date),
        (ColumnType::DateTime { .. } | ColumnType::Timestamp { .. }, Value::Bytes(b)) => {
            parse_datetime(&text(b)?).map_or(Cell::Null, Cell::Micros)
        }
        (ColumnType::Time { fsp }, Value::Time(neg, days, h, m, s, us)) => {
            Cell::Text(format_time(neg, days as u64 * 24 + h as u64, m as u64, s as u64, us as u64, *fsp))
        }
        (ColumnType::Time { .. }, Value::Bytes(b)) => Cell::Text(text(b)?),
        (ColumnType::Text | ColumnType::Enum(_) | ColumnType::Set(_) | ColumnType::Json, Value::Bytes(b)) => Cell::Text(text(b)?),
        (ColumnType::Binary, Value::Bytes(b)) => Cell::Bytes(b),
        (ColumnType::Geometry, Value::Bytes(b)) => geometry_cell(&b)?,
        (ColumnType::Uuid | ColumnType::Inet4 | ColumnType::Inet6, Value::Bytes(b)) => Cell::Text(text(b)?),
        (_, v) => return Err(fail(&v)),
    })
}

/// A TINYINT(1) written as a boolean: 0 and 1 only, since anything else would be lost.
pub fn boolean(column: &Column, v: i64) -> Result<Cell, String> {
    match v {
        0 | 1 => Ok(Cell::Bool(v == 1)),
        _ => Err(format!(
            "TINYINT(1) column {} holds {v}, which is not a boolean; replicate it as an integer (without --tinyint1-as-boolean)",
            column.name
        )),
    }
}

/// MySQL keeps spatial values as a little-endian SRID followed by standard WKB; the lake gets
/// the WKB, which every spatial reader understands.
pub fn geometry_cell(bytes: &[u8]) -> Result<Cell, String> {
    match bytes.get(4..) {
        Some(wkb) if !wkb.is_empty() => Ok(Cell::Bytes(wkb.to_vec())),
        _ => Err(format!("a spatial value of {} bytes has no WKB after its SRID", bytes.len())),
    }
}

/// Bytes as lower-case hexadecimal text.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hexadecimal text (either case) as bytes, as DMS writes binary values in CSV.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A UUID in its usual text form (`6ccd780c-baba-1026-9564-5b8c656024db`).
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    let h = hex(bytes);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The text MariaDB prints for a UUID, INET4 or INET6 value, from the bytes the binlog
/// carries (the value in network order: UUIDs as written, addresses big-endian).
pub fn mariadb_fixed_text(ty: &ColumnType, bytes: &[u8]) -> Result<String, String> {
    let wrong = || format!("a {ty:?} value of {} bytes", bytes.len());
    Ok(match ty {
        ColumnType::Uuid => uuid_text(bytes.try_into().map_err(|_| wrong())?),
        ColumnType::Inet4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).map_err(|_| wrong())?).to_string(),
        ColumnType::Inet6 => {
            let address = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).map_err(|_| wrong())?);
            match address.segments() {
                // IPv4-compatible addresses (deprecated, `::1.2.3.4`) print with the dotted
                // tail in MariaDB; `::` and `::1` are not among them.
                [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => format!("::{}", std::net::Ipv4Addr::from(((hi as u32) << 16) | lo as u32)),
                _ => address.to_string(),
            }
        }
        _ => return Err(wrong()),
    })
}

fn bit_cell(bits: u16, bytes: Vec<u8>) -> Cell {
    if bits == 1 { Cell::Bool(bytes.iter().any(|b| *b != 0)) } else { Cell::Bytes(bytes) }
}

/// Text from the binlog arrives as raw bytes in the column's character set.
pub fn decode_text(charset: Option<&str>, bytes: &[u8]) -> String {
    match charset {
        // ASCII reads the same in cp1252 and UTF-8, and most text is ASCII: validated at once.
        Some("latin1") if !bytes.is_ascii() => bytes.iter().map(|&b| cp1252(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// MySQL's `latin1` is Windows-1252.
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{2C6}', '\u{2030}', '\u{160}',
        '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}',
        '\u{2013}', '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
    ];
    if (0x80..0xA0).contains(&b) { HIGH[(b - 0x80) as usize] } else { b as char }
}

/// Microseconds since the epoch of a day and a time of day.
pub(crate) fn micros(days: i32, h: i64, mi: i64, s: i64, us: i64) -> i64 {
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

/// Days since the epoch -> `YYYY-MM-DD`.
pub fn date_text(days: i32) -> String {
    // 1970-01-01 is day 719 163 of the common era; MySQL's years 0..=9999 are all in chrono's range.
    chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163).expect("a MySQL date").format("%Y-%m-%d").to_string()
}

/// Microseconds since the epoch -> `YYYY-MM-DD HH:MM:SS[.f]` with `fsp` fractional digits,
/// as MySQL prints a DATETIME(fsp).
pub fn datetime_text(us: i64, fsp: u8) -> String {
    let days = us.div_euclid(86_400_000_000);
    let rest = us.rem_euclid(86_400_000_000);
    let (secs, micros) = (rest / 1_000_000, rest % 1_000_000);
    let mut text = format!("{} {:02}:{:02}:{:02}", date_text(days as i32), secs / 3600, secs / 60 % 60, secs % 60);
    if fsp > 0 {
        text.push('.');
        text.push_str(&format!("{micros:06}")[..fsp.min(6) as usize]);
    }
    text
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

/// `[-]HH:MM:SS[.f]` as MySQL prints TIME, with exactly `fsp` fractional digits.
pub fn format_time(neg: bool, h: u64, m: u64, s: u64, us: u64, fsp: u8) -> String {
    let mut t = format!("{}{h:02}:{m:02}:{s:02}", if neg { "-" } else { "" });
    if fsp > 0 {
        let frac = format!("{us:06}");
        t.push('.');
        t.push_str(&frac[..fsp.min(6) as usize]);
    }
    t
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
        for text in ["0000-01-01", "1000-01-01", "1969-12-31", "2000-02-29", "2026-11-23", "9999-12-31"] {
            assert_eq!(date_text(parse_date(text).unwrap()), text);
        }
        assert_eq!(datetime_text(parse_datetime("1969-12-31 23:59:59.5").unwrap(), 1), "1969-12-31 23:59:59.5");
        assert_eq!(datetime_text(parse_datetime("9999-12-31 23:59:59.999999").unwrap(), 6), "9999-12-31 23:59:59.999999");
        assert_eq!(datetime_text(0, 0), "1970-01-01 00:00:00");
    }

    #[test]
    fn latin1_text() {
        assert_eq!(decode_text(Some("latin1"), &[0x63, 0x61, 0x66, 0xE9, 0x80]), "café€");
        assert_eq!(decode_text(Some("utf8mb4"), "café".as_bytes()), "café");
    }
}
