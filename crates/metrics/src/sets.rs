//! The message sets of the metric catalog (`docs/metrics.md` §2), defined once.
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
        "_campaign.send"
            if Channel::of(channel) == Channel::Push && send_status == Some("SUCCESS") =>
        {
            SENT | DELIVERED_EVENT
        }
        "_campaign.opened_notification" => OPEN,
        _ => 0,
    }
}

/// A message's channel as the rules tell channels apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `email`.
    Email,
    /// `sms`.
    Sms,
    /// Every other channel: push and custom, whose `_campaign.send` is the send.
    Push,
}

impl Channel {
    /// The class of a channel name.
    pub fn of(channel: &str) -> Channel {
        match channel {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            _ => Channel::Push,
        }
    }

    /// SQL predicate: `channel` (an expression) is of this class.
    pub fn sql(self, channel: &str) -> String {
        match self {
            Channel::Email => format!("{channel} = 'email'"),
            Channel::Sms => format!("{channel} = 'sms'"),
            // No channel reads as push, as `Channel::of` and the CASE of a
            // per-channel rule (its ELSE) read it.
            Channel::Push => format!("({channel} IS NULL OR {channel} NOT IN ('email', 'sms'))"),
        }
    }
}

/// Which sets a message must be in and which it must not be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bits {
    /// Every one of these.
    pub all: i64,
    /// None of these.
    pub none: i64,
}

impl Bits {
    const fn all(bits: i64) -> Bits {
        Bits { all: bits, none: 0 }
    }

    fn holds(self, sets: i64) -> bool {
        sets & self.all == self.all && sets & self.none == 0
    }

    fn sql(self, sets: &str) -> String {
        let mut parts = Vec::new();
        if self.all != 0 {
            parts.push(format!("({sets} & {a}) = {a}", a = self.all));
        }
        if self.none != 0 {
            parts.push(format!("({sets} & {}) = 0", self.none));
        }
        if parts.is_empty() {
            "true".into()
        } else {
            parts.join(" AND ")
        }
    }
}

/// How a flag follows from a message's sets.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// The same sets whatever the channel.
    Sets(Bits),
    /// Sets that depend on the channel.
    PerChannel {
        /// For email.
        email: Bits,
        /// For SMS.
        sms: Bits,
        /// For push and custom channels.
        push: Bits,
    },
    /// Not a function of the sets: an expression over the columns the
    /// message's events are folded into (see `sql::message_facts`).
    Sql(&'static str),
}

/// A yes/no property of one message, derived from its sets: a column of
/// `message_facts`, and the vocabulary every measure's condition is written in.
#[derive(Debug)]
pub struct Flag {
    /// Column of `message_facts`.
    pub column: &'static str,
    /// When it holds.
    pub rule: Rule,
}

impl Flag {
    /// Whether the flag holds for a message of `channel` with `sets`, or
    /// `None` when the sets do not tell.
    pub fn holds(&self, channel: Channel, sets: i64) -> Option<bool> {
        match self.rule {
            Rule::Sets(bits) => Some(bits.holds(sets)),
            Rule::PerChannel { email, sms, push } => Some(match channel {
                Channel::Email => email.holds(sets),
                Channel::Sms => sms.holds(sets),
                Channel::Push => push.holds(sets),
            }),
            Rule::Sql(_) => None,
        }
    }

    /// SQL of the flag over a sets expression and a channel expression.
    pub fn sql(&self, sets: &str, channel: &str) -> String {
        match self.rule {
            Rule::Sets(bits) => bits.sql(sets),
            Rule::PerChannel { email, sms, push } => format!(
                "CASE WHEN {} THEN {} WHEN {} THEN {} ELSE {} END",
                Channel::Email.sql(channel),
                email.sql(sets),
                Channel::Sms.sql(channel),
                sms.sql(sets),
                push.sql(sets)
            ),
            Rule::Sql(expr) => expr.to_string(),
        }
    }

    /// The one set whose events mark the flag on the day they happen, for
    /// the day series: the flag's sets other than SENT, when that is one set
    /// whatever the channel.
    pub fn marking_set(&self) -> Option<i64> {
        match self.rule {
            Rule::Sets(bits) => {
                let own = if bits.all == SENT {
                    SENT
                } else {
                    bits.all & !SENT
                };
                (own.count_ones() == 1).then_some(own)
            }
            _ => None,
        }
    }
}

macro_rules! flags {
    ($($(#[doc = $doc:literal])* $id:ident = $column:literal: $rule:expr;)*) => {
        $(
            $(#[doc = $doc])*
            pub const $id: Flag = Flag { column: $column, rule: $rule };
        )*
        /// Every flag, in the order `message_facts` shows them.
        pub const FLAGS: &[&Flag] = &[$(&$id),*];
    };
}

flags! {
    /// In SENT: the only messages any metric counts.
    IS_SENT = "sent": Rule::Sets(Bits::all(SENT));
    /// Delivered (`messages_delivered`): email, sent and not hard-bounced;
    /// SMS, a delivery event; push, sent.
    IS_DELIVERED = "delivered": Rule::PerChannel {
        email: Bits { all: SENT, none: HARD_BOUNCE },
        sms: Bits::all(SENT | DELIVERED_EVENT),
        push: Bits::all(SENT),
    };
    /// A delivery event: _email.delivered, _SMS.SUCCESS or the push send.
    HAS_DELIVERY_EVENT = "delivered_event": Rule::Sets(Bits::all(DELIVERED_EVENT));
    /// Hard-bounced.
    HARD_BOUNCED = "hard_bounced": Rule::Sets(Bits::all(HARD_BOUNCE));
    /// Soft-bounced and not hard-bounced: a message counts as one bounce.
    SOFT_BOUNCED = "soft_bounced": Rule::Sets(Bits { all: SOFT_BOUNCE, none: HARD_BOUNCE });
    /// Opened at least once.
    OPENED = "opened": Rule::Sets(Bits::all(OPEN));
    /// Opened by what does not look like an automatic open: an estimate.
    HUMAN_OPENED = "human_opened": Rule::Sql(
        "last_agent_open_at IS NOT NULL AND (first_delivered_at IS NULL OR NOT likely_machine_open(CAST(NULL AS VARCHAR), \
         (CAST(last_agent_open_at AS BIGINT) - CAST(first_delivered_at AS BIGINT)) / 1000000.0))"
    );
    /// Clicked at least once.
    CLICKED = "clicked": Rule::Sets(Bits::all(CLICK));
    /// Complained of.
    COMPLAINED = "complained": Rule::Sets(Bits::all(COMPLAINT));
    /// Unsubscribed from.
    UNSUBSCRIBED = "unsubscribed": Rule::Sets(Bits::all(UNSUBSCRIBE));
    /// Rejected by SES.
    REJECTED = "rejected": Rule::Sets(Bits::all(REJECT));
    /// Failed to render.
    RENDERING_FAILED = "rendering_failed": Rule::Sets(Bits::all(RENDERING_FAILURE));
    /// An SMS that failed.
    SMS_FAILED = "sms_failed": Rule::Sets(Bits::all(SMS_FAILURE));
    /// An SMS followed by an opt-out.
    OPTED_OUT = "opted_out": Rule::Sets(Bits::all(OPT_OUT));
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
        let delivered = |channel, sets| IS_DELIVERED.holds(Channel::of(channel), sets).unwrap();
        assert!(delivered("email", SENT | OPEN));
        assert!(!delivered("email", SENT | HARD_BOUNCE));
        assert!(!delivered("email", DELIVERED_EVENT));
        assert!(!delivered("sms", SENT | SMS_FAILURE));
        assert!(delivered("sms", SENT | DELIVERED_EVENT));
        assert!(delivered("push", SENT | DELIVERED_EVENT));
    }

    #[test]
    fn marking_sets() {
        assert_eq!(IS_SENT.marking_set(), Some(SENT));
        assert_eq!(SOFT_BOUNCED.marking_set(), Some(SOFT_BOUNCE));
        assert_eq!(OPENED.marking_set(), Some(OPEN));
        assert_eq!(IS_DELIVERED.marking_set(), None);
        assert_eq!(HUMAN_OPENED.marking_set(), None);
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
