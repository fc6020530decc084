//! The merger's input: LOAD and CDC files of one table (Parquet or CSV), in the order their
//! changes happened, and the row changes inside them. binlake's own files come from its state store's manifest
//! (committed files only, in commit order); a folder written by AWS DMS is listed (LOAD files
//! by number, then CDC files by their time-stamped names).

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::change::Op;
use crate::error::{Error, Result};
use crate::merge::apply::Key;
use crate::merge::cells::from_arrow;
use crate::merge::csv::{self, CsvReader};
use crate::merge::reader;
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::sink::Prefix;
use crate::sink::layout;
use crate::sink::settings::S3Settings;
use crate::sink::target::Target;
use crate::state::{FileKind, KeyMove, StateStore, Store};
use crate::value::{Cell, parse_datetime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Load,
    Cdc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub key: String,
    pub kind: Kind,
    /// Sorts like the changes the file holds; progress is kept as the last merged `order`.
    pub order: String,
    /// Which full load a LOAD file belongs to (binlake's: its snapshot position and commit
    /// time; a DMS folder's LOAD files are one full load).
    pub load_of: Option<String>,
    /// binlake's files: the binlog position the file is complete up to.
    pub position: Option<BinlogPos>,
}

/// Where a table's files are found, and how they are written.
pub struct Inputs {
    pub target: Target,
    /// The DMS settings the files were written with (format, CSV options, extra columns).
    pub settings: S3Settings,
    /// binlake's optional sequence column, after the DMS columns.
    pub sequence_column: Option<String>,
    pub listing: Listing,
}

pub enum Listing {
    /// The files binlake committed, listed by its state store.
    Manifest(Store),
    /// Whatever LOAD and CDC files a DMS-layout folder holds.
    Folder,
}

impl Inputs {
    /// The files of `table` after `after` (an `order`), in order.
    pub async fn files(&self, table: &TableId, after: Option<&str>) -> Result<Vec<InputFile>> {
        let mut files = match &self.listing {
            Listing::Manifest(store) => store
                .committed_files(table)
                .await?
                .into_iter()
                .map(|f| {
                    let kind = match f.kind {
                        FileKind::Load => Kind::Load,
                        FileKind::Cdc => Kind::Cdc,
                    };
                    // A full load's generation; files of releases before chunked loads have
                    // none: two of those full loads may share a snapshot position (nothing
                    // written between them), never a commit.
                    let load_of = (kind == Kind::Load).then(|| match f.load_generation {
                        Some(generation) => format!("load {generation}"),
                        None => {
                            let at = f.last_position.as_ref().map(|p| p.to_string()).unwrap_or_default();
                            format!("{at}@{}", f.committed_at.as_deref().unwrap_or(""))
                        }
                    });
                    InputFile { key: f.key, kind, order: format!("{:016}", f.sequence), load_of, position: f.last_position }
                })
                .collect(),
            Listing::Folder => {
                let folder = self.target.path(&layout::table_folder(table));
                let objects: Vec<_> =
                    self.target.store.list(Some(&folder)).try_collect().await.map_err(|e| Error::target(format!("listing {folder}"), e))?;
                objects.into_iter().filter_map(|o| classify(o.location.as_ref())).collect::<Vec<_>>()
            }
        };
        files.retain(|f| after.is_none_or(|a| f.order.as_str() > a));
        files.sort_by(|a, b| a.order.cmp(&b.order));
        Ok(files)
    }

    /// The old keys of the rows of a file that changed their primary key, by row number
    /// (known for binlake's own files only: DMS's files carry the new key alone).
    pub async fn key_moves(&self, file: &InputFile) -> Result<std::collections::HashMap<u64, Key>> {
        let Listing::Manifest(store) = &self.listing else { return Ok(Default::default()) };
        let mut moves = std::collections::HashMap::new();
        for KeyMove { row, old_key: json } in store.key_moves(&file.key).await? {
            let cells: Vec<Cell> = serde_json::from_str(&json)
                .map_err(|e| Error::Read { key: file.key.clone(), detail: format!("the state store's old key of row {row}: {e}") })?;
            moves.insert(row, Key(cells));
        }
        Ok(moves)
    }

    /// The row changes of one file, in file order, a chunk at a time. `renames` are the
    /// table's column renames (old, new) in order: a file from before a rename has the column
    /// under its old name.
    pub async fn read(&self, file: &InputFile, schema: &Arc<TableSchema>, renames: &[(String, String)]) -> Result<FileRows> {
        let location = Path::from(file.key.as_str());
        let load = file.kind == Kind::Load;
        let bad = |detail: String| Error::Read { key: file.key.clone(), detail };
        let format = if file.key.ends_with(".parquet") {
            let stream = reader::open(self.target.store.clone(), location, CHUNK_ROWS)
                .await
                .and_then(|b| b.build())
                .map_err(|e| read_error(&file.key, e))?;
            Format::Parquet(stream)
        } else {
            let object = self.target.store.get(&location).await.map_err(|e| Error::target(format!("reading {}", file.key), e))?;
            let mut csv = CsvReader::new(object.into_stream(), file.key.ends_with(".gz"), self.settings.csv.clone());
            let names = if self.settings.csv.header {
                csv.next_record().await.map_err(bad)?.unwrap_or_default().into_iter().map(Option::unwrap_or_default).collect()
            } else {
                // Without a header, the columns are DMS's, then the table's as they are now.
                let prefix = Prefix {
                    op: self.settings.has_op(!load),
                    timestamp: self.settings.timestamp_column.clone(),
                    sequence: self.sequence_column.clone(),
                };
                prefix.names().map(str::to_string).chain(schema.columns.iter().map(|c| c.name.clone())).collect()
            };
            Format::Csv { reader: Box::new(csv), names }
        };
        let names = schema
            .columns
            .iter()
            .map(|c| {
                let mut names = vec![c.name.clone()];
                for (old, new) in renames.iter().rev() {
                    if names.last() == Some(new) {
                        names.push(old.clone());
                    }
                }
                names
            })
            .collect();
        Ok(FileRows {
            format,
            timestamp_column: self.settings.timestamp_column.clone(),
            names,
            schema: schema.clone(),
            key: file.key.clone(),
            load,
        })
    }
}

/// Rows read per chunk.
const CHUNK_ROWS: usize = 8192;

/// `.../LOAD00000001.parquet` or `.../20261123-101502123.parquet` (in date folders or not).
fn classify(key: &str) -> Option<InputFile> {
    let name = key.rsplit('/').next()?;
    let stem = name.split('.').next()?;
    if let Some(number) = stem.strip_prefix("LOAD")
        && number.len() == 8
        && number.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Some(InputFile {
            key: key.to_string(),
            kind: Kind::Load,
            order: format!("0/{number}/{key}"),
            load_of: None,
            position: None,
        });
    }
    let is_cdc = stem.len() == 18 && stem.char_indices().all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() });
    is_cdc.then(|| InputFile { key: key.to_string(), kind: Kind::Cdc, order: format!("1/{stem}/{key}"), load_of: None, position: None })
}

/// One row of an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    pub op: Op,
    /// The row in the table's column order.
    pub row: Vec<Cell>,
    /// The row's time from the files' timestamp column (`TimestampColumnName`: the commit time
    /// of a CDC row, the transfer time of a LOAD row), in µs, when the files have one.
    pub at: Option<i64>,
}

/// The rows of one input file.
pub struct FileRows {
    format: Format,
    timestamp_column: Option<String>,
    /// Each column's name, then the names it had before renames, newest first.
    names: Vec<Vec<String>>,
    schema: Arc<TableSchema>,
    key: String,
    load: bool,
}

enum Format {
    Parquet(reader::Batches),
    /// With the column name of each field.
    Csv {
        reader: Box<CsvReader>,
        names: Vec<String>,
    },
}

impl FileRows {
    /// The next rows: each change's operation and its row in the table's column order. A
    /// column missing from the file (written before the column was added) takes the column's
    /// default; columns the table no longer has are ignored.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<RowChange>>> {
        let bad = |detail: String| Error::Read { key: self.key.clone(), detail };
        let op_of = |text: &str, i: usize| match text {
            "I" => Ok(Op::Insert),
            "U" => Ok(Op::Update),
            "D" => Ok(Op::Delete),
            other => Err(bad(format!("row {i} has Op {other:?}, not I, U or D"))),
        };
        let time_of = |text: Option<&str>, i: usize| match text {
            None => Ok(None),
            Some(t) => {
                parse_datetime(t).map(Some).ok_or_else(|| bad(format!("row {i} has the time {t:?}, not yyyy-MM-dd HH:mm:ss.SSSSSS")))
            }
        };
        let no_op = || bad("a CDC file without an Op column (CdcInsertsOnly files cannot be merged: they carry no deletes)".into());
        match &mut self.format {
            Format::Parquet(stream) => {
                let Some(batch) = stream.next().await else { return Ok(None) };
                let batch = batch.map_err(|e| read_error(&self.key, e))?;
                let n = batch.num_rows();
                let ops: Vec<Op> = match batch.column_by_name("Op") {
                    Some(ops) => {
                        let ops = arrow::compute::cast(ops, &arrow::datatypes::DataType::Utf8)?;
                        let ops = arrow::array::AsArray::as_string::<i32>(&ops);
                        (0..n).map(|i| op_of(ops.value(i), i)).collect::<Result<_>>()?
                    }
                    None if self.load => vec![Op::Insert; n],
                    None => return Err(no_op()),
                };
                let mut columns = Vec::with_capacity(self.schema.columns.len());
                for (column, names) in self.schema.columns.iter().zip(&self.names) {
                    columns.push(match names.iter().find_map(|name| batch.column_by_name(name)) {
                        Some(array) => from_arrow(column, array).map_err(bad)?,
                        // A file from before the column was added: its rows had the default.
                        None => vec![csv::cell(column, &column.default).map_err(bad)?; n],
                    });
                }
                let times = match self.timestamp_column.as_deref().and_then(|name| batch.column_by_name(name)) {
                    Some(times) => Some(arrow::compute::cast(times, &arrow::datatypes::DataType::Utf8)?),
                    None => None,
                };
                let times = times.as_ref().map(arrow::array::AsArray::as_string::<i32>);
                let mut rows = Vec::with_capacity(n);
                for (i, op) in ops.into_iter().enumerate() {
                    let at = time_of(times.map(|t| t.value(i)), i)?;
                    rows.push(RowChange { op, row: columns.iter_mut().map(|c| std::mem::replace(&mut c[i], Cell::Null)).collect(), at });
                }
                Ok(Some(rows))
            }
            Format::Csv { reader, names } => {
                let position = |name: &str| names.iter().position(|n| n == name);
                let op_at = position("Op");
                let time_at = self.timestamp_column.as_deref().and_then(position);
                if op_at.is_none() && !self.load {
                    return Err(no_op());
                }
                let at: Vec<Option<usize>> = self.names.iter().map(|names| names.iter().find_map(|n| position(n))).collect();
                let mut rows = Vec::new();
                while rows.len() < CHUNK_ROWS {
                    let Some(record) = reader.next_record().await.map_err(bad)? else { break };
                    if record.len() != names.len() {
                        return Err(bad(format!("a record has {} fields, expected {} ({})", record.len(), names.len(), names.join(","))));
                    }
                    let op = match op_at {
                        Some(i) => op_of(record[i].as_deref().unwrap_or(""), rows.len())?,
                        None => Op::Insert,
                    };
                    let row = self
                        .schema
                        .columns
                        .iter()
                        .zip(&at)
                        .map(|(c, i)| csv::cell(c, i.map_or(&c.default, |i| &record[i])))
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(bad)?;
                    let at = time_of(time_at.and_then(|i| record[i].as_deref()), rows.len())?;
                    rows.push(RowChange { op, row, at });
                }
                Ok((!rows.is_empty()).then_some(rows))
            }
        }
    }
}

/// A Parquet input that cannot be read: the target's error when the store failed (retried),
/// else the file's.
fn read_error(key: &str, e: parquet::errors::ParquetError) -> Error {
    match crate::error::object_store_cause(e) {
        Ok(cause) => Error::target(format!("reading {key}"), cause),
        Err(e) => Error::Read { key: key.to_string(), detail: format!("reading it as Parquet: {e}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dms_names_sort_loads_first_then_changes_by_time() {
        let keys = [
            "dms/shop/orders/2026/11/23/20261123-101502123.parquet",
            "dms/shop/orders/LOAD0000000A.parquet",
            "dms/shop/orders/LOAD00000002.csv",
            "dms/shop/orders/2026/11/22/20261122-235959999.parquet",
            "dms/shop/orders/notes.txt",
        ];
        let mut files: Vec<InputFile> = keys.iter().filter_map(|k| classify(k)).collect();
        files.sort_by(|a, b| a.order.cmp(&b.order));
        let names: Vec<&str> = files.iter().map(|f| f.key.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, vec!["LOAD00000002.csv", "LOAD0000000A.parquet", "20261122-235959999.parquet", "20261123-101502123.parquet"]);
        assert_eq!(files[0].kind, Kind::Load);
        assert_eq!(files[3].kind, Kind::Cdc);
    }
}
