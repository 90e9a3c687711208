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
