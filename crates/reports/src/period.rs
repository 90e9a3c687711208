//! The days a report run covers.
//!
//! A run on local day D covers the last complete period of its kind before
//! D: a daily report at 06:00 covers yesterday, a weekly one the last full
//! ISO week (Monday to Sunday), a monthly one the last full calendar month,
//! whatever weekday or day of the month it runs on; month-to-date covers the
//! first of the month up to yesterday, trailing N days the N days ending
//! yesterday. Days are calendar days in the report's
//! time zone, so a period never depends on daylight-saving changes.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// What each run of a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Every {
    /// One calendar day.
    Day,
    /// One ISO week, Monday to Sunday.
    Week,
    /// One calendar month.
    Month,
    /// The first of the month up to the day.
    MonthToDate,
    /// The N days ending on the day.
    TrailingDays(u32),
}

/// A run's days: `start` to `end`, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    /// First day.
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
}

impl Every {
    /// Parse the `every` and `days` settings of a report.
    pub fn parse(every: &str, days: Option<u32>) -> Result<Every, String> {
        let e = match every {
            "day" | "daily" => Every::Day,
            "week" | "weekly" => Every::Week,
            "month" | "monthly" => Every::Month,
            "month_to_date" => Every::MonthToDate,
            "trailing_days" => match days {
                Some(n) if (1..=3660).contains(&n) => Every::TrailingDays(n),
                _ => return Err("every = \"trailing_days\" needs days = N (1 to 3660)".into()),
            },
            other => {
                return Err(format!(
                    "unknown period '{other}': use day, week, month, month_to_date or trailing_days"
                ));
            }
        };
        if days.is_some() && !matches!(e, Every::TrailingDays(_)) {
            return Err(format!(
                "days = N goes with every = \"trailing_days\", not \"{every}\""
            ));
        }
        Ok(e)
    }

    /// A short description (`previous day`, `trailing 7 days`, ...).
    pub fn describe(self) -> String {
        match self {
            Every::Day => "previous day".into(),
            Every::Week => "previous week (Mon-Sun)".into(),
            Every::Month => "previous month".into(),
            Every::MonthToDate => "month to date".into(),
            Every::TrailingDays(n) => format!("trailing {n} days"),
        }
    }

    /// The period of this kind that `day` belongs to.
    pub fn containing(self, day: NaiveDate) -> Period {
        match self {
            Every::Day => Period {
                start: day,
                end: day,
            },
            Every::Week => {
                let start = day - Duration::days(day.weekday().num_days_from_monday() as i64);
                Period {
                    start,
                    end: start + Duration::days(6),
                }
            }
            Every::Month => {
                let start = first_of_month(day);
                Period {
                    start,
                    end: last_of_month(day),
                }
            }
            Every::MonthToDate => Period {
                start: first_of_month(day),
                end: day,
            },
            Every::TrailingDays(n) => Period {
                start: day - Duration::days(n as i64 - 1),
                end: day,
            },
        }
    }

    /// The period a run on local day `run_day` covers: the last complete
    /// one before that day (for the rolling kinds, the window ending the day
    /// before).
    pub fn covered_by_run_on(self, run_day: NaiveDate) -> Period {
        match self {
            Every::MonthToDate | Every::TrailingDays(_) => {
                self.containing(run_day - Duration::days(1))
            }
            _ => self.containing(self.containing(run_day).start - Duration::days(1)),
        }
    }

    /// The period before `p`: the previous calendar unit, or for the rolling
    /// kinds the window ending a day earlier.
    pub fn previous(self, p: Period) -> Period {
        match self {
            Every::MonthToDate | Every::TrailingDays(_) => {
                self.containing(p.end - Duration::days(1))
            }
            _ => self.containing(p.start - Duration::days(1)),
        }
    }

    /// Every period of this kind that a backfill from `from` to `to` runs:
    /// the calendar units that overlap the range, or for the rolling kinds
    /// the windows ending on each of its days.
    pub fn between(self, from: NaiveDate, to: NaiveDate) -> Vec<Period> {
        let mut out: Vec<Period> = Vec::new();
        for day in from.iter_days().take_while(|d| *d <= to) {
            let p = self.containing(day);
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Read a `--for` value: a day (`2026-11-26`), an ISO week (`2026-W47`),
    /// a month (`2026-11`), or `yesterday`, `last-week`, `last-month`
    /// relative to `today`. A day or week or month is taken as the period of
    /// this kind that contains (or starts) it.
    pub fn parse_for(self, text: &str, today: NaiveDate) -> Result<Period, String> {
        let p = self.parse_for_unchecked(text, today)?;
        check_day(p.start)?;
        check_day(p.end)?;
        Ok(p)
    }

    fn parse_for_unchecked(self, text: &str, today: NaiveDate) -> Result<Period, String> {
        let t = text.trim();
        let day = match t {
            "yesterday" => today - Duration::days(1),
            "today" => today,
            "last-week" => return Ok(self.fit(Every::Week.containing(today - Duration::days(7)))),
            "last-month" => {
                return Ok(
                    self.fit(Every::Month.containing(first_of_month(today) - Duration::days(1)))
                );
            }
            _ => {
                if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
                    check_day(d)?
                } else if let Some((y, w)) = t.split_once("-W") {
                    let (y, w) = (y.parse::<i32>(), w.parse::<u32>());
                    let start = match (y, w) {
                        (Ok(y), Ok(w)) if (1900..=2999).contains(&y) => {
                            NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon)
                        }
                        _ => None,
                    }
                    .ok_or_else(|| format!("'{t}' is not an ISO week like 2026-W47"))?;
                    return Ok(self.fit(Every::Week.containing(start)));
                } else if let Ok(d) = NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d") {
                    return Ok(self.fit(Every::Month.containing(check_day(d)?)));
                } else {
                    return Err(format!(
                        "'{t}' is not a period: give a day (2026-11-26), an ISO week (2026-W47), a month (2026-11), yesterday, last-week or last-month"
                    ));
                }
            }
        };
        Ok(self.containing(day))
    }

    /// A calendar unit named on the command line, as this kind sees it:
    /// weekly and monthly reports take their period that contains the
    /// unit's first day, rolling kinds the window ending on its last day, a
    /// daily report the whole unit as one range.
    fn fit(self, unit: Period) -> Period {
        match self {
            Every::MonthToDate | Every::TrailingDays(_) => self.containing(unit.end),
            Every::Week | Every::Month => self.containing(unit.start),
            Every::Day => unit,
        }
    }
}

impl Period {
    /// Number of days.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// The name of the period in output paths and the ledger: `2026-11-26`,
    /// `2026-W47`, `2026-11`, or `2026-11-01_2026-11-26` for other ranges.
    pub fn key(&self) -> String {
        if self.start == self.end {
            return self.start.format("%Y-%m-%d").to_string();
        }
        if Every::Week.containing(self.start) == *self {
            let w = self.start.iso_week();
            return format!("{}-W{:02}", w.year(), w.week());
        }
        if Every::Month.containing(self.start) == *self {
            return self.start.format("%Y-%m").to_string();
        }
        format!(
            "{}_{}",
            self.start.format("%Y-%m-%d"),
            self.end.format("%Y-%m-%d")
        )
    }

    /// `26 Nov 2026`, `23 – 29 Nov 2026`, `November 2026`, ... for people.
    pub fn label(&self) -> String {
        if self.start == self.end {
            return self.start.format("%-d %b %Y").to_string();
        }
        if Every::Month.containing(self.start) == *self {
            return self.start.format("%B %Y").to_string();
        }
        if self.start.year() == self.end.year() && self.start.month() == self.end.month() {
            return format!(
                "{} – {}",
                self.start.format("%-d"),
                self.end.format("%-d %b %Y")
            );
        }
        if self.start.year() == self.end.year() {
            return format!(
                "{} – {}",
                self.start.format("%-d %b"),
                self.end.format("%-d %b %Y")
            );
        }
        format!(
            "{} – {}",
            self.start.format("%-d %b %Y"),
            self.end.format("%-d %b %Y")
        )
    }
}

/// Days sendlens accepts from users: years 1900 to 2999, so that period
/// arithmetic never leaves the calendar.
pub fn check_day(d: NaiveDate) -> Result<NaiveDate, String> {
    if (1900..=2999).contains(&d.year()) {
        Ok(d)
    } else {
        Err(format!("{d} is out of range: days from 1900 to 2999 only"))
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

fn last_of_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid") - Duration::days(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn p(a: &str, b: &str) -> Period {
        Period {
            start: d(a),
            end: d(b),
        }
    }

    #[test]
    fn runs_cover_the_period_before_them() {
        use Every::*;
        // (kind, day of the run, first and last day it covers)
        let cases = [
            (Day, "2026-03-01", "2026-02-28", "2026-02-28"),
            (Day, "2024-03-01", "2024-02-29", "2024-02-29"),
            // A Monday run covers the week before; a Wednesday run too.
            (Week, "2026-11-30", "2026-11-23", "2026-11-29"),
            (Week, "2026-11-25", "2026-11-16", "2026-11-22"),
            // Across a year end: ISO week 53 of 2026.
            (Week, "2027-01-04", "2026-12-28", "2027-01-03"),
            // Month ends: 28, 29, 30 and 31 days.
            (Month, "2026-03-01", "2026-02-01", "2026-02-28"),
            (Month, "2024-03-15", "2024-02-01", "2024-02-29"),
            (Month, "2026-05-01", "2026-04-01", "2026-04-30"),
            (Month, "2027-01-01", "2026-12-01", "2026-12-31"),
            // Month to date on the 1st is the whole previous month.
            (MonthToDate, "2026-12-01", "2026-11-01", "2026-11-30"),
            (MonthToDate, "2026-11-27", "2026-11-01", "2026-11-26"),
            (TrailingDays(7), "2026-03-02", "2026-02-23", "2026-03-01"),
        ];
        for (every, run, start, end) in cases {
            assert_eq!(
                every.covered_by_run_on(d(run)),
                p(start, end),
                "{every:?} run on {run}"
            );
        }
        assert_eq!(Week.covered_by_run_on(d("2027-01-04")).key(), "2026-W53");
    }

    #[test]
    fn previous_periods_for_lookback() {
        use Every::*;
        let cases = [
            (
                Day,
                ("2026-03-01", "2026-03-01"),
                ("2026-02-28", "2026-02-28"),
            ),
            (
                Week,
                ("2026-11-23", "2026-11-29"),
                ("2026-11-16", "2026-11-22"),
            ),
            (
                Month,
                ("2026-03-01", "2026-03-31"),
                ("2026-02-01", "2026-02-28"),
            ),
            (
                MonthToDate,
                ("2026-11-01", "2026-11-26"),
                ("2026-11-01", "2026-11-25"),
            ),
            (
                TrailingDays(3),
                ("2026-11-24", "2026-11-26"),
                ("2026-11-23", "2026-11-25"),
            ),
        ];
        for (every, (a, b), (c, e)) in cases {
            assert_eq!(every.previous(p(a, b)), p(c, e), "{every:?}");
        }
    }

    #[test]
    fn backfill_ranges_and_keys() {
        let weeks = Every::Week.between(d("2026-11-01"), d("2026-11-17"));
        let keys: Vec<String> = weeks.iter().map(Period::key).collect();
        assert_eq!(keys, ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]);
        let months = Every::Month.between(d("2026-01-31"), d("2026-03-01"));
        let keys: Vec<String> = months.iter().map(Period::key).collect();
        assert_eq!(keys, ["2026-01", "2026-02", "2026-03"]);
        assert_eq!(
            Every::Day.between(d("2026-02-27"), d("2026-03-01")).len(),
            3
        );
        let t = Every::TrailingDays(7).between(d("2026-11-01"), d("2026-11-02"));
        assert_eq!(t[1].key(), "2026-10-27_2026-11-02");
    }

    #[test]
    fn for_values() {
        let today = d("2026-11-27");
        assert_eq!(
            Every::Day.parse_for("yesterday", today).unwrap(),
            p("2026-11-26", "2026-11-26")
        );
        assert_eq!(
            Every::Week.parse_for("2026-W47", today).unwrap(),
            p("2026-11-16", "2026-11-22")
        );
        assert_eq!(
            Every::Week.parse_for("2026-11-18", today).unwrap(),
            p("2026-11-16", "2026-11-22")
        );
        assert_eq!(
            Every::Week.parse_for("last-week", today).unwrap(),
            p("2026-11-16", "2026-11-22")
        );
        assert_eq!(
            Every::Month.parse_for("2026-02", today).unwrap(),
            p("2026-02-01", "2026-02-28")
        );
        assert_eq!(
            Every::Month.parse_for("last-month", today).unwrap(),
            p("2026-10-01", "2026-10-31")
        );
        assert_eq!(
            Every::Day.parse_for("2026-02", today).unwrap(),
            p("2026-02-01", "2026-02-28")
        );
        assert_eq!(
            Every::TrailingDays(7)
                .parse_for("2026-11-26", today)
                .unwrap(),
            p("2026-11-20", "2026-11-26")
        );
        assert!(Every::Day.parse_for("2026-13", today).is_err());
        assert!(Every::Month.parse_for("262142-12", today).is_err());
        assert!(
            Every::Month
                .parse_for("9999-12", today)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(Every::Week.parse_for("262142-W01", today).is_err());
        // A unit of another size: weekly and monthly reports take theirs.
        assert_eq!(
            Every::Month.parse_for("2026-W47", today).unwrap(),
            p("2026-11-01", "2026-11-30")
        );
        assert_eq!(
            Every::Week.parse_for("2026-11", today).unwrap(),
            p("2026-10-26", "2026-11-01")
        );
        assert!(Every::Day.parse_for("soon", today).is_err());
        assert_eq!(p("2026-11-01", "2026-11-30").label(), "November 2026");
        assert_eq!(p("2026-11-23", "2026-11-29").label(), "23 – 29 Nov 2026");
    }

    #[test]
    fn settings() {
        assert_eq!(
            Every::parse("trailing_days", Some(28)).unwrap(),
            Every::TrailingDays(28)
        );
        assert!(Every::parse("trailing_days", None).is_err());
        assert!(Every::parse("day", Some(3)).is_err());
        assert!(
            Every::parse("fortnight", None)
                .unwrap_err()
                .contains("unknown period")
        );
    }
}
