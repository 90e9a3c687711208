//! What the commits after a table version did: the data files they added,
//! or anything else, after which a reader of the old version starts over.
//!
//! sendlens only appends events (ingest) and rewrites files without
//! changing what they hold (optimize's adds and removes carry
//! `dataChange: false`; vacuum commits no file). Anything else (a delete,
//! a schema change, a log that is gone) is [`Changes::Other`].

use std::sync::Arc;

use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::logstore::get_actions;

/// The commits after one version up to another.
#[derive(Debug)]
pub enum Changes {
    /// Only appends: the data files added (paths relative to the table).
    Added(Vec<String>),
    /// Something other than appends.
    Other,
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The commits of versions `after + 1 ..= until`.
pub async fn between(table: &DeltaTable, after: u64, until: u64) -> Result<Changes> {
    let log = table.log_store();
    let mut added = Vec::new();
    for version in after + 1..=until {
        let Some(bytes) = log
            .read_commit_entry(version as _)
            .await
            .map_err(external)?
        else {
            return Ok(Changes::Other);
        };
        for action in get_actions(version as _, &bytes).map_err(external)? {
            match action {
                Action::Add(add) if add.data_change => added.push(add.path),
                Action::Add(_) | Action::CommitInfo(_) | Action::Txn(_) => {}
                Action::Remove(remove) if !remove.data_change => {}
                _ => return Ok(Changes::Other),
            }
        }
    }
    Ok(Changes::Added(added))
}

/// Register the rows of `files` (paths relative to the table, as the log
/// names them) as the table `name` of `ctx`.
pub async fn register_files(
    ctx: &SessionContext,
    table: &DeltaTable,
    files: &[String],
    name: &str,
) -> Result<()> {
    if files.is_empty() {
        return datafusion::common::plan_err!("no files to register as {name}");
    }
    // The table's store (S3, say) serves the files' URLs.
    table
        .update_datafusion_session(&ctx.state())
        .map_err(external)?;
    // Relative paths join onto a folder URL, one that ends in `/`.
    let mut root = table.table_url().clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    let urls = files
        .iter()
        .map(|path| {
            let url = root.join(path).map_err(external)?;
            ListingTableUrl::parse(url.as_str())
        })
        .collect::<Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}
