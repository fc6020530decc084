//! Where rows go: the target object store, DMS key layout and the Parquet files.

pub mod layout;
pub mod parquet;
pub mod target;
