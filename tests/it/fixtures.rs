//! Real MySQL 8/9, Percona 5.7 and MariaDB binlogs from `../shared/fixtures/binlog/`, read
//! through the same [`Assembler`] as the network stream. Expected values come from the
//! statements that produced the files (as the servers' own `mysqlbinlog -v` prints them).

use std::sync::Arc;

use binlake::change::{Op, SourceEvent};
use binlake::schema::{Column, ColumnType, TableId, TableSchema};
use binlake::source::binlog::{Catalog, read_file};
use binlake::value::Cell;
use mysql_common::binlog::events::{OptionalMetaExtractor, OptionalMetadataField, TableMapEvent};
use mysql_common::constants::ColumnType as Wire;

/// Schemas taken from the TABLE_MAP itself (type, and names/signedness/labels when the
/// server logged them): these files come without a server to ask.
struct TableMapCatalog;

impl Catalog for TableMapCatalog {
    fn schema(&self, id: &TableId, tme: &TableMapEvent<'_>) -> Option<Arc<TableSchema>> {
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta()).ok()?;
        let names: Vec<String> = meta.iter_column_name().filter_map(Result::ok).map(|n| n.name().into_owned()).collect();
        let mut signedness = meta.iter_signedness();
        let (mut enum_labels, mut set_labels) = (Vec::new(), Vec::new());
        for field in tme.iter_optional_meta().filter_map(Result::ok) {
            match field {
                OptionalMetadataField::EnumStrValue(v) => {
                    for e in v.iter_values().filter_map(Result::ok) {
                        enum_labels.push(e.values().iter().map(|s| s.value().into_owned()).collect::<Vec<_>>());
                    }
                }
                OptionalMetadataField::SetStrValue(v) => {
                    for e in v.iter_values().filter_map(Result::ok) {
                        set_labels.push(e.values().iter().map(|s| s.value().into_owned()).collect::<Vec<_>>());
                    }
                }
                _ => {}
            }
        }
        let mut enums = enum_labels.into_iter();
        let mut sets = set_labels.into_iter();
        let mut columns = Vec::new();
        for i in 0..tme.columns_count() as usize {
            let wire = tme.get_column_type(i).ok()??;
            let m = tme.get_column_metadata(i).unwrap_or(&[]).to_vec();
            let numeric = matches!(
                wire,
                Wire::MYSQL_TYPE_TINY | Wire::MYSQL_TYPE_SHORT | Wire::MYSQL_TYPE_INT24 | Wire::MYSQL_TYPE_LONG
                    | Wire::MYSQL_TYPE_LONGLONG | Wire::MYSQL_TYPE_FLOAT | Wire::MYSQL_TYPE_DOUBLE | Wire::MYSQL_TYPE_NEWDECIMAL
            );
            let unsigned = numeric && signedness.next().unwrap_or(false);
            let ty = match wire {
                Wire::MYSQL_TYPE_TINY => ColumnType::TinyInt,
                Wire::MYSQL_TYPE_SHORT => ColumnType::SmallInt,
                Wire::MYSQL_TYPE_INT24 => ColumnType::MediumInt,
                Wire::MYSQL_TYPE_LONG => ColumnType::Int,
                Wire::MYSQL_TYPE_LONGLONG => ColumnType::BigInt,
                Wire::MYSQL_TYPE_NEWDECIMAL => ColumnType::Decimal { precision: m[0], scale: m[1] },
                Wire::MYSQL_TYPE_FLOAT => ColumnType::Float,
                Wire::MYSQL_TYPE_DOUBLE => ColumnType::Double,
                Wire::MYSQL_TYPE_BIT => ColumnType::Bit { bits: m[1] as u16 * 8 + m[0] as u16 },
                Wire::MYSQL_TYPE_DATE | Wire::MYSQL_TYPE_NEWDATE => ColumnType::Date,
                Wire::MYSQL_TYPE_TIME2 | Wire::MYSQL_TYPE_TIME => ColumnType::Time { fsp: m.first().copied().unwrap_or(0) },
                Wire::MYSQL_TYPE_DATETIME2 | Wire::MYSQL_TYPE_DATETIME => ColumnType::DateTime { fsp: m.first().copied().unwrap_or(0) },
                Wire::MYSQL_TYPE_TIMESTAMP2 | Wire::MYSQL_TYPE_TIMESTAMP => ColumnType::Timestamp { fsp: m.first().copied().unwrap_or(0) },
                Wire::MYSQL_TYPE_YEAR => ColumnType::Year,
                Wire::MYSQL_TYPE_JSON => ColumnType::Json,
                Wire::MYSQL_TYPE_ENUM => ColumnType::Enum(enums.next().unwrap_or_else(|| numbered(65_535))),
                Wire::MYSQL_TYPE_SET => ColumnType::Set(sets.next().unwrap_or_else(|| numbered(64))),
                Wire::MYSQL_TYPE_BLOB | Wire::MYSQL_TYPE_GEOMETRY => ColumnType::Binary,
                _ => ColumnType::Text,
            };
            let name = names.get(i).cloned().unwrap_or_else(|| format!("c{}", i + 1));
            columns.push(Column { name, ty, unsigned, nullable: true, charset: None });
        }
        Some(Arc::new(TableSchema { id: id.clone(), columns, primary_key: vec![] }))
    }

    fn replicates_database(&self, _: &str) -> bool {
        true
    }
}

/// Without logged labels, ENUM/SET members are named by their number.
fn numbered(n: usize) -> Vec<String> {
    (1..=n).map(|i| i.to_string()).collect()
}

fn fixture(path: &str) -> Vec<u8> {
    // CI and developers have the shared fixtures beside the checkout.
    let dir = std::env::var("BINLAKE_FIXTURES").unwrap_or_else(|_| format!("{}/../shared/fixtures", env!("CARGO_MANIFEST_DIR")));
    let full = format!("{dir}/binlog/{path}");
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// (table, op, row) of every row, and the transactions as (gtid, row count).
fn decode(path: &str) -> (Vec<(String, Op, Vec<Cell>)>, Vec<(Option<String>, usize)>) {
    let events = read_file(&fixture(path), &TableMapCatalog).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = Vec::new();
    let mut transactions = Vec::new();
    let mut in_tx = 0;
    for e in events {
        match e {
            SourceEvent::Row { change, .. } => {
                rows.push((change.table.id.to_string(), change.op, change.row));
                in_tx += 1;
            }
            SourceEvent::Commit { gtid, .. } => {
                transactions.push((gtid, in_tx));
                in_tx = 0;
            }
            _ => {}
        }
    }
    assert_eq!(in_tx, 0, "{path}: rows after the last commit");
    (rows, transactions)
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

#[test]
fn percona_57_decimals_and_gtids() {
    let (rows, txs) = decode("easypost/bin-log.000001");
    let gtid = |n: u32| Some(format!("87cee3a4-6b31-11e7-bdfd-0d98d6698870:{n}"));
    // CREATE TABLE (no rows), then one insert per transaction
    assert_eq!(txs[..3], [(gtid(14917), 0), (gtid(14918), 1), (gtid(14919), 1)]);
    assert_eq!(rows[0], ("bltest.foo".into(), Op::Insert, vec![Cell::Int(1), Cell::Decimal("0.10000".into()), text("zero point one")]));
    assert_eq!(rows[1], ("bltest.foo".into(), Op::Insert, vec![Cell::Int(2), Cell::Decimal("1.00000".into()), text("one point zero")]));
}

#[test]
fn negative_time_beyond_a_day() {
    let (rows, txs) = decode("mysql_common/time_issue.000001");
    assert_eq!(txs.len(), 1);
    assert_eq!(rows, vec![("noria.t".into(), Op::Insert, vec![text("-507:48:27")])]);
}

#[test]
fn mariadb_gtids_and_row_events_v1() {
    let (rows, txs) = decode("mysql_common/mariadb-bin.000001");
    assert_eq!(txs, vec![(Some("0-1-1".into()), 1), (Some("0-1-2".into()), 1)]);
    // INSERT ... VALUES (62, 'foo', 'JSON' (ENUM member 2), '{"foo":1}', FROM_UNIXTIME(1650493084))
    let (table, op, row) = &rows[0];
    assert_eq!((table.as_str(), *op), ("toddy_test.outbox", Op::Insert));
    assert_eq!(row[..3], [Cell::Int(62), text("foo"), text("JSON")]);
    assert_eq!(row[3], Cell::Bytes(br#"{"foo":1}"#.to_vec()));
    assert_eq!(row[4], Cell::Micros(1_650_493_084_000_000));
    assert_eq!(rows[1].2[0], Cell::Int(63));
}

#[test]
fn compressed_transactions_are_expanded() {
    let (rows, txs) = decode("mysql_common/transaction_compression.000001");
    assert_eq!(txs.len(), 1);
    assert_eq!(rows, vec![("test.tb1".into(), Op::Insert, vec![Cell::Int(1)])]);

    // Two payloads holding ROWS_QUERY, UPDATE and WRITE events.
    let (rows, txs) = decode("apecloud/mysql-bin.000057");
    assert_eq!(txs.iter().map(|t| t.1).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(rows[0], ("a.b".into(), Op::Insert, vec![Cell::Int(1)]));
    assert_eq!((rows[1].1, &rows[1].2[0]), (Op::Update, &Cell::Int(55555)));
    assert_eq!((rows[2].1, &rows[2].2[0]), (Op::Insert, &Cell::Int(6666)));
    assert_eq!(rows[2].2[9], text(r#"{"c": 1}"#), "JSON column, as MySQL prints it");
}

#[test]
fn a_corrupt_compressed_transaction_is_an_error_not_a_loss() {
    let mut bytes = fixture("mysql_common/transaction_compression.000001");
    // Flip a byte in the zstd frame of the payload, then fix nothing else: either the
    // event checksum or the decompression must fail loudly.
    let magic = bytes.windows(4).position(|w| w == [0x28, 0xB5, 0x2F, 0xFD]).expect("zstd frame in the payload");
    bytes[magic + 8] ^= 0xFF;
    let err = read_file(&bytes, &TableMapCatalog).expect_err("a corrupt payload must not decode");
    assert!(!err.to_string().is_empty());
}

#[test]
fn minimal_row_images_are_refused_with_the_fix() {
    let err = read_file(&fixture("mysql_common/minimal_row_metadata.000001"), &TableMapCatalog).unwrap_err().to_string();
    assert!(err.contains("noria.t1") && err.contains("binlog_row_image=FULL"), "{err}");
}

#[test]
fn enum_set_and_deletes_with_full_metadata() {
    let (rows, txs) = decode("mysql_common/mysql-enum-string-set.000001");
    assert_eq!(txs.len(), 5);
    let ops: Vec<Op> = rows.iter().map(|r| r.1).collect();
    assert_eq!(ops, vec![Op::Insert, Op::Update, Op::Delete]);
    assert_eq!(rows[1].2[..4], [text("field1"), text("field_2"), text("variant2"), text("two,four")]);
}

#[test]
fn tagged_gtid_transaction() {
    let (rows, txs) = decode("mysql_common/binlog_transaction_with_GTID_TAG.000001");
    assert_eq!(txs.len(), 1);
    assert_eq!(rows, vec![("test.orders".into(), Op::Insert, vec![Cell::Int(3), Cell::Int(100), Cell::Decimal("250.00".into())])]);
}
