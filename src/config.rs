//! Configuration: command-line flags, `BINLAKE_*` environment variables and a TOML file, in
//! that order of precedence, then documented defaults. The file's keys are the flags' long
//! names (`cdc-max-batch-interval = 1`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::pipeline::Settings;
use crate::schema::TableFilter;
use crate::sink::parquet::ParquetOptions;
use crate::sink::target::Target;
use crate::source::Source;

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

    /// Tables to replicate, as db.table patterns (`shop.*`, `crm.orders`, `*.audit_*`);
    /// repeat or separate with commas [default: every table of every non-system database].
    #[arg(long = "tables", env = "BINLAKE_TABLES", value_name = "PATTERN", value_delimiter = ',', num_args = 1..)]
    pub tables: Vec<String>,

    /// Tables to leave out, as db.table patterns (`*.tmp_*`).
    #[arg(long = "exclude", env = "BINLAKE_EXCLUDE", value_name = "PATTERN", value_delimiter = ',', num_args = 1..)]
    pub exclude: Vec<String>,

    /// Stop condition; without it binlake runs until stopped (SIGTERM or Ctrl-C flush and exit 0).
    #[arg(long, env = "BINLAKE_UNTIL", value_enum)]
    pub until: Option<Until>,

    /// DMS CdcMaxBatchInterval: close CDC files at least this often, in seconds [default: 60].
    #[arg(long, env = "BINLAKE_CDC_MAX_BATCH_INTERVAL", value_name = "SECONDS")]
    pub cdc_max_batch_interval: Option<u64>,

    /// DMS CdcMinFileSize: close CDC files once one reaches this size, in KB [default: 32000].
    #[arg(long, env = "BINLAKE_CDC_MIN_FILE_SIZE", value_name = "KB")]
    pub cdc_min_file_size: Option<u64>,

    /// DMS MaxFileSize: start a new LOAD file at this size, in KB [default: 1048576].
    #[arg(long, env = "BINLAKE_MAX_FILE_SIZE", value_name = "KB")]
    pub max_file_size: Option<u64>,

    /// DMS RowGroupLength: rows per Parquet row group [default: 10000].
    #[arg(long, env = "BINLAKE_ROW_GROUP_LENGTH", value_name = "ROWS")]
    pub row_group_length: Option<usize>,

    /// Rows per snapshot query (keyset chunk); bounds memory during the full load [default: 10000].
    #[arg(long, env = "BINLAKE_SNAPSHOT_CHUNK_ROWS", value_name = "ROWS")]
    pub snapshot_chunk_rows: Option<usize>,

    /// Heartbeat period asked of the source, in seconds; a stream silent for three periods is
    /// reconnected [default: 10].
    #[arg(long, env = "BINLAKE_HEARTBEAT", value_name = "SECONDS")]
    pub heartbeat: Option<u64>,

    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9187, GET /metrics)
    /// [default: off].
    #[arg(long, env = "BINLAKE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct StateArgs {
    /// State store: sqlite://path or a path [default: binlake.db beside the --config file, or
    /// in the working directory].
    #[arg(long, env = "BINLAKE_STATE", value_name = "URL")]
    pub state: Option<String>,
}

/// The TOML file: the same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    source: Option<String>,
    server_id: Option<u32>,
    target: Option<String>,
    state: Option<String>,
    tables: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    until: Option<Until>,
    cdc_max_batch_interval: Option<u64>,
    cdc_min_file_size: Option<u64>,
    max_file_size: Option<u64>,
    row_group_length: Option<usize>,
    snapshot_chunk_rows: Option<usize>,
    heartbeat: Option<u64>,
    metrics_listen: Option<std::net::SocketAddr>,
}

fn read_file(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config(format!("config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Error::Config(format!("config file {}: {e}", path.display())))
}

fn required<T>(value: Option<T>, flag: &str, env: &str) -> Result<T> {
    value.ok_or_else(|| Error::Config(format!("--{flag} is required (or set {env}, or `{flag} = ...` in the config file)")))
}

impl StateArgs {
    /// The state URL: flag/env, then config file, then `binlake.db` beside the config file or
    /// in the working directory.
    pub fn resolve(&self, config: Option<&Path>) -> Result<String> {
        let file = read_file(config)?;
        Ok(self.state.clone().or(file.state).unwrap_or_else(|| {
            let dir = config.and_then(Path::parent).filter(|d| !d.as_os_str().is_empty());
            let path = dir.map(|d| d.join("binlake.db")).unwrap_or_else(|| PathBuf::from("binlake.db"));
            format!("sqlite://{}", path.display())
        }))
    }
}

impl SourceArgs {
    pub fn resolve(&self, state_url: &str) -> Result<(Source, u32)> {
        let file = read_file(self.config.as_deref())?;
        let url = required(self.source.clone().or(file.source), "source", "BINLAKE_SOURCE")?;
        let server_id = self.server_id.or(file.server_id).unwrap_or_else(|| default_server_id(state_url));
        Ok((Source::new(&url)?, server_id))
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
        let state = self.state.resolve(config)?;
        let (source, server_id) = self.source.resolve(&state)?;
        let target = Target::open(&required(self.target.clone().or(file.target), "target", "BINLAKE_TARGET")?)?;
        let pick = |cli: &Vec<String>, f: Option<Vec<String>>| if cli.is_empty() { f.unwrap_or_default() } else { cli.clone() };
        let filter = TableFilter::new(&pick(&self.tables, file.tables), &pick(&self.exclude, file.exclude)).map_err(Error::Config)?;
        let interval = self.cdc_max_batch_interval.or(file.cdc_max_batch_interval).unwrap_or(60);
        if interval == 0 {
            return Err(Error::Config("cdc-max-batch-interval must be at least 1 second".into()));
        }
        let positive = |v: usize, name: &str| if v == 0 { Err(Error::Config(format!("{name} must be positive"))) } else { Ok(v) };
        let settings = Settings {
            source,
            target,
            filter,
            server_id,
            cdc_max_batch_interval: Duration::from_secs(interval),
            cdc_min_file_size: self.cdc_min_file_size.or(file.cdc_min_file_size).unwrap_or(32_000) * 1024,
            max_file_size: self.max_file_size.or(file.max_file_size).unwrap_or(1_048_576) * 1024,
            snapshot_chunk_rows: positive(self.snapshot_chunk_rows.or(file.snapshot_chunk_rows).unwrap_or(10_000), "snapshot-chunk-rows")?,
            heartbeat: Duration::from_secs(self.heartbeat.or(file.heartbeat).unwrap_or(10).max(1)),
            until_caught_up: self.until.or(file.until) == Some(Until::CaughtUp),
            parquet: ParquetOptions {
                row_group_rows: positive(self.row_group_length.or(file.row_group_length).unwrap_or(10_000), "row-group-length")?,
            },
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
        };
        Ok((settings, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_file_keys_are_rejected() {
        let err = toml::from_str::<FileConfig>("sorce = 'x'").unwrap_err().to_string();
        assert!(err.contains("unknown field `sorce`"), "{err}");
        let ok: FileConfig = toml::from_str("source = 'mysql://a@b'\ncdc-max-batch-interval = 1\ntables = ['shop.*']").unwrap();
        assert_eq!(ok.cdc_max_batch_interval, Some(1));
    }

    #[test]
    fn state_defaults_beside_config() {
        let s = StateArgs::default();
        assert_eq!(s.resolve(None).unwrap(), "sqlite://binlake.db");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("binlake.toml");
        std::fs::write(&cfg, "").unwrap();
        assert_eq!(s.resolve(Some(&cfg)).unwrap(), format!("sqlite://{}", dir.path().join("binlake.db").display()));
    }

    #[test]
    fn server_id_is_stable_and_in_range() {
        let a = default_server_id("sqlite://a.db");
        assert_eq!(a, default_server_id("sqlite://a.db"));
        assert!((1_000_000..2_000_000).contains(&a));
        assert_ne!(a, default_server_id("sqlite://b.db"));
    }
}
