//! Configuration: command-line flags, `BINLAKE_*` environment variables and a TOML file, in
//! that order of precedence, then documented defaults. The file's keys are the flags' long
//! names (`cdc-max-batch-interval = 1`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::merge::supervisor::MergeCommand;
use crate::merge::verify::VerifyCommand;
use crate::merge::{DEFAULT_BUFFER_MB, DEFAULT_INTERVAL_SECONDS, DEFAULT_RETENTION_HOURS, DEFAULT_TARGET_FILE_MB, MergeSettings};
use crate::pipeline::{OnChange, Settings};
use crate::schema::{SchemaOptions, TableFilter};
use crate::sink::settings::{self, Raw, S3Settings, defaults as dms_defaults};
use crate::source::Source;

/// Rows per snapshot query (keyset chunk).
pub const DEFAULT_SNAPSHOT_CHUNK_ROWS: usize = 10_000;
/// As DMS's `MaxFullLoadSubTasks`.
pub const DEFAULT_SNAPSHOT_WORKERS: usize = 8;
/// Heartbeat period asked of the source, in seconds.
pub const DEFAULT_HEARTBEAT_SECONDS: u64 = 10;
pub const DEFAULT_PROGRESS_INTERVAL_SECONDS: u64 = 10;
pub const DEFAULT_SNAPSHOT_MEMORY_MB: usize = 512;

/// A flag's help with its default, so the default shown is the one the code uses.
fn defaulted(help: &str, default: impl std::fmt::Display) -> String {
    format!("{help} [default: {default}]")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Until {
    /// Exit once the full load is done and every transaction committed on the server before
    /// the start is in committed files.
    CaughtUp,
}

/// Where the source is and how binlake identifies itself to it.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// TOML configuration file; its keys are the long flag names (e.g. `source = "mysql://..."`).
    #[arg(long, env = "BINLAKE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Source server: mysql://user:password@host:port. Add ?require_ssl=true for TLS.
    /// The user needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT.
    #[arg(long, env = "BINLAKE_SOURCE", value_name = "URL", hide_env_values = true)]
    pub source: Option<String>,

    /// server_id binlake registers with as a replica; must differ from the source's and from
    /// every other replica's [default: derived from the state path, 1000000-1999999].
    #[arg(long, env = "BINLAKE_SERVER_ID")]
    pub server_id: Option<u32>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Where files go: s3://bucket/prefix (AWS_* variables: AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; AWS_ALLOW_HTTP=true for plain
    /// http), file:///path, or a directory.
    #[arg(long, env = "BINLAKE_TARGET", value_name = "URL")]
    pub target: Option<String>,

    #[command(flatten)]
    pub state: StateArgs,

    #[command(flatten)]
    pub selection: TableSelectionArgs,

    /// Stop condition; without it binlake runs until stopped (SIGTERM or Ctrl-C flush and exit 0).
    #[arg(long, env = "BINLAKE_UNTIL", value_enum)]
    pub until: Option<Until>,

    #[arg(long, env = "BINLAKE_SNAPSHOT_CHUNK_ROWS", value_name = "ROWS",
        help = defaulted("Rows per chunk of the full load: each chunk is read in its own short snapshot transaction and committed with its own LOAD file(s); bounds how long a transaction stays open on the source", DEFAULT_SNAPSHOT_CHUNK_ROWS))]
    pub snapshot_chunk_rows: Option<usize>,

    #[arg(long, env = "BINLAKE_SNAPSHOT_WORKERS", value_name = "N",
        help = defaulted("Chunks of the full load read at once, each on its own source connection (DMS's MaxFullLoadSubTasks)", DEFAULT_SNAPSHOT_WORKERS))]
    pub snapshot_workers: Option<usize>,

    #[arg(long, env = "BINLAKE_SNAPSHOT_MEMORY", value_name = "MB",
        help = defaulted("Memory the full load's workers may hold together, in MB: rows read and not yet uploaded (each worker gets its share; fewer workers run when a share would be under 16 MB)", DEFAULT_SNAPSHOT_MEMORY_MB))]
    pub snapshot_memory: Option<usize>,

    #[arg(long, env = "BINLAKE_PROGRESS_INTERVAL", value_name = "SECONDS",
        help = defaulted("How often the full load logs each table's progress (rows, chunks, rows/s, time left) when stderr is not a terminal; a terminal shows it live", DEFAULT_PROGRESS_INTERVAL_SECONDS))]
    pub progress_interval: Option<u64>,

    #[arg(long, env = "BINLAKE_HEARTBEAT", value_name = "SECONDS",
        help = defaulted("Heartbeat period asked of the source, in seconds; a stream silent for three periods is reconnected", DEFAULT_HEARTBEAT_SECONDS))]
    pub heartbeat: Option<u64>,

    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9187, GET /metrics)
    /// [default: off].
    #[arg(long, env = "BINLAKE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Adds a column of this name after the DMS columns holding a sequence that strictly
    /// increases with binlog order (text, fixed width), for DLT APPLY CHANGES `SEQUENCE BY`
    /// or Hudi's precombine field; LOAD rows carry their snapshot's position and row number [default: off].
    #[arg(long, env = "BINLAKE_SEQUENCE_COLUMN", value_name = "NAME")]
    pub sequence_column: Option<String>,

    /// Writes an update that changes the primary key as `D` of the old row then `I` of the new
    /// one, so consumers learn the old key; DMS writes one `U` with the new key only
    /// [default: false].
    #[arg(long, env = "BINLAKE_SPLIT_KEY_UPDATES", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub split_key_updates: Option<bool>,

    /// Before loading a table this state store has never written, delete the files its folder
    /// on the target holds (another state store's, or DMS's); without it binlake refuses to
    /// load beside them [default: false].
    #[arg(long, env = "BINLAKE_CLEAR_FOREIGN_FILES", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub clear_foreign_files: Option<bool>,

    /// When rows of a replicated table changed without row events binlake can read (a
    /// session wrote it with binlog_format=STATEMENT, or its TABLE_MAP shows a schema change
    /// binlake did not see): `reload` loads the table anew from a new snapshot and goes on;
    /// `stop` stops at the change and names the `binlake reload` command that gets past it
    /// [default: reload].
    #[arg(long, env = "BINLAKE_ON_STATEMENT_CHANGE", value_enum, value_name = "ACTION")]
    pub on_statement_change: Option<OnChange>,

    /// When the binlog after the checkpoint is purged from the source: `stop` says so and
    /// names `binlake reload --all`; `reload` does that by itself, loading every table anew
    /// from a new snapshot beside its files [default: stop].
    #[arg(long, env = "BINLAKE_ON_BINLOG_PURGED", value_enum, value_name = "ACTION")]
    pub on_binlog_purged: Option<OnChange>,

    #[command(flatten)]
    pub merge: MergeArgs,

    #[command(flatten)]
    pub dms: DmsArgs,
}

/// Which tables, and how their types were written: the same for `run`, `merge` and `verify`.
#[derive(Debug, Clone, Default, Args)]
pub struct TableSelectionArgs {
    /// Tables to replicate (or merge, or compare), as db.table patterns (`shop.*`,
    /// `crm.orders`, `*.audit_*`); repeat or separate with commas [default: every table of
    /// every non-system database].
    #[arg(long = "tables", env = "BINLAKE_TABLES", value_name = "PATTERN", value_delimiter = ',', num_args = 1..)]
    pub tables: Vec<String>,

    /// Tables to leave out, as db.table patterns (`*.tmp_*`).
    #[arg(long = "exclude", env = "BINLAKE_EXCLUDE", value_name = "PATTERN", value_delimiter = ',', num_args = 1..)]
    pub exclude: Vec<String>,

    /// A DMS table-mapping JSON file: its selection rules (include/exclude, `%` wildcards)
    /// choose the tables, as in the DMS task; combined with --tables/--exclude.
    #[arg(long, env = "BINLAKE_TABLE_MAPPINGS", value_name = "FILE")]
    pub table_mappings: Option<PathBuf>,

    /// Writes TINYINT(1) columns (MySQL's BOOLEAN) as Parquet booleans (`true`/`false` in
    /// CSV) instead of 8-bit integers as DMS does; a value other than 0 or 1 stops binlake.
    /// `merge` and `verify` must be given what `run` was [default: false].
    #[arg(long, env = "BINLAKE_TINYINT1_AS_BOOLEAN", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub tinyint1_as_boolean: Option<bool>,
}

impl TableSelectionArgs {
    fn resolve(&self, file: &FileConfig) -> Result<(TableFilter, SchemaOptions)> {
        let pick = |cli: &Vec<String>, f: &Option<Vec<String>>| if cli.is_empty() { f.clone().unwrap_or_default() } else { cli.clone() };
        let mut filter = TableFilter::new(&pick(&self.tables, &file.tables), &pick(&self.exclude, &file.exclude)).map_err(Error::Config)?;
        if let Some(path) = self.table_mappings.clone().or(file.table_mappings.clone()) {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Config(format!("table mappings {}: {e}", path.display())))?;
            filter = filter.with_dms_mappings(&text).map_err(|e| Error::Config(format!("table mappings {}: {e}", path.display())))?;
        }
        let options = SchemaOptions { tinyint1_as_boolean: self.tinyint1_as_boolean.or(file.tinyint1_as_boolean).unwrap_or(false) };
        Ok((filter, options))
    }
}

/// The merged tables: `binlake run --lake` and `binlake merge`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Merged tables")]
pub struct MergeArgs {
    /// Keep a Delta Lake table with the current rows of every replicated table at
    /// <URL>/<database>/<table>/: s3://bucket/prefix (AWS_* variables as for --target),
    /// file:///path or a directory [default: off].
    #[arg(long, env = "BINLAKE_LAKE", value_name = "URL")]
    pub lake: Option<String>,

    #[arg(long, env = "BINLAKE_MERGE_INTERVAL", value_name = "SECONDS",
        help = defaulted("Seconds between merges; each merge is one Delta commit per changed table", DEFAULT_INTERVAL_SECONDS))]
    pub merge_interval: Option<u64>,

    #[arg(long, env = "BINLAKE_MERGE_FILE_SIZE", value_name = "MB",
        help = defaulted("Size of the merged tables' data files, in MB; a merge rewrites only the files holding changed keys", DEFAULT_TARGET_FILE_MB))]
    pub merge_file_size: Option<u64>,

    #[arg(long, env = "BINLAKE_MERGE_BUFFER", value_name = "MB",
        help = defaulted("Memory for the changes of one merge, in MB; more changes are merged in several commits", DEFAULT_BUFFER_MB))]
    pub merge_buffer: Option<usize>,

    #[arg(long, env = "BINLAKE_MERGE_RETENTION", value_name = "HOURS",
        help = defaulted("Hours a data file stays in storage after a merge replaced it, so that readers of older table versions keep working; then it is vacuumed (Delta's default)", DEFAULT_RETENTION_HOURS))]
    pub merge_retention: Option<u64>,

    /// Also keep every version of every row in `<table>__history` beside each merged table,
    /// with `__START_AT` and `__END_AT` (SCD type 2); needs the commit time of each change in
    /// the files, `--timestamp-column-name` (DMS's TimestampColumnName) [default: false].
    #[arg(long, env = "BINLAKE_SCD2", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub scd2: Option<bool>,
}

/// `--scd2` dates each version by its change's commit time, which only the timestamp column holds.
fn check_scd2(merge: Option<&MergeSettings>, output: &S3Settings) -> Result<()> {
    if merge.is_some_and(|m| m.scd2) && output.timestamp_column.is_none() {
        return Err(Error::Config(
            "--scd2 needs the commit time of every change in the files: add --timestamp-column-name (DMS's TimestampColumnName)".into(),
        ));
    }
    Ok(())
}

impl MergeArgs {
    fn resolve(&self, file: &FileConfig) -> Result<Option<MergeSettings>> {
        let Some(lake) = self.lake.clone().or(file.lake.clone()) else { return Ok(None) };
        let at_least_one = |v: u64, name: &str| if v == 0 { Err(Error::Config(format!("--{name} must be at least 1"))) } else { Ok(v) };
        Ok(Some(MergeSettings {
            lake,
            interval: Duration::from_secs(at_least_one(
                self.merge_interval.or(file.merge_interval).unwrap_or(DEFAULT_INTERVAL_SECONDS),
                "merge-interval",
            )?),
            target_file_bytes: at_least_one(
                self.merge_file_size.or(file.merge_file_size).unwrap_or(DEFAULT_TARGET_FILE_MB),
                "merge-file-size",
            )? << 20,
            scd2: self.scd2.or(file.scd2).unwrap_or(false),
            retention: Duration::from_secs(3600 * self.merge_retention.or(file.merge_retention).unwrap_or(DEFAULT_RETENTION_HOURS)),
            max_buffer_bytes: (at_least_one(self.merge_buffer.or(file.merge_buffer).unwrap_or(DEFAULT_BUFFER_MB) as u64, "merge-buffer")?
                as usize)
                << 20,
        }))
    }
}

/// `binlake merge`: the merger alone, over a folder in the DMS layout.
#[derive(Debug, Clone, Default, Args)]
pub struct MergeCommandArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// The folder holding the LOAD and CDC files, as for `run --target` (s3://bucket/prefix or
    /// a directory); written by binlake or by AWS DMS.
    #[arg(long, env = "BINLAKE_TARGET", value_name = "URL")]
    pub target: Option<String>,

    #[command(flatten)]
    pub state: StateArgs,

    #[command(flatten)]
    pub selection: TableSelectionArgs,

    /// Merge what is there, then exit; without it the merger runs every --merge-interval until stopped.
    #[arg(long, env = "BINLAKE_UNTIL", value_enum)]
    pub until: Option<Until>,

    /// When rows of a replicated table changed without row events binlake can read (a
    /// session wrote it with binlog_format=STATEMENT, or its TABLE_MAP shows a schema change
    /// binlake did not see): `reload` loads the table anew from a new snapshot and goes on;
    /// `stop` stops at the change and names the `binlake reload` command that gets past it
    /// [default: reload].
    #[arg(long, env = "BINLAKE_ON_STATEMENT_CHANGE", value_enum, value_name = "ACTION")]
    pub on_statement_change: Option<OnChange>,

    /// When the binlog after the checkpoint is purged from the source: `stop` says so and
    /// names `binlake reload --all`; `reload` does that by itself, loading every table anew
    /// from a new snapshot beside its files [default: stop].
    #[arg(long, env = "BINLAKE_ON_BINLOG_PURGED", value_enum, value_name = "ACTION")]
    pub on_binlog_purged: Option<OnChange>,

    #[command(flatten)]
    pub merge: MergeArgs,

    #[command(flatten)]
    pub dms: DmsArgs,
}

impl MergeCommandArgs {
    pub fn resolve(&self) -> Result<(MergeCommand, String)> {
        let config = self.source.config.as_deref();
        let file = read_file(config)?;
        let state = self.state.resolve(&file, config);
        let (source, _) = self.source.resolve(&file, &state)?;
        let (filter, schema_options) = self.selection.resolve(&file)?;
        let merge = self.merge.resolve(&file)?.ok_or_else(|| Error::Config("--lake is required (or set BINLAKE_LAKE)".into()))?;
        let (output, _) = self.dms.resolve(file.dms_settings.clone(), file.dms.clone())?;
        check_scd2(Some(&merge), &output)?;
        let command = MergeCommand {
            source,
            target: required(self.target.clone().or(file.target.clone()), "target", "BINLAKE_TARGET")?,
            filter,
            until_caught_up: self.until.or(file.until) == Some(Until::CaughtUp),
            schema_options,
            merge,
            output,
        };
        Ok((command, state))
    }
}

/// `binlake verify`.
#[derive(Debug, Clone, Default, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Where the merged tables are, as for `run --lake`.
    #[arg(long, env = "BINLAKE_LAKE", value_name = "URL")]
    pub lake: Option<String>,

    #[command(flatten)]
    pub selection: TableSelectionArgs,

    /// Differing keys to print per table.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_keys: usize,

    /// Keep comparing for up to this many seconds while tables differ, for a lake that is still
    /// catching up (a running binlake merges every --merge-interval).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait: u64,
}

impl VerifyArgs {
    pub fn resolve(&self) -> Result<VerifyCommand> {
        let file = read_file(self.source.config.as_deref())?;
        let (source, _) = self.source.resolve(&file, "")?;
        let (filter, options) = self.selection.resolve(&file)?;
        Ok(VerifyCommand {
            source,
            lake: required(self.lake.clone().or(file.lake.clone()), "lake", "BINLAKE_LAKE")?,
            filter,
            options,
            max_keys: self.max_keys,
            wait: Duration::from_secs(self.wait),
        })
    }
}

/// Declares the DMS S3 settings as flags: `--data-format` is DMS's `DataFormat`, settable as
/// `BINLAKE_DATA_FORMAT` and as `data-format` in the TOML file.
macro_rules! dms_flags {
    ($($field:ident $env:literal $help:expr;)*) => {
        #[derive(Debug, Clone, Default, Args)]
        #[command(next_help_heading = "DMS S3 settings (DMS's names and defaults; also read from --dms-settings)")]
        pub struct DmsArgs {
            /// A DMS S3 endpoint-settings JSON file (`{"S3Settings": {...}}` or the bare
            /// settings), taken as is: settings it leaves out take DMS's defaults (CSV,
            /// uncompressed). Flags and the TOML file override it.
            #[arg(long, env = "BINLAKE_DMS_SETTINGS", value_name = "FILE")]
            pub dms_settings: Option<PathBuf>,
            $(
                #[arg(long, env = $env, value_name = "VALUE", help = $help)]
                pub $field: Option<String>,
            )*
        }

        impl DmsArgs {
            /// (flag name, value) of every setting given on the command line or in the environment.
            fn given(&self) -> Vec<(&'static str, &String)> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$field { out.push((stringify!($field), v)); } )*
                out
            }
        }
    };
}

dms_flags! {
    bucket_folder "BINLAKE_BUCKET_FOLDER" "BucketFolder: folder under the target for every table folder [default: none]";
    data_format "BINLAKE_DATA_FORMAT" format!("DataFormat: parquet or csv [default: {}; DMS's csv with --dms-settings]", dms_defaults::DATA_FORMAT);
    compression_type "BINLAKE_COMPRESSION_TYPE" "CompressionType: NONE or GZIP (CSV files become .csv.gz); for Parquet also SNAPPY and ZSTD [default: SNAPPY for Parquet, NONE for CSV]";
    include_op_for_full_load "BINLAKE_INCLUDE_OP_FOR_FULL_LOAD" "IncludeOpForFullLoad: LOAD files get the Op column (I) [default: false]";
    cdc_inserts_only "BINLAKE_CDC_INSERTS_ONLY" "CdcInsertsOnly: CDC files hold inserts only; Op only with IncludeOpForFullLoad [default: false]";
    cdc_inserts_and_updates "BINLAKE_CDC_INSERTS_AND_UPDATES" "CdcInsertsAndUpdates: CDC files hold inserts and updates only [default: false]";
    timestamp_column_name "BINLAKE_TIMESTAMP_COLUMN_NAME" "TimestampColumnName: adds this text column after Op, `yyyy-MM-dd HH:mm:ss.SSSSSS` UTC: the source commit time for CDC rows, the transfer time for LOAD rows [default: none]";
    use_task_start_time_for_full_load_timestamp "BINLAKE_USE_TASK_START_TIME_FOR_FULL_LOAD_TIMESTAMP" "UseTaskStartTimeForFullLoadTimestamp: LOAD rows' timestamp column is the time the full load started [default: false]";
    date_partition_enabled "BINLAKE_DATE_PARTITION_ENABLED" "DatePartitionEnabled: CDC files go into date folders [default: false]";
    date_partition_sequence "BINLAKE_DATE_PARTITION_SEQUENCE" defaulted("DatePartitionSequence: YYYYMMDD, YYYYMMDDHH, YYYYMM, MMYYYYDD or DDMMYYYY", dms_defaults::DATE_PARTITION_SEQUENCE);
    date_partition_delimiter "BINLAKE_DATE_PARTITION_DELIMITER" defaulted("DatePartitionDelimiter: SLASH, UNDERSCORE, DASH or NONE", dms_defaults::DATE_PARTITION_DELIMITER);
    date_partition_timezone "BINLAKE_DATE_PARTITION_TIMEZONE" "DatePartitionTimezone: time zone of date folders and CDC file names, e.g. Asia/Seoul [default: UTC]";
    add_column_name "BINLAKE_ADD_COLUMN_NAME" "AddColumnName: CSV files start with a header row [default: false]";
    csv_delimiter "BINLAKE_CSV_DELIMITER" defaulted("CsvDelimiter: CSV field delimiter", dms_defaults::CSV_DELIMITER);
    csv_row_delimiter "BINLAKE_CSV_ROW_DELIMITER" defaulted("CsvRowDelimiter: CSV row delimiter", dms_defaults::CSV_ROW_DELIMITER);
    csv_null_value "BINLAKE_CSV_NULL_VALUE" "CsvNullValue: text written for NULL in CSV [default: empty field]";
    rfc4180 "BINLAKE_RFC4180" defaulted("Rfc4180: quote CSV values that hold the delimiter, a quote or a line break", dms_defaults::RFC4180);
    max_file_size "BINLAKE_MAX_FILE_SIZE" defaulted("MaxFileSize: start a new LOAD file at this size, in KB", dms_defaults::MAX_FILE_SIZE_KB);
    cdc_max_batch_interval "BINLAKE_CDC_MAX_BATCH_INTERVAL" defaulted("CdcMaxBatchInterval: close CDC files at least this often, in seconds; 1 works", dms_defaults::CDC_MAX_BATCH_INTERVAL_SECONDS);
    cdc_min_file_size "BINLAKE_CDC_MIN_FILE_SIZE" defaulted("CdcMinFileSize: close a CDC file once it reaches this size, in KB", dms_defaults::CDC_MIN_FILE_SIZE_KB);
    parquet_version "BINLAKE_PARQUET_VERSION" defaulted("ParquetVersion: parquet-1-0 or parquet-2-0", dms_defaults::PARQUET_VERSION);
    encoding_type "BINLAKE_ENCODING_TYPE" defaulted("EncodingType: rle-dictionary, plain or plain-dictionary", dms_defaults::ENCODING_TYPE);
    data_page_size "BINLAKE_DATA_PAGE_SIZE" defaulted("DataPageSize: Parquet data page size, in bytes", dms_defaults::DATA_PAGE_SIZE);
    dict_page_size_limit "BINLAKE_DICT_PAGE_SIZE_LIMIT" defaulted("DictPageSizeLimit: Parquet dictionary page limit, in bytes", dms_defaults::DICT_PAGE_SIZE_LIMIT);
    row_group_length "BINLAKE_ROW_GROUP_LENGTH" defaulted("RowGroupLength: rows per Parquet row group", dms_defaults::ROW_GROUP_LENGTH);
    enable_statistics "BINLAKE_ENABLE_STATISTICS" defaulted("EnableStatistics: Parquet page and column statistics", dms_defaults::ENABLE_STATISTICS);
    parquet_timestamp_in_millisecond "BINLAKE_PARQUET_TIMESTAMP_IN_MILLISECOND" "ParquetTimestampInMillisecond: DATETIME/TIMESTAMP in milliseconds instead of microseconds [default: false]";
    encryption_mode "BINLAKE_ENCRYPTION_MODE" defaulted("EncryptionMode: SSE_S3 or SSE_KMS", dms_defaults::ENCRYPTION_MODE);
    server_side_encryption_kms_key_id "BINLAKE_SERVER_SIDE_ENCRYPTION_KMS_KEY_ID" "ServerSideEncryptionKmsKeyId: KMS key for SSE_KMS";
    canned_acl_for_objects "BINLAKE_CANNED_ACL_FOR_OBJECTS" "CannedAclForObjects: only NONE or PRIVATE (binlake sets no ACLs) [default: NONE]";
}

#[derive(Debug, Clone, Default, Args)]
pub struct StateArgs {
    /// State store: sqlite://path or a path [default: binlake.db beside the --config file, or
    /// in the working directory].
    #[arg(long, env = "BINLAKE_STATE", value_name = "URL")]
    pub state: Option<String>,
}

/// The TOML file: the same names as the flags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    source: Option<String>,
    server_id: Option<u32>,
    target: Option<String>,
    state: Option<String>,
    tables: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    until: Option<Until>,
    snapshot_chunk_rows: Option<usize>,
    #[serde(alias = "MaxFullLoadSubTasks")]
    snapshot_workers: Option<usize>,
    heartbeat: Option<u64>,
    snapshot_memory: Option<usize>,
    progress_interval: Option<u64>,
    metrics_listen: Option<std::net::SocketAddr>,
    table_mappings: Option<PathBuf>,
    sequence_column: Option<String>,
    split_key_updates: Option<bool>,
    clear_foreign_files: Option<bool>,
    on_statement_change: Option<OnChange>,
    on_binlog_purged: Option<OnChange>,
    tinyint1_as_boolean: Option<bool>,
    lake: Option<String>,
    merge_interval: Option<u64>,
    merge_file_size: Option<u64>,
    merge_buffer: Option<usize>,
    merge_retention: Option<u64>,
    scd2: Option<bool>,
    dms_settings: Option<PathBuf>,
    /// The DMS settings written with their flag names (`data-format = "csv"`).
    #[serde(skip)]
    dms: Raw,
}

fn read_file(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config(format!("config file {}: {e}", path.display())))?;
    parse_file(&text).map_err(|e| Error::Config(format!("config file {}: {e}", path.display())))
}

fn parse_file(text: &str) -> std::result::Result<FileConfig, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut dms = Raw::new();
    for key in table.keys().cloned().collect::<Vec<_>>() {
        if let Some(name) = settings::dms_name(&key) {
            let value = serde_json::to_value(table.remove(&key)).map_err(|e| format!("{key}: {e}"))?;
            dms.insert(name.to_string(), value);
        }
    }
    let mut file: FileConfig = table.try_into().map_err(|e: toml::de::Error| e.to_string())?;
    file.dms = dms;
    Ok(file)
}

fn required<T>(value: Option<T>, flag: &str, env: &str) -> Result<T> {
    value.ok_or_else(|| Error::Config(format!("--{flag} is required (or set {env}, or `{flag} = ...` in the config file)")))
}

impl StateArgs {
    /// The state URL: flag/env, then config file, then `binlake.db` beside the config file or
    /// in the working directory.
    fn resolve(&self, file: &FileConfig, config: Option<&Path>) -> String {
        self.state.clone().or(file.state.clone()).unwrap_or_else(|| {
            let dir = config.and_then(Path::parent).filter(|d| !d.as_os_str().is_empty());
            let path = dir.map(|d| d.join("binlake.db")).unwrap_or_else(|| PathBuf::from("binlake.db"));
            format!("sqlite://{}", path.display())
        })
    }

    /// The state URL, for commands that read nothing else from the config file.
    pub fn resolve_alone(&self, config: Option<&Path>) -> Result<String> {
        Ok(self.resolve(&read_file(config)?, config))
    }
}

impl SourceArgs {
    fn resolve(&self, file: &FileConfig, state_url: &str) -> Result<(Source, u32)> {
        let url = required(self.source.clone().or(file.source.clone()), "source", "BINLAKE_SOURCE")?;
        let server_id = self.server_id.or(file.server_id).unwrap_or_else(|| default_server_id(state_url));
        Ok((Source::new(&url)?, server_id))
    }

    /// `binlake check`: the source and the server id it registers with, which is derived
    /// from the state URL.
    pub fn resolve_for_check(&self, state: &StateArgs) -> Result<(Source, u32)> {
        let config = self.config.as_deref();
        let file = read_file(config)?;
        self.resolve(&file, &state.resolve(&file, config))
    }
}

/// Stable per state store, so restarts keep their identity and two binlakes with different
/// state stores do not evict each other at the source.
fn default_server_id(state_url: &str) -> u32 {
    let hash = state_url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    1_000_000 + (hash % 1_000_000) as u32
}

impl RunArgs {
    /// Resolves flags, environment and file into pipeline settings and the state URL.
    pub fn resolve(&self) -> Result<(Settings, String)> {
        let config = self.source.config.as_deref();
        let file = read_file(config)?;
        let merge = self.merge.resolve(&file)?;
        let state = self.state.resolve(&file, config);
        let (source, server_id) = self.source.resolve(&file, &state)?;
        let target = required(self.target.clone().or(file.target.clone()), "target", "BINLAKE_TARGET")?;
        let (filter, schema_options) = self.selection.resolve(&file)?;
        let positive = |v: usize, name: &str| if v == 0 { Err(Error::Config(format!("{name} must be positive"))) } else { Ok(v) };
        let (output, notes) = self.dms.resolve(file.dms_settings, file.dms)?;
        for note in notes {
            tracing::warn!("{note}.");
        }
        check_scd2(merge.as_ref(), &output)?;
        let settings = Settings {
            source,
            target,
            filter,
            server_id,
            snapshot_chunk_rows: positive(
                self.snapshot_chunk_rows.or(file.snapshot_chunk_rows).unwrap_or(DEFAULT_SNAPSHOT_CHUNK_ROWS),
                "snapshot-chunk-rows",
            )?,
            snapshot_workers: positive(
                self.snapshot_workers.or(file.snapshot_workers).unwrap_or(DEFAULT_SNAPSHOT_WORKERS),
                "snapshot-workers",
            )?,
            heartbeat: Duration::from_secs(self.heartbeat.or(file.heartbeat).unwrap_or(DEFAULT_HEARTBEAT_SECONDS).max(1)),
            snapshot_memory: positive(
                self.snapshot_memory.or(file.snapshot_memory).unwrap_or(DEFAULT_SNAPSHOT_MEMORY_MB),
                "snapshot-memory",
            )? << 20,
            progress_interval: Duration::from_secs(
                self.progress_interval.or(file.progress_interval).unwrap_or(DEFAULT_PROGRESS_INTERVAL_SECONDS).max(1),
            ),
            until_caught_up: self.until.or(file.until) == Some(Until::CaughtUp),
            output,
            sequence_column: self.sequence_column.clone().or(file.sequence_column).filter(|c| !c.is_empty()),
            split_key_updates: self.split_key_updates.or(file.split_key_updates).unwrap_or(false),
            clear_foreign_files: self.clear_foreign_files.or(file.clear_foreign_files).unwrap_or(false),
            on_statement_change: self.on_statement_change.or(file.on_statement_change).unwrap_or(OnChange::Reload),
            on_binlog_purged: self.on_binlog_purged.or(file.on_binlog_purged).unwrap_or(OnChange::Stop),
            schema_options,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            merge,
        };
        Ok((settings, state))
    }
}

impl DmsArgs {
    /// The DMS settings: the endpoint file, then the TOML file's, then flags and environment.
    fn resolve(&self, file_endpoint: Option<PathBuf>, from_toml: Raw) -> Result<(S3Settings, Vec<String>)> {
        let mut raw = match self.dms_settings.clone().or(file_endpoint) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| Error::Config(format!("DMS settings {}: {e}", path.display())))?;
                settings::from_endpoint_json(&text).map_err(|e| Error::Config(format!("DMS settings {}: {e}", path.display())))?
            }
            None => Raw::new(),
        };
        raw.extend(from_toml);
        for (flag, value) in self.given() {
            let name = settings::dms_name(&flag.replace('_', "-")).expect("every flag is a DMS setting");
            raw.insert(name.to_string(), serde_json::Value::String(value.clone()));
        }
        S3Settings::resolve(&raw).map_err(Error::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_file_keys_are_rejected() {
        let err = parse_file("sorce = 'x'").unwrap_err();
        assert!(err.contains("unknown field `sorce`"), "{err}");
        let ok = parse_file("source = 'mysql://a@b'\ncdc-max-batch-interval = 1\ndata-format = 'csv'\ntables = ['shop.*']").unwrap();
        assert_eq!(ok.dms["CdcMaxBatchInterval"], serde_json::json!(1));
        assert_eq!(ok.dms["DataFormat"], serde_json::json!("csv"));
        assert_eq!(ok.tables, Some(vec!["shop.*".to_string()]));
    }

    #[test]
    fn dms_settings_layer_file_toml_flags() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = dir.path().join("endpoint.json");
        std::fs::write(&endpoint, r#"{"S3Settings": {"CdcMaxBatchInterval": 30, "TimestampColumnName": "ts"}}"#).unwrap();
        let args = DmsArgs { dms_settings: Some(endpoint), cdc_max_batch_interval: Some("5".into()), ..Default::default() };
        let toml = parse_file("timestamp-column-name = 'from_toml'\nAddColumnName = true").unwrap().dms;
        let (s, _) = args.resolve(None, toml).unwrap();
        assert_eq!(s.cdc_max_batch_interval, Duration::from_secs(5));
        assert_eq!(s.timestamp_column.as_deref(), Some("from_toml"));
        assert!(s.csv.header, "TOML keys may also be DMS's own names");
        assert_eq!(s.data_format, crate::sink::settings::DataFormat::Csv, "the endpoint's DMS default");
    }

    #[test]
    fn state_defaults_beside_config() {
        let s = StateArgs::default();
        assert_eq!(s.resolve_alone(None).unwrap(), "sqlite://binlake.db");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("binlake.toml");
        std::fs::write(&cfg, "").unwrap();
        assert_eq!(s.resolve_alone(Some(&cfg)).unwrap(), format!("sqlite://{}", dir.path().join("binlake.db").display()));
    }

    #[test]
    fn server_id_is_stable_and_in_range() {
        let a = default_server_id("sqlite://a.db");
        assert_eq!(a, default_server_id("sqlite://a.db"));
        assert!((1_000_000..2_000_000).contains(&a));
        assert_ne!(a, default_server_id("sqlite://b.db"));
    }
}
