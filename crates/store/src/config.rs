//! `sendlens.toml`: what a workspace is configured with.

use std::collections::BTreeMap;
use std::path::Path;

use sendlens_events::{DecodeOptions, PiiPolicy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// The whole configuration file. Unknown sections are kept for other tools
/// (reports add their own).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub time: TimeConfig,
    pub ses: SesConfig,
    pub pii: PiiConfig,
    /// Object store settings (delta-rs and `object_store` option names,
    /// such as `aws_region`, `aws_endpoint` or `aws_allow_http`): they
    /// override the AWS environment for inputs in S3.
    pub storage: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeConfig {
    /// IANA time zone in which days begin and end (date ranges, daily series).
    pub zone: String,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig { zone: "UTC".into() }
    }
}

/// Names of the SES message tags that carry Pinpoint's ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SesConfig {
    pub campaign_tag: String,
    pub run_tag: String,
    pub treatment_tag: String,
}

impl Default for SesConfig {
    fn default() -> Self {
        let d = DecodeOptions::default();
        SesConfig {
            campaign_tag: d.campaign_tag,
            run_tag: d.run_tag,
            treatment_tag: d.treatment_tag,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PiiConfig {
    /// "keep", "hash" (salted SHA-256) or "drop".
    pub policy: String,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            policy: "keep".into(),
        }
    }
}

const TEMPLATE_HEADER: &str = "\
# sendlens workspace configuration.
#
# [time] zone: IANA time zone in which days begin and end for date ranges and
#   daily series (e.g. \"Europe/Berlin\"); events are stored in UTC.
# [ses] *_tag: SES message tags that carry the campaign, run and treatment ids.
# [pii] policy: what ingest does with email addresses, phone numbers and IP
#   addresses: \"keep\" them, \"hash\" them with this workspace's salt, or \"drop\" them.
#   It applies to records ingested after the change.
# [storage] settings for s3:// inputs and a workspace in S3 that override the
#   AWS environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, ...), e.g.
#   aws_region = \"eu-west-1\", aws_endpoint = \"http://127.0.0.1:9000\".

";

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).at(path)?;
        let config: Config = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.into(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| Error::Config {
            path: path.into(),
            message,
        })?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).expect("configuration serializes");
        format!("{TEMPLATE_HEADER}{body}")
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        self.time_zone()?;
        self.pii_policy()?;
        Ok(())
    }

    pub fn time_zone(&self) -> std::result::Result<chrono_tz::Tz, String> {
        self.time.zone.parse::<chrono_tz::Tz>().map_err(|_| {
            format!(
                "unknown time zone {:?} in [time] zone: use an IANA name such as \"UTC\" or \"America/New_York\"",
                self.time.zone
            )
        })
    }

    pub fn pii_policy(&self) -> std::result::Result<PiiPolicy, String> {
        self.pii.policy.parse()
    }

    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            campaign_tag: self.ses.campaign_tag.clone(),
            run_tag: self.ses.run_tag.clone(),
            treatment_tag: self.ses.treatment_tag.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let c = Config::default();
        let text = c.to_toml();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.time.zone, "UTC");
        assert_eq!(back.ses.treatment_tag, "treatment_id");
        assert_eq!(back.pii.policy, "keep");
        let partial: Config = toml::from_str("[time]\nzone = \"Europe/Berlin\"\n").unwrap();
        assert_eq!(partial.ses.campaign_tag, "campaign_id");
        assert!(partial.validate().is_ok());
        let bad: Config = toml::from_str("[time]\nzone = \"Mars/Olympus\"\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("IANA"));
    }
}
