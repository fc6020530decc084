use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use futures::TryStreamExt;
use mysql_async::prelude::*;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn mysql_url() -> String {
    std::env::var("BINLAKE_TEST_MYSQL").unwrap_or_else(|_| "mysql://binlake:binlake@127.0.0.1:3307".into())
}

pub fn statement_mysql_url() -> String {
    std::env::var("BINLAKE_TEST_MYSQL_STATEMENT").unwrap_or_else(|_| "mysql://binlake:binlake@127.0.0.1:3308".into())
}

/// A server of its own for tests that purge binlogs or stop its readers (which would break
/// concurrent tests).
pub fn purge_mysql_url() -> String {
    std::env::var("BINLAKE_TEST_MYSQL_PURGE").unwrap_or_else(|_| "mysql://binlake:binlake@127.0.0.1:3309".into())
}

pub async fn connect(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::from_url(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test MariaDB at {url} ({e}); start it with scripts/services.sh start"))
}

/// A fresh database for one test, dropped on success.
pub struct TestDb {
    pub name: String,
    pub conn: mysql_async::Conn,
}

impl TestDb {
    pub async fn new(test: &str) -> Self {
        Self::on(&mysql_url(), test).await
    }

    pub async fn on(url: &str, test: &str) -> Self {
        let mut conn = connect(url).await;
        // The servers' own zone is not UTC (scripts/services.sh); the tests read and write
        // TIMESTAMP values in UTC, as the lake holds them.
        conn.query_drop("SET time_zone = '+00:00'").await.unwrap();
        let name = format!("bl_{test}_{}", std::process::id() % 100_000);
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).await.unwrap();
        conn.query_drop(format!("CREATE DATABASE `{name}`")).await.unwrap();
        conn.query_drop(format!("USE `{name}`")).await.unwrap();
        Self { name, conn }
    }

    pub async fn exec(&mut self, sql: &str) {
        self.conn.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Rows of `table` as text, keyed by the `key` columns (all columns when `key` is empty,
    /// with a counter for identical rows).
    pub async fn rows(&mut self, table: &str) -> Vec<Vec<String>> {
        self.selected(&format!("SELECT * FROM `{}`.`{table}`", self.name)).await
    }

    /// The rows of `query` as text.
    pub async fn selected(&mut self, query: &str) -> Vec<Vec<String>> {
        let rows: Vec<mysql_async::Row> = self.conn.query(query).await.unwrap();
        rows.into_iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| match r.as_ref(i).unwrap() {
                        mysql_async::Value::NULL => "NULL".to_string(),
                        mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                        other => other.as_sql(true),
                    })
                    .collect()
            })
            .collect()
    }
}

/// A target for one test: a local directory or a bucket on the S3 test server.
pub struct Lake {
    pub url: String,
    pub store: Arc<dyn ObjectStore>,
    pub prefix: String,
    _dir: Option<tempfile::TempDir>,
}

impl Lake {
    pub fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        Self { url: dir.path().display().to_string(), store: Arc::new(store), prefix: String::new(), _dir: Some(dir) }
    }

    /// A new bucket on the S3 test server (s3s-fs keeps each bucket as a folder of its root).
    pub fn s3(test: &str, prefix: &str) -> Self {
        let root = std::env::var("BINLAKE_TEST_S3_ROOT").expect("BINLAKE_TEST_S3_ROOT (eval \"$(scripts/services.sh env)\")");
        Self::s3_at(&s3_endpoint(), &root, test, prefix)
    }

    /// A new bucket on the s3s-fs server at `endpoint` serving the folder `root`.
    pub fn s3_at(endpoint: &str, root: &str, test: &str, prefix: &str) -> Self {
        let bucket = format!("bl-{}-{}", test.replace('_', "-"), std::process::id() % 100_000);
        let _ = std::fs::remove_dir_all(format!("{root}/{bucket}"));
        std::fs::create_dir_all(format!("{root}/{bucket}")).expect("S3 test server root (scripts/services.sh start)");
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_access_key_id("binlake")
            .with_secret_access_key("binlakesecret")
            .with_region("us-east-1")
            .build()
            .unwrap();
        Self { url: format!("s3://{bucket}/{prefix}"), store: Arc::new(store), prefix: prefix.to_string(), _dir: None }
    }

    /// Keys under `db/table/`, sorted (LOAD files sort before CDC files: `L` > `2`, so
    /// order them explicitly: LOAD first, then CDC by name).
    pub async fn files(&self, db: &str, table: &str) -> Vec<String> {
        let folder = if self.prefix.is_empty() { format!("{db}/{table}") } else { format!("{}/{db}/{table}", self.prefix) };
        let mut keys: Vec<String> =
            self.store.list(Some(&folder.as_str().into())).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
        keys.sort_by_key(|k| (!k.rsplit('/').next().unwrap().starts_with("LOAD"), k.clone()));
        keys
    }

    /// Rows of one Parquet object as text, with the Arrow schema's column names.
    pub async fn read(&self, key: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let bytes: Bytes = self.store.get(&key.into()).await.unwrap().bytes().await.unwrap();
        read_parquet(bytes)
    }

    /// LOAD rows then CDC rows of a table, each row with its Op first (`I` for LOAD rows).
    pub async fn changes(&self, db: &str, table: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for key in self.files(db, table).await {
            let (columns, rows) = self.read(&key).await;
            let has_op = columns.first().map(String::as_str) == Some("Op");
            for row in rows {
                if has_op {
                    out.push(row);
                } else {
                    out.push(std::iter::once("I".to_string()).chain(row).collect());
                }
            }
        }
        out
    }
}

/// The shared fixtures (real binlogs, a real DMS Parquet file): `$BINLAKE_FIXTURES`, else
/// `../shared/fixtures` beside the checkout.
pub fn shared_fixtures() -> String {
    std::env::var("BINLAKE_FIXTURES").unwrap_or_else(|_| format!("{}/../shared/fixtures", env!("CARGO_MANIFEST_DIR")))
}

pub fn s3_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:9100".into())
}

pub fn read_parquet(bytes: Bytes) -> (Vec<String>, Vec<Vec<String>>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let options = FormatOptions::default().with_null("NULL");
    for batch in reader {
        let batch = batch.unwrap();
        columns = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        let formatters: Vec<_> = batch.columns().iter().map(|a| ArrayFormatter::try_new(a.as_ref(), &options).unwrap()).collect();
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    (columns, rows)
}

/// Applies changes (Op first) by key: `I`/`U` upsert the row, `D` removes it. Keyless tables
/// (`key` empty) are multisets: `I` adds one copy, `D` removes one copy.
pub fn replay(changes: &[Vec<String>], key: &[usize]) -> BTreeMap<Vec<String>, Vec<String>> {
    let mut state: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    let mut copies: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for change in changes {
        let row = change[1..].to_vec();
        if key.is_empty() {
            let n = copies.entry(row.clone()).or_default();
            match change[0].as_str() {
                "I" => *n += 1,
                "D" => *n = n.checked_sub(1).expect("delete of a row that is not there"),
                op => panic!("keyless table with op {op}"),
            }
        } else {
            let k: Vec<String> = key.iter().map(|&i| row[i].clone()).collect();
            match change[0].as_str() {
                "I" | "U" => {
                    state.insert(k, row);
                }
                "D" => {
                    state.remove(&k);
                }
                op => panic!("unknown op {op}"),
            }
        }
    }
    if key.is_empty() {
        for (row, n) in copies {
            for i in 0..n {
                let mut k = row.clone();
                k.push(i.to_string());
                state.insert(k, row.clone());
            }
        }
    }
    state
}

pub fn keyed(rows: Vec<Vec<String>>, key: &[usize]) -> BTreeMap<Vec<String>, Vec<String>> {
    if key.is_empty() {
        let changes: Vec<Vec<String>> = rows.into_iter().map(|r| std::iter::once("I".to_string()).chain(r).collect()).collect();
        return replay(&changes, key);
    }
    rows.into_iter().map(|r| (key.iter().map(|&i| r[i].clone()).collect(), r)).collect()
}

/// The binlake binary with a fresh state store in `state_dir`.
pub fn binlake(state_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_binlake"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BINLAKE_") && k != "BINLAKE_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("BINLAKE_STATE", state_dir.join("state.db"))
        .env("AWS_ENDPOINT_URL", s3_endpoint())
        .env("AWS_ACCESS_KEY_ID", "binlake")
        .env("AWS_SECRET_ACCESS_KEY", "binlakesecret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// `binlake run --until caught-up` from the test MariaDB into `lake`, for the tables matching
/// `tables` (`db.*`).
pub fn caught_up_run(state_dir: &std::path::Path, lake: &Lake, tables: &str) -> Command {
    caught_up_run_from(&mysql_url(), state_dir, lake, tables)
}

/// [`caught_up_run`] from the server at `source`.
pub fn caught_up_run_from(source: &str, state_dir: &std::path::Path, lake: &Lake, tables: &str) -> Command {
    let mut cmd = binlake(state_dir);
    cmd.args(["run", "--source", source, "--target", &lake.url, "--until", "caught-up", "--tables", tables]);
    cmd
}

/// Runs binlake until caught up on every table of `db`, with `extra` flags; it must succeed.
/// Returns its log.
pub fn run_until_caught_up(state_dir: &std::path::Path, lake: &Lake, db: &str, extra: &[&str]) -> String {
    let out = run_ok(caught_up_run(state_dir, lake, &format!("{db}.*")).args(extra));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "binlake failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `binlake run --lake` streaming every table of `db` into `target` and merging into `lake`,
/// flushing, merging and sending heartbeats every second, its log piped: for tests that change
/// the source while binlake runs.
pub fn spawn_merging_run(state_dir: &std::path::Path, target: &Lake, lake: &Lake, db: &str) -> std::process::Child {
    binlake(state_dir)
        .args(["run", "--source", &mysql_url(), "--target", &target.url, "--lake", &lake.url, "--tables", &format!("{db}.*")])
        .args(["--cdc-max-batch-interval", "1", "--merge-interval", "1", "--heartbeat", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM: binlake finishes the current transaction, flushes and exits.
pub fn terminate(child: &std::process::Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A small deterministic PRNG (xorshift64*), so workloads are reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Three tables as in the scenario: a simple key, a composite key, and no key.
pub const SHOP_SCHEMA: &str = "
    CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, balance DECIMAL(12,2), visits BIGINT UNSIGNED NOT NULL);
    CREATE TABLE order_lines (order_id INT, sku VARCHAR(16), qty INT NOT NULL, note VARCHAR(100), PRIMARY KEY (order_id, sku));
    CREATE TABLE events (kind VARCHAR(10), payload VARCHAR(40));";

/// Key column indexes of the shop tables.
pub fn shop_key(table: &str) -> &'static [usize] {
    match table {
        "accounts" => &[0],
        "order_lines" => &[0, 1],
        _ => &[],
    }
}

pub const SHOP_TABLES: [&str; 3] = ["accounts", "order_lines", "events"];

/// Generates and applies a shop workload, tracking which keys exist.
pub struct Shop {
    pub rng: Rng,
    accounts: Vec<u64>,
    next_account: u64,
    lines: Vec<(u64, String)>,
    events: Vec<(String, String)>,
}

impl Shop {
    pub fn new(seed: u64) -> Self {
        Self { rng: Rng::new(seed), accounts: Vec::new(), next_account: 1, lines: Vec::new(), events: Vec::new() }
    }

    /// Inserts `n` rows into each table, 1000 per statement.
    pub async fn seed(&mut self, db: &mut TestDb, n: usize) {
        for start in (0..n).step_by(1000) {
            let count = (n - start).min(1000);
            let mut a = Vec::new();
            let mut l = Vec::new();
            let mut e = Vec::new();
            for _ in 0..count {
                let id = self.next_account;
                self.next_account += 1;
                self.accounts.push(id);
                a.push(format!(
                    "({id}, 'name-{id}', {}.{:02}, {})",
                    self.rng.range(0, 99_999),
                    self.rng.range(0, 99),
                    self.rng.range(0, 1 << 40)
                ));
                let sku = format!("sku-{}", self.rng.range(0, 9));
                if !self.lines.contains(&(id, sku.clone())) {
                    self.lines.push((id, sku.clone()));
                    l.push(format!("({id}, '{sku}', {}, 'note {id}')", self.rng.range(1, 50)));
                }
                let ev = (format!("k{}", self.rng.range(0, 3)), format!("p{}", self.rng.range(0, 50)));
                e.push(format!("('{}', '{}')", ev.0, ev.1));
                self.events.push(ev);
            }
            db.exec(&format!("INSERT INTO accounts VALUES {}", a.join(","))).await;
            if !l.is_empty() {
                db.exec(&format!("INSERT INTO order_lines VALUES {}", l.join(","))).await;
            }
            db.exec(&format!("INSERT INTO events VALUES {}", e.join(","))).await;
        }
    }

    /// One random statement.
    pub fn statement(&mut self) -> String {
        let r = self.rng.range(0, 99);
        match r {
            0..=19 => {
                let id = self.next_account;
                self.next_account += 1;
                self.accounts.push(id);
                format!("INSERT INTO accounts VALUES ({id}, 'new-{id}', {}.50, 0)", self.rng.range(0, 999))
            }
            20..=44 if !self.accounts.is_empty() => {
                let id = self.accounts[self.rng.range(0, self.accounts.len() as u64 - 1) as usize];
                format!(
                    "UPDATE accounts SET balance = balance + 1.25, visits = visits + 1, name = CONCAT('u', {}) WHERE id = {id}",
                    self.rng.range(0, 1000)
                )
            }
            45..=54 if !self.accounts.is_empty() => {
                let i = self.rng.range(0, self.accounts.len() as u64 - 1) as usize;
                let id = self.accounts.swap_remove(i);
                self.lines.retain(|(o, _)| *o != id);
                format!("DELETE a, l FROM accounts a LEFT JOIN order_lines l ON l.order_id = a.id WHERE a.id = {id}")
            }
            55..=64 if !self.accounts.is_empty() => {
                let id = self.accounts[self.rng.range(0, self.accounts.len() as u64 - 1) as usize];
                let sku = format!("sku-{}", self.rng.range(0, 19));
                if self.lines.contains(&(id, sku.clone())) {
                    format!("UPDATE order_lines SET qty = qty + 1, note = NULL WHERE order_id = {id} AND sku = '{sku}'")
                } else {
                    self.lines.push((id, sku.clone()));
                    format!("INSERT INTO order_lines VALUES ({id}, '{sku}', 1, 'added')")
                }
            }
            65..=72 if !self.lines.is_empty() => {
                let i = self.rng.range(0, self.lines.len() as u64 - 1) as usize;
                let (o, s) = self.lines.swap_remove(i);
                format!("DELETE FROM order_lines WHERE order_id = {o} AND sku = '{s}'")
            }
            73..=79 if !self.accounts.is_empty() => {
                // a multi-row update
                let id = self.accounts[self.rng.range(0, self.accounts.len() as u64 - 1) as usize];
                format!("UPDATE accounts SET visits = visits + 1 WHERE id BETWEEN {id} AND {}", id + 20)
            }
            80..=89 => {
                let ev = (format!("k{}", self.rng.range(0, 3)), format!("p{}", self.rng.range(0, 50)));
                let sql = format!("INSERT INTO events VALUES ('{}', '{}')", ev.0, ev.1);
                self.events.push(ev);
                sql
            }
            _ if !self.events.is_empty() => {
                let i = self.rng.range(0, self.events.len() as u64 - 1) as usize;
                let (k, p) = self.events.swap_remove(i);
                format!("DELETE FROM events WHERE kind = '{k}' AND payload = '{p}' LIMIT 1")
            }
            _ => "DO 0".to_string(),
        }
    }

    /// Runs `statements` statements in transactions of 1..=`max_tx` statements.
    pub async fn run(&mut self, db: &mut TestDb, statements: usize, max_tx: u64) {
        let mut done = 0;
        while done < statements {
            let n = self.rng.range(1, max_tx).min((statements - done) as u64) as usize;
            let mut tx = db.conn.start_transaction(Default::default()).await.unwrap();
            for _ in 0..n {
                let sql = self.statement();
                tx.query_drop(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            tx.commit().await.unwrap();
            done += n;
            // binlog rotations now and then: positions must follow them
            if self.rng.range(0, 40) == 0 {
                db.exec("FLUSH BINARY LOGS").await;
            }
        }
    }
}

/// Asserts that replaying every file of each shop table gives the source's rows.
pub async fn assert_lake_equals_source(db: &mut TestDb, lake: &Lake) {
    for table in SHOP_TABLES {
        let key = shop_key(table);
        let expected = keyed(db.rows(table).await, key);
        let actual = replay(&lake.changes(&db.name, table).await, key);
        assert_eq!(actual.len(), expected.len(), "{table}: row count of the replayed lake vs the source");
        for (k, row) in &expected {
            assert_eq!(actual.get(k), Some(row), "{table}: row {k:?}");
        }
    }
}

/// How long a test waits for a running binlake to do what it waits for.
const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// The end of the last event in the binlog of the server at `url`.
pub async fn server_position(url: &str) -> binlake::position::BinlogPos {
    let mut conn = connect(url).await;
    let row: mysql_async::Row = conn.query_first("SHOW MASTER STATUS").await.unwrap().expect("the server has a binlog");
    binlake::position::BinlogPos::new(row.get::<String, _>(0).unwrap(), row.get::<u64, _>(1).unwrap())
}

/// The checkpoint in the state file of `state_dir`, read-only (binlake may be running on it,
/// or not have created it yet), once no table is being loaded: while a table is (a reload
/// beside the stream), its files do not hold it whole yet, whatever the checkpoint.
pub async fn caught_up_position(state_dir: &std::path::Path) -> Option<binlake::position::BinlogPos> {
    use sqlx::{ConnectOptions, Row};
    let path = state_dir.join("state.db");
    if !path.exists() {
        return None;
    }
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).read_only(true).connect().await.ok()?;
    let row = sqlx::query(
        "SELECT binlog_file, binlog_offset FROM checkpoint WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM tables WHERE phase = 'loading')",
    )
    .fetch_optional(&mut conn)
    .await
    .ok()??;
    Some(binlake::position::BinlogPos::new(row.get::<String, _>(0), row.get::<i64, _>(1) as u64))
}

/// Waits until the binlake running as `child` on `state_dir` has committed everything the test
/// MariaDB had written to its binlog when this was called: its checkpoint reaches the
/// server's position then, and no table is being loaded. Fails saying what did not happen after [`WAIT_TIMEOUT`], or at
/// once when binlake exits. binlake must flush often (`--cdc-max-batch-interval 1`): an idle
/// stream commits its checkpoint once per interval.
pub async fn wait_committed(child: &mut std::process::Child, state_dir: &std::path::Path) {
    wait_committed_on(child, state_dir, &mysql_url()).await
}

/// [`wait_committed`] for a binlake replicating the server at `url`.
pub async fn wait_committed_on(child: &mut std::process::Child, state_dir: &std::path::Path, url: &str) {
    let target = server_position(url).await;
    let deadline = std::time::Instant::now() + WAIT_TIMEOUT;
    loop {
        let committed = caught_up_position(state_dir).await;
        if committed.as_ref().is_some_and(|c| *c >= target) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "binlake exited ({status}) before committing up to the server's position {target} (its checkpoint: {committed:?}, none while a table is being loaded)"
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "binlake did not commit up to the server's position {target} within {WAIT_TIMEOUT:?} (its checkpoint: {committed:?}, none while a table is being loaded)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `binlake verify` of every table of `db` against the merged tables in `lake`.
pub fn verify(state: &std::path::Path, db: &str, lake: &str) -> std::process::Output {
    binlake(state).args(["verify", "--source", &mysql_url(), "--lake", lake, "--tables", &format!("{db}.*")]).output().unwrap()
}

/// Source rows by column name, keyed by `key`.
pub async fn source_rows(db: &mut TestDb, table: &str, key: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let names: Vec<String> = mysql_async::prelude::Queryable::query(
        &mut db.conn,
        format!("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION", db.name),
    )
    .await
    .unwrap();
    db.rows(table).await.into_iter().map(|r| named(&names, r, key)).collect()
}

pub fn named(names: &[String], row: Vec<String>, key: &str) -> (String, BTreeMap<String, String>) {
    let row: BTreeMap<String, String> = names.iter().cloned().zip(row).collect();
    (row[key].clone(), row)
}

/// Replays a table's committed files in commit order by column name, as a consumer that
/// reads columns by name does: a full load (LOAD files of another commit) starts over,
/// `I`/`U` replace the row, `D` removes it. Returns the rows and the columns of every file.
pub async fn replay_by_name(
    state: &std::path::Path,
    lake: &Lake,
    id: &binlake::schema::TableId,
    key: &str,
) -> (BTreeMap<String, BTreeMap<String, String>>, Vec<Vec<String>>) {
    use binlake::state::{FileKind, StateStore};
    let store = binlake::state::Store::open(&state.join("state.db").display().to_string()).await.unwrap();
    let mut rows = BTreeMap::new();
    let mut load = None;
    let mut schemas = Vec::new();
    for file in store.committed_files(id).await.unwrap() {
        // A full load is told by its generation (by its commit for files without one); its
        // LOAD files add to the table, also after CDC files committed while it ran, and a new
        // load replaces the table.
        let this_load = Some(file.load_generation.map_or_else(|| file.committed_at.clone().unwrap_or_default(), |g| g.to_string()));
        if file.kind == FileKind::Load && load != this_load {
            rows.clear();
            load = this_load;
        }
        let (columns, data) = lake.read(&file.key).await;
        let has_op = columns[0] == "Op";
        let names: Vec<String> = columns[has_op as usize..].to_vec();
        schemas.push(names.clone());
        for mut row in data {
            let op = if has_op { row.remove(0) } else { "I".into() };
            let (k, row) = named(&names, row, key);
            match op.as_str() {
                "D" => {
                    rows.remove(&k);
                }
                _ => {
                    rows.insert(k, row);
                }
            }
        }
    }
    (rows, schemas)
}

/// Compares replayed rows with the source: every column a replayed row has must hold the
/// source's value under the column's current name (`renames`: old -> new); a column a row
/// lacks was added after the row's last change and must hold the default it was added with.
pub fn assert_rows_match(
    table: &str,
    replayed: &BTreeMap<String, BTreeMap<String, String>>,
    source: &BTreeMap<String, BTreeMap<String, String>>,
    renames: &[(&str, &str)],
    added: &[(&str, &str)],
) {
    assert_eq!(replayed.keys().collect::<Vec<_>>(), source.keys().collect::<Vec<_>>(), "{table}: keys");
    for (k, want) in source {
        let mut got: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &replayed[k] {
            let mut name = name.clone();
            for (old, new) in renames {
                if name.eq_ignore_ascii_case(old) {
                    name = new.to_string();
                }
            }
            got.insert(name, value.clone());
        }
        for (column, value) in want {
            match got.get(column) {
                Some(v) => assert_eq!(v, value, "{table}: key {k} column {column}"),
                None => {
                    let default = added.iter().find(|(c, _)| c == column).map(|(_, d)| *d);
                    assert_eq!(Some(value.as_str()), default, "{table}: key {k} has no column {column} in its last file");
                }
            }
        }
    }
}

/// Tests that purge binlogs of, or restart, the server on 3309 (or write what would stop every
/// binlake reading it) take turns.
pub static PURGE_SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Purges every binlog file of the server at `url` but the current one (after a rotation
/// when `rotate`).
pub async fn purge_all_but_newest(url: &str, rotate: bool) {
    let mut conn = connect(url).await;
    // The dump threads of exited binlakes linger until the server next writes to them,
    // and MariaDB does not purge a file a dump thread still uses.
    for _ in 0..100 {
        let dumps: Vec<u64> = conn.query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").await.unwrap();
        if dumps.is_empty() {
            break;
        }
        for id in dumps {
            let _ = conn.query_drop(format!("KILL {id}")).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if rotate {
        conn.query_drop("FLUSH BINARY LOGS").await.unwrap();
    }
    let row: mysql_async::Row = conn.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
    let file: String = row.get(0).unwrap();
    // Files still needed for InnoDB crash recovery (until the next binlog checkpoint)
    // are kept without an error: retry until only the newest is left.
    let mut files = Vec::new();
    for _ in 0..100 {
        conn.query_drop(format!("PURGE BINARY LOGS TO '{file}'")).await.unwrap();
        files = conn.query::<(String, u64), _>("SHOW BINARY LOGS").await.unwrap();
        if files.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(files.len(), 1, "the purge left {files:?}");
}

/// An S3-compatible server of this test's own (the shared one serves other tests meanwhile).
pub struct OwnS3 {
    port: u16,
    pub root: tempfile::TempDir,
    process: Option<std::process::Child>,
}

impl OwnS3 {
    pub fn start(port: u16) -> Self {
        let mut s3 = Self { port, root: tempfile::tempdir().unwrap(), process: None };
        s3.restart();
        s3
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let child = std::process::Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string(), "--access-key", "binlake", "--secret-key", "binlakesecret"])
            .arg(self.root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs (scripts/services.sh install)");
        self.process = Some(child);
        for _ in 0..40 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("s3s-fs did not start on port {}", self.port);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        self.kill();
    }
}
