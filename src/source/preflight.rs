//! `binlake check`: everything the source must provide for replication, one line per check,
//! with the fix when it fails.

use std::collections::HashMap;
use std::fmt;

use mysql_async::prelude::*;

use crate::error::{Error, Result};
use crate::source::{Flavor, Source, flavor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{tag} {:<18} {}", self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, " -- fix: {fix}")?;
        }
        Ok(())
    }
}

fn check(name: &'static str, status: Status, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check { name, status, detail: detail.into(), fix }
}

/// Runs every check. Connection failures are errors (nothing else can be checked).
pub async fn run(source: &Source, replica_server_id: u32) -> Result<Vec<Check>> {
    let mut conn = source.connect().await?;
    let flavor = flavor(&mut conn).await?;
    let vars: HashMap<String, String> = conn
        .query::<(String, String), _>(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'log_bin', 'binlog_format', 'binlog_row_image', \
             'binlog_checksum', 'server_id', 'expire_logs_days', 'binlog_expire_logs_seconds', 'gtid_mode', 'gtid_binlog_pos', \
             'log_bin_compress')",
        )
        .await
        .map_err(|e| Error::source("reading server variables", e))?
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let var = |k: &str| vars.get(k).cloned().unwrap_or_default();
    let on_rds = conn
        .query_first::<u64, _>(
            "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'mysql' AND ROUTINE_NAME = 'rds_show_configuration'",
        )
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
        > 0;
    let config_hint = |setting: &str| {
        if on_rds {
            format!("set {setting} in the DB parameter group and reboot")
        } else {
            format!("add {setting} under [mysqld] in my.cnf and restart (or SET GLOBAL where dynamic)")
        }
    };

    let mut checks = vec![check("server", Status::Ok, format!("{} ({:?})", var("version"), flavor), None)];

    let log_bin = var("log_bin");
    checks.push(if log_bin.eq_ignore_ascii_case("ON") || log_bin == "1" {
        check("log_bin", Status::Ok, "ON", None)
    } else {
        let fix = if on_rds {
            "enable automated backups (retention >= 1 day): RDS turns the binlog on with them".to_string()
        } else {
            "start the server with --log-bin (log_bin=mysql-bin in my.cnf) and restart".to_string()
        };
        check("log_bin", Status::Fail, format!("{log_bin} (binary logging is off)"), Some(fix))
    });

    let format = var("binlog_format");
    checks.push(if format.eq_ignore_ascii_case("ROW") {
        check("binlog_format", Status::Ok, "ROW", None)
    } else {
        check(
            "binlog_format",
            Status::Fail,
            format!("{format} (binlake needs ROW: row events carry the changed rows)"),
            Some(format!("SET GLOBAL binlog_format = 'ROW'; and {}", config_hint("binlog_format=ROW"))),
        )
    });

    let image = var("binlog_row_image");
    checks.push(if image.is_empty() || image.eq_ignore_ascii_case("FULL") {
        check("binlog_row_image", Status::Ok, "FULL", None)
    } else {
        check(
            "binlog_row_image",
            Status::Fail,
            format!("{image} (binlake needs FULL: every column of every changed row)"),
            Some(format!("SET GLOBAL binlog_row_image = 'FULL'; and {}", config_hint("binlog_row_image=FULL"))),
        )
    });

    let checksum = var("binlog_checksum");
    checks.push(if checksum.is_empty() || checksum.eq_ignore_ascii_case("NONE") || checksum.eq_ignore_ascii_case("CRC32") {
        check("binlog_checksum", Status::Ok, if checksum.is_empty() { "NONE".into() } else { checksum }, None)
    } else {
        check("binlog_checksum", Status::Fail, format!("{checksum} is not supported"), Some("SET GLOBAL binlog_checksum = 'CRC32'".into()))
    });

    if var("log_bin_compress").eq_ignore_ascii_case("ON") {
        checks.push(check(
            "log_bin_compress",
            Status::Fail,
            "ON (compressed binlog events are not supported)",
            Some(format!("SET GLOBAL log_bin_compress = OFF; and {}", config_hint("log_bin_compress=OFF"))),
        ));
    }

    let server_id: u64 = var("server_id").parse().unwrap_or(0);
    checks.push(if server_id == 0 {
        check("server_id", Status::Fail, "0 (a server without server_id cannot have replicas)", Some(config_hint("server_id=1")))
    } else if server_id == replica_server_id as u64 {
        check(
            "server_id",
            Status::Fail,
            format!("the source and binlake both use server_id {server_id}"),
            Some("give binlake another --server-id (unique among the source's replicas)".into()),
        )
    } else {
        check("server_id", Status::Ok, format!("source {server_id}, binlake replica {replica_server_id}"), None)
    });

    checks.push(privileges(&mut conn, flavor).await?);
    checks.push(retention(&mut conn, &vars, on_rds).await);

    checks.push(match flavor {
        Flavor::MariaDb => check("gtid", Status::Ok, format!("MariaDB GTIDs, gtid_binlog_pos = '{}'", var("gtid_binlog_pos")), None),
        Flavor::MySql => {
            let mode = var("gtid_mode");
            check(
                "gtid",
                Status::Ok,
                format!(
                    "gtid_mode = {} (binlake positions by binlog file and offset either way)",
                    if mode.is_empty() { "OFF".into() } else { mode }
                ),
                None,
            )
        }
    });
    Ok(checks)
}

async fn privileges(conn: &mut mysql_async::Conn, flavor: Flavor) -> Result<Check> {
    let grants: Vec<String> = conn.query("SHOW GRANTS FOR CURRENT_USER()").await.map_err(|e| Error::source("reading privileges", e))?;
    let text = grants.join("\n").to_ascii_uppercase();
    let global = |p: &str| text.lines().any(|l| l.contains(" ON *.* ") && (l.contains(p) || l.contains("ALL PRIVILEGES")));
    let mut missing = Vec::new();
    if !global("REPLICATION SLAVE") {
        missing.push("REPLICATION SLAVE");
    }
    if !(global("REPLICATION CLIENT") || global("BINLOG MONITOR") || global("SUPER")) {
        missing.push("REPLICATION CLIENT");
    }
    if !(global("SELECT") || text.contains("GRANT SELECT") || text.contains("ALL PRIVILEGES ON `")) {
        missing.push("SELECT");
    }
    // MySQL reports no snapshot position: binlake locks the tables for a moment to read one.
    if flavor == Flavor::MySql && !(global("LOCK TABLES") || text.contains("LOCK TABLES ON `") || text.contains("ALL PRIVILEGES ON `")) {
        missing.push("LOCK TABLES");
    }
    Ok(if missing.is_empty() {
        check(
            "privileges",
            Status::Ok,
            if flavor == Flavor::MySql {
                "REPLICATION SLAVE, REPLICATION CLIENT, SELECT, LOCK TABLES"
            } else {
                "REPLICATION SLAVE, REPLICATION CLIENT, SELECT"
            },
            None,
        )
    } else {
        check(
            "privileges",
            Status::Fail,
            format!("missing {}", missing.join(", ")),
            Some(format!("GRANT {} ON *.* TO <binlake user>", missing.join(", "))),
        )
    })
}

async fn retention(conn: &mut mysql_async::Conn, vars: &HashMap<String, String>, on_rds: bool) -> Check {
    const DAY: u64 = 86_400;
    if on_rds {
        let hours: Option<u64> = conn
            .query::<mysql_async::Row, _>("CALL mysql.rds_show_configuration")
            .await
            .ok()
            .and_then(|rows| {
                rows.into_iter().find_map(|r| {
                    let name: Option<String> = r.get(0);
                    (name.as_deref() == Some("binlog retention hours")).then(|| r.get::<Option<String>, _>(1).flatten()).flatten()
                })
            })
            .and_then(|v| v.parse().ok());
        return match hours {
            Some(h) if h >= 24 => check("binlog_retention", Status::Ok, format!("{h} hours (RDS)"), None),
            other => check(
                "binlog_retention",
                Status::Fail,
                format!(
                    "{} on RDS: the binlog may be purged within minutes",
                    other.map(|h| format!("{h} hours")).unwrap_or_else(|| "NULL".into())
                ),
                Some("CALL mysql.rds_set_configuration('binlog retention hours', 24)".into()),
            ),
        };
    }
    let seconds: u64 = vars.get("binlog_expire_logs_seconds").and_then(|v| v.parse().ok()).unwrap_or(0);
    let days: f64 = vars.get("expire_logs_days").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let effective = if seconds > 0 { seconds } else { (days * DAY as f64) as u64 };
    if effective == 0 {
        check("binlog_retention", Status::Ok, "binlogs are never purged automatically", None)
    } else if effective < DAY {
        check(
            "binlog_retention",
            Status::Warn,
            format!("{} hours: a binlake outage longer than that forces a full re-snapshot", effective / 3600),
            Some("SET GLOBAL binlog_expire_logs_seconds = 604800 (7 days)".into()),
        )
    } else {
        check("binlog_retention", Status::Ok, format!("{:.1} days", effective as f64 / DAY as f64), None)
    }
}
