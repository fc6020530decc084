//! Full load + streaming against MariaDB, read back from the lake and compared with SELECT.

use object_store::ObjectStoreExt;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn full_load_then_changes_equal_the_source() {
    let mut db = TestDb::new("replicate").await;
    db.exec(SHOP_SCHEMA).await;
    let mut shop = Shop::new(1);
    shop.seed(&mut db, 100_000).await;
    let lake = Lake::local();
    let state = state_dir();

    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    for table in SHOP_TABLES {
        let files = lake.files(&db.name, table).await;
        assert!(files.iter().all(|f| f.rsplit('/').next().unwrap().starts_with("LOAD")), "{table}: {files:?}");
        let (columns, _) = lake.read(&files[0]).await;
        assert_ne!(columns[0], "Op", "LOAD files carry no Op column by default");
    }
    assert_lake_equals_source(&mut db, &lake).await;

    // The issue's scenario: 10k changes in transactions of 1..=500 statements, many across
    // tables; one more transaction rolled back.
    shop.run(&mut db, 10_000, 500).await;
    let mut tx = db.conn.start_transaction(Default::default()).await.unwrap();
    mysql_async::prelude::Queryable::query_drop(&mut tx, "INSERT INTO accounts VALUES (999999, 'rolled back', 1, 1)").await.unwrap();
    tx.rollback().await.unwrap();
    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    assert_lake_equals_source(&mut db, &lake).await;

    let cdc_name = regex_lite(r"^\d{8}-\d{9}\.parquet$");
    for table in SHOP_TABLES {
        let files = lake.files(&db.name, table).await;
        let cdc: Vec<&String> = files.iter().filter(|f| !f.contains("/LOAD")).collect();
        assert!(!cdc.is_empty(), "{table} has CDC files");
        for f in cdc {
            assert!(cdc_name(f.rsplit('/').next().unwrap()), "CDC name {f}");
            let (columns, rows) = lake.read(f).await;
            assert_eq!(columns[0], "Op");
            assert!(rows.iter().all(|r| ["I", "U", "D"].contains(&r[0].as_str())));
        }
    }
    let all: Vec<Vec<String>> = lake.changes(&db.name, "accounts").await;
    assert!(!all.iter().any(|r| r[1] == "999999"), "a rolled-back transaction reached the lake");

    let status = run_ok(binlake(state.path()).arg("status"));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains(&format!("{}.accounts", db.name)) && status.contains("streaming"), "{status}");
    assert!(status.contains("checkpoint: mysql-bin."), "{status}");
}

/// `^\d{8}-\d{9}\.parquet$` without a regex dependency.
fn regex_lite(_: &str) -> impl Fn(&str) -> bool {
    |name: &str| {
        let b = name.as_bytes();
        b.len() == 26
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'-'
            && b[9..18].iter().all(u8::is_ascii_digit)
            && &name[18..] == ".parquet"
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replicates_to_s3_under_the_bucket_folder() {
    let mut db = TestDb::new("s3").await;
    db.exec(SHOP_SCHEMA).await;
    let mut shop = Shop::new(2);
    shop.seed(&mut db, 1_500).await;
    let lake = Lake::s3("s3", "dms/raw");
    let state = state_dir();
    run_until_caught_up(state.path(), &lake, &db.name, &["--max-file-size", "16"]);
    shop.run(&mut db, 500, 20).await;
    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    assert_lake_equals_source(&mut db, &lake).await;
    let files = lake.files(&db.name, "accounts").await;
    assert!(files.iter().all(|f| f.starts_with(&format!("dms/raw/{}/accounts/", db.name))), "{files:?}");
    // MaxFileSize of 16 KB splits the full load into numbered LOAD files.
    assert!(files.iter().any(|f| f.ends_with("/LOAD00000002.parquet")), "{files:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_transaction_is_never_split_across_files() {
    let mut db = TestDb::new("bigtx").await;
    db.exec("CREATE TABLE big (id INT PRIMARY KEY, payload VARCHAR(100))").await;
    let lake = Lake::local();
    let state = state_dir();
    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    db.exec("INSERT INTO big SELECT seq, CONCAT('row ', seq) FROM seq_1_to_60000").await;
    // a tiny CdcMinFileSize: files close at the first transaction boundary after 1 KB
    run_until_caught_up(state.path(), &lake, &db.name, &["--cdc-min-file-size", "1", "--row-group-length", "5000"]);
    let files = lake.files(&db.name, "big").await;
    assert_eq!(files.len(), 1, "{files:?}");
    let (_, rows) = lake.read(&files[0]).await;
    assert_eq!(rows.len(), 60_000);
    assert_eq!(rows[59_999], vec!["I", "60000", "row 60000"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_of_many_megabytes_arrive_whole_each_in_a_row_group_of_its_own() {
    let mut db = TestDb::new("hugerows").await;
    db.exec("CREATE TABLE huge (id INT PRIMARY KEY, b LONGBLOB NOT NULL)").await;
    // 20 MB values: more than one 16 MB protocol packet, and a Parquet batch of their own.
    let value = |id: u32| format!("REPEAT(MD5({id}), 20 * 1024 * 1024 / 32)");
    db.exec(&format!("INSERT INTO huge VALUES (1, {}), (2, {})", value(1), value(2))).await;
    let lake = Lake::s3("hugerows", "");
    let state = state_dir();
    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    db.exec(&format!("INSERT INTO huge VALUES (3, {})", value(3))).await;
    db.exec("UPDATE huge SET b = REVERSE(b) WHERE id = 1").await;
    run_until_caught_up(state.path(), &lake, &db.name, &[]);

    let files = lake.files(&db.name, "huge").await;
    assert_eq!(files.len(), 2, "{files:?}");
    for key in &files {
        let bytes: bytes::Bytes = lake.store.get(&key.as_str().into()).await.unwrap().bytes().await.unwrap();
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        // Each large value is encoded and its row group closed before the next is read.
        assert_eq!(meta.num_row_groups() as i64, meta.file_metadata().num_rows(), "{key}");
    }
    let expected: Vec<(u32, String)> =
        mysql_async::prelude::Queryable::query(&mut db.conn, "SELECT id, HEX(b) FROM huge ORDER BY id").await.unwrap();
    let changes = lake.changes(&db.name, "huge").await;
    let ops: Vec<(&str, &str)> = changes.iter().map(|c| (c[0].as_str(), c[1].as_str())).collect();
    assert_eq!(ops, [("I", "1"), ("I", "2"), ("I", "3"), ("U", "1")]);
    let current = replay(&changes, &[0]);
    assert_eq!(current.len(), 3);
    for ((id, hex), row) in expected.iter().zip(current.values()) {
        assert_eq!(row[0], id.to_string());
        assert!(row[1].len() == 40 << 20 && row[1].eq_ignore_ascii_case(hex), "row {id}: value differs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn large_files_reach_s3_whole() {
    let mut db = TestDb::new("multipart").await;
    db.exec("CREATE TABLE blobs (id INT PRIMARY KEY, data VARBINARY(2048) NOT NULL)").await;
    // ~16 MB of incompressible data: larger than one PUT buffer, so it goes up in parts.
    db.exec("INSERT INTO blobs SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_16000").await;
    let lake = Lake::s3("multipart", "");
    let state = state_dir();
    // one worker: the full load is one LOAD file
    run_until_caught_up(state.path(), &lake, &db.name, &["--snapshot-workers", "1"]);
    db.exec("UPDATE blobs SET data = RANDOM_BYTES(1024)").await;
    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    let files = lake.files(&db.name, "blobs").await;
    assert_eq!(files.len(), 2, "{files:?}");
    for key in &files {
        let size = lake.store.head(&key.as_str().into()).await.unwrap().size;
        assert!(size > 12 << 20, "{key} is only {size} bytes");
    }
    let checksum: Vec<(u32, String)> =
        mysql_async::prelude::Queryable::query(&mut db.conn, "SELECT id, HEX(data) FROM blobs ORDER BY id").await.unwrap();
    let changes = lake.changes(&db.name, "blobs").await;
    let after: Vec<&Vec<String>> = changes.iter().filter(|c| c[0] == "U").collect();
    assert_eq!(after.len(), 16_000);
    for ((id, hex), row) in checksum.iter().zip(after) {
        assert_eq!(row[1], id.to_string());
        assert_eq!(row[2].to_ascii_uppercase(), *hex, "row {id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn savepoints_stay_inside_their_transaction_and_binary_keeps_its_zero_bytes() {
    let mut db = TestDb::new("savepoint").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, uuid BINARY(16), note VARCHAR(2000))").await;
    // trailing zero bytes, which the binlog strips from BINARY(n)
    db.exec("INSERT INTO t VALUES (1, UNHEX('0102030405060708090A0B0C0D0E0000'), 'a')").await;
    let lake = Lake::local();
    let state = state_dir();
    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    for sql in [
        "BEGIN",
        // more than the 1 KB CdcMinFileSize below before the savepoint
        "UPDATE t SET note = REPEAT('b', 1500) WHERE id = 1",
        "SAVEPOINT s1",
        "INSERT INTO t VALUES (2, UNHEX('FF000000000000000000000000000000'), 'undone')",
        "ROLLBACK TO SAVEPOINT s1",
        "INSERT INTO t VALUES (3, UNHEX('AA'), 'kept')",
        "RELEASE SAVEPOINT s1",
        "COMMIT",
    ] {
        db.exec(sql).await;
    }
    // a 1 KB CdcMinFileSize closes files at every transaction boundary: a savepoint taken for
    // one would split the transaction
    run_until_caught_up(state.path(), &lake, &db.name, &["--cdc-min-file-size", "1"]);
    let files = lake.files(&db.name, "t").await;
    assert_eq!(files.len(), 2, "LOAD + one CDC file: {files:?}");
    let (_, rows) = lake.read(&files[1]).await;
    assert_eq!(
        rows,
        vec![
            vec!["U", "1", "0102030405060708090a0b0c0d0e0000", &"b".repeat(1500)],
            vec!["I", "3", "aa000000000000000000000000000000", "kept"],
        ]
    );
    let (_, load) = lake.read(&files[0]).await;
    assert_eq!(load[0][1], "0102030405060708090a0b0c0d0e0000");
}
