//! The reports that ship with sendlens (`queries/reports/` in the
//! repository), copied into a workspace by `sendlens init` and
//! `sendlens report install`, where users edit them like their own.

use std::path::{Path, PathBuf};

use crate::definition::{QUERIES_DIR, REPORTS_DIR};

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$(
            (
                $name,
                include_str!(concat!("../../../queries/reports/", $name, ".toml")),
                include_str!(concat!("../../../queries/reports/", $name, ".sql")),
            ),
        )*]
    };
}

/// (name, definition, SQL) of every shipped report.
pub const SHIPPED: &[(&str, &str, &str)] = shipped!(
    "campaign_page",
    "campaign_comparison",
    "ab_test",
    "link_clicks",
    "transactional",
    "pinpoint_csv",
);

/// Copy the shipped reports into the workspace at `root`, leaving any file
/// that is already there alone. Returns the files written.
pub fn install(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, toml, sql) in SHIPPED {
        for (dir, ext, text) in [(REPORTS_DIR, "toml", toml), (QUERIES_DIR, "sql", sql)] {
            let path = root.join(dir).join(format!("{name}.{ext}"));
            if path.exists() {
                continue;
            }
            crate::output::write_atomic(&path, text.as_bytes())?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_report_loads() {
        let dir = tempfile::tempdir().unwrap();
        let written = install(dir.path()).unwrap();
        assert_eq!(written.len(), 2 * SHIPPED.len());
        assert!(
            install(dir.path()).unwrap().is_empty(),
            "a second install keeps the files"
        );
        let (ok, bad) = crate::definition::load_all(dir.path(), "UTC");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok.len(), SHIPPED.len());
        assert!(ok.iter().all(|r| r.schedule.is_some()));
    }
}
