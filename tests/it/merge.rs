//! Merged tables: random workloads against MariaDB, merged by `binlake run --lake`, compared
//! with the source by `binlake verify` and by an independent Delta reader; and `binlake merge`
//! over a hand-built folder in the DMS layout (seed 004's tables and changes).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Decimal128Array, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use object_store::ObjectStoreExt;
use parquet::arrow::ArrowWriter;

use crate::common::*;

const SCHEMA: &str = "
    CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100), qty INT UNSIGNED, price DECIMAL(10,2), seen DATETIME(6), big BIGINT UNSIGNED);
    CREATE TABLE order_lines (order_id INT, sku VARCHAR(20), qty INT, PRIMARY KEY (order_id, sku));
    CREATE TABLE notes (msg VARCHAR(50));
";

/// Random changes to `items` and `order_lines`: inserts, updates, primary-key changes, deletes and
/// re-inserts of deleted keys.
struct Workload {
    rng: Rng,
    items: Vec<i64>,
    deleted: Vec<i64>,
    next: i64,
}

impl Workload {
    fn statement(&mut self) -> String {
        let pick = |rng: &mut Rng, v: &Vec<i64>| v[rng.range(0, v.len() as u64 - 1) as usize];
        match self.rng.range(0, 99) {
            0..=19 => {
                let id = self.next;
                self.next += 1;
                self.items.push(id);
                format!(
                    "INSERT INTO items VALUES ({id}, 'new {id}', {}, {}.25, NOW(6), {})",
                    self.rng.range(0, 1000),
                    self.rng.range(0, 500),
                    u64::MAX - id as u64
                )
            }
            20..=49 => {
                let id = pick(&mut self.rng, &self.items);
                format!("UPDATE items SET qty = qty + 1, name = CONCAT('u', {}), seen = NOW(6) WHERE id = {id}", self.rng.range(0, 1000))
            }
            50..=59 => {
                let i = self.rng.range(0, self.items.len() as u64 - 1) as usize;
                let id = self.items[i];
                let to = self.next;
                self.next += 1;
                self.items[i] = to;
                format!("UPDATE items SET id = {to} WHERE id = {id}")
            }
            60..=69 => {
                let i = self.rng.range(0, self.items.len() as u64 - 1) as usize;
                let id = self.items.swap_remove(i);
                self.deleted.push(id);
                format!("DELETE FROM items WHERE id = {id}")
            }
            70..=74 if !self.deleted.is_empty() => {
                let id = self.deleted.swap_remove(0);
                self.items.push(id);
                format!("INSERT INTO items VALUES ({id}, 'back {id}', 1, 0.10, NULL, NULL)")
            }
            75..=84 => {
                let order = self.rng.range(0, 300);
                format!("INSERT INTO order_lines VALUES ({order}, 'sku-{}', 1) ON DUPLICATE KEY UPDATE qty = qty + 1", self.rng.range(0, 9))
            }
            85..=89 => format!("UPDATE IGNORE order_lines SET sku = CONCAT(sku, 'x') WHERE order_id = {} LIMIT 1", self.rng.range(0, 300)),
            90..=94 => format!("DELETE FROM order_lines WHERE order_id = {}", self.rng.range(0, 300)),
            _ => format!("INSERT INTO notes VALUES ('note {}')", self.rng.range(0, 100)),
        }
    }

    async fn run(&mut self, db: &mut TestDb, statements: usize) {
        let mut done = 0;
        while done < statements {
            let n = self.rng.range(1, 20) as usize;
            let mut sql = vec!["START TRANSACTION".to_string()];
            sql.extend((0..n).map(|_| self.statement()));
            sql.push("COMMIT".into());
            db.exec(&sql.join(";")).await;
            done += n;
        }
    }
}

fn verify(state: &std::path::Path, db: &str, lake: &str) -> std::process::Output {
    binlake(state).args(["verify", "--source", &mysql_url(), "--lake", lake, "--tables", &format!("{db}.*")]).output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_tables_equal_the_source_after_random_changes() {
    let mut db = TestDb::new("merge").await;
    db.exec(SCHEMA).await;
    let mut values = Vec::new();
    for id in 1..=3000u64 {
        values.push(format!("({id}, 'item {id}', {}, {}.50, '2026-11-23 10:00:00.{:06}', {})", id % 97, id % 1000, id, id * 1_000_003));
    }
    db.exec(&format!("INSERT INTO items VALUES {}", values.join(","))).await;
    db.exec("INSERT INTO order_lines SELECT id % 300, CONCAT('sku-', id % 7), id FROM items WHERE id <= 1500 ON DUPLICATE KEY UPDATE qty = order_lines.qty")
        .await;
    let target = Lake::s3("merge", "dms");
    let lake_url = target.url.replace("/dms", "/lake");
    let state = state_dir();
    let mut work = Workload { rng: Rng::new(7), items: (1..=3000).collect(), deleted: Vec::new(), next: 10_000 };
    let merge_flags = ["--lake", lake_url.as_str(), "--merge-interval", "1"];

    // Full load, then three rounds of changes, each merged by a new run of binlake.
    let log = run_until_caught_up(state.path(), &target, &db.name, &merge_flags);
    assert!(log.contains("merged a full load"), "{log}");
    for round in 0..3 {
        work.run(&mut db, 1500).await;
        let log = run_until_caught_up(state.path(), &target, &db.name, &merge_flags);
        assert!(log.contains("merged changes"), "round {round}: {log}");
        let out = verify(state.path(), &db.name, &lake_url);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "round {round}: verify failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            stdout.contains(&format!("{}.items: equal", db.name)) && stdout.contains(&format!("{}.order_lines: equal", db.name)),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("{}.notes: skipped", db.name)), "keyless tables are named: {stdout}");
    }

    let status = run_ok(binlake(state.path()).arg("status"));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains(&format!("{lake_url}/{}/items/", db.name)), "status names the merged tables: {status}");

    // An independent reader sees the same rows as SELECT.
    let expected: Vec<Vec<String>> = {
        let mut rows = db.rows("items").await;
        rows.sort_by_key(|r| r[0].parse::<i64>().unwrap());
        rows
    };
    let table_uri = format!("{lake_url}/{}/items", db.name);
    let out = std::process::Command::new("python3")
        .arg(repo_path("tests/delta_check.py"))
        .arg(&table_uri)
        .env("AWS_ENDPOINT_URL", s3_endpoint())
        .env("AWS_ACCESS_KEY_ID", "binlake")
        .env("AWS_SECRET_ACCESS_KEY", "binlakesecret")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "delta_check.py: {}", String::from_utf8_lossy(&out.stderr));
    let actual: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(actual.len(), expected.len(), "rows read by the deltalake package");
    for (a, e) in actual.iter().zip(&expected) {
        assert_eq!(a, e);
    }

    // A change the lake never saw is found, by key.
    let victim = work.items[0];
    db.exec(&format!("UPDATE items SET name = 'changed behind binlake' WHERE id = {victim}")).await;
    let out = verify(state.path(), &db.name, &lake_url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("id={victim}: different values")), "{stdout}");
}

/// A Parquet file in the shape AWS DMS writes: `Op` (CDC only) and the timestamp column as
/// required strings, then the source columns.
fn dms_parquet(with_op: bool, rows: &[(&str, i32, &str, &str, &str, i128)]) -> Vec<u8> {
    let mut fields = Vec::new();
    if with_op {
        fields.push(Field::new("Op", DataType::Utf8, false));
    }
    fields.push(Field::new("DMS_TIMESTAMP", DataType::Utf8, false));
    fields.extend([
        Field::new("id", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("dept", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("price", DataType::Decimal128(10, 2), true),
    ]);
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<ArrayRef> = Vec::new();
    if with_op {
        columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))));
    }
    columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "2026-11-23 10:15:00.000000"))));
    columns.push(Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))));
    columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))));
    columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))));
    columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4))));
    columns.push(Arc::new(Decimal128Array::from_iter_values(rows.iter().map(|r| r.5)).with_precision_and_scale(10, 2).unwrap()));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dms_folder_is_merged_standalone() {
    // Seed 004's product table, its full load, and its incremental script as DMS wrote them.
    let mut db = TestDb::new("dmsmerge").await;
    db.exec("CREATE TABLE product (id INT PRIMARY KEY, name VARCHAR(100), dept VARCHAR(100), category VARCHAR(100), price DECIMAL(10,2))")
        .await;
    let load: Vec<(&str, i32, &str, &str, &str, i128)> = (1000..1010).map(|id| ("I", id, "Widget", "Tools", "Hardware", 1999)).collect();
    for r in &load {
        db.exec(&format!("INSERT INTO product VALUES ({}, '{}', '{}', '{}', {}.{:02})", r.1, r.2, r.3, r.4, r.5 / 100, r.5 % 100)).await;
    }
    let folder = Lake::local();
    let put = |key: String, bytes: Vec<u8>| {
        let store = folder.store.clone();
        async move { store.put(&key.as_str().into(), bytes.into()).await.unwrap() }
    };
    let table = format!("dms/{}/product", db.name);
    put(format!("{table}/LOAD00000001.parquet"), dms_parquet(false, &load[..6])).await;
    put(format!("{table}/LOAD00000002.parquet"), dms_parquet(false, &load[6..])).await;
    // DMS applies changes cached during the full load again: the first CDC file repeats an
    // insert the LOAD files already hold.
    let cdc1 = vec![
        ("I", 1009, "Widget", "Tools", "Hardware", 1999),
        ("U", 1001, "Sample Product", "Sample Dept", "Sample Category", 1999),
        ("D", 1002, "Widget", "Tools", "Hardware", 1999),
    ];
    put(format!("{table}/2026/11/23/20261123-101500000.parquet"), dms_parquet(true, &cdc1)).await;
    db.exec("UPDATE product SET name = 'Sample Product', dept = 'Sample Dept', category = 'Sample Category' WHERE id = 1001").await;
    db.exec("DELETE FROM product WHERE id = 1002").await;

    // Seed 004's store table, as CSV (DMS's default format): no header, NULL as an empty
    // field, the timestamp column after Op, one CDC file gzipped.
    db.exec("CREATE TABLE store (id INT PRIMARY KEY, address VARCHAR(100), city VARCHAR(50), state CHAR(2), country VARCHAR(20), zip VARCHAR(10))").await;
    db.exec(
        "INSERT INTO store VALUES (1001, '1 Main St, Suite \"A\"', 'Seattle', 'WA', 'US', '98101'), (1002, '', NULL, 'CA', 'US', '90001')",
    )
    .await;
    let stores = format!("dms/{}/store", db.name);
    put(
        format!("{stores}/LOAD00000001.csv"),
        b"2026-11-23 10:00:00.000000,1001,\"1 Main St, Suite \"\"A\"\"\",Seattle,WA,US,98101\n2026-11-23 10:00:00.000000,1002,\"\",,CA,US,90001\n".to_vec(),
    )
    .await;
    let cdc = b"I,2026-11-23 10:20:00.000000,1009,125 Technology Dr.,Irvine,CA,US,92618\nU,2026-11-23 10:20:01.000000,1002,\"\",Los Angeles,CA,US,90001\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, cdc).unwrap();
    put(format!("{stores}/2026/11/23/20261123-102000000.csv.gz"), gz.finish().unwrap()).await;
    db.exec("INSERT INTO store VALUES (1009, '125 Technology Dr.', 'Irvine', 'CA', 'US', '92618')").await;
    db.exec("UPDATE store SET city = 'Los Angeles' WHERE id = 1002").await;

    let lake = Lake::local();
    let state = state_dir();
    let product = format!("{}.*", db.name);
    let merge = |state: &std::path::Path| {
        let dms_folder = format!("{}/dms", folder.url);
        run_ok(binlake(state).args([
            "merge",
            "--source",
            &mysql_url(),
            "--target",
            &dms_folder,
            "--lake",
            &lake.url,
            "--tables",
            &product,
            "--until",
            "caught-up",
            "--timestamp-column-name",
            "DMS_TIMESTAMP",
        ]))
    };
    merge(state.path());
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // Nothing new: the same files are not applied twice (no new Delta version).
    let log_dir = format!("{}/{}/product/_delta_log", lake.url, db.name);
    let versions = || std::fs::read_dir(&log_dir).unwrap().count();
    let before = versions();
    let log = String::from_utf8_lossy(&merge(state.path()).stderr).into_owned();
    assert_eq!(versions(), before, "{log}");

    // The next hour's file: a re-insert of the deleted key and a new store (seed 004's script).
    let cdc2 = vec![("I", 1002, "Widget 2", "Tools", "Hardware", 2500), ("I", 1345, "Order", "Orders", "Online", 1)];
    put(format!("{table}/2026/11/23/20261123-111500000.parquet"), dms_parquet(true, &cdc2)).await;
    db.exec("INSERT INTO product VALUES (1002, 'Widget 2', 'Tools', 'Hardware', 25.00), (1345, 'Order', 'Orders', 'Online', 0.01)").await;
    merge(state.path());
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_merged_table_follows_added_dropped_and_widened_columns() {
    let mut db = TestDb::new("evolve").await;
    db.exec("CREATE TABLE product (id INT PRIMARY KEY, name VARCHAR(100), dept VARCHAR(100), category VARCHAR(100), price DECIMAL(10,2))")
        .await;
    let load: Vec<(&str, i32, &str, &str, &str, i128)> = (1..=20).map(|id| ("I", id, "Widget", "Tools", "Hardware", 1999)).collect();
    db.exec("INSERT INTO product SELECT seq, 'Widget', 'Tools', 'Hardware', 19.99 FROM seq_1_to_20").await;
    let folder = Lake::local();
    let table = format!("dms/{}/product", db.name);
    folder.store.put(&format!("{table}/LOAD00000001.parquet").as_str().into(), dms_parquet(false, &load).into()).await.unwrap();
    let lake = Lake::local();
    let state = state_dir();
    let tables = format!("{}.product", db.name);
    let merge = || {
        binlake(state.path())
            .args(["merge", "--source", &mysql_url(), "--target", &format!("{}/dms", folder.url), "--lake", &lake.url])
            .args(["--tables", &tables, "--until", "caught-up"])
            .output()
            .unwrap()
    };
    assert!(merge().status.success());

    // A change from before the schema change, merged only after it: its row takes the new
    // column's default, as the source's row did.
    db.exec("UPDATE product SET name = 'Gadget' WHERE id = 5").await;
    let before = dms_parquet(true, &[("U", 5, "Gadget", "Tools", "Hardware", 1999)]);
    folder.store.put(&format!("{table}/20261123-100000000.parquet").as_str().into(), before.into()).await.unwrap();

    // Seed 000's step: a column with a default, while the table replicates; and more.
    db.exec("ALTER TABLE product ADD COLUMN country VARCHAR(10) DEFAULT 'US', DROP COLUMN category, MODIFY price DECIMAL(12,2)").await;
    db.exec("UPDATE product SET country = 'CA', price = 1234567.89 WHERE id = 3").await;
    // DMS appends the new column at the end of later files.
    let schema = Arc::new(Schema::new(vec![
        Field::new("Op", DataType::Utf8, false),
        Field::new("DMS_TIMESTAMP", DataType::Utf8, false),
        Field::new("id", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("dept", DataType::Utf8, true),
        Field::new("price", DataType::Decimal128(12, 2), true),
        Field::new("country", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["U"])),
        Arc::new(StringArray::from(vec!["2026-11-23 11:00:00.000000"])),
        Arc::new(Int32Array::from(vec![3])),
        Arc::new(StringArray::from(vec!["Widget"])),
        Arc::new(StringArray::from(vec!["Tools"])),
        Arc::new(Decimal128Array::from(vec![123456789]).with_precision_and_scale(12, 2).unwrap()),
        Arc::new(StringArray::from(vec!["CA"])),
    ];
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), None).unwrap();
    writer.write(&RecordBatch::try_new(schema, columns).unwrap()).unwrap();
    writer.close().unwrap();
    folder.store.put(&format!("{table}/20261123-110000000.parquet").as_str().into(), bytes.into()).await.unwrap();
    let out = merge();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rewrote the merged table into the source's new columns"));
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // A type the stored values cannot take exactly is an explicit stop, never a guess.
    db.exec("ALTER TABLE product MODIFY price DOUBLE").await;
    let out = merge();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("column price changed from decimal(12,2) to double") && stderr.contains("rebuild it"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_merges_loses_and_duplicates_nothing() {
    let mut db = TestDb::new("mergekill").await;
    db.exec(SCHEMA).await;
    db.exec("INSERT INTO items SELECT seq, CONCAT('item ', seq), seq % 97, 1.50, NULL, seq FROM seq_1_to_2000").await;
    let target = Lake::local();
    let lake = Lake::local();
    let state = state_dir();

    // A writer that keeps changing items (keys included) while binlake is killed and restarted.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let db_name = db.name.clone();
    let writer = tokio::spawn(async move {
        let mut db = TestDb { name: db_name.clone(), conn: connect(&mysql_url()).await };
        db.exec(&format!("USE `{db_name}`")).await;
        let mut work = Workload { rng: Rng::new(11), items: (1..=2000).collect(), deleted: Vec::new(), next: 10_000 };
        let mut batches = 0;
        while !*stop_rx.borrow() {
            work.run(&mut db, 20).await;
            batches += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        batches
    });

    let mut rng = Rng::new(5);
    let mut logs = String::new();
    for round in 0..6 {
        let mut child = spawn_merging_run(state.path(), &target, &lake, &db.name);
        let wait = if round < 2 { rng.range(300, 1500) } else { rng.range(1500, 4000) };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL, wherever the merger is
        logs.push_str(&String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr));
    }
    stop_tx.send(true).unwrap();
    assert!(writer.await.unwrap() > 10, "the writer hardly wrote");
    assert!(logs.contains("merged changes"), "no merge ran between the kills:\n{logs}");

    let log = run_until_caught_up(state.path(), &target, &db.name, &["--lake", &lake.url]);
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "{}\n{log}", String::from_utf8_lossy(&out.stdout));
}

/// Rows of a merged table as the `deltalake` Python package reads them, as text.
fn delta_rows(table_uri: &str) -> Vec<Vec<String>> {
    let out = std::process::Command::new("python3").arg(repo_path("tests/delta_check.py")).arg(table_uri).output().unwrap();
    assert!(out.status.success(), "delta_check.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scd2_keeps_every_version_with_its_validity() {
    let mut db = TestDb::new("scd2").await;
    db.exec("CREATE TABLE prices (id INT PRIMARY KEY, price DECIMAL(10,2))").await;
    db.exec("INSERT INTO prices VALUES (1, 10.00), (2, 20.00), (3, 30.00)").await;
    let target = Lake::local();
    let lake = Lake::local();
    let state = state_dir();
    let flags = ["--lake", lake.url.as_str(), "--scd2", "--timestamp-column-name", "ts"];
    run_until_caught_up(state.path(), &target, &db.name, &flags);
    // Commit times have the binlog's one-second resolution: one change of a key per second.
    for sql in [
        "UPDATE prices SET price = 11.00 WHERE id = 1",
        "DELETE FROM prices WHERE id = 2",
        "UPDATE prices SET price = 12.00 WHERE id = 1",
        "UPDATE prices SET id = 30 WHERE id = 3",
    ] {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        db.exec(sql).await;
        if sql.starts_with("DELETE") {
            // merged in two runs: the history continues across merges
            run_until_caught_up(state.path(), &target, &db.name, &flags);
        }
    }
    run_until_caught_up(state.path(), &target, &db.name, &flags);
    // Run again with nothing new: nothing changes.
    run_until_caught_up(state.path(), &target, &db.name, &flags);

    let history = delta_rows(&format!("{}/{}/prices__history", lake.url, db.name));
    let versions = |id: &str| history.iter().filter(|r| r[0] == id).map(|r| (r[1].clone(), r[2].clone(), r[3].clone())).collect::<Vec<_>>();
    let prices = |id: &str| versions(id).into_iter().map(|v| v.0).collect::<Vec<_>>();
    assert_eq!(prices("1"), vec!["10.00", "11.00", "12.00"], "{history:?}");
    assert_eq!(prices("2"), vec!["20.00"]);
    assert_eq!(prices("3"), vec!["30.00"]);
    assert_eq!(prices("30"), vec!["30.00"]);
    // each version ends when the next starts; the current ones are open; deleted and moved keys are closed
    let v1 = versions("1");
    assert!(v1[0].2 == v1[1].1 && v1[1].2 == v1[2].1 && v1[2].2 == "NULL", "{v1:?}");
    assert!(v1[0].1 < v1[1].1 && v1[1].1 < v1[2].1, "{v1:?}");
    assert_ne!(versions("2")[0].2, "NULL");
    assert_eq!(versions("3")[0].2, versions("30")[0].1, "a key change ends the old key's row when the new one starts");
    // the current versions are the merged table's rows
    let open: Vec<Vec<String>> = history.iter().filter(|r| r[3] == "NULL").map(|r| r[..2].to_vec()).collect();
    assert_eq!(open, delta_rows(&format!("{}/{}/prices", lake.url, db.name)));

    let out = binlake(state.path())
        .args(["run", "--source", &mysql_url(), "--target", &target.url, "--lake", &lake.url, "--scd2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scd2 needs the commit time"), "{}", String::from_utf8_lossy(&out.stderr));
}
