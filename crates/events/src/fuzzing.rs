//! Checks the fuzz targets (`crates/fuzz`) make of this crate's internals.

use crate::pinpoint;
use crate::pinpoint_reader;
use crate::wire::WireRecord;

/// Whatever the Pinpoint reader accepts, serde accepts too and makes the
/// same event of (or the same reason there is none). Panics otherwise.
pub fn reader_agrees_with_serde(text: &str) {
    let event = |w: WireRecord<'_>| format!("{:?}", pinpoint::to_event(w));
    let Some(fast) = pinpoint_reader::read(text)
        .filter(|w| w.event_type.is_some())
        .map(event)
    else {
        return;
    };
    let slow = serde_json::from_str::<WireRecord>(text)
        .ok()
        .filter(|w| w.event_type.is_some())
        .map(event);
    assert_eq!(Some(fast), slow, "the reader and serde differ on {text:?}");
}
