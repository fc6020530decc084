//! binlake replicates MySQL/MariaDB tables into a data lake in the AWS DMS S3 layout.
//!
//! ```text
//! MySQL/MariaDB --replica protocol--> source::binlog ---+
//!       +--------consistent SELECT--> source::snapshot -+
//!                                                       v
//!                    change::SourceEvent (rows, commits, in binlog order)
//!                                                       v
//!    pipeline::load (full load) and pipeline::stream (event loop, schema_changes)
//!                                                       v
//!    pipeline::batch: per-table open files, closed only at transaction boundaries
//!    sink::parquet encode -> sink::layout (DMS keys) -> sink::target (object store)
//!                                                       v
//!    state: file manifest + checkpoint in one transaction   <-- COMMIT POINT (batch::flush)
//!                                                       v
//!    merge (merge::supervisor runs it): committed files -> current-state Delta tables
//!                                                       -> one Delta commit per merge
//! ```

pub mod change;
pub mod config;
pub mod error;
pub mod merge;
pub mod metrics;
pub mod pipeline;
pub mod position;
pub mod progress;
pub mod schema;
pub mod sink;
pub mod source;
pub mod state;
pub mod value;
