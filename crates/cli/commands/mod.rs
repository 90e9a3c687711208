//! One module per subcommand.

pub mod campaigns;
pub mod cluster;
pub mod demo;
pub mod functions;
pub mod generate;
pub mod ingest;
pub mod init;
pub mod maintenance;
pub mod metrics;
pub mod report;
pub mod schedule;
pub mod serve;
pub mod sql;

/// The async runtime for table I/O and queries: as many workers as cores.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Say that a command's commit stands but the facts were not rebuilt.
pub fn warn_facts(error: &Option<String>) {
    if let Some(e) = error {
        eprintln!("warning: {e}");
    }
}
