//! optimize and vacuum leave every query's answer unchanged.

use crate::support::{Ws, generate, run_ok};

const CHECKS: &[&str] = &[
    "SELECT COUNT(*) AS n, COUNT(DISTINCT record_hash) AS ids, COUNT(DISTINCT message_key) AS messages FROM events",
    "SELECT campaign_id, event_type, COUNT(*) AS n, MIN(occurred_at) AS first, MAX(occurred_at) AS last FROM events GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT event_date, COUNT(*) AS n, SUM(price_millicents) AS spend FROM events GROUP BY 1 ORDER BY 1",
];

fn answers(ws: &Ws) -> Vec<Vec<serde_json::Value>> {
    CHECKS.iter().map(|q| ws.query(q)).collect()
}

fn data_files(ws: &Ws) -> usize {
    walk(&ws.path().join("events"))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}

#[test]
fn optimize_and_vacuum_keep_answers() {
    let ws = Ws::new();
    // Many small ingests leave many small files.
    for seed in 0..4 {
        let dir = ws.scratch(&format!("in{seed}"));
        generate(&dir, 1_500, seed);
        ws.ingest(&[&dir]);
    }
    let before = answers(&ws);
    let files_before = data_files(&ws);
    let wsp = ws.path();
    let out = run_ok(&["--workspace", wsp.to_str().unwrap(), "optimize"]);
    assert!(out.contains("Rewrote"), "{out}");
    assert_eq!(answers(&ws), before);
    let out = run_ok(&[
        "--workspace",
        wsp.to_str().unwrap(),
        "vacuum",
        "--retain-days",
        "0",
    ]);
    assert!(out.contains("Deleted"), "{out}");
    let files_after = data_files(&ws);
    assert!(
        files_after < files_before,
        "{files_after} files after, {files_before} before"
    );
    assert_eq!(answers(&ws), before);
}
