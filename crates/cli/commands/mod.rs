//! One module per subcommand.

pub mod campaigns;
pub mod demo;
pub mod functions;
pub mod generate;
pub mod ingest;
pub mod init;
pub mod maintenance;
pub mod metrics;
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
