//! Following schema changes: the schema of every streaming table as of the position a session
//! starts from (from the schema history), and what each DDL statement of the binlog does to
//! replicated tables: a new schema from its position on, a table gone, or a table that must
//! be loaded anew because binlake cannot follow the change. So are changes whose rows the
//! binlog does not carry readably: a data-changing statement logged as text, and a TABLE_MAP
//! that shows a schema binlake did not see. Their tables are loaded anew once the
//! transaction commits (or binlake stops, with `--on-statement-change stop`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tracing::{info, warn};

use super::{OnChange, Pipeline};
use crate::error::{Error, Result};
use crate::metrics;
use crate::position::BinlogPos;
use crate::schema::{TableId, TableSchema};
use crate::source::tracker::{Effect, Tracker};
use crate::source::{self, statement};
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
                Effect::Reload { table, why } => reload |= self.reload(&table, &why, "ddl", end, &statement).await?,
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
                        reload |= self.reload(&table, "binlake could not follow a statement", "ddl", end, &statement).await?;
                    }
                },
            }
        }
        Ok(reload)
    }

    /// Marks `table` for a new full load, if it still exists at the source; returns whether it
    /// does. A table gone since (renamed on, dropped) is not loaded under this name: what it
    /// became is loaded under its own.
    async fn reload(&self, table: &TableId, why: &str, reason: &'static str, end: &BinlogPos, statement: &str) -> Result<bool> {
        let mut conn = self.s.source.connect().await?;
        if !source::table_exists(&mut conn, table).await? {
            info!(table = %table, position = %end, statement = %statement, "not loading the table ({why}): it is not at the source any more.");
            return Ok(false);
        }
        self.store.set_phase(table, Phase::Loading).await?;
        metrics::table_reloaded(&table.to_string(), reason);
        match statement {
            "" => info!(table = %table, position = %end, "loading the table anew: {why}."),
            _ => info!(table = %table, position = %end, statement = %statement, "loading the table anew: {why}."),
        }
        Ok(true)
    }

    /// A data-changing statement logged as text, ending at `at`: the replicated tables it
    /// writes are added to `unlogged`, to be loaded anew once the transaction commits. Tables
    /// not replicated, or whose snapshot already holds the statement, are not.
    pub(super) fn statement_rows(
        &self,
        catalog: &Tracker,
        query: &str,
        database: &str,
        at: &BinlogPos,
        unlogged: &mut BTreeMap<TableId, Unlogged>,
    ) -> Result<()> {
        let statement = short(query);
        let Some(written) = statement::changed_tables(query, database) else {
            if catalog.replicated_tables().all(|t| catalog.followed(&t.id, at).is_none()) {
                return Ok(()); // nothing it could have changed is replicated (or not yet loaded)
            }
            return Err(Error::MustReload {
                what: format!("binlake cannot tell which tables a statement logged in statement format ({statement}) changed"),
                position: at.clone(),
                way_out: "Run `binlake reload --all` to load every table anew from a new snapshot, then start binlake again; and have every session that writes replicated tables use binlog_format=ROW".into(),
            });
        };
        let tables: Vec<TableId> = written.iter().filter_map(|t| catalog.followed(t, at)).collect();
        if tables.is_empty() {
            tracing::debug!(position = %at, statement = %statement, "a statement logged in statement format changed no replicated table.");
            return Ok(());
        }
        let what = format!(
            "a statement logged in statement format ({statement}) changed {}, and the binlog does not carry its rows (sessions writing replicated tables must use binlog_format=ROW)",
            names(&tables)
        );
        self.unlogged(
            tables,
            Unlogged { why: "a statement logged in statement format changed it", reason: "statement_format" },
            what,
            at,
            unlogged,
        )
    }

    /// The TABLE_MAP of `table` ending at `at` does not match the tracked schema.
    pub(super) fn schema_drift(
        &self,
        table: TableId,
        detail: &str,
        at: &BinlogPos,
        unlogged: &mut BTreeMap<TableId, Unlogged>,
    ) -> Result<()> {
        let what = format!(
            "the binlog's TABLE_MAP of {table} does not match binlake's schema of the table ({detail}): a schema change binlake did not see (made with sql_log_bin=0, or before a replica was promoted)"
        );
        let why = Unlogged { why: "its TABLE_MAP showed a schema change binlake did not see", reason: "schema_drift" };
        self.unlogged(vec![table], why, what, at, unlogged)
    }

    fn unlogged(
        &self,
        tables: Vec<TableId>,
        why: Unlogged,
        what: String,
        at: &BinlogPos,
        unlogged: &mut BTreeMap<TableId, Unlogged>,
    ) -> Result<()> {
        if self.s.on_statement_change == OnChange::Stop {
            let them = if tables.len() == 1 { "it" } else { "them" };
            return Err(Error::MustReload {
                what,
                position: at.clone(),
                way_out: format!(
                    "Run `binlake reload {}` to load {them} anew from a new snapshot, then start binlake again (with --on-statement-change reload binlake does this by itself)",
                    tables.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ")
                ),
            });
        }
        for table in tables {
            if let std::collections::btree_map::Entry::Vacant(entry) = unlogged.entry(table) {
                warn!(table = %entry.key(), position = %at, "{what}; the table is loaded anew once its transaction commits.");
                entry.insert(why);
            }
        }
        Ok(())
    }

    /// Marks the tables of `unlogged` for a new full load, before the checkpoint passes the
    /// transaction that changed them (`end`): a crash in between loads them all the same.
    /// Returns whether any is still at the source.
    pub(super) async fn reload_unlogged(&self, unlogged: BTreeMap<TableId, Unlogged>, end: &BinlogPos) -> Result<bool> {
        let mut any = false;
        for (table, why) in unlogged {
            any |= self.reload(&table, why.why, why.reason, end, "").await?;
        }
        Ok(any)
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

/// Why a table must be loaded anew although no DDL said so.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unlogged {
    why: &'static str,
    /// The metric's label.
    reason: &'static str,
}

/// A statement as logs and messages quote it.
fn short(query: &str) -> String {
    let one_line: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &one_line[..cut]),
        None => one_line,
    }
}

fn names(tables: &[TableId]) -> String {
    tables.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}
