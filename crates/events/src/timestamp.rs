//! Timestamps as the exports write them: epoch milliseconds (Pinpoint, as a
//! number or a numeric string) or RFC 3339 text (SES). Stored as epoch
//! microseconds.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// A timestamp in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Micros(pub i64);

// Epoch milliseconds beyond year 9999 are not timestamps a sender wrote.
const MAX_MILLIS: i64 = 253_402_300_799_999;

pub(crate) fn from_millis<E: de::Error>(ms: i64) -> Result<Micros, E> {
    if !(-MAX_MILLIS..=MAX_MILLIS).contains(&ms) {
        return Err(E::custom(format!("timestamp {ms} is out of range")));
    }
    Ok(Micros(ms * 1000))
}

/// Parse an RFC 3339 / ISO 8601 text timestamp (or numeric epoch millis).
pub fn parse_text<E: de::Error>(s: &str) -> Result<Micros, E> {
    if let Ok(ms) = s.parse::<i64>() {
        return from_millis(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Micros(t.timestamp_micros()));
    }
    // Firehose's Parquet conversion and Athena write "2024-01-02 03:04:05.678".
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Ok(Micros(t.and_utc().timestamp_micros()));
    }
    Err(E::custom(format!(
        "invalid timestamp {s:?}: expected epoch milliseconds or RFC 3339"
    )))
}

struct MicrosVisitor;

impl Visitor<'_> for MicrosVisitor {
    type Value = Micros;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timestamp (epoch milliseconds or RFC 3339 text)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Micros, E> {
        from_millis(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Micros, E> {
        from_millis(i64::try_from(v).map_err(|_| E::custom("timestamp is out of range"))?)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Micros, E> {
        if !v.is_finite() {
            return Err(E::custom("timestamp is not a finite number"));
        }
        from_millis(v.round() as i64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Micros, E> {
        parse_text(v)
    }
}

impl<'de> serde::Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MicrosVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Micros, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse("1564618621380").unwrap(),
            Micros(1_564_618_621_380_000)
        );
        assert_eq!(
            parse("\"1564618621380\"").unwrap(),
            Micros(1_564_618_621_380_000)
        );
        assert_eq!(
            parse("\"2017-08-05T00:41:02.669Z\"").unwrap(),
            Micros(1_501_893_662_669_000)
        );
        assert_eq!(
            parse("\"2017-08-05 00:41:02.669\"").unwrap(),
            Micros(1_501_893_662_669_000)
        );
        assert!(parse("\"yesterday\"").is_err());
        assert!(parse("true").is_err());
        assert!(parse("1e30").is_err());
    }
}
