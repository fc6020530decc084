//! Every column type with edge values, through the snapshot and the binlog, compared value for
//! value with MySQL's own SELECT, then read again by independent readers (pyarrow, DuckDB).

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{self as t, DataType, TimeUnit};
use bytes::Bytes;
use mysql_async::prelude::Queryable;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

/// One column of the matrix: its DDL, the SQL expression whose text is the column's
/// canonical value (see `canonical`), and the Parquet type the contract asks for
/// (physical type, logical annotation as pyarrow prints it, FLBA width).
struct Col {
    name: &'static str,
    ddl: &'static str,
    expect: &'static str,
    physical: &'static str,
    logical: &'static str,
    width: Option<u32>,
}

const fn col(name: &'static str, ddl: &'static str, expect: &'static str, physical: &'static str, logical: &'static str) -> Col {
    Col { name, ddl, expect, physical, logical, width: None }
}

const fn decimal(name: &'static str, ddl: &'static str, logical: &'static str, width: u32) -> Col {
    Col { name, ddl, expect: "{}", physical: "FIXED_LEN_BYTE_ARRAY", logical, width: Some(width) }
}

const TEXT: &str = "String";
const MICROS: &str = "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)";
const EPOCH_MICROS: &str = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {})";

const COLUMNS: &[Col] = &[
    col("id", "INT PRIMARY KEY", "{}", "INT32", "None"),
    col("rev", "INT NOT NULL DEFAULT 0", "{}", "INT32", "None"),
    col("ti", "TINYINT", "{}", "INT32", "Int(bitWidth=8, isSigned=true)"),
    col("tiu", "TINYINT UNSIGNED", "{}", "INT32", "Int(bitWidth=8, isSigned=false)"),
    col("si", "SMALLINT", "{}", "INT32", "Int(bitWidth=16, isSigned=true)"),
    col("siu", "SMALLINT UNSIGNED", "{}", "INT32", "Int(bitWidth=16, isSigned=false)"),
    col("mi", "MEDIUMINT", "{}", "INT32", "None"),
    col("miu", "MEDIUMINT UNSIGNED", "{}", "INT32", "Int(bitWidth=32, isSigned=false)"),
    col("i", "INT", "{}", "INT32", "None"),
    col("iu", "INT UNSIGNED", "{}", "INT32", "Int(bitWidth=32, isSigned=false)"),
    col("bi", "BIGINT", "{}", "INT64", "None"),
    col("biu", "BIGINT UNSIGNED", "{}", "INT64", "Int(bitWidth=64, isSigned=false)"),
    decimal("d52", "DECIMAL(5,2)", "Decimal(precision=5, scale=2)", 3),
    decimal("d180", "DECIMAL(18,0)", "Decimal(precision=18, scale=0)", 8),
    decimal("d3810", "DECIMAL(38,10)", "Decimal(precision=38, scale=10)", 16),
    // Wider than Parquet's 38 digits: exact text, never a rounded number.
    col("d6530", "DECIMAL(65,30)", "{}", "BYTE_ARRAY", TEXT),
    col("f", "FLOAT", "CAST({} AS DOUBLE)", "FLOAT", "None"),
    col("dbl", "DOUBLE", "{}", "DOUBLE", "None"),
    col("b1", "BIT(1)", "CASE WHEN {} IS NULL THEN NULL WHEN {} THEN 'true' ELSE 'false' END", "BOOLEAN", "None"),
    col("b5", "BIT(5)", "LPAD(HEX({}), 2, '0')", "BYTE_ARRAY", "None"),
    col("b64", "BIT(64)", "LPAD(HEX({}), 16, '0')", "BYTE_ARRAY", "None"),
    col("bo", "BOOLEAN", "{}", "INT32", "Int(bitWidth=8, isSigned=true)"),
    col("dt", "DATE", "DATEDIFF({}, '1970-01-01')", "INT32", "Date"),
    col("tm", "TIME", "{}", "BYTE_ARRAY", TEXT),
    col("tm1", "TIME(1)", "{}", "BYTE_ARRAY", TEXT),
    col("tm2", "TIME(2)", "{}", "BYTE_ARRAY", TEXT),
    col("tm6", "TIME(6)", "{}", "BYTE_ARRAY", TEXT),
    col("dtm", "DATETIME", EPOCH_MICROS, "INT64", MICROS),
    col("dtm3", "DATETIME(3)", EPOCH_MICROS, "INT64", MICROS),
    col("dtm6", "DATETIME(6)", EPOCH_MICROS, "INT64", MICROS),
    col("ts", "TIMESTAMP NULL", EPOCH_MICROS, "INT64", MICROS),
    col("ts6", "TIMESTAMP(6) NULL", EPOCH_MICROS, "INT64", MICROS),
    col("y", "YEAR", "{} + 0", "INT32", "Int(bitWidth=16, isSigned=true)"),
    col("c", "CHAR(10)", "{}", "BYTE_ARRAY", TEXT),
    col("vc", "VARCHAR(100)", "{}", "BYTE_ARRAY", TEXT),
    col("tx", "TEXT", "{}", "BYTE_ARRAY", TEXT),
    col("lt", "LONGTEXT", "{}", "BYTE_ARRAY", TEXT),
    col("l1", "VARCHAR(50) CHARACTER SET latin1", "{}", "BYTE_ARRAY", TEXT),
    col("vcb", "VARCHAR(50) COLLATE utf8mb4_bin", "{}", "BYTE_ARRAY", TEXT),
    col("bn", "BINARY(4)", "HEX({})", "BYTE_ARRAY", "None"),
    col("vb", "VARBINARY(50)", "HEX({})", "BYTE_ARRAY", "None"),
    col("bl", "BLOB", "HEX({})", "BYTE_ARRAY", "None"),
    col("lb", "LONGBLOB", "HEX({})", "BYTE_ARRAY", "None"),
    col("e", "ENUM('a','b','c d')", "{}", "BYTE_ARRAY", TEXT),
    col("s", "SET('x','y','z')", "{}", "BYTE_ARRAY", TEXT),
    col("j", "JSON", "{}", "BYTE_ARRAY", TEXT),
    col("g", "GEOMETRY", "HEX(ST_AsWKB({}))", "BYTE_ARRAY", "None"),
    col("pt", "POINT", "HEX(ST_AsWKB({}))", "BYTE_ARRAY", "None"),
    // MariaDB's own types
    col("u", "UUID", "{}", "BYTE_ARRAY", TEXT),
    col("i6", "INET6", "{}", "BYTE_ARRAY", TEXT),
    col("i4", "INET4", "{}", "BYTE_ARRAY", TEXT),
    col("gv", "BIGINT AS (i + 1) VIRTUAL", "{}", "INT64", "None"),
    col("gs", "VARCHAR(120) AS (CONCAT(vc, '!')) STORED", "{}", "BYTE_ARRAY", TEXT),
    col("inv", "INT INVISIBLE", "{}", "INT32", "None"),
];

/// Columns given in the INSERTs (all but `rev` and the generated ones).
const INSERT_COLUMNS: &str = "id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d52, d180, d3810, d6530, f, dbl, b1, b5, b64, bo, \
    dt, tm, tm1, tm2, tm6, dtm, dtm3, dtm6, ts, ts6, y, c, vc, tx, lt, l1, vcb, bn, vb, bl, lb, e, s, j, g, pt, u, i6, i4, inv";

const ROWS: &[&str] = &[
    // minimum values, empty strings
    "1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, -999.99, -999999999999999999, \
     -9999999999999999999999999999.9999999999, -99999999999999999999999999999999999.999999999999999999999999999999, \
     -3.40282e38, -1.7976931348623157e308, b'0', b'0', 0, FALSE, '1000-01-01', '-838:59:59', '-838:59:59.0', \
     '-838:59:59.00', '-838:59:59.000000', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000', '1000-01-01 00:00:00.000000', \
     '1970-01-01 00:00:01', '1970-01-01 00:00:01.000000', 1901, '', '', '', '', '', '', '', '', '', '', 'a', '', '[]', \
     ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(0 0)', 4326), '00000000-0000-0000-0000-000000000000', '::', \
     '0.0.0.0', -2147483648",
    // maximum values, quoting hazards, multibyte and latin1 text
    "2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, \
     999.99, 999999999999999999, 9999999999999999999999999999.9999999999, \
     99999999999999999999999999999999999.999999999999999999999999999999, 3.40282e38, 1.7976931348623157e308, b'1', \
     b'11111', 0xFFFFFFFFFFFFFFFF, TRUE, '9999-12-31', '838:59:59', '838:59:59.0', '838:59:59.00', '838:59:59.000000', \
     '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', \
     '2038-01-19 03:14:07.999999', 2155, 'abcdefghij', REPEAT('🙂', 100), 'He said \"hi\", then\\nleft;\\r\\ttab ', \
     'x,\"y\"\\n', 'café € ÿ', 'Zz', x'FFFFFFFF', x'00FF00', x'0001FEFF', x'FF', 'c d', 'x,y,z', \
     '{\"a\": [1, 2.5, \"x\"], \"b\": null, \"c\": \"é\\\\\"q\"}', ST_GeomFromText('LINESTRING(0 0, 1 1, 2 -2)'), \
     ST_GeomFromText('POINT(1.5 -2.25)'), 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', \
     '255.255.255.255', 2147483647",
    // zeros, zero dates (NULL in the lake), fractions, negative fractional times, padding
    "3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.00, 0, 0, 0, 0.1, 0.1, b'0', b'00101', b'1', 0, '0000-00-00', '00:00:00', \
     '-00:00:01.5', '-00:00:00.01', '-12:34:56.000001', '0000-00-00 00:00:00', '2020-02-29 12:34:56.789', \
     '1969-12-31 23:59:59.999999', '0000-00-00 00:00:00', '2000-01-01 00:00:00.5', 0, 'ñ  ', '日本語🙂', 'ü', ' x ', \
     'Ä', 'a', x'AB', x'00', x'00', x'', 'b', 'y', '{\"k\": \"v\"}', \
     ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0))'), ST_GeomFromText('POINT(-0.5 1e10)'), \
     '6ccd780c-baba-1026-9564-5b8c656024db', '::1.2.3.4', '192.168.1.10', 0",
    // NULL everywhere
    "4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL",
    // large values: never truncated
    "5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.5, 1, 1.5, 1.5, -1.5, 2.5e-300, NULL, NULL, NULL, NULL, '2024-02-29', '-01:00:00', \
     '00:00:00.1', '00:00:00.99', '00:00:00.999999', '2024-02-29 00:00:00', '2024-02-29 00:00:00.001', \
     '2024-02-29 00:00:00.000001', '2024-02-29 23:59:59', '2024-02-29 23:59:59.000001', 2024, NULL, NULL, \
     REPEAT('a', 65535), REPEAT('é🙂', 600000), NULL, NULL, NULL, NULL, REPEAT(x'00FF', 20000), \
     REPEAT(x'01FE', 1500000), NULL, NULL, CONCAT('[\"', REPEAT('x', 1000000), '\"]'), NULL, NULL, \
     '11223344-5566-7788-99aa-bbccddeeff00', '2001:db8:0:0:1:0:0:1', '0.0.0.1', NULL",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_type_agrees_across_load_cdc_and_select() {
    let mut db = TestDb::new("types").await;
    let ddl: Vec<String> = COLUMNS.iter().map(|c| format!("`{}` {}", c.name, c.ddl)).collect();
    db.exec(&format!("CREATE TABLE types ({}) DEFAULT CHARSET = utf8mb4", ddl.join(", "))).await;
    for row in ROWS {
        db.exec(&format!("INSERT INTO types ({INSERT_COLUMNS}) VALUES ({row})")).await;
    }
    let lake = Lake::local();
    let state = state_dir();
    let tables = format!("{}.types", db.name);
    let run = || run_ok(&mut caught_up_run(state.path(), &lake, &tables));

    run();
    let loaded = expected_rows(&mut db).await;
    let load_files = lake.files(&db.name, "types").await;
    assert_eq!(load_files.len(), 1, "{load_files:?}");
    assert_rows_equal("LOAD", &read_canonical(&lake, &load_files[0]).await, &loaded);
    large_columns_keep_no_copies(&lake, &load_files[0]).await;

    // Every row through the binlog: an update (after images), then a delete (before image).
    db.exec("UPDATE types SET rev = rev + 1").await;
    db.exec("DELETE FROM types WHERE id = 2").await;
    run();
    let updated = expected_rows(&mut db).await;
    let mut cdc = Vec::new();
    for key in lake.files(&db.name, "types").await.into_iter().filter(|k| !k.contains("/LOAD")) {
        cdc.extend(read_canonical(&lake, &key).await);
    }
    let (updates, deletes): (Vec<_>, Vec<_>) = cdc.into_iter().partition(|r| r[0].as_deref() == Some("U"));
    let after: Vec<Vec<Option<String>>> = updates.into_iter().map(|r| r[1..].to_vec()).collect();
    let mut expected_after = updated.clone();
    let mut deleted_row = loaded.iter().find(|r| r[0].as_deref() == Some("2")).unwrap().clone();
    deleted_row[1] = Some("1".into()); // the delete saw the updated row
    expected_after.insert(1, deleted_row.clone());
    assert_rows_equal("CDC U", &after, &expected_after);
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0][0].as_deref(), Some("D"));
    assert_rows_equal("CDC D", &[deletes[0][1..].to_vec()], &[deleted_row]);

    consumer_check(&lake, &db.name, &loaded, &expected_after);
}

/// MEDIUM/LONG TEXT and BLOB and JSON columns have neither a dictionary nor statistics (each
/// would copy a value of megabytes whole); smaller text and binary columns keep both, as DMS
/// writes them.
async fn large_columns_keep_no_copies(lake: &Lake, key: &str) {
    let bytes: Bytes = lake.store.get(&key.into()).await.unwrap().bytes().await.unwrap();
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes).unwrap();
    let meta = parquet::file::reader::FileReader::metadata(&reader);
    let columns = meta.row_group(0).columns();
    for (name, large) in [("vc", false), ("tx", false), ("bl", false), ("vb", false), ("lt", true), ("lb", true), ("j", true)] {
        let chunk = columns.iter().find(|c| c.column_path().string() == name).unwrap_or_else(|| panic!("no column {name}"));
        let dictionary = chunk.dictionary_page_offset().is_some();
        assert_eq!((dictionary, chunk.statistics().is_some()), (!large, !large), "column {name}: dictionary, statistics");
    }
}

/// MySQL's values of every row, ordered by id, each column as its canonical text.
async fn expected_rows(db: &mut TestDb) -> Vec<Vec<Option<String>>> {
    let select: Vec<String> = COLUMNS.iter().map(|c| c.expect.replace("{}", &format!("`{}`", c.name))).collect();
    let sql = format!("SELECT {} FROM `{}`.types ORDER BY id", select.join(", "), db.name);
    let rows: Vec<mysql_async::Row> = db.conn.query(sql).await.unwrap();
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i).unwrap() {
                    mysql_async::Value::NULL => None,
                    mysql_async::Value::Bytes(b) => Some(String::from_utf8(b.clone()).unwrap()),
                    other => panic!("text protocol value {other:?}"),
                })
                .collect()
        })
        .collect()
}

/// Rows of one Parquet file in the matrix's canonical text: integers and decimals as
/// written, floats by value, booleans true/false, bytes as upper-case hex, dates as days and
/// timestamps as microseconds since the epoch.
async fn read_canonical(lake: &Lake, key: &str) -> Vec<Vec<Option<String>>> {
    let bytes: Bytes = lake.store.get(&key.into()).await.unwrap().bytes().await.unwrap();
    let mut rows = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap() {
        let batch = batch.unwrap();
        for i in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|a| canonical(a.as_ref(), i)).collect());
        }
    }
    rows
}

fn canonical(a: &dyn Array, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Int8 => a.as_primitive::<t::Int8Type>().value(i).to_string(),
        DataType::Int16 => a.as_primitive::<t::Int16Type>().value(i).to_string(),
        DataType::Int32 => a.as_primitive::<t::Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<t::Int64Type>().value(i).to_string(),
        DataType::UInt8 => a.as_primitive::<t::UInt8Type>().value(i).to_string(),
        DataType::UInt16 => a.as_primitive::<t::UInt16Type>().value(i).to_string(),
        DataType::UInt32 => a.as_primitive::<t::UInt32Type>().value(i).to_string(),
        DataType::UInt64 => a.as_primitive::<t::UInt64Type>().value(i).to_string(),
        DataType::Float32 => (a.as_primitive::<t::Float32Type>().value(i) as f64).to_string(),
        DataType::Float64 => a.as_primitive::<t::Float64Type>().value(i).to_string(),
        DataType::Decimal128(_, _) => {
            let d = a.as_primitive::<t::Decimal128Type>();
            d.value_as_string(i)
        }
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Date32 => a.as_primitive::<t::Date32Type>().value(i).to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => a.as_primitive::<t::TimestampMicrosecondType>().value(i).to_string(),
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::Binary => a.as_binary::<i32>().value(i).iter().map(|b| format!("{b:02X}")).collect(),
        other => panic!("unexpected column type {other}"),
    })
}

/// Values compare as text, floats by value (MySQL prints the shortest text that reads back
/// to the same double, Rust prints its own).
fn assert_rows_equal(what: &str, actual: &[Vec<Option<String>>], expected: &[Vec<Option<String>>]) {
    assert_eq!(actual.len(), expected.len(), "{what}: row count");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(a.len(), COLUMNS.len(), "{what}: column count");
        for (c, col) in COLUMNS.iter().enumerate() {
            let same = match (col.physical, &a[c], &e[c]) {
                ("FLOAT" | "DOUBLE", Some(x), Some(y)) => x.parse::<f64>().unwrap() == y.parse::<f64>().unwrap(),
                _ => a[c] == e[c],
            };
            assert!(same, "{what}: row id={:?}, column {}: lake {} vs MySQL {}", e[0], col.name, shorten(&a[c]), shorten(&e[c]));
        }
    }
}

fn shorten(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) if s.len() > 200 => format!("{:?}… ({} bytes)", &s[..s.char_indices().nth(100).map_or(s.len(), |(i, _)| i)], s.len()),
        Some(s) => format!("{s:?}"),
    }
}

/// pyarrow and DuckDB read the same files: the schema must follow the contract (and the
/// conventions of the real DMS sample), the values must equal MySQL's.
fn consumer_check(lake: &Lake, db: &str, loaded: &[Vec<Option<String>>], after: &[Vec<Option<String>>]) {
    let dir = std::path::Path::new(&lake.url).join(db).join("types");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.insert(name, path.display().to_string());
    }
    let columns: Vec<serde_json::Value> = COLUMNS
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name, "physical": c.physical, "logical": c.logical, "width": c.width,
                "float": matches!(c.physical, "FLOAT" | "DOUBLE"),
            })
        })
        .collect();
    let load = files.iter().find(|(n, _)| n.starts_with("LOAD")).map(|(_, p)| p.clone()).unwrap();
    let cdc: Vec<&String> = files.iter().filter(|(n, _)| !n.starts_with("LOAD")).map(|(_, p)| p).collect();
    let with_op = |op: &str, row: &[Option<String>]| -> Vec<Option<String>> {
        std::iter::once(Some(op.to_string())).chain(row.iter().cloned()).collect()
    };
    let mut cdc_rows: Vec<_> = after.iter().map(|r| with_op("U", r)).collect();
    cdc_rows.push(with_op("D", &after[1]));
    let spec = serde_json::json!({
        "columns": columns,
        "load": { "file": load, "rows": loaded },
        "cdc": { "files": cdc, "rows": cdc_rows },
        "dms_sample": format!("{}/dms/dms_test_table_LOAD00000001.parquet", shared_fixtures()),
    });
    let spec_path = dir.parent().unwrap().join("consumer-check.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = std::process::Command::new("python3").arg(repo_path("tests/consumer_check.py")).arg(&spec_path).output().expect("python3");
    assert!(
        out.status.success(),
        "consumer check failed (pip install pyarrow duckdb):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
