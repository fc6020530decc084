//! MySQL JSON columns as the binlog carries them: MySQL's binary JSON, printed as the exact
//! text MySQL itself returns for `SELECT json_col` (so CDC rows equal snapshot rows), and the
//! partial updates of `binlog_row_value_options=PARTIAL_JSON` applied to a before image.
//!
//! The text follows MySQL's `Json_wrapper::to_string`: `", "` and `": "` separators, object
//! members in the document's order (MySQL keeps keys sorted by length, then bytewise),
//! DOUBLEs printed as MySQL's `my_gcvt` prints them with `.0` added to whole numbers,
//! DECIMALs with their scale, temporal values quoted with six fractional digits, other
//! opaque values as `"base64:type<N>:<data>"`, and strings escaped as MySQL escapes them.
//!
//! MariaDB has no binary JSON: its JSON columns are LONGTEXT and never reach this module.

use mysql_common::binlog::decimal::Decimal;
use mysql_common::binlog::jsonb;
use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};
use mysql_common::io::ParseBuf;

/// Field types MySQL stores inside JSON as opaque values with a meaning of their own.
const TYPE_TIMESTAMP: u8 = 7;
const TYPE_DATE: u8 = 10;
const TYPE_TIME: u8 = 11;
const TYPE_DATETIME: u8 = 12;
const TYPE_NEWDECIMAL: u8 = 246;
/// MySQL prints opaque VAR_STRING values as plain JSON strings.
const TYPE_VAR_STRING: u8 = 253;

/// A JSON value as MySQL holds it: numbers keep their binary type (a DOUBLE prints as `1.0`,
/// an integer as `1`), objects keep MySQL's member order, and the scalar types that JSON
/// text lacks keep theirs.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    String(String),
    /// DECIMAL, as MySQL prints it (with its scale: `9.00`).
    Decimal(String),
    /// DATE, TIME, DATETIME or TIMESTAMP, as MySQL prints it (printed quoted).
    Temporal(String),
    /// Any other value stored opaquely: its MySQL field type and bytes.
    Opaque(u8, Vec<u8>),
    Array(Vec<Json>),
    /// Members in MySQL's order: keys sorted by length, then bytewise.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses a binary JSON value as logged for a JSON column. An empty value is JSON null
    /// (MySQL stores it for invalid input in non-strict mode and reads it as null).
    pub fn parse(raw: &[u8]) -> Result<Json, String> {
        if raw.is_empty() {
            return Ok(Json::Null);
        }
        let value: jsonb::Value<'_> = ParseBuf(raw).parse(()).map_err(|e| format!("bad binary JSON: {e}"))?;
        Json::from_binary(value)
    }

    fn from_binary(value: jsonb::Value<'_>) -> Result<Json, String> {
        use jsonb::Value as V;
        let bad = |e: std::io::Error| format!("bad binary JSON: {e}");
        Ok(match value {
            V::Null => Json::Null,
            V::Bool(b) => Json::Bool(b),
            V::I16(x) => Json::Int(x.into()),
            V::I32(x) => Json::Int(x.into()),
            V::I64(x) => Json::Int(x),
            V::U16(x) => Json::UInt(x.into()),
            V::U32(x) => Json::UInt(x.into()),
            V::U64(x) => Json::UInt(x),
            V::F64(x) => Json::Double(x),
            V::String(s) => Json::String(utf8(s.str_raw())?),
            V::SmallArray(a) => Json::Array(a.iter().map(|e| e.map_err(bad).and_then(Json::from_binary)).collect::<Result<_, _>>()?),
            V::LargeArray(a) => Json::Array(a.iter().map(|e| e.map_err(bad).and_then(Json::from_binary)).collect::<Result<_, _>>()?),
            V::SmallObject(o) => Json::Object(
                o.iter()
                    .map(|m| m.map_err(bad).and_then(|(k, v)| Ok((utf8(k.value_raw())?, Json::from_binary(v)?))))
                    .collect::<Result<_, _>>()?,
            ),
            V::LargeObject(o) => Json::Object(
                o.iter()
                    .map(|m| m.map_err(bad).and_then(|(k, v)| Ok((utf8(k.value_raw())?, Json::from_binary(v)?))))
                    .collect::<Result<_, _>>()?,
            ),
            V::Opaque(o) => opaque(o.value_type() as u8, o.data_raw())?,
        })
    }

    /// The text MySQL returns for this value.
    pub fn to_mysql_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::UInt(u) => out.push_str(&u.to_string()),
            Json::Double(d) => write_double(*d, out),
            Json::String(s) => quote(s, out),
            Json::Decimal(d) => out.push_str(d),
            Json::Temporal(t) => {
                out.push('"');
                out.push_str(t);
                out.push('"');
            }
            Json::Opaque(ty, data) => quote(&format!("base64:type{ty}:{}", base64(data)), out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    quote(key, out);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "binary JSON holds a string that is not UTF-8".to_string())
}

/// An opaque value: the field types MySQL gives a meaning (DECIMAL, temporal, VAR_STRING)
/// become that value; any other stays opaque.
fn opaque(ty: u8, data: &[u8]) -> Result<Json, String> {
    let packed = || -> Result<i64, String> {
        let bytes: [u8; 8] = data.get(..8).and_then(|b| b.try_into().ok()).ok_or("truncated temporal value in binary JSON")?;
        Ok(i64::from_le_bytes(bytes))
    };
    Ok(match ty {
        TYPE_NEWDECIMAL => {
            let dec = Decimal::read_packed(data, false).map_err(|e| format!("bad DECIMAL in binary JSON: {e}"))?;
            Json::Decimal(dec.to_string())
        }
        TYPE_DATE => {
            let (date, _) = datetime_parts(packed()?);
            Json::Temporal(date)
        }
        TYPE_DATETIME | TYPE_TIMESTAMP => {
            let (date, time) = datetime_parts(packed()?);
            Json::Temporal(format!("{date} {time}"))
        }
        TYPE_TIME => Json::Temporal(time_text(packed()?)),
        TYPE_VAR_STRING => Json::String(utf8(data)?),
        other => Json::Opaque(other, data.to_vec()),
    })
}

/// A packed DATETIME (MySQL's `TIME_to_longlong_datetime_packed`) as `YYYY-MM-DD` and
/// `hh:mm:ss.ffffff`, the way `my_TIME_to_str(.., 6)` prints it.
fn datetime_parts(packed: i64) -> (String, String) {
    let v = packed.unsigned_abs();
    let frac = v % (1 << 24);
    let ymdhms = v >> 24;
    let (ymd, hms) = (ymdhms >> 17, ymdhms % (1 << 17));
    let (ym, day) = (ymd >> 5, ymd % (1 << 5));
    let (year, month) = (ym / 13, ym % 13);
    let date = format!("{year:04}-{month:02}-{day:02}");
    let time = format!("{:02}:{:02}:{:02}.{frac:06}", hms >> 12, (hms >> 6) % 64, hms % 64);
    (date, time)
}

/// A packed TIME (MySQL's `TIME_to_longlong_time_packed`) as `[-]hh:mm:ss.ffffff`.
fn time_text(packed: i64) -> String {
    let v = packed.unsigned_abs();
    let frac = v % (1 << 24);
    let hms = v >> 24;
    let sign = if packed < 0 { "-" } else { "" };
    format!("{sign}{:02}:{:02}:{:02}.{frac:06}", (hms >> 12) % (1 << 10), (hms >> 6) % 64, hms % 64)
}

/// A JSON string literal, escaped as MySQL's `double_quote` does: `"` and `\`, the named
/// control characters, and every other byte up to 0x1F as `\u00xx`. Nothing else (not `/`,
/// not non-ASCII) is escaped.
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) <= 0x1F => out.push_str(&format!("\\u00{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// MySQL's `base64_encode`: the standard alphabet with padding, and a newline after every
/// 76 characters.
fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4 + data.len() / 57);
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push('\n');
        }
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(TABLE[(n >> 18) as usize & 63] as char);
        out.push(TABLE[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { TABLE[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { TABLE[n as usize & 63] as char } else { '=' });
    }
    out
}

/// A DOUBLE as MySQL prints it in JSON: `my_gcvt(d, MY_GCVT_ARG_DOUBLE, 34)` (the shortest
/// digits that read back as the same double; plain notation for decimal exponents from -14
/// to 15, otherwise `1.5e-20` / `1e100` without `+` or leading exponent zeros), then `.0` when
/// the result has neither `.` nor `e`, so that it stays distinguishable from an integer.
fn write_double(d: f64, out: &mut String) {
    let start = out.len();
    if !d.is_finite() {
        // dtoa's overflow case: MySQL prints 0 (JSON cannot hold these anyway).
        out.push('0');
    } else {
        // Rust prints the shortest round-trip digits, as dtoa mode 4 with 34 digits does.
        let sci = format!("{:e}", d.abs());
        let (mantissa, exp) = sci.split_once('e').expect("LowerExp output has an exponent");
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let decpt = exp.parse::<i32>().expect("LowerExp exponent is an integer") + 1;
        let len = digits.len() as i32;
        if d.is_sign_negative() {
            out.push('-');
        }
        // With a 34-character field every shortest double fits either way; my_gcvt picks
        // plain notation when -15 < decpt <= 15 (DBL_DIG), or beyond that for non-integers.
        if decpt >= -14 && (decpt <= 15 || len > decpt) {
            if decpt <= 0 {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-decpt) as usize));
                out.push_str(&digits);
            } else if decpt < len {
                out.push_str(&digits[..decpt as usize]);
                out.push('.');
                out.push_str(&digits[decpt as usize..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', (decpt - len) as usize));
            }
        } else {
            out.push_str(&digits[..1]);
            if len > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push('e');
            out.push_str(&(decpt - 1).to_string());
        }
    }
    if !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// One leg of a JSON diff path.
#[derive(Debug, Clone, PartialEq)]
enum Leg {
    Member(String),
    /// `[n]` (`from_end` false) or `[last-n]` (`from_end` true).
    Cell {
        index: usize,
        from_end: bool,
    },
}

/// A resolved array index, as MySQL's `Json_array_index`: the position (clamped to the
/// array for inserts) and whether it names an existing element.
fn array_index(index: usize, from_end: bool, len: usize) -> (usize, bool) {
    let position = if from_end { if index < len { len - index - 1 } else { 0 } } else { index.min(len) };
    (position, index < len)
}

/// Parses the path of a JSON diff: `$`, then `.member`, `."quoted member"`, `[n]` or
/// `[last]`/`[last-n]` legs. MySQL logs exact paths; wildcards and ranges are refused.
fn parse_path(path: &str) -> Result<Vec<Leg>, String> {
    let bad = || format!("unsupported JSON diff path {path:?}");
    let rest = path.trim().strip_prefix('$').ok_or_else(bad)?;
    let mut legs = Vec::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        if let Some(after) = s.strip_prefix('.') {
            let after = after.trim_start();
            if after.starts_with('"') {
                // A JSON string literal: find its closing quote, skipping escapes.
                let bytes = after.as_bytes();
                let mut i = 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err(bad());
                }
                let name: String = serde_json::from_str(&after[..=i]).map_err(|_| bad())?;
                legs.push(Leg::Member(name));
                s = &after[i + 1..];
            } else {
                let end = after.find(|c: char| c == '.' || c == '[' || c.is_whitespace()).unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty() || name.contains('*') {
                    return Err(bad());
                }
                legs.push(Leg::Member(name.to_string()));
                s = &after[end..];
            }
        } else if let Some(after) = s.strip_prefix('[') {
            let end = after.find(']').ok_or_else(bad)?;
            let inner: String = after[..end].chars().filter(|c| !c.is_whitespace()).collect();
            let leg = if let Some(back) = inner.strip_prefix("last") {
                let index = if back.is_empty() { 0 } else { back.strip_prefix('-').and_then(|n| n.parse().ok()).ok_or_else(bad)? };
                Leg::Cell { index, from_end: true }
            } else {
                Leg::Cell { index: inner.parse().map_err(|_| bad())?, from_end: false }
            };
            legs.push(leg);
            s = &after[end + 1..];
        } else {
            return Err(bad());
        }
        s = s.trim_start();
    }
    Ok(legs)
}

/// MySQL's `seek_exact_path`: the value at `legs`, without auto-wrapping.
fn seek<'a>(mut doc: &'a mut Json, legs: &[Leg]) -> Option<&'a mut Json> {
    for leg in legs {
        doc = match (doc, leg) {
            (Json::Array(items), Leg::Cell { index, from_end }) => {
                let (position, within) = array_index(*index, *from_end, items.len());
                if !within {
                    return None;
                }
                &mut items[position]
            }
            (Json::Object(members), Leg::Member(name)) => &mut members.iter_mut().find(|(k, _)| k == name)?.1,
            _ => return None,
        };
    }
    Some(doc)
}

/// Where `key` belongs among MySQL's sorted object keys (by length, then bytewise).
fn key_position(members: &[(String, Json)], key: &str) -> Result<usize, usize> {
    members.binary_search_by(|(k, _)| (k.len(), k.as_bytes()).cmp(&(key.len(), key.as_bytes())))
}

/// Applies the diffs of one partially updated JSON column to its before value, as MySQL's
/// `apply_json_diffs` does on a replica: REPLACE needs an existing value, INSERT a missing
/// member or an array position, REMOVE an existing member or element. Any diff that
/// cannot apply exactly is an error (the row would otherwise be wrong).
pub fn apply_diffs(doc: &mut Json, diffs: &[JsonDiff<'_>]) -> Result<(), String> {
    for diff in diffs {
        let path = diff.path_str().into_owned();
        let legs = parse_path(&path)?;
        let Some((last, parent_legs)) = legs.split_last() else {
            return Err(format!("a JSON diff at the document root ({path})"));
        };
        let value = || -> Result<Json, String> {
            let value = diff.value().ok_or_else(|| format!("JSON diff at {path} without a value"))?;
            Json::from_binary(value.clone())
        };
        let failed = |what: &str| format!("JSON diff {:?} at {path} does not apply to the before image: {what}", diff.operation());
        match diff.operation() {
            JsonDiffOperation::REPLACE => {
                let target = seek(doc, &legs).ok_or_else(|| failed("no value there"))?;
                *target = value()?;
            }
            JsonDiffOperation::INSERT => {
                let parent = seek(doc, parent_legs).ok_or_else(|| failed("no parent value"))?;
                match (parent, last) {
                    (Json::Object(members), Leg::Member(name)) => match key_position(members, name) {
                        Ok(_) => return Err(failed("the member exists")),
                        Err(at) => members.insert(at, (name.clone(), value()?)),
                    },
                    (Json::Array(items), Leg::Cell { index, from_end }) => {
                        let (position, _) = array_index(*index, *from_end, items.len());
                        items.insert(position, value()?);
                    }
                    _ => return Err(failed("the parent is not a matching object or array")),
                }
            }
            JsonDiffOperation::REMOVE => {
                let parent = seek(doc, parent_legs).ok_or_else(|| failed("no parent value"))?;
                match (parent, last) {
                    (Json::Object(members), Leg::Member(name)) => {
                        let at = members.iter().position(|(k, _)| k == name).ok_or_else(|| failed("no such member"))?;
                        members.remove(at);
                    }
                    (Json::Array(items), Leg::Cell { index, from_end }) => {
                        let (position, within) = array_index(*index, *from_end, items.len());
                        if !within {
                            return Err(failed("no such element"));
                        }
                        items.remove(position);
                    }
                    _ => return Err(failed("the parent is not a matching object or array")),
                }
            }
        }
    }
    Ok(())
}

/// Parses the diffs logged for one partially updated JSON column.
pub fn parse_diffs(raw: &[u8]) -> Result<Vec<JsonDiff<'_>>, String> {
    let mut buf = ParseBuf(raw);
    let mut diffs = Vec::new();
    while !buf.is_empty() {
        diffs.push(buf.parse(()).map_err(|e| format!("bad JSON diff: {e}"))?);
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(j: &Json) -> String {
        j.to_mysql_text()
    }

    fn double(d: f64) -> String {
        text(&Json::Double(d))
    }

    #[test]
    fn separators_and_order_as_mysql_prints_them() {
        let doc = Json::Object(vec![
            ("a".into(), Json::Int(1)),
            ("bb".into(), Json::Array(vec![Json::Int(1), Json::Double(2.5), Json::String("x".into())])),
            ("ccc".into(), Json::Object(vec![])),
            ("dddd".into(), Json::Array(vec![Json::Null, Json::Bool(true), Json::Bool(false), Json::UInt(u64::MAX), Json::Int(-3)])),
        ]);
        assert_eq!(text(&doc), r#"{"a": 1, "bb": [1, 2.5, "x"], "ccc": {}, "dddd": [null, true, false, 18446744073709551615, -3]}"#);
        assert_eq!(text(&Json::Array(vec![])), "[]");
        assert_eq!(text(&Json::String("top".into())), r#""top""#);
    }

    #[test]
    fn doubles_as_my_gcvt_prints_them() {
        assert_eq!(double(1.0), "1.0");
        assert_eq!(double(0.0), "0.0");
        assert_eq!(double(-0.0), "-0.0");
        assert_eq!(double(-2.5), "-2.5");
        assert_eq!(double(0.1), "0.1");
        assert_eq!(double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(double(1e14), "100000000000000.0");
        assert_eq!(double(1e15), "1e15");
        assert_eq!(double(123456789012345680.0), "1.2345678901234568e17");
        assert_eq!(double(1234567890123456.8), "1234567890123456.8");
        assert_eq!(double(1e100), "1e100");
        assert_eq!(double(1e-15), "0.000000000000001");
        assert_eq!(double(1.5e-20), "1.5e-20");
        assert_eq!(double(-1e-7), "-0.0000001");
        assert_eq!(double(-2e-16), "-2e-16");
        assert_eq!(double(f64::MAX), "1.7976931348623157e308");
    }

    #[test]
    fn strings_escaped_as_mysql_does() {
        let s = Json::String("a\"b\\c\n\t\r\u{8}\u{c}\u{1}\u{1f} /é😀".into());
        assert_eq!(text(&s), "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f /é😀\"");
        let o = Json::Object(vec![("k\"".into(), Json::Null)]);
        assert_eq!(text(&o), r#"{"k\"": null}"#);
    }

    #[test]
    fn opaque_values() {
        let ymd: i64 = ((2012 * 13 + 3) << 5) | 18;
        let hms: i64 = (11 << 12) | (30 << 6) | 45;
        let datetime = ((ymd << 17) | hms) << 24;
        let date = (ymd << 17) << 24;
        assert_eq!(text(&opaque(TYPE_DATETIME, &datetime.to_le_bytes()).unwrap()), r#""2012-03-18 11:30:45.000000""#);
        assert_eq!(text(&opaque(TYPE_TIMESTAMP, &(datetime + 5).to_le_bytes()).unwrap()), r#""2012-03-18 11:30:45.000005""#);
        assert_eq!(text(&opaque(TYPE_DATE, &date.to_le_bytes()).unwrap()), r#""2012-03-18""#);
        let time: i64 = (((87 << 12) | (31 << 6) | 46) << 24) + 654_321;
        assert_eq!(text(&opaque(TYPE_TIME, &time.to_le_bytes()).unwrap()), r#""87:31:46.654321""#);
        assert_eq!(text(&opaque(TYPE_TIME, &(-time).to_le_bytes()).unwrap()), r#""-87:31:46.654321""#);
        // DECIMAL(3,2) 9.00 and -1.50: precision, scale, then the binary decimal.
        assert_eq!(text(&opaque(TYPE_NEWDECIMAL, &[3, 2, 0x89, 0x00]).unwrap()), "9.00");
        assert_eq!(text(&opaque(TYPE_NEWDECIMAL, &[3, 2, 0x7E, 0xCD]).unwrap()), "-1.50");
        assert_eq!(text(&opaque(15, b"U").unwrap()), r#""base64:type15:VQ==""#);
        assert_eq!(text(&opaque(TYPE_VAR_STRING, b"plain").unwrap()), r#""plain""#);
        // MySQL's base64 breaks lines after 76 characters; the newline is escaped.
        let long = text(&opaque(252, &[0u8; 60]).unwrap());
        assert_eq!(long, format!("\"base64:type252:{}\\n{}\"", "A".repeat(76), "A".repeat(4)));
    }

    #[test]
    fn parses_binary_json() {
        // [1, true] as a small array: count 2, size 10, two inlined entries.
        let raw = [0x02, 0x02, 0x00, 0x0A, 0x00, 0x05, 0x01, 0x00, 0x04, 0x01, 0x00];
        assert_eq!(Json::parse(&raw).unwrap(), Json::Array(vec![Json::Int(1), Json::Bool(true)]));
        assert_eq!(Json::parse(&[]).unwrap(), Json::Null);
        assert!(Json::parse(&[0x02, 0x09, 0x00]).is_err(), "truncated");
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path(r#"$.a[2]."b c"[last-1].d_1[last]"#).unwrap(),
            vec![
                Leg::Member("a".into()),
                Leg::Cell { index: 2, from_end: false },
                Leg::Member("b c".into()),
                Leg::Cell { index: 1, from_end: true },
                Leg::Member("d_1".into()),
                Leg::Cell { index: 0, from_end: true },
            ]
        );
        assert_eq!(parse_path("$").unwrap(), vec![]);
        for bad in ["$.*", "$[*]", "$**.a", "$[1 to 2]", "a", "$.\"open"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    /// One logged diff: operation, packed path length, path, and for REPLACE/INSERT the
    /// packed value length and binary value.
    fn diff_bytes(op: u8, path: &str, value: Option<&[u8]>) -> Vec<u8> {
        let mut b = vec![op, path.len() as u8];
        b.extend_from_slice(path.as_bytes());
        if let Some(v) = value {
            b.push(v.len() as u8);
            b.extend_from_slice(v);
        }
        b
    }

    #[test]
    fn diffs_apply_like_mysql() {
        let int = |i: i16| {
            let mut v = vec![0x05];
            v.extend_from_slice(&i.to_le_bytes());
            v
        };
        let mut doc =
            Json::Object(vec![("a".into(), Json::Int(1)), ("list".into(), Json::Array(vec![Json::Int(10), Json::Int(20), Json::Int(30)]))]);
        let mut raw = diff_bytes(0, "$.a", Some(&int(5)));
        raw.extend(diff_bytes(1, "$.zz", Some(&int(7))));
        raw.extend(diff_bytes(1, "$.list[1]", Some(&int(15))));
        raw.extend(diff_bytes(2, "$.list[last]", None));
        raw.extend(diff_bytes(1, "$.list[9]", Some(&int(99))));
        let diffs = parse_diffs(&raw).unwrap();
        apply_diffs(&mut doc, &diffs).unwrap();
        // The new key sorts by length first: "zz" before "list".
        assert_eq!(text(&doc), r#"{"a": 5, "zz": 7, "list": [10, 15, 20, 99]}"#);

        for (op, path) in [(0, "$.missing"), (1, "$.a"), (2, "$.list[4]"), (2, "$.nope"), (1, "$.a.b"), (0, "$")] {
            let value = (op != 2).then(|| int(0));
            let raw = diff_bytes(op, path, value.as_deref());
            let diffs = parse_diffs(&raw).unwrap();
            let mut copy = doc.clone();
            assert!(apply_diffs(&mut copy, &diffs).is_err(), "{op} {path}");
        }
    }
}
