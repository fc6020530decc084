//! DMS object keys: `<bucket_folder>/<database>/<table>/LOAD00000001.parquet` for full load and
//! `<bucket_folder>/<database>/<table>/[<date folders>/]YYYYMMDD-HHMMSSmmm.parquet` for CDC.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

use crate::schema::TableId;
use crate::sink::settings::DatePartition;

/// The folder of a table, relative to the bucket folder.
pub fn table_folder(id: &TableId) -> String {
    format!("{}/{}", id.database, id.table)
}

/// `LOAD` + 8 upper-case hex digits, numbered from 1 per table.
pub fn load_name(n: u32, extension: &str) -> String {
    format!("LOAD{n:08X}{extension}")
}

/// The number of a LOAD file from its key (`.../LOAD0000000A.parquet` is 10).
pub fn load_number(key: &str) -> Option<u32> {
    let name = key.rsplit('/').next()?;
    let digits = name.strip_prefix("LOAD")?.get(..8)?;
    u32::from_str_radix(digits, 16).ok()
}

/// The key of a new CDC file relative to the table folder, for a file closed `now`: named by
/// the wall clock (UTC, or `DatePartitionTimezone`), inside the date folders when date
/// partitioning is on. Names move forward when needed so that names of one table strictly
/// increase (clock steps backwards, two files in the same millisecond, DST changes).
pub fn cdc_key(now: DateTime<Utc>, partition: Option<&DatePartition>, last_name: Option<&str>, extension: &str) -> String {
    let wall = match partition.and_then(|p| p.timezone) {
        Some(tz) => now.with_timezone(&tz).naive_local(),
        None => now.naive_utc(),
    };
    // Names have millisecond precision.
    let mut at = wall.trunc_subsecs(3);
    if let Some(last) = last_name.and_then(parse_cdc_name)
        && at <= last
    {
        at = last + chrono::Duration::milliseconds(1);
    }
    let name = format!("{}{extension}", stem(at));
    match partition {
        Some(p) => format!("{}/{name}", at.format(&p.folder_format)),
        None => name,
    }
}

fn stem(at: NaiveDateTime) -> String {
    at.format("%Y%m%d-%H%M%S%3f").to_string()
}

fn parse_cdc_name(name: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(name.get(..18)?, "%Y%m%d-%H%M%S%3f").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn load_names_are_upper_hex() {
        assert_eq!(load_name(1, ".parquet"), "LOAD00000001.parquet");
        assert_eq!(load_name(10, ".csv"), "LOAD0000000A.csv");
        assert_eq!(load_name(16, ".csv.gz"), "LOAD00000010.csv.gz");
        assert_eq!(load_number("p/db/t/LOAD0000000A.csv.gz"), Some(10));
        assert_eq!(load_number("p/db/t/20261123-101502123.csv"), None);
    }

    #[test]
    fn cdc_names_strictly_increase() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 3, 15, 4).unwrap() + chrono::Duration::milliseconds(123);
        assert_eq!(cdc_key(t, None, None, ".parquet"), "20261122-031504123.parquet");
        assert_eq!(cdc_key(t, None, Some("20261122-031504123.parquet"), ".parquet"), "20261122-031504124.parquet");
        // later within the last name's millisecond
        let same_ms = t + chrono::Duration::microseconds(400);
        assert_eq!(cdc_key(same_ms, None, Some("20261122-031504123.parquet"), ".parquet"), "20261122-031504124.parquet");
        // clock went backwards by a minute: continue after the last name
        let earlier = t - chrono::Duration::minutes(1);
        assert_eq!(cdc_key(earlier, None, Some("20261122-031504123.csv.gz"), ".csv.gz"), "20261122-031504124.csv.gz");
    }

    #[test]
    fn date_partitions_and_time_zones() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap();
        let p = |f: &str, tz: Option<&str>| DatePartition { folder_format: f.into(), timezone: tz.map(|z| z.parse().unwrap()) };
        assert_eq!(cdc_key(t, Some(&p("%Y/%m/%d", None)), None, ".csv"), "2026/11/22/20261122-233000000.csv");
        assert_eq!(cdc_key(t, Some(&p("%Y-%m-%d-%H", None)), None, ".csv"), "2026-11-22-23/20261122-233000000.csv");
        // Seoul is UTC+9: already the next day, in folder and name alike
        assert_eq!(cdc_key(t, Some(&p("%d%m%Y", Some("Asia/Seoul"))), None, ".parquet"), "23112026/20261123-083000000.parquet");
    }
}
