//! Real MySQL 8/9, Percona 5.7 and MariaDB binlogs from `../shared/fixtures/binlog/`, read
//! through the same [`Assembler`] as the network stream. Expected values come from the
//! statements that produced the files (as the servers' own `mysqlbinlog -v` prints them).

use std::sync::Arc;

use binlake::change::{Op, SourceEvent};
use binlake::position::BinlogPos;
use binlake::schema::{Column, ColumnType, TableId, TableSchema};
use binlake::source::binlog::{Catalog, read_file};
use binlake::value::Cell;
use mysql_common::binlog::events::{OptionalMetaExtractor, OptionalMetadataField, TableMapEvent};
use mysql_common::constants::ColumnType as Wire;

use crate::common::shared_fixtures;

/// Schemas taken from the TABLE_MAP itself (type, and names/signedness/labels when the
/// server logged them): these files come without a server to ask.
struct TableMapCatalog;

impl Catalog for TableMapCatalog {
    fn schema(&self, id: &TableId, tme: &TableMapEvent<'_>, _: &BinlogPos) -> Option<Arc<TableSchema>> {
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta()).ok()?;
        let names: Vec<String> = meta.iter_column_name().filter_map(Result::ok).map(|n| n.name().into_owned()).collect();
        let mut signedness = meta.iter_signedness();
        // Character columns (CHAR/VARCHAR/TEXT/BLOB) carry their collation when the server
        // logs it: 63 (binary) makes BINARY/VARBINARY/BLOB bytes, anything else text.
        let mut charsets = meta.iter_charset();
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
                Wire::MYSQL_TYPE_TINY
                    | Wire::MYSQL_TYPE_SHORT
                    | Wire::MYSQL_TYPE_INT24
                    | Wire::MYSQL_TYPE_LONG
                    | Wire::MYSQL_TYPE_LONGLONG
                    | Wire::MYSQL_TYPE_FLOAT
                    | Wire::MYSQL_TYPE_DOUBLE
                    | Wire::MYSQL_TYPE_NEWDECIMAL
            );
            let unsigned = numeric && signedness.next().unwrap_or(false);
            let character =
                matches!(wire, Wire::MYSQL_TYPE_STRING | Wire::MYSQL_TYPE_VAR_STRING | Wire::MYSQL_TYPE_VARCHAR | Wire::MYSQL_TYPE_BLOB);
            let charset = if character { charsets.next().and_then(Result::ok) } else { None };
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
                Wire::MYSQL_TYPE_ENUM => ColumnType::Enum(enums.next().unwrap_or_else(|| numbered(if m[1] == 1 { 255 } else { 65_535 }))),
                Wire::MYSQL_TYPE_SET => ColumnType::Set(sets.next().unwrap_or_else(|| numbered(m[1] as usize * 8))),
                _ if charset == Some(63) => ColumnType::Binary,
                Wire::MYSQL_TYPE_BLOB if charset.is_some() => ColumnType::Text,
                Wire::MYSQL_TYPE_BLOB | Wire::MYSQL_TYPE_GEOMETRY => ColumnType::Binary,
                _ => ColumnType::Text,
            };
            let name = names.get(i).cloned().unwrap_or_else(|| format!("c{}", i + 1));
            // The character set as the server logged it (MINIMAL/FULL metadata), so the
            // TABLE_MAP check finds the same.
            let charset = match ty {
                ColumnType::Text => charset.map(|id| mysql_common::collations::Collation::resolve(id.into()).charset().to_string()),
                _ => None,
            };
            columns.push(Column { name, ty, unsigned, nullable: true, charset, default: None, large: false, storage: None });
        }
        Some(Arc::new(TableSchema::new(id.clone(), columns, vec![], None)))
    }
}

/// Without logged labels, ENUM/SET members are named by their number.
fn numbered(n: usize) -> Vec<String> {
    (1..=n).map(|i| i.to_string()).collect()
}

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/binlog/{path}", shared_fixtures());
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// (table, op, row) of every row, and the transactions as (gtid, row count).
type Decoded = (Vec<(String, Op, Vec<Cell>)>, Vec<(Option<String>, usize)>);

fn decode(path: &str) -> Decoded {
    decode_bytes(path, &fixture(path))
}

fn decode_bytes(path: &str, bytes: &[u8]) -> Decoded {
    let events = read_file(bytes, &TableMapCatalog).unwrap_or_else(|e| panic!("{path}: {e}"));
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
            // The catalog is made from each TABLE_MAP: it cannot differ from it.
            SourceEvent::SchemaDrift { table, detail, .. } => panic!("{path}: {table}: {detail}"),
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
    // A definite decode error at the payload event, naming what failed: binlake stops there.
    assert!(
        matches!(&err, binlake::error::Error::Decode { position, detail, .. }
            if position.offset == 431 && detail.contains("TRANSACTION_PAYLOAD does not decompress")),
        "{err:?}"
    );
    assert!(!err.is_transient(), "{err}");
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

/// MySQL 8.0.22, table `t(id INT PRIMARY KEY, json_col JSON, name VARCHAR(100) AS
/// (json_col->>'$.name'), age INT AS (json_col->'$.age'))`. The file logs no ROWS_QUERY
/// events, so the JSON documents are written here from the values the server itself derived
/// into the generated columns `name` and `age` of the same rows, printed as MySQL prints JSON
/// (keys sorted by length then bytewise, `", "` and `": "` separators).
#[test]
fn mysql_json_as_mysql_prints_it() {
    let path = "mysql_common/json.binlog.000001";
    let bytes = fixture(path);
    let doc = |age: i64, data: &str, name: &str| text(&format!(r#"{{"age": {age}, "data": "{data}", "name": "{name}"}}"#));
    let people = [("Joe", "xxxxxxxxxx", 24), ("Sue", "yyyyyyyyyy", 32), ("Pete", "zzzzzzzzzz", 40)];
    let row = |id: i64, (name, data, age): (&str, &str, i64)| vec![Cell::Int(id), doc(age, data, name), text(name), Cell::Int(age)];

    // Everything before the last transaction (which ends at 4011): three single-row inserts,
    // one three-row insert, then `age` + 1 in every document by a full-image UPDATE.
    let (rows, txs) = decode_bytes(path, &bytes[..3527]);
    assert_eq!(txs.iter().map(|t| t.1).filter(|n| *n > 0).collect::<Vec<_>>(), vec![1, 1, 1, 3, 6]);
    let mut expected = Vec::new();
    for (id, person) in (1..=6).zip(people.iter().cycle()) {
        expected.push(("mysql.t".to_string(), Op::Insert, row(id, *person)));
    }
    for (id, (name, data, age)) in (1..=6).zip(people.iter().cycle()) {
        expected.push(("mysql.t".to_string(), Op::Update, row(id, (name, data, age + 1))));
    }
    assert_eq!(rows, expected);

    // The last transaction is a PARTIAL_UPDATE_ROWS event (REPLACE $.age diffs) logged with
    // binlog_row_image=MINIMAL: its before images hold only `id`, so there is no JSON to
    // apply the diffs to. It must be refused, naming the table and position, not guessed.
    let err = read_file(&bytes, &TableMapCatalog).unwrap_err().to_string();
    assert!(err.contains("mysql.t") && err.contains(":3980") && err.contains("binlog_row_image=FULL"), "{err}");
}

/// MySQL 9.0.1, `create table test (a json)`: one insert per JSON holding an opaque or
/// special value. The values are those the fixture's authors list for this file
/// (mysql_common's binlog tests), printed as MySQL's `Json_wrapper::to_string` prints them:
/// temporal values quoted with six fractional digits, DECIMALs unquoted with their scale,
/// other opaque values as base64 with their field type.
#[test]
fn mysql_json_opaque_values() {
    let (rows, txs) = decode("mysql_common/json-opaque.binlog");
    assert_eq!(txs.last().map(|t| t.1), Some(8));
    let texts: Vec<&Cell> = rows
        .iter()
        .map(|(table, op, row)| {
            assert_eq!((table.as_str(), *op, row.len()), ("foo.test", Op::Insert, 1));
            &row[0]
        })
        .collect();
    let expected = [
        r#"{"a": "base64:type15:VQ=="}"#,
        r#"{"b": "2012-03-18"}"#,
        r#"{"c": "2012-03-18 11:30:45.000000"}"#,
        r#"{"c": "87:31:46.654321"}"#,
        r#"{"d": 123.456}"#,
        r#"{"e": 9.00}"#,
        r#"{"e": [0, 1, true, false]}"#,
        r#"{"e": null}"#,
    ];
    assert_eq!(texts, expected.iter().map(|e| text(e)).collect::<Vec<_>>().iter().collect::<Vec<_>>());
}

/// MySQL 8.0.26, `CREATE TABLE foo(a BIT(3), b TEXT, c BIT(8))` and one insert of
/// (b'100', 'foo', b'00100000') (the values mysql_common's tests document for this file).
/// BIT(n > 1) is its big-endian bytes, ceil(n/8) of them.
#[test]
fn mysql_bit_columns() {
    let (rows, txs) = decode("mysql_common/mysql_type_bit.000001");
    assert_eq!(txs.last(), Some(&(Some("fbda2ad0-7c46-11ec-ae30-4ef7efc81a2a:3".into()), 1)));
    assert_eq!(rows, vec![("mysql.foo".into(), Op::Insert, vec![Cell::Bytes(vec![0b100]), text("foo"), Cell::Bytes(vec![0b0010_0000])])]);
}

/// MySQL 8.0.26, `CREATE TABLE t1 (f1 INT UNSIGNED INVISIBLE, f2 INT UNSIGNED INVISIBLE,
/// f3 INT, f4 TEXT, f5 BLOB, f6 BIGINT UNSIGNED INVISIBLE)`: invisible columns are in the
/// binlog like any other and must be replicated in table order.
#[test]
fn mysql_invisible_columns() {
    let (rows, txs) = decode("mysql_common/binlog-invisible-columns.000001");
    let gtid = |n: u32| Some(format!("97c7af02-4c50-11ec-acd8-681842034964:{n}"));
    assert_eq!(txs[txs.len() - 3..], [(gtid(3), 1), (gtid(4), 1), (gtid(5), 1)]);
    let t1 = "mysql.t1".to_string();
    assert_eq!(
        rows,
        vec![
            (
                t1.clone(),
                Op::Insert,
                vec![Cell::UInt(1), Cell::UInt(2), Cell::Int(-3), text("4"), Cell::Bytes(vec![5]), Cell::UInt(6_000_000_000)]
            ),
            (t1.clone(), Op::Insert, vec![Cell::Null, Cell::Null, Cell::Int(-33), text("44"), Cell::Bytes(b"U".to_vec()), Cell::Null]),
            (t1, Op::Update, vec![Cell::UInt(111), Cell::UInt(222), Cell::Int(-333), text("444"), Cell::Bytes(b"U".to_vec()), Cell::Null]),
        ]
    );
}

/// MySQL 5.7.40 (no optional metadata): deletes and inserts in `a.b`, then
/// `CREATE TABLE emoji (id INT, value VARCHAR(255) CHARACTER SET utf8mb4 ...)` and one insert.
/// The inserted value in this file is the empty string (the row event holds a zero length),
/// read with the 2-byte length prefix of a VARCHAR wider than 255 bytes.
#[test]
fn mysql_57_utf8mb4_varchar_and_gtids() {
    let (rows, txs) = decode("apecloud/mysql-bin.000080");
    let gtid = |n: u32| Some(format!("58cf6502-63db-11ed-8079-0242ac110002:{n}"));
    assert_eq!(txs[..4], [(gtid(53), 2), (gtid(54), 2), (gtid(55), 1), (gtid(56), 1)]);
    assert_eq!(txs.last(), Some(&(gtid(62), 1)));
    let ops: Vec<Op> = rows.iter().map(|r| r.1).collect();
    assert_eq!(ops, [Op::Delete, Op::Delete, Op::Delete, Op::Delete, Op::Insert, Op::Insert, Op::Insert]);
    assert!(rows[..6].iter().all(|r| r.0 == "a.b" && r.2 == [Cell::Int(12)]));
    assert_eq!(rows[6], ("a.emoji".into(), Op::Insert, vec![Cell::Int(2), text("")]));
}

/// MySQL 9.0.1 VECTOR columns: binlake refuses them with the type named (see
/// `decode::wire_layout`) rather than passing float32 bytes on as if they were a BLOB.
#[test]
fn mysql_vector_columns_are_refused_by_name() {
    let err = read_file(&fixture("mysql_common/vector.binlog"), &TableMapCatalog).unwrap_err().to_string();
    assert!(err.contains("dtb.foo") && err.contains("vector_column") && err.contains("VECTOR"), "{err}");
}

/// MySQL 8.0.40: a file holding only FORMAT_DESCRIPTION, PREVIOUS_GTIDS (untagged,
/// b9b88c66-0755-11f1-9899-4a9da94c4d71:1-3) and a ROTATE to binlog.000008 at 4. Nothing is a
/// row or a transaction, and the position follows the ROTATE.
#[test]
fn previous_gtids_and_rotate() {
    use binlake::position::BinlogPos;
    use binlake::source::binlog::Assembler;
    use mysql_common::binlog::{BinlogFile, consts::BinlogVersion};

    let path = "mysql_common/binlog_transaction_previous_GTID_no_tag.000001";
    let (rows, txs) = decode(path);
    assert!(rows.is_empty() && txs.is_empty(), "{rows:?} {txs:?}");

    let bytes = fixture(path);
    let file = BinlogFile::new(BinlogVersion::Version4, std::io::Cursor::new(&bytes[..])).unwrap();
    let mut assembler = Assembler::new(&BinlogPos::new("binlog.000007".to_string(), 4), false);
    let mut out = Vec::new();
    let mut types = Vec::new();
    for event in file {
        let event = event.unwrap();
        types.push(event.header().event_type_raw());
        assembler.push(&event, &TableMapCatalog, &mut out).unwrap();
    }
    assert_eq!(types, [15, 35, 4], "FORMAT_DESCRIPTION, PREVIOUS_GTIDS, ROTATE");
    assert!(out.is_empty() && !assembler.in_transaction());
    assert_eq!(assembler.position().to_string(), "binlog.000008:4");
}
