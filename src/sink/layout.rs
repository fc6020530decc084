//! DMS object keys: `<bucket_folder>/<database>/<table>/LOAD00000001.parquet` for full load and
//! `<bucket_folder>/<database>/<table>/YYYYMMDD-HHMMSSmmm.parquet` for CDC.

use chrono::{DateTime, Utc};

use crate::schema::TableId;

/// The folder of a table, relative to the bucket folder.
pub fn table_folder(id: &TableId) -> String {
    format!("{}/{}", id.database, id.table)
}

/// `LOAD` + 8 upper-case hex digits, numbered from 1 per table.
pub fn load_name(n: u32) -> String {
    format!("LOAD{n:08X}.parquet")
}

/// CDC file name for a time in UTC, with millisecond precision.
pub fn cdc_name(at: DateTime<Utc>) -> String {
    format!("{}.parquet", at.format("%Y%m%d-%H%M%S%3f"))
}

/// The CDC name for `now`, moved forward when needed so that names of one table strictly
/// increase (clock steps backwards, two files in the same millisecond).
pub fn next_cdc_name(now: DateTime<Utc>, last: Option<&str>) -> String {
    let mut at = now;
    let mut name = cdc_name(at);
    if let Some(last) = last {
        while name.as_str() <= last {
            at += chrono::Duration::milliseconds(1);
            name = cdc_name(at);
            if let Some(parsed) = parse_cdc_name(last)
                && at < parsed
            {
                at = parsed;
            }
        }
    }
    name
}

fn parse_cdc_name(name: &str) -> Option<DateTime<Utc>> {
    let stem = name.strip_suffix(".parquet").unwrap_or(name);
    chrono::NaiveDateTime::parse_from_str(stem, "%Y%m%d-%H%M%S%3f").ok().map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn load_names_are_upper_hex() {
        assert_eq!(load_name(1), "LOAD00000001.parquet");
        assert_eq!(load_name(10), "LOAD0000000A.parquet");
        assert_eq!(load_name(16), "LOAD00000010.parquet");
    }

    #[test]
    fn cdc_names_strictly_increase() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 3, 15, 4).unwrap() + chrono::Duration::milliseconds(123);
        assert_eq!(cdc_name(t), "20261122-031504123.parquet");
        assert_eq!(next_cdc_name(t, None), "20261122-031504123.parquet");
        assert_eq!(next_cdc_name(t, Some("20261122-031504123.parquet")), "20261122-031504124.parquet");
        // clock went backwards by a minute: continue after the last name
        let earlier = t - chrono::Duration::minutes(1);
        assert_eq!(next_cdc_name(earlier, Some("20261122-031504123.parquet")), "20261122-031504124.parquet");
    }
}
