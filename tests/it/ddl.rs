//! Schema changes while replicating: every DDL interleaved with DML, followed into the CDC
//! files (each row with the columns its table had when it was written) and into the merged
//! tables, with binlake down during the changes (a restart from a checkpoint before them)
//! and with binlake running.

use binlake::schema::TableId;

use crate::common::*;

fn run_with_lake(state: &std::path::Path, target: &Lake, lake: &Lake, db: &str) -> String {
    run_until_caught_up(state, target, db, &["--lake", &lake.url])
}

#[tokio::test(flavor = "multi_thread")]
async fn alter_table_is_followed_in_files_and_merged_tables() {
    let mut db = TestDb::new("ddl_alter").await;
    // The server's default character set is latin1: `city` is latin1 text.
    db.exec("CREATE TABLE stores (id INT PRIMARY KEY, name VARCHAR(50), city VARCHAR(30))").await;
    db.exec("INSERT INTO stores SELECT seq, CONCAT('store ', seq), 'Lyon' FROM seq_1_to_20").await;
    let target = Lake::local();
    let lake = Lake::local();
    let state = state_dir();
    run_with_lake(state.path(), &target, &lake, &db.name);

    // binlake is down: it restarts from a checkpoint before all of these.
    for sql in [
        // DML and DDL in one transaction (the DDL commits what comes before it), and in
        // adjacent ones; seed 000's column with a default.
        "BEGIN; INSERT INTO stores VALUES (21, 'store 21', 'Nice'); UPDATE stores SET name = 'three' WHERE id = 3; \
         ALTER TABLE stores ADD COLUMN Country VARCHAR(10) NOT NULL DEFAULT 'US'; INSERT INTO stores VALUES (22, 'store 22', 'Paris', 'FR'); COMMIT",
        "UPDATE stores SET Country = 'CA' WHERE id = 4",
        "ALTER TABLE stores MODIFY name VARCHAR(100), ADD COLUMN rank INT FIRST, ADD COLUMN zip CHAR(5) AFTER name",
        "INSERT INTO stores (id, name, zip, city, rank) VALUES (23, 'store 23', '75001', 'Paris', 7)",
        "ALTER TABLE stores CHANGE city town VARCHAR(40) CHARACTER SET utf8mb4",
        "INSERT INTO stores (id, name, town) VALUES (24, 'store 24', 'Zürich'); UPDATE stores SET town = 'Köln' WHERE id = 6",
        "ALTER TABLE stores RENAME COLUMN zip TO postcode",
        "UPDATE stores SET postcode = '69001' WHERE id = 7",
        "ALTER TABLE stores DROP COLUMN rank",
        "DELETE FROM stores WHERE id = 5",
        "ALTER TABLE stores ALTER COLUMN Country SET DEFAULT 'DE', ALGORITHM=INPLACE",
        "INSERT INTO stores (id, name) VALUES (25, 'store 25')",
        "ALTER TABLE stores CONVERT TO CHARACTER SET latin1",
        "INSERT INTO stores (id, name, town) VALUES (26, 'Café', 'Orléans'); UPDATE stores SET town = 'Genève' WHERE id = 8",
    ] {
        db.exec(sql).await;
    }
    let log = run_with_lake(state.path(), &target, &lake, &db.name);
    assert!(log.contains("following a schema change"), "{log}");

    // binlake is running: changes reach it as they happen.
    let mut child = spawn_merging_run(state.path(), &target, &lake, &db.name);
    wait_committed(&mut child, state.path()).await;
    for sql in [
        "UPDATE stores SET name = 'nine' WHERE id = 9",
        "ALTER TABLE stores ADD COLUMN opened DATE DEFAULT '2020-01-01' AFTER id",
        "INSERT INTO stores (id, opened, name) VALUES (27, '2024-05-06', 'store 27')",
        // Not parsed by binlake (CHAR ... BINARY): caught up, it reads information_schema.
        "ALTER TABLE stores ADD COLUMN code CHAR(3) BINARY DEFAULT 'abc'",
    ] {
        db.exec(sql).await;
        wait_committed(&mut child, state.path()).await;
    }
    db.exec("INSERT INTO stores (id, name, code) VALUES (28, 'store 28', 'xyz')").await;
    wait_committed(&mut child, state.path()).await;
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let live_log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{live_log}");
    assert!(live_log.contains("its schema is read from information_schema"), "{live_log}");

    let id = TableId::new(&db.name, "stores");
    let (replayed, schemas) = replay_by_name(state.path(), &target, &id, "id").await;
    let source = source_rows(&mut db, "stores", "id").await;
    assert_rows_match(
        "stores",
        &replayed,
        &source,
        &[("city", "town"), ("zip", "postcode")],
        &[("Country", "US"), ("opened", "2020-01-01"), ("code", "abc"), ("postcode", "NULL"), ("zip", "NULL")],
    );
    // Each file has the columns of its rows' time, new columns at their place.
    assert!(schemas.contains(&vec!["id".into(), "name".into(), "city".into(), "Country".into()]), "{schemas:?}");
    assert!(
        schemas.contains(&vec!["rank".into(), "id".into(), "name".into(), "zip".into(), "city".into(), "Country".into()]),
        "{schemas:?}"
    );
    assert_eq!(schemas.last().unwrap(), &["id", "opened", "name", "postcode", "town", "Country", "code"]);
    assert_eq!(replayed["26"]["name"], "Café");
    assert_eq!(replayed["24"]["town"], "Zürich");

    // The merged table followed too, renamed columns with their values.
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_created_renamed_truncated_swapped_and_dropped() {
    let mut db = TestDb::new("ddl_tables").await;
    db.exec(
        "CREATE TABLE stores (id INT PRIMARY KEY, name VARCHAR(50)); CREATE TABLE extra (id INT PRIMARY KEY, v INT);
         CREATE TABLE plain (id INT PRIMARY KEY, v INT)",
    )
    .await;
    db.exec(
        "INSERT INTO stores SELECT seq, CONCAT('s', seq) FROM seq_1_to_50; INSERT INTO extra SELECT seq, seq FROM seq_1_to_10;
         INSERT INTO plain SELECT seq, seq FROM seq_1_to_5",
    )
    .await;
    let target = Lake::local();
    let lake = Lake::local();
    let state = state_dir();
    run_with_lake(state.path(), &target, &lake, &db.name);

    // binlake is down: it restarts from a checkpoint before all of these.
    for sql in [
        // A table filled by CREATE ... SELECT and renamed twice: what it became is loaded.
        "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20)) SELECT seq AS id, CONCAT('i', seq) AS label FROM seq_1_to_5",
        "INSERT INTO items VALUES (6, 'i6')",
        "RENAME TABLE items TO products",
        "UPDATE products SET label = 'renamed' WHERE id = 1",
        "ALTER TABLE products RENAME TO goods, ADD COLUMN price INT DEFAULT 9",
        "INSERT INTO goods VALUES (7, 'i7', 70)",
        // Truncated: emptied, then new rows.
        "UPDATE extra SET v = 100 WHERE id = 1",
        "TRUNCATE TABLE extra",
        "INSERT INTO extra VALUES (11, 11), (12, 12)",
        // gh-ost: shadow table, copy, changes applied to both, atomic swap.
        "CREATE TABLE `_stores_gho` LIKE `stores`",
        "ALTER TABLE `_stores_gho` ADD COLUMN region CHAR(2) DEFAULT 'EU'",
        "INSERT INTO `_stores_gho` (id, name) SELECT id, name FROM stores",
        "BEGIN; UPDATE stores SET name = 'moved' WHERE id = 2; REPLACE INTO `_stores_gho` (id, name) VALUES (2, 'moved'); COMMIT",
        "RENAME TABLE `stores` TO `_stores_del`, `_stores_gho` TO `stores`",
        "DROP TABLE `_stores_del`",
        "UPDATE stores SET region = 'US' WHERE id = 3",
        // Not parsed by binlake (CHAR ... BINARY), and more follows: loaded anew.
        "ALTER TABLE plain ADD COLUMN w CHAR(2) BINARY DEFAULT 'zz'",
        "UPDATE plain SET v = 50 WHERE id = 5",
    ] {
        db.exec(sql).await;
    }
    let log = run_with_lake(state.path(), &target, &lake, &db.name);
    for expected in [
        "loading the table anew: it was truncated",
        "not loading the table (bl_ddl_tables",
        "following a schema change",
        "loading the table anew: binlake could not follow a statement",
    ] {
        assert!(log.contains(expected), "{expected}:\n{log}");
    }

    // binlake is running: tables appear, change their key and go while it streams.
    let mut child = spawn_merging_run(state.path(), &target, &lake, &db.name);
    wait_committed(&mut child, state.path()).await;
    for sql in [
        "CREATE TABLE fresh (id INT PRIMARY KEY, note VARCHAR(10))",
        "INSERT INTO fresh VALUES (1, 'a'), (2, 'b')",
        "CREATE TABLE copy LIKE stores",
        "INSERT INTO copy SELECT * FROM stores WHERE id <= 3",
        "ALTER TABLE copy DROP PRIMARY KEY, ADD PRIMARY KEY (id, name)",
        "UPDATE copy SET name = 'c1' WHERE id = 1",
        "DROP TABLE copy",
        "UPDATE fresh SET note = 'bb' WHERE id = 2",
        // pt-online-schema-change: a new table, filled, swapped in.
        "CREATE TABLE `_fresh_new` LIKE `fresh`",
        "ALTER TABLE `_fresh_new` ADD COLUMN more INT DEFAULT 3",
        "INSERT INTO `_fresh_new` (id, note) SELECT id, note FROM fresh",
        "RENAME TABLE `fresh` TO `_fresh_old`, `_fresh_new` TO `fresh`",
        "DROP TABLE IF EXISTS `_fresh_old`",
        "UPDATE fresh SET more = 4 WHERE id = 1",
    ] {
        db.exec(sql).await;
        wait_committed(&mut child, state.path()).await;
    }
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let live_log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{live_log}");
    for expected in [
        "loading the table anew: it was created. table=bl_ddl_tables",
        "the table is gone",
        "following a schema change. table=bl_ddl_tables",
    ] {
        assert!(live_log.contains(expected), "{expected}:\n{live_log}");
    }
    let copy = target.files(&db.name, "copy").await;
    assert!(copy.len() >= 2, "copy: its full load and its changes until the drop: {copy:?}");

    // The swap kept stores streaming: no new full load, the new column from the swap on.
    let stores = target.files(&db.name, "stores").await;
    assert_eq!(stores.iter().filter(|f| f.contains("/LOAD")).count(), 1, "{stores:?}");
    let (replayed, _) = replay_by_name(state.path(), &target, &TableId::new(&db.name, "stores"), "id").await;
    assert_rows_match("stores", &replayed, &source_rows(&mut db, "stores", "id").await, &[], &[("region", "EU")]);
    // The truncated table: a second full load, numbered after the first.
    let extra = target.files(&db.name, "extra").await;
    assert!(extra.iter().any(|f| f.ends_with("/LOAD00000002.parquet")), "{extra:?}");
    let (replayed, _) = replay_by_name(state.path(), &target, &TableId::new(&db.name, "extra"), "id").await;
    assert_eq!(replayed.keys().collect::<Vec<_>>(), ["11", "12"]);
    for (table, added) in [("goods", None), ("extra", None), ("fresh", Some(("more", "3"))), ("plain", None)] {
        let (replayed, _) = replay_by_name(state.path(), &target, &TableId::new(&db.name, table), "id").await;
        assert_rows_match(table, &replayed, &source_rows(&mut db, table, "id").await, &[], &Vec::from_iter(added));
    }
    // The pt-osc swap went on with the new schema, without a new full load.
    let swapped = format!("following a schema change. table={}.fresh", db.name);
    assert!(live_log.contains(&swapped) && !live_log.contains(&format!("renamed to it. table={}.fresh", db.name)), "{live_log}");
    let status = run_ok(binlake(state.path()).arg("status"));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.lines().any(|l| l.contains(".copy") && l.contains("dropped")), "{status}");
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Schema changes that never reach the binlog (sql_log_bin=0, a promoted replica) show in the
/// TABLE_MAPs: the table is loaded anew, or with `--on-statement-change stop` binlake stops
/// naming the table, the column, both types, the position and the way out.
#[tokio::test(flavor = "multi_thread")]
async fn schema_changes_binlake_did_not_see_reload_the_table_or_stop_with_the_way_out() {
    let mut db = TestDb::new("ddl_drift").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, a INT, price DECIMAL(12,2), note VARCHAR(20))").await;
    db.exec("INSERT INTO t VALUES (1, 1, 1.50, 'one')").await;
    let target = Lake::local();
    let lake = Lake::local();
    let state = state_dir();
    let tables = format!("{}.*", db.name);
    let run = |extra: &[&str]| caught_up_run(state.path(), &target, &tables).args(["--lake", &lake.url]).args(extra).output().unwrap();
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let id = TableId::new(&db.name, "t");
    let out = run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));

    db.exec("SET SESSION sql_log_bin = 0; ALTER TABLE t MODIFY price DECIMAL(14,4); SET SESSION sql_log_bin = 1").await;
    db.exec("INSERT INTO t VALUES (2, 2, 12345.6789, 'two')").await;
    let out = run(&["--on-statement-change", "stop"]);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&format!("TABLE_MAP of {id} does not match")) && text.contains("mysql-bin."), "{text}");
    assert!(text.contains("column price is DECIMAL(12,2) in binlake's schema of the table but DECIMAL(14,4) in the binlog"), "{text}");
    assert!(text.contains(&format!("Run `binlake reload {id}`")), "{text}");
    run_ok(binlake(state.path()).args(["reload", &id.to_string()]));
    let out = run(&["--on-statement-change", "stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let name = db.name.clone();
    let check = |what: &str| {
        let out = verify(state.path(), &name, &lake.url);
        assert!(out.status.success(), "{what}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    let (replayed, _) = replay_by_name(state.path(), &target, &id, "id").await;
    assert_rows_match("t", &replayed, &source_rows(&mut db, "t", "id").await, &[], &[]);
    assert_eq!(replayed["2"]["price"], "12345.6789");
    check("DECIMAL");

    // By default the table is loaded anew: VARCHAR(20) to TEXT, then a column added.
    db.exec("SET SESSION sql_log_bin = 0; ALTER TABLE t MODIFY note TEXT; SET SESSION sql_log_bin = 1").await;
    db.exec(&format!("INSERT INTO t VALUES (3, 3, 3, '{}')", "long ".repeat(20))).await;
    let out = run(&[]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("column note is VARCHAR/VARBINARY of up to ")
            && log.contains("bytes in binlake's schema of the table but TEXT/BLOB in the binlog"),
        "{log}"
    );
    assert!(
        log.contains(&format!("loading the table anew: its TABLE_MAP showed a schema change binlake did not see. table={id}")),
        "{log}"
    );
    db.exec("SET SESSION sql_log_bin = 0; ALTER TABLE t ADD COLUMN b INT DEFAULT 5; SET SESSION sql_log_bin = 1").await;
    db.exec("INSERT INTO t VALUES (4, 4, 4, 'four', 4)").await;
    let out = run(&[]);
    let log = stderr(&out);
    assert!(out.status.success() && log.contains("the binlog row has 5 columns but binlake's schema of the table has 4"), "{log}");
    let (replayed, _) = replay_by_name(state.path(), &target, &id, "id").await;
    assert_rows_match("t", &replayed, &source_rows(&mut db, "t", "id").await, &[], &[]);
    check("TEXT and a column added");

    // With binlog_row_metadata=FULL the TABLE_MAP names the columns: a rename the binlog
    // never saw (same column count and types) is caught too.
    db.exec("SET GLOBAL binlog_row_metadata = FULL").await;
    db.exec("SET SESSION sql_log_bin = 0; ALTER TABLE t CHANGE a renamed INT; SET SESSION sql_log_bin = 1").await;
    db.exec("INSERT INTO t VALUES (5, 5, 5, 'five', 5)").await;
    let out = run(&[]);
    db.exec("SET GLOBAL binlog_row_metadata = NO_LOG").await;
    let log = stderr(&out);
    assert!(out.status.success() && log.contains("the binlog names a column renamed where binlake's schema of the table has a"), "{log}");
    let (replayed, _) = replay_by_name(state.path(), &target, &id, "id").await;
    assert_rows_match("t", &replayed, &source_rows(&mut db, "t", "id").await, &[], &[]);
    check("a column renamed");
}

/// Seed 000: four tables created and populated, replication started, then customers and stores
/// modified and `Country` (default 'US') added to stores while binlake runs.
#[tokio::test(flavor = "multi_thread")]
async fn seed_000_scenario_with_a_column_added_mid_stream() {
    let mut db = TestDb::new("seed000").await;
    db.exec(
        "CREATE TABLE products (product_id INT PRIMARY KEY, name VARCHAR(100), price DECIMAL(10,2));
         CREATE TABLE customers (customer_id INT PRIMARY KEY, name VARCHAR(100), email VARCHAR(100));
         CREATE TABLE stores (store_id INT PRIMARY KEY, address VARCHAR(200), city VARCHAR(100));
         CREATE TABLE transactions (transaction_id INT PRIMARY KEY, customer_id INT, product_id INT, store_id INT, quantity INT, ts DATETIME)",
    )
    .await;
    db.exec(
        "INSERT INTO products SELECT seq, CONCAT('product ', seq), seq * 1.25 FROM seq_1_to_100;
         INSERT INTO customers SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com') FROM seq_1_to_500;
         INSERT INTO stores SELECT seq, CONCAT(seq, ' Main St'), 'Springfield' FROM seq_1_to_20;
         INSERT INTO transactions SELECT seq, seq % 500 + 1, seq % 100 + 1, seq % 20 + 1, seq % 7 + 1, '2022-09-29 10:00:00' FROM seq_1_to_2000",
    )
    .await;
    let target = Lake::s3("seed000", "dms");
    let lake = Lake::local();
    let state = state_dir();
    let mut child = spawn_merging_run(state.path(), &target, &lake, &db.name);
    wait_committed(&mut child, state.path()).await;
    db.exec(
        "UPDATE customers SET email = CONCAT('new', customer_id, '@example.com') WHERE customer_id % 10 = 0;
         DELETE FROM customers WHERE customer_id > 495;
         UPDATE stores SET city = 'Shelbyville' WHERE store_id <= 5;
         ALTER TABLE stores ADD COLUMN Country VARCHAR(50) DEFAULT 'US';
         UPDATE stores SET Country = 'CA' WHERE store_id = 20;
         INSERT INTO stores VALUES (21, '1 Harbour Rd', 'Halifax', 'CA'), (22, '2 Elm St', 'Springfield', DEFAULT)",
    )
    .await;
    wait_committed(&mut child, state.path()).await;
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let (replayed, schemas) = replay_by_name(state.path(), &target, &TableId::new(&db.name, "stores"), "store_id").await;
    assert_rows_match("stores", &replayed, &source_rows(&mut db, "stores", "store_id").await, &[], &[("Country", "US")]);
    assert_eq!(schemas.last().unwrap(), &["store_id", "address", "city", "Country"]);
}

/// The merged table changes schema where the source did, in the order of the data: a column
/// dropped and added again with another type takes none of the old column's values, and a
/// rename chain keeps each value under the right name.
#[tokio::test(flavor = "multi_thread")]
async fn the_merged_table_follows_schema_changes_in_order() {
    let mut db = TestDb::new("ddl_order").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, a INT, flag INT DEFAULT 1)").await;
    db.exec("INSERT INTO t (id, a) SELECT seq, seq FROM seq_1_to_10").await;
    let target = Lake::local();
    let lake = Lake::local();
    let state = state_dir();
    run_with_lake(state.path(), &target, &lake, &db.name);
    for sql in [
        "UPDATE t SET flag = 7 WHERE id <= 3",
        "ALTER TABLE t DROP COLUMN flag",
        "UPDATE t SET a = a + 100 WHERE id = 4",
        "ALTER TABLE t ADD COLUMN flag VARCHAR(5) DEFAULT 'no'",
        "UPDATE t SET flag = 'yes' WHERE id = 5",
        "ALTER TABLE t RENAME COLUMN a TO b",
        "ALTER TABLE t ADD COLUMN a INT DEFAULT 0",
        "UPDATE t SET b = b + 1000, a = 5 WHERE id = 6",
        "ALTER TABLE t RENAME COLUMN b TO c",
        // Names swapped in one statement; a column dropped and added again in two, with no
        // rows between (the source's rows take the new default).
        "ALTER TABLE t CHANGE c x INT, CHANGE flag c VARCHAR(5)",
        "ALTER TABLE t DROP COLUMN a",
        "ALTER TABLE t ADD COLUMN a INT DEFAULT 42",
        // MySQL's implicit defaults of NOT NULL columns.
        "ALTER TABLE t ADD COLUMN n INT NOT NULL, ADD COLUMN s VARCHAR(3) NOT NULL",
        "UPDATE t SET n = 1 WHERE id = 1",
    ] {
        db.exec(sql).await;
    }
    // One merge over all of these files.
    run_with_lake(state.path(), &target, &lake, &db.name);
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // Values the server computes for the rows already there: the table is loaded anew.
    db.exec("ALTER TABLE t ADD COLUMN created DATETIME DEFAULT CURRENT_TIMESTAMP; UPDATE t SET s = 'z' WHERE id = 2").await;
    let log = run_with_lake(state.path(), &target, &lake, &db.name);
    assert!(log.contains("loading the table anew: the statement changed rows without row events"), "{log}");
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A table without a primary key is identified by its first UNIQUE key of NOT NULL columns; a
/// statement that may change which key that is reloads the table, and the merged table
/// follows: a keyless table that gains such a key is merged from then on, a table whose key
/// moves to another UNIQUE key is merged by the new one.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_of_the_key_that_identifies_rows_reloads_the_table() {
    let mut db = TestDb::new("ddl_rekey").await;
    db.exec("CREATE TABLE logs (n INT NOT NULL, code VARCHAR(10) NOT NULL, v INT)").await;
    db.exec("INSERT INTO logs SELECT seq, CONCAT('c', seq), seq FROM seq_1_to_50").await;
    db.exec("CREATE TABLE tags (a INT NOT NULL, b INT, v INT, UNIQUE KEY by_a (a))").await;
    db.exec("INSERT INTO tags SELECT seq, 1000 + seq, seq FROM seq_1_to_50").await;
    let (target, lake, state) = (Lake::local(), Lake::local(), state_dir());
    let log = run_with_lake(state.path(), &target, &lake, &db.name);
    assert!(log.contains("not merged: the table has no primary key nor a UNIQUE key"), "{log}");

    for sql in [
        "UPDATE logs SET v = v + 1 WHERE n <= 10",
        "ALTER TABLE logs ADD UNIQUE KEY by_code (code)",
        // a key update: the old row goes
        "UPDATE logs SET code = CONCAT('x', code), v = -v WHERE n = 3",
        "DELETE FROM logs WHERE n = 4",
        "UPDATE tags SET a = a + 100 WHERE a = 5",
        "ALTER TABLE tags MODIFY b INT NOT NULL, ADD UNIQUE KEY by_b (b)",
        "ALTER TABLE tags DROP INDEX by_a",
        // no longer the key: a row keeps its identity
        "UPDATE tags SET a = a + 1000 WHERE b = 1007",
        "UPDATE tags SET b = 2000 WHERE b = 1008",
    ] {
        db.exec(sql).await;
    }
    let log = run_with_lake(state.path(), &target, &lake, &db.name);
    for table in ["logs", "tags"] {
        let said = log.lines().any(|l| l.contains(&format!("{}.{table}", db.name)) && l.contains("the key that identifies its rows"));
        assert!(said, "{table} is reloaded for its new key:\n{log}");
    }
    for (table, key) in [("logs", "code"), ("tags", "b")] {
        let (replayed, _) = replay_by_name(state.path(), &target, &TableId::new(&db.name, table), key).await;
        assert_rows_match(table, &replayed, &source_rows(&mut db, table, key).await, &[], &[]);
    }
    let out = verify(state.path(), &db.name, &lake.url);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "verify: {said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("logs") && said.contains("tags") && !said.contains("skipped"), "both tables are merged: {said}");
}
