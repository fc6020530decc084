//! DMS's S3 endpoint settings (`S3Settings`), with DMS's names and defaults: what the files
//! look like, where they go and when they close. They come from a DMS endpoint-settings JSON
//! taken as is, from the TOML file and from flags; every name is checked, so a setting binlake
//! does not know or cannot honour is an error naming it, never silently ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::change::Op;

/// One DMS setting's value as given: JSON values from an endpoint file, text from flags,
/// environment variables and (converted) TOML.
pub type Raw = BTreeMap<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    Csv,
    Parquet,
}

/// `CompressionType`: DMS knows NONE and GZIP; SNAPPY and ZSTD are binlake's extensions for
/// Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Zstd,
}

/// Which changes CDC files hold (`CdcInsertsOnly`, `CdcInsertsAndUpdates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdcOps {
    All,
    InsertsOnly,
    InsertsAndUpdates,
}

impl CdcOps {
    /// Whether CDC files hold changes of this kind.
    pub fn keeps(self, op: Op) -> bool {
        match self {
            CdcOps::All => true,
            CdcOps::InsertsOnly => op == Op::Insert,
            CdcOps::InsertsAndUpdates => op != Op::Delete,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatePartition {
    /// chrono format of the folder path, e.g. `%Y/%m/%d`.
    pub folder_format: String,
    /// `DatePartitionTimezone`: folders and CDC file names use this zone's wall clock.
    pub timezone: Option<chrono_tz::Tz>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    pub header: bool,
    pub delimiter: String,
    pub row_delimiter: String,
    pub null_value: String,
    pub rfc4180: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParquetOptions {
    pub version_2: bool,
    pub dictionary: bool,
    pub data_page_size: usize,
    pub dict_page_size_limit: usize,
    pub row_group_length: usize,
    pub statistics: bool,
    pub timestamp_millis: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Encryption {
    /// S3-managed keys: the bucket default, nothing to send.
    SseS3,
    SseKms {
        key_id: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct S3Settings {
    pub bucket_folder: String,
    pub data_format: DataFormat,
    pub compression: Codec,
    pub include_op_for_full_load: bool,
    pub cdc_ops: CdcOps,
    pub timestamp_column: Option<String>,
    pub task_start_time_for_full_load: bool,
    pub date_partition: Option<DatePartition>,
    pub csv: CsvOptions,
    pub parquet: ParquetOptions,
    /// `MaxFileSize`, in bytes: a LOAD file is closed once it reaches it.
    pub max_file_size: u64,
    pub cdc_max_batch_interval: Duration,
    /// `CdcMinFileSize`, in bytes.
    pub cdc_min_file_size: u64,
    pub encryption: Encryption,
}

/// Settings DMS has that binlake accepts only at the value that changes nothing, with why.
const INERT: &[(&str, &str, &str)] = &[
    ("PreserveTransactions", "false", "binlake keeps one folder per table; it never writes DMS's transaction-order CdcPath files"),
    ("CdcPath", "", "binlake keeps one folder per table; it never writes DMS's transaction-order CdcPath files"),
    ("GlueCatalogGeneration", "false", "binlake does not create Glue catalog tables"),
    ("AddTrailingPaddingCharacter", "false", "binlake writes values unpadded"),
    ("UseCsvNoSupValue", "false", "binlake writes every column type it replicates"),
    ("CsvNoSupValue", "", "binlake writes every column type it replicates"),
    ("ExternalTableDefinition", "", "it only applies to an S3 source endpoint"),
    ("IgnoreHeaderRows", "0", "it only applies to an S3 source endpoint"),
    (
        "CannedAclForObjects",
        "NONE",
        "binlake cannot set object ACLs; with S3 Object Ownership 'bucket owner enforced' (the AWS default) ACLs are disabled and the bucket owner owns every object",
    ),
];

/// Settings about how DMS reaches the bucket; binlake reaches it its own way and says so.
const REPORTED: &[(&str, &str)] = &[
    ("ServiceAccessRoleArn", "binlake uses the standard AWS credential chain (AWS_* variables, profile, web identity or instance role)"),
    ("BucketName", "the bucket comes from --target s3://bucket/prefix"),
    ("ExpectedBucketOwner", "binlake does not check the bucket owner"),
];

const KNOWN: &[&str] = &[
    "BucketFolder",
    "DataFormat",
    "CompressionType",
    "IncludeOpForFullLoad",
    "CdcInsertsOnly",
    "CdcInsertsAndUpdates",
    "TimestampColumnName",
    "UseTaskStartTimeForFullLoadTimestamp",
    "DatePartitionEnabled",
    "DatePartitionSequence",
    "DatePartitionDelimiter",
    "DatePartitionTimezone",
    "AddColumnName",
    "CsvDelimiter",
    "CsvRowDelimiter",
    "CsvNullValue",
    "Rfc4180",
    "MaxFileSize",
    "CdcMaxBatchInterval",
    "CdcMinFileSize",
    "ParquetVersion",
    "EncodingType",
    "DataPageSize",
    "DictPageSizeLimit",
    "RowGroupLength",
    "EnableStatistics",
    "ParquetTimestampInMillisecond",
    "EncryptionMode",
    "ServerSideEncryptionKmsKeyId",
];

/// DMS's defaults that are not off, as the code takes them and `binlake run --help` shows them.
pub mod defaults {
    pub const DATA_FORMAT: &str = "parquet";
    pub const DATE_PARTITION_SEQUENCE: &str = "YYYYMMDD";
    pub const DATE_PARTITION_DELIMITER: &str = "SLASH";
    pub const CSV_DELIMITER: &str = ",";
    /// As written in the settings: `\n` is a line feed.
    pub const CSV_ROW_DELIMITER: &str = "\\n";
    pub const RFC4180: bool = true;
    pub const MAX_FILE_SIZE_KB: u64 = 1_048_576;
    pub const CDC_MAX_BATCH_INTERVAL_SECONDS: u64 = 60;
    pub const CDC_MIN_FILE_SIZE_KB: u64 = 32_000;
    pub const PARQUET_VERSION: &str = "parquet-1-0";
    pub const ENCODING_TYPE: &str = "rle-dictionary";
    pub const DATA_PAGE_SIZE: u64 = 1_048_576;
    pub const DICT_PAGE_SIZE_LIMIT: u64 = 1_048_576;
    pub const ROW_GROUP_LENGTH: u64 = 10_000;
    pub const ENABLE_STATISTICS: bool = true;
    pub const ENCRYPTION_MODE: &str = "SSE_S3";
}

impl S3Settings {
    /// Checks and resolves `raw` (DMS names). Returns the settings and one line for every
    /// setting that was accepted but has no effect in binlake.
    pub fn resolve(raw: &Raw) -> Result<(Self, Vec<String>), String> {
        let mut notes = Vec::new();
        for (name, value) in raw {
            if KNOWN.contains(&name.as_str()) {
                continue;
            }
            if let Some((_, why)) = REPORTED.iter().find(|(n, _)| n == name) {
                notes.push(format!("DMS setting {name} is not used: {why}"));
                continue;
            }
            if let Some((_, inert, why)) = INERT.iter().find(|(n, ..)| n == name) {
                let given = text(value);
                if given.eq_ignore_ascii_case(inert) || (name == "CannedAclForObjects" && given.eq_ignore_ascii_case("private")) {
                    continue;
                }
                return Err(format!("DMS setting {name}={given} is not supported: {why}"));
            }
            return Err(match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) {
                Some(k) => format!("unknown DMS setting {name}; did you mean {k}? (names are case-sensitive, as in DMS)"),
                None => format!("unknown DMS setting {name}"),
            });
        }
        let r = Reader(raw);
        let data_format = match r.choice("DataFormat", defaults::DATA_FORMAT, &["csv", "parquet"])? {
            "csv" => DataFormat::Csv,
            _ => DataFormat::Parquet,
        };
        let compression = match (data_format, r.choice_opt("CompressionType", &["NONE", "GZIP", "SNAPPY", "ZSTD"])?) {
            (_, Some("NONE")) => Codec::None,
            (_, Some("GZIP")) => Codec::Gzip,
            (DataFormat::Parquet, Some("SNAPPY") | None) => Codec::Snappy,
            (DataFormat::Parquet, Some(_)) => Codec::Zstd,
            (DataFormat::Csv, None) => Codec::None,
            (DataFormat::Csv, Some(other)) => {
                return Err(format!("CompressionType={other} applies to Parquet only; CSV files take NONE or GZIP"));
            }
        };
        let inserts_only = r.bool("CdcInsertsOnly", false)?;
        let inserts_and_updates = r.bool("CdcInsertsAndUpdates", false)?;
        let cdc_ops = match (inserts_only, inserts_and_updates) {
            (true, true) => return Err("CdcInsertsOnly and CdcInsertsAndUpdates cannot both be true".into()),
            (true, false) => CdcOps::InsertsOnly,
            (false, true) => CdcOps::InsertsAndUpdates,
            (false, false) => CdcOps::All,
        };
        let timestamp_column = r.string_opt("TimestampColumnName")?.filter(|s| !s.is_empty());
        let date_partition = if r.bool("DatePartitionEnabled", false)? {
            let sequence = r.choice(
                "DatePartitionSequence",
                defaults::DATE_PARTITION_SEQUENCE,
                &["YYYYMMDD", "YYYYMMDDHH", "YYYYMM", "MMYYYYDD", "DDMMYYYY"],
            )?;
            let delimiter =
                match r.choice("DatePartitionDelimiter", defaults::DATE_PARTITION_DELIMITER, &["SLASH", "UNDERSCORE", "DASH", "NONE"])? {
                    "SLASH" => "/",
                    "UNDERSCORE" => "_",
                    "DASH" => "-",
                    _ => "",
                };
            let parts: &[&str] = match sequence {
                "YYYYMMDD" => &["%Y", "%m", "%d"],
                "YYYYMMDDHH" => &["%Y", "%m", "%d", "%H"],
                "YYYYMM" => &["%Y", "%m"],
                "MMYYYYDD" => &["%m", "%Y", "%d"],
                _ => &["%d", "%m", "%Y"],
            };
            let timezone =
                match r.string_opt("DatePartitionTimezone")? {
                    Some(tz) if !tz.is_empty() => Some(tz.parse::<chrono_tz::Tz>().map_err(|_| {
                        format!("DatePartitionTimezone={tz} is not a time zone name (e.g. UTC, Asia/Seoul, America/New_York)")
                    })?),
                    _ => None,
                };
            Some(DatePartition { folder_format: parts.join(delimiter), timezone })
        } else {
            for name in ["DatePartitionSequence", "DatePartitionDelimiter", "DatePartitionTimezone"] {
                if raw.contains_key(name) {
                    return Err(format!("{name} needs DatePartitionEnabled=true"));
                }
            }
            None
        };
        let csv = CsvOptions {
            header: r.bool("AddColumnName", false)?,
            delimiter: r.string("CsvDelimiter", defaults::CSV_DELIMITER)?,
            row_delimiter: unescape(&r.string("CsvRowDelimiter", defaults::CSV_ROW_DELIMITER)?),
            null_value: r.string("CsvNullValue", "")?,
            rfc4180: r.bool("Rfc4180", defaults::RFC4180)?,
        };
        if csv.delimiter.is_empty() || csv.row_delimiter.is_empty() {
            return Err("CsvDelimiter and CsvRowDelimiter must not be empty".into());
        }
        let parquet = ParquetOptions {
            version_2: r.choice("ParquetVersion", defaults::PARQUET_VERSION, &["parquet-1-0", "parquet-2-0"])? == "parquet-2-0",
            dictionary: r.choice("EncodingType", defaults::ENCODING_TYPE, &["rle-dictionary", "plain", "plain-dictionary"])? != "plain",
            data_page_size: r.positive("DataPageSize", defaults::DATA_PAGE_SIZE)? as usize,
            dict_page_size_limit: r.positive("DictPageSizeLimit", defaults::DICT_PAGE_SIZE_LIMIT)? as usize,
            row_group_length: r.positive("RowGroupLength", defaults::ROW_GROUP_LENGTH)? as usize,
            statistics: r.bool("EnableStatistics", defaults::ENABLE_STATISTICS)?,
            timestamp_millis: r.bool("ParquetTimestampInMillisecond", false)?,
        };
        let encryption = match r.choice("EncryptionMode", defaults::ENCRYPTION_MODE, &["SSE_S3", "SSE_KMS"])? {
            "SSE_KMS" => Encryption::SseKms {
                key_id: r
                    .string_opt("ServerSideEncryptionKmsKeyId")?
                    .filter(|k| !k.is_empty())
                    .ok_or("EncryptionMode=SSE_KMS needs ServerSideEncryptionKmsKeyId")?,
            },
            _ if raw.contains_key("ServerSideEncryptionKmsKeyId") => {
                return Err("ServerSideEncryptionKmsKeyId needs EncryptionMode=SSE_KMS".into());
            }
            _ => Encryption::SseS3,
        };
        let settings = Self {
            bucket_folder: r.string("BucketFolder", "")?.trim_matches('/').to_string(),
            data_format,
            compression,
            include_op_for_full_load: r.bool("IncludeOpForFullLoad", false)?,
            cdc_ops,
            timestamp_column,
            task_start_time_for_full_load: r.bool("UseTaskStartTimeForFullLoadTimestamp", false)?,
            date_partition,
            csv,
            parquet,
            max_file_size: r.positive("MaxFileSize", defaults::MAX_FILE_SIZE_KB)? * 1024,
            cdc_max_batch_interval: Duration::from_secs(r.positive("CdcMaxBatchInterval", defaults::CDC_MAX_BATCH_INTERVAL_SECONDS)?),
            cdc_min_file_size: r.positive("CdcMinFileSize", defaults::CDC_MIN_FILE_SIZE_KB)? * 1024,
            encryption,
        };
        Ok((settings, notes))
    }

    /// Whether files of this kind carry the `Op` column (DMS's InsertOps table).
    pub fn has_op(&self, cdc: bool) -> bool {
        match (cdc, self.cdc_ops) {
            (false, _) => self.include_op_for_full_load,
            (true, CdcOps::All) => true,
            (true, _) => self.include_op_for_full_load,
        }
    }

    /// File name extension, with the dot.
    pub fn extension(&self) -> &'static str {
        match (self.data_format, self.compression) {
            (DataFormat::Csv, Codec::Gzip) => ".csv.gz",
            (DataFormat::Csv, _) => ".csv",
            (DataFormat::Parquet, _) => ".parquet",
        }
    }
}

/// Reads a DMS endpoint-settings JSON as written by the console or the CLI: either
/// `{"S3Settings": {...}}` (describe-endpoints, create-endpoint input) or the bare settings.
/// Absent settings take DMS's defaults, so an endpoint that never named a format writes CSV,
/// uncompressed, as it did in DMS.
pub fn from_endpoint_json(text: &str) -> Result<Raw, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let object = match &value {
        Value::Object(o) if o.contains_key("S3Settings") => o["S3Settings"].clone(),
        Value::Object(o) if o.contains_key("Endpoint") => o["Endpoint"].get("S3Settings").cloned().unwrap_or(Value::Null),
        Value::Object(o) if o.contains_key("Endpoints") => {
            return Err("this file lists several endpoints; keep only the one to replace (its S3Settings)".into());
        }
        other => other.clone(),
    };
    let Value::Object(map) = object else { return Err("expected a JSON object of S3 settings".into()) };
    let mut raw: Raw = map.into_iter().collect();
    raw.entry("DataFormat".into()).or_insert_with(|| Value::String("csv".into()));
    raw.entry("CompressionType".into()).or_insert_with(|| Value::String("NONE".into()));
    Ok(raw)
}

/// `--data-format` -> `DataFormat`: flags and TOML keys are the DMS names in kebab case.
pub fn dms_name(key: &str) -> Option<&'static str> {
    KNOWN.iter().chain(INERT.iter().map(|(n, ..)| n)).copied().find(|n| *n == key || kebab_case(n) == key)
}

pub fn kebab_case(pascal: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = pascal.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let boundary = i > 0
            && c.is_ascii_uppercase()
            && (chars[i - 1].is_ascii_lowercase()
                || chars[i - 1].is_ascii_digit()
                || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()));
        if boundary {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// DMS documents `\n` and `\r\n` as written in JSON strings; flags may spell them escaped.
fn unescape(s: &str) -> String {
    s.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t")
}

struct Reader<'a>(&'a Raw);

impl Reader<'_> {
    fn string_opt(&self, name: &str) -> Result<Option<String>, String> {
        Ok(match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(format!("{name}: expected text, got {other}")),
        })
    }

    fn string(&self, name: &str, default: &str) -> Result<String, String> {
        Ok(self.string_opt(name)?.unwrap_or_else(|| default.to_string()))
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            // DMS documents `y`/`n` as well as `true`/`false`.
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("y") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.eq_ignore_ascii_case("n") => Ok(false),
            Some(other) => Err(format!("{name}: expected true or false (or y/n), got {other}")),
        }
    }

    fn positive(&self, name: &str, default: u64) -> Result<u64, String> {
        let n = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(default),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if n > 0 => Ok(n),
            _ => Err(format!("{name}: expected a positive whole number, got {}", self.0[name])),
        }
    }

    /// One of `allowed`, matched case-insensitively (DMS accepts both `csv` and `CSV`).
    fn choice_opt(&self, name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, String> {
        let Some(given) = self.string_opt(name)? else { return Ok(None) };
        let given = given.replace('_', "-");
        allowed
            .iter()
            .find(|a| a.replace('_', "-").eq_ignore_ascii_case(&given))
            .map(|a| Some(*a))
            .ok_or_else(|| format!("{name}={given} is not one of {}", allowed.join(", ")))
    }

    fn choice(&self, name: &str, default: &'static str, allowed: &[&'static str]) -> Result<&'static str, String> {
        Ok(self.choice_opt(name, allowed)?.unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: Value) -> Raw {
        v.as_object().unwrap().clone().into_iter().collect()
    }

    #[test]
    fn defaults_are_dms_defaults_with_parquet() {
        let (s, notes) = S3Settings::resolve(&Raw::new()).unwrap();
        assert!(notes.is_empty());
        assert_eq!((s.data_format, s.compression), (DataFormat::Parquet, Codec::Snappy));
        assert_eq!(s.cdc_max_batch_interval, Duration::from_secs(60));
        assert_eq!(s.cdc_min_file_size, 32_000 * 1024);
        assert_eq!(s.max_file_size, 1_048_576 * 1024);
        assert_eq!(s.parquet.row_group_length, 10_000);
        assert!(s.parquet.dictionary && s.parquet.statistics && !s.parquet.version_2 && !s.parquet.timestamp_millis);
        assert_eq!(
            s.csv,
            CsvOptions { header: false, delimiter: ",".into(), row_delimiter: "\n".into(), null_value: "".into(), rfc4180: true }
        );
        assert!(!s.has_op(false) && s.has_op(true));
    }

    #[test]
    fn an_endpoint_file_is_taken_as_is() {
        let file = r#"{"S3Settings": {"ServiceAccessRoleArn": "arn:aws:iam::1:role/dms", "BucketName": "lake",
            "BucketFolder": "raw/", "DatePartitionEnabled": true, "DatePartitionSequence": "YYYYMMDDHH",
            "DatePartitionDelimiter": "DASH", "TimestampColumnName": "DMS_TS", "CdcInsertsAndUpdates": true,
            "IncludeOpForFullLoad": true, "CompressionType": "gzip", "CsvRowDelimiter": "\\n"}}"#;
        let (s, notes) = S3Settings::resolve(&from_endpoint_json(file).unwrap()).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!((s.data_format, s.compression), (DataFormat::Csv, Codec::Gzip), "DMS's default format");
        assert_eq!(s.extension(), ".csv.gz");
        assert_eq!(s.bucket_folder, "raw");
        assert_eq!(s.date_partition.as_ref().unwrap().folder_format, "%Y-%m-%d-%H");
        assert_eq!(s.timestamp_column.as_deref(), Some("DMS_TS"));
        assert_eq!(s.cdc_ops, CdcOps::InsertsAndUpdates);
        assert!(s.has_op(false) && s.has_op(true));
    }

    #[test]
    fn bad_and_unknown_settings_are_named() {
        let err = |v: Value| S3Settings::resolve(&raw(v)).unwrap_err();
        assert!(err(json!({"DataFromat": "csv"})).contains("unknown DMS setting DataFromat"));
        assert!(err(json!({"dataFormat": "csv"})).contains("did you mean DataFormat"));
        assert!(err(json!({"DataFormat": "orc"})).contains("DataFormat=orc is not one of csv, parquet"));
        assert!(err(json!({"CdcInsertsOnly": true, "CdcInsertsAndUpdates": true})).contains("cannot both"));
        assert!(err(json!({"PreserveTransactions": true})).contains("PreserveTransactions=true is not supported"));
        assert!(err(json!({"CannedAclForObjects": "PUBLIC_READ"})).contains("CannedAclForObjects"));
        assert!(err(json!({"EncryptionMode": "SSE_KMS"})).contains("ServerSideEncryptionKmsKeyId"));
        assert!(err(json!({"DataFormat": "csv", "CompressionType": "ZSTD"})).contains("Parquet only"));
        assert!(err(json!({"CdcMaxBatchInterval": 0})).contains("positive"));
        assert!(err(json!({"DatePartitionSequence": "YYYYMM"})).contains("DatePartitionEnabled"));
        assert!(err(json!({"DatePartitionEnabled": "true", "DatePartitionTimezone": "Mars/Olympus"})).contains("time zone"));
        let (ok, _) =
            S3Settings::resolve(&raw(json!({"PreserveTransactions": false, "CannedAclForObjects": "private", "CdcMaxBatchInterval": "1"})))
                .unwrap();
        assert_eq!(ok.cdc_max_batch_interval, Duration::from_secs(1));
    }

    #[test]
    fn insert_ops_table() {
        let ops = |v: Value| {
            let (s, _) = S3Settings::resolve(&raw(v)).unwrap();
            (s.has_op(false), s.has_op(true), s.cdc_ops)
        };
        assert_eq!(ops(json!({"CdcInsertsOnly": true, "IncludeOpForFullLoad": true})), (true, true, CdcOps::InsertsOnly));
        assert_eq!(ops(json!({"CdcInsertsOnly": true})), (false, false, CdcOps::InsertsOnly));
        assert_eq!(ops(json!({"IncludeOpForFullLoad": true})), (true, true, CdcOps::All));
        assert_eq!(ops(json!({})), (false, true, CdcOps::All));
    }

    #[test]
    fn flag_names() {
        assert_eq!(kebab_case("CdcMaxBatchInterval"), "cdc-max-batch-interval");
        assert_eq!(kebab_case("Rfc4180"), "rfc4180");
        assert_eq!(kebab_case("ServerSideEncryptionKmsKeyId"), "server-side-encryption-kms-key-id");
        assert_eq!(dms_name("parquet-timestamp-in-millisecond"), Some("ParquetTimestampInMillisecond"));
        assert_eq!(dms_name("csv-delimiter"), Some("CsvDelimiter"));
    }
}
