//! The views of the extension: the message fact table, the metric views and
//! the compatibility views of AWS's events-database solution.

use crate::sql::{self, Dim, lit};

/// A view: its name, what it holds, and its SQL.
#[derive(Debug, Clone)]
pub struct View {
    /// Name in the catalog.
    pub name: &'static str,
    /// One-line description (for `\d` and the docs).
    pub doc: &'static str,
    /// The defining query.
    pub sql: String,
}

/// Messages of campaigns.
pub fn campaign_scope() -> &'static str {
    "campaign_id IS NOT NULL"
}

/// Every metric per campaign, all time: a view, and a table the store
/// materializes (it depends on no time zone).
pub fn campaign_metrics() -> String {
    sql::metrics(campaign_scope(), None, &[Dim::shared("campaign_id")], true)
}

/// Transactional email: no campaign, no journey.
pub const TRANSACTIONAL_EMAIL: &str =
    "campaign_id IS NULL AND journey_id IS NULL AND channel = 'email'";

/// Transactional email and SMS.
pub const TRANSACTIONAL: &str =
    "campaign_id IS NULL AND journey_id IS NULL AND channel IN ('email', 'sms')";

/// The metric views; `tz` is the workspace's time zone (day boundaries).
pub fn metric_views(tz: &str) -> Vec<View> {
    vec![
        View {
            name: "message_facts",
            doc: "One row per message: keys, channel, campaign/run/treatment, endpoint, sent_at, message sets as flags, open and click counts, SMS status and price.",
            sql: sql::message_facts(),
        },
        View {
            name: "campaign_targets",
            doc: "Targets of campaign runs: every _campaign.send (any status) at its occurred_at, and for runs without any _campaign.send the endpoints of their sent messages at sent_at. endpoints_targeted counts distinct endpoints here per run.",
            sql: sql::campaign_targets(),
        },
        View {
            name: "message_events",
            doc: "The events of sent messages with the message sets each puts its message in (bit mask `sets`): what day and hour series count.",
            sql: sql::message_events(),
        },
        View {
            name: "campaign_metrics",
            doc: "Every metric per campaign, all time.",
            sql: campaign_metrics(),
        },
        View {
            name: "campaign_run_metrics",
            doc: "Every metric per campaign run (campaign_activity_id), all time.",
            sql: sql::metrics(
                campaign_scope(),
                None,
                &[Dim::shared("campaign_id"), Dim::shared("run_id")],
                true,
            ),
        },
        View {
            name: "campaign_treatment_metrics",
            doc: "Every metric per A/B treatment, with two-proportion z-test p-values of open rate and click-through rate against treatment '0'.",
            sql: sql::treatments(campaign_scope(), None),
        },
        View {
            name: "campaign_daily_metrics",
            doc: "Per campaign and day (workspace time zone): events of sent messages bucketed by occurred_at (endpoint deliveries, sends, opens, clicks, bounces, ...).",
            sql: sql::series(
                campaign_scope(),
                None,
                &[
                    ("campaign_id", "e.campaign_id".to_string()),
                    ("day", format!("local_date(e.occurred_at, {})", lit(tz))),
                ],
            ),
        },
        View {
            name: "campaign_link_metrics",
            doc: "Per campaign and link: clicks (every click), unique clicking messages, unique endpoints.",
            sql: sql::links(campaign_scope(), None),
        },
        View {
            name: "campaign_engagement_metrics",
            doc: "Email engagement per campaign, recipient domain and device class (user_agent_class of the open or click): opens, clicks, opened and clicked messages.",
            sql: format!(
                "SELECT campaign_id, email_domain(address) AS recipient_domain, user_agent_class(user_agent) AS device_class, \
                   count(*) FILTER (WHERE (sets & {open}) <> 0) AS opens, \
                   count(*) FILTER (WHERE (sets & {click}) <> 0) AS clicks, \
                   count(DISTINCT message_key) FILTER (WHERE (sets & {open}) <> 0) AS opened_messages, \
                   count(DISTINCT message_key) FILTER (WHERE (sets & {click}) <> 0) AS clicked_messages \
                 FROM message_events \
                 WHERE channel = 'email' AND campaign_id IS NOT NULL AND (sets & {both}) <> 0 \
                 GROUP BY campaign_id, email_domain(address), user_agent_class(user_agent)",
                open = crate::sets::OPEN,
                click = crate::sets::CLICK,
                both = crate::sets::OPEN | crate::sets::CLICK,
            ),
        },
        View {
            name: "application_metrics",
            doc: "Every metric per application (project), over its campaigns.",
            sql: sql::metrics(campaign_scope(), None, &[Dim::shared("app_id")], true),
        },
        View {
            name: "transactional_email_metrics",
            doc: "Every metric per application over transactional email (no campaign, no journey).",
            sql: sql::metrics(
                TRANSACTIONAL_EMAIL,
                None,
                &[Dim::message_only("app_id", "m.app_id")],
                false,
            ),
        },
        View {
            name: "journey_email_metrics",
            doc: "Every metric per journey, over its email messages.",
            sql: sql::metrics(
                "journey_id IS NOT NULL AND channel = 'email'",
                None,
                &[
                    Dim::message_only("app_id", "m.app_id"),
                    Dim::message_only("journey_id", "m.journey_id"),
                ],
                false,
            ),
        },
        View {
            name: "sms_metrics",
            doc: "SMS per application, campaign (NULL: transactional), country and final record status: sent, delivered, failures, parts, spend, opt-outs.",
            sql: sql::metrics(
                "channel = 'sms'",
                None,
                &[
                    Dim::message_only("app_id", "m.app_id"),
                    Dim::message_only("campaign_id", "m.campaign_id"),
                    Dim::message_only("iso_country_code", "m.iso_country_code"),
                    Dim::message_only("record_status", "m.record_status"),
                ],
                false,
            ),
        },
    ]
}

/// Columns every compatibility view starts with.
const COMMON: &str = "sent_at AS event_timestamp, occurred_at AS arrival_timestamp, app_id AS application_id, \
    endpoint_id, campaign_id AS pinpoint_campaign_id, treatment_id AS pinpoint_treatment_id, \
    aws_account_id";

const MAIL: &str = "message_id, sent_at AS message_send_timestamp, from_address, \
    json_array_elements(raw, 'facets.email_channel.mail_event.mail.destination') AS destination";

const SMS: &str = "attributes['sender_request_id'] AS sender_request_id, address AS destination_phone_number, \
    record_status, iso_country_code, message_parts AS number_of_message_parts, message_id, message_type";

const ORIGINATION: &str = "attributes['origination_phone_number'] AS origination_phone_number";

const TAIL: &str =
    "attributes AS message_tags, date_trunc('hour', occurred_at) AS ingest_timestamp";

fn select(event_type: &str, columns: &[&str]) -> String {
    format!(
        "SELECT {} FROM events WHERE event_type = {}",
        columns.join(", "),
        lit(event_type)
    )
}

/// An SMS view: the common and SMS columns, the view's own, price, tags.
fn sms_view(event_type: &str, own: &[&str]) -> String {
    let mut columns = vec![COMMON, SMS];
    columns.extend_from_slice(own);
    columns.extend(["price_millicents AS price_in_millicents_usd", TAIL]);
    select(event_type, &columns)
}

/// One row per element of a recipients array, as the solution's
/// `CROSS JOIN UNNEST` did.
fn per_recipient(event_type: &str, array_path: &str, inner: &[&str], outer: &str) -> String {
    format!(
        "SELECT * EXCLUDE (recipient), {outer} FROM (SELECT {}, unnest(json_array_elements(raw, {})) AS recipient \
         FROM events WHERE event_type = {})",
        inner.join(", "),
        lit(array_path),
        lit(event_type)
    )
}

/// Every view in registration order (each reads only tables and views before
/// it): the metric views, then the compatibility views.
pub fn all(tz: &str) -> Vec<View> {
    let mut views = metric_views(tz);
    views.extend(due_views());
    views
}

/// The compatibility views of AWS's "Digital User Engagement Events Database"
/// solution: same names and columns, treatment column filled.
pub fn due_views() -> Vec<View> {
    let mail_event = "facets.email_channel.mail_event";
    let bounce_inner = [
        COMMON,
        MAIL,
        "bounce_type, bounce_sub_type",
        "json_get(raw, 'facets.email_channel.mail_event.bounce.feedback_id') AS feedback_id",
        "json_get(raw, 'facets.email_channel.mail_event.bounce.reporting_mta') AS reporting_mta",
        TAIL,
    ];
    let bounce_outer = "json_get(recipient, 'email_address') AS bounced_recipient_email_address, \
        json_get(recipient, 'action') AS bounced_recipient_action, \
        json_get(recipient, 'status') AS bounced_recipient_status, \
        json_get(recipient, 'diagnostic_code') AS bounced_recipient_diagnostic_code";
    let bounced = format!("{mail_event}.bounce.bounced_recipients");
    let complained = format!("{mail_event}.complaint.complained_recipients");
    vec![
        View {
            name: "email_send",
            doc: "Compatibility view: _email.send events.",
            sql: select("_email.send", &[COMMON, MAIL, "subject", TAIL]),
        },
        View {
            name: "email_delivered",
            doc: "Compatibility view: _email.delivered events.",
            sql: select(
                "_email.delivered",
                &[
                    COMMON,
                    MAIL,
                    "subject",
                    "json_get(raw, 'facets.email_channel.mail_event.delivery.smtp_response') AS smtp_response",
                    "json_get(raw, 'facets.email_channel.mail_event.delivery.reporting_mta') AS reporting_mta",
                    "json_array_elements(raw, 'facets.email_channel.mail_event.delivery.recipients') AS recipients",
                    "CAST(json_get(raw, 'facets.email_channel.mail_event.delivery.processing_time_millis') AS BIGINT) AS processing_time_millis",
                    TAIL,
                ],
            ),
        },
        View {
            name: "email_open",
            doc: "Compatibility view: _email.open events.",
            sql: select(
                "_email.open",
                &[COMMON, MAIL, "subject", "ip_address, user_agent", TAIL],
            ),
        },
        View {
            name: "email_click",
            doc: "Compatibility view: _email.click events.",
            sql: select(
                "_email.click",
                &[
                    COMMON,
                    MAIL,
                    "subject",
                    "ip_address, user_agent, link",
                    TAIL,
                ],
            ),
        },
        View {
            name: "email_hardbounce",
            doc: "Compatibility view: _email.hardbounce, one row per bounced recipient.",
            sql: per_recipient("_email.hardbounce", &bounced, &bounce_inner, bounce_outer),
        },
        View {
            name: "email_softbounce",
            doc: "Compatibility view: _email.softbounce, one row per bounced recipient.",
            sql: per_recipient("_email.softbounce", &bounced, &bounce_inner, bounce_outer),
        },
        View {
            name: "email_complaint",
            doc: "Compatibility view: _email.complaint, one row per complained recipient.",
            sql: per_recipient(
                "_email.complaint",
                &complained,
                &[
                    COMMON,
                    MAIL,
                    "json_get(raw, 'facets.email_channel.mail_event.complaint.feedback_id') AS feedback_id",
                    "json_get(raw, 'facets.email_channel.mail_event.complaint.user_agent') AS user_agent",
                    "complaint_type AS complaint_feedback_type",
                    TAIL,
                ],
                "json_get(recipient, 'email_address') AS complained_email_address",
            ),
        },
        View {
            name: "email_rejected",
            doc: "Compatibility view: _email.rejected events.",
            sql: select(
                "_email.rejected",
                &[COMMON, MAIL, "subject", "reject_reason", TAIL],
            ),
        },
        View {
            name: "email_unsubscribe",
            doc: "Compatibility view: _email.unsubscribe events.",
            sql: select(
                "_email.unsubscribe",
                &[
                    COMMON,
                    MAIL,
                    "subject",
                    "ip_address, user_agent, link",
                    "json_get(raw, 'facets.email_channel.mail_event.click.link_tags.unsubscribeLinkTag') AS unsubscribelinktag",
                    TAIL,
                ],
            ),
        },
        View {
            name: "sms_buffered",
            doc: "Compatibility view: _SMS.BUFFERED events.",
            sql: sms_view("_SMS.BUFFERED", &[]),
        },
        View {
            name: "sms_success",
            doc: "Compatibility view: _SMS.SUCCESS events.",
            sql: sms_view("_SMS.SUCCESS", &[ORIGINATION]),
        },
        View {
            name: "sms_failure",
            doc: "Compatibility view: _SMS.FAILURE events.",
            sql: sms_view("_SMS.FAILURE", &[]),
        },
        View {
            name: "sms_optout",
            doc: "Compatibility view: _SMS.OPTOUT events.",
            sql: sms_view("_SMS.OPTOUT", &[ORIGINATION]),
        },
        View {
            name: "campaign_send",
            doc: "Compatibility view: _campaign.send events.",
            sql: select("_campaign.send", &[COMMON, TAIL]),
        },
        View {
            name: "journey_send",
            doc: "Compatibility view: _journey.send events.",
            sql: select(
                "_journey.send",
                &[
                    "sent_at AS event_timestamp, occurred_at AS arrival_timestamp, app_id AS application_id, endpoint_id",
                    "journey_run_id, send_status AS journey_send_status, journey_id, journey_activity_id, aws_account_id",
                    TAIL,
                ],
            ),
        },
    ]
}
