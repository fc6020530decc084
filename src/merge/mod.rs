//! The merger: keeps a current-state Delta table of every replicated table by applying its
//! LOAD and CDC files in order. A table's progress is the last input file merged; each merge
//! is one Delta commit carrying its number (a Delta application transaction), recorded in the
//! state store as pending before the commit and as done after it, so a crash anywhere never
//! applies a file twice nor skips one.
//!
//! ```text
//! input files (manifest or DMS folder) -> apply::ChangeSet (final row per key)
//!     -> delta::MergedTable::merge (rewrite the files holding those keys) -> Delta commit
//! ```

pub(crate) mod apply;
pub(crate) mod cells;
pub(crate) mod csv;
pub(crate) mod delta;
pub(crate) mod history;
pub(crate) mod input;
pub(crate) mod reader;
pub mod supervisor;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::state::{MergeProgress, PendingMerge, SchemaAt, StateStore, Store};

use self::apply::ChangeSet;
use self::delta::{Lake, MergedTable, SchemaStep};
use self::history::HistoryChanges;
use self::input::{InputFile, Inputs, Kind};

pub struct MergeSettings {
    /// Where the merged tables are: s3://bucket/prefix, file:///path or a directory.
    pub lake: String,
    /// Data files of the merged tables are about this size.
    pub target_file_bytes: u64,
    /// A merge commits once its changes hold about this much memory (at a file boundary).
    pub max_buffer_bytes: usize,
    /// How often `binlake run` merges.
    pub interval: Duration,
    /// Also keep a history table of every version of every row (`<table>__history`).
    pub scd2: bool,
    /// Data files removed by merges are deleted this long after (readers of older versions
    /// and running queries keep working until then).
    pub retention: Duration,
}

/// Seconds between merges beside the pipeline.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 60;
pub const DEFAULT_TARGET_FILE_MB: u64 = 128;
pub const DEFAULT_BUFFER_MB: usize = 256;
/// Delta's own default for `delta.deletedFileRetentionDuration`.
pub const DEFAULT_RETENTION_HOURS: u64 = 168;
/// A merged table is vacuumed at most this often (and at least once per start).
const VACUUM_EVERY: Duration = Duration::from_secs(3600);

/// What a round of merging did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub tables: usize,
    pub input_files: usize,
    pub commits: usize,
}

pub(crate) struct Merger {
    settings: MergeSettings,
    lake: Lake,
    inputs: Inputs,
    store: Store,
    tables: HashMap<TableId, MergedTable>,
    /// When each table was last vacuumed by this process.
    vacuumed: HashMap<TableId, std::time::Instant>,
    /// Tables without a primary key are not merged; they are named once.
    warned_keyless: std::collections::HashSet<TableId>,
}

impl Merger {
    pub fn new(settings: MergeSettings, inputs: Inputs, store: Store) -> Result<Self> {
        let lake = Lake::open(&settings.lake)?;
        Ok(Self { settings, lake, inputs, store, tables: HashMap::new(), vacuumed: HashMap::new(), warned_keyless: Default::default() })
    }

    pub fn interval(&self) -> Duration {
        self.settings.interval
    }

    /// Merges every input file not merged yet, table by table.
    pub async fn merge_all(&mut self, catalog: &HashMap<TableId, Arc<TableSchema>>) -> Result<Summary> {
        let mut ids: Vec<TableId> = catalog.keys().cloned().collect();
        ids.sort();
        let mut summary = Summary::default();
        for id in ids {
            let epochs = Epochs::load(&self.store, &id).await?;
            let schema = Arc::new(epochs.with_added_defaults(&catalog[&id]));
            if schema.primary_key.is_empty() {
                if self.warned_keyless.insert(id.clone()) {
                    warn!(table = %id, "not merged: the table has no primary key nor a UNIQUE key of NOT NULL columns (its LOAD and CDC files are still written).");
                }
                continue;
            }
            let (files, commits) = self.merge_table(&schema, &epochs).await?;
            self.vacuum_if_due(&id).await?;
            if self.settings.scd2 {
                let history = history::schema(&schema);
                self.merge_history_table(&schema, &history, &epochs).await?;
                self.vacuum_if_due(&history.id).await?;
            }
            summary.tables += 1;
            summary.input_files += files;
            summary.commits += commits;
        }
        Ok(summary)
    }

    async fn vacuum_if_due(&mut self, id: &TableId) -> Result<()> {
        let Some(table) = self.tables.get_mut(id) else { return Ok(()) };
        let due = self.vacuumed.get(id).is_none_or(|at| at.elapsed() >= VACUUM_EVERY.min(self.settings.retention));
        if due {
            let deleted = table.vacuum(self.settings.retention).await?;
            self.vacuumed.insert(id.clone(), std::time::Instant::now());
            if deleted > 0 {
                info!(table = %id, files = deleted, "vacuumed data files no version needs any more.");
            }
        }
        Ok(())
    }

    /// Merges the new files of one table (`schema` is its schema at the source now); returns
    /// (files merged, commits).
    async fn merge_table(&mut self, schema: &Arc<TableSchema>, epochs: &Epochs) -> Result<(usize, usize)> {
        let id = schema.id.clone();
        let url = self.lake.table_url(&id).to_string();
        let all = self.inputs.files(&id, None).await?;
        // The merged table opens in the schema of the first file left to merge, or else the
        // newest (schemas only go forward: the table may be there already).
        let recorded = self.store.merge_progress(&url).await?;
        let next = all.iter().find(|f| recorded.through.as_ref().is_none_or(|t| f.order > *t));
        let start = next.and_then(|f| f.position.clone());
        let start_schema = match next {
            Some(_) => epochs.schema_at(start.as_ref(), schema),
            None => epochs.latest().filter(|s| s.id == id).unwrap_or_else(|| schema.clone()),
        };
        let stale = self.tables.get(&id).is_some_and(|t| t.schema != start_schema);
        if stale || !self.tables.contains_key(&id) {
            // A table still loading has no files yet: its merged table appears with its rows.
            if recorded.number == 0 && recorded.pending.is_none() && all.is_empty() {
                return Ok((0, 0));
            }
            let path = epochs.path_until(start.as_ref());
            let table = self.lake.table(start_schema, self.settings.target_file_bytes, &path).await?;
            self.tables.insert(id.clone(), table);
        }
        let table = self.tables.get_mut(&id).expect("opened above");
        let progress = reconcile(&self.store, table, &url).await?;
        let files: Vec<InputFile> = all.iter().filter(|f| progress.through.as_ref().is_none_or(|t| f.order > *t)).cloned().collect();
        // A schema change with no rows after it yet: the table follows it once its earlier
        // files are in.
        let latest = epochs.latest().filter(|s| s.id == id);
        if files.is_empty() {
            if let Some(latest) = latest.filter(|s| table.schema != *s) {
                for (schema, path) in epochs.walk(&table.schema, &latest, None) {
                    *table = self.lake.table(schema, self.settings.target_file_bytes, &path).await?;
                }
            }
            return Ok((0, 0));
        }
        if progress.foreign && files[0].kind != Kind::Load {
            return Err(Error::Conflict(format!(
                "the merged table {url} was merged by another state store and this one has no full load of {id} to start it over from; use the state store that merged it, another --lake, or delete the merged table to rebuild it"
            )));
        }
        let mut number = progress.number;
        // The full load the last merged LOAD file belongs to: LOAD files of the same full load
        // go on from it (also after CDC files committed while it ran), those of another (a
        // reload) replace the table.
        let mut previous_load = progress
            .through
            .as_ref()
            .and_then(|through| all.iter().rfind(|f| f.kind == Kind::Load && f.order <= *through))
            .map(|f| f.load_of.clone());
        let mut commits = 0;
        let mut i = 0;
        while i < files.len() {
            number += 1;
            let started = std::time::Instant::now();
            // The files written with one schema, from here on.
            let schema = epochs.schema_at(files[i].position.as_ref(), schema);
            let epoch = files[i..].iter().take_while(|f| *epochs.schema_at(f.position.as_ref(), &schema) == *schema).count();
            let renames = epochs.renames_until(files[i].position.as_ref());
            if table.schema != schema {
                for (schema, path) in epochs.walk(&table.schema, &schema, files[i].position.as_ref()) {
                    *table = self.lake.table(schema, self.settings.target_file_bytes, &path).await?;
                }
            }
            let files = &files[..i + epoch];
            if files[i].kind == Kind::Load {
                // A run of LOAD files is one full load: it replaces the table unless it goes on
                // from LOAD files already merged.
                let run: Vec<&InputFile> =
                    files[i..].iter().take_while(|f| f.kind == Kind::Load && f.load_of == files[i].load_of).collect();
                let last = run.last().expect("not empty");
                self.store.begin_merge(&url, &id, number, &last.order, true).await?;
                let mut new_files = table.new_files();
                let mut rows = 0u64;
                for file in &run {
                    let mut reader = self.inputs.read(file, &schema, &renames).await?;
                    while let Some(chunk) = reader.next_chunk().await? {
                        rows += chunk.len() as u64;
                        let chunk: Vec<_> = chunk.into_iter().map(|c| c.row).collect();
                        table.append(&mut new_files, &chunk).await?;
                    }
                }
                let continuing = previous_load.as_ref().is_some_and(|p| *p == last.load_of);
                let stats = table.commit_load(new_files, !continuing, number).await?;
                self.store.end_merge(&url, run.len()).await?;
                crate::metrics::merge_committed(
                    &id.to_string(),
                    run.len(),
                    rows as usize,
                    stats.files_removed,
                    started.elapsed().as_secs_f64(),
                );
                info!(table = %id, files = run.len(), rows, version = stats.version, data_files = stats.files_added, "merged a full load.");
                i += run.len();
                previous_load = Some(last.load_of.clone());
            } else {
                let mut changes = ChangeSet::default();
                let mut merged = 0;
                let mut changed_rows = 0u64;
                while let Some(file) = files.get(i + merged).filter(|f| f.kind == Kind::Cdc) {
                    let mut moves = self.inputs.key_moves(file).await?;
                    let mut reader = self.inputs.read(file, &schema, &renames).await?;
                    let mut row_number = 0u64;
                    while let Some(chunk) = reader.next_chunk().await? {
                        changed_rows += chunk.len() as u64;
                        for c in chunk {
                            changes.apply(c.op, c.row, moves.remove(&row_number), &schema.primary_key);
                            row_number += 1;
                        }
                    }
                    merged += 1;
                    if changes.bytes() >= self.settings.max_buffer_bytes {
                        break;
                    }
                }
                let last = &files[i + merged - 1];
                self.store.begin_merge(&url, &id, number, &last.order, false).await?;
                let stats = table.merge(&changes, number).await?;
                self.store.end_merge(&url, merged).await?;
                crate::metrics::merge_committed(
                    &id.to_string(),
                    merged,
                    changes.len(),
                    stats.files_removed,
                    started.elapsed().as_secs_f64(),
                );
                info!(
                    table = %id, files = merged, changes = changed_rows, keys = changes.len(), version = stats.version,
                    rewritten = stats.files_removed, written = stats.files_added, rows_written = stats.rows_written,
                    "merged changes."
                );
                i += merged;
            }
            commits += 1;
        }
        if let Some(latest) = latest.filter(|s| table.schema != *s) {
            for (schema, path) in epochs.walk(&table.schema, &latest, None) {
                *table = self.lake.table(schema, self.settings.target_file_bytes, &path).await?;
            }
        }
        Ok((files.len(), commits))
    }
}

/// A table's schemas along the binlog (binlake's schema history; none for a folder written
/// by DMS): each input file is merged with the schema its rows were written with, so the
/// merged table changes schema where the source did, in the order of the data.
pub struct Epochs {
    /// (from where, the schema or `None` when the table is gone, columns renamed there)
    entries: Vec<Epoch>,
    /// Each column's default when it was added: the value the source's rows of that time
    /// took, which a later `SET DEFAULT` does not change.
    added_defaults: HashMap<String, Option<String>>,
}

type Epoch = (BinlogPos, Option<Arc<TableSchema>>, Vec<(String, String)>);

impl Epochs {
    pub async fn load(store: &Store, table: &TableId) -> Result<Self> {
        let mut defaults: HashMap<String, Option<String>> = HashMap::new();
        let mut entries = Vec::new();
        for SchemaAt { at, schema, renamed } in store.table_history(table).await? {
            // One statement's renames happen at once.
            let moved: Vec<(String, Option<Option<String>>)> =
                renamed.iter().map(|(old, new)| (new.clone(), defaults.remove(old))).collect();
            for (new, default) in moved {
                if let Some(default) = default {
                    defaults.insert(new, default);
                }
            }
            let schema = match schema {
                None => {
                    defaults.clear();
                    None
                }
                Some(mut schema) => {
                    defaults.retain(|name, _| schema.columns.iter().any(|c| &c.name == name));
                    for column in &mut schema.columns {
                        column.default = defaults.entry(column.name.clone()).or_insert(column.default.clone()).clone();
                    }
                    Some(Arc::new(schema))
                }
            };
            entries.push((at, schema, renamed));
        }
        Ok(Self { entries, added_defaults: defaults })
    }

    /// The schema of rows written up to `at`; `current` when the history does not tell.
    fn schema_at(&self, at: Option<&BinlogPos>, current: &Arc<TableSchema>) -> Arc<TableSchema> {
        let Some(at) = at else { return current.clone() };
        match self.entries.iter().rev().find(|(p, _, _)| p <= at) {
            Some((_, Some(schema), _)) => schema.clone(),
            _ => current.clone(),
        }
    }

    /// The schemas a merged table in schema `from` goes through to reach `target`, the schema
    /// at `to` (the newest for `None`), each with its path: one at a time, so a column dropped
    /// and added again in two statements loses its values as at the source.
    fn walk(&self, from: &TableSchema, target: &Arc<TableSchema>, to: Option<&BinlogPos>) -> Vec<(Arc<TableSchema>, Vec<SchemaStep>)> {
        let until = self.entries.iter().rposition(|(p, _, _)| to.is_none_or(|to| p <= to));
        let start = until.and_then(|j| self.entries[..=j].iter().rposition(|(_, s, _)| s.as_deref() == Some(from)));
        match (start, until) {
            (Some(i), Some(j)) if i < j => {
                self.entries[i + 1..=j].iter().filter_map(|(p, s, _)| Some((s.clone()?, self.path_until(Some(p))))).collect()
            }
            _ => vec![(target.clone(), self.path_until(to))],
        }
    }

    /// The newest schema of the history, unless the table is gone there.
    fn latest(&self) -> Option<Arc<TableSchema>> {
        self.entries.last().and_then(|(_, s, _)| s.clone())
    }

    /// The column names of each schema up to `at` (all for `None`), with the renames that led
    /// to it.
    fn path_until(&self, at: Option<&BinlogPos>) -> Vec<SchemaStep> {
        self.entries
            .iter()
            .filter(|(p, _, _)| at.is_none_or(|at| p <= at))
            .map(|(_, s, r)| (s.iter().flat_map(|s| s.columns.iter().map(|c| c.name.clone())).collect(), r.clone()))
            .collect()
    }

    /// The column renames (old, new) up to `at` (all of them for `None`), in order.
    pub fn renames_until(&self, at: Option<&BinlogPos>) -> Vec<(String, String)> {
        self.entries.iter().filter(|(p, _, _)| at.is_none_or(|at| p <= at)).flat_map(|(_, _, r)| r.iter().cloned()).collect()
    }

    fn with_added_defaults(&self, schema: &TableSchema) -> TableSchema {
        let mut schema = schema.clone();
        for column in &mut schema.columns {
            if let Some(default) = self.added_defaults.get(&column.name) {
                column.default = default.clone();
            }
        }
        schema
    }
}

impl Merger {
    /// Brings the history table of `source` up to its input files (see [`history`]).
    async fn merge_history_table(&mut self, source: &Arc<TableSchema>, schema: &Arc<TableSchema>, epochs: &Epochs) -> Result<()> {
        let renames = epochs.renames_until(None);
        let id = schema.id.clone();
        let url = self.lake.table_url(&id).to_string();
        let progress = self.store.merge_progress(&url).await?;
        let stale = self.tables.get(&id).is_some_and(|t| t.schema != *schema);
        if stale || !self.tables.contains_key(&id) {
            if progress.number == 0 && progress.pending.is_none() && self.inputs.files(&source.id, None).await?.is_empty() {
                return Ok(());
            }
            let table = self.lake.table(schema.clone(), self.settings.target_file_bytes, &epochs.path_until(None)).await?;
            self.tables.insert(id.clone(), table);
        }
        let table = self.tables.get_mut(&id).expect("opened above");
        let progress = reconcile(&self.store, table, &url).await?;
        if progress.foreign {
            return Err(Error::Conflict(format!(
                "the history table {url} was merged by another state store; use the state store that merged it, or another --lake"
            )));
        }
        let files = self.inputs.files(&source.id, progress.through.as_deref()).await?;
        let mut number = progress.number;
        let mut i = 0;
        while i < files.len() {
            number += 1;
            let started = std::time::Instant::now();
            let mut changes = HistoryChanges::default();
            let mut merged = 0;
            while let Some(file) = files.get(i + merged) {
                let mut moves = self.inputs.key_moves(file).await?;
                let mut reader = self.inputs.read(file, source, &renames).await?;
                let mut row_number = 0u64;
                while let Some(chunk) = reader.next_chunk().await? {
                    for c in chunk {
                        let at = c.at.ok_or_else(|| Error::Read {
                            key: file.key.clone(),
                            detail: "a row without a time in the timestamp column (TimestampColumnName), which --scd2 needs".into(),
                        })?;
                        // A LOAD row's time is when it was read, a CDC row's the commit time, which
                        // binlogs keep to the second: a LOAD version starts at its second, so no
                        // change committed after the snapshot can date from before it.
                        let at = if file.kind == Kind::Load { at.div_euclid(1_000_000) * 1_000_000 } else { at };
                        changes.apply(c.op, c.row, moves.remove(&row_number), at, &source.primary_key);
                        row_number += 1;
                    }
                }
                merged += 1;
                if changes.bytes() >= self.settings.max_buffer_bytes {
                    break;
                }
            }
            let last = &files[i + merged - 1];
            self.store.begin_merge(&url, &id, number, &last.order, last.kind == Kind::Load).await?;
            let stats = table.merge_history(&changes, number).await?;
            self.store.end_merge(&url, merged).await?;
            crate::metrics::merge_committed(&id.to_string(), merged, changes.len(), stats.files_removed, started.elapsed().as_secs_f64());
            info!(table = %id, files = merged, keys = changes.len(), version = stats.version, rewritten = stats.files_removed, "merged history.");
            i += merged;
        }
        Ok(())
    }
}

/// Settles a merge left pending by a crash, using the merged table's own record of the last
/// merge committed to it.
async fn reconcile(store: &Store, table: &MergedTable, url: &str) -> Result<MergeProgress> {
    let progress = store.merge_progress(url).await?;
    let committed = table.merge_number().await?;
    if let Some(PendingMerge { number: pending, .. }) = &progress.pending {
        if *pending == committed {
            store.end_merge(url, 0).await?;
            info!(table = %table.schema.id, merge = committed, "a merge interrupted after its commit is recorded as done.");
            return store.merge_progress(url).await;
        }
        store.abandon_merge(url).await?;
    }
    if committed == progress.number {
        return store.merge_progress(url).await;
    }
    if committed == 0 {
        // The merged table is new (deleted, or moved away): merge everything again.
        if progress.number > 0 {
            warn!(table = %table.schema.id, lake = url, "the merged table is empty or new; merging every file again.");
        }
        store.reset_merge(url).await?;
        return Ok(Default::default());
    }
    if progress.number == 0 {
        // This state store never merged into the table: it may start it over from a full load.
        return Ok(MergeProgress { number: committed, foreign: true, ..Default::default() });
    }
    Err(Error::Conflict(format!(
        "the merged table {url} holds merge {committed} but this state store has merge {} for it: another state store merges into it. Use the state store that merged it, or another --lake",
        progress.number
    )))
}

#[cfg(test)]
mod tests {
    //! Property tests of the apply logic against real Delta tables in a temporary directory:
    //! a random change log applied at once, in random pieces, and with pieces replayed, always
    //! leaves exactly the rows the log ends with.

    use std::collections::BTreeMap;

    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    use super::*;
    use crate::change::Op;
    use crate::merge::apply::Key;
    use crate::schema::{Column, ColumnType};
    use crate::value::Cell;

    fn schema() -> Arc<TableSchema> {
        let column = |name: &str, ty| Column::nullable(name, ty);
        Arc::new(TableSchema::new(
            TableId::new("shop", "items"),
            vec![column("id", ColumnType::Int), column("name", ColumnType::Text), column("qty", ColumnType::BigInt)],
            vec![0],
            None,
        ))
    }

    struct Change {
        op: Op,
        row: Vec<Cell>,
        moved_from: Option<Key>,
    }

    /// A random log of inserts, updates (some moving the key), deletes and re-inserts over a
    /// small key space, and the rows it ends with.
    fn change_log(rng: &mut StdRng, n: usize) -> (Vec<Change>, BTreeMap<i64, Vec<Cell>>) {
        let mut rows: BTreeMap<i64, Vec<Cell>> = BTreeMap::new();
        let mut log = Vec::new();
        for step in 0..n {
            let key = rng.random_range(0..80i64);
            let row = vec![
                Cell::Int(key),
                Cell::Text(format!("item {key} v{step} {}", "x".repeat(rng.random_range(0..40)))),
                Cell::Int(step as i64),
            ];
            let (op, row, moved_from) = match (rows.contains_key(&key), rng.random_range(0..4)) {
                (false, _) => (Op::Insert, row, None),
                (true, 0) => (Op::Delete, rows[&key].clone(), None),
                (true, 1) => {
                    let to = rng.random_range(80..160i64);
                    if rows.contains_key(&to) {
                        continue;
                    }
                    let mut moved = row.clone();
                    moved[0] = Cell::Int(to);
                    (Op::Update, moved, Some(Key(vec![Cell::Int(key)])))
                }
                (true, _) => (Op::Update, row, None),
            };
            if let Some(Key(old)) = &moved_from
                && let Cell::Int(old) = old[0]
            {
                rows.remove(&old);
            }
            let Cell::Int(k) = row[0] else { unreachable!() };
            if op == Op::Delete {
                rows.remove(&k);
            } else {
                rows.insert(k, row.clone());
            }
            log.push(Change { op, row, moved_from });
        }
        (log, rows)
    }

    async fn apply(table: &mut MergedTable, merge: &mut i64, changes: &[Change]) {
        let mut set = ChangeSet::default();
        for c in changes {
            set.apply(c.op, c.row.clone(), c.moved_from.clone(), &[0]);
        }
        *merge += 1;
        table.merge(&set, *merge).await.unwrap();
    }

    async fn contents(table: &MergedTable) -> Vec<Vec<Cell>> {
        let mut rows = Vec::new();
        table.for_each_row(|r| rows.push(r.to_vec())).await.unwrap();
        rows.sort_by(|a, b| apply::cmp_cell(&a[0], &b[0]));
        rows
    }

    #[tokio::test]
    async fn whole_pieces_and_replays_agree() {
        for seed in 0..6u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let (log, expected) = change_log(&mut rng, 300);
            let expected: Vec<Vec<Cell>> = expected.into_values().collect();
            let dir = tempfile::tempdir().unwrap();
            let lake = Lake::open(&dir.path().display().to_string()).unwrap();
            // Tiny files, so that merges split, group and compact files.
            let target = 2048;
            let open = |name: &str| {
                let mut s = (*schema()).clone();
                s.id = TableId::new("shop", name);
                lake.table(Arc::new(s), target, &[])
            };

            let mut whole = open("whole").await.unwrap();
            apply(&mut whole, &mut 0, &log).await;
            assert_eq!(contents(&whole).await, expected, "seed {seed}: applied whole");

            let mut pieces = open("pieces").await.unwrap();
            let mut replayed = open("replayed").await.unwrap();
            let (mut n_pieces, mut n_replayed) = (0, 0);
            let mut at = 0;
            let mut boundaries = vec![0];
            while at < log.len() {
                let end = (at + rng.random_range(1..60)).min(log.len());
                apply(&mut pieces, &mut n_pieces, &log[at..end]).await;
                apply(&mut replayed, &mut n_replayed, &log[at..end]).await;
                // A crash after the commit but before the progress was kept: the next run
                // applies from an earlier boundary again.
                if rng.random_range(0..3) == 0 {
                    let from = boundaries[rng.random_range(0..boundaries.len())];
                    apply(&mut replayed, &mut n_replayed, &log[from..end]).await;
                }
                boundaries.push(end);
                at = end;
            }
            assert_eq!(contents(&pieces).await, expected, "seed {seed}: applied in pieces");
            assert_eq!(contents(&replayed).await, expected, "seed {seed}: with replays");
            assert!(pieces.file_count() > 1, "seed {seed}: the test needs several files");
            assert_eq!(pieces.merge_number().await.unwrap(), n_pieces, "the table records the last merge");
            // Reopened, the table knows its files and their key ranges again.
            drop(pieces);
            let mut reopened = open("pieces").await.unwrap();
            assert_eq!(contents(&reopened).await, expected);
            // Vacuumed, only the live files stay, and they still hold every row.
            let data_files = || {
                let folder = dir.path().join("shop/pieces");
                std::fs::read_dir(&folder)
                    .unwrap()
                    .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "parquet"))
                    .count()
            };
            assert!(data_files() > reopened.file_count(), "merges left replaced files behind");
            reopened.vacuum(Duration::ZERO).await.unwrap();
            assert_eq!(data_files(), reopened.file_count());
            assert_eq!(contents(&reopened).await, expected);
        }
    }

    #[tokio::test]
    async fn a_merge_interrupted_around_its_commit_is_settled_by_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&dir.path().join("lake").display().to_string()).unwrap();
        let store = Store::open(&dir.path().join("state.db").display().to_string()).await.unwrap();
        let mut table = lake.table(schema(), 1 << 20, &[]).await.unwrap();
        let url = table.url().to_string();
        let id = schema().id.clone();
        let mut set = ChangeSet::default();
        set.apply(Op::Insert, vec![Cell::Int(1), Cell::Text("a".into()), Cell::Int(1)], None, &[0]);

        // Crash after the commit, before the state store heard of it: the merge counts.
        store.begin_merge(&url, &id, 1, "file-1", false).await.unwrap();
        table.merge(&set, 1).await.unwrap();
        let progress = reconcile(&store, &table, &url).await.unwrap();
        assert_eq!((progress.number, progress.through.as_deref(), progress.pending), (1, Some("file-1"), None));

        // Crash before the commit: the merge is forgotten and its files are merged again.
        store.begin_merge(&url, &id, 2, "file-2", false).await.unwrap();
        let progress = reconcile(&store, &table, &url).await.unwrap();
        assert_eq!((progress.number, progress.through.as_deref(), progress.pending), (1, Some("file-1"), None));

        // The merged table was deleted: everything is merged again from the start.
        drop(table);
        std::fs::remove_dir_all(dir.path().join("lake/shop")).unwrap();
        let table = lake.table(schema(), 1 << 20, &[]).await.unwrap();
        let progress = reconcile(&store, &table, &url).await.unwrap();
        assert_eq!((progress.number, progress.through), (0, None));

        // A table merged under another state store is taken over only by a full load.
        let other = Store::open(&dir.path().join("other.db").display().to_string()).await.unwrap();
        let mut table = table;
        table.merge(&set, 1).await.unwrap();
        let progress = reconcile(&other, &table, &url).await.unwrap();
        assert!(progress.foreign && progress.number == 1, "it may only start the table over: {progress:?}");
    }
}
