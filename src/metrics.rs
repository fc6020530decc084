//! What operators watch, exported for Prometheus with `--metrics-listen ADDR` (GET /metrics).
//! Everything but the read position is recorded at the commit point, so those figures describe
//! committed data only.

use std::net::SocketAddr;

use metrics::{counter, gauge, histogram};

use crate::error::{Error, Result};
use crate::position::BinlogPos;

/// Starts the HTTP listener; must run inside the tokio runtime.
pub fn install(listen: SocketAddr) -> Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(listen)
        .install()
        .map_err(|e| Error::Config(format!("metrics listener on {listen}: {e}")))
}

/// A table's full load committed.
pub fn load_committed(table: &str, rows: u64, files: usize) {
    counter!("binlake_load_rows_total", "table" => table.to_string()).increment(rows);
    counter!("binlake_files_committed_total", "kind" => "LOAD").increment(files as u64);
}

/// How far a table's full load in chunks is: chunks committed of about how many, and the
/// server's estimate of its rows (rows committed are `binlake_load_rows_total`).
pub fn load_progress(table: &str, chunks_done: u64, chunks_estimated: u64, estimated_rows: u64) {
    gauge!("binlake_load_chunks_done", "table" => table.to_string()).set(chunks_done as f64);
    gauge!("binlake_load_chunks_estimated", "table" => table.to_string()).set(chunks_estimated.max(chunks_done) as f64);
    gauge!("binlake_load_rows_estimated", "table" => table.to_string()).set(estimated_rows as f64);
}

/// A CDC file committed.
pub fn cdc_file_committed(table: &str, rows: u64, bytes: u64) {
    counter!("binlake_cdc_rows_total", "table" => table.to_string()).increment(rows);
    counter!("binlake_files_committed_total", "kind" => "CDC").increment(1);
    counter!("binlake_bytes_committed_total").increment(bytes);
}

/// The checkpoint advanced to `at`; `newest_source_commit` is the source commit time (unix
/// seconds) of the newest transaction now in committed files, if the batch held any.
pub fn checkpoint(at: &BinlogPos, newest_source_commit: Option<u32>) {
    let now = chrono::Utc::now().timestamp();
    gauge!("binlake_checkpoint_offset", "file" => at.file.clone()).set(at.offset as f64);
    gauge!("binlake_last_commit_timestamp_seconds").set(now as f64);
    if let Some(ts) = newest_source_commit {
        // source COMMIT to row in a committed file, at the binlog's one-second resolution
        histogram!("binlake_commit_latency_seconds").record((now - ts as i64).max(0) as f64);
    }
}

/// A merge committed to a merged table: how many input files and changed keys it applied,
/// how many data files it rewrote, and how long it took.
pub fn merge_committed(table: &str, input_files: usize, keys: usize, rewritten: usize, seconds: f64) {
    counter!("binlake_merge_commits_total", "table" => table.to_string()).increment(1);
    counter!("binlake_merge_input_files_total", "table" => table.to_string()).increment(input_files as u64);
    counter!("binlake_merge_keys_total", "table" => table.to_string()).increment(keys as u64);
    counter!("binlake_merge_files_rewritten_total", "table" => table.to_string()).increment(rewritten as u64);
    histogram!("binlake_merge_duration_seconds").record(seconds);
    gauge!("binlake_last_merge_timestamp_seconds", "table" => table.to_string()).set(chrono::Utc::now().timestamp() as f64);
}

/// How far the stream has read: where it started, then the end of the last transaction or
/// statement read from the binlog (or the position a heartbeat reports), committed to the
/// lake or not yet. The gauge of the current file is kept at hand, so a
/// transaction costs one store.
#[derive(Default)]
pub struct ReadPosition {
    file: String,
    gauge: Option<metrics::Gauge>,
}

impl ReadPosition {
    pub fn set(&mut self, at: &BinlogPos) {
        if self.gauge.is_none() || self.file != at.file {
            self.file = at.file.clone();
            self.gauge = Some(gauge!("binlake_read_offset", "file" => at.file.clone()));
        }
        if let Some(gauge) = &self.gauge {
            gauge.set(at.offset as f64);
        }
    }
}

/// A table is loaded anew from a new snapshot; `reason` says why (`ddl`, `statement_format`,
/// `schema_drift`, `binlog_purged`, `command`).
pub fn table_reloaded(table: &str, reason: &'static str) {
    counter!("binlake_table_reloads_total", "table" => table.to_string(), "reason" => reason).increment(1);
}

/// A transient error: binlake resumes from its checkpoint.
pub fn reconnect() {
    counter!("binlake_reconnects_total").increment(1);
}
