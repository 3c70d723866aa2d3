//! A shipped source belongs to the client that first wrote it, durably: another client's
//! records under it are refused whole, resends included, before and after a reopen.
#![allow(clippy::unwrap_used)]

use archive::{
    Archive, ArchiveError, ArchiveOptions, Direction, Event, IngestKey, Kind, Protocol, Verdict,
    conversation_for_pair,
};

fn im(text: &str) -> Event {
    Event {
        time_ns: 1,
        protocol: Protocol::Sametime,
        kind: Kind::Im,
        conversation: conversation_for_pair(Protocol::Sametime, "ann", "ben"),
        sender: "ann".into(),
        recipients: vec!["ben".into()],
        direction: Direction::Internal,
        local_user: "ann".into(),
        room: None,
        client_addr: None,
        node: String::new(),
        text: text.into(),
        raw: text.into(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}

fn batch(
    client: &str,
    source: &str,
    seqs: std::ops::RangeInclusive<u64>,
) -> Vec<(Event, IngestKey)> {
    seqs.map(|seq| {
        (
            im(&format!("{client} {seq}")),
            IngestKey {
                source: source.into(),
                seq,
                client: client.into(),
            },
        )
    })
    .collect()
}

fn claimed(result: Result<Vec<archive::Receipt>, ArchiveError>) -> (String, String) {
    match result {
        Err(ArchiveError::SourceClaimed { source_id, owner }) => (source_id, owner),
        other => panic!("expected SourceClaimed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_stays_with_its_first_client_across_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        let receipts = a
            .append_keyed_all(batch("st-a", "spool-a", 1..=2))
            .await
            .unwrap();
        assert_eq!(receipts.len(), 2);
        // New seqs, and resends of stored ones: both refused, nothing stored.
        for seqs in [3..=4, 1..=2] {
            assert_eq!(
                claimed(a.append_keyed_all(batch("st-b", "spool-a", seqs)).await),
                ("spool-a".to_owned(), "st-a".to_owned())
            );
        }
        // Its own source is B's; A's next records still go in.
        a.append_keyed_all(batch("st-b", "spool-b", 1..=1))
            .await
            .unwrap();
        a.append_keyed_all(batch("st-a", "spool-a", 3..=3))
            .await
            .unwrap();
        assert_eq!(a.len(), 4);
        // Two clients' first writes to a new source in one commit: the first wins.
        let mut both = batch("st-a", "spool-c", 1..=1);
        both.extend(batch("st-b", "spool-c", 2..=2));
        claimed(a.append_keyed_all(both).await);
        assert_eq!(a.len(), 5);
        a.sync().await.unwrap();
    }
    // Reopened once the closing writer lets go (bounded: 10 s).
    let mut tries = 0;
    let a = loop {
        match Archive::open(tmp.path(), ArchiveOptions::default()) {
            Ok(a) => break a,
            Err(ArchiveError::Locked { .. }) if tries < 500 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(
        claimed(a.append_keyed_all(batch("st-b", "spool-a", 5..=5)).await),
        ("spool-a".to_owned(), "st-a".to_owned())
    );
    claimed(a.append_keyed_all(batch("st-a", "spool-b", 2..=2)).await);
    assert_eq!(a.len(), 5);
    let query = archive::Query::default();
    let texts: Vec<String> = a.search(&query).map(|r| r.unwrap().event.text).collect();
    assert_eq!(texts, ["st-a 1", "st-a 2", "st-b 1", "st-a 3", "st-a 1"]);
    assert!(a.verify().unwrap().is_intact());
}
