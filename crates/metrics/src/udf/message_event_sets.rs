//! `message_event_sets(event_type, channel, send_status)`: the message sets
//! of the metric catalog that one event puts its message in, as bits.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};

use super::{DOC_SECTION, SimpleUdf, utf8};
use crate::sets::event_sets;

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let types = utf8(&args[0])?;
    let channels = utf8(&args[1])?;
    let statuses = utf8(&args[2])?;
    let out: Int64Array = (0..types.len())
        .map(|i| {
            if types.is_null(i) {
                return Some(0);
            }
            let channel = if channels.is_null(i) {
                ""
            } else {
                channels.value(i)
            };
            let status = (!statuses.is_null(i)).then(|| statuses.value(i));
            Some(event_sets(types.value(i), channel, status))
        })
        .collect();
    Ok(Arc::new(out))
}

/// The `message_event_sets` function.
pub fn udf() -> ScalarUDF {
    let bits = crate::sets::NAMES
        .iter()
        .map(|(n, b, _)| format!("{b} = {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    SimpleUdf::udf(
        "message_event_sets",
        Signature::string(3, Volatility::Immutable),
        DataType::Int64,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            format!("The message sets of the metric catalog that this event puts its message in, as a bit mask ({bits}). A message's sets are bit_or over its events; message_facts is built this way."),
            "message_event_sets(event_type, channel, send_status)",
        )
        .with_argument("event_type", "event type")
        .with_argument("channel", "channel column")
        .with_argument("send_status", "send_status column (decides whether a push _campaign.send is a send)")
        .with_sql_example("SELECT message_key, bit_or(message_event_sets(event_type, channel, send_status)) & 1 <> 0 AS sent FROM events GROUP BY 1")
        .build(),
    )
}
