//! Request parameters, read by hand so that a malformed one gets a message
//! that says which and what to send instead.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// Longest date range a page or API call covers.
pub(crate) const MAX_DAYS: i64 = 366;

/// The days a page shows, in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DayRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub tz: String,
}

impl DayRange {
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// The query string that shows this range (`from`, `to`, `tz`).
    pub fn query(&self) -> String {
        format!(
            "from={}&to={}&tz={}",
            self.start,
            self.end,
            encode_component(&self.tz)
        )
    }
}

/// The presets of the date picker: name, label, days back from today.
pub(crate) const PRESETS: &[(&str, &str, i64)] = &[
    ("today", "Today", 0),
    ("7d", "Last 7 days", 6),
    ("30d", "Last 30 days", 29),
    ("90d", "Last 90 days", 89),
];

/// A time zone name, checked.
pub(crate) fn zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!(
            "tz: '{name}' is not a time zone: use an IANA name such as UTC, Europe/Berlin or \
             America/New_York"
        )
    })
}

fn date(name: &str, text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{name}: '{text}' is not a date: use YYYY-MM-DD, e.g. 2026-03-01"))
}

/// The page's range from `from`, `to`, `tz` and `preset`; `default` gives
/// the range when neither dates nor a preset are given (in the zone).
pub(crate) fn day_range(
    query: &HashMap<String, String>,
    default_tz: &str,
    default: impl FnOnce(&Tz) -> (NaiveDate, NaiveDate),
) -> Result<DayRange, String> {
    let tz_name = query
        .get("tz")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or(default_tz)
        .to_string();
    let tz = zone(&tz_name)?;
    let get = |k: &str| query.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let (start, end) = if let Some(preset) = get("preset") {
        let (_, _, back) = PRESETS
            .iter()
            .find(|(name, _, _)| *name == preset)
            .ok_or_else(|| {
                let names: Vec<&str> = PRESETS.iter().map(|(n, _, _)| *n).collect();
                format!(
                    "preset: '{preset}' is not a preset: use one of {}",
                    names.join(", ")
                )
            })?;
        let today = Utc::now().with_timezone(&tz).date_naive();
        (today - Duration::days(*back), today)
    } else {
        match (get("from"), get("to")) {
            (Some(from), Some(to)) => (date("from", from)?, date("to", to)?),
            (None, None) => default(&tz),
            (Some(_), None) => return Err("to: missing; give both from and to (YYYY-MM-DD)".into()),
            (None, Some(_)) => {
                return Err("from: missing; give both from and to (YYYY-MM-DD)".into());
            }
        }
    };
    checked(start, end, tz_name)
}

fn checked(start: NaiveDate, end: NaiveDate, tz: String) -> Result<DayRange, String> {
    if end < start {
        return Err(format!("the range ends ({end}) before it starts ({start})"));
    }
    let range = DayRange { start, end, tz };
    if range.days() > MAX_DAYS {
        return Err(format!(
            "the range has {} days; at most {MAX_DAYS} are shown at once",
            range.days()
        ));
    }
    Ok(range)
}

/// The UTC days of a Pinpoint API call: `start-time` and `end-time`
/// (ISO 8601 timestamps; the days they fall on count), by default the 31
/// days up to today, as Pinpoint does.
pub(crate) fn api_range(
    query: &HashMap<String, String>,
) -> Result<(DayRange, DateTime<Utc>, DateTime<Utc>), String> {
    let instant = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
        let Some(text) = query.get(name).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .or_else(|_| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
            })
            .map_err(|_| {
                format!("{name}: '{text}' is not an ISO 8601 timestamp, e.g. 2026-03-01T00:00:00Z")
            })
    };
    let end = instant("end-time")?.unwrap_or_else(Utc::now);
    let start = instant("start-time")?.unwrap_or(end - Duration::days(30));
    let range = checked(start.date_naive(), end.date_naive(), "UTC".into())?;
    Ok((range, start, end))
}

/// `page-size` (at most 1,000) and `next-token` (an offset this server gave).
pub(crate) fn paging(
    query: &HashMap<String, String>,
    token_name: &str,
) -> Result<(usize, usize), String> {
    let size = match query.get("page-size").filter(|s| !s.is_empty()) {
        None => 1000,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| format!("page-size: '{s}' is not a number from 1 to 1000"))?,
    };
    let offset = match query.get(token_name).filter(|s| !s.is_empty()) {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| format!("{token_name}: '{t}' is not a token this server gave"))?,
    };
    Ok((size, offset))
}

/// A query-string component, percent-encoded.
pub(crate) fn encode_component(s: &str) -> String {
    percent_encode(s, false)
}

/// Percent-encoding of everything but the unreserved characters of RFC 3986
/// (and `/`, when `keep_slash`): a URL's component, or AWS's canonical form.
pub(crate) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fallback(_: &Tz) -> (NaiveDate, NaiveDate) {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        (d, d)
    }

    #[test]
    fn ranges_are_read_or_refused_with_the_reason() {
        let r = day_range(
            &query(&[
                ("from", "2026-03-01"),
                ("to", "2026-03-03"),
                ("tz", "Europe/Berlin"),
            ]),
            "UTC",
            fallback,
        )
        .unwrap();
        assert_eq!((r.days(), r.tz.as_str()), (3, "Europe/Berlin"));
        assert_eq!(
            r.query(),
            "from=2026-03-01&to=2026-03-03&tz=Europe%2FBerlin"
        );
        assert_eq!(day_range(&query(&[]), "UTC", fallback).unwrap().days(), 1);
        for (pairs, says) in [
            (
                vec![("from", "2026-13-01"), ("to", "2026-03-03")],
                "from: '2026-13-01' is not a date",
            ),
            (
                vec![("from", "2026-03-04"), ("to", "2026-03-03")],
                "ends (2026-03-03) before",
            ),
            (vec![("from", "2026-03-01")], "to: missing"),
            (vec![("tz", "Mars/Olympus")], "not a time zone"),
            (vec![("preset", "forever")], "not a preset"),
            (
                vec![("from", "2020-01-01"), ("to", "2026-01-01")],
                "at most 366",
            ),
        ] {
            let e = day_range(&query(&pairs), "UTC", fallback).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        assert_eq!(
            day_range(&query(&[("preset", "7d")]), "UTC", fallback)
                .unwrap()
                .days(),
            7
        );
    }

    #[test]
    fn api_ranges_and_paging() {
        let (r, _, _) = api_range(&query(&[
            ("start-time", "2026-03-01T00:00:00Z"),
            ("end-time", "2026-03-03T23:59:59Z"),
        ]))
        .unwrap();
        assert_eq!((r.start.to_string(), r.days()), ("2026-03-01".into(), 3));
        assert!(api_range(&query(&[("start-time", "yesterday")])).is_err());
        assert_eq!(paging(&query(&[]), "next-token").unwrap(), (1000, 0));
        assert_eq!(
            paging(
                &query(&[("page-size", "2"), ("next-token", "4")]),
                "next-token"
            )
            .unwrap(),
            (2, 4)
        );
        assert!(paging(&query(&[("page-size", "0")]), "next-token").is_err());
        assert!(paging(&query(&[("next-token", "abc")]), "next-token").is_err());
    }
}
