//! One record's text → one [`Event`], whatever its format.

use std::borrow::Cow;

use crate::event::{Event, SourceFormat};
use crate::wire::WireRecord;
use crate::{pinpoint, pinpoint_reader, ses};

/// Options that change how records map onto events.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// SES message tag that carries the campaign id.
    pub campaign_tag: String,
    /// SES message tag that carries the campaign run (activity) id.
    pub run_tag: String,
    /// SES message tag that carries the treatment id.
    pub treatment_tag: String,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            campaign_tag: "campaign_id".into(),
            run_tag: "campaign_activity_id".into(),
            treatment_tag: "treatment_id".into(),
        }
    }
}

/// Why a record could not be decoded. The text is shown to users in the
/// rejected-records file, so it says what is wrong with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl DecodeError {
    /// A whole JSON value followed by more data: several records written
    /// back to back on one line, to be split and decoded one by one.
    pub fn is_trailing_data(&self) -> bool {
        self.0.starts_with(TRAILING)
    }
}

const TRAILING: &str = "more than one JSON value";

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Decode one JSON record. `text` must be the record alone (no trailing data).
pub fn decode_record<'a>(
    text: &'a str,
    format_hint: Option<SourceFormat>,
    opts: &DecodeOptions,
) -> Result<Event<'a>, DecodeError> {
    // Most records take the specialised reader; the rest, and every broken
    // one, serde (which says what is wrong).
    let fast = pinpoint_reader::read(text).filter(|w| w.event_type.is_some());
    let wire: WireRecord<'a> = match fast {
        Some(wire) => wire,
        None => serde_json::from_str(text).map_err(serde_error)?,
    };
    let mut event = if wire.event_type.is_some() {
        pinpoint::to_event(wire)?
    } else if wire.ses_event_type.is_some() || wire.ses_notification_type.is_some() {
        ses::to_event(wire, opts)?
    } else {
        return Err(DecodeError(
            "unrecognised record: neither a Pinpoint event (no \"event_type\") nor an SES event \
             (no \"eventType\")"
                .into(),
        ));
    };
    if let (Some(SourceFormat::FirehoseParquet), Some(SourceFormat::PinpointJson)) =
        (format_hint, event.format)
    {
        event.format = Some(SourceFormat::FirehoseParquet);
    }
    Ok(event)
}

fn serde_error(e: serde_json::Error) -> DecodeError {
    DecodeError(
        if e.is_syntax() && e.to_string().starts_with("trailing characters") {
            format!("{TRAILING}: {e}")
        } else if e.is_eof() {
            format!("truncated JSON record: {e}")
        } else if e.is_syntax() {
            format!("not valid JSON: {e}")
        } else {
            format!("unexpected field value: {e}")
        },
    )
}

/// Empty strings carry no value; they are stored as NULL so that
/// `COUNT(DISTINCT ...)` and `IS NULL` behave.
pub(crate) fn non_empty(s: Option<crate::wire::Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(|s| s.0).filter(|s| !s.is_empty())
}
