//! What the stream and the chunk workers of a full load share while both run: where each
//! chunk is (opening, being read as of a position, committed), so the stream can tell which
//! changes the LOAD files hold (see `source::chunks` for why that is exact).
//!
//! The order of events that keeps it exact:
//! - A worker marks a chunk opening before it opens the chunk's snapshot, and reading at the
//!   snapshot's position right after. The stream waits while a change's chunk is opening; a
//!   chunk not begun yet will be read as of a position after every event the stream has read.
//! - A change after a chunk's position that the stream writes while the chunk is only being
//!   read must not reach a committed CDC file before the chunk is committed: should binlake
//!   stop in between, the chunk is read anew, with the change. So the stream notes such
//!   chunks and, before its next commit, waits until they are committed (asking the workers
//!   to commit what they have at once).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::change::{Change, Op};
use crate::error::{Error, Result};
use crate::position::BinlogPos;
use crate::schema::TableId;
use crate::source::chunks::{ChunkState, Judged, Key, KeyRange, LoadedTable};
use crate::value::Cell;

/// A chunk a written change waits for: its table and its lower bound.
pub(super) type Awaited = HashSet<(TableId, Option<Key>)>;

#[derive(Default)]
pub(super) struct Board {
    state: Mutex<State>,
    changed: Notify,
    /// A table's load ended or the load failed: the stream, waiting for events, looks again
    /// (a permit is kept when it is not waiting yet).
    settled: Notify,
}

#[derive(Default)]
struct State {
    tables: HashMap<TableId, LoadedTable>,
    /// Tables whose full load goes on.
    loading: HashSet<TableId>,
    /// Why the full load failed: the stream stops with it.
    failed: Option<Error>,
    /// The stream waits for chunks: workers commit what they have at once.
    hurry: bool,
}

impl Board {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("never poisoned")
    }

    /// Adds a table with what its LOAD files hold; `loading` while its load goes on.
    pub fn insert(&self, id: TableId, table: LoadedTable, loading: bool) {
        let mut state = self.state();
        if loading {
            state.loading.insert(id.clone());
        }
        state.tables.insert(id, table);
    }

    /// The chunk `range` of `table` goes to `chunk`.
    pub fn set(&self, table: &TableId, range: KeyRange, chunk: ChunkState) {
        self.state().tables.entry(table.clone()).or_default().set(range, chunk);
        self.changed.notify_waiters();
    }

    /// The table's full load is done.
    pub fn loaded(&self, table: &TableId) {
        let mut state = self.state();
        state.loading.remove(table);
        if let Some(loaded) = state.tables.get_mut(table) {
            loaded.settle();
        }
        drop(state);
        self.changed.notify_waiters();
        self.settled.notify_one();
    }

    /// The full load failed with `error`.
    pub fn fail(&self, error: Error) {
        self.state().failed = Some(error);
        self.changed.notify_waiters();
        self.settled.notify_one();
    }

    /// Returns once a table's load ended or the load failed, since the last return.
    pub async fn settled(&self) {
        self.settled.notified().await
    }

    /// The error the full load failed with, once.
    pub fn failure(&self) -> Option<Error> {
        self.state().failed.take()
    }

    /// True when the stream waits for chunks to be committed.
    pub fn hurry(&self) -> bool {
        self.state().hurry
    }

    /// True while a full load goes on.
    pub fn loading(&self) -> bool {
        !self.state().loading.is_empty()
    }

    /// True once no full load goes on and the stream at `at` is past every chunk's position.
    pub fn done_at(&self, at: &BinlogPos) -> bool {
        let state = self.state();
        state.loading.is_empty() && state.tables.values().all(|t| t.newest().is_none_or(|n| n <= at))
    }

    /// Keeps of a change what the LOAD files do not hold; false when they hold all of it.
    /// An update that moved a row between chunks may be half held: if the new row is in its
    /// chunk's LOAD rows the change becomes the old row's delete, if the old row's chunk
    /// already held the change (the row never was there) it becomes the new row's insert.
    /// Chunks being read that a kept change waits for are added to `awaited`.
    pub async fn unloaded_part(&self, change: &mut Change, at: &BinlogPos, awaited: &mut Awaited) -> Result<bool> {
        let (old, new) = loop {
            let opened = self.changed.notified();
            {
                let mut state = self.state();
                if let Some(e) = state.failed.take() {
                    return Err(e);
                }
                let Some(table) = state.tables.get(&change.table.id) else { return Ok(true) };
                let judge = |row: &[Cell]| table.judge(&change.table, row, at);
                let new = judge(&change.row);
                let old = change.moved_from.as_deref().map(judge);
                if new == Judged::Unplaceable || old == Some(Judged::Unplaceable) {
                    return Err(Error::Internal(format!(
                        "a change of {} at {at} has a key that is not of its chunked full load's key; run `binlake reload {}` to load the table anew",
                        change.table.id, change.table.id
                    )));
                }
                if new != Judged::Opening && old != Some(Judged::Opening) {
                    break (old, new);
                }
            }
            opened.await;
        };
        let table = change.table.id.clone();
        let mut wait = |judged: &Judged| {
            if let Judged::Streamed(Some(lo)) = judged {
                awaited.insert((table.clone(), lo.clone()));
            }
        };
        let streamed = |j: &Judged| *j != Judged::Loaded;
        match (&old, &new) {
            (None, new) => {
                wait(new);
                Ok(streamed(new))
            }
            (Some(old), new) if !streamed(old) && !streamed(new) => Ok(false),
            (Some(old), new) if streamed(old) && !streamed(new) => {
                wait(old);
                change.op = Op::Delete;
                change.row = change.moved_from.take().expect("an old row");
                Ok(true)
            }
            (Some(old), new) => {
                wait(old);
                wait(new);
                if !streamed(old) {
                    change.op = Op::Insert;
                    change.moved_from = None;
                }
                Ok(true)
            }
        }
    }

    /// Waits until every chunk in `awaited` is committed, asking the workers to commit at
    /// once; fails when the full load does.
    pub async fn committed(&self, awaited: &mut Awaited) -> Result<()> {
        loop {
            let changed = self.changed.notified();
            {
                let mut state = self.state();
                if let Some(e) = state.failed.take() {
                    return Err(e);
                }
                let state = &mut *state;
                awaited.retain(|(table, lo)| state.tables.get(table).is_some_and(|t| !t.is_committed(lo)));
                state.hurry = !awaited.is_empty();
                if awaited.is_empty() {
                    return Ok(());
                }
            }
            changed.await;
        }
    }
}
