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
    /// Take the lock of `report` and `period` without waiting.
    pub fn try_acquire(
        state: &Path,
        report: &str,
        period: &str,
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
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                write!(file, "{}", std::process::id())?;
                Ok(Ok(PeriodLock {
                    _file: file,
                    path: p,
                }))
            }
            Err(TryLockError::WouldBlock) => Ok(Err(Busy {
                holder: std::fs::read_to_string(&p).unwrap_or_default(),
            })),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Whether some process holds the lock now.
    pub fn is_held(state: &Path, report: &str, period: &str) -> bool {
        let p = path(state, report, period);
        let Ok(file) = File::open(&p) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => false,
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => false,
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
        let a = PeriodLock::try_acquire(dir.path(), "r", "2026-11-26")
            .unwrap()
            .unwrap();
        assert!(PeriodLock::is_held(dir.path(), "r", "2026-11-26"));
        let busy = PeriodLock::try_acquire(dir.path(), "r", "2026-11-26")
            .unwrap()
            .unwrap_err();
        assert_eq!(busy.holder, std::process::id().to_string());
        assert!(
            PeriodLock::try_acquire(dir.path(), "r", "2026-11-27")
                .unwrap()
                .is_ok()
        );
        drop(a);
        assert!(!PeriodLock::is_held(dir.path(), "r", "2026-11-26"));
        assert!(
            PeriodLock::try_acquire(dir.path(), "r", "2026-11-26")
                .unwrap()
                .is_ok()
        );
    }
}
