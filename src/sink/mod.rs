//! Where rows go: the target object store, DMS key layout, and the files themselves (Parquet
//! or CSV, shaped by the DMS S3 settings).

pub(crate) mod csv;
pub(crate) mod layout;
pub(crate) mod parquet;
pub mod settings;
pub(crate) mod target;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use object_store::buffered::BufWriter;

use self::csv::CsvEncoder;
use self::parquet::ParquetEncoder;
use self::settings::{Codec, DataFormat, S3Settings};
use self::target::Target;
use crate::change::Op;
use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::TableSchema;
use crate::value::Cell;

/// The columns before the source columns: DMS's `Op` and timestamp column, then binlake's
/// optional sequence column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefix {
    pub op: bool,
    pub timestamp: Option<String>,
    pub sequence: Option<String>,
}

impl Prefix {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.op.then_some("Op").into_iter().chain(self.timestamp.as_deref()).chain(self.sequence.as_deref())
    }

    /// The prefix column values of one row, in the order of [`Prefix::names`].
    pub fn values<'a>(&self, meta: &RowMeta<'a>) -> impl Iterator<Item = &'a str> + use<'a> {
        [self.op.then_some(meta.op.code()), self.timestamp.as_ref().map(|_| meta.timestamp), self.sequence.as_ref().map(|_| meta.sequence)]
            .into_iter()
            .flatten()
    }

    /// The Arrow schema of a file: the prefix columns (required strings, as in DMS's files),
    /// then the source columns in table order, all optional.
    pub fn arrow_schema(&self, table: &TableSchema, timestamp_millis: bool) -> Arc<Schema> {
        let mut fields: Vec<Field> = self.names().map(|n| Field::new(n, DataType::Utf8, false)).collect();
        fields.extend(table.columns.iter().map(|c| {
            let ty = match c.arrow_type() {
                DataType::Timestamp(_, tz) if timestamp_millis => DataType::Timestamp(TimeUnit::Millisecond, tz),
                other => other,
            };
            Field::new(&c.name, ty, true)
        }));
        Arc::new(Schema::new(fields))
    }
}

/// The prefix column values of one row.
#[derive(Debug, Clone, Copy)]
pub struct RowMeta<'a> {
    pub op: Op,
    /// DMS's timestamp column text, `yyyy-MM-dd HH:mm:ss.SSSSSS`.
    pub timestamp: &'a str,
    pub sequence: &'a str,
    /// Where the row is in the binlog (a LOAD row: the snapshot's position), for errors.
    pub position: &'a BinlogPos,
}

/// An upload failure seen through the writers' `AsyncWrite`: a target error, so that
/// transient ones (S3 5xx, timeouts) are retried and definite ones (no bucket, access denied)
/// keep their kind.
pub(crate) fn upload_error(context: &str, e: std::io::Error) -> Error {
    let cause = match e.into_inner() {
        Some(inner) => match inner.downcast::<object_store::Error>() {
            Ok(store) => *store,
            Err(other) => object_store::Error::Generic { store: "target", source: other },
        },
        None => object_store::Error::Generic { store: "target", source: "I/O error".into() },
    };
    Error::target(context, cause)
}

/// What one open file may hold in memory: rows waiting to be encoded (one batch filling, one
/// being encoded), the open row group, and encoded bytes on their way to the target (parts of
/// a multipart upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMemory {
    pub batch_bytes: usize,
    pub row_group_bytes: usize,
    pub upload_part_bytes: usize,
    pub upload_parts: usize,
}

impl FileMemory {
    /// The most each buffer holds: a file alone gets room to encode and upload at full speed.
    pub const DEFAULT: FileMemory =
        FileMemory { batch_bytes: 8 << 20, row_group_bytes: 64 << 20, upload_part_bytes: 10 << 20, upload_parts: 8 };
    /// S3's smallest part of a multipart upload (but the last).
    const SMALLEST_PART: usize = 5 << 20;

    /// Buffers that together hold about `bytes` at most (never less than one smallest upload
    /// part, a 1 MB batch and a 4 MB row group: about 15 MB).
    pub fn within(bytes: usize) -> FileMemory {
        let d = FileMemory::DEFAULT;
        let batch_bytes = (bytes / 8).clamp(1 << 20, d.batch_bytes);
        let upload_part_bytes = (bytes / 8).clamp(Self::SMALLEST_PART, d.upload_part_bytes);
        let upload_parts = (bytes / 4 / upload_part_bytes).clamp(1, d.upload_parts);
        let rest = bytes.saturating_sub(2 * batch_bytes + upload_parts * upload_part_bytes);
        FileMemory { batch_bytes, row_group_bytes: rest.clamp(4 << 20, d.row_group_bytes), upload_part_bytes, upload_parts }
    }

    /// The most these buffers hold together.
    pub fn bytes(&self) -> usize {
        2 * self.batch_bytes + self.row_group_bytes + self.upload_parts * self.upload_part_bytes
    }
}

/// One file being written to the target, in the configured format.
pub struct FileWriter {
    pub key: String,
    /// The table's name, for errors.
    table: String,
    rows: u64,
    encoder: Encoder,
}

enum Encoder {
    Parquet(ParquetEncoder),
    Csv(CsvEncoder),
}

#[derive(Debug, Clone, Copy)]
pub struct FileStats {
    pub rows: u64,
    pub bytes: u64,
}

impl FileWriter {
    pub fn create(
        target: &Target,
        key: &str,
        table: &TableSchema,
        prefix: &Prefix,
        settings: &S3Settings,
        memory: FileMemory,
    ) -> Result<Self> {
        let object =
            BufWriter::with_capacity(target.store.clone(), key.into(), memory.upload_part_bytes).with_max_concurrency(memory.upload_parts);
        let encoder = match settings.data_format {
            DataFormat::Parquet => {
                let schema = prefix.arrow_schema(table, settings.parquet.timestamp_millis);
                let large = table.columns.iter().filter(|c| c.large).map(|c| c.name.as_str());
                Encoder::Parquet(ParquetEncoder::new(object, schema, prefix, large, settings, memory)?)
            }
            DataFormat::Csv => {
                Encoder::Csv(CsvEncoder::new(object, &table.columns, prefix, &settings.csv, settings.compression == Codec::Gzip))
            }
        };
        Ok(Self { key: key.to_string(), table: table.id.to_string(), rows: 0, encoder })
    }

    pub async fn append(&mut self, meta: &RowMeta<'_>, row: Vec<Cell>) -> Result<()> {
        match &mut self.encoder {
            Encoder::Parquet(p) => {
                let encode_error = |column: &str, detail| Error::Encode {
                    table: self.table.clone(),
                    position: meta.position.clone(),
                    file: self.key.clone(),
                    detail: format!("column {column}: {detail}"),
                };
                p.append(meta, row, encode_error).await?
            }
            Encoder::Csv(c) => c.append(meta, &row).await?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Bytes this file will roughly have once finished.
    pub fn size(&self) -> u64 {
        match &self.encoder {
            Encoder::Parquet(p) => p.size(),
            Encoder::Csv(c) => c.size(),
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Completes the file: the object is durable when this returns.
    pub async fn finish(self) -> Result<FileStats> {
        let bytes = match self.encoder {
            Encoder::Parquet(p) => p.finish().await?,
            Encoder::Csv(c) => c.finish().await?,
        };
        Ok(FileStats { rows: self.rows, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_keeps_within_its_memory_share() {
        assert_eq!(FileMemory::within(usize::MAX), FileMemory::DEFAULT);
        for mb in [16, 32, 64, 128, 256] {
            let memory = FileMemory::within(mb << 20);
            assert!(memory.bytes() <= mb << 20, "{mb} MB: {memory:?}");
            assert!(memory.upload_part_bytes >= 5 << 20);
        }
        assert_eq!(FileMemory::within(64 << 20).row_group_bytes, 32 << 20);
    }

    #[test]
    fn upload_errors_keep_their_kind() {
        let missing = object_store::Error::NotFound { path: "b/k".into(), source: "no such bucket".into() };
        assert!(!upload_error("uploading", missing.into()).is_transient());
        let flaky = object_store::Error::Generic { store: "S3", source: "503 Slow Down".into() };
        assert!(upload_error("uploading", flaky.into()).is_transient());
    }
}
