//! The apply logic, free of I/O: a run of row changes in source order reduced to the final
//! state of every key it touches, the order of keys, and which data files of a table a set of
//! changes makes the merger rewrite. Correctness never depends on how files are clustered:
//! clustering only decides how much is rewritten.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::change::Op;
use crate::value::Cell;

/// A primary-key value: the key columns' cells, in key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Key(pub Vec<Cell>);

impl Eq for Key {}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().zip(&other.0).map(|(a, b)| cmp_cell(a, b)).find(|o| o.is_ne()).unwrap_or(self.0.len().cmp(&other.0.len()))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Key {
    pub fn of(row: &[Cell], key_columns: &[usize]) -> Self {
        Key(key_columns.iter().map(|&i| row[i].clone()).collect())
    }

    /// The first `n` cells.
    pub fn prefix(&self, n: usize) -> Key {
        Key(self.0[..n.min(self.0.len())].to_vec())
    }
}

/// A total order on cells of one column: numbers by value, decimals by value, text and bytes
/// by bytes, NULL first. Key columns are never NULL; the order only has to be total and the
/// same everywhere the merger compares keys.
pub fn cmp_cell(a: &Cell, b: &Cell) -> Ordering {
    use Cell::*;
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Less,
        (_, Null) => Ordering::Greater,
        (Int(x), Int(y)) => x.cmp(y),
        (UInt(x), UInt(y)) => x.cmp(y),
        (Int(x), UInt(y)) => (*x as i128).cmp(&(*y as i128)),
        (UInt(x), Int(y)) => (*x as i128).cmp(&(*y as i128)),
        (Float(x), Float(y)) => x.total_cmp(y),
        (Double(x), Double(y)) => x.total_cmp(y),
        (Bool(x), Bool(y)) => x.cmp(y),
        (Decimal(x), Decimal(y)) => cmp_decimal(x, y),
        (Date(x), Date(y)) => x.cmp(y),
        (Micros(x), Micros(y)) => x.cmp(y),
        (Text(x), Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bytes(x), Bytes(y)) => x.cmp(y),
        // Cells of one column share a kind; order kinds anyway so the order stays total.
        _ => kind(a).cmp(&kind(b)),
    }
}

fn kind(c: &Cell) -> u8 {
    match c {
        Cell::Null => 0,
        Cell::Int(_) | Cell::UInt(_) => 1,
        Cell::Float(_) => 2,
        Cell::Double(_) => 3,
        Cell::Bool(_) => 4,
        Cell::Decimal(_) => 5,
        Cell::Date(_) => 6,
        Cell::Micros(_) => 7,
        Cell::Text(_) => 8,
        Cell::Bytes(_) => 9,
    }
}

/// Compares exact decimal texts (`-12.50`, `3`, `0.125`) by value.
fn cmp_decimal(a: &str, b: &str) -> Ordering {
    let parse = |t: &str| {
        let (neg, digits) = t.strip_prefix('-').map_or((false, t), |d| (true, d));
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let zero = int.is_empty() && frac.is_empty();
        (neg && !zero, int.to_string(), frac.to_string())
    };
    let (an, ai, af) = parse(a);
    let (bn, bi, bf) = parse(b);
    let magnitude = ai.len().cmp(&bi.len()).then_with(|| ai.cmp(&bi)).then_with(|| af.cmp(&bf));
    match (an, bn) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

/// What a key ends as after a run of changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Final {
    /// The row as it is now (an insert, or the last update).
    Row(Vec<Cell>),
    Deleted,
}

/// Changes reduced to the final state of each key, in key order. Applying changes in source
/// order makes a later change of a key replace an earlier one, so the result is the same
/// whether the run is applied at once, in pieces, or with a replayed piece re-applied before
/// the rest: inserts and updates are upserts, deletes of missing keys do nothing.
#[derive(Debug, Default)]
pub struct ChangeSet {
    finals: BTreeMap<Key, Final>,
    bytes: usize,
}

impl ChangeSet {
    /// Applies one change. `moved_from` is the old key of an update that changed the primary
    /// key: that key is gone.
    pub fn apply(&mut self, op: Op, row: Vec<Cell>, moved_from: Option<Key>, key_columns: &[usize]) {
        let key = Key::of(&row, key_columns);
        if let Some(old) = moved_from
            && old != key
        {
            self.bytes += 32;
            self.finals.insert(old, Final::Deleted);
        }
        self.bytes += row.iter().map(cell_bytes).sum::<usize>() + 32;
        let state = if op == Op::Delete { Final::Deleted } else { Final::Row(row) };
        self.finals.insert(key, state);
    }

    pub fn is_empty(&self) -> bool {
        self.finals.is_empty()
    }

    pub fn len(&self) -> usize {
        self.finals.len()
    }

    /// Roughly the memory the change set holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, key: &Key) -> Option<&Final> {
        self.finals.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Final)> {
        self.finals.iter()
    }

    /// The keys in `[min, max]`.
    pub fn range<'a>(&'a self, min: &Key, max: &Key) -> impl Iterator<Item = (&'a Key, &'a Final)> + 'a {
        self.finals.range(min.clone()..=max.clone())
    }
}

fn cell_bytes(c: &Cell) -> usize {
    match c {
        Cell::Text(t) | Cell::Decimal(t) => t.len() + 24,
        Cell::Bytes(b) => b.len() + 24,
        _ => 16,
    }
}

/// A data file of the merged table as the planner sees it: its key range and size.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRange {
    pub min: Key,
    pub max: Key,
    pub bytes: u64,
}

/// Which files a merge rewrites, in groups of files adjacent in key order. Each group is
/// rewritten as one sorted stream (its rows minus the changed keys, plus the changed rows of
/// its key span) split into files of the target size. Changed rows outside every group's span
/// go to new files.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub groups: Vec<Group>,
}

#[derive(Debug, PartialEq)]
pub struct Group {
    /// Indexes into the files, adjacent in key order.
    pub files: Vec<usize>,
    /// The keys this group's rewrite holds: `[lo, hi)`, unbounded where `None`.
    pub lo: Option<Key>,
    pub hi: Option<Key>,
}

impl Group {
    pub fn owns(&self, key: &Key) -> bool {
        self.lo.as_ref().is_none_or(|lo| lo <= key) && self.hi.as_ref().is_none_or(|hi| key < hi)
    }
}

/// Files smaller than this fraction of the target size are small: new rows next to them
/// join them rather than start a file of their own, and compaction merges them.
const SMALL_FRACTION: u64 = 4;
/// Compaction starts once a table has this many small files.
pub const COMPACT_AFTER_SMALL_FILES: usize = 8;

/// Plans a merge of `changes` into `files`, which must be ordered by `min`. A changed key is
/// owned by the last file whose `min` is not above it; every file whose range holds a changed
/// key is rewritten (it must lose its old row), and a new row joins its owner when the owner
/// is rewritten anyway or is small.
pub fn plan(files: &[FileRange], changes: &ChangeSet, target_bytes: u64) -> Plan {
    let small = |f: &FileRange| f.bytes < target_bytes / SMALL_FRACTION;
    let mut rewrite: Vec<bool> = files.iter().map(|f| changes.range(&f.min, &f.max).next().is_some()).collect();
    if !files.is_empty() {
        for (key, state) in changes.iter() {
            if matches!(state, Final::Row(_)) {
                let owner = files.partition_point(|f| &f.min <= key).saturating_sub(1);
                rewrite[owner] |= small(&files[owner]);
            }
        }
    }
    group(files, rewrite, target_bytes)
}

/// Groups the files to rewrite (`rewrite[i]`), adding small files worth compacting.
pub fn group(files: &[FileRange], mut rewrite: Vec<bool>, target_bytes: u64) -> Plan {
    let small = |f: &FileRange| f.bytes < target_bytes / SMALL_FRACTION;
    if files.iter().filter(|f| small(f)).count() >= COMPACT_AFTER_SMALL_FILES {
        let is_small = |j: usize| files.get(j).is_some_and(small);
        for (i, r) in rewrite.iter_mut().enumerate() {
            *r |= is_small(i) && ((i > 0 && is_small(i - 1)) || is_small(i + 1));
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    for i in (0..files.len()).filter(|&i| rewrite[i]) {
        match groups.last_mut() {
            Some(g) if g.files.last() == Some(&(i - 1)) => g.files.push(i),
            _ => groups.push(Group { files: vec![i], lo: (i > 0).then(|| files[i].min.clone()), hi: None }),
        }
    }
    for g in &mut groups {
        let last = *g.files.last().expect("groups are not empty");
        g.hi = files.get(last + 1).map(|f| f.min.clone());
    }
    Plan { groups }
}

/// The rows of a group's rewrite in key order: existing rows (already in key order) whose key
/// the changes do not touch, merged with the changes' rows. Yields `Ok(existing index)` or
/// `Err(row)` for a row from the changes.
pub fn merge_sorted<'a>(
    existing: impl IntoIterator<Item = Key> + 'a,
    changed: impl IntoIterator<Item = (&'a Key, &'a Vec<Cell>)> + 'a,
) -> impl Iterator<Item = Result<usize, &'a Vec<Cell>>> + 'a {
    let mut existing = existing.into_iter().enumerate().peekable();
    let mut changed = changed.into_iter().peekable();
    std::iter::from_fn(move || match (existing.peek(), changed.peek()) {
        (Some((_, e)), Some((c, _))) if e < *c => existing.next().map(|(i, _)| Ok(i)),
        (Some(_), Some(_)) | (None, Some(_)) => changed.next().map(|(_, row)| Err(row)),
        (Some(_), None) => existing.next().map(|(i, _)| Ok(i)),
        (None, None) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(i: i64) -> Key {
        Key(vec![Cell::Int(i)])
    }

    #[test]
    fn decimals_order_by_value() {
        let mut values = vec!["10.5", "-0.50", "2", "-3", "0.00", "0.125", "-0.125", "9.99", "100"];
        values.sort_by(|a, b| cmp_decimal(a, b));
        assert_eq!(values, vec!["-3", "-0.50", "-0.125", "0.00", "0.125", "2", "9.99", "10.5", "100"]);
        assert_eq!(cmp_decimal("-0.00", "0"), Ordering::Equal);
    }

    #[test]
    fn a_key_change_deletes_the_old_key() {
        let mut set = ChangeSet::default();
        set.apply(Op::Insert, vec![Cell::Int(1), Cell::Text("a".into())], None, &[0]);
        set.apply(Op::Update, vec![Cell::Int(2), Cell::Text("a".into())], Some(int(1)), &[0]);
        assert_eq!(set.get(&int(1)), Some(&Final::Deleted));
        assert_eq!(set.get(&int(2)), Some(&Final::Row(vec![Cell::Int(2), Cell::Text("a".into())])));
    }

    #[test]
    fn changes_touch_only_the_files_holding_their_keys() {
        let file = |min, max, bytes| FileRange { min: int(min), max: int(max), bytes };
        let files = vec![file(1, 100, 1000), file(101, 200, 1000), file(201, 300, 1000)];
        let mut set = ChangeSet::default();
        set.apply(Op::Delete, vec![Cell::Int(150)], None, &[0]);
        let groups = |files: &[FileRange], set: &ChangeSet| plan(files, set, 1000).groups.into_iter().map(|g| g.files).collect::<Vec<_>>();
        assert_eq!(groups(&files, &set), vec![vec![1]]);
        let p = plan(&files, &set, 1000);
        assert!(p.groups[0].owns(&int(101)) && p.groups[0].owns(&int(200)) && p.groups[0].owns(&int(200)));
        assert!(!p.groups[0].owns(&int(100)) && !p.groups[0].owns(&int(201)));
        // a new key after the last (full) file goes to a new file
        set.apply(Op::Insert, vec![Cell::Int(400)], None, &[0]);
        assert_eq!(groups(&files, &set), vec![vec![1]]);
        // ... but joins the last file while it is small
        let small_last = vec![file(1, 100, 1000), file(101, 200, 1000), file(201, 300, 10)];
        assert_eq!(groups(&small_last, &set), vec![vec![1, 2]]);
        assert!(plan(&small_last, &set, 1000).groups[0].owns(&int(400)));
    }

    #[test]
    fn small_files_are_compacted_in_runs() {
        let files: Vec<FileRange> =
            (0..10).map(|i| FileRange { min: int(i * 10), max: int(i * 10 + 9), bytes: if i == 5 { 1000 } else { 10 } }).collect();
        let groups: Vec<Vec<usize>> = plan(&files, &ChangeSet::default(), 1000).groups.into_iter().map(|g| g.files).collect();
        assert_eq!(groups, vec![vec![0, 1, 2, 3, 4], vec![6, 7, 8, 9]]);
    }

    #[test]
    fn merged_rows_stay_in_key_order() {
        let existing = vec![int(1), int(3), int(5)];
        let a = vec![Cell::Int(2)];
        let b = vec![Cell::Int(6)];
        let (k2, k6) = (int(2), int(6));
        let changed = vec![(&k2, &a), (&k6, &b)];
        let out: Vec<String> = merge_sorted(existing, changed)
            .map(|r| match r {
                Ok(i) => format!("e{i}"),
                Err(row) => format!("{:?}", row[0]),
            })
            .collect();
        assert_eq!(out, vec!["e0", "Int(2)", "e1", "e2", "Int(6)"]);
    }
}
