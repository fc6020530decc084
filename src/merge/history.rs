//! The history of a merged table (`--scd2`, slowly changing dimension type 2): every version of
//! every row, with `__START_AT` (the commit time of the change that made it) and `__END_AT`
//! (the commit time of the change that replaced or deleted it; NULL while current), the
//! columns Databricks' `APPLY CHANGES ... STORED AS SCD TYPE 2` uses. Pure logic: which
//! versions a key has after a run of changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::change::Op;
use crate::merge::apply::Key;
use crate::schema::{Column, ColumnType, TableId, TableSchema};
use crate::value::Cell;

pub const START: &str = "__START_AT";
pub const END: &str = "__END_AT";

/// The history table of `source`: its columns, then `__START_AT` and `__END_AT`; keyed by the
/// source key and `__START_AT`.
pub fn schema(source: &TableSchema) -> Arc<TableSchema> {
    let time = |name: &str| Column::nullable(name, ColumnType::Timestamp { fsp: 6 });
    let mut columns = source.columns.clone();
    columns.extend([time(START), time(END)]);
    let mut primary_key = source.primary_key.clone();
    primary_key.push(source.columns.len());
    Arc::new(TableSchema::new(
        TableId::new(&source.id.database, format!("{}__history", source.id.table)),
        columns,
        primary_key,
        source.charset.clone(),
    ))
}

/// One change of a key at a commit time: the new row, or `None` for a delete.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub at: i64,
    pub row: Option<Vec<Cell>>,
}

/// Changes by source key, each key's in source order.
#[derive(Debug, Default)]
pub struct HistoryChanges {
    by_key: BTreeMap<Key, Vec<Timed>>,
    bytes: usize,
}

impl HistoryChanges {
    /// Applies one change committed at `at` (µs). `moved_from` is the old key of an update
    /// that changed the primary key: that key's row ends there.
    pub fn apply(&mut self, op: Op, row: Vec<Cell>, moved_from: Option<Key>, at: i64, key_columns: &[usize]) {
        let key = Key::of(&row, key_columns);
        if let Some(old) = moved_from
            && old != key
        {
            self.by_key.entry(old).or_default().push(Timed { at, row: None });
        }
        self.bytes += row.len() * 24 + 64;
        let row = (op != Op::Delete).then_some(row);
        self.by_key.entry(key).or_default().push(Timed { at, row });
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, key: &Key) -> Option<&Vec<Timed>> {
        self.by_key.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Vec<Timed>)> {
        self.by_key.iter()
    }

    /// The keys in `[min, max]`.
    pub fn range<'a>(&'a self, min: &Key, max: &Key) -> impl Iterator<Item = (&'a Key, &'a Vec<Timed>)> + 'a {
        self.by_key.range(min.clone()..=max.clone())
    }
}

/// The versions of one key after `changes`, given its versions so far (history rows: the
/// source columns, `__START_AT`, `__END_AT`, ordered by `__START_AT`). A change ends the
/// current version and, unless it is a delete, starts the next. A change no later than the
/// current version's start was applied before (a replayed file) and changes nothing, except
/// a change at the very same time, which is the same transaction's later word on the row.
pub fn versions(mut rows: Vec<Vec<Cell>>, changes: &[Timed]) -> Vec<Vec<Cell>> {
    let Some(width) = rows.first().map(Vec::len).or_else(|| changes.iter().find_map(|c| c.row.as_ref().map(|r| r.len() + 2))) else {
        return rows;
    };
    let (start, end) = (width - 2, width - 1);
    let micros = |c: &Cell| if let Cell::Micros(t) = c { Some(*t) } else { None };
    for change in changes {
        let current = rows.last().filter(|r| r[end] == Cell::Null).and_then(|r| micros(&r[start]));
        match current {
            Some(since) if change.at < since => continue,
            // The same transaction's later word on the row replaces the version it started
            // (the version before it still ends at that time).
            Some(since) if change.at == since => {
                rows.pop();
            }
            Some(_) => {
                let last = rows.last_mut().expect("a current version");
                last[end] = Cell::Micros(change.at);
            }
            None => {
                // No current version: the key is new, deleted, or its deletion is replayed.
                if rows.last().and_then(|r| micros(&r[end])).is_some_and(|ended| change.at <= ended) {
                    continue;
                }
            }
        }
        if let Some(row) = &change.row {
            let mut version = row.clone();
            version.extend([Cell::Micros(change.at), Cell::Null]);
            rows.push(version);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &str) -> Vec<Cell> {
        vec![Cell::Int(1), Cell::Text(v.into())]
    }

    fn timed(at: i64, v: Option<&str>) -> Timed {
        Timed { at, row: v.map(row) }
    }

    fn shown(rows: &[Vec<Cell>]) -> Vec<String> {
        rows.iter().map(|r| format!("{:?} {:?}..{:?}", r[1], r[2], r[3])).collect()
    }

    #[test]
    fn each_change_ends_the_current_version() {
        let changes = [timed(10, Some("a")), timed(20, Some("b")), timed(30, None), timed(40, Some("c"))];
        let all = versions(Vec::new(), &changes);
        assert_eq!(
            shown(&all),
            vec!["Text(\"a\") Micros(10)..Micros(20)", "Text(\"b\") Micros(20)..Micros(30)", "Text(\"c\") Micros(40)..Null"]
        );
        // in pieces, and with a piece applied twice: the same versions
        let first = versions(Vec::new(), &changes[..2]);
        let again = versions(first.clone(), &changes[..2]);
        assert_eq!(again, first);
        assert_eq!(versions(again, &changes[1..]), all);
    }

    #[test]
    fn changes_at_the_same_time_keep_the_last() {
        let all = versions(Vec::new(), &[timed(10, Some("a")), timed(20, Some("b")), timed(20, Some("c"))]);
        assert_eq!(shown(&all), vec!["Text(\"a\") Micros(10)..Micros(20)", "Text(\"c\") Micros(20)..Null"]);
        // inserted and deleted in one transaction: no version
        let gone = versions(Vec::new(), &[timed(10, Some("a")), timed(20, Some("b")), timed(20, None)]);
        assert_eq!(shown(&gone), vec!["Text(\"a\") Micros(10)..Micros(20)"]);
    }
}
