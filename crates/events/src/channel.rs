//! Channel of an event: the one place that maps event types and delivery
//! types onto channels, so that every view agrees.

/// Channel of a `delivery_type` attribute (`_campaign.send`, `_journey.send`).
pub fn channel_of_delivery_type(delivery_type: &str) -> &'static str {
    const CHANNELS: &[(&str, &str)] = &[
        ("EMAIL", "email"),
        ("SMS", "sms"),
        ("VOICE", "voice"),
        ("IN_APP", "in_app"),
        ("INAPP", "in_app"),
        ("GCM", "push"),
        ("APNS", "push"),
        ("APNS_SANDBOX", "push"),
        ("APNS_VOIP", "push"),
        ("APNS_VOIP_SANDBOX", "push"),
        ("ADM", "push"),
        ("BAIDU", "push"),
        ("PUSH", "push"),
    ];
    // Compared without changing case in a copy: this runs for every send.
    CHANNELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(delivery_type))
        .map_or("custom", |&(_, channel)| channel)
}

/// Channel of an event type; `delivery_type` decides for send records that
/// serve every channel.
pub fn channel_of(event_type: &str, delivery_type: Option<&str>) -> &'static str {
    let lower_prefix =
        |p: &str| event_type.len() >= p.len() && event_type[..p.len()].eq_ignore_ascii_case(p);
    if lower_prefix("_email.") {
        "email"
    } else if lower_prefix("_sms.") {
        "sms"
    } else if lower_prefix("_voice.") {
        "voice"
    } else if lower_prefix("_inapp.") || lower_prefix("_in_app.") {
        "in_app"
    } else if event_type == "_campaign.send" || event_type == "_journey.send" {
        delivery_type.map_or("custom", channel_of_delivery_type)
    } else if lower_prefix("_campaign.") || lower_prefix("_push.") {
        "push"
    } else {
        "app"
    }
}

/// Normalised event type: older streams write `_sms.success`; the metrics
/// use Pinpoint's current `_SMS.SUCCESS`.
pub fn normalize_event_type(event_type: &str) -> Option<String> {
    if event_type.len() > 5 && event_type[..5].eq_ignore_ascii_case("_sms.") {
        let upper = event_type.to_ascii_uppercase();
        (upper != event_type).then_some(upper)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels() {
        assert_eq!(channel_of("_email.open", None), "email");
        assert_eq!(channel_of("_SMS.SUCCESS", None), "sms");
        assert_eq!(channel_of("_sms.buffered", None), "sms");
        assert_eq!(channel_of("_campaign.send", Some("GCM")), "push");
        assert_eq!(channel_of("_campaign.send", Some("EMAIL")), "email");
        for (delivery_type, channel) in [
            ("apns_voip_sandbox", "push"),
            ("InApp", "in_app"),
            ("Sms", "sms"),
            ("CUSTOM", "custom"),
            ("FAX", "custom"),
            ("", "custom"),
        ] {
            assert_eq!(
                channel_of_delivery_type(delivery_type),
                channel,
                "{delivery_type}"
            );
        }
        assert_eq!(channel_of("_campaign.opened_notification", None), "push");
        assert_eq!(channel_of("_session.start", None), "app");
        assert_eq!(
            normalize_event_type("_sms.success").as_deref(),
            Some("_SMS.SUCCESS")
        );
        assert_eq!(normalize_event_type("_SMS.SUCCESS"), None);
    }
}
