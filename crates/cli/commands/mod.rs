//! One module per subcommand.

pub mod campaigns;
pub mod demo;
pub mod functions;
pub mod generate;
pub mod ingest;
pub mod init;
pub mod maintenance;
pub mod metrics;
pub mod report;
pub mod schedule;
pub mod sql;

/// The async runtime for table I/O and queries: as many workers as cores.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Rebuild the materialized message facts after the table changed, so that
/// metric queries do not recompute them.
pub fn refresh_facts(
    rt: &tokio::runtime::Runtime,
    ws: &sendlens_store::Workspace,
) -> anyhow::Result<()> {
    rt.block_on(sendlens_metrics::facts::refresh(ws))?;
    Ok(())
}

/// The same after a command whose own work is done (committed): a failure
/// is reported, not fatal, because queries stay correct without the copy.
pub fn refresh_facts_or_warn(rt: &tokio::runtime::Runtime, ws: &sendlens_store::Workspace) {
    if let Err(e) = refresh_facts(rt, ws) {
        eprintln!(
            "warning: the table is committed, but the materialized message facts could not be rebuilt ({e:#}); \
             queries stay correct and compute them from the events; run `sendlens refresh` to retry"
        );
    }
}
