use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use binlake::config::{MergeCommandArgs, RunArgs, SourceArgs, StateArgs, VerifyArgs};
use binlake::source::preflight::{self, Status};
use binlake::state::{Phase, StateStore, Store};
use clap::{Parser, Subcommand, ValueEnum};

/// binlake replicates MySQL and MariaDB tables to S3 or a local directory in exactly the
/// layout AWS DMS writes (LOAD and CDC Parquet files with an `Op` column): a consistent full
/// load, then the ROW binlog, exactly once, resuming after any restart.
#[derive(Parser)]
#[command(name = "binlake", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log format on stderr.
    #[arg(long, global = true, env = "BINLAKE_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check that the source is ready for replication: one line per requirement, with the fix
    /// for each failure. Exits 1 when any check fails.
    Check {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Full load of the selected tables, then stream the binlog into CDC files.
    Run(Box<RunArgs>),
    /// Keep current-state Delta tables of the LOAD and CDC files in a folder, written by binlake
    /// or by AWS DMS (`run --lake` does the same inside the pipeline).
    Merge(Box<MergeCommandArgs>),
    /// Compare every selected source table with its merged table (row count, checksum of all
    /// columns) and print the keys that differ. Exits 0 only when all are equal.
    Verify(Box<VerifyArgs>),
    /// Load tables anew: a full load in chunks replaces what their files held (the new LOAD
    /// files are numbered after the old ones, and each merged table is replaced once) while the
    /// other tables keep streaming. A running binlake on the same state picks the request up
    /// within seconds; else the next run does. The way out when a table changed in a way
    /// binlake could not follow, or (with --all) when the binlog was purged.
    Reload {
        /// The tables, as db.table.
        #[arg(required_unless_present = "all", conflicts_with = "all", value_name = "DB.TABLE")]
        tables: Vec<String>,
        /// Every table of the state store; streaming resumes at the new snapshot, so a
        /// checkpoint whose binlog was purged no longer matters.
        #[arg(long)]
        all: bool,
        /// Same as for `run`: the state URL is read from it when not given.
        #[arg(long, env = "BINLAKE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Per-table progress and the last committed position, from the state store.
    Status {
        /// Same as for `run`: the state URL is read from it when not given.
        #[arg(long, env = "BINLAKE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // object_store and mysql_async bring different rustls providers; pick one for all.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // mysql_async keeps up to 128 spare packet buffers of up to this size (4 MiB by default):
    // after rows of many megabytes, that is memory held for nothing.
    if std::env::var_os("MYSQL_ASYNC_BUFFER_SIZE_CAP").is_none() {
        // SAFETY: no other thread exists yet; mysql_async reads it when first used.
        unsafe { std::env::set_var("MYSQL_ASYNC_BUFFER_SIZE_CAP", "65536") };
    }
    // glibc raises its mmap threshold each time a large block is freed, until buffers of many
    // megabytes (row groups, upload parts) come from the heaps, which return memory only from
    // their top: resident memory then grew with the length of a LOAD file (a 10M-row load with
    // 4 workers peaked at 146 MB, 116 MB with the threshold fixed at 128 KiB).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: no other thread exists yet; mallopt only changes the allocator's policy.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BINLAKE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,buoyant_kernel=warn,deltalake_core=warn"));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if terminal && matches!(format, LogFormat::Text) {
        binlake::progress::enable_bars();
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| binlake::progress::LogWriter).with_ansi(terminal);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { source, state } => {
            let (source, server_id) = source.resolve_for_check(&state)?;
            let checks = preflight::run(&source, server_id).await?;
            for check in &checks {
                println!("{check}");
            }
            let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
            if failed > 0 {
                println!("{failed} check(s) failed: {} is not ready for binlake", source.display);
                return Ok(ExitCode::FAILURE);
            }
            println!("all checks passed: {} is ready for binlake", source.display);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            let (settings, state_url) = args.resolve()?;
            if let Some(listen) = settings.metrics_listen {
                binlake::metrics::install(listen)?;
                tracing::info!(%listen, "serving Prometheus metrics at /metrics.");
            }
            let store = Store::open(&state_url).await.with_context(|| format!("opening the state store {state_url}"))?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stop requested; finishing the current transaction, then flushing.");
                let _ = stop_tx.send(true);
                // Keep the sender alive so receivers do not see a closed channel.
                std::future::pending::<()>().await;
            });
            binlake::pipeline::run(settings, store, stop_rx).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge(args) => {
            let (command, state_url) = args.resolve()?;
            let store = Store::open(&state_url).await.with_context(|| format!("opening the state store {state_url}"))?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stop requested; finishing the current merge.");
                let _ = stop_tx.send(true);
                std::future::pending::<()>().await;
            });
            binlake::merge::supervisor::run_standalone(command, store, stop_rx).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => {
            let equal = binlake::merge::verify::run(&args.resolve()?).await?;
            Ok(if equal { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Reload { tables, all, config, state } => {
            let state_url = state.resolve_alone(config.as_deref())?;
            let store = Store::open(&state_url).await.with_context(|| format!("opening the state store {state_url}"))?;
            let known: Vec<_> = store.tables().await?.into_iter().filter(|t| t.phase != Phase::Dropped).map(|t| t.id).collect();
            let requested = if all {
                known
            } else {
                let mut requested = Vec::new();
                for name in &tables {
                    let id = name
                        .split_once('.')
                        .map(|(db, t)| binlake::schema::TableId::new(db, t))
                        .ok_or_else(|| anyhow::anyhow!("{name:?}: give tables as db.table"))?;
                    if !known.contains(&id) {
                        anyhow::bail!("{id} is not a table of this state store (see `binlake status`)");
                    }
                    requested.push(id);
                }
                requested
            };
            // A request, not a change: the binlake running on this state takes it.
            for id in &requested {
                store.request_reload(id).await?;
            }
            let names: Vec<String> = requested.iter().map(|t| t.to_string()).collect();
            println!(
                "{} table(s) will be loaded anew (a binlake running on this state starts within seconds, else the next run does): {}",
                names.len(),
                names.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { config, state } => {
            let state_url = state.resolve_alone(config.as_deref())?;
            let store = Store::open(&state_url).await.with_context(|| format!("opening the state store {state_url}"))?;
            match store.checkpoint().await? {
                Some(c) => println!("checkpoint: {} gtid={} committed_at={}", c.position, c.gtid.as_deref().unwrap_or("-"), c.committed_at),
                None => println!("checkpoint: none (streaming has not committed yet)"),
            }
            println!(
                "{:<40} {:<10} {:>12} {:>6} {:>8} {:>12}  {:<28} last_commit",
                "table", "phase", "rows_loaded", "LOAD", "CDC", "cdc_rows", "last_position"
            );
            for t in store.tables().await? {
                println!(
                    "{:<40} {:<10} {:>12} {:>6} {:>8} {:>12}  {:<28} {}",
                    t.id.to_string(),
                    t.phase,
                    t.rows_loaded,
                    t.load_files,
                    t.cdc_files,
                    t.cdc_rows,
                    t.last_position.map_or_else(|| "-".to_string(), |p| p.to_string()),
                    t.last_commit_at.as_deref().unwrap_or("-")
                );
            }
            let loads = store.load_progress().await?;
            if !loads.is_empty() {
                println!(
                    "\n{:<40} {:>12} {:>12} {:>7} {:>9} {:>9} {:>8}  last_chunk",
                    "loading", "rows", "of_about", "chunks", "of_about", "rows/s", "eta"
                );
                for load in loads {
                    let figures = binlake::progress::Figures::of_load(&load);
                    println!(
                        "{:<40} {:>12} {:>12} {:>7} {:>9} {:>9} {:>8}  {}",
                        load.table.to_string(),
                        figures.rows,
                        load.estimated_rows.map_or_else(|| "-".to_string(), |r| r.to_string()),
                        figures.chunks,
                        load.estimated_chunks.map_or_else(|| "-".to_string(), |_| figures.chunks_expected().to_string()),
                        figures.rows_per_s.map_or_else(|| "-".to_string(), |r| (r.round() as u64).to_string()),
                        figures.eta().map_or_else(|| "-".to_string(), binlake::progress::human),
                        load.commits.last().map_or("-", |(at, _)| at.as_str())
                    );
                }
            }
            let merges = store.merges().await?;
            if !merges.is_empty() {
                println!("\n{:<40} {:>7} {:>12}  {:<28} merged table", "merged", "merges", "input_files", "last_merge");
                for m in merges {
                    println!(
                        "{:<40} {:>7} {:>12}  {:<28} {}",
                        m.table.to_string(),
                        m.merges,
                        m.input_files,
                        m.last_merge_at.as_deref().unwrap_or("-"),
                        m.url
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
