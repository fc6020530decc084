//! Bad input gets a clear error that names the problem and the fix.

use crate::common::*;

fn output(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn check_passes_on_a_ready_server() {
    let state = state_dir();
    let (ok, text) = output(binlake(state.path()).args(["check", "--source", &mysql_url()]));
    assert!(ok, "{text}");
    for line in [
        "ok   log_bin",
        "ok   binlog_format      ROW",
        "ok   binlog_row_image",
        "ok   privileges",
        "ok   server_id",
        "ok   gtid",
        "all checks passed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn check_names_statement_format_and_its_fix() {
    let state = state_dir();
    let (ok, text) = output(binlake(state.path()).args(["check", "--source", &statement_mysql_url()]));
    assert!(!ok);
    assert!(text.contains("FAIL binlog_format      STATEMENT"), "{text}");
    assert!(text.contains("SET GLOBAL binlog_format = 'ROW'"), "{text}");
}

#[test]
fn run_refuses_a_statement_format_server() {
    let state = state_dir();
    let lake = Lake::local();
    let (ok, text) =
        output(binlake(state.path()).args(["run", "--source", &statement_mysql_url(), "--target", &lake.url, "--until", "caught-up"]));
    assert!(!ok);
    assert!(text.contains("not ready for replication") && text.contains("binlog_format"), "{text}");
}

#[test]
fn check_refuses_the_source_server_id() {
    let state = state_dir();
    let (ok, text) = output(binlake(state.path()).args(["check", "--source", &mysql_url(), "--server-id", "1"]));
    assert!(!ok);
    assert!(text.contains("FAIL server_id") && text.contains("--server-id"), "{text}");
}

#[test]
fn wrong_password() {
    let state = state_dir();
    let url = mysql_url().replace("binlake:binlake@", "binlake:wrong@");
    let (ok, text) = output(binlake(state.path()).args(["check", "--source", &url]));
    assert!(!ok);
    assert!(text.contains("Access denied") && text.contains("check the user and password"), "{text}");
    assert!(!text.contains("wrong"), "the password leaked into the message: {text}");
}

#[test]
fn unreachable_host() {
    let state = state_dir();
    let (ok, text) = output(binlake(state.path()).args(["check", "--source", "mysql://binlake:binlake@127.0.0.1:1"]));
    assert!(!ok);
    assert!(text.contains("connecting to mysql://binlake:***@127.0.0.1:1") && text.contains("is the server running"), "{text}");
}

#[test]
fn missing_bucket() {
    let state = state_dir();
    let (ok, text) = output(binlake(state.path()).args([
        "run",
        "--source",
        &mysql_url(),
        "--target",
        "s3://no-such-bucket-binlake/x",
        "--until",
        "caught-up",
        "--tables",
        "nothing.here",
    ]));
    assert!(!ok);
    assert!(text.contains("cannot list s3://no-such-bucket-binlake/x") && text.contains("does the bucket exist"), "{text}");
}

#[test]
fn a_file_that_is_no_state_store_is_named_with_the_way_out() {
    let state = state_dir();
    std::fs::write(state.path().join("state.db"), "not a database, but a file someone put there\n").unwrap();
    let (ok, text) = output(binlake(state.path()).arg("status"));
    assert!(!ok);
    assert!(text.contains("not a binlake state store") && text.contains("point --state at the file binlake wrote"), "{text}");
    assert_eq!(text.matches("not a database").count(), 1, "the cause once:\n{text}");
}

#[test]
fn unknown_config_key() {
    let state = state_dir();
    let config = state.path().join("binlake.toml");
    std::fs::write(&config, "source = 'mysql://a@b'\ntarget = '/tmp/x'\ncdc-max-batch-intervall = 5\n").unwrap();
    let (ok, text) = output(binlake(state.path()).args(["run", "--config"]).arg(&config));
    assert!(!ok);
    assert!(text.contains("unknown field `cdc-max-batch-intervall`"), "{text}");
}

/// `binlake_tls` is created `REQUIRE SSL` by scripts/services.sh.
#[test]
fn tls_when_asked_for() {
    let state = state_dir();
    let plain = mysql_url().replace("binlake:binlake@", "binlake_tls:binlake@");
    let (ok, text) = output(binlake(state.path()).args(["check", "--source", &plain]));
    assert!(!ok);
    assert!(text.contains("Access denied") && text.contains("?require_ssl=true"), "{text}");
    assert_eq!(text.matches("Access denied").count(), 1, "the cause is printed once: {text}");

    let tls = format!("{plain}?require_ssl=true&verify_ca=false");
    let (ok, text) = output(binlake(state.path()).args(["check", "--source", &tls]));
    assert!(ok, "{text}");
    // the whole pipeline over TLS: snapshot and binlog stream
    let lake = Lake::local();
    let (ok, text) = output(binlake(state.path()).args([
        "run",
        "--source",
        &tls,
        "--target",
        &lake.url,
        "--tables",
        "mysql.nothing",
        "--until",
        "caught-up",
    ]));
    assert!(ok && text.contains("caught up"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn xa_transactions_on_replicated_tables_stop_with_a_message() {
    let mut db = TestDb::new("xa").await;
    db.exec("CREATE TABLE kept (id INT PRIMARY KEY)").await;
    db.exec("CREATE TABLE other (id INT PRIMARY KEY)").await;
    let lake = Lake::local();
    let state = state_dir();
    let run = |tables: &str| output(&mut caught_up_run(state.path(), &lake, tables));
    let kept = format!("{}.kept", db.name);
    let (ok, text) = run(&kept);
    assert!(ok, "{text}");
    // an XA transaction on a table that is not replicated passes
    for sql in ["XA START 'a'", "INSERT INTO other VALUES (1)", "XA END 'a'", "XA PREPARE 'a'", "XA COMMIT 'a'"] {
        db.exec(sql).await;
    }
    db.exec("INSERT INTO kept VALUES (1)").await;
    let (ok, text) = run(&kept);
    assert!(ok, "{text}");
    assert_eq!(lake.changes(&db.name, "kept").await, vec![vec!["I".to_string(), "1".to_string()]]);
    // one on a replicated table stops binlake instead of guessing
    for sql in ["XA START 'b'", "INSERT INTO kept VALUES (2)", "XA END 'b'", "XA PREPARE 'b'", "XA COMMIT 'b'"] {
        db.exec(sql).await;
    }
    let (ok, text) = run(&kept);
    assert!(!ok);
    assert!(text.contains("XA transactions are not supported"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_charsets_stop_with_a_message() {
    let lake = Lake::local();
    let mut other = TestDb::new("charset").await;
    other.exec("CREATE TABLE g (id INT PRIMARY KEY, name VARCHAR(10) CHARACTER SET gbk)").await;
    let state = state_dir();
    let (ok, text) = output(&mut caught_up_run(state.path(), &lake, &format!("{}.*", other.name)));
    assert!(!ok);
    assert!(text.contains("character set gbk is not supported"), "{text}");
}

#[test]
fn plain_http_s3_endpoints_only_when_asked() {
    let state = state_dir();
    let lake = Lake::s3("http", "");
    let mut cmd = binlake(state.path());
    cmd.env_remove("AWS_ALLOW_HTTP").args([
        "run",
        "--source",
        &mysql_url(),
        "--target",
        &lake.url,
        "--until",
        "caught-up",
        "--tables",
        "none.none",
    ]);
    let (ok, text) = output(&mut cmd);
    assert!(!ok);
    assert!(text.contains("is plain http") && text.contains("AWS_ALLOW_HTTP=true"), "{text}");
    let (ok, text) = output(binlake(state.path()).args([
        "run",
        "--source",
        &mysql_url(),
        "--target",
        &lake.url,
        "--until",
        "caught-up",
        "--tables",
        "none.none",
    ]));
    assert!(ok, "{text}");
}

/// A new state on a target that already holds another state's files of a table would write a
/// full load beside that state's CDC files (and over its LOAD00000001): refused, with the way
/// out, which then leaves the lake exact.
#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_state_on_files_another_state_wrote_is_refused() {
    let mut db = TestDb::new("foreign").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await;
    db.exec("INSERT INTO t VALUES (1, 1), (2, 2)").await;
    let lake = Lake::local();
    let first = state_dir();
    run_until_caught_up(first.path(), &lake, &db.name, &[]);
    db.exec("UPDATE t SET v = 20 WHERE id = 2").await;
    db.exec("DELETE FROM t WHERE id = 1").await;
    run_until_caught_up(first.path(), &lake, &db.name, &[]);
    db.exec("INSERT INTO t VALUES (1, 10), (3, 3)").await;
    let before = lake.files(&db.name, "t").await;
    assert!(before.len() >= 2, "{before:?}");

    let second = state_dir();
    let (ok, text) = output(&mut caught_up_run(second.path(), &lake, &format!("{}.*", db.name)));
    assert!(!ok, "{text}");
    assert!(text.contains(&format!("{}.t", db.name)) && text.contains("--clear-foreign-files"), "{text}");
    assert_eq!(lake.files(&db.name, "t").await, before, "nothing was written or removed");

    // The way out the message names.
    let log = run_until_caught_up(second.path(), &lake, &db.name, &["--clear-foreign-files"]);
    assert!(log.contains("removed files another state wrote"), "{log}");
    let files = lake.files(&db.name, "t").await;
    assert!(files.len() == 1 && files[0].ends_with("LOAD00000001.parquet"), "{files:?}");
    assert_eq!(replay(&lake.changes(&db.name, "t").await, &[0]), keyed(db.rows("t").await, &[0]));
    // Once this state has written them, they are its own.
    run_until_caught_up(second.path(), &lake, &db.name, &[]);
}
