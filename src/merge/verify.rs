//! `binlake verify`: a merged table holds exactly the source table's rows. Both sides are
//! reduced to a row count and an order-independent checksum (the wrapping sum of one hash per
//! row over every column, as typed cells); only when they differ is the lake side read again
//! by key to name the rows that differ.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mysql_async::Row;
use mysql_async::prelude::Queryable;

use crate::error::{Error, Result};
use crate::merge::apply::Key;
use crate::merge::delta::{Lake, MergedTable};
use crate::schema::{SchemaOptions, TableFilter, TableSchema, quote_ident};
use crate::source::Source;
use crate::value::Cell;

/// What `binlake verify` compares.
pub struct VerifyCommand {
    pub source: Source,
    /// Where the merged tables are, as for `run --lake`.
    pub lake: String,
    pub filter: TableFilter,
    pub options: SchemaOptions,
    /// Differing keys to print per table.
    pub max_keys: usize,
    /// How long to keep comparing while tables differ.
    pub wait: Duration,
}

/// A table's rows summed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Digest {
    pub rows: u64,
    pub checksum: u64,
}

impl Digest {
    fn add(&mut self, row: &[Cell]) {
        self.rows += 1;
        self.checksum = self.checksum.wrapping_add(row_hash(row));
    }
}

/// The outcome for one table.
#[derive(Debug)]
pub struct Verdict {
    pub source: Digest,
    /// `None` when there is no merged table.
    pub lake: Option<Digest>,
    /// Up to the asked number of differing keys, each with what differs.
    pub differences: Vec<String>,
}

impl Verdict {
    pub fn equal(&self) -> bool {
        self.lake == Some(self.source)
    }
}

/// One hash of a row's cells, the same for equal rows whichever side they come from.
pub fn row_hash(row: &[Cell]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for cell in row {
        match cell {
            Cell::Null => 0u8.hash(&mut h),
            Cell::Int(v) => (1u8, *v as i128).hash(&mut h),
            Cell::UInt(v) => (1u8, *v as i128).hash(&mut h),
            Cell::Float(v) => (2u8, v.to_bits()).hash(&mut h),
            Cell::Double(v) => (3u8, v.to_bits()).hash(&mut h),
            Cell::Bool(v) => (4u8, *v).hash(&mut h),
            Cell::Decimal(v) => (5u8, v).hash(&mut h),
            Cell::Date(v) => (6u8, *v).hash(&mut h),
            Cell::Micros(v) => (7u8, *v).hash(&mut h),
            Cell::Text(v) => (8u8, v).hash(&mut h),
            Cell::Bytes(v) => (9u8, v).hash(&mut h),
        }
    }
    h.finish()
}

/// Compares every selected table and prints one line per table (and its differing keys);
/// true when all are equal. While some differ, compares again for up to `wait`.
pub async fn run(command: &VerifyCommand) -> Result<bool> {
    let VerifyCommand { source, lake, filter, options, max_keys, wait } = command;
    let (lake, max_keys, wait) = (&Lake::open(lake)?, *max_keys, *wait);
    let mut conn = source.connect().await?;
    let catalog = crate::source::load_catalog(&mut conn, filter, *options).await?;
    drop(conn);
    let mut ids: Vec<_> = catalog.keys().cloned().collect();
    ids.sort();
    let deadline = Instant::now() + wait;
    let mut all_equal = true;
    for id in ids {
        let schema = &catalog[&id];
        if schema.primary_key.is_empty() {
            println!("{id}: skipped (no primary key nor UNIQUE key of NOT NULL columns, not merged)");
            continue;
        }
        let verdict = loop {
            let verdict = verify(source, lake, schema, max_keys).await?;
            if verdict.equal() || Instant::now() >= deadline {
                break verdict;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        let lake_side = verdict.lake.map_or("no merged table".to_string(), |d| format!("{} rows, checksum {:016x}", d.rows, d.checksum));
        if verdict.equal() {
            println!("{id}: equal ({lake_side})");
        } else {
            all_equal = false;
            println!("{id}: DIFFERENT: source {} rows, checksum {:016x}; lake {lake_side}", verdict.source.rows, verdict.source.checksum);
            for d in &verdict.differences {
                println!("  {d}");
            }
        }
    }
    Ok(all_equal)
}

/// Compares the source table with its merged table; names up to `max_keys` differing keys.
pub async fn verify(source: &Source, lake: &Lake, schema: &Arc<TableSchema>, max_keys: usize) -> Result<Verdict> {
    let Some(table) = lake.existing_table(schema.clone()).await? else {
        let source = source_digest(source, schema, |_, _| {}).await?;
        return Ok(Verdict { source, lake: None, differences: vec!["no merged table".into()] });
    };
    let lake_digest = table.digest(|_, _| {}).await?;
    let source_digest_ = source_digest(source, schema, |_, _| {}).await?;
    let mut verdict = Verdict { source: source_digest_, lake: Some(lake_digest), differences: Vec::new() };
    if verdict.equal() {
        return Ok(verdict);
    }
    verdict.differences = differences(source, &table, schema, max_keys).await?;
    Ok(verdict)
}

/// The keys whose rows differ, read by key from both sides (memory for one hash per lake row).
async fn differences(source: &Source, table: &MergedTable, schema: &Arc<TableSchema>, max_keys: usize) -> Result<Vec<String>> {
    let show = |k: &Key| {
        schema
            .primary_key
            .iter()
            .zip(&k.0)
            .map(|(&i, c)| format!("{}={}", schema.columns[i].name, show_cell(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lake_rows: HashMap<String, (Key, u64)> = HashMap::new();
    table
        .digest(|key, hash| {
            lake_rows.insert(format!("{:?}", key.0), (key.clone(), hash));
        })
        .await?;
    let mut out = Vec::new();
    source_digest(source, schema, |key, hash| match lake_rows.remove(&format!("{:?}", key.0)) {
        None => out.push(format!("{}: missing from the lake", show(key))),
        Some((_, h)) if h != hash => out.push(format!("{}: different values", show(key))),
        Some(_) => {}
    })
    .await?;
    let mut extra: Vec<Key> = lake_rows.into_values().map(|(k, _)| k).collect();
    extra.sort();
    out.extend(extra.iter().map(|k| format!("{}: in the lake but not in the source", show(k))));
    out.truncate(max_keys);
    Ok(out)
}

async fn source_digest(source: &Source, schema: &Arc<TableSchema>, mut each: impl FnMut(&Key, u64)) -> Result<Digest> {
    let mut conn = source.connect().await?;
    let columns: Vec<String> = schema.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let select = format!("SELECT {} FROM {}", columns.join(", "), schema.id.quoted());
    let read_err = |e| Error::source(format!("reading {}", schema.id), e);
    let mut result = conn.exec_iter(select, ()).await.map_err(read_err)?;
    let mut digest = Digest::default();
    if let Some(mut stream) = result.stream::<Row>().await.map_err(read_err)? {
        while let Some(row) = stream.next().await {
            let cells = crate::source::snapshot::cells(schema, row.map_err(read_err)?)?;
            let hash = row_hash(&cells);
            digest.rows += 1;
            digest.checksum = digest.checksum.wrapping_add(hash);
            each(&Key::of(&cells, &schema.primary_key), hash);
        }
    }
    Ok(digest)
}

impl MergedTable {
    /// The digest of every row, calling `each` with each row's key and hash.
    pub async fn digest(&self, mut each: impl FnMut(&Key, u64)) -> Result<Digest> {
        let mut digest = Digest::default();
        self.for_each_row(|row| {
            let before = digest.checksum;
            digest.add(row);
            each(&Key::of(row, &self.schema.primary_key), digest.checksum.wrapping_sub(before));
        })
        .await?;
        Ok(digest)
    }
}

fn show_cell(c: &Cell) -> String {
    match c {
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Text(t) | Cell::Decimal(t) => format!("{t:?}"),
        Cell::Date(d) => crate::value::date_text(*d),
        Cell::Micros(us) => crate::value::datetime_text(*us, 6),
        other => format!("{other:?}"),
    }
}
