//! Decoding of campaign event exports into sendlens's canonical event rows.
//!
//! Three inputs are understood, record by record:
//! - the Amazon Pinpoint event stream as delivered by Kinesis Data Firehose
//!   (JSON, one record per line or records concatenated with no separator),
//! - Amazon SES event publishing records (`eventType` + `mail`),
//! - Firehose's Parquet conversion of the Pinpoint stream.
//!
//! Every record becomes one [`Event`] (typed fields for what the metrics
//! need, plus the attribute map and the original text), or a [`Reject`]
//! with its position and the reason. [`EventBatchBuilder`] turns events into
//! Arrow record batches of the [`schema::event_schema`].

pub mod batch;
pub mod channel;
pub mod decode;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
mod gzip;
pub mod hash;
pub mod pii;
mod pinpoint;
mod pinpoint_reader;
pub mod scan;
pub mod schema;
mod ses;
pub mod source;
pub mod split;
mod timestamp;
mod wire;

pub use batch::EventBatchBuilder;
pub use decode::{DecodeError, DecodeOptions, decode_record};
pub use event::{Event, SourceFormat};
pub use pii::{PiiPolicy, PiiScrubber};
pub use source::{RecordSource, Reject, SourceItem, open_object, open_source};

#[cfg(test)]
mod fixture_tests;
