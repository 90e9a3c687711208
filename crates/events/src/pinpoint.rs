//! Pinpoint event-stream records (JSON, and Firehose Parquet rendered as JSON).

use std::borrow::Cow;

use crate::channel::{channel_of, normalize_event_type};
use crate::decode::{DecodeError, non_empty};
use crate::event::{Event, SourceFormat};
use crate::wire::WireRecord;

pub(crate) fn to_event(w: WireRecord<'_>) -> Result<Event<'_>, DecodeError> {
    let raw_type = w.event_type.expect("checked by the caller").0;
    if raw_type.is_empty() {
        return Err(DecodeError("empty \"event_type\"".into()));
    }
    let event_type = match normalize_event_type(&raw_type) {
        Some(upper) => Cow::Owned(upper),
        None => raw_type,
    };
    let event_ts = w.event_timestamp.map(|t| t.0);
    let occurred_at = w
        .arrival_timestamp
        .map(|t| t.0)
        .or(event_ts)
        .ok_or_else(|| {
            DecodeError(
                "Pinpoint record has neither \"arrival_timestamp\" nor \"event_timestamp\"".into(),
            )
        })?;

    let mut e = Event {
        occurred_at,
        sent_at: event_ts,
        format: Some(SourceFormat::PinpointJson),
        app_id: w.application.and_then(|a| non_empty(a.app_id)),
        endpoint_id: w.client.and_then(|c| non_empty(c.client_id)),
        aws_account_id: non_empty(w.aws_account_id),
        event_id: non_empty(w.event_id),
        attributes: w.attributes.map(|a| a.0).unwrap_or_default(),
        metrics: w.metrics.map(|m| m.0).unwrap_or_default(),
        ..Event::default()
    };

    // Typed columns from attributes. Values are cloned Cows: borrowed ones
    // stay borrowed from the record text.
    for (k, v) in &e.attributes {
        if v.is_empty() {
            continue;
        }
        let v = Some(v.clone());
        match k.as_ref() {
            "campaign_id" => e.campaign_id = v,
            "campaign_activity_id" => e.run_id = v,
            "treatment_id" => e.treatment_id = v,
            "journey_id" => e.journey_id = v,
            "journey_activity_id" => e.journey_activity_id = v,
            "journey_run_id" => e.journey_run_id = v,
            "campaign_send_status" | "journey_send_status" => e.send_status = v,
            "delivery_type" => e.delivery_type = v,
            "message_id" => e.message_id = v,
            "destination_phone_number" => e.address = v,
            "record_status" => e.record_status = v,
            "iso_country_code" => e.iso_country_code = v,
            "message_type" => e.message_type = v,
            "number_of_message_parts" => {
                e.message_parts = Some(v.as_deref().unwrap_or_default().parse().map_err(|_| {
                    DecodeError(format!(
                        "attribute \"number_of_message_parts\" is not a whole number: {:?}",
                        v.as_deref().unwrap_or_default()
                    ))
                })?)
            }
            _ => {}
        }
    }
    e.price_millicents = e
        .metrics
        .iter()
        .find(|(k, _)| k == "price_in_millicents_usd")
        .map(|(_, v)| *v);

    if let Some(mail_event) = w
        .facets
        .and_then(|f| f.email_channel)
        .and_then(|c| c.mail_event)
    {
        if let Some(mail) = mail_event.mail {
            e.message_id = non_empty(mail.message_id).or(e.message_id);
            e.from_address = non_empty(mail.from_address);
            e.address = mail
                .destination
                .and_then(|d| d.into_iter().next())
                .map(|s| s.0)
                .filter(|s| !s.is_empty())
                .or(e.address);
            e.subject = mail.common_headers.and_then(|h| non_empty(h.subject));
            if e.sent_at.is_none() {
                e.sent_at = mail.message_send_timestamp.map(|t| t.0);
            }
        }
        if let Some(x) = mail_event
            .click
            .or(mail_event.open)
            .or(mail_event.unsubscribe)
        {
            e.link = non_empty(x.link);
            e.user_agent = non_empty(x.user_agent);
            e.ip_address = non_empty(x.ip_address);
        }
        if let Some(b) = mail_event.bounce {
            e.bounce_type = non_empty(b.bounce_type);
            e.bounce_sub_type = non_empty(b.bounce_sub_type);
        }
        if let Some(c) = mail_event.complaint {
            e.complaint_type = non_empty(c.complaint_feedback_type);
        }
        if let Some(r) = mail_event.reject {
            e.reject_reason = non_empty(r.reason);
        }
    }

    e.channel = channel_of(&event_type, e.delivery_type.as_deref());
    e.message_key = message_key(&e, &event_type);
    e.event_type = event_type;
    Ok(e)
}

/// The message key of the metric catalog: email message id; SMS
/// `attributes.message_id`; push and custom `activity:endpoint`.
fn message_key<'a>(e: &Event<'a>, event_type: &str) -> Option<Cow<'a, str>> {
    match e.channel {
        "email" | "sms" => e.message_id.clone(),
        "app" => None,
        _ => {
            let activity = if event_type == "_journey.send" {
                e.journey_activity_id.as_ref()
            } else {
                e.run_id.as_ref().or(e.journey_activity_id.as_ref())
            }?;
            let endpoint = e.endpoint_id.as_ref()?;
            Some(Cow::Owned(format!("{activity}:{endpoint}")))
        }
    }
}
