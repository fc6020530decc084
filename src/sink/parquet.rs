//! Parquet files in the DMS shape, written as a stream: rows are appended to Arrow builders,
//! handed to the Parquet writer in small batches and uploaded in parts, so a file of any
//! size needs memory for one row group only.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::AsyncArrowWriter;
use object_store::buffered::BufWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::change::Op;
use crate::error::{Error, Result};
use crate::schema::TableSchema;
use crate::sink::target::Target;
use crate::value::Cell;

/// Rows buffered in Arrow builders before they are handed to the Parquet encoder.
const BATCH_ROWS: usize = 4096;
const BATCH_BYTES: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct ParquetOptions {
    pub row_group_rows: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self { row_group_rows: 10_000 }
    }
}

pub struct FileWriter {
    pub key: String,
    schema: Arc<Schema>,
    with_op: bool,
    columns: Vec<ColumnBuilder>,
    op: StringBuilder,
    batch_rows: usize,
    batch_bytes: usize,
    rows: u64,
    writer: AsyncArrowWriter<BufWriter>,
}

#[derive(Debug, Clone, Copy)]
pub struct FileStats {
    pub rows: u64,
    pub bytes: u64,
}

impl FileWriter {
    pub fn create(target: &Target, key: &str, table: &TableSchema, with_op: bool, options: &ParquetOptions) -> Result<Self> {
        let schema = table.arrow_schema(with_op);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_created_by(format!("binlake version {}", env!("CARGO_PKG_VERSION")))
            .build();
        let object = BufWriter::new(target.store.clone(), key.into());
        let writer = AsyncArrowWriter::try_new(object, schema.clone(), Some(props))?;
        let columns = schema.fields().iter().skip(with_op as usize).map(|f| ColumnBuilder::new(f.data_type())).collect();
        Ok(Self {
            key: key.to_string(),
            schema,
            with_op,
            columns,
            op: StringBuilder::new(),
            batch_rows: 0,
            batch_bytes: 0,
            rows: 0,
            writer,
        })
    }

    pub async fn append(&mut self, op: Option<Op>, row: &[Cell]) -> Result<()> {
        if self.with_op {
            self.op.append_value(op.unwrap_or(Op::Insert).code());
        }
        for (builder, cell) in self.columns.iter_mut().zip(row) {
            self.batch_bytes += builder.append(cell).map_err(|detail| Error::Decode {
                table: self.key.clone(),
                position: crate::position::BinlogPos::new("-", 0),
                detail,
            })?;
        }
        self.batch_rows += 1;
        self.rows += 1;
        if self.batch_rows >= BATCH_ROWS || self.batch_bytes >= BATCH_BYTES {
            self.write_batch().await?;
        }
        Ok(())
    }

    /// Bytes this file will roughly have once finished.
    pub fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size() + self.batch_bytes) as u64
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    async fn write_batch(&mut self) -> Result<()> {
        if self.batch_rows == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 1);
        if self.with_op {
            arrays.push(Arc::new(self.op.finish()));
        }
        arrays.extend(self.columns.iter_mut().map(ColumnBuilder::finish));
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.writer.write(&batch).await?;
        self.batch_rows = 0;
        self.batch_bytes = 0;
        Ok(())
    }

    /// Writes the footer and completes the upload: the object is durable when this returns.
    pub async fn finish(mut self) -> Result<FileStats> {
        self.write_batch().await?;
        let rows = self.rows;
        self.writer.flush().await?;
        let bytes = self.writer.bytes_written() as u64;
        self.writer.close().await?;
        Ok(FileStats { rows, bytes })
    }
}

enum ColumnBuilder {
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Date(Date32Builder),
    Micros(TimestampMicrosecondBuilder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
}

impl ColumnBuilder {
    fn new(ty: &DataType) -> Self {
        match ty {
            DataType::Boolean => Self::Bool(BooleanBuilder::new()),
            DataType::Int8 => Self::I8(Int8Builder::new()),
            DataType::Int16 => Self::I16(Int16Builder::new()),
            DataType::Int32 => Self::I32(Int32Builder::new()),
            DataType::Int64 => Self::I64(Int64Builder::new()),
            DataType::UInt8 => Self::U8(UInt8Builder::new()),
            DataType::UInt16 => Self::U16(UInt16Builder::new()),
            DataType::UInt32 => Self::U32(UInt32Builder::new()),
            DataType::UInt64 => Self::U64(UInt64Builder::new()),
            DataType::Float32 => Self::F32(Float32Builder::new()),
            DataType::Float64 => Self::F64(Float64Builder::new()),
            DataType::Decimal128(p, s) => Self::Decimal(
                Decimal128Builder::new().with_precision_and_scale(*p, *s).expect("valid decimal type"),
                *p,
                *s,
            ),
            DataType::Date32 => Self::Date(Date32Builder::new()),
            DataType::Timestamp(_, tz) => Self::Micros(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone())),
            DataType::Binary => Self::Binary(BinaryBuilder::new()),
            _ => Self::Utf8(StringBuilder::new()),
        }
    }

    /// Appends a cell and returns roughly how many bytes it adds. A cell of the wrong kind for
    /// the column is an error, never a guess.
    fn append(&mut self, cell: &Cell) -> Result<usize, String> {
        macro_rules! int {
            ($b:expr, $t:ty) => {
                match cell {
                    Cell::Null => $b.append_null(),
                    Cell::Int(i) => $b.append_value(<$t>::try_from(*i).map_err(|_| format!("{i} out of range"))?),
                    Cell::UInt(u) => $b.append_value(<$t>::try_from(*u).map_err(|_| format!("{u} out of range"))?),
                    other => return Err(format!("expected an integer, got {other:?}")),
                }
            };
        }
        match self {
            Self::I8(b) => int!(b, i8),
            Self::I16(b) => int!(b, i16),
            Self::I32(b) => int!(b, i32),
            Self::I64(b) => int!(b, i64),
            Self::U8(b) => int!(b, u8),
            Self::U16(b) => int!(b, u16),
            Self::U32(b) => int!(b, u32),
            Self::U64(b) => int!(b, u64),
            Self::Bool(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Bool(v) => b.append_value(*v),
                other => return Err(format!("expected a boolean, got {other:?}")),
            },
            Self::F32(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Float(v) => b.append_value(*v),
                other => return Err(format!("expected a FLOAT, got {other:?}")),
            },
            Self::F64(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Double(v) => b.append_value(*v),
                other => return Err(format!("expected a DOUBLE, got {other:?}")),
            },
            Self::Decimal(b, p, s) => match cell {
                Cell::Null => b.append_null(),
                Cell::Decimal(text) => b.append_value(decimal_to_i128(text, *p, *s)?),
                other => return Err(format!("expected a DECIMAL, got {other:?}")),
            },
            Self::Date(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Date(d) => b.append_value(*d),
                other => return Err(format!("expected a DATE, got {other:?}")),
            },
            Self::Micros(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Micros(us) => b.append_value(*us),
                other => return Err(format!("expected a DATETIME/TIMESTAMP, got {other:?}")),
            },
            Self::Utf8(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Text(t) | Cell::Decimal(t) => {
                    b.append_value(t);
                    return Ok(t.len() + 4);
                }
                other => return Err(format!("expected text, got {other:?}")),
            },
            Self::Binary(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Bytes(v) => {
                    b.append_value(v);
                    return Ok(v.len() + 4);
                }
                other => return Err(format!("expected bytes, got {other:?}")),
            },
        }
        Ok(8)
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Bool(b) => Arc::new(b.finish()),
            Self::I8(b) => Arc::new(b.finish()),
            Self::I16(b) => Arc::new(b.finish()),
            Self::I32(b) => Arc::new(b.finish()),
            Self::I64(b) => Arc::new(b.finish()),
            Self::U8(b) => Arc::new(b.finish()),
            Self::U16(b) => Arc::new(b.finish()),
            Self::U32(b) => Arc::new(b.finish()),
            Self::U64(b) => Arc::new(b.finish()),
            Self::F32(b) => Arc::new(b.finish()),
            Self::F64(b) => Arc::new(b.finish()),
            Self::Decimal(b, p, s) => Arc::new(b.finish().with_precision_and_scale(*p, *s).expect("valid decimal type")),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Micros(b) => Arc::new(b.finish()),
            Self::Utf8(b) => Arc::new(b.finish()),
            Self::Binary(b) => Arc::new(b.finish()),
        }
    }
}

/// Exact decimal text (`-123.4`) -> unscaled integer at `scale` (`-12340` for scale 2).
/// More fractional digits than the scale, or more digits than the precision, is an error.
pub fn decimal_to_i128(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = scale as usize;
    if frac_part.len() > scale && frac_part[scale..].bytes().any(|b| b != b'0') {
        return Err(format!("decimal {text} has more than {scale} fractional digits"));
    }
    let mut unscaled: i128 = 0;
    let mut count = 0usize;
    let frac = frac_part.bytes().chain(std::iter::repeat(b'0')).take(scale);
    for b in int_part.bytes().chain(frac) {
        if !b.is_ascii_digit() {
            return Err(format!("bad decimal {text:?}"));
        }
        unscaled = unscaled * 10 + (b - b'0') as i128;
        if unscaled != 0 {
            count += 1;
        }
    }
    if count > precision as usize {
        return Err(format!("decimal {text} exceeds precision {precision}"));
    }
    Ok(if neg { -unscaled } else { unscaled })
}

#[cfg(test)]
mod tests {
    use super::decimal_to_i128;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal_to_i128("85100.00", 12, 2), Ok(8_510_000));
        assert_eq!(decimal_to_i128("-0.5", 5, 2), Ok(-50));
        assert_eq!(decimal_to_i128("12", 5, 2), Ok(1200));
        assert_eq!(decimal_to_i128("99999999999999999999999999999999999999", 38, 0), Ok(99999999999999999999999999999999999999));
        assert!(decimal_to_i128("1.234", 10, 2).is_err());
        assert!(decimal_to_i128("123456", 5, 0).is_err());
    }
}
