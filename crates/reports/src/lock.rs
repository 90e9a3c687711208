//! One run per report period at a time, across processes.
//!
//! The lock is an advisory file lock (`flock`) on
//! `.sendlens/reports/locks/REPORT@PERIOD.lock`: the kernel releases it
//! when its process ends, however it ends, so a crashed run never leaves a
//! period locked, and a run still marked "running" in the ledger whose lock
//! is free was interrupted.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct PeriodLock {
    _file: File,
    path: PathBuf,
}

/// Someone else holds the lock.
#[derive(Debug)]
pub struct Busy {
    /// Process id written by the holder.
    pub holder: String,
}

fn path(state: &Path, report: &str, period: &str) -> PathBuf {
    state.join("locks").join(format!("{report}@{period}.lock"))
}

impl PeriodLock {
    /// Take the lock of `report` and `period` without waiting (but for a
    /// moment's probe by [`PeriodLock::holder`]); `owner` (a run id) is
    /// written into it.
    pub fn try_acquire(
        state: &Path,
        report: &str,
        period: &str,
        owner: &str,
    ) -> std::io::Result<Result<PeriodLock, Busy>> {
        let p = path(state, report, period);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&p)?;
        // A probe holds a shared lock for an instant: try a few times.
        for attempt in 0..10 {
            match file.try_lock() {
                Ok(()) => {
                    file.set_len(0)?;
                    write!(file, "{} {owner}", std::process::id())?;
                    return Ok(Ok(PeriodLock {
                        _file: file,
                        path: p,
                    }));
                }
                Err(TryLockError::WouldBlock) if attempt < 9 => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => break,
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        Ok(Err(Busy {
            holder: text
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        }))
    }

    /// The owner written by the process that holds the lock now, if any.
    pub fn holder(state: &Path, report: &str, period: &str) -> Option<String> {
        let p = path(state, report, period);
        let file = File::open(&p).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => std::fs::read_to_string(&p)
                .ok()
                .and_then(|t| t.split_once(' ').map(|(_, owner)| owner.to_string())),
            Err(TryLockError::Error(_)) => None,
        }
    }

    /// The process id of the holder of the lock, if anybody holds it.
    pub fn holder_pid(state: &Path, report: &str, period: &str) -> Option<u32> {
        let p = path(state, report, period);
        let file = File::open(&p).ok()?;
        match file.try_lock_shared() {
            Err(TryLockError::WouldBlock) => std::fs::read_to_string(&p)
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok(),
            _ => None,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = PeriodLock::try_acquire(dir.path(), "r", "2026-11-26", "run-a")
            .unwrap()
            .unwrap();
        assert_eq!(
            PeriodLock::holder(dir.path(), "r", "2026-11-26").as_deref(),
            Some("run-a")
        );
        let busy = PeriodLock::try_acquire(dir.path(), "r", "2026-11-26", "run-b")
            .unwrap()
            .unwrap_err();
        assert_eq!(busy.holder, std::process::id().to_string());
        assert!(
            PeriodLock::try_acquire(dir.path(), "r", "2026-11-27", "run-c")
                .unwrap()
                .is_ok()
        );
        drop(a);
        assert_eq!(PeriodLock::holder(dir.path(), "r", "2026-11-26"), None);
        assert!(
            PeriodLock::try_acquire(dir.path(), "r", "2026-11-26", "run-d")
                .unwrap()
                .is_ok()
        );
    }
}
