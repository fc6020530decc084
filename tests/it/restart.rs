//! Crashes, stops and lost connections: no row lost, none duplicated.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use mysql_async::prelude::*;

use crate::common::*;

/// `binlake run` streaming every table of `db` into `lake`, flushing every second.
fn streaming_run(state: &std::path::Path, lake: &Lake, db: &str) -> std::process::Command {
    let mut cmd = binlake(state);
    cmd.args(["run", "--source", &mysql_url(), "--target", &lake.url, "--cdc-max-batch-interval", "1", "--heartbeat", "1", "--tables"])
        .arg(format!("{db}.*"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn spawn_run(state: &std::path::Path, lake: &Lake, db: &str) -> Child {
    streaming_run(state, lake, db).spawn().unwrap()
}

/// Polls the lake every 500 ms, at most `polls` times, until it holds `rows` journal rows.
async fn journal_reaches(lake: &Lake, db: &str, rows: usize, polls: u32) -> bool {
    for _ in 0..polls {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if lake.changes(db, "journal").await.len() == rows {
            return true;
        }
    }
    false
}

/// `counters` (versions that must go up by one) and `journal` (ids that must appear once),
/// checked by [`assert_versions_exactly_once`].
async fn create_exactly_once_tables(db: &mut TestDb) {
    db.exec("CREATE TABLE counters (id INT PRIMARY KEY, version BIGINT NOT NULL)").await;
    db.exec("CREATE TABLE journal (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20))").await;
}

/// Every (key, version) of `counters` must appear exactly once in LOAD + CDC order: a lost
/// row leaves a gap, a duplicated one repeats a version.
async fn assert_versions_exactly_once(db: &mut TestDb, lake: &Lake) {
    let changes = lake.changes(&db.name, "counters").await;
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for c in &changes {
        let (key, version): (String, u64) = (c[1].clone(), c[2].parse().unwrap());
        if let Some(prev) = last.insert(key.clone(), version) {
            assert_eq!(version, prev + 1, "counter {key}: version {version} after {prev} (lost or duplicated change)");
        }
    }
    let source = db.rows("counters").await;
    assert_eq!(last.len(), source.len());
    for row in source {
        assert_eq!(last.get(&row[0]).copied(), Some(row[1].parse().unwrap()), "counter {}", row[0]);
    }
    // insert-only journal: every id exactly once
    let journal = lake.changes(&db.name, "journal").await;
    let mut ids: Vec<u64> = journal.iter().map(|r| r[1].parse().unwrap()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "journal rows duplicated");
    let count: u64 = db.conn.query_first(format!("SELECT COUNT(*) FROM `{}`.journal", db.name)).await.unwrap().unwrap();
    assert_eq!(n as u64, count, "journal rows lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let mut db = TestDb::new("sigkill").await;
    db.exec(SHOP_SCHEMA).await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters SELECT seq, 0 FROM seq_1_to_50").await;
    let mut shop = Shop::new(7);
    shop.seed(&mut db, 3_000).await;
    let lake = Lake::local();
    let state = state_dir();

    // A writer that keeps committing while binlake is killed and restarted.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let db_name = db.name.clone();
    let writer = tokio::spawn(async move {
        let mut db = TestDb { name: db_name.clone(), conn: connect(&mysql_url()).await };
        db.exec(&format!("USE `{db_name}`")).await;
        let mut rng = Rng::new(9);
        let mut transactions = 0u64;
        while !*stop_rx.borrow_and_update() {
            let mut tx = db.conn.start_transaction(Default::default()).await.unwrap();
            for _ in 0..rng.range(1, 5) {
                tx.query_drop(format!("UPDATE counters SET version = version + 1 WHERE id = {}", rng.range(1, 50))).await.unwrap();
                tx.query_drop("INSERT INTO journal (note) VALUES ('w')").await.unwrap();
            }
            tx.commit().await.unwrap();
            // other tables change too, in their own transactions
            db.exec(&format!("UPDATE accounts SET visits = visits + 1 WHERE id = {}", rng.range(1, 3_000))).await;
            db.exec(&format!("INSERT INTO events VALUES ('w', '{transactions}')")).await;
            transactions += 1;
            if rng.range(0, 30) == 0 {
                db.exec("FLUSH BINARY LOGS").await;
            }
            tokio::time::sleep(Duration::from_millis(rng.range(0, 15))).await;
        }
        transactions
    });

    let mut rng = Rng::new(42);
    let mut logs = String::new();
    for round in 0..6 {
        let mut child = spawn_run(state.path(), &lake, &db.name);
        // the first rounds kill early, often inside the full load; later ones mid-stream
        let wait = if round < 2 { rng.range(50, 600) } else { rng.range(500, 3_000) };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    // the kills must have hit open files, or this test proves nothing
    assert!(logs.contains("removed files of an interrupted run"), "no kill interrupted a file:\n{logs}");
    stop_tx.send(true).unwrap();
    let transactions = writer.await.unwrap();
    assert!(transactions > 20, "the writer committed only {transactions} transactions");

    run_until_caught_up(state.path(), &lake, &db.name, &[]);
    assert_versions_exactly_once(&mut db, &lake).await;
    assert_lake_equals_source(&mut db, &lake).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_flushes_commits_and_exits_zero() {
    let mut db = TestDb::new("sigterm").await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters VALUES (1, 0)").await;
    let lake = Lake::local();
    let state = state_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = binlake(state.path())
        .args(["run", "--source", &mysql_url(), "--target", &lake.url, "--metrics-listen", &addr, "--tables"])
        .arg(format!("{}.*", db.name))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..20 {
        db.exec("UPDATE counters SET version = version + 1").await;
        db.exec("INSERT INTO journal (note) VALUES ('x')").await;
    }
    // the default 60 s interval has not elapsed: only the stop can flush these rows, once
    // binlake has read them
    wait_read(&mut child, &addr).await;
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_versions_exactly_once(&mut db, &lake).await;
    assert_eq!(lake.changes(&db.name, "journal").await.len(), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnects_after_the_replication_connection_is_killed() {
    let mut db = TestDb::new("reconnect").await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters VALUES (1, 0), (2, 0)").await;
    let lake = Lake::local();
    let state = state_dir();
    let mut child = spawn_run(state.path(), &lake, &db.name);
    wait_committed(&mut child, state.path()).await;
    db.exec("UPDATE counters SET version = version + 1").await;
    // Kill binlake's binlog dump connection(s) on the server.
    let user_threads: Vec<(u64, String)> =
        db.conn.query("SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").await.unwrap();
    assert!(!user_threads.is_empty(), "no binlog dump thread found");
    for (id, _) in user_threads {
        let _ = db.conn.query_drop(format!("KILL {id}")).await;
    }
    for _ in 0..5 {
        db.exec("UPDATE counters SET version = version + 1").await;
        db.exec("INSERT INTO journal (note) VALUES ('after kill')").await;
    }
    // wait for the reconnect (backoff starts at 1 s) and a flush (1 s interval)
    let caught_up = journal_reaches(&lake, &db.name, 5, 40).await;
    terminate(&child);
    let out = child.wait_with_output();
    let stderr = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
    assert!(caught_up, "changes after the kill never arrived:\n{stderr}");
    assert!(stderr.contains("transient error"), "the lost connection was not reported:\n{stderr}");
    assert_versions_exactly_once(&mut db, &lake).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_binlake_on_the_same_state_is_refused() {
    let db = TestDb::new("lease").await;
    let lake = Lake::local();
    let state = state_dir();
    let mut first = spawn_run(state.path(), &lake, &db.name);
    // Once it has committed, it holds the lease.
    wait_committed(&mut first, state.path()).await;
    let second =
        binlake(state.path()).args(["run", "--source", &mysql_url(), "--target", &lake.url, "--until", "caught-up"]).output().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another binlake") && stderr.contains("is running on this state"), "{stderr}");
}

/// The checkpoint's binlog file disappears (as after a failover to a server with other file
/// names): binlake finds its place by MariaDB GTID. When the changes after the checkpoint are
/// gone too, it stops and says so.

#[tokio::test(flavor = "multi_thread")]
async fn resumes_by_gtid_when_the_binlog_file_is_gone_and_stops_when_changes_are_purged() {
    let _turn = PURGE_SERVER.lock().await;
    let url = purge_mysql_url();
    let mut db = TestDb::on(&url, "gtid").await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters VALUES (1, 0), (2, 0)").await;
    let lake = Lake::local();
    let state = state_dir();
    let tables = format!("{}.*", db.name);
    let run = || {
        binlake(state.path())
            .args(["run", "--source", &url, "--target", &lake.url, "--until", "caught-up", "--tables"])
            .arg(&tables)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Changes only after a rotation; then the checkpoint's file is purged.
    db.exec("FLUSH BINARY LOGS").await;
    for _ in 0..3 {
        db.exec("UPDATE counters SET version = version + 1").await;
        db.exec("INSERT INTO journal (note) VALUES ('new file')").await;
    }
    purge_all_but_newest(&url, false).await;
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming by GTID"), "{stderr}");
    assert_versions_exactly_once(&mut db, &lake).await;

    // Changes in the checkpoint's file, which is then purged: they are lost to binlake.
    db.exec("UPDATE counters SET version = version + 1").await;
    purge_all_but_newest(&url, true).await;
    db.exec("UPDATE counters SET version = version + 1").await;
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is no longer on the server") && stderr.contains("Run `binlake reload --all` (same --state)"), "{stderr}");

    // The way out the message names: every table loaded anew beside its files, in place.
    let before = file_contents(&lake, &db.name).await;
    run_ok(binlake(state.path()).args(["reload", "--all"]));
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    db.exec("UPDATE counters SET version = version + 1").await;
    db.exec("INSERT INTO journal (note) VALUES ('after')").await;
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_reloaded_in_place(&before, &lake, &mut db, state.path()).await;

    // --on-binlog-purged reload does the same by itself.
    db.exec("UPDATE counters SET version = version + 1").await;
    purge_all_but_newest(&url, true).await;
    db.exec("INSERT INTO journal (note) VALUES ('lost to the binlog')").await;
    let before = file_contents(&lake, &db.name).await;
    let out = binlake(state.path())
        .args(["run", "--source", &url, "--target", &lake.url, "--until", "caught-up", "--on-binlog-purged", "reload", "--tables"])
        .arg(&tables)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("loading every table anew from a new snapshot (--on-binlog-purged reload)"), "{stderr}");
    assert_reloaded_in_place(&before, &lake, &mut db, state.path()).await;
}

/// Every file of the tables of `db`, with its bytes.
async fn file_contents(lake: &Lake, db: &str) -> BTreeMap<String, bytes::Bytes> {
    use object_store::ObjectStoreExt;
    let mut all = BTreeMap::new();
    for table in ["counters", "journal"] {
        for key in lake.files(db, table).await {
            let bytes = lake.store.get(&key.as_str().into()).await.unwrap().bytes().await.unwrap();
            all.insert(key, bytes);
        }
    }
    all
}

/// After a reload of every table: no file written before it changed, each table has one more
/// full load numbered after its earlier ones, and its files replayed in commit order equal
/// the source.
async fn assert_reloaded_in_place(before: &BTreeMap<String, bytes::Bytes>, lake: &Lake, db: &mut TestDb, state: &std::path::Path) {
    let after = file_contents(lake, &db.name).await;
    for (key, bytes) in before {
        assert_eq!(after.get(key), Some(bytes), "{key} was overwritten or removed");
    }
    for table in ["counters", "journal"] {
        let loads = |files: &BTreeMap<String, bytes::Bytes>| files.keys().filter(|k| k.contains(&format!("/{table}/LOAD"))).count();
        assert!(loads(&after) > loads(before), "{table}: no new LOAD files");
        let (replayed, _) = replay_by_name(state, lake, &binlake::schema::TableId::new(&db.name, table), "id").await;
        assert_rows_match(table, &replayed, &source_rows(db, table, "id").await, &[], &[]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnects_after_a_server_restart() {
    let _turn = PURGE_SERVER.lock().await;
    let url = purge_mysql_url();
    let mut db = TestDb::on(&url, "restart").await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters VALUES (1, 0)").await;
    let lake = Lake::local();
    let state = state_dir();
    let mut child = binlake(state.path())
        .args(["run", "--source", &url, "--target", &lake.url, "--cdc-max-batch-interval", "1", "--heartbeat", "1", "--tables"])
        .arg(format!("{}.*", db.name))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_committed_on(&mut child, state.path(), &url).await;
    db.exec("UPDATE counters SET version = version + 1").await;
    let _ = db.conn.query_drop("SHUTDOWN").await;
    let mut down = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if mysql_async::Conn::from_url(url.as_str()).await.is_err() {
            down = true;
            break;
        }
    }
    assert!(down, "the server did not shut down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = std::process::Command::new(repo_path("scripts/services.sh")).args(["start", "mariadb-purge"]).output().unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let mut db = TestDb { name: db.name.clone(), conn: connect(&url).await };
    for _ in 0..3 {
        db.exec(&format!("UPDATE `{}`.counters SET version = version + 1", db.name)).await;
        db.exec(&format!("INSERT INTO `{}`.journal (note) VALUES ('after restart')", db.name)).await;
    }
    let arrived = journal_reaches(&lake, &db.name, 3, 60).await;
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(arrived, "changes after the restart never arrived:\n{stderr}");
    assert!(out.status.success() && stderr.contains("transient error"), "{stderr}");
    assert_versions_exactly_once(&mut db, &lake).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_source_is_not_mistaken_for_a_dead_one() {
    let db = TestDb::new("idle").await;
    let lake = Lake::local();
    let state = state_dir();
    let child = spawn_run(state.path(), &lake, &db.name);
    // three heartbeat periods of 1 s without events would count as a dead source
    tokio::time::sleep(Duration::from_secs(6)).await;
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("transient error"), "an idle source was taken for a dead one:\n{stderr}");
}

/// GET /metrics over plain HTTP/1.0.
/// Waits until the binlake running as `child` with `--metrics-listen addr` has read the
/// binlog up to the server's position now (`binlake_read_offset`), whether or not it has
/// committed it. Other tests rotate the server's binlog meanwhile, so binlake may have
/// started in a later file than the target's: the furthest position of any file counts.
async fn wait_read(child: &mut Child, addr: &str) {
    let target = server_position(&mysql_url()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let read = std::net::TcpStream::connect(addr).ok().and_then(|_| {
            scrape(addr)
                .lines()
                .filter_map(|line| {
                    let (file, offset) = line.strip_prefix("binlake_read_offset{file=\"")?.split_once("\"} ")?;
                    Some(binlake::position::BinlogPos::new(file, offset.trim().parse::<f64>().ok()? as u64))
                })
                .max()
        });
        if read.as_ref().is_some_and(|at| *at >= target) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("binlake exited ({status}) before reading up to the server's position {target}");
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let stderr = child.stderr.take().map(|mut e| {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut e, &mut text).ok();
                text
            });
            panic!("binlake did not read up to the server's position {target} (read: {read:?}):\n{}", stderr.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_report_what_was_committed() {
    let mut db = TestDb::new("metrics").await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters VALUES (1, 0), (2, 0)").await;
    let lake = Lake::local();
    let state = state_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = binlake(state.path())
        .args([
            "run",
            "--source",
            &mysql_url(),
            "--target",
            &lake.url,
            "--cdc-max-batch-interval",
            "1",
            "--metrics-listen",
            &addr,
            "--tables",
        ])
        .arg(format!("{}.*", db.name))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_committed(&mut child, state.path()).await;
    for _ in 0..4 {
        db.exec("INSERT INTO journal (note) VALUES ('m')").await;
    }
    let mut text = String::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        text = scrape(&addr);
        if text.contains(&format!("binlake_cdc_rows_total{{table=\"{}.journal\"}} 4", db.name)) {
            break;
        }
    }
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        format!("binlake_cdc_rows_total{{table=\"{}.journal\"}} 4", db.name),
        format!("binlake_load_rows_total{{table=\"{}.counters\"}} 2", db.name),
        "binlake_files_committed_total{kind=\"CDC\"} 1".to_string(),
        "binlake_checkpoint_offset{file=\"mysql-bin.".to_string(),
        "binlake_commit_latency_seconds".to_string(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
}

/// MySQL's way to an exact snapshot position (a brief LOCK TABLES), taken on MariaDB while a
/// writer commits all the time: every change is in LOAD or in CDC, never both, never neither.
#[tokio::test(flavor = "multi_thread")]
async fn table_lock_snapshot_position_is_exact_under_concurrent_writes() {
    let mut db = TestDb::new("locksnap").await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters SELECT seq, 0 FROM seq_1_to_200").await;
    let lake = Lake::local();
    let state = state_dir();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let db_name = db.name.clone();
    let writer = tokio::spawn(async move {
        let mut conn = connect(&mysql_url()).await;
        let mut rng = Rng::new(3);
        let mut n = 0u64;
        while !*stop_rx.borrow_and_update() {
            let mut tx = conn.start_transaction(Default::default()).await.unwrap();
            for _ in 0..rng.range(1, 4) {
                tx.query_drop(format!("UPDATE `{db_name}`.counters SET version = version + 1 WHERE id = {}", rng.range(1, 200)))
                    .await
                    .unwrap();
            }
            tx.query_drop(format!("INSERT INTO `{db_name}`.journal (note) VALUES ('w')")).await.unwrap();
            tx.commit().await.unwrap();
            n += 1;
        }
        n
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = || caught_up_run(state.path(), &lake, &format!("{}.*", db.name)).env("BINLAKE_TEST_FORCE_TABLE_LOCK", "1").output().unwrap();
    let out = run();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("under a brief table lock"), "the table-lock path was not taken (build with --features test-hooks):\n{log}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(true).unwrap();
    let transactions = writer.await.unwrap();
    assert!(transactions > 50, "the writer committed only {transactions} transactions");
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_versions_exactly_once(&mut db, &lake).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_outage_is_retried_without_loss_or_duplicates() {
    let mut db = TestDb::new("s3_outage").await;
    create_exactly_once_tables(&mut db).await;
    db.exec("INSERT INTO counters VALUES (1, 0), (2, 0)").await;
    let mut s3 = OwnS3::start(9101);
    let lake = Lake::s3_at(&s3.endpoint(), &s3.root.path().display().to_string(), "s3-outage", "raw");
    let state = state_dir();
    let mut child = streaming_run(state.path(), &lake, &db.name).env("AWS_ENDPOINT_URL", s3.endpoint()).spawn().unwrap();
    wait_committed(&mut child, state.path()).await;
    db.exec("UPDATE counters SET version = version + 1").await;
    wait_committed(&mut child, state.path()).await;

    // The bucket goes away mid-stream. Uploads fail; object_store retries them with a random
    // backoff, and when the outage outlasts that, binlake resumes from its checkpoint (the
    // recovery's deletes failing too until the server is back). Either way, nothing is lost
    // or written twice.
    s3.kill();
    for _ in 0..5 {
        db.exec("UPDATE counters SET version = version + 1").await;
        db.exec("INSERT INTO journal (note) VALUES ('during the outage')").await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    s3.restart();

    let arrived = journal_reaches(&lake, &db.name, 5, 60).await;
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(arrived, "changes made during the outage never arrived:\n{stderr}");
    assert!(out.status.success(), "{stderr}");
    assert_versions_exactly_once(&mut db, &lake).await;
}
