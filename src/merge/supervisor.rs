//! Running the merger: beside the pipeline (`binlake run --lake`) every interval and once
//! more when the pipeline ends, or alone over a folder of LOAD and CDC files
//! (`binlake merge`). Each round reads the replicated tables' schemas from the source.

use tokio::sync::watch;
use tracing::{info, warn};

use super::input::{Inputs, Listing};
use super::{MergeSettings, Merger};
use crate::error::{Error, Result};
use crate::schema::{SchemaOptions, TableFilter};
use crate::sink::settings::S3Settings;
use crate::sink::target::Target;
use crate::source::{self, Source};
use crate::state::{Lease, Store};

/// What `binlake merge` runs with.
pub struct MergeCommand {
    pub source: Source,
    /// The folder of LOAD and CDC files, as for `run --target`.
    pub target: String,
    pub filter: TableFilter,
    pub until_caught_up: bool,
    pub schema_options: SchemaOptions,
    pub merge: MergeSettings,
    /// How the folder's files are written (its DMS settings).
    pub output: S3Settings,
}

/// Where the merger learns the replicated tables' schemas.
pub(crate) struct CatalogSource {
    pub source: Source,
    pub filter: TableFilter,
    pub options: SchemaOptions,
}

async fn merge_round(merger: &mut Merger, catalog: &CatalogSource) -> Result<super::Summary> {
    let mut conn = catalog.source.connect().await?;
    let tables = source::load_catalog(&mut conn, &catalog.filter, catalog.options).await?;
    drop(conn);
    merger.merge_all(&tables).await
}

/// The merger task's outcome.
pub(crate) fn joined(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    r.unwrap_or_else(|e| Err(Error::Internal(format!("the merger task failed: {e}"))))
}

/// Merges committed files every interval, and once more when told to finish (the pipeline
/// stopped or caught up), so `--until caught-up` leaves the lake merged too.
pub(crate) async fn merge_loop(mut merger: Merger, catalog: CatalogSource, mut finish: watch::Receiver<bool>) -> Result<()> {
    loop {
        let last = tokio::select! {
            _ = tokio::time::sleep(merger.interval()) => false,
            _ = finish.changed() => true,
        };
        match merge_round(&mut merger, &catalog).await {
            Ok(_) => {}
            Err(e) if e.is_transient() && !last => warn!(error = %e, "merging failed; trying again at the next interval."),
            Err(e) => return Err(e),
        }
        if last {
            return Ok(());
        }
    }
}

/// `binlake merge`: merges a folder's files every interval until stopped, or once with
/// `--until caught-up`.
pub async fn run_standalone(command: MergeCommand, store: Store, mut stop: watch::Receiver<bool>) -> Result<()> {
    let interval = command.merge.interval;
    let target = Target::open(&command.target, &command.output)?;
    let inputs = Inputs { target, settings: command.output, sequence_column: None, listing: Listing::Folder };
    let catalog = CatalogSource { source: command.source, filter: command.filter, options: command.schema_options };
    let mut merger = Merger::new(command.merge, inputs, store.clone())?;
    let lease = Lease::acquire(&store).await?;
    let result = async {
        loop {
            let summary = merge_round(&mut merger, &catalog).await?;
            info!(tables = summary.tables, files = summary.input_files, commits = summary.commits, "merged.");
            if command.until_caught_up {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return Ok(()),
            }
        }
    }
    .await;
    lease.release().await?;
    result
}
