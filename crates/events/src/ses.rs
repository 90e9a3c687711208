//! Amazon SES event publishing records, mapped onto Pinpoint's event types.

use std::borrow::Cow;

use crate::decode::{DecodeError, DecodeOptions, non_empty};
use crate::event::{Event, SourceFormat};
use crate::wire::WireRecord;

/// Pinpoint event type of an SES `eventType` (or `notificationType`).
pub(crate) fn event_type_of(ses_type: &str, bounce_type: Option<&str>) -> Option<&'static str> {
    Some(match ses_type {
        "Send" => "_email.send",
        "Delivery" => "_email.delivered",
        "Bounce" => match bounce_type {
            Some("Permanent") => "_email.hardbounce",
            _ => "_email.softbounce",
        },
        "Complaint" => "_email.complaint",
        "Reject" => "_email.rejected",
        "Open" => "_email.open",
        "Click" => "_email.click",
        "Rendering Failure" | "RenderingFailure" => "_email.rendering_failure",
        "DeliveryDelay" => "_email.delivery_delay",
        "Subscription" => "_email.unsubscribe",
        _ => return None,
    })
}

pub(crate) fn to_event<'a>(
    w: WireRecord<'a>,
    opts: &DecodeOptions,
) -> Result<Event<'a>, DecodeError> {
    let ses_type = w
        .ses_event_type
        .or(w.ses_notification_type)
        .expect("checked by the caller")
        .0;
    let mail = w
        .mail
        .ok_or_else(|| DecodeError(format!("SES {ses_type} record has no \"mail\" object")))?;
    let bounce_type = w.bounce.as_ref().and_then(|b| b.bounce_type.as_ref());
    let event_type = event_type_of(&ses_type, bounce_type.map(|b| b.0.as_ref()))
        .ok_or_else(|| DecodeError(format!("unknown SES eventType {ses_type:?}")))?;
    let sent_at = mail.timestamp.map(|t| t.0);

    let own_ts = match event_type {
        "_email.delivered" => w.delivery.as_ref().and_then(|x| x.timestamp),
        "_email.send" => w.send.as_ref().and_then(|x| x.timestamp),
        "_email.hardbounce" | "_email.softbounce" => w.bounce.as_ref().and_then(|x| x.timestamp),
        "_email.complaint" => w.complaint.as_ref().and_then(|x| x.timestamp),
        "_email.open" => w.open.as_ref().and_then(|x| x.timestamp),
        "_email.click" => w.click.as_ref().and_then(|x| x.timestamp),
        "_email.delivery_delay" => w.delivery_delay.as_ref().and_then(|x| x.timestamp),
        "_email.unsubscribe" => w.subscription.as_ref().and_then(|x| x.timestamp),
        _ => None,
    };
    let occurred_at = own_ts.map(|t| t.0).or(sent_at).ok_or_else(|| {
        DecodeError(format!(
            "SES {ses_type} record has no timestamp (neither the event's nor mail.timestamp)"
        ))
    })?;

    let attributes: Vec<(Cow<'a, str>, Cow<'a, str>)> = mail.tags.map(|t| t.0).unwrap_or_default();
    let tag = |name: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let recipient = mail
        .destination
        .and_then(|d| d.into_iter().next())
        .map(|s| s.0)
        .filter(|s| !s.is_empty());
    // A bounce or complaint names the recipient it is about.
    let affected = w
        .bounce
        .as_ref()
        .and_then(|b| b.recipients.as_ref())
        .or(w.complaint.as_ref().and_then(|c| c.recipients.as_ref()))
        .and_then(|r| r.first())
        .and_then(|r| r.email_address.clone())
        .map(|s| s.0);
    let address = affected.or(recipient);

    let mut e = Event {
        event_type: Cow::Borrowed(event_type),
        channel: "email",
        occurred_at,
        sent_at,
        format: Some(SourceFormat::SesJson),
        campaign_id: tag(&opts.campaign_tag),
        run_id: tag(&opts.run_tag),
        treatment_id: tag(&opts.treatment_tag),
        journey_id: tag("journey_id"),
        journey_activity_id: tag("journey_activity_id"),
        app_id: tag("application_id"),
        endpoint_id: tag("endpoint_id").or_else(|| address.clone()),
        delivery_type: Some(Cow::Borrowed("EMAIL")),
        message_key: non_empty(mail.message_id.clone()),
        message_id: non_empty(mail.message_id),
        address,
        from_address: non_empty(mail.source),
        subject: mail.common_headers.and_then(|h| non_empty(h.subject)),
        aws_account_id: non_empty(mail.sending_account_id),
        ..Event::default()
    };
    if e.message_key.is_none() {
        return Err(DecodeError(format!(
            "SES {ses_type} record has no mail.messageId"
        )));
    }
    if let Some(x) = w.click.or(w.open) {
        e.link = non_empty(x.link);
        e.user_agent = non_empty(x.user_agent);
        e.ip_address = non_empty(x.ip_address);
    }
    if let Some(b) = w.bounce {
        e.bounce_type = non_empty(b.bounce_type);
        e.bounce_sub_type = non_empty(b.bounce_sub_type);
    }
    if let Some(c) = w.complaint {
        e.complaint_type = non_empty(c.feedback_type);
    }
    if let Some(r) = w.reject {
        e.reject_reason = non_empty(r.reason);
    }
    if let Some(f) = w.failure {
        e.reject_reason = non_empty(f.error_message);
    }
    if let Some(d) = w.delivery_delay {
        e.reject_reason = non_empty(d.delay_type);
    }
    e.attributes = attributes;
    Ok(e)
}
