//! CSV files as DMS writes them: UTF-8, no header unless `AddColumnName`, NULL as an empty
//! field (or `CsvNullValue`), RFC 4180 quoting only where needed, decimals at full scale,
//! optionally gzip-compressed. Rows are encoded into a small buffer and streamed to the
//! upload, so a file of any size needs a bounded amount of memory.

use std::borrow::Cow;
use std::io::Write;

use flate2::write::GzEncoder;
use object_store::buffered::BufWriter;
use tokio::io::AsyncWriteExt;

use crate::error::Result;
use crate::schema::{Column, ColumnType};
use crate::sink::settings::CsvOptions;
use crate::sink::{Prefix, RowMeta, upload_error};
use crate::value::Cell;

/// Encoded bytes collected before they go to the compressor and the upload.
const CHUNK_BYTES: usize = 1 << 20;

pub struct CsvEncoder {
    options: CsvOptions,
    prefix: Prefix,
    columns: Vec<Column>,
    buffer: Vec<u8>,
    gzip: Option<GzEncoder<Vec<u8>>>,
    object: BufWriter,
    /// Bytes handed to the upload so far (compressed when gzip).
    uploaded: u64,
}

impl CsvEncoder {
    pub fn new(object: BufWriter, columns: &[Column], prefix: &Prefix, options: &CsvOptions, gzip: bool) -> Self {
        let mut encoder = Self {
            options: options.clone(),
            prefix: prefix.clone(),
            columns: columns.to_vec(),
            buffer: Vec::with_capacity(CHUNK_BYTES + 4096),
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), flate2::Compression::default())),
            object,
            uploaded: 0,
        };
        if options.header {
            let names: Vec<&str> = prefix.names().chain(columns.iter().map(|c| c.name.as_str())).collect();
            for (i, name) in names.iter().enumerate() {
                encoder.separator(i);
                encoder.text(name);
            }
            encoder.buffer.extend_from_slice(encoder.options.row_delimiter.as_bytes());
        }
        encoder
    }

    pub async fn append(&mut self, meta: &RowMeta<'_>, row: &[Cell]) -> Result<()> {
        let mut field = 0;
        for value in self.prefix.values(meta) {
            self.separator(field);
            self.text(value);
            field += 1;
        }
        for (i, cell) in row.iter().enumerate() {
            self.separator(field + i);
            self.cell(i, cell);
        }
        self.buffer.extend_from_slice(self.options.row_delimiter.as_bytes());
        if self.buffer.len() >= CHUNK_BYTES {
            self.drain(false).await?;
        }
        Ok(())
    }

    /// Bytes this file will roughly have once finished.
    pub fn size(&self) -> u64 {
        let pending = self.buffer.len() as u64;
        match &self.gzip {
            // compressed output not yet uploaded, plus a guess for what is still buffered
            Some(gz) => self.uploaded + gz.get_ref().len() as u64 + pending / 4,
            None => self.uploaded + pending,
        }
    }

    /// Completes the upload; returns the object's size.
    pub async fn finish(mut self) -> Result<u64> {
        self.drain(true).await?;
        self.object.shutdown().await.map_err(|e| upload_error("completing a CSV upload", e))?;
        Ok(self.uploaded)
    }

    async fn drain(&mut self, last: bool) -> Result<()> {
        let out = match &mut self.gzip {
            Some(gz) => {
                gz.write_all(&self.buffer).expect("writing to memory");
                self.buffer.clear();
                if last {
                    let gz = self.gzip.take().expect("matched");
                    gz.finish().expect("writing to memory")
                } else {
                    std::mem::take(gz.get_mut())
                }
            }
            None => std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES + 4096)),
        };
        self.object.write_all(&out).await.map_err(|e| upload_error("uploading a CSV file", e))?;
        self.uploaded += out.len() as u64;
        Ok(())
    }

    fn separator(&mut self, field: usize) {
        if field > 0 {
            self.buffer.extend_from_slice(self.options.delimiter.as_bytes());
        }
    }

    fn cell(&mut self, column: usize, cell: &Cell) {
        let value: Cow<'_, str> = match cell {
            Cell::Null => {
                self.buffer.extend_from_slice(self.options.null_value.as_bytes());
                return;
            }
            Cell::Int(v) => v.to_string().into(),
            Cell::UInt(v) => v.to_string().into(),
            Cell::Float(v) => float_text(*v as f64, Some(*v)).into(),
            Cell::Double(v) => float_text(*v, None).into(),
            Cell::Bool(v) => Cow::Borrowed(if *v { "true" } else { "false" }),
            Cell::Decimal(t) | Cell::Text(t) => Cow::Borrowed(t),
            Cell::Date(days) => crate::value::date_text(*days).into(),
            Cell::Micros(us) => {
                let fsp = match self.columns.get(column).map(|c| &c.ty) {
                    Some(ColumnType::DateTime { fsp } | ColumnType::Timestamp { fsp }) => *fsp,
                    _ => 6,
                };
                crate::value::datetime_text(*us, fsp).into()
            }
            // DMS writes binary values as upper-case hexadecimal text.
            Cell::Bytes(b) => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                b.iter().flat_map(|byte| [HEX[(byte >> 4) as usize] as char, HEX[(byte & 15) as usize] as char]).collect::<String>().into()
            }
        };
        self.text(&value);
    }

    /// A text value, quoted only when it must be (RFC 4180) or, with `Rfc4180=false`, as is.
    fn text(&mut self, value: &str) {
        let o = &self.options;
        let needs_quotes = o.rfc4180
            && (value.contains(o.delimiter.as_str())
                || value.contains('"')
                || value.contains('\n')
                || value.contains('\r')
                || value.contains(o.row_delimiter.as_str())
                // An empty string must not read back as NULL.
                || (value.is_empty() && o.null_value.is_empty()));
        if needs_quotes {
            self.buffer.push(b'"');
            for part in value.split('"').enumerate() {
                if part.0 > 0 {
                    self.buffer.extend_from_slice(b"\"\"");
                }
                self.buffer.extend_from_slice(part.1.as_bytes());
            }
            self.buffer.push(b'"');
        } else {
            self.buffer.extend_from_slice(value.as_bytes());
        }
    }
}

/// Shortest text that reads back as the same value (`0.1`, `1e300`, `-2.5`), as MySQL prints
/// FLOAT and DOUBLE: no trailing `.0`, exponent form for very large and very small values.
fn float_text(v: f64, single: Option<f32>) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let shortest = match single {
        Some(f) => format!("{f}"),
        None => format!("{v}"),
    };
    let exp = if v == 0.0 { 0 } else { v.abs().log10().floor() as i32 };
    if (-5..15).contains(&exp) {
        return shortest;
    }
    match single {
        Some(f) => format!("{f:e}"),
        None => format!("{v:e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Op;
    use crate::position::BinlogPos;
    use crate::schema::Column;
    use object_store::{ObjectStoreExt, memory::InMemory};
    use std::sync::Arc;

    async fn encode(options: CsvOptions, rows: &[Vec<Cell>]) -> String {
        let store = Arc::new(InMemory::new());
        let column = |name: &str| Column::nullable(name, ColumnType::Text);
        let prefix = Prefix { op: true, timestamp: None, sequence: None };
        let mut encoder =
            CsvEncoder::new(BufWriter::new(store.clone(), "t.csv".into()), &[column("a"), column("b")], &prefix, &options, false);
        for row in rows {
            encoder
                .append(&RowMeta { op: Op::Insert, timestamp: "", sequence: "", position: &BinlogPos::new("mysql-bin.000001", 4) }, row)
                .await
                .unwrap();
        }
        encoder.finish().await.unwrap();
        String::from_utf8(store.get(&"t.csv".into()).await.unwrap().bytes().await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn without_rfc4180_values_are_written_as_is() {
        let options =
            CsvOptions { header: true, delimiter: ";".into(), row_delimiter: "\r\n".into(), null_value: "\\N".into(), rfc4180: false };
        let rows = [vec![Cell::Text("x;\"y\"".into()), Cell::Null], vec![Cell::Text(String::new()), Cell::Text("z".into())]];
        assert_eq!(encode(options, &rows).await, "Op;a;b\r\nI;x;\"y\";\\N\r\nI;;z\r\n");
    }

    #[test]
    fn floats_print_like_mysql() {
        assert_eq!(float_text(0.1, None), "0.1");
        assert_eq!(float_text(1.0, None), "1");
        assert_eq!(float_text(-2.5, None), "-2.5");
        assert_eq!(float_text(1e300, None), "1e300");
        assert_eq!(float_text(1.5e-7, None), "1.5e-7");
        assert_eq!(float_text(3.4028235e38f32 as f64, Some(3.4028235e38)), "3.4028235e38");
        assert_eq!(float_text(0.1f32 as f64, Some(0.1)), "0.1");
    }
}
