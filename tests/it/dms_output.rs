//! DMS's output settings: CSV byte for byte, a DMS endpoint-settings file with date
//! partitions and a timestamp column, the Op filters, and binlake's sequence column.

use std::io::Read;

use arrow::array::{Array, AsArray};
use bytes::Bytes;
use chrono::{NaiveDateTime, TimeZone, Utc};
use object_store::ObjectStoreExt;
use parquet::file::reader::FileReader;

use crate::common::*;

/// classicmodels.customers, the table of the real DMS CSV sample in the output contract.
const CUSTOMERS: &str = "CREATE TABLE customers (
    customerNumber INT PRIMARY KEY, customerName VARCHAR(50) NOT NULL,
    contactLastName VARCHAR(50) NOT NULL, contactFirstName VARCHAR(50) NOT NULL,
    phone VARCHAR(50) NOT NULL, addressLine1 VARCHAR(50) NOT NULL, addressLine2 VARCHAR(50),
    city VARCHAR(50) NOT NULL, state VARCHAR(50), postalCode VARCHAR(15), country VARCHAR(50) NOT NULL,
    salesRepEmployeeNumber INT, creditLimit DECIMAL(10,2)) DEFAULT CHARSET = utf8mb4";

const LOADED: &str = "INSERT INTO customers VALUES
    (103, 'Atelier graphique', 'Schmitt', 'Carine ', '40.32.2555', '54, rue Royale', NULL, 'Nantes', NULL, '44000', 'France', 1370, 21000),
    (112, 'Signal \"Gift\" Stores', 'King', 'Jean', '7025551838', '8489 Strong St.', '', 'Las Vegas', 'NV', '83030', 'USA', 1166, 71800.5),
    (114, 'Australian Collectors, Co.', 'Ferguson', 'Peter', '03 9520 4555', '636 St Kilda Road', 'Level 3\\nSuite 2', 'Melbourne', 'Victoria', '3004', 'Australia', 1611, NULL)";

/// The contract's real DMS sample row, then an update and a delete.
const CHANGES: &[&str] = &[
    "INSERT INTO customers VALUES (497, 'Diecast Collectables', 'Mitesh', 'Valarie', '6175552555', '6251 Ingle Ln.', NULL, 'Boston', 'MA', '51003', 'USA', 1188, 85100)",
    "UPDATE customers SET creditLimit = 0.5, city = 'Saint-Étienne' WHERE customerNumber = 103",
    "DELETE FROM customers WHERE customerNumber = 112",
];

/// Every object of a table folder under `prefix` as (name relative to the folder, bytes),
/// LOAD files first, then CDC files in name order.
async fn objects(lake: &Lake, prefix: &str, db: &str, table: &str) -> Vec<(String, Bytes)> {
    use futures::TryStreamExt;
    let folder = format!("{prefix}{db}/{table}/");
    let mut keys: Vec<String> =
        lake.store.list(Some(&folder.as_str().into())).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
    keys.sort_by_key(|k| (!k.rsplit('/').next().unwrap().starts_with("LOAD"), k.clone()));
    let mut out = Vec::new();
    for key in keys {
        let bytes = lake.store.get(&key.as_str().into()).await.unwrap().bytes().await.unwrap();
        out.push((key.strip_prefix(&folder).unwrap().to_string(), bytes));
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_is_written_byte_for_byte_as_dms_writes_it() {
    let mut db = TestDb::new("csv").await;
    db.exec(CUSTOMERS).await;
    db.exec(LOADED).await;

    // DMS's CSV defaults: no header, NULL as an empty field, quotes only where needed.
    let lake = Lake::local();
    let state = state_dir();
    run_until_caught_up(state.path(), &lake, &db.name, &["--data-format", "csv"]);
    for change in CHANGES {
        db.exec(change).await;
    }
    run_until_caught_up(state.path(), &lake, &db.name, &["--data-format", "csv"]);
    let files = objects(&lake, "", &db.name, "customers").await;
    assert_eq!(files[0].0, "LOAD00000001.csv");
    assert_eq!(
        text(&files[0].1),
        "103,Atelier graphique,Schmitt,Carine ,40.32.2555,\"54, rue Royale\",,Nantes,,44000,France,1370,21000.00\n\
         112,\"Signal \"\"Gift\"\" Stores\",King,Jean,7025551838,8489 Strong St.,\"\",Las Vegas,NV,83030,USA,1166,71800.50\n\
         114,\"Australian Collectors, Co.\",Ferguson,Peter,03 9520 4555,636 St Kilda Road,\"Level 3\nSuite 2\",Melbourne,Victoria,3004,Australia,1611,\n"
    );
    let cdc: String = files[1..]
        .iter()
        .map(|(name, bytes)| {
            assert!(name.ends_with(".csv") && !name.contains('/'), "{name}");
            text(bytes)
        })
        .collect();
    assert_eq!(
        cdc,
        "I,497,Diecast Collectables,Mitesh,Valarie,6175552555,6251 Ingle Ln.,,Boston,MA,51003,USA,1188,85100.00\n\
         U,103,Atelier graphique,Schmitt,Carine ,40.32.2555,\"54, rue Royale\",,Saint-Étienne,,44000,France,1370,0.50\n\
         D,112,\"Signal \"\"Gift\"\" Stores\",King,Jean,7025551838,8489 Strong St.,\"\",Las Vegas,NV,83030,USA,1166,71800.50\n"
    );

    // Header, another delimiter, a NULL marker, gzip, Op in LOAD files, no deletes in CDC.
    let mut db = TestDb::new("csv_gzip").await;
    db.exec(CUSTOMERS).await;
    db.exec(LOADED).await;
    let lake = Lake::local();
    let state = state_dir();
    let settings = [
        "--data-format",
        "csv",
        "--compression-type",
        "GZIP",
        "--add-column-name",
        "true",
        "--csv-delimiter",
        "|",
        "--csv-null-value",
        "NULL",
        "--include-op-for-full-load",
        "true",
        "--cdc-inserts-and-updates",
        "true",
    ];
    run_until_caught_up(state.path(), &lake, &db.name, &settings);
    for change in CHANGES {
        db.exec(change).await;
    }
    run_until_caught_up(state.path(), &lake, &db.name, &settings);
    let files = objects(&lake, "", &db.name, "customers").await;
    let header = "Op|customerNumber|customerName|contactLastName|contactFirstName|phone|addressLine1|addressLine2|city|state|postalCode|country|salesRepEmployeeNumber|creditLimit\n";
    assert_eq!(files[0].0, "LOAD00000001.csv.gz");
    assert_eq!(
        gunzip(&files[0].1),
        format!(
            "{header}I|103|Atelier graphique|Schmitt|Carine |40.32.2555|54, rue Royale|NULL|Nantes|NULL|44000|France|1370|21000.00\n\
             I|112|\"Signal \"\"Gift\"\" Stores\"|King|Jean|7025551838|8489 Strong St.||Las Vegas|NV|83030|USA|1166|71800.50\n\
             I|114|Australian Collectors, Co.|Ferguson|Peter|03 9520 4555|636 St Kilda Road|\"Level 3\nSuite 2\"|Melbourne|Victoria|3004|Australia|1611|NULL\n"
        )
    );
    assert_eq!(files.len(), 2, "one CDC file: {:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert!(files[1].0.ends_with(".csv.gz"), "{}", files[1].0);
    assert_eq!(
        gunzip(&files[1].1),
        format!(
            "{header}I|497|Diecast Collectables|Mitesh|Valarie|6175552555|6251 Ingle Ln.|NULL|Boston|MA|51003|USA|1188|85100.00\n\
             U|103|Atelier graphique|Schmitt|Carine |40.32.2555|54, rue Royale|NULL|Saint-Étienne|NULL|44000|France|1370|0.50\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dms_endpoint_settings_file_gives_dms_paths_and_columns() {
    let mut db = TestDb::new("endpoint").await;
    db.exec("CREATE TABLE orders (id INT PRIMARY KEY, placed DATETIME(3), amount DECIMAL(12,2)) DEFAULT CHARSET = utf8mb4").await;
    db.exec("INSERT INTO orders VALUES (1, '2024-01-02 03:04:05.678', 10.5), (2, NULL, NULL)").await;
    // As `aws dms describe-endpoints` prints it, with a setting binlake reports as unused.
    let endpoint = serde_json::json!({ "Endpoint": { "EndpointIdentifier": "lake", "S3Settings": {
        "ServiceAccessRoleArn": "arn:aws:iam::123456789012:role/dms-s3", "BucketName": "ignored", "BucketFolder": "dms/raw",
        "DataFormat": "parquet", "CompressionType": "GZIP", "TimestampColumnName": "DMS_TIMESTAMP",
        "DatePartitionEnabled": true, "DatePartitionSequence": "YYYYMMDDHH", "DatePartitionDelimiter": "DASH",
        "DatePartitionTimezone": "Asia/Seoul", "IncludeOpForFullLoad": true, "ParquetTimestampInMillisecond": true,
        "CdcMaxBatchInterval": 1, "ParquetVersion": "parquet-2-0", "EnableStatistics": false
    }}});
    let dir = state_dir();
    let file = dir.path().join("endpoint.json");
    std::fs::write(&file, endpoint.to_string()).unwrap();
    let lake = Lake::s3("endpoint", "");
    let state = state_dir();
    let args = ["--dms-settings", file.to_str().unwrap(), "--sequence-column", "seq"];
    let log = run_until_caught_up(state.path(), &lake, &db.name, &args);
    assert!(log.contains("ServiceAccessRoleArn is not used"), "{log}");

    let mut tx = db.conn.start_transaction(Default::default()).await.unwrap();
    // One row inserted then updated four times in one transaction: five rows, one commit time.
    mysql_async::prelude::Queryable::query_drop(&mut tx, "INSERT INTO orders VALUES (3, '2024-02-29 23:59:59.999', 1)").await.unwrap();
    for i in 2..=5 {
        mysql_async::prelude::Queryable::query_drop(&mut tx, format!("UPDATE orders SET amount = {i} WHERE id = 3")).await.unwrap();
    }
    let before_commit = Utc::now();
    tx.commit().await.unwrap();
    let after_commit = Utc::now();
    run_until_caught_up(state.path(), &lake, &db.name, &args);

    let files = objects(&lake, "dms/raw/", &db.name, "orders").await;
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], "LOAD00000001.parquet", "LOAD files stay at the table root");
    // CDC: <YYYY-MM-DD-HH in Seoul>/<YYYYMMDD-HHMMSSmmm in Seoul>.parquet
    let (folder, name) = names[1].split_once('/').unwrap();
    let named = NaiveDateTime::parse_from_str(&name[..18], "%Y%m%d-%H%M%S%3f").unwrap();
    assert_eq!(folder, named.format("%Y-%m-%d-%H").to_string());
    let seoul = chrono_tz::Asia::Seoul.from_local_datetime(&named).unwrap().with_timezone(&Utc);
    assert!(seoul > before_commit - chrono::Duration::seconds(1) && seoul < Utc::now(), "{name} is not the flush time in Seoul");

    let mut sequences = Vec::new();
    for (i, (name, bytes)) in files.iter().enumerate() {
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes.clone()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().version(), 2, "{name}: ParquetVersion parquet-2-0");
        for column in meta.row_group(0).columns() {
            assert!(matches!(column.compression(), parquet::basic::Compression::GZIP(_)), "{name}: {:?}", column.compression());
            assert!(column.statistics().is_none(), "{name}: EnableStatistics=false");
        }
        let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["Op", "DMS_TIMESTAMP", "seq", "id", "placed", "amount"]);
        assert_eq!(
            batch.schema().field(4).data_type(),
            &arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, Some("UTC".into())),
            "ParquetTimestampInMillisecond"
        );
        let ops: Vec<&str> = batch.column(0).as_string::<i32>().iter().map(Option::unwrap).collect();
        let stamps: Vec<&str> = batch.column(1).as_string::<i32>().iter().map(Option::unwrap).collect();
        sequences.extend(batch.column(2).as_string::<i32>().iter().map(|s| s.unwrap().to_string()));
        for stamp in &stamps {
            // yyyy-MM-dd HH:mm:ss.SSSSSS
            NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.6f").unwrap_or_else(|_| panic!("{stamp}"));
            assert_eq!(stamp.len(), 26, "{stamp}");
        }
        if i == 0 {
            assert_eq!(ops, ["I", "I"], "IncludeOpForFullLoad");
        } else {
            assert_eq!(ops, ["I", "U", "U", "U", "U"], "every statement's change is kept");
            assert!(stamps.iter().all(|s| s == &stamps[0]), "one transaction, one commit time: {stamps:?}");
            let committed = NaiveDateTime::parse_from_str(stamps[0], "%Y-%m-%d %H:%M:%S%.6f").unwrap().and_utc();
            assert!(
                committed >= before_commit - chrono::Duration::seconds(1) && committed <= after_commit + chrono::Duration::seconds(1),
                "commit time {committed} outside {before_commit}..{after_commit}"
            );
            let amounts: Vec<String> = (0..5).map(|r| arrow::util::display::array_value_to_string(batch.column(5), r).unwrap()).collect();
            assert_eq!(amounts, ["1.00", "2.00", "3.00", "4.00", "5.00"]);
        }
        assert!(batch.column(2).null_count() == 0);
    }
    assert_eq!(sequences.len(), 7);
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "the sequence column increases strictly: {sequences:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cdc_inserts_only_drops_updates_deletes_and_the_op_column() {
    let mut db = TestDb::new("inserts_only").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO t VALUES (1, 1)").await;
    let lake = Lake::local();
    let state = state_dir();
    let args = ["--cdc-inserts-only", "true"];
    run_until_caught_up(state.path(), &lake, &db.name, &args);
    db.exec("INSERT INTO t VALUES (2, 2)").await;
    db.exec("UPDATE t SET v = 10 WHERE id = 1").await;
    db.exec("DELETE FROM t WHERE id = 2").await;
    db.exec("INSERT INTO t VALUES (3, 3)").await;
    run_until_caught_up(state.path(), &lake, &db.name, &args);
    let mut rows = Vec::new();
    for key in lake.files(&db.name, "t").await {
        let (columns, file_rows) = lake.read(&key).await;
        assert_eq!(columns, ["id", "v"], "{key}: no Op column without IncludeOpForFullLoad");
        rows.extend(file_rows);
    }
    assert_eq!(rows, [["1", "1"], ["2", "2"], ["3", "3"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dms_table_mapping_selects_the_tables() {
    let mut db = TestDb::new("mapping").await;
    for table in ["orders", "order_lines", "orders_tmp", "users"] {
        db.exec(&format!("CREATE TABLE {table} (id INT PRIMARY KEY)")).await;
        db.exec(&format!("INSERT INTO {table} VALUES (1)")).await;
    }
    // As exported from a DMS task: `_` is DMS's one-character wildcard, `%` any run.
    let mapping = serde_json::json!({ "rules": [
        { "rule-type": "selection", "rule-id": "1", "rule-name": "orders", "rule-action": "include",
          "object-locator": { "schema-name": db.name, "table-name": "order%" } },
        { "rule-type": "selection", "rule-id": "2", "rule-name": "no-tmp", "rule-action": "exclude",
          "object-locator": { "schema-name": "%", "table-name": "%[_]tmp" } },
        { "rule-type": "selection", "rule-id": "3", "rule-name": "users", "rule-action": "explicit",
          "object-locator": { "schema-name": db.name, "table-name": "users" } }
    ]});
    let dir = state_dir();
    let file = dir.path().join("mapping.json");
    std::fs::write(&file, mapping.to_string()).unwrap();
    let lake = Lake::local();
    let state = state_dir();
    run_ok(
        binlake(state.path())
            .args(["run", "--source", &mysql_url(), "--target", &lake.url, "--until", "caught-up"])
            .arg("--table-mappings")
            .arg(&file),
    );
    let mut replicated = Vec::new();
    for table in ["orders", "order_lines", "orders_tmp", "users"] {
        if !lake.files(&db.name, table).await.is_empty() {
            replicated.push(table);
        }
    }
    assert_eq!(replicated, ["orders", "order_lines", "users"]);

    // A rule binlake cannot honour is refused by name, not ignored.
    let transform = r#"{"rules": [{"rule-type": "transformation", "rule-id": "9", "rule-name": "lower", "rule-action": "convert-lowercase",
        "rule-target": "table", "object-locator": {"schema-name": "%", "table-name": "%"}}]}"#;
    std::fs::write(&file, transform).unwrap();
    let out = binlake(state.path())
        .args(["run", "--source", &mysql_url(), "--target", &lake.url])
        .arg("--table-mappings")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("\"lower\"") && stderr.contains("transformation"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn primary_key_updates_name_the_old_key_when_asked() {
    let mut db = TestDb::new("key_updates").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))").await;
    db.exec("INSERT INTO t VALUES (1, 'a'), (2, 'b')").await;
    let (dms_lake, dms_state) = (Lake::local(), state_dir());
    let (split_lake, split_state) = (Lake::local(), state_dir());
    run_until_caught_up(dms_state.path(), &dms_lake, &db.name, &[]);
    run_until_caught_up(split_state.path(), &split_lake, &db.name, &["--split-key-updates"]);
    db.exec("UPDATE t SET id = 10 WHERE id = 1").await;
    db.exec("UPDATE t SET v = 'c' WHERE id = 2").await;
    run_until_caught_up(dms_state.path(), &dms_lake, &db.name, &[]);
    run_until_caught_up(split_state.path(), &split_lake, &db.name, &["--split-key-updates"]);

    let cdc = |changes: Vec<Vec<String>>| changes[2..].to_vec();
    // DMS: one U under the new key; a consumer merging by key keeps a ghost row 1.
    let dms = dms_lake.changes(&db.name, "t").await;
    assert_eq!(cdc(dms.clone()), [["U", "10", "a"], ["U", "2", "c"]]);
    assert_eq!(replay(&dms, &[0]).len(), 3, "the DMS way leaves the old key behind");
    // Split: D of the old row, then I of the new one; other updates stay U.
    let split = split_lake.changes(&db.name, "t").await;
    assert_eq!(cdc(split.clone()), [["D", "1", "a"], ["I", "10", "a"], ["U", "2", "c"]]);
    assert_eq!(replay(&split, &[0]), keyed(db.rows("t").await, &[0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn tinyint1_becomes_a_boolean_when_asked_and_never_loses_a_value() {
    let mut db = TestDb::new("booleans").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, active BOOLEAN, level TINYINT, tiny TINYINT(1) UNSIGNED)").await;
    db.exec("INSERT INTO t VALUES (1, TRUE, 5, 7), (2, FALSE, -3, 0), (3, NULL, NULL, NULL)").await;
    let lake = Lake::local();
    let state = state_dir();
    let args = ["--tinyint1-as-boolean"];
    run_until_caught_up(state.path(), &lake, &db.name, &args);
    db.exec("INSERT INTO t VALUES (4, TRUE, 1, 1)").await;
    db.exec("UPDATE t SET active = NOT active WHERE id = 1").await;
    run_until_caught_up(state.path(), &lake, &db.name, &args);

    let files = lake.files(&db.name, "t").await;
    let bytes = lake.store.get(&files[0].as_str().into()).await.unwrap().bytes().await.unwrap();
    let schema = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().schema().clone();
    let types: Vec<String> = schema.fields().iter().map(|f| f.data_type().to_string()).collect();
    // Only a signed TINYINT(1) is MySQL's BOOLEAN.
    assert_eq!(types, ["Int32", "Boolean", "Int8", "UInt8"]);
    let rows = lake.changes(&db.name, "t").await;
    assert_eq!(
        rows,
        [
            ["I", "1", "true", "5", "7"],
            ["I", "2", "false", "-3", "0"],
            ["I", "3", "NULL", "NULL", "NULL"],
            ["I", "4", "true", "1", "1"],
            ["U", "1", "false", "5", "7"],
        ]
    );

    // A value a boolean cannot hold stops binlake, by column, instead of becoming `true`.
    db.exec("INSERT INTO t VALUES (5, 2, 0, 0)").await;
    let out = caught_up_run(state.path(), &lake, &format!("{}.*", db.name)).arg("--tinyint1-as-boolean").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("column active holds 2"), "{stderr}");
    assert_eq!(lake.changes(&db.name, "t").await.len(), 5, "nothing of the refused transaction was written");
}
