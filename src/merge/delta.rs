//! One merged table: a Delta Lake table at `<lake>/<database>/<table>/` holding the current
//! rows of a source table, its data files clustered by primary-key range. Every change to it
//! is one Delta commit (removes of the rewritten files, adds of their replacements, and an
//! application transaction numbering the merge), so readers always see a whole merge or none.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoArrow;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, DataType, Remove, StructField, StructType, Transaction};
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
    object_store_factories,
};
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::StreamExt;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;
use parquet::file::properties::WriterProperties;
use tracing::info;
use url::Url;

use crate::error::{Error, Result};
use crate::merge::apply::{self, ChangeSet, FileRange, Final, Group, Key, merge_sorted, plan};
use crate::merge::cells::{delta_field, from_arrow, to_lake};
use crate::merge::csv;
use crate::merge::history::{self, HistoryChanges, Timed};
use crate::merge::reader;
use crate::schema::{TableId, TableSchema};
use crate::sink::parquet::ColumnBuilder;
use crate::sink::settings::S3Settings;
use crate::sink::target::Target;
use crate::value::Cell;

/// The application id of binlake's transaction actions: the version is the number of the
/// last merge committed to the table.
const APP_ID: &str = "binlake";
/// Table properties naming the source table and its primary key.
const SOURCE_PROPERTY: &str = "binlake.source";
const KEY_PROPERTY: &str = "binlake.primaryKey";
/// Rows per batch when reading and writing data files.
const BATCH_ROWS: usize = 8192;

/// Where merged tables live: `s3://bucket/prefix` or a local directory.
#[derive(Clone)]
pub struct Lake {
    root: Arc<dyn ObjectStore>,
    base: Url,
    pub display: String,
}

impl Lake {
    pub fn open(url: &str) -> Result<Self> {
        if url.starts_with("s3://") {
            register_s3();
            let root = s3_bucket(url)?;
            let base = Url::parse(&format!("{}/", url.trim_end_matches('/'))).map_err(|e| Error::Config(format!("lake {url}: {e}")))?;
            return Ok(Self { root, base, display: url.to_string() });
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        if dir.contains("://") {
            return Err(Error::Config(format!("lake {url:?}: use s3://bucket/prefix, file:///path or a directory")));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::Config(format!("lake directory {dir}: {e}")))?;
        let abs = std::fs::canonicalize(dir).map_err(|e| Error::Config(format!("lake directory {dir}: {e}")))?;
        let base = Url::from_directory_path(&abs).map_err(|_| Error::Config(format!("lake directory {}", abs.display())))?;
        Ok(Self { root: Arc::new(object_store::local::LocalFileSystem::new()), base, display: abs.display().to_string() })
    }

    pub fn table_url(&self, id: &TableId) -> Url {
        // Url::join percent-encodes what needs it.
        self.base.join(&format!("{}/{}/", id.database, id.table)).expect("a relative path")
    }

    /// Opens the merged table of `schema`, creating it when it does not exist yet. `path` is
    /// the way the source's schema came to `schema`, as far as binlake's schema history knows
    /// it: the merged table's columns follow its renames with their values.
    pub async fn table(&self, schema: Arc<TableSchema>, target_file_bytes: u64, path: &SchemaPath) -> Result<MergedTable> {
        Ok(self.open_table(schema, target_file_bytes, true, path).await?.expect("created when missing"))
    }

    /// Opens the merged table of `schema` if there is one.
    pub async fn existing_table(&self, schema: Arc<TableSchema>) -> Result<Option<MergedTable>> {
        self.open_table(schema, 0, false, &[]).await
    }

    async fn open_table(
        &self,
        schema: Arc<TableSchema>,
        target_file_bytes: u64,
        create: bool,
        path: &SchemaPath,
    ) -> Result<Option<MergedTable>> {
        let url = self.table_url(&schema.id);
        let lake_err = |what: &str| {
            let context = format!("{what} {url}");
            move |cause| Error::Lake { context, cause }
        };
        let mut table = DeltaTableBuilder::from_url(url.clone())
            .map_err(lake_err("opening"))?
            .with_storage_backend(self.root.clone(), url.clone())
            .build()
            .map_err(lake_err("opening"))?;
        // Asked first: loading a location without a log logs an error of its own.
        let exists = !url.to_file_path().is_ok_and(|dir| !dir.exists())
            && table.log_store().is_delta_table_location().await.map_err(lake_err("opening"))?;
        let loaded = if exists { Some(table.load().await) } else { None };
        match loaded {
            Some(Ok(())) => {}
            None if !create => return Ok(None),
            None => {
                if let Ok(dir) = url.to_file_path() {
                    std::fs::create_dir_all(&dir).map_err(|e| Error::Config(format!("lake directory {}: {e}", dir.display())))?;
                }
                table = table
                    .create()
                    .with_table_name(schema.id.table.clone())
                    .with_comment(format!("current rows of {}, merged by binlake", schema.id))
                    .with_columns(schema.columns.iter().map(delta_field))
                    .with_configuration(table_properties(&schema))
                    .with_raise_if_key_not_exists(false)
                    .await
                    .map_err(lake_err("creating"))?;
                info!(table = %schema.id, lake = %url, "created the merged table.");
            }
            Some(Err(e)) => return Err(lake_err("reading the log of")(e)),
        }
        let mut merged =
            MergedTable { schema, table, url, arrow: Arc::new(arrow::datatypes::Schema::empty()), files: Vec::new(), target_file_bytes };
        merged.follow_schema(create, path).await?;
        merged.scan_files().await?;
        Ok(Some(merged))
    }
}

/// The column names of one of a table's successive schemas, with the column renames (old,
/// new) that led to it.
pub type SchemaStep = (Vec<String>, Vec<(String, String)>);
pub type SchemaPath = [SchemaStep];

/// The table properties naming the source table and its primary key.
fn table_properties(schema: &TableSchema) -> HashMap<String, Option<String>> {
    [(SOURCE_PROPERTY.to_string(), Some(schema.id.to_string())), (KEY_PROPERTY.to_string(), Some(schema.key_names().join(",")))].into()
}

/// Whether every value of a Delta type is exactly a value of another.
fn widens(from: &DataType, to: &DataType) -> bool {
    use deltalake_core::kernel::PrimitiveType as P;
    let rank = |t: &DataType| match t {
        DataType::Primitive(P::Byte) => Some(1),
        DataType::Primitive(P::Short) => Some(2),
        DataType::Primitive(P::Integer) => Some(3),
        DataType::Primitive(P::Long) => Some(4),
        _ => None,
    };
    match (from, to) {
        _ if from == to => true,
        (DataType::Primitive(P::Float), DataType::Primitive(P::Double)) => true,
        (DataType::Primitive(P::Decimal(a)), DataType::Primitive(P::Decimal(b))) => {
            b.scale() >= a.scale() && b.precision() - b.scale() >= a.precision() - a.scale()
        }
        // A long fits DECIMAL(20,0) (BIGINT to BIGINT UNSIGNED keeps non-negative values only,
        // and the cast fails loudly on a negative one).
        (_, DataType::Primitive(P::Decimal(b))) if rank(from).is_some() => b.precision() - b.scale() >= 19,
        _ => matches!((rank(from), rank(to)), (Some(a), Some(b)) if a <= b),
    }
}

/// `s3://` tables through binlake's own S3 client (the AWS_* variables, as for the target):
/// commits use S3's conditional writes (put-if-absent), so no lock table is needed.
fn register_s3() {
    struct S3;
    impl LogStoreFactory for S3 {
        fn with_options(
            &self,
            prefixed: ObjectStoreRef,
            root: ObjectStoreRef,
            location: &Url,
            options: &StorageConfig,
        ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
            Ok(default_logstore(prefixed, root, location, options))
        }
    }
    impl ObjectStoreFactory for S3 {
        fn parse_url_opts(&self, url: &Url, _: &StorageConfig) -> deltalake_core::DeltaResult<(ObjectStoreRef, object_store::path::Path)> {
            let bucket = url.host_str().unwrap_or_default();
            let store = s3_bucket(&format!("s3://{bucket}")).map_err(|e| DeltaTableError::Generic(e.to_string()))?;
            Ok((store, object_store::path::Path::from(url.path())))
        }
    }
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let scheme = Url::parse("s3://").expect("a URL");
        logstore_factories().insert(scheme.clone(), Arc::new(S3));
        object_store_factories().insert(scheme, Arc::new(S3));
    });
}

/// The bucket of an `s3://` URL, with binlake's S3 client settings.
fn s3_bucket(url: &str) -> Result<Arc<dyn ObjectStore>> {
    let (defaults, _) = S3Settings::resolve(&Default::default()).map_err(Error::Config)?;
    Ok(Target::open(url, &defaults)?.store)
}

/// A data file of the merged table and the key range it holds.
#[derive(Debug, Clone)]
struct DataFile {
    path: String,
    range: FileRange,
}

pub struct MergedTable {
    pub schema: Arc<TableSchema>,
    table: DeltaTable,
    url: Url,
    /// The Arrow schema of the data files (the Delta schema as Arrow types).
    arrow: SchemaRef,
    /// Ordered by the smallest key.
    files: Vec<DataFile>,
    target_file_bytes: u64,
}

/// What one commit did.
#[derive(Debug, Default, Clone, Copy)]
pub struct MergeStats {
    pub files_removed: usize,
    pub files_added: usize,
    pub rows_written: u64,
    pub version: i64,
}

impl MergedTable {
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Deletes the data files that merges removed more than `retention` ago, and files of
    /// merges that never committed (a crash between writing and committing) older than that.
    /// Returns how many files were deleted.
    pub async fn vacuum(&mut self, retention: std::time::Duration) -> Result<usize> {
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let (table, metrics) = self
            .table
            .clone()
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .await
            .map_err(|e| self.err("vacuuming", e))?;
        self.table = table;
        Ok(metrics.files_deleted.len())
    }

    /// The number of the last merge committed to the table (0 for none).
    pub async fn merge_number(&self) -> Result<i64> {
        let snapshot = self.snapshot()?;
        let log_store = self.table.log_store();
        let version = snapshot.transaction_version(log_store.as_ref(), APP_ID).await.map_err(|e| self.err("reading", e))?;
        Ok(version.unwrap_or(0))
    }

    fn snapshot(&self) -> Result<&deltalake_core::table::state::DeltaTableState> {
        self.table.snapshot().map_err(|e| self.err("reading", e))
    }

    fn err(&self, what: &str, cause: DeltaTableError) -> Error {
        Error::Lake { context: format!("{what} {}", self.url), cause }
    }

    /// Brings the merged table to the source's columns. A column added, dropped or renamed at
    /// the source, or widened (INT to BIGINT, DECIMAL(10,2) to DECIMAL(12,2)), rewrites every
    /// data file into the new schema in one commit (Delta's CREATE OR REPLACE, so readers see
    /// the old table or the new one); rows from before an added column get its default. A
    /// renamed column keeps its values when the rename is known (`path`, from binlake's
    /// schema history); a folder written by DMS tells none, and a rename there reads as a
    /// dropped and an added column. A change the existing values cannot follow exactly stops
    /// the merger with what to do.
    async fn follow_schema(&mut self, may_change: bool, path: &SchemaPath) -> Result<()> {
        let expected: Vec<StructField> = self.schema.columns.iter().map(delta_field).collect();
        let actual: Vec<StructField> = self.snapshot()?.schema().fields().cloned().collect();
        // The name each stored column has at the source now: the renames after the step of
        // the path the stored columns are at (a history table adds its validity columns).
        let mut now: Vec<String> = actual.iter().map(|a| a.name().clone()).collect();
        let source_columns: Vec<&String> = now.iter().filter(|n| ![history::START, history::END].contains(&n.as_str())).collect();
        let from = path.iter().rposition(|(names, _)| names.iter().collect::<Vec<_>>() == source_columns).map_or(0, |i| i + 1);
        // The renames of one statement happen at once (`RENAME a TO b, b TO a` swaps).
        for (_, renamed) in &path[from..] {
            for name in now.iter_mut() {
                if let Some((_, new)) = renamed.iter().find(|(old, _)| old == name) {
                    *name = new.clone();
                }
            }
        }
        let stored = |name: &str| now.iter().position(|n| n == name).map(|i| &actual[i]);
        let same = actual.len() == expected.len()
            && actual.iter().zip(&expected).all(|(a, e)| a.name() == e.name() && a.data_type() == e.data_type());
        if !same {
            let show = |f: &[StructField]| f.iter().map(|c| format!("{} {}", c.name(), c.data_type())).collect::<Vec<_>>().join(", ");
            let narrowing = expected.iter().find_map(|e| {
                let a = stored(e.name())?;
                (!widens(a.data_type(), e.data_type()))
                    .then(|| format!("column {} changed from {} to {}", e.name(), a.data_type(), e.data_type()))
            });
            if let Some(change) = narrowing.filter(|_| may_change) {
                return Err(Error::Config(format!(
                    "the merged table {} does not follow {} by itself: {change}, and following it could lose or alter stored values. Move the merged table away (or delete it) to rebuild it from the LOAD and CDC files, best after a new full load of the table",
                    self.url, self.schema.id
                )));
            }
            if !may_change {
                return Err(Error::Config(format!(
                    "the merged table {} has columns ({}) but {} has ({}); merge first (binlake follows schema changes when it merges)",
                    self.url,
                    show(&actual),
                    self.schema.id,
                    show(&expected)
                )));
            }
            // A column without a stored one is new: its rows get the default.
            let sources: Vec<Option<String>> = expected.iter().map(|e| stored(e.name()).map(|a| a.name().clone())).collect();
            self.rewrite_all(expected, &actual, &sources).await?;
        }
        let arrow: ArrowSchema = (&StructType::try_new(self.schema.columns.iter().map(delta_field))
            .map_err(|e| self.err("reading", e.into()))?)
            .try_into_arrow()
            .map_err(|e| self.err("reading", e.into()))?;
        self.arrow = Arc::new(arrow);
        Ok(())
    }

    /// Rewrites every data file into the schema `fields`, in one commit; each new column's
    /// values come from the stored column named in `sources` (or its default).
    async fn rewrite_all(&mut self, fields: Vec<StructField>, old: &[StructField], sources: &[Option<String>]) -> Result<()> {
        let arrow: ArrowSchema = (&StructType::try_new(fields.clone()).map_err(|e| self.err("evolving", e.into()))?)
            .try_into_arrow()
            .map_err(|e| self.err("evolving", e.into()))?;
        self.arrow = Arc::new(arrow);
        let defaults: Vec<Cell> = self
            .schema
            .columns
            .iter()
            .map(|c| csv::cell(c, &c.default).map_err(|detail| Error::Config(format!("the default of {}: {detail}", self.schema.id))))
            .collect::<Result<_>>()?;
        let paths: Vec<String> = self.snapshot()?.log_data().iter().map(|f| f.path().to_string()).collect();
        let mut out = FileSink::new(self);
        for path in &paths {
            let mut stream = self.read(path, false).await?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| self.read_err(path, e))?;
                let n = batch.num_rows();
                let mut columns = Vec::with_capacity(self.schema.columns.len());
                for ((column, default), source) in self.schema.columns.iter().zip(&defaults).zip(sources) {
                    columns.push(match source.as_deref().and_then(|s| batch.column_by_name(s)) {
                        Some(array) => from_arrow(column, array).map_err(|detail| Error::Read { key: self.url.to_string(), detail })?,
                        None => vec![default.clone(); n],
                    });
                }
                let rows: Vec<Vec<Cell>> =
                    (0..n).map(|r| columns.iter_mut().map(|c| std::mem::replace(&mut c[r], Cell::Null)).collect()).collect();
                let keys = rows.iter().map(|r| Key::of(r, &self.schema.primary_key)).collect();
                let batch = self.batch_of(rows.iter())?;
                out.write(self, batch, keys).await?;
                out.roll_if_full(self).await?;
            }
        }
        let written = out.finish(self).await?;
        let added: Vec<Action> = written.files.into_iter().map(|(a, _)| Action::Add(a)).collect();
        let was = old.iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", ");
        self.table = self
            .table
            .create()
            .with_save_mode(SaveMode::Overwrite)
            .with_table_name(self.schema.id.table.clone())
            .with_comment(format!("current rows of {}, merged by binlake", self.schema.id))
            .with_columns(fields)
            .with_configuration(table_properties(&self.schema))
            .with_raise_if_key_not_exists(false)
            .with_actions(added)
            .await
            .map_err(|e| self.err("evolving", e))?;
        info!(table = %self.schema.id, was = %was, rows = written.rows, "rewrote the merged table into the source's new columns.");
        Ok(())
    }

    /// Calls `each` with every row of the table, as cells of the source's column types.
    pub async fn for_each_row(&self, mut each: impl FnMut(&[Cell])) -> Result<()> {
        for file in &self.files {
            let mut stream = self.read(&file.path, false).await?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| self.read_err(&file.path, e))?;
                let mut columns = Vec::with_capacity(self.schema.columns.len());
                for (column, array) in self.schema.columns.iter().zip(batch.columns()) {
                    columns.push(from_arrow(column, array).map_err(|detail| Error::Read { key: self.url.to_string(), detail })?);
                }
                let mut row = Vec::with_capacity(columns.len());
                for r in 0..batch.num_rows() {
                    row.clear();
                    row.extend(columns.iter_mut().map(|c| std::mem::replace(&mut c[r], Cell::Null)));
                    each(&row);
                }
            }
        }
        Ok(())
    }

    /// Reads the key range of every data file (from its key columns).
    async fn scan_files(&mut self) -> Result<()> {
        let paths: Vec<(String, i64)> = self.snapshot()?.log_data().iter().map(|f| (f.path().to_string(), f.size())).collect();
        let mut files = Vec::with_capacity(paths.len());
        for (path, size) in paths {
            let mut min: Option<Key> = None;
            let mut max: Option<Key> = None;
            let mut stream = self.read(&path, true).await?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| self.read_err(&path, e))?;
                for key in self.keys(&batch, true)? {
                    if min.as_ref().is_none_or(|m| &key < m) {
                        min = Some(key.clone());
                    }
                    if max.as_ref().is_none_or(|m| &key > m) {
                        max = Some(key);
                    }
                }
            }
            if let (Some(min), Some(max)) = (min, max) {
                files.push(DataFile { path, range: FileRange { min, max, bytes: size as u64 } });
            }
        }
        files.sort_by(|a, b| a.range.min.cmp(&b.range.min));
        self.files = files;
        Ok(())
    }

    fn read_err(&self, path: &str, e: parquet::errors::ParquetError) -> Error {
        let key = format!("{}{path}", self.url);
        match crate::error::object_store_cause(e) {
            Ok(source) => Error::Lake { context: format!("reading {key}"), cause: DeltaTableError::ObjectStore { source } },
            Err(e) => Error::Read { key, detail: e.to_string() },
        }
    }

    /// Streams a data file; with `keys_only`, just its key columns.
    async fn read(&self, path: &str, keys_only: bool) -> Result<reader::Batches> {
        let location = object_store::path::Path::from_url_path(path).map_err(|e| Error::Config(format!("data file {path}: {e}")))?;
        let builder = reader::open(self.table.object_store(), location, BATCH_ROWS).await.map_err(|e| self.read_err(path, e))?;
        let builder = if keys_only {
            let mask = ProjectionMask::roots(builder.parquet_schema(), self.schema.primary_key.iter().copied());
            builder.with_projection(mask)
        } else {
            builder
        };
        builder.build().map_err(|e| self.read_err(path, e))
    }

    /// The key of every row of a batch of the data files (all columns, or only the key
    /// columns with `keys_only`).
    fn keys(&self, batch: &RecordBatch, keys_only: bool) -> Result<Vec<Key>> {
        let mut columns = Vec::with_capacity(self.schema.primary_key.len());
        for (n, &i) in self.schema.primary_key.iter().enumerate() {
            let array = batch.column(if keys_only { n } else { i });
            let column = &self.schema.columns[i];
            columns.push(from_arrow(column, array).map_err(|detail| Error::Read { key: self.url.to_string(), detail })?);
        }
        Ok((0..batch.num_rows()).map(|r| Key(columns.iter().map(|c| c[r].clone()).collect())).collect())
    }

    /// Applies `changes` in one commit numbered `merge`: rewrites the files holding changed
    /// keys (and small neighbours worth compacting), writes new rows beyond them to new files.
    pub async fn merge(&mut self, changes: &ChangeSet, merge: i64) -> Result<MergeStats> {
        let ranges: Vec<FileRange> = self.files.iter().map(|f| f.range.clone()).collect();
        let plan = plan(&ranges, changes, self.target_file_bytes);
        let mut out = FileSink::new(self);
        let mut removed = Vec::new();
        for group in &plan.groups {
            self.rewrite(group, changes, &mut out).await?;
            removed.extend(group.files.iter().copied());
        }
        // Rows no group owns go to new files of their own.
        let rest: Vec<(&Key, &Vec<Cell>)> = changes
            .iter()
            .filter_map(|(k, f)| match f {
                Final::Row(row) if !plan.groups.iter().any(|g| g.owns(k)) => Some((k, row)),
                _ => None,
            })
            .collect();
        for chunk in rest.chunks(BATCH_ROWS) {
            let batch = self.batch_of(chunk.iter().map(|(_, r)| *r))?;
            out.write(self, batch, chunk.iter().map(|(k, _)| (*k).clone()).collect()).await?;
            out.roll_if_full(self).await?;
        }
        let added = out.finish(self).await?;
        self.commit(
            &removed,
            added,
            merge,
            DeltaOperation::Merge {
                predicate: None,
                merge_predicate: Some("primary key".into()),
                matched_predicates: vec![],
                not_matched_predicates: vec![],
                not_matched_by_source_predicates: vec![],
            },
        )
        .await
    }

    /// Applies timed changes to a history table (see [`crate::merge::history`]) in one commit
    /// numbered `merge`: the files holding versions of changed keys are rewritten with each
    /// key's versions recomputed; keys new to the table go with their neighbours or to new
    /// files.
    pub async fn merge_history(&mut self, changes: &HistoryChanges, merge: i64) -> Result<MergeStats> {
        let width = self.schema.primary_key.len() - 1;
        let ranges: Vec<FileRange> = self.files.iter().map(|f| f.range.clone()).collect();
        let touched = ranges.iter().map(|f| changes.range(&f.min.prefix(width), &f.max.prefix(width)).next().is_some()).collect();
        let plan = apply::group(&ranges, touched, self.target_file_bytes);
        let owner = |key: &Key, g: &Group| {
            g.lo.as_ref().is_none_or(|lo| lo.prefix(width) <= *key) && g.hi.as_ref().is_none_or(|hi| *key < hi.prefix(width))
        };
        let mut out = FileSink::new(self);
        let mut removed = Vec::new();
        for group in &plan.groups {
            let owned: Vec<(&Key, &Vec<Timed>)> = changes.iter().filter(|(k, _)| owner(k, group)).collect();
            self.rewrite_history(group, &owned, width, &mut out).await?;
            removed.extend(group.files.iter().copied());
        }
        let rest: Vec<Vec<Cell>> = changes
            .iter()
            .filter(|(k, _)| !plan.groups.iter().any(|g| owner(k, g)))
            .flat_map(|(_, c)| history::versions(Vec::new(), c))
            .collect();
        for chunk in rest.chunks(BATCH_ROWS) {
            self.write_rows(&mut out, chunk.to_vec()).await?;
        }
        let added = out.finish(self).await?;
        self.commit(
            &removed,
            added,
            merge,
            DeltaOperation::Merge {
                predicate: None,
                merge_predicate: Some("primary key, __START_AT".into()),
                matched_predicates: vec![],
                not_matched_predicates: vec![],
                not_matched_by_source_predicates: vec![],
            },
        )
        .await
    }

    /// Rewrites one group of a history table: rows of unchanged keys as they are, each changed
    /// key's versions recomputed, in key order.
    async fn rewrite_history(&self, group: &Group, owned: &[(&Key, &Vec<Timed>)], width: usize, out: &mut FileSink) -> Result<()> {
        let mut next = 0;
        let mut run: Option<(Key, Vec<Vec<Cell>>)> = None;
        let mut rows_out: Vec<Vec<Cell>> = Vec::new();
        // Emits the versions of every changed key before `key` (all of them with `None`).
        let mut settle = |key: Option<&Key>, run: Option<(Key, Vec<Vec<Cell>>)>, rows_out: &mut Vec<Vec<Cell>>| {
            let bound = run.as_ref().map(|(k, _)| k.clone()).or_else(|| key.cloned());
            while let Some((k, changes)) = owned.get(next).filter(|(k, _)| bound.as_ref().is_none_or(|b| *k < b)) {
                let _ = k;
                rows_out.extend(history::versions(Vec::new(), changes));
                next += 1;
            }
            if let Some((k, existing)) = run {
                let changes = owned.get(next).filter(|(o, _)| **o == k).map(|(_, c)| *c);
                if changes.is_some() {
                    next += 1;
                }
                rows_out.extend(history::versions(existing, changes.map_or(&[][..], |c| c.as_slice())));
            }
        };
        for &i in &group.files {
            let path = self.files[i].path.clone();
            let mut stream = self.read(&path, false).await?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| self.read_err(&path, e))?;
                for row in self.rows_of(&batch)? {
                    let key = Key::of(&row, &self.schema.primary_key).prefix(width);
                    if run.as_ref().is_some_and(|(k, _)| *k != key) {
                        settle(None, run.take(), &mut rows_out);
                    }
                    if owned.binary_search_by(|(k, _)| (*k).cmp(&key)).is_ok() {
                        run.get_or_insert_with(|| (key, Vec::new())).1.push(row);
                    } else {
                        settle(Some(&key), None, &mut rows_out);
                        rows_out.push(row);
                    }
                    if rows_out.len() >= BATCH_ROWS {
                        self.write_rows(out, std::mem::take(&mut rows_out)).await?;
                    }
                }
            }
        }
        settle(None, run.take(), &mut rows_out);
        settle(None, None, &mut rows_out);
        for chunk in rows_out.chunks(BATCH_ROWS) {
            self.write_rows(out, chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// The rows of a batch of the data files, as cells of the source's column types.
    fn rows_of(&self, batch: &RecordBatch) -> Result<Vec<Vec<Cell>>> {
        let mut columns = Vec::with_capacity(self.schema.columns.len());
        for (column, array) in self.schema.columns.iter().zip(batch.columns()) {
            columns.push(from_arrow(column, array).map_err(|detail| Error::Read { key: self.url.to_string(), detail })?);
        }
        Ok((0..batch.num_rows()).map(|r| columns.iter_mut().map(|c| std::mem::replace(&mut c[r], Cell::Null)).collect()).collect())
    }

    async fn write_rows(&self, out: &mut FileSink, rows: Vec<Vec<Cell>>) -> Result<()> {
        let keys = rows.iter().map(|r| Key::of(r, &self.schema.primary_key)).collect();
        let batch = self.batch_of(rows.iter())?;
        out.write(self, batch, keys).await?;
        out.roll_if_full(self).await
    }

    /// Files for the rows of a full load, which [`MergedTable::append`] fills in load order.
    pub fn new_files(&self) -> NewFiles {
        NewFiles(FileSink::new(self))
    }

    pub async fn append(&self, files: &mut NewFiles, rows: &[Vec<Cell>]) -> Result<()> {
        let keys = rows.iter().map(|r| Key::of(r, &self.schema.primary_key)).collect();
        let batch = self.batch_of(rows.iter())?;
        files.0.write(self, batch, keys).await?;
        files.0.roll_if_full(self).await
    }

    /// Commits the files of a full load as merge number `merge`: the table starts over from
    /// them (`replace`) or they add the next part of a load.
    pub async fn commit_load(&mut self, files: NewFiles, replace: bool, merge: i64) -> Result<MergeStats> {
        let added = files.0.finish(self).await?;
        let removed: Vec<usize> = if replace { (0..self.files.len()).collect() } else { Vec::new() };
        let mode = if replace { SaveMode::Overwrite } else { SaveMode::Append };
        self.commit(&removed, added, merge, DeltaOperation::Write { mode, partition_by: None, predicate: None }).await
    }

    /// Rewrites one group: its rows minus changed keys, merged in key order with the changed
    /// rows it owns.
    async fn rewrite(&self, group: &Group, changes: &ChangeSet, out: &mut FileSink) -> Result<()> {
        // Collected, not a lazy iterator: an iterator with a closure held across awaits makes
        // rustc unable to prove the future Send.
        let owned: Vec<(&Key, &Vec<Cell>)> = changes
            .iter()
            .filter_map(|(k, f)| match f {
                Final::Row(row) if group.owns(k) => Some((k, row)),
                _ => None,
            })
            .collect();
        let mut next_owned = 0;
        for &i in &group.files {
            let path = self.files[i].path.clone();
            let mut stream = self.read(&path, false).await?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| self.read_err(&path, e))?;
                let keys = self.keys(&batch, false)?;
                let keep: BooleanArray = keys.iter().map(|k| Some(changes.get(k).is_none())).collect();
                let kept = arrow::compute::filter_record_batch(&batch, &keep)?;
                let kept_keys: Vec<Key> = keys.into_iter().filter(|k| changes.get(k).is_none()).collect();
                // Changed rows that sort before this batch's last kept row go in with it.
                let mut before = Vec::new();
                if let Some(last) = kept_keys.last() {
                    while let Some(&(k, row)) = owned.get(next_owned).filter(|(k, _)| *k < last) {
                        before.push((k, row));
                        next_owned += 1;
                    }
                }
                let new_rows = self.batch_of(before.iter().map(|(_, r)| *r))?;
                let order: Vec<std::result::Result<usize, &Vec<Cell>>> =
                    merge_sorted(kept_keys.iter().cloned(), before.iter().copied()).collect();
                let mut out_keys = Vec::with_capacity(order.len());
                let mut next_new = 0;
                let indices: Vec<(usize, usize)> = order
                    .iter()
                    .map(|o| match o {
                        Ok(i) => {
                            out_keys.push(kept_keys[*i].clone());
                            (0, *i)
                        }
                        Err(_) => {
                            out_keys.push(before[next_new].0.clone());
                            next_new += 1;
                            (1, next_new - 1)
                        }
                    })
                    .collect();
                let columns: Vec<ArrayRef> = (0..kept.num_columns())
                    .map(|c| arrow::compute::interleave(&[kept.column(c).as_ref(), new_rows.column(c).as_ref()], &indices))
                    .collect::<std::result::Result<_, _>>()?;
                out.write(self, RecordBatch::try_new(self.arrow.clone(), columns)?, out_keys).await?;
                out.roll_if_full(self).await?;
            }
        }
        for chunk in owned[next_owned..].chunks(BATCH_ROWS) {
            let batch = self.batch_of(chunk.iter().map(|(_, r)| *r))?;
            out.write(self, batch, chunk.iter().map(|(k, _)| (*k).clone()).collect()).await?;
            out.roll_if_full(self).await?;
        }
        Ok(())
    }

    /// A batch of the data files' schema from source rows.
    fn batch_of<'a>(&self, rows: impl Iterator<Item = &'a Vec<Cell>>) -> Result<RecordBatch> {
        let mut builders: Vec<ColumnBuilder> = self.arrow.fields().iter().map(|f| ColumnBuilder::new(f.data_type())).collect();
        let mut n = 0;
        for row in rows {
            for ((b, cell), column) in builders.iter_mut().zip(row).zip(&self.schema.columns) {
                b.append(&to_lake(column, cell)).map_err(|detail| Error::MergedEncode {
                    url: self.url.to_string(),
                    column: column.name.clone(),
                    detail,
                })?;
            }
            n += 1;
        }
        let columns: Vec<ArrayRef> = builders.iter_mut().map(ColumnBuilder::finish).collect();
        if n == 0 {
            return Ok(RecordBatch::new_empty(self.arrow.clone()));
        }
        Ok(RecordBatch::try_new(self.arrow.clone(), columns)?)
    }

    async fn commit(&mut self, removed: &[usize], added: Written, merge: i64, operation: DeltaOperation) -> Result<MergeStats> {
        let Written { files: added, rows: rows_written } = added;
        let now = chrono::Utc::now().timestamp_millis();
        let mut actions: Vec<Action> = removed
            .iter()
            .map(|&i| {
                let f = &self.files[i];
                Action::Remove(Remove {
                    path: f.path.clone(),
                    data_change: true,
                    deletion_timestamp: Some(now),
                    extended_file_metadata: Some(true),
                    partition_values: Some(HashMap::new()),
                    size: Some(f.range.bytes as i64),
                    tags: None,
                    deletion_vector: None,
                    base_row_id: None,
                    default_row_commit_version: None,
                })
            })
            .collect();
        actions.extend(added.iter().map(|(a, _)| Action::Add(a.clone())));
        let properties = CommitProperties::default().with_application_transaction(Transaction::new(APP_ID, merge)).with_max_retries(0);
        let committed = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(self.snapshot()?), self.table.log_store(), operation)
            .await
            .map_err(|e| self.err("committing to", e))?;
        let version = committed.version();
        self.table.state = Some(committed.snapshot());
        let mut kept: Vec<DataFile> = self.files.iter().enumerate().filter(|(i, _)| !removed.contains(i)).map(|(_, f)| f.clone()).collect();
        kept.extend(added.into_iter().map(|(a, range)| DataFile { path: a.path, range }));
        kept.sort_by(|a, b| a.range.min.cmp(&b.range.min));
        let files_added = kept.len() + removed.len() - self.files.len();
        self.files = kept;
        Ok(MergeStats { files_removed: removed.len(), files_added, rows_written, version: version as i64 })
    }
}

/// The data files of a full load being written.
pub struct NewFiles(FileSink);

/// The data files a commit adds, written one after another up to the target size, each with
/// the key range of its rows.
struct FileSink {
    writer: Option<RecordBatchWriter>,
    rows: u64,
    min: Option<Key>,
    max: Option<Key>,
    done: Vec<(Add, FileRange)>,
    properties: WriterProperties,
}

impl FileSink {
    fn new(_table: &MergedTable) -> Self {
        let properties = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_created_by(format!("binlake version {}", env!("CARGO_PKG_VERSION")))
            .build();
        Self { writer: None, rows: 0, min: None, max: None, done: Vec::new(), properties }
    }

    async fn write(&mut self, table: &MergedTable, batch: RecordBatch, keys: Vec<Key>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        for key in keys {
            if self.min.as_ref().is_none_or(|m| &key < m) {
                self.min = Some(key.clone());
            }
            if self.max.as_ref().is_none_or(|m| &key > m) {
                self.max = Some(key);
            }
        }
        if self.writer.is_none() {
            // Built from the schema the sink writes (the table's, or the one it is evolving to).
            let writer =
                RecordBatchWriter::try_new(table.url.as_str(), table.arrow.clone(), None, None).map_err(|e| table.err("writing", e))?;
            self.writer = Some(writer.with_writer_properties(self.properties.clone()));
        }
        let writer = self.writer.as_mut().expect("opened above");
        writer.write(batch).await.map_err(|e| table.err("writing", e))
    }

    async fn roll_if_full(&mut self, table: &MergedTable) -> Result<()> {
        if self.writer.as_ref().is_some_and(|w| w.buffer_len() as u64 >= table.target_file_bytes) {
            self.close(table).await?;
        }
        Ok(())
    }

    async fn close(&mut self, table: &MergedTable) -> Result<()> {
        let Some(mut writer) = self.writer.take() else { return Ok(()) };
        let adds = writer.flush().await.map_err(|e| table.err("writing", e))?;
        let (min, max) = (self.min.take().expect("rows written"), self.max.take().expect("rows written"));
        for add in adds {
            let range = FileRange { min: min.clone(), max: max.clone(), bytes: add.size as u64 };
            self.done.push((add, range));
        }
        Ok(())
    }

    async fn finish(mut self, table: &MergedTable) -> Result<Written> {
        self.close(table).await?;
        Ok(Written { files: self.done, rows: self.rows })
    }
}

/// The files a sink wrote and the rows in them.
struct Written {
    files: Vec<(Add, FileRange)>,
    rows: u64,
}

/// Object-store failures of a merged table are retried like the target's; so is a commit that
/// lost a race (the next attempt starts from the new table version).
pub(crate) fn error_is_transient(cause: &DeltaTableError) -> bool {
    use deltalake_core::kernel::transaction::TransactionError;
    match cause {
        DeltaTableError::ObjectStore { source } => !matches!(
            source,
            object_store::Error::NotFound { .. }
                | object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ),
        DeltaTableError::VersionAlreadyExists(_) => true,
        DeltaTableError::Transaction { source } => {
            matches!(source, TransactionError::VersionAlreadyExists(_) | TransactionError::ObjectStore { .. })
        }
        _ => false,
    }
}
