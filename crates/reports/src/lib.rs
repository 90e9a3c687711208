#![warn(missing_docs)]
//! Scheduled campaign reports.
//!
//! A report is a TOML definition in the workspace's `reports/` folder with
//! its SQL in `queries/reports/`: named statements with typed parameters
//! (`$start`, `$end`, `$campaign_id`, ...), a cron schedule in a time zone,
//! the period each run covers, and its output formats. A run binds the
//! parameters, runs the statements on a sendlens session, writes each
//! output atomically under `out/REPORT/PERIOD/`, and records itself in the
//! run ledger. The scheduler runs what is due, catches up after downtime and
//! never runs one period twice at once.

pub mod cron;
pub mod definition;
pub mod html;
pub mod ledger;
pub mod lock;
pub mod output;
pub mod params;
pub mod period;
pub mod run;
pub mod schedule;
pub mod shipped;
pub mod svg;

use chrono::{DateTime, Utc};
use sendlens_store::Workspace;
use tokio::sync::watch;

use crate::definition::{Invalid, Report};
use crate::ledger::{Entry, Ledger};
use crate::run::{Job, Outcome, Runner};
use crate::schedule::Cursors;

/// The reports of a workspace (and the broken definitions).
pub fn reports(ws: &Workspace) -> (Vec<Report>, Vec<Invalid>) {
    definition::load_all(ws.root(), &ws.config().time.zone)
}

/// What one scheduler pass did.
#[derive(Debug, Default)]
pub struct Tick {
    /// Runs started, with how each ended.
    pub ran: Vec<Entry>,
    /// Runs left to another process that holds their lock: (report, period).
    pub busy: Vec<(String, String)>,
    /// Definitions that could not be read.
    pub invalid: Vec<Invalid>,
    /// Whether a shutdown stopped the pass.
    pub cancelled: bool,
    /// Another pass held the scheduler lock (its process id); this one did nothing.
    pub other_pass: Option<String>,
}

/// One scheduler pass at `now`: run every due report period (see
/// [`schedule`]), then move the cursors. `on_run` hears of each run as it
/// ends; `cancel` stops the pass (the run in progress is recorded as
/// cancelled and the cursors stay, so the next pass does it again).
pub async fn tick(
    ws: &Workspace,
    now: DateTime<Utc>,
    cancel: Option<watch::Receiver<bool>>,
    on_run: &mut dyn FnMut(&Entry),
) -> anyhow::Result<Tick> {
    if now > Utc::now() + chrono::Duration::seconds(1) {
        anyhow::bail!(
            "{now} is in the future: a pass may not run periods that are not over yet (use `report run --for` to run one early)"
        );
    }
    let ledger = Ledger::new(&ws.state_dir());
    // One pass at a time, whether from `schedule run` or cron's `tick`:
    // the due list and the cursors are read and written under this lock.
    let _pass = match lock::PeriodLock::try_acquire(
        ledger.dir(),
        ledger::SCHEDULER,
        ledger::PASS,
        ledger::PASS,
    )? {
        Ok(l) => l,
        Err(busy) => {
            return Ok(Tick {
                other_pass: Some(busy.holder),
                ..Tick::default()
            });
        }
    };
    let (reports, invalid) = reports(ws);
    let mut cursors = Cursors::load(&ledger)?;
    let due = schedule::due(&reports, &cursors, &ledger.runs()?, now);
    let mut out = Tick {
        invalid,
        ..Tick::default()
    };
    if !due.is_empty() {
        let mut runner = Runner::open(ws).await?;
        if let Some(rx) = cancel.clone() {
            runner.cancel_on(rx);
        }
        for d in &due {
            if cancel.as_ref().is_some_and(|rx| *rx.borrow()) {
                out.cancelled = true;
                return Ok(out);
            }
            let report = reports
                .iter()
                .find(|r| r.name == d.report)
                .expect("due runs come from these reports");
            let job = Job {
                report,
                period: d.period,
                params: Default::default(),
                formats: Vec::new(),
                out: None,
                trigger: d.trigger,
                scheduled_for: Some(d.scheduled_for),
                // A manual run of the same period in progress: wait for it,
                // recorded, then run (the firing is not lost).
                wait_if_busy: true,
            };
            match runner.run(&job).await? {
                Outcome::Ran(e) => {
                    on_run(&e);
                    if e.state == ledger::State::Cancelled {
                        out.ran.push(*e);
                        out.cancelled = true;
                        return Ok(out);
                    }
                    out.ran.push(*e);
                }
                Outcome::Busy { .. } => out.busy.push((d.report.clone(), d.period.key())),
            }
        }
    }
    for r in reports.iter().filter(|r| r.schedule.is_some()) {
        cursors.advance(&r.name, now);
    }
    cursors.save(&ledger)?;
    Ok(out)
}
