//! The sendlens workspace: configuration, the Delta Lake table of events,
//! ingest (decode → de-duplicate → write → commit), maintenance, the
//! materialized facts every commit brings up to date (whoever commits), and
//! sessions with the metric extension (`sendlens-metrics`) over a version.
//!
//! A workspace is a folder, or a prefix in object storage laid out the
//! same way (see [`remote`]):
//!
//! ```text
//! sendlens.toml        configuration (time zone, SES tag names, PII policy)
//! events/              Delta Lake table, partitioned by event_date
//! rejected/            one NDJSON file per ingest that rejected records
//! .sendlens/           salt for PII hashing and record identities, the
//!                      ingest lock, read leases, scratch files
//! ```

pub mod changes;
pub mod config;
mod dedupe;
pub mod error;
pub mod facts;
pub mod ingest;
pub mod maintenance;
pub mod objects;
pub mod readers;
pub mod rejects;
pub mod remote;
pub mod session;
pub mod sources;
pub mod table;
pub mod workspace;

pub use config::{Config, PiiConfig, SesConfig};
pub use error::{Error, Result};
pub use ingest::{IngestOptions, IngestProgress, IngestSummary, ingest};
pub use sendlens_events::{PiiPolicy, PiiScrubber};
pub use session::{
    open_session, open_session_on, register, register_events, register_on, register_on_in_zone,
    register_table, register_table_leased,
};
pub use workspace::Workspace;
