//! The run ledger: `.sendlens/reports/ledger.jsonl`, one JSON line per
//! change of a run's state (running, then succeeded, skipped, failed or
//! cancelled). Appends are whole lines under a file lock and synced, so the
//! ledger survives crashes; the latest line of a run is its state.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::lock::PeriodLock;

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// A scheduler firing that met a run of the same period in progress: it
    /// waits for that run to end, then runs.
    Waiting,
    /// Started, not finished.
    Running,
    /// Outputs written.
    Succeeded,
    /// Every section was empty and the report skips empty periods.
    Skipped,
    /// An error; see `error`.
    Failed,
    /// Stopped by a shutdown (SIGTERM, Ctrl-C).
    Cancelled,
    /// Marked running, but its process is gone (crash, kill -9).
    Interrupted,
}

impl State {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Skipped => "skipped",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Interrupted => "interrupted",
        }
    }

    /// Whether `report retry` runs it again.
    pub fn retryable(self) -> bool {
        matches!(self, State::Failed | State::Cancelled | State::Interrupted)
    }
}

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// `report run`.
    Manual,
    /// The scheduler, on time.
    Schedule,
    /// The scheduler, for a time it missed.
    CatchUp,
    /// Re-run of an earlier period for late events.
    Lookback,
    /// `report backfill`.
    Backfill,
    /// `report retry`.
    Retry,
}

impl Trigger {
    /// Its name in the ledger and in `report history`.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch-up",
            Trigger::Lookback => "lookback",
            Trigger::Backfill => "backfill",
            Trigger::Retry => "retry",
        }
    }
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Run id: report, period and start time.
    pub run: String,
    /// Report name.
    pub report: String,
    /// Period name (`2026-11-26`, `2026-W47`, ...).
    pub period: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// The schedule time the run is for, if the scheduler started it.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// How it was started.
    pub trigger: Trigger,
    /// State.
    pub state: State,
    /// Parameters given on the command line.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Formats asked for on the command line (none: the report's).
    #[serde(default)]
    pub formats: Vec<String>,
    /// Output folder asked for on the command line.
    pub out: Option<PathBuf>,
    /// Started.
    pub started: DateTime<Utc>,
    /// Finished.
    pub finished: Option<DateTime<Utc>>,
    /// What went wrong.
    pub error: Option<String>,
    /// Rows over every section and output.
    pub rows: Option<u64>,
    /// Files written.
    #[serde(default)]
    pub outputs: Vec<PathBuf>,
    /// SHA-256 of the files written.
    pub content_hash: Option<String>,
    /// Process that ran it.
    pub pid: u32,
}

/// The ledger of a workspace.
#[derive(Debug, Clone)]
pub struct Ledger {
    state_dir: PathBuf,
}

impl Ledger {
    /// The ledger under the workspace state folder `state_dir`.
    pub fn new(state_dir: &Path) -> Ledger {
        Ledger {
            state_dir: state_dir.join("reports"),
        }
    }

    /// Folder for ledger, locks and scheduler state.
    pub fn dir(&self) -> &Path {
        &self.state_dir
    }

    fn path(&self) -> PathBuf {
        self.state_dir.join("ledger.jsonl")
    }

    /// Append one line.
    pub fn append(&self, e: &Entry) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.state_dir)?;
        let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(self.path())?;
        f.lock()?;
        // A line cut short by a crash must not swallow this one.
        let len = f.metadata()?.len();
        let mut last = [b'\n'];
        if len > 0 {
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut last, len - 1)?;
        }
        if last[0] != b'\n' {
            line.insert(0, b'\n');
        }
        f.write_all(&line)?;
        f.sync_data()?;
        Ok(())
    }

    /// Every run as the ledger has it (latest line of each), oldest first.
    fn read(&self) -> std::io::Result<Vec<Entry>> {
        let bytes = match std::fs::read(self.path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut order: Vec<String> = Vec::new();
        let mut latest: BTreeMap<String, Entry> = BTreeMap::new();
        // Line by line as bytes: a line cut short by a crash (even inside a
        // multi-byte character) is skipped, not fatal.
        for line in bytes.split(|b| *b == b'\n') {
            let Ok(e) = serde_json::from_slice::<Entry>(line) else {
                continue;
            };
            if !latest.contains_key(&e.run) {
                order.push(e.run.clone());
            }
            latest.insert(e.run.clone(), e);
        }
        Ok(order
            .into_iter()
            .filter_map(|id| latest.remove(&id))
            .collect())
    }

    /// Every run, latest state each, oldest first. A run still marked
    /// running whose period lock is not held by it was interrupted.
    pub fn runs(&self) -> std::io::Result<Vec<Entry>> {
        let mut runs = self.read()?;
        let pass = PeriodLock::holder_pid(&self.state_dir, SCHEDULER, PASS);
        let orphan = |e: &Entry| match e.state {
            State::Running => {
                PeriodLock::holder(&self.state_dir, &e.report, &e.period).as_deref()
                    != Some(e.run.as_str())
            }
            // A waiting run lives as long as the scheduler pass that waits.
            State::Waiting => pass != Some(e.pid),
            _ => false,
        };
        if runs.iter().any(orphan) {
            // It may have finished since the first read: read again.
            runs = self.read()?;
            for e in runs.iter_mut().filter(|e| orphan(e)) {
                e.state = State::Interrupted;
                e.error.get_or_insert_with(|| INTERRUPTED.into());
            }
        }
        Ok(runs)
    }

    /// Record as interrupted every run of `report` and `period` still marked
    /// running (call it holding the period's lock: they cannot be alive),
    /// and every waiting one whose scheduler pass has ended.
    pub fn settle_orphans(&self, report: &str, period: &str) -> std::io::Result<()> {
        let pass = PeriodLock::holder_pid(&self.state_dir, SCHEDULER, PASS);
        for mut e in self.read()? {
            let dead = match e.state {
                State::Running => true,
                State::Waiting => pass != Some(e.pid),
                _ => false,
            };
            if dead && e.report == report && e.period == period {
                e.state = State::Interrupted;
                e.error = Some(INTERRUPTED.into());
                self.append(&e)?;
            }
        }
        Ok(())
    }
}

const INTERRUPTED: &str = "the process running it ended before it finished";

/// The lock a scheduler pass holds: (report, period) of `PeriodLock`.
pub const SCHEDULER: &str = "scheduler";
/// See [`SCHEDULER`].
pub const PASS: &str = "pass";

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(run: &str, state: State) -> Entry {
        Entry {
            run: run.into(),
            report: "r".into(),
            period: "2026-11-26".into(),
            start: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            scheduled_for: None,
            trigger: Trigger::Manual,
            state,
            params: BTreeMap::new(),
            formats: Vec::new(),
            out: None,
            started: Utc::now(),
            finished: None,
            error: None,
            rows: None,
            outputs: Vec::new(),
            content_hash: None,
            pid: 1,
        }
    }

    #[test]
    fn latest_line_wins_and_orphans_are_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path());
        l.append(&entry("a", State::Running)).unwrap();
        l.append(&entry("b", State::Running)).unwrap();
        l.append(&entry("a", State::Succeeded)).unwrap();
        // A torn last line (a crash mid-append) is skipped.
        let mut f = OpenOptions::new().append(true).open(l.path()).unwrap();
        f.write_all(b"{\"run\":\"c\",\"rep").unwrap();
        l.append(&entry("d", State::Failed)).unwrap();
        let runs = l.runs().unwrap();
        assert_eq!(runs.len(), 3, "the line after a torn one is kept");
        assert_eq!(runs[2].state, State::Failed);
        assert_eq!(
            (runs[0].run.as_str(), runs[0].state),
            ("a", State::Succeeded)
        );
        // No one holds b's lock: it was interrupted.
        assert_eq!(runs[1].state, State::Interrupted);
        let _held = PeriodLock::try_acquire(l.dir(), "r", "2026-11-26", "b")
            .unwrap()
            .unwrap();
        assert_eq!(l.runs().unwrap()[1].state, State::Running);
        drop(_held);
        // Holding the lock, a new run settles the orphan in the ledger itself.
        l.settle_orphans("r", "2026-11-26").unwrap();
        assert_eq!(l.read().unwrap()[1].state, State::Interrupted);
        // A line torn inside a multi-byte character does not stop reading.
        let mut f = OpenOptions::new().append(true).open(l.path()).unwrap();
        f.write_all(&"{\"run\":\"é".as_bytes()[..9]).unwrap();
        l.append(&entry("e", State::Succeeded)).unwrap();
        assert_eq!(l.runs().unwrap().len(), 4);
    }
}
