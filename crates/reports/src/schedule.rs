//! The scheduler: which runs are due, catching up after downtime, and the
//! long-running loop.
//!
//! A tick looks at every scheduled report: the schedule's firings since the
//! report's cursor (the time of the last tick that saw it) are due. With
//! `catch_up` every missed firing runs (oldest first), without it only the
//! latest, as Airflow does with `catchup=False`. A report seen for the
//! first time starts at its `start` date, or else with its latest firing.
//! Each firing also re-runs `lookback` earlier periods. A firing that has a
//! succeeded (or skipped) run in the ledger is not run again, so a tick
//! repeated after a crash only does what is missing. The cursor moves only
//! after the tick, in `.sendlens/reports/schedule.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::definition::Report;
use crate::ledger::{Entry, Ledger, State, Trigger};
use crate::period::Period;

/// A run the scheduler will start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Report name.
    pub report: String,
    /// Days covered.
    pub period: Period,
    /// The firing it stands for.
    pub scheduled_for: DateTime<Utc>,
    /// Schedule, catch-up or lookback.
    pub trigger: Trigger,
}

/// The cursors of the scheduler.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cursors {
    /// Per report, the time of the last tick that considered it.
    #[serde(default)]
    pub reports: BTreeMap<String, DateTime<Utc>>,
}

fn cursor_path(ledger: &Ledger) -> PathBuf {
    ledger.dir().join("schedule.json")
}

impl Cursors {
    /// Read the cursors (none yet: empty).
    pub fn load(ledger: &Ledger) -> anyhow::Result<Cursors> {
        match std::fs::read_to_string(cursor_path(ledger)) {
            Ok(t) => Ok(serde_json::from_str(&t)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursors::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Move the cursor of `report` to `now`, never backwards.
    pub fn advance(&mut self, report: &str, now: DateTime<Utc>) {
        let c = self.reports.entry(report.to_string()).or_insert(now);
        *c = (*c).max(now);
    }

    /// Write them atomically.
    pub fn save(&self, ledger: &Ledger) -> anyhow::Result<()> {
        crate::output::write_atomic(&cursor_path(ledger), &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }
}

/// The runs due at `now` for `reports`, oldest firing first, without those
/// the ledger already has a finished run of.
pub fn due(reports: &[Report], cursors: &Cursors, runs: &[Entry], now: DateTime<Utc>) -> Vec<Due> {
    let done: BTreeSet<(String, String, DateTime<Utc>)> = runs
        .iter()
        .filter(|e| matches!(e.state, State::Succeeded | State::Skipped))
        .filter_map(|e| {
            e.scheduled_for
                .map(|s| (e.report.clone(), e.period.clone(), s))
        })
        .collect();
    let mut out = Vec::new();
    for r in reports {
        let Some(cron) = &r.schedule else { continue };
        let tz = r.tz();
        // From the cursor, but never before the start date; with neither,
        // the latest firing.
        let start = r.start.map(|d| {
            tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
                .earliest()
                .map_or(now, |t| t.with_timezone(&Utc))
                - chrono::Duration::seconds(1)
        });
        let fires = match (cursors.reports.get(&r.name).copied(), start) {
            (Some(cursor), Some(start)) => cron.fires_between(cursor.max(start), now, tz),
            (Some(cursor), None) => cron.fires_between(cursor, now, tz),
            (None, Some(start)) => cron.fires_between(start, now, tz),
            (None, None) => cron.last_at_or_before(now, tz).into_iter().collect(),
        };
        let latest = fires.len().saturating_sub(1);
        let mut seen = BTreeSet::new();
        for (i, fire) in fires.iter().enumerate() {
            if !r.catch_up && i < latest {
                continue;
            }
            let run_day = fire.with_timezone(&tz).date_naive();
            let mut period = r.every.covered_by_run_on(run_day);
            let trigger = if i < latest {
                Trigger::CatchUp
            } else {
                Trigger::Schedule
            };
            let mut list = vec![(period, trigger)];
            for _ in 0..r.lookback {
                period = r.every.previous(period);
                list.push((period, Trigger::Lookback));
            }
            for (period, trigger) in list {
                // One run per period and firing; a period re-run by the
                // lookback of a later firing runs again (that is the point).
                if !seen.insert((period, *fire)) {
                    continue;
                }
                if done.contains(&(r.name.clone(), period.key(), *fire)) {
                    continue;
                }
                out.push(Due {
                    report: r.name.clone(),
                    period,
                    scheduled_for: *fire,
                    trigger,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.scheduled_for, &a.report).cmp(&(b.scheduled_for, &b.report)));
    out
}

/// The next firing of any report after `now`.
pub fn next_firing(reports: &[Report], now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
    reports
        .iter()
        .filter_map(|r| {
            r.schedule
                .as_ref()
                .and_then(|c| c.next_after(now, r.tz()))
                .map(|t| (t, r.name.clone()))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::load;

    fn report(dir: &std::path::Path, name: &str, extra: &str) -> Report {
        let reports = dir.join("reports");
        std::fs::create_dir_all(&reports).unwrap();
        let p = reports.join(format!("{name}.toml"));
        std::fs::write(&p, format!("query = \"SELECT 1\"\n{extra}")).unwrap();
        load(dir, &p, "UTC").unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn catch_up_after_a_gap_runs_every_missed_period_once() {
        let dir = tempfile::tempdir().unwrap();
        let daily = report(
            dir.path(),
            "daily",
            "catch_up = true\n[schedule]\ncron = \"0 6 * * *\"\n[period]\nevery = \"day\"",
        );
        let latest_only = report(
            dir.path(),
            "latest",
            "[schedule]\ncron = \"0 6 * * *\"\n[period]\nevery = \"day\"",
        );
        let mut cursors = Cursors::default();
        cursors
            .reports
            .insert("daily".into(), t("2026-11-23T07:00:00Z"));
        cursors
            .reports
            .insert("latest".into(), t("2026-11-23T07:00:00Z"));
        // Down from the 23rd after 07:00 to the 27th at 08:00: four firings missed.
        let d = due(
            &[daily.clone(), latest_only.clone()],
            &cursors,
            &[],
            t("2026-11-27T08:00:00Z"),
        );
        let daily_keys: Vec<String> = d
            .iter()
            .filter(|x| x.report == "daily")
            .map(|x| x.period.key())
            .collect();
        assert_eq!(
            daily_keys,
            ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"]
        );
        assert_eq!(
            d.iter()
                .filter(|x| x.report == "daily" && x.trigger == Trigger::CatchUp)
                .count(),
            3
        );
        let latest: Vec<String> = d
            .iter()
            .filter(|x| x.report == "latest")
            .map(|x| x.period.key())
            .collect();
        assert_eq!(latest, ["2026-11-26"]);
        // Nothing is due again in the same minute once the cursor moved.
        cursors
            .reports
            .insert("daily".into(), t("2026-11-27T08:00:00Z"));
        cursors
            .reports
            .insert("latest".into(), t("2026-11-27T08:00:00Z"));
        assert!(
            due(
                &[daily, latest_only],
                &cursors,
                &[],
                t("2026-11-27T08:00:30Z")
            )
            .is_empty()
        );
    }

    /// (period, firing) of the runs due at `now` for a report whose cursor is `cursor`.
    fn due_after(r: &Report, cursor: &str, now: &str) -> Vec<(String, DateTime<Utc>)> {
        let mut cursors = Cursors::default();
        cursors.reports.insert(r.name.clone(), t(cursor));
        due(std::slice::from_ref(r), &cursors, &[], t(now))
            .iter()
            .map(|x| (x.period.key(), x.scheduled_for))
            .collect()
    }

    #[test]
    fn daylight_saving_changes_move_the_instant_not_the_day() {
        let dir = tempfile::tempdir().unwrap();
        let daily = |name: &str, cron: &str, zone: &str| {
            report(
                dir.path(),
                name,
                &format!(
                    "catch_up = true\n[schedule]\ncron = \"{cron}\"\ntime_zone = \"{zone}\"\n[period]\nevery = \"day\""
                ),
            )
        };
        // 06:00 in Berlin: 05:00 UTC in winter, 04:00 UTC from 29 March 2026.
        let berlin = daily("berlin", "0 6 * * *", "Europe/Berlin");
        assert_eq!(
            due_after(&berlin, "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z"),
            [
                ("2026-03-27".to_string(), t("2026-03-28T05:00:00Z")),
                ("2026-03-28".to_string(), t("2026-03-29T04:00:00Z")),
                ("2026-03-29".to_string(), t("2026-03-30T04:00:00Z")),
            ]
        );
        // 01:30 in New York on the day the clocks go back (01:30 happens
        // twice) runs once and still covers the calendar day before.
        let ny = daily("ny", "30 1 * * *", "America/New_York");
        assert_eq!(
            due_after(&ny, "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z"),
            [
                ("2026-10-31".to_string(), t("2026-11-01T05:30:00Z")),
                ("2026-11-01".to_string(), t("2026-11-02T06:30:00Z")),
            ]
        );
    }

    #[test]
    fn lookback_and_first_sight_and_finished_runs() {
        let dir = tempfile::tempdir().unwrap();
        let weekly = report(
            dir.path(),
            "weekly",
            "[schedule]\ncron = \"0 7 * * mon\"\ntime_zone = \"America/New_York\"\n[period]\nevery = \"week\"\nlookback = 1",
        );
        // First sight, no start date: the latest firing (Monday 23 Nov, 07:00 New York) and one week of lookback.
        let d = due(
            std::slice::from_ref(&weekly),
            &Cursors::default(),
            &[],
            t("2026-11-27T12:00:00Z"),
        );
        let got: Vec<(String, Trigger)> = d.iter().map(|x| (x.period.key(), x.trigger)).collect();
        assert_eq!(
            got,
            [
                ("2026-W47".to_string(), Trigger::Schedule),
                ("2026-W46".to_string(), Trigger::Lookback)
            ]
        );
        assert_eq!(d[0].scheduled_for, t("2026-11-23T12:00:00Z"));
        // A finished run of the same firing is not repeated.
        let done = Entry {
            run: "x".into(),
            report: "weekly".into(),
            period: "2026-W47".into(),
            start: d[0].period.start,
            end: d[0].period.end,
            scheduled_for: Some(d[0].scheduled_for),
            trigger: Trigger::Schedule,
            state: State::Succeeded,
            params: BTreeMap::new(),
            formats: vec![],
            out: None,
            started: Utc::now(),
            finished: None,
            error: None,
            rows: None,
            outputs: vec![],
            content_hash: None,
            pid: 1,
        };
        let d = due(
            std::slice::from_ref(&weekly),
            &Cursors::default(),
            &[done],
            t("2026-11-27T12:00:00Z"),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].period.key(), "2026-W46");
        // A start date: every firing since.
        let started = report(
            dir.path(),
            "started",
            "catch_up = true\n[schedule]\ncron = \"0 6 1 * *\"\nstart = \"2026-09-01\"\n[period]\nevery = \"month\"",
        );
        let d = due(
            &[started],
            &Cursors::default(),
            &[],
            t("2026-11-27T12:00:00Z"),
        );
        let keys: Vec<String> = d.iter().map(|x| x.period.key()).collect();
        assert_eq!(keys, ["2026-08", "2026-09", "2026-10"]);
    }
}
