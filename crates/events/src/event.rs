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

/// One decoded event. Strings borrow from the record text where they can.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub event_type: Cow<'a, str>,
    pub channel: &'static str,
    /// Microseconds since the Unix epoch (UTC).
    pub occurred_at: i64,
    pub sent_at: Option<i64>,
    pub app_id: Option<Cow<'a, str>>,
    pub endpoint_id: Option<Cow<'a, str>>,
    pub campaign_id: Option<Cow<'a, str>>,
    pub run_id: Option<Cow<'a, str>>,
    pub treatment_id: Option<Cow<'a, str>>,
    pub journey_id: Option<Cow<'a, str>>,
    pub journey_activity_id: Option<Cow<'a, str>>,
    pub journey_run_id: Option<Cow<'a, str>>,
    pub send_status: Option<Cow<'a, str>>,
    pub delivery_type: Option<Cow<'a, str>>,
    pub message_key: Option<Cow<'a, str>>,
    pub message_id: Option<Cow<'a, str>>,
    pub address: Option<Cow<'a, str>>,
    pub from_address: Option<Cow<'a, str>>,
    pub subject: Option<Cow<'a, str>>,
    pub link: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub ip_address: Option<Cow<'a, str>>,
    pub bounce_type: Option<Cow<'a, str>>,
    pub bounce_sub_type: Option<Cow<'a, str>>,
    pub complaint_type: Option<Cow<'a, str>>,
    pub reject_reason: Option<Cow<'a, str>>,
    pub record_status: Option<Cow<'a, str>>,
    pub iso_country_code: Option<Cow<'a, str>>,
    pub message_type: Option<Cow<'a, str>>,
    pub message_parts: Option<i32>,
    pub price_millicents: Option<f64>,
    pub aws_account_id: Option<Cow<'a, str>>,
    pub attributes: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub metrics: Vec<(Cow<'a, str>, f64)>,
    pub format: Option<SourceFormat>,
    /// Explicit event id of the record, when it carries one.
    pub event_id: Option<Cow<'a, str>>,
}

impl<'a> Event<'a> {
    /// The optional text fields that are columns of their own, in the
    /// schema's order (they follow campaign, type, times and channel).
    pub fn column_texts(&self) -> [&Option<Cow<'a, str>>; 24] {
        [
            &self.app_id,
            &self.endpoint_id,
            &self.run_id,
            &self.treatment_id,
            &self.journey_id,
            &self.journey_activity_id,
            &self.journey_run_id,
            &self.send_status,
            &self.delivery_type,
            &self.message_key,
            &self.message_id,
            &self.address,
            &self.from_address,
            &self.subject,
            &self.link,
            &self.user_agent,
            &self.ip_address,
            &self.bounce_type,
            &self.bounce_sub_type,
            &self.complaint_type,
            &self.reject_reason,
            &self.record_status,
            &self.iso_country_code,
            &self.message_type,
        ]
    }

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
