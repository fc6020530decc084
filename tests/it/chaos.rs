//! A fault campaign (`bench/chaos.sh` runs it long, the suite short): a random workload on the
//! server the tests may kill and purge (3309) while binlake streams it to an S3 server of its
//! own and keeps merged tables, and faults injected in random order: SIGKILL of binlake
//! during a full load and during the stream, kill -9 and restart of the source, an outage of
//! the S3 server, rows written in statement format, a schema change with sql_log_bin=0, and
//! a binlog purge past the checkpoint followed by the command binlake's error names. After
//! each fault the files replayed in commit order and the merged tables must equal the source.
//!
//! `BINLAKE_CHAOS_ROUNDS` (default 1: every fault once) and `BINLAKE_CHAOS_SEED` (default:
//! the time) set its length and order.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;

use binlake::schema::TableId;

use crate::common::*;

const TABLES: [&str; 3] = ["counters", "journal", "items"];
/// Rows of `items` before the campaign: enough for a full load that takes a while.
const ITEMS: u64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillDuringLoad,
    KillDuringStream,
    KillSource,
    S3Outage,
    StatementFormat,
    HiddenSchemaChange,
    BinlogPurge,
}

const FAULTS: [Fault; 7] = [
    Fault::KillDuringLoad,
    Fault::KillDuringStream,
    Fault::KillSource,
    Fault::S3Outage,
    Fault::StatementFormat,
    Fault::HiddenSchemaChange,
    Fault::BinlogPurge,
];

/// What the replay of a table's files got wrong against the source.
#[derive(Debug, Default, Clone, Copy)]
struct Damage {
    lost: usize,
    duplicated: usize,
}

struct Campaign {
    url: String,
    db: String,
    state: tempfile::TempDir,
    s3: OwnS3,
    target: Lake,
    lake: Lake,
    binlake: Option<Child>,
    /// Held while the source must not change (checks, statement-format sessions).
    gate: Arc<tokio::sync::Mutex<()>>,
    /// The width of `items.note`, widened by each hidden schema change.
    note_width: u32,
}

impl Campaign {
    fn run_command(&self) -> std::process::Command {
        let mut cmd = binlake(self.state.path());
        cmd.env("AWS_ENDPOINT_URL", self.s3.endpoint()).args([
            "run",
            "--source",
            &self.url,
            "--target",
            &self.target.url,
            "--lake",
            &self.lake.url,
            "--merge-interval",
            "1",
            "--cdc-max-batch-interval",
            "1",
            "--heartbeat",
            "1",
            "--max-file-size",
            "64",
            "--tables",
            &format!("{}.*", self.db),
        ]);
        cmd
    }

    fn start(&mut self) {
        assert!(self.binlake.is_none());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        self.binlake = Some(self.run_command().stdout(Stdio::null()).stderr(log).spawn().unwrap());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.binlake.take() {
            let _ = child.kill();
            child.wait().unwrap();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// Every binlake run of the campaign logs here.
    fn log_path(&self) -> std::path::PathBuf {
        self.state.path().join("binlake.log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    async fn load_files(&self) -> usize {
        self.target.files(&self.db, "items").await.iter().filter(|k| k.contains("/LOAD")).count()
    }

    fn binlake_command(&self, args: &[&str]) -> std::process::Output {
        run_ok(binlake(self.state.path()).env("AWS_ENDPOINT_URL", self.s3.endpoint()).args(args))
    }

    async fn inject(&mut self, fault: Fault, rng: &mut Rng) {
        match fault {
            Fault::KillDuringStream => {
                tokio::time::sleep(Duration::from_millis(rng.range(200, 2_000))).await;
                self.restart();
            }
            Fault::KillDuringLoad => {
                // A reload of the big table, killed once it has uploaded some of its files.
                self.kill();
                self.binlake_command(&["reload", &format!("{}.items", self.db)]);
                let before = self.load_files().await;
                self.start();
                let deadline = Instant::now() + Duration::from_secs(60);
                while self.load_files().await < before + 2 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                self.restart();
            }
            Fault::KillSource => {
                let mut conn = connect(&self.url).await;
                let pid_file: String = conn.query_first("SELECT @@pid_file").await.unwrap().unwrap();
                drop(conn);
                let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
                assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
                tokio::time::sleep(Duration::from_millis(rng.range(500, 3_000))).await;
                let started =
                    std::process::Command::new(repo_path("scripts/services.sh")).args(["start", "mariadb-purge"]).output().unwrap();
                assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
            }
            Fault::S3Outage => {
                self.s3.kill();
                tokio::time::sleep(Duration::from_millis(rng.range(2_000, 6_000))).await;
                self.s3.restart();
            }
            Fault::StatementFormat => {
                let _quiet = self.gate.lock().await;
                let mut conn = connect(&self.url).await;
                let k = rng.range(0, 6);
                for sql in [
                    "SET SESSION binlog_format = 'STATEMENT'".to_string(),
                    format!("UPDATE `{}`.items SET qty = qty + 1 WHERE id % 7 = {k}", self.db),
                    "SET SESSION binlog_format = 'ROW'".to_string(),
                ] {
                    conn.query_drop(sql).await.unwrap();
                }
            }
            Fault::HiddenSchemaChange => {
                let _quiet = self.gate.lock().await;
                self.note_width += 10;
                let mut conn = connect(&self.url).await;
                conn.query_drop(format!(
                    "SET SESSION sql_log_bin = 0; ALTER TABLE `{}`.items MODIFY note VARCHAR({}); SET SESSION sql_log_bin = 1",
                    self.db, self.note_width
                ))
                .await
                .unwrap();
            }
            Fault::BinlogPurge => {
                // binlake is down while changes it has not read are purged.
                self.kill();
                tokio::time::sleep(Duration::from_millis(rng.range(200, 1_000))).await;
                purge_all_but_newest(&self.url, true).await;
                let out = self.run_command().args(["--until", "caught-up"]).output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(!out.status.success() && stderr.contains("Run `binlake reload --all`"), "{stderr}");
                self.binlake_command(&["reload", "--all"]);
                self.start();
            }
        }
    }

    /// With the source quiet: binlake commits up to the server's position, then every table's
    /// files replayed in commit order and its merged table are compared with the source.
    async fn check(&mut self) -> Result<Damage, String> {
        let gate = self.gate.clone();
        let _quiet = gate.lock().await;
        let target = server_position(&self.url).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        while caught_up_position(self.state.path()).await.is_none_or(|c| c < target) {
            let child = self.binlake.as_mut().expect("binlake runs");
            if let Some(status) = child.try_wait().unwrap() {
                let log = self.log_tail();
                // Going on from here: the campaign reports what the next faults find.
                self.binlake = None;
                self.start();
                return Err(format!("binlake exited ({status}) before committing up to {target}:\n{log}"));
            }
            if Instant::now() > deadline {
                return Err(format!("binlake did not commit up to {target} in 120 s:\n{}", self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut db = TestDb { name: self.db.clone(), conn: connect(&self.url).await };
        let mut damage = Damage::default();
        for table in TABLES {
            let (replayed, _) = replay_by_name(self.state.path(), &self.target, &TableId::new(&self.db, table), "id").await;
            let source = source_rows(&mut db, table, "id").await;
            damage.lost += source.iter().filter(|(k, row)| replayed.get(*k) != Some(*row)).count();
            damage.duplicated += replayed.keys().filter(|k| !source.contains_key(*k)).count();
        }
        // The merged tables follow within a few merge intervals.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = binlake(self.state.path())
                .args(["verify", "--source", &self.url, "--lake", &self.lake.url, "--tables", &format!("{}.*", self.db)])
                .output()
                .unwrap();
            if out.status.success() {
                return Ok(damage);
            }
            if Instant::now() > deadline {
                return Err(format!("the merged tables differ from the source:\n{}", String::from_utf8_lossy(&out.stdout)));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One random transaction of the workload.
async fn write_once(conn: &mut mysql_async::Conn, db: &str, rng: &mut Rng, next_item: &mut u64) -> mysql_async::Result<()> {
    let mut tx = conn.start_transaction(Default::default()).await?;
    for _ in 0..rng.range(1, 3) {
        let sql = match rng.range(0, 5) {
            0 => format!("UPDATE `{db}`.counters SET version = version + 1 WHERE id = {}", rng.range(1, 20)),
            1 => format!("INSERT INTO `{db}`.journal (note) VALUES ('entry {}')", rng.next() % 1000),
            2 => {
                *next_item += 1;
                format!(
                    "INSERT INTO `{db}`.items VALUES ({next_item}, {}, {}.{:02}, 'new')",
                    rng.range(0, 9),
                    rng.range(0, 999),
                    rng.range(0, 99)
                )
            }
            3 => format!("UPDATE `{db}`.items SET qty = qty + 1, note = 'changed' WHERE id = {}", rng.range(1, *next_item)),
            _ => format!("DELETE FROM `{db}`.items WHERE id = {}", rng.range(1, *next_item)),
        };
        tx.query_drop(sql).await?;
    }
    tx.commit().await
}

/// Runs the campaign; returns the report line.
pub async fn campaign(rounds: usize, seed: u64) -> String {
    let _turn = PURGE_SERVER.lock().await;
    let url = purge_mysql_url();
    let mut db = TestDb::on(&url, "chaos").await;
    db.exec("CREATE TABLE counters (id INT PRIMARY KEY, version BIGINT NOT NULL)").await;
    db.exec("CREATE TABLE journal (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20))").await;
    db.exec("CREATE TABLE items (id BIGINT PRIMARY KEY, qty INT, price DECIMAL(10,2), note VARCHAR(40))").await;
    db.exec("INSERT INTO counters SELECT seq, 0 FROM seq_1_to_20").await;
    db.exec("INSERT INTO journal (note) VALUES ('first')").await;
    db.exec(&format!("INSERT INTO items SELECT seq, seq % 10, seq / 100, MD5(seq) FROM seq_1_to_{ITEMS}")).await;
    let s3 = OwnS3::start(9102);
    let target = Lake::s3_at(&s3.endpoint(), &s3.root.path().display().to_string(), "chaos", "raw");
    let mut campaign = Campaign {
        url: url.clone(),
        db: db.name.clone(),
        state: state_dir(),
        s3,
        target,
        lake: Lake::local(),
        binlake: None,
        gate: Arc::new(tokio::sync::Mutex::new(())),
        note_width: 40,
    };
    campaign.start();

    // The workload: one transaction after another, reconnecting while the source is down.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let writer = {
        let (url, db, gate) = (url.clone(), db.name.clone(), campaign.gate.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ 0x5eed);
            let mut next_item = ITEMS;
            let mut conn: Option<mysql_async::Conn> = None;
            while !*stopped.borrow() {
                {
                    let _open = gate.lock().await;
                    if conn.is_none() {
                        conn = mysql_async::Conn::from_url(url.as_str()).await.ok();
                    }
                    if let Some(c) = conn.as_mut()
                        && write_once(c, &db, &mut rng, &mut next_item).await.is_err()
                    {
                        conn = None;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(15)) => {}
                    _ = stopped.changed() => {}
                }
            }
        })
    };

    let mut rng = Rng::new(seed);
    let mut injected: Vec<Fault> = Vec::new();
    let mut failures = Vec::new();
    let mut total = Damage::default();
    let started = Instant::now();
    let baseline = campaign.check().await;
    assert!(baseline.as_ref().is_ok_and(|d| d.lost + d.duplicated == 0), "before any fault: {baseline:?}");
    for _ in 0..rounds {
        let mut order = FAULTS.to_vec();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.range(0, i as u64) as usize);
        }
        for fault in order {
            // Some changes before the fault, then the fault with the workload running.
            tokio::time::sleep(Duration::from_millis(rng.range(300, 1_500))).await;
            campaign.inject(fault, &mut rng).await;
            injected.push(fault);
            match campaign.check().await {
                Ok(damage) => {
                    if damage.lost + damage.duplicated > 0 {
                        failures.push(format!("after {fault:?}: {damage:?}"));
                    }
                    total.lost += damage.lost;
                    total.duplicated += damage.duplicated;
                }
                Err(e) => failures.push(format!("after {fault:?}: {e}")),
            }
        }
    }
    let _ = stop.send(true);
    writer.await.unwrap();
    campaign.kill();

    let mut counts: BTreeMap<Fault, usize> = BTreeMap::new();
    for f in &injected {
        *counts.entry(*f).or_default() += 1;
    }
    let report = format!(
        "chaos: seed {seed}, {} faults injected ({}), {} survived with the lake exact, rows lost {}, rows duplicated {}, {:.0} s",
        injected.len(),
        counts.iter().map(|(f, n)| format!("{f:?} x{n}")).collect::<Vec<_>>().join(", "),
        injected.len() - failures.len(),
        total.lost,
        total.duplicated,
        started.elapsed().as_secs_f64()
    );
    println!("{report}");
    assert!(failures.is_empty(), "{report}\n{}", failures.join("\n"));
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_once_leaves_the_lake_exact() {
    let rounds = std::env::var("BINLAKE_CHAOS_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    let seed = std::env::var("BINLAKE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    campaign(rounds, seed).await;
}
