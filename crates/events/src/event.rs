//! The canonical event: what one input record becomes.

use std::borrow::Cow;

/// Where a record came from, as a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    PinpointJson,
    SesJson,
    FirehoseParquet,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::PinpointJson => "pinpoint_json",
            SourceFormat::SesJson => "ses_json",
            SourceFormat::FirehoseParquet => "firehose_parquet",
        }
    }
}

/// The decoded event, with its text columns listed once: the fields, the
/// names they are stored under and their order all come from one list, in
/// the order of the schema's columns (checked against
/// [`crate::schema::COLUMNS`] by a test).
macro_rules! event {
    ($($(#[doc = $doc:literal])* $text:ident,)*) => {
        /// One decoded event. Strings borrow from the record text where they can.
        #[derive(Debug, Clone, Default)]
        pub struct Event<'a> {
            pub event_type: Cow<'a, str>,
            pub channel: &'static str,
            /// Microseconds since the Unix epoch (UTC).
            pub occurred_at: i64,
            pub sent_at: Option<i64>,
            pub campaign_id: Option<Cow<'a, str>>,
            $($(#[doc = $doc])* pub $text: Option<Cow<'a, str>>,)*
            pub message_parts: Option<i32>,
            pub price_millicents: Option<f64>,
            pub aws_account_id: Option<Cow<'a, str>>,
            pub attributes: Vec<(Cow<'a, str>, Cow<'a, str>)>,
            pub metrics: Vec<(Cow<'a, str>, f64)>,
            pub format: Option<SourceFormat>,
            /// Explicit event id of the record, when it carries one.
            pub event_id: Option<Cow<'a, str>>,
        }

        /// Names of the event's optional text fields that are columns of
        /// their own, in the schema's order (they follow campaign, type,
        /// times and channel).
        const TEXT_COLUMNS: &[&str] = &[$(stringify!($text)),*];

        impl<'a> Event<'a> {
            /// Names of the text fields that are columns of their own, in
            /// the schema's order.
            pub const TEXT_COLUMNS: &'static [&'static str] = TEXT_COLUMNS;

            /// Those fields' values, in that order.
            pub fn column_texts(&self) -> [&Option<Cow<'a, str>>; TEXT_COLUMNS.len()] {
                [$(&self.$text),*]
            }

            #[cfg(test)]
            pub(crate) fn column_texts_mut(
                &mut self,
            ) -> [&mut Option<Cow<'a, str>>; TEXT_COLUMNS.len()] {
                [$(&mut self.$text),*]
            }
        }
    };
}

event! {
    app_id,
    endpoint_id,
    run_id,
    treatment_id,
    journey_id,
    journey_activity_id,
    journey_run_id,
    send_status,
    delivery_type,
    message_key,
    message_id,
    address,
    from_address,
    subject,
    link,
    user_agent,
    ip_address,
    bounce_type,
    bounce_sub_type,
    complaint_type,
    reject_reason,
    record_status,
    iso_country_code,
    message_type,
}

impl Event<'_> {
    /// Days since the Unix epoch of `occurred_at` in UTC: the partition value.
    pub fn event_date(&self) -> i32 {
        self.occurred_at.div_euclid(86_400_000_000) as i32
    }

    /// Value of an attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}
