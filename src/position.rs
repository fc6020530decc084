//! Source positions. A binlog coordinate (file, offset) is totally ordered within one server:
//! binlog files are numbered, and offsets grow within a file. Positions recorded by binlake
//! are always transaction boundaries (the offset just after a COMMIT/XID), so "a change is
//! already covered by position P" is simply `change_end <= P`.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BinlogPos {
    pub file: String,
    pub offset: u64,
}

impl BinlogPos {
    pub fn new(file: impl Into<String>, offset: u64) -> Self {
        Self { file: file.into(), offset }
    }

    /// binlake's sequence column value for the `n`th row of the event ending here (or the
    /// `n`th LOAD row of a snapshot taken here), after the state's sequence `epoch`: fixed
    /// width, so text order is change order (`0000.0000000042.00000000000000001234.000000000001`).
    pub fn sequence(&self, epoch: u32, n: u64) -> String {
        format!("{epoch:04}.{:010}.{:020}.{n:012}", self.file_seq(), self.offset)
    }

    /// The numeric suffix of the file name (`mysql-bin.000042` -> 42), which orders files.
    fn file_seq(&self) -> u64 {
        self.file.rsplit('.').next().and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

impl Ord for BinlogPos {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.file_seq(), &self.file, self.offset).cmp(&(other.file_seq(), &other.file, other.offset))
    }
}

impl PartialOrd for BinlogPos {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BinlogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

/// A MariaDB GTID position: the last sequence number seen per replication domain,
/// rendered as MariaDB's `gtid_slave_pos` text (`0-1-100,1-2-7`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariadbGtidPos {
    domains: std::collections::BTreeMap<u32, (u32, u64)>,
}

impl MariadbGtidPos {
    pub fn parse(text: &str) -> Option<Self> {
        let mut pos = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.splitn(3, '-');
            let domain = it.next()?.parse().ok()?;
            let server = it.next()?.parse().ok()?;
            let seq = it.next()?.parse().ok()?;
            pos.domains.insert(domain, (server, seq));
        }
        Some(pos)
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    pub fn advance(&mut self, domain: u32, server: u32, seq: u64) {
        self.domains.insert(domain, (server, seq));
    }
}

impl fmt::Display for MariadbGtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.domains.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_file_number_then_offset() {
        let a = BinlogPos::new("mysql-bin.000009", 900);
        let b = BinlogPos::new("mysql-bin.000010", 4);
        let c = BinlogPos::new("mysql-bin.000010", 120);
        assert!(a < b && b < c);
        assert!(BinlogPos::new("mysql-bin.999999", 4) < BinlogPos::new("mysql-bin.1000000", 4));
    }

    #[test]
    fn mariadb_gtid_round_trip() {
        let mut p = MariadbGtidPos::parse("0-1-100,2-5-7").unwrap();
        assert_eq!(p.to_string(), "0-1-100,2-5-7");
        p.advance(0, 3, 101);
        p.advance(1, 1, 1);
        assert_eq!(p.to_string(), "0-3-101,1-1-1,2-5-7");
        assert_eq!(MariadbGtidPos::parse("").unwrap().to_string(), "");
        assert!(MariadbGtidPos::parse("x-1-2").is_none());
    }
}
