//! Following schema changes: the schema of every streaming table as of the position a session
//! starts from (from the schema history), and what each DDL statement of the binlog does to
//! replicated tables: a new schema from its position on, a table gone, or a table that must
//! be loaded anew because binlake cannot follow the change.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{info, warn};

use super::Pipeline;
use crate::error::Result;
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::source;
use crate::source::tracker::{Effect, Tracker};
use crate::state::{Phase, StateStore};

impl Pipeline {
    /// Sets up `tracker` with every streaming table's schema as of `start`, from the schema
    /// history: a table loaded after `start` has its snapshot's schema, and its events up to
    /// the snapshot are skipped.
    pub(super) async fn track_from(
        &self,
        tracker: &mut Tracker,
        start: &BinlogPos,
        live: &HashMap<TableId, Arc<TableSchema>>,
    ) -> Result<()> {
        for state in self.store.tables().await? {
            if state.phase != Phase::Streaming {
                continue;
            }
            let entries = self.store.table_history(&state.id).await?;
            let entry = match &state.snapshot {
                Some(snapshot) if snapshot >= start => entries.iter().find(|h| &h.at == snapshot),
                _ => entries.iter().rev().find(|h| &h.at <= start),
            };
            let schema = match entry {
                Some(entry) => entry.schema.clone().map(Arc::new),
                // A state from before schema histories: the table as it is now, from here on.
                None => {
                    let schema = live.get(&state.id).cloned();
                    if let Some(schema) = &schema {
                        self.store.record_schema(&state.id, start, Some(schema), "schema history started", &[]).await?;
                    }
                    schema
                }
            };
            if let Some(schema) = schema {
                tracker.insert(schema, state.snapshot.clone());
            }
        }
        Ok(())
    }

    /// Records what a DDL statement that ended at `end` did to replicated tables. Returns true
    /// when tables must be loaded anew before streaming goes on.
    pub(super) async fn follow(&self, tracker: &mut Tracker, effects: Vec<Effect>, query: &str, end: &BinlogPos) -> Result<bool> {
        let statement: String = query.chars().take(200).collect();
        let mut reload = false;
        for effect in effects {
            match effect {
                Effect::Schema { schema, renamed } => {
                    self.store.record_schema(&schema.id, end, Some(&schema), query, &renamed).await?;
                    info!(table = %schema.id, position = %end, statement = %statement, "following a schema change.");
                }
                Effect::Gone(table) => {
                    self.store.record_schema(&table, end, None, query, &[]).await?;
                    self.store.set_phase(&table, Phase::Dropped).await?;
                    info!(table = %table, position = %end, statement = %statement, "the table is gone; its files stop here.");
                }
                Effect::Reload { table, why } => reload |= self.reload(&table, &why, end, &statement).await?,
                Effect::Unknown { table, reason } => match self.schema_now_if_current(&table, end).await? {
                    Some(schema) => {
                        tracker.insert(schema.clone(), None);
                        self.store.record_schema(&table, end, Some(&schema), query, &[]).await?;
                        warn!(table = %table, position = %end, statement = %statement, reason = %reason,
                            "a statement binlake cannot parse changed the table; its schema is read from information_schema (no later change is in the binlog).");
                    }
                    None => {
                        warn!(table = %table, position = %end, statement = %statement, reason = %reason,
                            "a statement binlake cannot parse changed the table, and later changes are in the binlog already.");
                        reload |= self.reload(&table, "binlake could not follow a statement", end, &statement).await?;
                    }
                },
            }
        }
        Ok(reload)
    }

    /// Marks `table` for a new full load, if it still exists at the source; returns whether it
    /// does. A table gone since (renamed on, dropped) is not loaded under this name: what it
    /// became is loaded under its own.
    async fn reload(&self, table: &TableId, why: &str, end: &BinlogPos, statement: &str) -> Result<bool> {
        let mut conn = self.s.source.connect().await?;
        if !source::table_exists(&mut conn, table).await? {
            info!(table = %table, position = %end, statement = %statement, "not loading the table ({why}): it is not at the source any more.");
            return Ok(false);
        }
        self.store.set_phase(table, Phase::Loading).await?;
        info!(table = %table, position = %end, statement = %statement, "loading the table anew: {why}.");
        Ok(true)
    }

    /// The schema `information_schema` shows for `table`, when nothing was written to the
    /// binlog after `end`: then it is the schema as of `end`, not of some later DDL.
    async fn schema_now_if_current(&self, table: &TableId, end: &BinlogPos) -> Result<Option<Arc<TableSchema>>> {
        let mut conn = self.s.source.connect().await?;
        if &source::current_position(&mut conn).await? != end {
            return Ok(None);
        }
        let schema = source::load_schema(&mut conn, table, self.s.schema_options).await?;
        // Read again: a DDL that ran meanwhile makes what was read unusable.
        let current = &source::current_position(&mut conn).await? == end && !schema.columns.is_empty();
        Ok(current.then(|| Arc::new(schema)))
    }
}
