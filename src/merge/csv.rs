//! CSV files as DMS writes them, read back: the delimiters, NULL marker and quoting of the DMS
//! settings, gzip when the name ends in `.gz`. The object is streamed and parsed as it
//! arrives, so a file of any size needs memory for one chunk of records.

use std::io::Write;

use bytes::Bytes;
use flate2::write::GzDecoder;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::schema::{Column, ColumnType};
use crate::sink::settings::CsvOptions;
use crate::value::{Cell, parse_date, parse_datetime, unhex};

/// One field: `None` for NULL.
pub type Field = Option<String>;

pub struct CsvReader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    gunzip: Option<GzDecoder<Vec<u8>>>,
    /// Decompressed bytes not parsed yet.
    buffer: Vec<u8>,
    ended: bool,
    options: CsvOptions,
}

impl CsvReader {
    pub fn new(stream: BoxStream<'static, object_store::Result<Bytes>>, gzip: bool, options: CsvOptions) -> Self {
        Self { stream, gunzip: gzip.then(|| GzDecoder::new(Vec::new())), buffer: Vec::new(), ended: false, options }
    }

    /// The next record, or `None` at the end of the file.
    pub async fn next_record(&mut self) -> Result<Option<Vec<Field>>, String> {
        loop {
            if let Some((record, used)) = parse_record(&self.buffer, &self.options, self.ended)? {
                self.buffer.drain(..used);
                return Ok(Some(record));
            }
            if self.ended {
                return Ok(None);
            }
            match self.stream.next().await {
                Some(bytes) => {
                    let bytes = bytes.map_err(|e| format!("reading: {e}"))?;
                    match &mut self.gunzip {
                        Some(gz) => {
                            gz.write_all(&bytes).map_err(|e| format!("gunzip: {e}"))?;
                            self.buffer.append(gz.get_mut());
                        }
                        None => self.buffer.extend_from_slice(&bytes),
                    }
                }
                None => {
                    if let Some(gz) = self.gunzip.take() {
                        let rest = gz.finish().map_err(|e| format!("gunzip: {e}"))?;
                        self.buffer.extend_from_slice(&rest);
                    }
                    self.ended = true;
                }
            }
        }
    }
}

/// Parses one record from the start of `buf`: the record and the bytes it used, or `None`
/// when `buf` does not hold a whole record yet (at the end of the file, the last record needs
/// no row delimiter).
fn parse_record(buf: &[u8], o: &CsvOptions, eof: bool) -> Result<Option<(Vec<Field>, usize)>, String> {
    let (delimiter, row_delimiter) = (o.delimiter.as_bytes(), o.row_delimiter.as_bytes());
    if buf.is_empty() {
        return Ok(None);
    }
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        // One field.
        let mut value = Vec::new();
        let quoted = o.rfc4180 && buf.get(i) == Some(&b'"');
        if quoted {
            i += 1;
            loop {
                match buf.get(i) {
                    None => return if eof { Err("a quoted value is not closed at the end of the file".into()) } else { Ok(None) },
                    Some(b'"') if buf.get(i + 1) == Some(&b'"') => {
                        value.push(b'"');
                        i += 2;
                    }
                    Some(b'"') if buf.len() == i + 1 && !eof => return Ok(None),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < buf.len() && !buf[i..].starts_with(delimiter) && !buf[i..].starts_with(row_delimiter) {
                value.push(buf[i]);
                i += 1;
            }
        }
        let text = String::from_utf8(value).map_err(|_| "a value is not UTF-8".to_string())?;
        fields.push(if !quoted && text == o.null_value { None } else { Some(text) });
        if buf[i..].starts_with(delimiter) {
            i += delimiter.len();
        } else if buf[i..].starts_with(row_delimiter) {
            return Ok(Some((fields, i + row_delimiter.len())));
        } else if i >= buf.len() {
            // A delimiter may be cut at the end of the buffer: wait for more unless at the end.
            return Ok(if eof { Some((fields, i)) } else { None });
        } else {
            return Err(format!("unexpected text after a quoted value at byte {i} of a record"));
        }
    }
}

/// A CSV field as the cell the snapshot reads for `column`.
pub fn cell(column: &Column, field: &Field) -> Result<Cell, String> {
    use ColumnType::*;
    let Some(text) = field else { return Ok(Cell::Null) };
    let bad = || format!("column {}: {text:?} is not a {:?} value", column.name, column.ty);
    Ok(match &column.ty {
        Boolean | Bit { bits: 1 } => match text.as_str() {
            "true" | "1" => Cell::Bool(true),
            "false" | "0" => Cell::Bool(false),
            _ => return Err(bad()),
        },
        TinyInt | SmallInt | MediumInt | Int | BigInt | Year if column.unsigned => Cell::UInt(text.parse().map_err(|_| bad())?),
        TinyInt | SmallInt | MediumInt | Int | BigInt | Year => Cell::Int(text.parse().map_err(|_| bad())?),
        Decimal { .. } => Cell::Decimal(text.clone()),
        Float => Cell::Float(text.parse().map_err(|_| bad())?),
        Double => Cell::Double(text.parse().map_err(|_| bad())?),
        Date => parse_date(text).map_or(Cell::Null, Cell::Date),
        DateTime { .. } | Timestamp { .. } => parse_datetime(text).map_or(Cell::Null, Cell::Micros),
        Bit { .. } | Binary | Geometry => Cell::Bytes(unhex(text).ok_or_else(bad)?),
        Time { .. } | Text | Enum(_) | Set(_) | Json | Uuid | Inet4 | Inet6 => Cell::Text(text.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> CsvOptions {
        CsvOptions { header: false, delimiter: ",".into(), row_delimiter: "\n".into(), null_value: String::new(), rfc4180: true }
    }

    fn all(text: &str, o: &CsvOptions) -> Vec<Vec<Field>> {
        let mut out = Vec::new();
        let mut buf = text.as_bytes();
        while let Some((record, used)) = parse_record(buf, o, true).unwrap() {
            out.push(record);
            buf = &buf[used..];
        }
        out
    }

    #[test]
    fn dms_csv_reads_back() {
        let s = |t: &str| Some(t.to_string());
        // What binlake's writer produces (tests/it/dms_output.rs): NULL empty, '' quoted.
        let rows = all("I,497,Diecast,,\"\",\"a,b\",\"say \"\"hi\"\"\"\nD,1,x,y,z,w,v", &options());
        assert_eq!(rows[0], vec![s("I"), s("497"), s("Diecast"), None, s(""), s("a,b"), s("say \"hi\"")]);
        assert_eq!(rows[1].len(), 7);
        let o = CsvOptions { delimiter: "|".into(), row_delimiter: "\r\n".into(), null_value: "\\N".into(), ..options() };
        assert_eq!(all("1|\\N|x\r\n2||y\r\n", &o), vec![vec![s("1"), None, s("x")], vec![s("2"), s(""), s("y")]]);
        // a record cut in the middle waits for more bytes
        assert_eq!(parse_record(b"1,\"ab", &options(), false).unwrap(), None);
        assert_eq!(parse_record(b"1,ab", &options(), false).unwrap(), None);
        assert!(parse_record(b"1,\"ab", &options(), true).is_err());
    }

    #[test]
    fn fields_become_typed_cells() {
        let col = |ty, unsigned| Column { unsigned, ..Column::nullable("c", ty) };
        assert_eq!(cell(&col(ColumnType::BigInt, true), &Some("18446744073709551615".into())), Ok(Cell::UInt(u64::MAX)));
        assert_eq!(cell(&col(ColumnType::Binary, false), &Some("00FF".into())), Ok(Cell::Bytes(vec![0, 255])));
        assert_eq!(
            cell(&col(ColumnType::DateTime { fsp: 3 }, false), &Some("1970-01-01 00:00:01.500".into())),
            Ok(Cell::Micros(1_500_000))
        );
        assert!(cell(&col(ColumnType::Int, false), &Some("x".into())).is_err());
    }
}
