//! The crates as a library caller meets them: the store's ingest and the
//! extension over the caller's own table, without the binary.

use crate::support::Ws;

#[test]
fn an_ingest_through_the_library_brings_the_facts_to_its_commit() {
    let ws = Ws::new();
    let input = ws.scratch("gen");
    crate::support::generate(&input, 3_000, 5);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = sendlens_store::Workspace::open(&ws.path()).unwrap();
    let ingest = |options: &sendlens_store::IngestOptions| {
        sendlens_store::ingest(
            &store,
            std::slice::from_ref(&input),
            options,
            &Default::default(),
            rt.handle(),
        )
        .unwrap()
    };
    let facts_now = || {
        let table = rt.block_on(store.open_table()).unwrap();
        sendlens_store::facts::current(&store, &table)
    };

    let deferred = sendlens_store::IngestOptions {
        no_refresh: true,
        ..Default::default()
    };
    let summary = ingest(&deferred);
    assert!(summary.stored > 0 && summary.facts_error.is_none());
    assert!(facts_now().is_none(), "no_refresh leaves the facts alone");

    // The same stream again, plus one new record: a commit, and facts for it.
    let extra = input.join("late.json");
    std::fs::write(
        &extra,
        r#"{"event_type":"_email.open","event_timestamp":1764590400000,"arrival_timestamp":1764594000000,"application":{"app_id":"A1"},"client":{"client_id":"E-late"},"attributes":{"campaign_id":"C-late","campaign_activity_id":"R1","treatment_id":"0"},"facets":{"email_channel":{"mail_event":{"mail":{"message_id":"m-late"}}}}}"#,
    )
    .unwrap();
    let summary = ingest(&Default::default());
    assert_eq!(summary.stored, 1, "{summary:?}");
    assert!(summary.facts_error.is_none(), "{summary:?}");
    let dir = facts_now().expect("facts for the version just committed");
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("v{}-", summary.version.unwrap())),
        "{}",
        dir.display()
    );

    // Optimize commits too, and brings the facts along.
    let report = rt
        .block_on(sendlens_store::maintenance::optimize(&store))
        .unwrap();
    assert!(report.facts_error.is_none());
    assert!(facts_now().is_some());
}

#[test]
fn table_functions_called_again_in_one_session_answer_for_their_own_arguments() {
    // A session keeps one plan per shape of call and binds each call's
    // campaign and days to it: every answer must be the one a fresh session
    // gives for those arguments.
    let ws = Ws::new();
    let input = ws.scratch("gen");
    crate::support::generate(&input, 4_000, 7);
    ws.ingest(&[&input]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = sendlens_store::Workspace::open(&ws.path()).unwrap();
    let text = |ctx: &datafusion::prelude::SessionContext, sql: &str| {
        rt.block_on(crate::support::answer_text(ctx, sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let shared = rt.block_on(sendlens_store::open_session(&store)).unwrap();
    let picks = text(
        &shared,
        "SELECT campaign_id || ',' || CAST(CAST(first_sent_at AS DATE) AS VARCHAR) AS p \
         FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 2",
    );
    let picks: Vec<(String, chrono::NaiveDate)> = picks
        .lines()
        .filter_map(|l| l.trim_matches(|c| c == '|' || c == ' ').split_once(','))
        .map(|(c, d)| (c.to_string(), d.trim().parse().unwrap()))
        .collect();
    assert_eq!(picks.len(), 2, "two campaigns to ask for");
    let mut calls = Vec::new();
    for (campaign, first) in &picks {
        for (from, days) in [(0, 3), (1, 3), (0, 1)] {
            let start = *first + chrono::Days::new(from);
            let end = start + chrono::Days::new(days - 1);
            for f in [
                "campaign_dashboard",
                "campaign_daily",
                "campaign_treatments",
                "campaign_links",
            ] {
                calls.push(format!(
                    "SELECT * FROM {f}('{campaign}', '{start}', '{end}')"
                ));
            }
            calls.push(format!(
                "SELECT * FROM campaign_runs('{campaign}', '{start}', '{end}')"
            ));
            calls.push(format!(
                "SELECT * FROM campaign_comparison('{start}', '{end}')"
            ));
        }
        calls.push(format!("SELECT * FROM campaign_runs('{campaign}')"));
    }
    let mut differ = 0;
    let mut previous: Option<String> = None;
    for sql in &calls {
        let fresh = rt.block_on(sendlens_store::open_session(&store)).unwrap();
        let answer = text(&shared, sql);
        assert_eq!(answer, text(&fresh, sql), "{sql}");
        differ += usize::from(previous.as_ref().is_some_and(|p| *p != answer));
        previous = Some(answer);
    }
    assert!(
        differ > calls.len() / 2,
        "the calls ask different questions"
    );
}
