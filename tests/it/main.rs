//! Integration tests against the real services of `scripts/services.sh start`: a
//! binlog-enabled MariaDB on 127.0.0.1:3307 (and a STATEMENT-format one on 3308) and an
//! S3-compatible server on 127.0.0.1:9100. A missing service fails the tests; nothing skips.

mod chaos;
mod chunked_load;
mod common;
mod ddl;
mod dms_output;
mod errors;
mod fixtures;
mod merge;
mod recovery;
mod replication;
mod restart;
mod types;
