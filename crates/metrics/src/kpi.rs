//! Pinpoint's KPIs by their API names (`GetCampaignDateRangeKpi`,
//! `GetApplicationDateRangeKpi`, `GetJourneyDateRangeKpi`), each a column of
//! the catalog's metrics over a scope, optionally grouped.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::sql::{self, Dim, Range, lit};

/// Whose KPIs: the table function decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One campaign.
    Campaign,
    /// One application (project): its campaigns, and its transactional
    /// email and SMS.
    Application,
    /// One journey's email.
    Journey,
}

impl Scope {
    /// Name of the id argument.
    pub fn id_name(self) -> &'static str {
        match self {
            Scope::Campaign => "campaign_id",
            Scope::Application => "app_id",
            Scope::Journey => "journey_id",
        }
    }
}

/// What a KPI's rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `CampaignActivityId` (the run).
    Run,
    /// `Date`.
    Date,
    /// `CampaignId`.
    Campaign,
    /// `JourneyActivityId`.
    JourneyActivity,
    /// `CountryCode`.
    Country,
    /// `RecordStatus`.
    RecordStatus,
    /// `MessageParts`.
    Parts,
}

impl Group {
    fn suffix(self) -> &'static str {
        match self {
            Group::Run => "-grouped-by-campaign-activity",
            Group::Date => "-grouped-by-date",
            Group::Campaign => "-grouped-by-campaign",
            Group::JourneyActivity => "-grouped-by-journey-activity",
            Group::Country => "-grouped-by-country",
            Group::RecordStatus => "",
            Group::Parts => "",
        }
    }

    /// Column name in the result, as Pinpoint names it.
    pub fn column(self) -> &'static str {
        match self {
            Group::Run => "CampaignActivityId",
            Group::Date => "Date",
            Group::Campaign => "CampaignId",
            Group::JourneyActivity => "JourneyActivityId",
            Group::Country => "CountryCode",
            Group::RecordStatus => "RecordStatus",
            Group::Parts => "MessageParts",
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Group::Date => DataType::Date32,
            _ => DataType::Utf8,
        }
    }

    fn dim(self, tz: &str) -> Dim {
        match self {
            Group::Run => Dim::shared("run_id"),
            Group::Date => Dim::day("day", tz),
            Group::Campaign => Dim::shared("campaign_id"),
            Group::JourneyActivity => {
                Dim::message_only("journey_activity_id", "m.journey_activity_id")
            }
            Group::Country => Dim::message_only("iso_country_code", "m.iso_country_code"),
            Group::RecordStatus => Dim::message_only("record_status", "m.record_status"),
            Group::Parts => Dim::message_only("message_parts", "CAST(m.message_parts AS VARCHAR)"),
        }
    }

    fn event_expr(self, tz: &str) -> String {
        match self {
            Group::Run => "e.run_id".into(),
            Group::Date => format!("local_date(e.occurred_at, {})", lit(tz)),
            Group::Campaign => "e.campaign_id".into(),
            Group::JourneyActivity => "e.journey_activity_id".into(),
            Group::Country => "e.iso_country_code".into(),
            Group::RecordStatus => "e.record_status".into(),
            Group::Parts => "CAST(e.message_parts AS VARCHAR)".into(),
        }
    }
}

/// Which messages of the scope's id a KPI covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Campaign,
    AppCampaigns,
    TxnEmail,
    TxnSms,
    JourneyEmail,
}

impl Part {
    fn predicate(self, id: &str) -> String {
        let id = lit(id);
        match self {
            Part::Campaign => format!("campaign_id = {id}"),
            Part::AppCampaigns => format!("app_id = {id} AND campaign_id IS NOT NULL"),
            Part::TxnEmail => format!(
                "app_id = {id} AND campaign_id IS NULL AND journey_id IS NULL AND channel = 'email'"
            ),
            Part::TxnSms => format!(
                "app_id = {id} AND campaign_id IS NULL AND journey_id IS NULL AND channel = 'sms'"
            ),
            Part::JourneyEmail => format!("journey_id = {id} AND channel = 'email'"),
        }
    }
}

/// The value of a KPI.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// A column of the metrics query (a measure or a rate).
    Metric(&'static str),
    /// An expression over the metrics columns.
    Expr(&'static str),
    /// Distinct endpoints with a delivery event in the range.
    UniqueDeliveries,
}

/// A base KPI name with the groupings it comes in (`None`: ungrouped).
struct Base {
    scope: Scope,
    part: Part,
    name: &'static str,
    value: Value,
    groups: &'static [Option<Group>],
}

use Group::*;
use Value::*;

const NONE: &[Option<Group>] = &[None];
const RUN: &[Option<Group>] = &[Some(Run)];
const NONE_RUN: &[Option<Group>] = &[None, Some(Run)];
const NONE_RUN_DATE: &[Option<Group>] = &[None, Some(Run), Some(Date)];
const NONE_DATE: &[Option<Group>] = &[None, Some(Date)];
const NONE_CAMPAIGN: &[Option<Group>] = &[None, Some(Campaign)];
const NONE_CAMPAIGN_DATE: &[Option<Group>] = &[None, Some(Campaign), Some(Date)];
const CAMPAIGN: &[Option<Group>] = &[Some(Campaign)];
const NONE_COUNTRY_DATE: &[Option<Group>] = &[None, Some(Country), Some(Date)];
const COUNTRY: &[Option<Group>] = &[Some(Country)];
const STATUS: &[Option<Group>] = &[Some(RecordStatus)];
const PARTS: &[Option<Group>] = &[Some(Parts)];
const ACTIVITY: &[Option<Group>] = &[Some(JourneyActivity)];

macro_rules! k {
    ($scope:ident, $part:ident, $name:literal, $value:expr, $groups:ident) => {
        Base {
            scope: Scope::$scope,
            part: Part::$part,
            name: $name,
            value: $value,
            groups: $groups,
        }
    };
}

// One KPI per line: scope, the messages it covers, its API name, its value, its groupings.
#[rustfmt::skip]
const BASES: &[Base] = &[
    k!(Campaign,     Campaign,      "attempted-deliveries",            Metric("messages_sent"),                                     RUN),
    k!(Campaign,     Campaign,      "successful-deliveries",           Metric("messages_delivered"),                                RUN),
    k!(Campaign,     Campaign,      "successful-delivery-rate",        Metric("successful_delivery_rate"),                          NONE_RUN_DATE),
    k!(Campaign,     Campaign,      "unique-deliveries",               UniqueDeliveries,                                            NONE_RUN_DATE),
    k!(Campaign,     Campaign,      "email-open-rate",                 Metric("email_open_rate"),                                   NONE_RUN),
    k!(Campaign,     Campaign,      "direct-email-opens",              Metric("unique_opens"),                                      RUN),
    k!(Campaign,     Campaign,      "clicks",                          Metric("links_clicked"),                                     RUN),
    k!(Campaign,     Campaign,      "hard-bounce-rate",                Metric("bounce_rate"),                                       NONE_RUN),
    k!(Campaign,     Campaign,      "push-open-rate",                  Metric("push_open_rate"),                                    NONE_RUN),
    k!(Campaign,     Campaign,      "direct-push-opens",               Metric("push_opens"),                                        RUN),
    k!(Campaign,     Campaign,      "sms-spend",                       Metric("sms_spend_millicents"),                              NONE),
    k!(Application,  AppCampaigns,  "successful-delivery-rate",        Metric("successful_delivery_rate"),                          NONE_DATE),
    k!(Application,  AppCampaigns,  "email-open-rate",                 Metric("email_open_rate"),                                   NONE_CAMPAIGN),
    k!(Application,  AppCampaigns,  "unique-deliveries",               UniqueDeliveries,                                            NONE_CAMPAIGN_DATE),
    k!(Application,  AppCampaigns,  "successful-deliveries",           Metric("messages_delivered"),                                CAMPAIGN),
    k!(Application,  AppCampaigns,  "push-open-rate",                  Metric("push_open_rate"),                                    NONE_CAMPAIGN),
    k!(Application,  TxnEmail,      "txn-emails-sent",                 Metric("email_messages_sent"),                               NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-delivered",            Metric("txn_emails_delivered"),                              NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-delivery-rate",        Metric("txn_emails_delivery_rate"),                          NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-opened",               Metric("unique_opens"),                                      NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-unique-opens",         Metric("unique_open_endpoints"),                             NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-clicked",              Metric("links_clicked"),                                     NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-unique-clicks",        Metric("unique_click_endpoints"),                            NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-hard-bounced",         Metric("hard_bounces"),                                      NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-soft-bounced",         Metric("soft_bounces"),                                      NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-with-complaints",      Metric("complaints"),                                        NONE_DATE),
    k!(Application,  TxnEmail,      "txn-emails-complaint-rate",       Metric("txn_emails_complaint_rate"),                         NONE_DATE),
    k!(Application,  TxnSms,        "txn-sms-sent",                    Metric("sms_messages_sent"),                                 NONE_COUNTRY_DATE),
    k!(Application,  TxnSms,        "txn-sms-delivered",               Metric("sms_messages_delivered"),                            NONE_COUNTRY_DATE),
    k!(Application,  TxnSms,        "txn-sms-delivery-rate",           Metric("sms_delivery_rate"),                                 NONE_DATE),
    k!(Application,  TxnSms,        "txn-sms-error-distribution",      Metric("sms_failures"),                                      STATUS),
    k!(Application,  TxnSms,        "txn-sms-sent-by-parts",           Metric("sms_messages_sent"),                                 PARTS),
    k!(Application,  TxnSms,        "txn-sms-delivered-by-parts",      Metric("sms_messages_delivered"),                            PARTS),
    k!(Application,  TxnSms,        "txn-sms-total-price",             Metric("sms_spend_millicents"),                              COUNTRY),
    k!(Application,  TxnSms,        "txn-sms-average-price",           Expr("safe_rate(sms_spend_millicents, sms_messages_sent)"),  COUNTRY),
    k!(Application,  TxnSms,        "txn-sms-average-price-by-parts",  Expr("safe_rate(sms_spend_millicents, sms_message_parts)"),  COUNTRY),
    k!(Journey,      JourneyEmail,  "journey-emails-sent",             Metric("messages_sent"),                                     NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-delivered",        Metric("messages_with_delivery_event"),                      NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-opened",           Metric("unique_opens"),                                      NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-clicked",          Metric("unique_clicks"),                                     NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-hardbounced",      Metric("hard_bounces"),                                      NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-softbounced",      Metric("soft_bounces"),                                      NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-complained",       Metric("complaints"),                                        NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-rejected",         Metric("rejected"),                                          NONE),
    k!(Journey,      JourneyEmail,  "journey-emails-unsubscribed",     Metric("unsubscribes"),                                      NONE),
    k!(Journey,      JourneyEmail,  "emails-sent",                     Metric("messages_sent"),                                     ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-delivered",                Metric("messages_with_delivery_event"),                      ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-opened",                   Metric("unique_opens"),                                      ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-clicked",                  Metric("unique_clicks"),                                     ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-hardbounced",              Metric("hard_bounces"),                                      ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-softbounced",              Metric("soft_bounces"),                                      ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-complained",               Metric("complaints"),                                        ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-rejected",                 Metric("rejected"),                                          ACTIVITY),
    k!(Journey,      JourneyEmail,  "emails-unsubscribed",             Metric("unsubscribes"),                                      ACTIVITY),
];

/// One KPI: a base and a grouping.
pub struct Kpi {
    base: &'static Base,
    group: Option<Group>,
}

impl Kpi {
    /// Full API name.
    pub fn name(&self) -> String {
        format!(
            "{}{}",
            self.base.name,
            self.group.map_or("", |g| g.suffix())
        )
    }

    /// The `Key` of its value in a Pinpoint `KpiResult` row: the name
    /// without its grouping, in Pascal case (`successful-delivery-rate`
    /// gives `SuccessfulDeliveryRate`).
    pub fn value_key(&self) -> String {
        self.base
            .name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Result schema: the group column (if any) and `Value`.
    pub fn schema(&self) -> SchemaRef {
        let mut fields = Vec::new();
        if let Some(g) = self.group {
            fields.push(Field::new(g.column(), g.data_type(), true));
        }
        fields.push(Field::new("Value", DataType::Float64, true));
        Arc::new(Schema::new(fields))
    }

    /// The query for one id and range.
    pub fn sql(&self, id: &str, range: &Range) -> String {
        let scope = self.base.part.predicate(id);
        let targets = self.base.part == Part::Campaign || self.base.part == Part::AppCampaigns;
        let (inner, value, group_col) = match self.base.value {
            UniqueDeliveries => {
                let dims: Vec<(&str, String)> = self
                    .group
                    .map(|g| vec![("g", g.event_expr(&range.tz))])
                    .unwrap_or_default();
                (
                    sql::series(&scope, Some(range), &dims),
                    "endpoint_deliveries".to_string(),
                    "g".to_string(),
                )
            }
            Metric(column) | Expr(column) => {
                let dims: Vec<Dim> = self
                    .group
                    .map(|g| vec![g.dim(&range.tz)])
                    .unwrap_or_default();
                let col = dims.first().map(|d| d.alias.clone()).unwrap_or_default();
                (
                    sql::metrics(&scope, Some(range), &dims, targets),
                    column.to_string(),
                    col,
                )
            }
        };
        match self.group {
            Some(g) => format!(
                "SELECT CAST({group_col} AS {ty}) AS \"{name}\", CAST({value} AS DOUBLE) AS \"Value\" FROM ({inner}) \
                 WHERE {group_col} IS NOT NULL ORDER BY 1",
                ty = if g == Date { "DATE" } else { "VARCHAR" },
                name = g.column(),
            ),
            None => format!("SELECT CAST({value} AS DOUBLE) AS \"Value\" FROM ({inner})"),
        }
    }
}

/// Every KPI name of a scope, sorted.
pub fn names(scope: Scope) -> Vec<String> {
    let mut names: Vec<String> = BASES
        .iter()
        .filter(|b| b.scope == scope)
        .flat_map(|b| {
            b.groups
                .iter()
                .map(move |g| Kpi { base: b, group: *g }.name())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The KPI of a name, or an error listing the known names.
pub fn find(scope: Scope, name: &str) -> Result<Kpi, String> {
    for base in BASES.iter().filter(|b| b.scope == scope) {
        for group in base.groups {
            let kpi = Kpi {
                base,
                group: *group,
            };
            if kpi.name() == name {
                return Ok(kpi);
            }
        }
    }
    Err(format!(
        "unknown KPI name '{name}'; known names: {}",
        names(scope).join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_resolve() {
        for name in [
            "successful-delivery-rate-grouped-by-campaign-activity",
            "unique-deliveries-grouped-by-date",
            "clicks-grouped-by-campaign-activity",
            "sms-spend",
        ] {
            assert!(find(Scope::Campaign, name).is_ok(), "{name}");
        }
        for name in [
            "txn-emails-complaint-rate-grouped-by-date",
            "txn-sms-average-price-by-parts-grouped-by-country",
            "unique-deliveries-grouped-by-campaign",
            "txn-sms-error-distribution",
        ] {
            assert!(find(Scope::Application, name).is_ok(), "{name}");
        }
        assert!(find(Scope::Journey, "emails-opened-grouped-by-journey-activity").is_ok());
        assert_eq!(
            find(Scope::Campaign, "successful-delivery-rate-grouped-by-date")
                .unwrap()
                .value_key(),
            "SuccessfulDeliveryRate"
        );
        let err = find(Scope::Campaign, "open-rate").err().unwrap();
        assert!(err.contains("email-open-rate"), "{err}");
    }

    #[test]
    fn metric_columns_exist() {
        for b in BASES {
            if let Metric(c) = b.value {
                assert!(
                    crate::catalog::measure(c).is_some() || crate::catalog::rate(c).is_some(),
                    "{} reads unknown {c}",
                    b.name
                );
            }
        }
    }
}
