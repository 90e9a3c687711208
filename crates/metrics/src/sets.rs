//! The message sets of the metric catalog (`spec/metrics.md` §2), defined once.
//!
//! Every event is classified into a bit set; a message's sets are the bitwise
//! OR over its events. The SQL views reach this through the
//! `message_event_sets` scalar function and the aggregate functions call
//! [`event_sets`] directly, so both read the same table.

/// The message was sent: `_email.send`; `_SMS.BUFFERED`, `_SMS.SUCCESS` or
/// `_SMS.FAILURE`; a push or custom `_campaign.send` with status `SUCCESS`.
pub const SENT: i64 = 1;
/// Delivery evidence: `_email.delivered`, `_SMS.SUCCESS`, or (push and custom)
/// the successful `_campaign.send` itself.
pub const DELIVERED_EVENT: i64 = 1 << 1;
/// `_email.hardbounce`.
pub const HARD_BOUNCE: i64 = 1 << 2;
/// `_email.softbounce`.
pub const SOFT_BOUNCE: i64 = 1 << 3;
/// `_email.open`, or `_campaign.opened_notification` for push.
pub const OPEN: i64 = 1 << 4;
/// `_email.click`.
pub const CLICK: i64 = 1 << 5;
/// `_email.complaint`.
pub const COMPLAINT: i64 = 1 << 6;
/// `_email.unsubscribe`.
pub const UNSUBSCRIBE: i64 = 1 << 7;
/// `_email.rejected`.
pub const REJECT: i64 = 1 << 8;
/// `_email.rendering_failure`.
pub const RENDERING_FAILURE: i64 = 1 << 9;
/// `_SMS.FAILURE`.
pub const SMS_FAILURE: i64 = 1 << 10;
/// `_SMS.OPTOUT`.
pub const OPT_OUT: i64 = 1 << 11;

/// The bits with their names and definitions, for documentation.
pub const NAMES: &[(&str, i64, &str)] = &[
    (
        "SENT",
        SENT,
        "email: _email.send; SMS: _SMS.BUFFERED, _SMS.SUCCESS or _SMS.FAILURE; push and custom: _campaign.send with campaign_send_status SUCCESS",
    ),
    (
        "DELIVERED_EVENT",
        DELIVERED_EVENT,
        "email: _email.delivered; SMS: _SMS.SUCCESS; push and custom: the successful _campaign.send",
    ),
    ("HARD_BOUNCE", HARD_BOUNCE, "_email.hardbounce"),
    ("SOFT_BOUNCE", SOFT_BOUNCE, "_email.softbounce"),
    (
        "OPEN",
        OPEN,
        "email: _email.open; push: _campaign.opened_notification",
    ),
    ("CLICK", CLICK, "_email.click"),
    ("COMPLAINT", COMPLAINT, "_email.complaint"),
    ("UNSUBSCRIBE", UNSUBSCRIBE, "_email.unsubscribe"),
    ("REJECT", REJECT, "_email.rejected"),
    (
        "RENDERING_FAILURE",
        RENDERING_FAILURE,
        "_email.rendering_failure",
    ),
    ("SMS_FAILURE", SMS_FAILURE, "_SMS.FAILURE"),
    ("OPT_OUT", OPT_OUT, "_SMS.OPTOUT"),
];

/// Whether a channel is one of the "push / custom" channels of the catalog,
/// whose `_campaign.send` is the send itself.
pub fn is_push_like(channel: &str) -> bool {
    !matches!(channel, "email" | "sms")
}

/// The sets one event puts its message in.
pub fn event_sets(event_type: &str, channel: &str, send_status: Option<&str>) -> i64 {
    match event_type {
        "_email.send" => SENT,
        "_email.delivered" => DELIVERED_EVENT,
        "_email.hardbounce" => HARD_BOUNCE,
        "_email.softbounce" => SOFT_BOUNCE,
        "_email.open" => OPEN,
        "_email.click" => CLICK,
        "_email.complaint" => COMPLAINT,
        "_email.unsubscribe" => UNSUBSCRIBE,
        "_email.rejected" => REJECT,
        "_email.rendering_failure" => RENDERING_FAILURE,
        "_SMS.BUFFERED" => SENT,
        "_SMS.SUCCESS" => SENT | DELIVERED_EVENT,
        "_SMS.FAILURE" => SENT | SMS_FAILURE,
        "_SMS.OPTOUT" => OPT_OUT,
        "_campaign.send" if is_push_like(channel) && send_status == Some("SUCCESS") => {
            SENT | DELIVERED_EVENT
        }
        "_campaign.opened_notification" => OPEN,
        _ => 0,
    }
}

/// Whether a message with these sets counts as delivered (`messages_delivered`):
/// email: sent and not hard-bounced; SMS: a delivery event; push: sent.
pub fn is_delivered(channel: &str, sets: i64) -> bool {
    if sets & SENT == 0 {
        return false;
    }
    match channel {
        "email" => sets & HARD_BOUNCE == 0,
        "sms" => sets & DELIVERED_EVENT != 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_send_needs_success_and_a_push_channel() {
        assert_eq!(
            event_sets("_campaign.send", "push", Some("SUCCESS")),
            SENT | DELIVERED_EVENT
        );
        assert_eq!(event_sets("_campaign.send", "push", Some("DAILY_CAP")), 0);
        assert_eq!(event_sets("_campaign.send", "email", Some("SUCCESS")), 0);
        assert_eq!(event_sets("_campaign.send", "sms", Some("SUCCESS")), 0);
    }

    #[test]
    fn delivered_rule_per_channel() {
        assert!(is_delivered("email", SENT | OPEN));
        assert!(!is_delivered("email", SENT | HARD_BOUNCE));
        assert!(!is_delivered("email", DELIVERED_EVENT));
        assert!(!is_delivered("sms", SENT | SMS_FAILURE));
        assert!(is_delivered("sms", SENT | DELIVERED_EVENT));
        assert!(is_delivered("push", SENT | DELIVERED_EVENT));
    }

    #[test]
    fn bit_names_are_distinct() {
        let mut all = 0;
        for (_, bit, _) in NAMES {
            assert_eq!(all & bit, 0);
            all |= bit;
        }
    }
}
