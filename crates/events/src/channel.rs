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
    let lower_prefix = |p: &str| has_prefix_ignore_case(event_type, p);
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
    if event_type.len() > 5 && has_prefix_ignore_case(event_type, "_sms.") {
        let upper = event_type.to_ascii_uppercase();
        (upper != event_type).then_some(upper)
    } else {
        None
    }
}

/// Whether `text` starts with the ASCII `prefix`, ignoring ASCII case.
/// Compared as bytes: a text may hold a multi-byte character where the
/// prefix ends, and slicing the `str` there would panic.
fn has_prefix_ignore_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
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

    #[test]
    fn multi_byte_characters_where_a_prefix_ends() {
        // Each of these once sliced a `str` inside a character and panicked.
        for t in [
            "_smsé",
            "_sm\u{e9}x",
            "é",
            "_emailé",
            "_voicé.x",
            "_in_aé",
            "_sms.é",
        ] {
            let _ = channel_of(t, None);
            let _ = normalize_event_type(t);
        }
        assert_eq!(channel_of("_smsé", None), "app");
        assert_eq!(channel_of("_sms.é", None), "sms");
        assert_eq!(normalize_event_type("_sms.é").as_deref(), Some("_SMS.é"));
    }
}
