//! `event_channel(event_type [, delivery_type])`: the channel of an event.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, TypeSignature, Volatility};
use sendlens_events::channel::channel_of;

use super::{DOC_SECTION, SimpleUdf, utf8};

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let types = utf8(&args[0])?;
    let delivery = args.get(1).map(utf8).transpose()?;
    let out: StringArray = (0..types.len())
        .map(|i| {
            if types.is_null(i) {
                return None;
            }
            let d = delivery
                .as_ref()
                .and_then(|d| (!d.is_null(i)).then(|| d.value(i)));
            Some(channel_of(types.value(i), d))
        })
        .collect();
    Ok(Arc::new(out))
}

/// The `event_channel` function.
pub fn udf() -> ScalarUDF {
    SimpleUdf::udf(
        "event_channel",
        Signature::one_of(
            vec![
                TypeSignature::String(1),
                TypeSignature::String(2),
            ],
            Volatility::Immutable,
        ),
        DataType::Utf8,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            "The channel of an event type: email, sms, push, voice, in_app, custom or app. `_campaign.send` and `_journey.send` serve every channel, so their delivery_type decides. The same mapping fills the `channel` column at ingest.",
            "event_channel(event_type [, delivery_type])",
        )
        .with_argument("event_type", "Pinpoint event type, e.g. '_email.open'")
        .with_argument("delivery_type", "optional attributes.delivery_type, e.g. 'GCM'")
        .with_sql_example("SELECT event_channel('_SMS.SUCCESS');            -- sms\nSELECT event_channel('_campaign.send', 'APNS');  -- push")
        .build(),
    )
}
