//! The chunked full load: a table read in chunks by several workers while it is written to and
//! while binlake is killed, by a user with only the privileges binlake documents.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::prelude::*;

use binlake::schema::TableId;

use crate::common::*;

/// Rows of the large table, and the keys the workload writes to (inserts past its end).
const ROWS: u64 = 2_000_000;
const KEYS: u64 = ROWS * 13 / 10;
/// Its chunk rows and workers.
const BIG_CHUNKING: [&str; 2] = ["20000", "4"];

/// A user with only REPLICATION SLAVE, REPLICATION CLIENT and SELECT: nothing can be written to
/// the source.
async fn read_only_url(db: &mut TestDb) -> String {
    db.exec("CREATE USER IF NOT EXISTS 'binlake_ro'@'%' IDENTIFIED BY 'ro'").await;
    db.exec("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'binlake_ro'@'%'").await;
    mysql_url().replace("binlake:binlake@", "binlake_ro:ro@")
}

/// `binlake run` of `db` with `chunking` (`[rows, workers]`) and small files.
fn chunked_run(
    state: &std::path::Path,
    lake: &Lake,
    merged: &Lake,
    source: &str,
    db: &str,
    chunking: [&str; 2],
    until: bool,
) -> std::process::Command {
    let mut cmd = binlake(state);
    cmd.args(["run", "--source", source, "--target", &lake.url, "--lake", &merged.url, "--tables", &format!("{db}.*")]);
    // CDC files and merges every second: they are committed while chunks are still read
    cmd.args(["--cdc-max-batch-interval", "1", "--merge-interval", "1"]);
    // small files: each is committed with its chunks, so kills land between commits
    cmd.args(["--snapshot-chunk-rows", chunking[0], "--snapshot-workers", chunking[1], "--max-file-size", "1024"]);
    // key updates as D + I, so a consumer that replays by key sees the old key go
    cmd.arg("--split-key-updates");
    cmd.args(["--progress-interval", "1"]);
    if until {
        cmd.args(["--until", "caught-up"]);
    }
    cmd
}

/// One random write: inserts past the end and into holes, updates, deletes, and key updates
/// that move rows across chunk boundaries, in transactions of one to four statements.
async fn write_some(conn: &mut mysql_async::Conn, rng: &mut Rng) {
    let mut tx = conn.start_transaction(Default::default()).await.unwrap();
    for _ in 0..rng.range(1, 5) {
        let id = rng.range(1, KEYS);
        let sql = match rng.range(0, 5) {
            0 => format!("INSERT IGNORE INTO big VALUES ({id}, {}, 'ins')", rng.range(0, 9)),
            1 => format!("UPDATE big SET v = CONCAT('u', {}) WHERE id = {id}", rng.range(0, 999)),
            2 => format!("DELETE FROM big WHERE id = {id}"),
            3 => format!("UPDATE IGNORE big SET id = {} WHERE id = {id}", rng.range(1, KEYS)),
            _ => format!("UPDATE big SET grp = grp + 1 WHERE id BETWEEN {id} AND {}", id + 50),
        };
        tx.query_drop(sql).await.unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_load_under_writes_and_sigkills_is_exact() {
    let mut db = TestDb::new("chunked").await;
    db.exec("CREATE TABLE big (id BIGINT PRIMARY KEY, grp INT NOT NULL, v VARCHAR(40))").await;
    db.exec(&format!("INSERT INTO big SELECT seq, seq % 7, CONCAT('row ', seq) FROM seq_1_to_{ROWS}")).await;
    // a composite key chunks by its first column; a keyless table is read from one snapshot
    db.exec("CREATE TABLE pairs (a INT, b INT, PRIMARY KEY (a, b))").await;
    db.exec("INSERT INTO pairs SELECT seq DIV 10, seq FROM seq_1_to_20000").await;
    db.exec("CREATE TABLE loose (n INT)").await;
    db.exec("INSERT INTO loose SELECT seq FROM seq_1_to_3000").await;
    let source = read_only_url(&mut db).await;
    let lake = Lake::local();
    let merged = Lake::local();
    let state = state_dir();

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let db_name = db.name.clone();
    let writer = tokio::spawn(async move {
        let mut conn = connect(&mysql_url()).await;
        conn.query_drop(format!("USE `{db_name}`")).await.unwrap();
        let mut rng = Rng::new(18);
        let mut transactions = 0u64;
        while !*stop_rx.borrow_and_update() {
            write_some(&mut conn, &mut rng).await;
            if rng.range(0, 4) == 0 {
                conn.query_drop(format!("UPDATE pairs SET b = b + 100000 WHERE a = {}", rng.range(0, 2000))).await.unwrap();
            }
            transactions += 1;
            tokio::time::sleep(Duration::from_millis(rng.range(0, 5))).await;
        }
        transactions
    });

    // No transaction of binlake's stays open longer than a chunk's read: each one seen in
    // INNODB_TRX is timed from its first sighting to its last (the server refreshes that
    // table at most every 100 ms when it is read more often).
    let mut sampling = stop_tx.subscribe();
    let sampler = tokio::spawn(async move {
        let mut conn = connect(&mysql_url()).await;
        let mut seen: std::collections::HashMap<(u64, String), (std::time::Instant, std::time::Instant)> = Default::default();
        while !*sampling.borrow_and_update() {
            let open: Vec<(u64, String)> = conn
                .query(
                    "SELECT t.trx_mysql_thread_id, CAST(t.trx_started AS CHAR) FROM information_schema.INNODB_TRX t \
                     JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.USER = 'binlake_ro'",
                )
                .await
                .unwrap();
            let now = std::time::Instant::now();
            for trx in open {
                seen.entry(trx).or_insert((now, now)).1 = now;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let longest = seen.values().map(|(first, last)| *last - *first).max().unwrap_or_default();
        (seen.len(), longest)
    });
    let mut rng = Rng::new(5);
    let mut logs = String::new();
    for kill in 0..3 {
        let mut child = chunked_run(state.path(), &lake, &merged, &source, &db.name, BIG_CHUNKING, false)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.range(1_000, 3_000))).await;
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
        if kill == 0 {
            assert_load_in_status(state.path(), &format!("{}.big", db.name), &logs);
        }
    }
    stop_tx.send(true).unwrap();
    let transactions = writer.await.unwrap();
    let (seen, longest) = sampler.await.unwrap();
    eprintln!("transactions of binlake's seen: {seen}, the longest open for {longest:?}");
    assert!(seen > 0, "the sampler never saw a transaction of binlake's\n{logs}");
    assert!(longest <= Duration::from_secs(3), "a transaction of binlake's was open for {longest:?}\n{logs}");
    assert!(transactions > 100, "the writer committed only {transactions} transactions");
    let out = run_ok(&mut chunked_run(state.path(), &lake, &merged, &source, &db.name, BIG_CHUNKING, true));
    logs.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(logs.contains("the full load goes on after its committed chunks"), "no kill interrupted the chunked load:\n{logs}");
    assert!(logs.contains("read from one consistent snapshot, not in chunks"), "{logs}");
    // a dense one-column integer key is cut in even steps, with no query per chunk
    let big = format!("{}.big", db.name);
    assert!(logs.lines().any(|l| l.contains("chunks are even steps of its key") && l.contains(&big)), "{logs}");
    // a progress line per table every --progress-interval, with the estimate and the rate
    let progress = logs
        .lines()
        .find(|l| l.contains("loading.") && l.contains(".big") && l.contains("rows_per_s="))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(progress.contains("of_about=") && progress.contains("of_chunks=") && progress.contains("eta_s="), "{progress}");

    for (table, key) in [("big", &[0usize][..]), ("pairs", &[0, 1][..]), ("loose", &[][..])] {
        assert_files_equal_source(&mut db, &lake, table, key, "*", &logs).await;
    }
    // The stream ran beside the load: a CDC file of the small table was committed before the
    // large table's last LOAD file.
    {
        use binlake::state::{FileKind, StateStore};
        let store = binlake::state::Store::open(&state.path().join("state.db").display().to_string()).await.unwrap();
        let sequences = |files: Vec<binlake::state::CommittedFile>, kind: FileKind| -> Vec<i64> {
            files.into_iter().filter(|f| f.kind == kind).map(|f| f.sequence).collect()
        };
        let id = |t: &str| binlake::schema::TableId::new(&db.name, t);
        let big = sequences(store.committed_files(&id("big")).await.unwrap(), FileKind::Load);
        let pairs = sequences(store.committed_files(&id("pairs")).await.unwrap(), FileKind::Cdc);
        let (last_load, first_cdc) =
            (big.iter().max().unwrap(), pairs.iter().min().unwrap_or_else(|| panic!("no CDC file of pairs\n{logs}")));
        eprintln!("big LOAD files {} (last at {last_load}), pairs CDC files {} (first at {first_cdc})", big.len(), pairs.len());
        assert!(first_cdc < last_load, "no CDC file of pairs was committed while big was loading\n{logs}");
    }
    // The merged tables too, LOAD files interleaved with CDC files as they were committed.
    let out = verify(state.path(), &db.name, &merged.url);
    assert!(out.status.success(), "verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let big_loads = lake.files(&db.name, "big").await.iter().filter(|k| k.contains("/LOAD")).count();
    assert!(big_loads >= 4, "4 workers write at least 4 LOAD files, not {big_loads}");
}

/// No key twice in a table's LOAD files (committed chunks are never read again), and its LOAD
/// and CDC files replayed by `key` (column indexes; none: whole rows) equal the source's
/// `columns` (`*`, or expressions that print them as the lake's reader does).
async fn assert_files_equal_source(db: &mut TestDb, lake: &Lake, table: &str, key: &[usize], columns: &str, logs: &str) {
    let mut loaded: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let files = lake.files(&db.name, table).await;
    for f in files.iter().filter(|k| k.rsplit('/').next().unwrap().starts_with("LOAD")) {
        for row in lake.read(f).await.1 {
            let k: Vec<String> = if key.is_empty() { row.clone() } else { key.iter().map(|&i| row[i].clone()).collect() };
            *loaded.entry(k).or_default() += 1;
        }
    }
    if !key.is_empty() {
        let twice: Vec<_> = loaded.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(twice.is_empty(), "{table}: keys in more than one LOAD row: {twice:?}");
    }
    let expected = keyed(db.selected(&format!("SELECT {columns} FROM `{}`.`{table}`", db.name)).await, key);
    let actual = replay(&lake.changes(&db.name, table).await, key);
    let extra: Vec<_> = actual.keys().filter(|k| !expected.contains_key(*k)).take(10).collect();
    let missing: Vec<_> = expected.keys().filter(|k| !actual.contains_key(*k)).take(10).collect();
    assert!(extra.is_empty() && missing.is_empty(), "{table}: keys only in the lake {extra:?}, only in the source {missing:?}\n{logs}");
    for (k, row) in &expected {
        assert_eq!(actual.get(k), Some(row), "{table}: row {k:?}");
    }
}

/// Keys of every kind binlake orders as the server does are loaded in chunks, exactly, while
/// they are written to (key updates that move rows between chunks included) and binlake is
/// killed midway; a key of a case-insensitive collation is chunked by the integer before it,
/// or, first in its key, makes the table load from one snapshot. A table without a primary key
/// is chunked and merged by its UNIQUE key of NOT NULL columns.
#[tokio::test(flavor = "multi_thread")]
async fn keys_of_text_decimal_time_and_several_columns_are_chunked_exactly() {
    let mut db = TestDb::new("chunk_keys").await;
    db.exec("CREATE TABLE codes (code VARCHAR(40) COLLATE utf8mb4_bin PRIMARY KEY, v INT)").await;
    // upper and lower case, a tab (below the space PAD SPACE compares with), accents
    db.exec(
        "INSERT INTO codes SELECT CONCAT(ELT(1 + seq % 5, 'a', 'B', 'é', 'b\t', 'Z'), LPAD(seq * 7919 % 100000, 6, '0')), seq \
         FROM seq_1_to_12000",
    )
    .await;
    db.exec("CREATE TABLE events (tenant INT, at DATETIME, name VARBINARY(20), v INT, PRIMARY KEY (tenant, at, name))").await;
    db.exec(
        "INSERT INTO events SELECT seq % 3, TIMESTAMP('2026-01-01') + INTERVAL (seq DIV 3) SECOND, \
         CONCAT(CHAR(seq % 200), 'n'), seq FROM seq_1_to_12000",
    )
    .await;
    db.exec("CREATE TABLE amounts (amount DECIMAL(12,2) PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO amounts SELECT (CAST(seq AS SIGNED) - 6000) * 1.25, seq FROM seq_1_to_12000").await;
    db.exec("CREATE TABLE people (name VARCHAR(40) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO people SELECT CONCAT('p', seq), seq FROM seq_1_to_3000").await;
    db.exec("CREATE TABLE tagged (tenant INT, tag VARCHAR(20) COLLATE utf8mb4_general_ci, v INT, PRIMARY KEY (tenant, tag))").await;
    db.exec("INSERT INTO tagged SELECT seq DIV 10, CONCAT('t', seq % 10), seq FROM seq_1_to_12000").await;
    // No primary key: rows are identified by the first UNIQUE key of NOT NULL columns (serial;
    // n may be NULL).
    db.exec(
        "CREATE TABLE serials (n INT, serial VARCHAR(20) COLLATE utf8mb4_bin NOT NULL, v INT, \
         UNIQUE KEY by_n (n), UNIQUE KEY by_serial (serial))",
    )
    .await;
    db.exec("INSERT INTO serials SELECT seq, CONCAT('s', LPAD(seq * 7919 % 100000, 6, '0')), seq FROM seq_1_to_12000").await;
    let source = read_only_url(&mut db).await;
    let (lake, merged, state) = (Lake::local(), Lake::local(), state_dir());
    let run = |until: bool| {
        // small chunks, two workers and a pause after each chunk: the load lasts seconds
        let mut cmd = chunked_run(state.path(), &lake, &merged, &source, &db.name, ["400", "2"], until);
        cmd.env("BINLAKE_TEST_CHUNK_PAUSE_MS", "100");
        cmd
    };

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let db_name = db.name.clone();
    let writer = tokio::spawn(async move {
        let mut conn = connect(&mysql_url()).await;
        conn.query_drop(format!("USE `{db_name}`")).await.unwrap();
        let mut rng = Rng::new(77);
        let mut transactions = 0u64;
        while !*stop_rx.borrow_and_update() {
            let n = rng.range(1, 100_000);
            let mut tx = conn.start_transaction(Default::default()).await.unwrap();
            for sql in [
                // a key moves to another chunk, or to one far along
                format!(
                    "UPDATE IGNORE codes SET code = CONCAT(ELT(1 + {n} % 5, 'Z', 'a', 'b\t', 'é', 'B'), code) WHERE code LIKE '%{:06}'",
                    n * 31 % 100000
                ),
                format!("INSERT IGNORE INTO codes VALUES (CONCAT('b', LPAD({n}, 6, '0')), {n})"),
                format!("DELETE FROM codes WHERE code LIKE 'a%{:03}'", n % 1000),
                format!(
                    "UPDATE IGNORE events SET at = at + INTERVAL 1 SECOND, v = v + 1 WHERE tenant = {} AND v % 500 = {}",
                    n % 3,
                    n % 500
                ),
                format!("INSERT IGNORE INTO events VALUES ({}, NOW(), 'new', {n})", n % 4),
                format!("UPDATE IGNORE amounts SET amount = -amount WHERE v = {}", n % 12000),
                format!("DELETE FROM amounts WHERE v = {}", n * 7 % 12000),
                format!("UPDATE people SET v = v + 1 WHERE name = 'p{}'", n % 3000),
                format!("UPDATE IGNORE tagged SET tenant = tenant + 1 WHERE tenant = {} AND tag = 't{}'", n % 1200, n % 10),
                // the key moves far along, the other UNIQUE column becomes NULL
                format!("UPDATE IGNORE serials SET serial = CONCAT('t', serial), n = NULL WHERE v = {}", n % 12000),
                format!("INSERT IGNORE INTO serials VALUES (NULL, CONCAT('r', LPAD({n}, 6, '0')), {n})"),
                format!("DELETE FROM serials WHERE v = {}", n * 7 % 12000),
            ] {
                if rng.range(0, 3) == 0 {
                    tx.query_drop(sql).await.unwrap();
                }
            }
            tx.commit().await.unwrap();
            transactions += 1;
            tokio::time::sleep(Duration::from_millis(rng.range(0, 5))).await;
        }
        transactions
    });
    let mut child = run(false).stderr(std::process::Stdio::piped()).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    child.kill().unwrap(); // SIGKILL, midway
    let mut logs = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
    let mut child = run(false).stderr(std::process::Stdio::piped()).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    stop_tx.send(true).unwrap();
    let transactions = writer.await.unwrap();
    child.kill().unwrap();
    logs.push_str(&String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr));
    assert!(transactions > 100, "the writer committed only {transactions} transactions");
    let out = run_ok(&mut run(true));
    logs.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(logs.contains("the full load goes on after its committed chunks"), "no kill interrupted the chunked load:\n{logs}");
    let said = |table: &str, words: &str| logs.lines().any(|l| l.contains(&format!("{}.{table}", db.name)) && l.contains(words));
    for table in ["codes", "events", "amounts", "serials"] {
        assert!(said(table, "chunks end where an index walk"), "{table} was not chunked:\n{logs}");
    }
    assert!(said("tagged", "key=\"tenant\""), "tagged is chunked by its integer column:\n{logs}");
    assert!(said("people", "collation utf8mb4_general_ci"), "why people is read from one snapshot:\n{logs}");
    let events = "tenant, DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%sZ'), LOWER(HEX(name)), v";
    for (table, key, columns) in [
        ("codes", &[0usize][..], "*"),
        ("events", &[0, 1, 2][..], events),
        ("amounts", &[0][..], "*"),
        ("people", &[0][..], "*"),
        ("tagged", &[0, 1][..], "*"),
        ("serials", &[1][..], "*"),
    ] {
        assert_files_equal_source(&mut db, &lake, table, key, columns, &logs).await;
    }
    let out = verify(state.path(), &db.name, &merged.url);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "verify: {said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("serials") && !said.contains("skipped"), "every table is merged and verified: {said}");
}

/// `binlake status` of a load stopped midway: the table is being loaded, with the server's
/// estimate of its rows (about 2M) and as many chunks as its committed rows take.
fn assert_load_in_status(state: &std::path::Path, table: &str, logs: &str) {
    let out = run_ok(binlake(state).arg("status"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let section = text.split("\nloading ").nth(1).unwrap_or_else(|| panic!("no loading section in status:\n{text}\n{logs}"));
    let line = section.lines().find(|l| l.starts_with(table)).unwrap_or_else(|| panic!("{table} not loading in status:\n{text}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize| cells[i].parse::<u64>().unwrap_or_else(|_| panic!("column {i} of {line:?}"));
    let (rows, of_about, chunks, of_chunks) = (number(1), number(2), number(3), number(4));
    assert!((1_000_000..4_000_000).contains(&of_about), "the estimate of {table}: {line}");
    // even steps of keys hold up to 4 (chunks::DENSE_KEYS) times the chunk rows where keys are densest
    assert!(chunks <= of_chunks && rows <= chunks * 20_000 * 4, "{line}");
    assert!(of_chunks * 20_000 >= of_about, "{line}");
}

/// `binlake reload` against a running binlake: the table is loaded anew in chunks, numbered
/// after its first load, with no restart, while another table's changes keep reaching CDC
/// files; the files and the merged tables end equal to the source.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_while_binlake_runs_loads_the_table_anew_beside_the_stream() {
    use binlake::state::{FileKind, StateStore};
    let mut db = TestDb::new("reload_live").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO t SELECT seq, seq FROM seq_1_to_60000").await;
    db.exec("CREATE TABLE other (id INT PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO other VALUES (1, 0)").await;
    let (target, lake, state) = (Lake::local(), Lake::local(), state_dir());
    let mut child = binlake(state.path())
        .args(["run", "--source", &mysql_url(), "--target", &target.url, "--lake", &lake.url, "--tables", &format!("{}.*", db.name)])
        .args(["--cdc-max-batch-interval", "1", "--merge-interval", "1", "--heartbeat", "1"])
        // one worker, small chunks and files, a pause after each chunk: the reload lasts
        // several seconds, committing a LOAD file every chunk or so
        .args(["--snapshot-workers", "1", "--snapshot-chunk-rows", "2000", "--max-file-size", "16"])
        .env("BINLAKE_TEST_CHUNK_PAUSE_MS", "150")
        .stderr(std::fs::File::create(state.path().join("log")).unwrap())
        .spawn()
        .unwrap();
    // The state is opened here once binlake has made it (two first migrations would race).
    let log = || std::fs::read_to_string(state.path().join("log")).unwrap();
    while !log().contains("streaming the binlog") {
        assert!(child.try_wait().unwrap().is_none(), "{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = binlake::state::Store::open(&state.path().join("state.db").display().to_string()).await.unwrap();
    let t = TableId::new(&db.name, "t");
    let files = |table: TableId| {
        let store = store.clone();
        async move { store.committed_files(&table).await.unwrap() }
    };
    // The first load is done once a change of t reaches a CDC file.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !files(t.clone()).await.iter().any(|f| f.kind == FileKind::Cdc) {
        assert!(std::time::Instant::now() < deadline, "t's first load and CDC file never came\n{}", log());
        db.exec("UPDATE t SET v = v - 1 WHERE id = 1").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first_loads = files(t.clone()).await.iter().filter(|f| f.kind == FileKind::Load).count();

    let out = run_ok(binlake(state.path()).args(["reload", &t.to_string()]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("will be loaded anew"), "{out:?}");
    // While t loads anew, other's changes keep coming.
    let mut round = 0;
    loop {
        round += 1;
        db.exec(&format!("UPDATE other SET v = {round} WHERE id = 1")).await;
        db.exec(&format!("UPDATE t SET v = {round} WHERE id = {}", round * 997 % 60_000 + 1)).await;
        db.exec(&format!("DELETE FROM t WHERE id = {}", round * 463 % 60_000 + 1)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let loads = files(t.clone()).await.iter().filter(|f| f.kind == FileKind::Load).count();
        let state = store.tables().await.unwrap().into_iter().find(|s| s.id == t).unwrap();
        if loads > first_loads && state.phase == binlake::state::Phase::Streaming {
            break;
        }
        assert!(round < 600, "t was not loaded anew within a minute");
    }
    terminate(&child);
    let status = child.wait().unwrap();
    let log = log();
    assert!(status.success(), "{log}");
    assert!(log.contains("loading the table anew, as `binlake reload` asked."), "{log}");
    let load_names: Vec<String> = target.files(&db.name, "t").await.into_iter().filter(|k| k.contains("/LOAD")).collect();
    let generations: std::collections::BTreeSet<_> =
        files(t.clone()).await.iter().filter(|f| f.kind == FileKind::Load).map(|f| f.load_generation).collect();
    assert_eq!(generations.len(), 2, "two full loads of t: {load_names:?}");
    // other's changes were committed while t was loaded anew: a CDC file of other comes between
    // the reload's first and last LOAD files.
    let reload: Vec<i64> = files(t.clone())
        .await
        .iter()
        .filter(|f| f.kind == FileKind::Load && f.load_generation == generations.last().copied().flatten())
        .map(|f| f.sequence)
        .collect();
    let (first, last) = (reload.iter().min().unwrap(), reload.iter().max().unwrap());
    let during = files(TableId::new(&db.name, "other"))
        .await
        .iter()
        .filter(|f| f.kind == FileKind::Cdc && f.sequence > *first && f.sequence < *last)
        .count();
    eprintln!("the reload's LOAD files: {} (sequences {first} to {last}); other's CDC files between them: {during}", reload.len());
    assert!(during > 0, "no CDC file of other was committed while t was loaded anew\n{log}");
    for table in ["t", "other"] {
        let (replayed, _) = replay_by_name(state.path(), &target, &TableId::new(&db.name, table), "id").await;
        assert_rows_match(table, &replayed, &source_rows(&mut db, table, "id").await, &[], &[]);
    }
    let out = verify(state.path(), &db.name, &lake.url);
    assert!(out.status.success(), "verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
