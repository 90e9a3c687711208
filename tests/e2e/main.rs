//! End-to-end tests: drive the `sendlens` binary the way users do.

mod support;

mod cdp;

mod cluster;
mod ingest;
mod integrity;
mod library;
mod maintenance;
mod malformed;
mod metrics;
mod parquet_input;
mod pii;
mod reports;
mod s3;
mod serve;
mod shell;
mod slt;
