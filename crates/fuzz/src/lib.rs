//! Fuzz targets (the record splitter, the Pinpoint reader against serde,
//! the SES decoder, the Parquet source, the text functions and report
//! rendering): one function per target, each asserting what must hold
//! for any input (a panic is a finding).
//!
//! `fuzz/` runs them under libFuzzer (`cargo fuzz run TARGET`, coverage
//! guided); the smoke test below replays the committed corpus
//! (`fuzz/corpus/TARGET/`) and a short run of random mutations of it on
//! every `cargo test`, so CI keeps them running.

mod targets;

pub use sendlens_events::guard::quiet_guarded_panics;
pub use targets::{
    parquet_source, pinpoint_reader, report_render, ses_decoder, splitter, text_udfs,
};

/// A target: any bytes in, a panic when something that must hold does not.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/` names them.
pub const TARGETS: &[(&str, Target)] = &[
    ("splitter", splitter),
    ("pinpoint_reader", pinpoint_reader),
    ("ses_decoder", ses_decoder),
    ("parquet_source", parquet_source),
    ("text_udfs", text_udfs),
    ("report_render", report_render),
];

#[cfg(test)]
mod smoke;
