//! Cron expressions (the five fields of Vixie cron, plus `@hourly`,
//! `@daily`, `@weekly`, `@monthly`, `@yearly`) read in an IANA time zone.
//!
//! Daylight-saving changes follow Vixie cron. A job at a fixed time (a
//! number in both the minute and the hour field): a time the clock skips
//! runs at the first instant after the change, and a time the clock repeats
//! runs once, at its first occurrence. A wildcard job (`*` in the minute or
//! hour field, `@hourly`) runs by the clock as it is: not in an hour that is
//! skipped, twice in an hour that is repeated.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: Field,
    months: Vec<u32>,
    weekdays: Field,
    /// `*` in the minute or hour field: runs by the clock across changes.
    wildcard: bool,
}

/// A day field: its values, and whether it was `*` (for the day-of-month /
/// day-of-week rule: when both are restricted, either may match).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    values: Vec<u32>,
    any: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parse `expr`; the error says which field is wrong and what it accepts.
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let text = expr.trim();
        let expanded = match text {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            t if t.starts_with('@') => {
                return Err(format!(
                    "unknown cron macro '{t}' (use @hourly, @daily, @weekly, @monthly or @yearly)"
                ));
            }
            t => t,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "cron expression '{text}' has {} fields; it needs five: minute hour day-of-month month day-of-week (e.g. '0 6 * * 1' for Mondays at 06:00)",
                fields.len()
            ));
        }
        let minutes = field(fields[0], "minute", 0, 59, &[])?;
        let hours = field(fields[1], "hour", 0, 23, &[])?;
        let days = field(fields[2], "day of month", 1, 31, &[])?;
        let months = field(fields[3], "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(fields[4], "day of week", 0, 7, &WEEKDAYS)?;
        // 7 is Sunday too.
        for v in &mut weekdays.values {
            *v %= 7;
        }
        weekdays.values.sort_unstable();
        weekdays.values.dedup();
        Ok(Cron {
            text: text.to_string(),
            wildcard: minutes.any || hours.any,
            minutes: minutes.values,
            hours: hours.values,
            days,
            months: months.values,
            weekdays,
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if !self.months.contains(&d.month()) {
            return false;
        }
        let dom = self.days.values.contains(&d.day());
        let dow = self
            .weekdays
            .values
            .contains(&d.weekday().num_days_from_sunday());
        // Vixie cron: when either field is a star both must match,
        // otherwise either may.
        if self.days.any || self.weekdays.any {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first time after `after` at which the expression fires in `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // Five years covers every expression that fires at all but a few
        // odd ones (29 February on a Monday), which then never fire.
        self.scan(after, None, tz, |_| false)
    }

    /// Every firing in `(after, until]`, oldest first, in one pass over the
    /// days between.
    pub fn fires_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: Tz,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        self.scan(after, Some(until), tz, |t| {
            out.push(t);
            true
        });
        out
    }

    /// Walk the firings after `after` (up to `until`, if given), calling
    /// `more` with each; stop when it returns false. Returns the firing it
    /// stopped at.
    fn scan(
        &self,
        after: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        tz: Tz,
        mut more: impl FnMut(DateTime<Utc>) -> bool,
    ) -> Option<DateTime<Utc>> {
        let start = after.with_timezone(&tz).date_naive().pred_opt()?;
        let last_day = until.map(|u| {
            u.with_timezone(&tz)
                .date_naive()
                .succ_opt()
                .unwrap_or(NaiveDate::MAX)
        });
        let mut previous = after;
        let mut day = Vec::new();
        for date in start.iter_days().take(366 * 5) {
            if last_day.is_some_and(|l| date > l) {
                break;
            }
            if !self.day_matches(date) {
                continue;
            }
            day.clear();
            for &h in &self.hours {
                for &m in &self.minutes {
                    let local = date.and_hms_opt(h, m, 0).expect("valid wall time");
                    self.instants(tz, local, &mut day);
                }
            }
            // A repeated hour's second pass comes after the first one's
            // later minutes.
            day.sort_unstable();
            for &at in &day {
                // Two wall times in a skipped hour fire once, at the change.
                if at <= previous {
                    continue;
                }
                if until.is_some_and(|u| at > u) {
                    return None;
                }
                previous = at;
                if !more(at) {
                    return Some(at);
                }
            }
        }
        None
    }

    /// The instants a local wall time fires at: wildcard jobs at every
    /// instant the clock shows it (none, one or two), fixed-time jobs once.
    fn instants(&self, tz: Tz, local: NaiveDateTime, out: &mut Vec<DateTime<Utc>>) {
        match (tz.from_local_datetime(&local), self.wildcard) {
            (LocalResult::Single(t), _) => out.push(t.with_timezone(&Utc)),
            (LocalResult::Ambiguous(first, second), true) => {
                out.push(first.with_timezone(&Utc));
                out.push(second.with_timezone(&Utc));
            }
            (LocalResult::None, true) => {}
            (_, false) => out.push(resolve(tz, local)),
        }
    }

    /// The last firing at or before `at`, looking back at most a year.
    pub fn last_at_or_before(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let mut from = at - Duration::days(1);
        for _ in 0..366 {
            if let Some(last) = self.fires_between(from, at, tz).pop() {
                return Some(last);
            }
            from -= Duration::days(1);
        }
        None
    }
}

/// The instant a local wall time stands for: the first of two when the clock
/// repeats it, the end of the gap when the clock skips it.
fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Gaps are at most a few hours: walk forward to the first wall
            // time that exists, which is the instant of the change.
            let mut probe = local;
            loop {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
        }
    }
}

fn field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<Field, String> {
    let bad = |why: String| {
        let named = if names.is_empty() {
            String::new()
        } else {
            format!(" or {}-{}", names[0], names[names.len() - 1])
        };
        format!(
            "cron {what} field '{text}': {why} (accepts {min}-{max}{named}, '*', lists a,b, ranges a-b and steps */n)"
        )
    };
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if min == 1 { 1 } else { 0 });
        }
        let v: u32 = s
            .parse()
            .map_err(|_| bad(format!("'{s}' is not a number")))?;
        if v < min || v > max {
            return Err(bad(format!("{v} is out of range")));
        }
        Ok(v)
    };
    let mut values = Vec::new();
    // As in Vixie cron, a field that starts with `*` (`*/2` too) is a star
    // for the day-of-month/day-of-week rule.
    let any = text.starts_with('*');
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad(format!("step '{s}' must be a positive number")))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(bad(format!("range {lo}-{hi} runs backwards")));
        }
        values.extend((lo..=hi).step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Ok(Field { values, any })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn daily_in_a_zone() {
        let c = Cron::parse("0 6 * * *").unwrap();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            c.next_after(utc("2026-11-27T04:59:00Z"), tz),
            Some(utc("2026-11-27T05:00:00Z"))
        );
        assert_eq!(
            c.next_after(utc("2026-11-27T05:00:00Z"), tz),
            Some(utc("2026-11-28T05:00:00Z"))
        );
    }

    #[test]
    fn skipped_time_runs_after_the_change_and_repeated_time_once() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08 02:30 does not exist in New York: it runs at 03:00 EDT.
        let c = Cron::parse("30 2 * * *").unwrap();
        assert_eq!(
            c.next_after(utc("2026-03-08T05:00:00Z"), tz),
            Some(utc("2026-03-08T07:00:00Z"))
        );
        // The day after, 02:30 EDT again.
        assert_eq!(
            c.next_after(utc("2026-03-08T07:00:00Z"), tz),
            Some(utc("2026-03-09T06:30:00Z"))
        );
        // 2026-11-01 01:30 happens twice in New York: once, at 01:30 EDT.
        let c = Cron::parse("30 1 * * *").unwrap();
        let fires = c.fires_between(utc("2026-10-31T12:00:00Z"), utc("2026-11-02T12:00:00Z"), tz);
        assert_eq!(
            fires,
            vec![utc("2026-11-01T05:30:00Z"), utc("2026-11-02T06:30:00Z")]
        );
    }

    #[test]
    fn wildcard_jobs_run_by_the_clock_across_both_changes() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // Fall back, 2026-11-01: 01:00-01:59 happens twice. An hourly job
        // runs at both 01:00s; a fixed 01:00 job once.
        let hourly = Cron::parse("0 * * * *").unwrap();
        let fires =
            hourly.fires_between(utc("2026-11-01T03:30:00Z"), utc("2026-11-01T07:30:00Z"), tz);
        assert_eq!(
            fires,
            vec![
                utc("2026-11-01T04:00:00Z"), // 00:00 EDT
                utc("2026-11-01T05:00:00Z"), // 01:00 EDT
                utc("2026-11-01T06:00:00Z"), // 01:00 EST
                utc("2026-11-01T07:00:00Z"), // 02:00 EST
            ]
        );
        assert_eq!(
            Cron::parse("@hourly").unwrap().fires_between(
                utc("2026-11-01T03:30:00Z"),
                utc("2026-11-01T07:30:00Z"),
                tz
            ),
            fires
        );
        let half = Cron::parse("*/30 * * * *").unwrap();
        let fires =
            half.fires_between(utc("2026-11-01T04:45:00Z"), utc("2026-11-01T07:00:00Z"), tz);
        assert_eq!(
            fires,
            vec![
                utc("2026-11-01T05:00:00Z"),
                utc("2026-11-01T05:30:00Z"),
                utc("2026-11-01T06:00:00Z"),
                utc("2026-11-01T06:30:00Z"),
                utc("2026-11-01T07:00:00Z"),
            ]
        );
        let fixed = Cron::parse("0 1 * * *").unwrap();
        assert_eq!(
            fixed.fires_between(utc("2026-11-01T03:30:00Z"), utc("2026-11-01T07:30:00Z"), tz),
            vec![utc("2026-11-01T05:00:00Z")]
        );
        // Spring forward, 2026-03-08: 02:00-02:59 does not exist. `30 * * * *`
        // runs at 01:30 EST and 03:30 EDT, nothing in between.
        let c = Cron::parse("30 * * * *").unwrap();
        assert_eq!(
            c.fires_between(utc("2026-03-08T06:00:00Z"), utc("2026-03-08T08:00:00Z"), tz),
            vec![utc("2026-03-08T06:30:00Z"), utc("2026-03-08T07:30:00Z")]
        );
        // A wildcard minute in a fixed hour that is skipped: no run that day.
        let c = Cron::parse("* 2 * * *").unwrap();
        let fires = c.fires_between(utc("2026-03-08T05:00:00Z"), utc("2026-03-09T05:00:00Z"), tz);
        assert!(fires.is_empty(), "{fires:?}");
    }

    #[test]
    fn day_of_month_or_day_of_week_names_steps_and_macros() {
        let tz = Tz::UTC;
        // The 1st or any Monday (Vixie's rule when both are restricted).
        let c = Cron::parse("0 0 1 * mon").unwrap();
        let fires = c.fires_between(utc("2026-11-27T00:00:00Z"), utc("2026-12-15T00:00:00Z"), tz);
        assert_eq!(
            fires,
            vec![
                utc("2026-11-30T00:00:00Z"),
                utc("2026-12-01T00:00:00Z"),
                utc("2026-12-07T00:00:00Z"),
                utc("2026-12-14T00:00:00Z"),
            ]
        );
        // `*/2` in the day of month is a star: every other day that is a Monday.
        let c = Cron::parse("0 6 */2 * mon").unwrap();
        let fires = c.fires_between(utc("2026-11-01T00:00:00Z"), utc("2026-11-30T00:00:00Z"), tz);
        assert_eq!(
            fires,
            vec![utc("2026-11-09T06:00:00Z"), utc("2026-11-23T06:00:00Z")]
        );
        // A whole year of every-minute firings in one pass.
        let every = Cron::parse("* * * * *").unwrap();
        assert_eq!(
            every
                .fires_between(utc("2025-11-27T00:00:00Z"), utc("2026-11-27T00:00:00Z"), tz)
                .len(),
            525_600
        );
        let c = Cron::parse("*/20 9-10 * * 1-5").unwrap();
        assert_eq!(c.minutes, vec![0, 20, 40]);
        assert_eq!(c.hours, vec![9, 10]);
        assert_eq!(Cron::parse("@monthly").unwrap().days.values, vec![1]);
        assert_eq!(Cron::parse("0 0 * * 7").unwrap().weekdays.values, vec![0]);
        assert_eq!(
            Cron::parse("0 0 * DEC *").unwrap().months,
            vec![12],
            "month names"
        );
        // The last firing at or before an instant.
        let c = Cron::parse("0 6 * * *").unwrap();
        assert_eq!(
            c.last_at_or_before(utc("2026-11-27T05:59:00Z"), tz),
            Some(utc("2026-11-26T06:00:00Z"))
        );
        assert_eq!(
            c.last_at_or_before(utc("2026-11-27T06:00:00Z"), tz),
            Some(utc("2026-11-27T06:00:00Z"))
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = Cron::parse("0 25 * * *").unwrap_err();
        assert!(
            e.contains("hour field '25'") && e.contains("out of range"),
            "{e}"
        );
        let e = Cron::parse("0 6 * *").unwrap_err();
        assert!(e.contains("five"), "{e}");
        assert!(Cron::parse("0 6 * * fri-mon").is_err());
        assert!(Cron::parse("@sometimes").is_err());
        assert!(Cron::parse("*/0 * * * *").is_err());
    }
}
