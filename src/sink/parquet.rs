//! Parquet files in the DMS shape, written as a stream: rows are appended to Arrow builders,
//! handed to the Parquet encoder in small batches and uploaded in parts, so a file of any
//! size needs memory for one row group only. The encoder works on a blocking thread while
//! the next batch's rows arrive (decoding and encoding overlap, one batch in flight per
//! file), except for a batch of large values, which is encoded before more rows are taken.
//! The DMS Parquet settings (version, encoding, page sizes, statistics, millisecond
//! timestamps, compression) apply as DMS documents them.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, TimestampMillisecondBuilder, UInt8Builder,
    UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use object_store::buffered::BufWriter;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, DecimalType, GzipLevel, LogicalType, Type as PhysicalType, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::{ColumnPath, SchemaDescriptor, Type};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::sink::settings::{Codec, S3Settings};
use crate::sink::{FileMemory, Prefix, RowMeta, upload_error};
use crate::value::Cell;

/// Rows buffered in Arrow builders before they are handed to the Parquet encoder, at most
/// (fewer when they reach the file's batch bytes, see `FileMemory`).
const BATCH_ROWS: usize = 4096;

type Encoding = JoinHandle<(ArrowWriter<Vec<u8>>, parquet::errors::Result<()>)>;

pub struct ParquetEncoder {
    schema: Arc<Schema>,
    prefix: Prefix,
    /// Builders of the prefix columns (`Op`, timestamp, sequence), in file order.
    prefix_columns: Vec<StringBuilder>,
    columns: Vec<ColumnBuilder>,
    batch_rows: usize,
    batch_bytes: usize,
    /// The Parquet writer, into memory; away on a blocking thread while it encodes a batch.
    writer: Option<ArrowWriter<Vec<u8>>>,
    encoding: Option<Encoding>,
    /// The writer's encoded bytes go here as soon as it hands them over.
    object: BufWriter,
    /// Bytes encoded and the size of the open row group, as of the writer's last return.
    encoded: usize,
    in_progress: usize,
    /// A batch is handed over at this size; a row group is closed at `RowGroupLength` rows or
    /// at `row_group_bytes`, whichever comes first (before a batch would take it past that
    /// size): the open row group is held in memory, and rows of large values must not make it
    /// unbounded.
    batch_limit: usize,
    row_group_bytes: usize,
}

impl ParquetEncoder {
    /// `schema` starts with the columns of `prefix`, then the source columns; the `large`
    /// ones get neither a dictionary nor statistics.
    pub fn new<'a>(
        object: BufWriter,
        schema: Arc<Schema>,
        prefix: &Prefix,
        large: impl Iterator<Item = &'a str>,
        settings: &S3Settings,
        memory: FileMemory,
    ) -> Result<Self> {
        let p = &settings.parquet;
        let compression = match settings.compression {
            Codec::None => Compression::UNCOMPRESSED,
            Codec::Gzip => Compression::GZIP(GzipLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
        };
        let mut props = WriterProperties::builder()
            .set_writer_version(if p.version_2 { WriterVersion::PARQUET_2_0 } else { WriterVersion::PARQUET_1_0 })
            .set_compression(compression)
            .set_dictionary_enabled(p.dictionary)
            .set_data_page_size_limit(p.data_page_size)
            .set_dictionary_page_size_limit(p.dict_page_size_limit)
            .set_max_row_group_row_count(Some(p.row_group_length))
            .set_max_row_group_bytes(Some(memory.row_group_bytes))
            // As DMS writes them: statistics per column chunk and in each page's header, no
            // page index. A page index is held in memory for every row group until the file
            // closes: it would grow with the file, not with the open row group.
            .set_statistics_enabled(if p.statistics { EnabledStatistics::Chunk } else { EnabledStatistics::None })
            .set_write_page_header_statistics(p.statistics)
            .set_offset_index_disabled(true)
            .set_created_by(format!("binlake version {}", env!("CARGO_PKG_VERSION")));
        for name in large {
            let column = ColumnPath::from(name);
            props =
                props.set_column_dictionary_enabled(column.clone(), false).set_column_statistics_enabled(column, EnabledStatistics::None);
        }
        let props = props.build();
        let options = ArrowWriterOptions::new().with_properties(props).with_parquet_schema(dms_parquet_schema(&schema)?);
        let writer = ArrowWriter::try_new_with_options(Vec::new(), schema.clone(), options)?;
        let prefix_len = prefix.names().count();
        let columns = schema.fields().iter().skip(prefix_len).map(|f| ColumnBuilder::new(f.data_type())).collect();
        Ok(Self {
            schema,
            prefix: prefix.clone(),
            prefix_columns: (0..prefix_len).map(|_| StringBuilder::new()).collect(),
            columns,
            batch_rows: 0,
            batch_bytes: 0,
            writer: Some(writer),
            encoding: None,
            object,
            encoded: 0,
            in_progress: 0,
            batch_limit: memory.batch_bytes,
            row_group_bytes: memory.row_group_bytes,
        })
    }

    /// Appends one row (dropped once copied, before a large batch is encoded); a cell that
    /// does not fit its column is the error `encode_error` makes of the column's name and why.
    pub async fn append(&mut self, meta: &RowMeta<'_>, row: Vec<Cell>, encode_error: impl Fn(&str, String) -> Error) -> Result<()> {
        for (builder, value) in self.prefix_columns.iter_mut().zip(self.prefix.values(meta)) {
            builder.append_value(value);
        }
        let fields = self.schema.fields().iter().skip(self.prefix_columns.len());
        for ((builder, cell), field) in self.columns.iter_mut().zip(&row).zip(fields) {
            self.batch_bytes += builder.append(cell).map_err(|detail| encode_error(field.name(), detail))?;
        }
        drop(row);
        self.batch_rows += 1;
        if self.batch_rows >= BATCH_ROWS || self.batch_bytes >= self.batch_limit {
            self.write_batch().await?;
        }
        Ok(())
    }

    /// Bytes this file will roughly have once finished.
    pub fn size(&self) -> u64 {
        (self.encoded + self.in_progress + self.batch_bytes) as u64
    }

    /// Hands the buffered rows to the encoder (once it is done with the previous batch).
    async fn write_batch(&mut self) -> Result<()> {
        if self.batch_rows == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        arrays.extend(self.prefix_columns.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        arrays.extend(self.columns.iter_mut().map(ColumnBuilder::finish));
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        let bytes = std::mem::take(&mut self.batch_bytes);
        self.batch_rows = 0;
        let mut writer = self.writer_back().await?;
        if self.in_progress > 0 && self.in_progress + bytes > self.row_group_bytes {
            self.start(writer, ArrowWriter::flush);
            writer = self.writer_back().await?;
        }
        // A batch this large (a few large values) is encoded, and its row group closed and
        // uploaded, before `append` returns: the encoder holds a few copies of a value while it
        // works, and the next large values must not be read meanwhile, nor wait in an open row
        // group.
        if bytes >= 2 * self.batch_limit {
            self.start(writer, move |w| w.write(&batch).and_then(|()| w.flush()));
            self.writer = Some(self.writer_back().await?);
        } else {
            self.start(writer, move |w| w.write(&batch));
        }
        Ok(())
    }

    /// Has the writer do `job` on a blocking thread.
    fn start(
        &mut self,
        mut writer: ArrowWriter<Vec<u8>>,
        job: impl FnOnce(&mut ArrowWriter<Vec<u8>>) -> parquet::errors::Result<()> + Send + 'static,
    ) {
        self.encoding = Some(tokio::task::spawn_blocking(move || {
            let done = job(&mut writer);
            (writer, done)
        }));
    }

    /// The writer, once it has encoded the batch it was given, with what it encoded uploaded.
    async fn writer_back(&mut self) -> Result<ArrowWriter<Vec<u8>>> {
        let mut writer = match self.encoding.take() {
            Some(encoding) => {
                let (writer, done) = encoding.await.map_err(encoder_failed)?;
                done?;
                writer
            }
            None => self.writer.take().expect("the writer is home when no batch is being encoded"),
        };
        self.encoded = writer.bytes_written();
        self.in_progress = writer.in_progress_size();
        self.upload(&mut writer).await?;
        Ok(writer)
    }

    async fn upload(&mut self, writer: &mut ArrowWriter<Vec<u8>>) -> Result<()> {
        // Copied out and kept: the writer's buffer keeps its capacity instead of growing anew
        // from nothing for every row group, which left the heap fragmented on long files.
        let encoded = writer.inner_mut();
        if !encoded.is_empty() {
            self.object.write_all(encoded).await.map_err(|e| upload_error("uploading a Parquet file", e))?;
            encoded.clear();
        }
        Ok(())
    }

    /// Writes the last row group and the footer and completes the upload; returns the file's
    /// size.
    pub async fn finish(mut self) -> Result<u64> {
        self.write_batch().await?;
        let writer = self.writer_back().await?;
        self.start(writer, |w| w.finish().map(|_| ()));
        let writer = self.writer_back().await?;
        self.object.shutdown().await.map_err(|e| upload_error("completing a Parquet upload", e))?;
        Ok(writer.bytes_written() as u64)
    }
}

fn encoder_failed(e: tokio::task::JoinError) -> Error {
    Error::Parquet(ParquetError::General(format!("the Parquet encoder stopped: {e}")))
}

/// The Parquet schema Arrow would choose, except that every decimal is a
/// FIXED_LEN_BYTE_ARRAY of the smallest width for its precision, as DMS writes them (Arrow
/// picks INT32/INT64 for small precisions).
fn dms_parquet_schema(schema: &Schema) -> Result<SchemaDescriptor> {
    let arrow_choice = ArrowSchemaConverter::new().convert(schema)?;
    let root = arrow_choice.root_schema();
    let mut fields = Vec::with_capacity(root.get_fields().len());
    for field in root.get_fields() {
        let info = field.get_basic_info();
        let decimal = match info.logical_type_ref() {
            Some(LogicalType::Decimal(d)) if field.get_physical_type() != PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                Some((d.scale, d.precision))
            }
            _ => None,
        };
        fields.push(match decimal {
            Some((scale, precision)) => Arc::new(
                Type::primitive_type_builder(field.name(), PhysicalType::FIXED_LEN_BYTE_ARRAY)
                    .with_repetition(info.repetition())
                    .with_length(decimal_bytes(precision as u32) as i32)
                    .with_logical_type(Some(LogicalType::Decimal(DecimalType { scale, precision })))
                    .with_precision(precision)
                    .with_scale(scale)
                    .build()?,
            ),
            None => field.clone(),
        });
    }
    let group = Type::group_type_builder(root.name()).with_fields(fields).build()?;
    Ok(SchemaDescriptor::new(Arc::new(group)))
}

/// An Arrow builder for one column, filled from cells.
pub(crate) enum ColumnBuilder {
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
    Millis(TimestampMillisecondBuilder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
}

impl ColumnBuilder {
    pub(crate) fn new(ty: &DataType) -> Self {
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
            DataType::Decimal128(p, s) => {
                Self::Decimal(Decimal128Builder::new().with_precision_and_scale(*p, *s).expect("valid decimal type"), *p, *s)
            }
            DataType::Date32 => Self::Date(Date32Builder::new()),
            DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                Self::Millis(TimestampMillisecondBuilder::new().with_timezone_opt(tz.clone()))
            }
            DataType::Timestamp(_, tz) => Self::Micros(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone())),
            DataType::Binary => Self::Binary(BinaryBuilder::new()),
            _ => Self::Utf8(StringBuilder::new()),
        }
    }

    /// Appends a cell and returns roughly how many bytes it adds. A cell of the wrong kind for
    /// the column is an error, never a guess.
    pub(crate) fn append(&mut self, cell: &Cell) -> Result<usize, String> {
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
            // ParquetTimestampInMillisecond: whole milliseconds, rounded down like DMS.
            Self::Millis(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Micros(us) => b.append_value(us.div_euclid(1000)),
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

    /// The column's values so far; the builder starts again with room for as many, so that
    /// the next batch's values are not copied and faulted in again and again as it grows.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        macro_rules! primitive {
            ($b:expr, $t:ty) => {{
                let array = $b.finish();
                *$b = <$t>::with_capacity(array.len()).with_data_type(array.data_type().clone());
                Arc::new(array)
            }};
        }
        macro_rules! bytes {
            ($b:expr, $t:ty) => {{
                let array = $b.finish();
                *$b = <$t>::with_capacity(array.len(), array.value_data().len().min(MAX_REUSED_BYTES));
                Arc::new(array)
            }};
        }
        match self {
            Self::Bool(b) => {
                let array = b.finish();
                *b = BooleanBuilder::with_capacity(array.len());
                Arc::new(array)
            }
            Self::I8(b) => primitive!(b, Int8Builder),
            Self::I16(b) => primitive!(b, Int16Builder),
            Self::I32(b) => primitive!(b, Int32Builder),
            Self::I64(b) => primitive!(b, Int64Builder),
            Self::U8(b) => primitive!(b, UInt8Builder),
            Self::U16(b) => primitive!(b, UInt16Builder),
            Self::U32(b) => primitive!(b, UInt32Builder),
            Self::U64(b) => primitive!(b, UInt64Builder),
            Self::F32(b) => primitive!(b, Float32Builder),
            Self::F64(b) => primitive!(b, Float64Builder),
            Self::Decimal(b, ..) => primitive!(b, Decimal128Builder),
            Self::Date(b) => primitive!(b, Date32Builder),
            Self::Micros(b) => primitive!(b, TimestampMicrosecondBuilder),
            Self::Millis(b) => primitive!(b, TimestampMillisecondBuilder),
            Self::Utf8(b) => bytes!(b, StringBuilder),
            Self::Binary(b) => bytes!(b, BinaryBuilder),
        }
    }
}

/// The most value bytes a builder keeps room for between batches: a batch of a few large
/// values must not keep their size reserved.
const MAX_REUSED_BYTES: usize = 1 << 20;

/// The fewest bytes whose two's complement holds every value of `precision` digits.
fn decimal_bytes(precision: u32) -> u32 {
    (1..=32).find(|n| (8 * n - 1) as f64 * 2f64.log10() >= precision as f64).unwrap_or(32)
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
    fn decimal_widths_are_the_smallest() {
        // The Parquet specification's table: 1-2 digits need 1 byte, 38 digits 16.
        let widths: Vec<u32> = [1, 2, 3, 4, 9, 10, 18, 19, 38].iter().map(|p| super::decimal_bytes(*p)).collect();
        assert_eq!(widths, vec![1, 1, 2, 2, 4, 5, 8, 9, 16]);
    }

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
