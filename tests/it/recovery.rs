//! Ways out of what the binlog cannot show: rows written in statement format, and reloads
//! that are interrupted. After each, the files replayed in commit order and the merged tables
//! equal the source.

use std::process::Stdio;
use std::time::Duration;

use binlake::schema::TableId;

use crate::common::*;

/// Replays `table`'s committed files in commit order and compares them with the source.
async fn assert_table_equals_source(state: &std::path::Path, lake: &Lake, db: &mut TestDb, table: &str) {
    let (replayed, _) = replay_by_name(state, lake, &TableId::new(&db.name, table), "id").await;
    assert_rows_match(table, &replayed, &source_rows(db, table, "id").await, &[], &[]);
}

fn load_files(files: &[String]) -> Vec<&str> {
    files.iter().filter_map(|k| k.rsplit('/').next()).filter(|n| n.starts_with("LOAD")).collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_written_in_statement_format_reload_only_the_replicated_tables_they_change() {
    let mut db = TestDb::new("stmt_reload").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await;
    db.exec("CREATE TABLE u (id INT PRIMARY KEY, v INT)").await;
    db.exec("CREATE TABLE skipped (id INT PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)").await;
    db.exec("INSERT INTO u VALUES (1, 10)").await;
    let target = Lake::local();
    let lake = Lake::local();
    let state = state_dir();
    let exclude = format!("{}.skipped", db.name);
    let name = db.name.clone();
    let run = |extra: &[&str]| {
        run_until_caught_up(state.path(), &target, &name, &[&["--lake", &lake.url, "--exclude", &exclude], extra].concat())
    };
    run(&[]);

    // One session in statement format: only t and u count (skipped is not replicated).
    db.exec("SET SESSION binlog_format = 'STATEMENT'").await;
    db.exec("INSERT INTO skipped VALUES (1, 1)").await;
    db.exec("/* app=billing */ update t set v = v * 10 where id <= 2").await;
    db.exec("UPDATE t JOIN u ON t.id = u.id SET u.v = t.v + 1").await;
    db.exec("SET SESSION binlog_format = 'ROW'").await;
    db.exec("INSERT INTO t VALUES (4, 4)").await;
    db.exec("UPDATE u SET v = v + 1").await;
    let log = run(&[]);
    assert!(
        log.contains("a statement logged in statement format (/* app=billing */ update t set v = v * 10 where id <= 2) changed"),
        "{log}"
    );
    assert!(
        log.contains(&format!("loading the table anew: a statement logged in statement format changed it. table={}.t", db.name)),
        "{log}"
    );
    assert!(
        log.contains(&format!("loading the table anew: a statement logged in statement format changed it. table={}.u", db.name)),
        "{log}"
    );
    assert!(!log.contains(&exclude), "{log}");
    for table in ["t", "u"] {
        assert_table_equals_source(state.path(), &target, &mut db, table).await;
        // The new full load is numbered after the first one.
        let files = target.files(&db.name, table).await;
        assert_eq!(load_files(&files), ["LOAD00000001.parquet", "LOAD00000002.parquet"], "{table}: {files:?}");
    }
    let out = binlake(state.path())
        .args(["verify", "--source", &mysql_url(), "--lake", &lake.url, "--tables", &format!("{}.*", db.name), "--exclude", &exclude])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));

    // And it streams on from there, without loading them again.
    db.exec("UPDATE t SET v = 0 WHERE id = 4").await;
    let log = run(&[]);
    assert!(!log.contains("loading the table anew"), "{log}");
    assert_table_equals_source(state.path(), &target, &mut db, "t").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_on_statement_change_stop_binlake_stops_and_the_reload_it_names_gets_past_the_change() {
    // A stored function called in statement format could change any table: every binlake
    // reading that server would stop at it, so it runs on the server the tests take turns on.
    let _turn = PURGE_SERVER.lock().await;
    let source = purge_mysql_url();
    let mut db = TestDb::on(&source, "stmt_stop").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO t VALUES (1, 1), (2, 2)").await;
    let target = Lake::local();
    let state = state_dir();
    let tables = format!("{}.*", db.name);
    let run = || caught_up_run_from(&source, state.path(), &target, &tables).args(["--on-statement-change", "stop"]).output().unwrap();
    assert!(run().status.success());

    db.exec("SET SESSION binlog_format = 'STATEMENT'").await;
    db.exec("REPLACE INTO t VALUES (2, 20)").await;
    db.exec("SET SESSION binlog_format = 'ROW'").await;
    db.exec("INSERT INTO t VALUES (3, 3)").await;
    // It stops at the change, every time, and writes nothing of it.
    for _ in 0..2 {
        let out = run();
        let text = stderr(&out);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(&format!("(REPLACE INTO t VALUES (2, 20)) changed {}.t", db.name)) && text.contains("mysql-bin."), "{text}");
        assert!(text.contains(&format!("Run `binlake reload {}.t`", db.name)), "{text}");
        assert_eq!(load_files(&target.files(&db.name, "t").await), ["LOAD00000001.parquet"]);
    }
    run_ok(binlake(state.path()).args(["reload", &format!("{}.t", db.name)]));
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_table_equals_source(state.path(), &target, &mut db, "t").await;

    // A statement whose tables binlake cannot tell (a stored function that writes) stops
    // binlake whatever the setting; `binlake reload --all` gets past it.
    db.exec("CREATE FUNCTION bump() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE t SET v = v + 1; RETURN 1; END").await;
    db.exec("SET SESSION binlog_format = 'STATEMENT'").await;
    db.exec("SELECT bump()").await;
    db.exec("SET SESSION binlog_format = 'ROW'").await;
    let out = caught_up_run_from(&source, state.path(), &target, &tables).output().unwrap();
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("binlake cannot tell which tables a statement logged in statement format (SELECT ") && text.contains("bump"),
        "{text}"
    );
    assert!(text.contains("Run `binlake reload --all`"), "{text}");
    run_ok(binlake(state.path()).args(["reload", "--all"]));
    let out = caught_up_run_from(&source, state.path(), &target, &tables).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_table_equals_source(state.path(), &target, &mut db, "t").await;
}

/// A reload killed while its LOAD files are being uploaded leaves none of them: the next run
/// loads the table once more, numbered after the first full load, and nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_killed_midway_leaves_no_second_copy_of_its_rows() {
    let mut db = TestDb::new("reload_kill").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v INT, pad VARCHAR(200))").await;
    db.exec("INSERT INTO t SELECT seq, seq, REPEAT('x', 200) FROM seq_1_to_60000").await;
    let target = Lake::local();
    let state = state_dir();
    let small_files = ["--max-file-size", "256"];
    run_until_caught_up(state.path(), &target, &db.name, &small_files);
    let first = load_files(&target.files(&db.name, "t").await).len();
    assert!(first > 3, "{first} LOAD files");

    run_ok(binlake(state.path()).args(["reload", &format!("{}.t", db.name)]));
    db.exec("UPDATE t SET v = -v WHERE id % 1000 = 0").await;
    let mut child = caught_up_run(state.path(), &target, &format!("{}.*", db.name))
        .args(small_files)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the reload has uploaded some of its files, before it commits them.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = load_files(&target.files(&db.name, "t").await).len();
        if now >= first + 2 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the reload ended before it could be killed midway");
        assert!(std::time::Instant::now() < deadline, "the reload uploaded no files");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(load_files(&target.files(&db.name, "t").await).len() < 2 * first, "the reload had finished");

    run_until_caught_up(state.path(), &target, &db.name, &small_files);
    let files = target.files(&db.name, "t").await;
    let loads = load_files(&files);
    // The reload went on after its committed chunks: its files are numbered after the first
    // load's, and after each other (numbers of files deleted uncommitted may be skipped).
    let numbers: Vec<usize> = loads.iter().map(|n| usize::from_str_radix(&n[4..12], 16).unwrap()).collect();
    assert_eq!(numbers[..first], (1..=first).collect::<Vec<_>>(), "the first load's files: {loads:?}");
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "LOAD files numbered in order: {loads:?}");
    // The reload's rows: each source row exactly once.
    let mut ids = Vec::new();
    for key in files.iter().filter(|k| k.rsplit('/').next().is_some_and(|n| n.starts_with("LOAD"))).skip(first) {
        ids.extend(target.read(key).await.1.into_iter().map(|row| row[0].clone()));
    }
    assert_eq!(ids.len(), 60_000);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60_000, "rows repeated in the reload's LOAD files");
    assert_table_equals_source(state.path(), &target, &mut db, "t").await;
}
