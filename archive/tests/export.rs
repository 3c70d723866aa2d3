//! Export a real on-disk archive in every format and read each file back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use archive::export::{
    ExportOptions, Exporter, Format, MANIFEST_FILE, Manifest, SIGNATURE_FILE, Tool, Zone, export,
};
use archive::{
    Archive, ArchiveOptions, Direction, Event, Kind, Protocol, Query, Record, Verdict,
    conversation_for_pair, conversation_for_room,
};
use sha2::{Digest, Sha256};

/// 2024-03-04T09:00:00Z.
const T0: i64 = 1_709_542_800_000_000_000;
const SEC: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SEC;

fn event(t: i64, protocol: Protocol, kind: Kind, from: &str, to: &str, text: &str) -> Event {
    Event {
        time_ns: t,
        protocol,
        kind,
        conversation: conversation_for_pair(protocol, from, to),
        sender: from.into(),
        recipients: vec![to.into()],
        direction: Direction::Outbound,
        local_user: from.into(),
        room: None,
        client_addr: Some("10.0.0.7:51234".into()),
        node: String::new(),
        text: text.into(),
        raw: format!("<HTML><BODY><FONT COLOR=\"#000000\">{text}</FONT></BODY></HTML>"),
        charset: Some("utf-8".into()),
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}

fn im(t: i64, from: &str, to: &str, text: &str) -> Event {
    event(t, Protocol::Aim, Kind::Im, from, to, text)
}

fn in_room(t: i64, kind: Kind, who: &str, text: &str) -> Event {
    let mut e = event(t, Protocol::Aim, kind, who, "", text);
    e.recipients = vec![];
    e.room = Some("Trading Desk".into());
    e.conversation = conversation_for_room(Protocol::Aim, "Trading Desk");
    e
}

/// The archive's contents, in the order appended (which is time order).
fn events() -> Vec<Event> {
    let mut blocked = im(
        T0 + 50 * SEC,
        "Alice Smith",
        "bob",
        "wire it to my personal account",
    );
    blocked.verdict = Verdict::Blocked("personal-accounts".into());
    let mut policy = im(
        T0 + 50 * SEC,
        "Alice Smith",
        "bob",
        "wire it to my personal account",
    );
    policy.kind = Kind::PolicyAction;
    policy.verdict = Verdict::Blocked("personal-accounts".into());
    policy.detail = Some("rule personal-accounts matched \"personal account\"".into());
    vec![
        // Day one, 2024-03-04.
        im(T0, "Alice Smith", "bob", "Hello Bob, the Q3 numbers are in"),
        im(
            T0 + 10 * SEC,
            "bob",
            "AliceSmith",
            "Great & thanks — café ☕ <b>not bold</b> <script>alert(1)</script>",
        ),
        in_room(T0 + 20 * SEC, Kind::ChatJoin, "carol", ""),
        in_room(
            T0 + 30 * SEC,
            Kind::ChatMessage,
            "carol",
            "Grüße an alle — 日本語のテスト",
        ),
        event(
            T0 + 40 * SEC,
            Protocol::Icq,
            Kind::Im,
            "12345",
            "67890",
            "Привет, как дела?",
        ),
        blocked,
        policy,
        // Day two, 2024-03-05.
        im(T0 + DAY, "bob", "Alice Smith", "day two,\nsecond line"),
        in_room(
            T0 + DAY + SEC,
            Kind::ChatMessage,
            "dave",
            "\"quoted\", comma",
        ),
        in_room(T0 + DAY + 2 * SEC, Kind::ChatLeave, "dave", ""),
    ]
}

async fn filled(dir: &Path) -> (Archive, Vec<Record>) {
    let a = Archive::open(
        dir,
        ArchiveOptions {
            node: Some("gw1".into()),
            ..ArchiveOptions::default()
        },
    )
    .unwrap();
    let mut records = Vec::new();
    for e in events() {
        let receipt = a.append(e.clone()).await.unwrap();
        let mut event = e;
        event.node = "gw1".into();
        records.push(Record {
            id: receipt.id,
            event,
        });
    }
    (a, records)
}

fn options(format: Format, out: &Path) -> ExportOptions {
    ExportOptions {
        format,
        out_dir: out.to_path_buf(),
        node: "exporter-1".into(),
        zone: Zone::utc(),
        byte_order_mark: false,
        exporter: Exporter {
            uid: 1000,
            user: "officer".into(),
            host: "review-1".into(),
        },
        tool: Tool {
            name: "imtegrity".into(),
            version: "1.2.3".into(),
        },
    }
}

fn run(a: &Archive, query: &Query, format: Format, out: PathBuf) -> Manifest {
    let options = options(format, &out);
    let mut calls = Vec::new();
    let manifest = export(a.search(query), query, &options, a, &mut |n| calls.push(n)).unwrap();
    assert_eq!(
        calls,
        vec![manifest.count],
        "fewer than 1000 records: one final call"
    );
    check_manifest(&out, &manifest);
    assert_eq!(manifest.archive.public_key, a.public_key_hex());
    let head = manifest.archive.chain_head.as_ref().unwrap();
    assert_eq!(head.upto_id, a.head_id());
    assert_eq!(manifest.exporter.user, "officer");
    assert_eq!(manifest.tool.version, "1.2.3");
    manifest
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file the manifest names exists with its size and SHA-256, no other file exists,
/// and `manifest.json` says the same as the returned manifest.
fn check_manifest(dir: &Path, manifest: &Manifest) {
    let on_disk: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(&on_disk, manifest);
    assert_eq!(manifest.node, "exporter-1");
    assert!(manifest.created.ends_with('Z') && manifest.created.len() == 30);
    assert_eq!(manifest.time_zone, "UTC");
    // The signature is the archive key's over the exact bytes of manifest.json.
    let bytes = std::fs::read(dir.join(MANIFEST_FILE)).unwrap();
    let signature = std::fs::read(dir.join(SIGNATURE_FILE)).unwrap();
    let key = archive::parse_public_key(&manifest.archive.public_key).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
    ed25519_dalek::Verifier::verify(&key, &bytes, &signature).unwrap();
    let mut named = BTreeSet::new();
    for f in &manifest.files {
        let bytes = std::fs::read(dir.join(&f.name)).unwrap();
        assert_eq!(f.bytes, bytes.len() as u64, "{}", f.name);
        assert_eq!(f.sha256, sha256_hex(&bytes), "{}", f.name);
        named.insert(f.name.clone());
    }
    assert_eq!(
        manifest.files.iter().map(|f| f.records).sum::<u64>(),
        manifest.count
    );
    let mut found = BTreeSet::new();
    walk(dir, dir, &mut found);
    found.remove(MANIFEST_FILE);
    found.remove(SIGNATURE_FILE);
    assert_eq!(found, named);
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap();
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[tokio::test]
async fn jsonl_reads_back_as_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, records) = filled(&tmp.path().join("archive")).await;
    let q = Query::default();
    let m = run(&a, &q, Format::Jsonl, tmp.path().join("out"));
    assert_eq!((m.format.as_str(), m.count), ("jsonl", 10));
    assert_eq!(m.record_ids, vec![(1, 10)]);
    assert_eq!(m.files.len(), 1);
    assert_eq!(m.files[0].name, "records.jsonl");
    let body = std::fs::read_to_string(tmp.path().join("out/records.jsonl")).unwrap();
    let back: Vec<Record> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, records);
    let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(first["time"], "2024-03-04T09:00:00.000000000Z");
    assert_eq!(first["time_ns"], T0);
    assert_eq!(first["id"], 1);
}

#[tokio::test]
async fn csv_reads_back_with_a_narrowed_query() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, records) = filled(&tmp.path().join("archive")).await;
    // Bob's records: the AIM pair conversation only (ids 1, 2, 6, 7, 8).
    let q = Query {
        user: Some("BOB".into()),
        ..Query::default()
    };
    let m = run(&a, &q, Format::Csv, tmp.path().join("out"));
    assert_eq!(m.query, q);
    assert_eq!(m.count, 5);
    assert_eq!(m.record_ids, vec![(1, 2), (6, 8)]);
    let mut reader = csv::Reader::from_path(tmp.path().join("out/records.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "time",
            "protocol",
            "kind",
            "conversation",
            "room",
            "sender",
            "recipients",
            "direction",
            "local_user",
            "client_addr",
            "node",
            "text",
            "raw",
            "charset",
            "verdict",
            "detail",
            "employee"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let wanted: Vec<&Record> = records
        .iter()
        .filter(|r| [1, 2, 6, 7, 8].contains(&r.id))
        .collect();
    assert_eq!(rows.len(), wanted.len());
    for (row, r) in rows.iter().zip(wanted) {
        let e = &r.event;
        assert_eq!(row[0].parse::<u64>().unwrap(), r.id);
        assert_eq!(&row[2], e.protocol.as_str());
        assert_eq!(&row[3], e.kind.as_str());
        assert_eq!(&row[4], e.conversation);
        assert_eq!(&row[6], e.sender);
        assert_eq!(&row[7], e.recipients.join(";"));
        assert_eq!(&row[11], "gw1");
        assert_eq!(
            &row[12], e.text,
            "texts with commas, quotes, breaks survive"
        );
        assert_eq!(&row[13], e.raw);
    }
    assert_eq!(&rows[0][1], "2024-03-04T09:00:00.000000000Z");
    assert_eq!(&rows[2][15], "blocked:personal-accounts");
    assert_eq!(
        &rows[3][16],
        "rule personal-accounts matched \"personal account\""
    );
    assert_eq!(&rows[4][12], "day two,\nsecond line");
}

fn parse(bytes: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default().parse(bytes).unwrap()
}

fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<(String, String)> {
    a.map(|a| {
        a.iter()
            .map(|x| {
                (
                    x.name().unwrap_or_default().to_owned(),
                    x.address().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn eml_one_message_per_conversation_per_day() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = filled(&tmp.path().join("archive")).await;
    let q = Query::default();
    let out = tmp.path().join("out");
    let m = run(&a, &q, Format::Eml, out.clone());
    assert_eq!(m.count, 10);
    assert_eq!(m.record_ids, vec![(1, 10)]);
    let files: Vec<(&str, u64)> = m
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.records))
        .collect();
    assert_eq!(
        files,
        vec![
            ("eml/2024-03-04/aim_alicesmith_bob.eml", 4),
            ("eml/2024-03-04/aim_room_trading_desk.eml", 2),
            ("eml/2024-03-04/icq_12345_67890.eml", 1),
            ("eml/2024-03-05/aim_alicesmith_bob.eml", 1),
            ("eml/2024-03-05/aim_room_trading_desk.eml", 2),
        ]
    );

    struct Expect {
        file: &'static str,
        from: (&'static str, &'static str),
        to: Vec<(&'static str, &'static str)>,
        subject: &'static str,
        ids: &'static str,
        date: i64,
        conversation: &'static str,
        lines: Vec<&'static str>,
    }
    let expect = [
        Expect {
            file: "eml/2024-03-04/aim_alicesmith_bob.eml",
            from: ("Alice Smith", "alicesmith@aim.invalid"),
            to: vec![("bob", "bob@aim.invalid")],
            subject: "IM conversation Alice Smith, bob 2024-03-04 (aim)",
            ids: "1-7",
            date: T0,
            conversation: "aim:alicesmith|bob",
            lines: vec![
                "[09:00:00] #1 Alice Smith: Hello Bob, the Q3 numbers are in",
                "[09:00:10] #2 bob: Great & thanks — café ☕ <b>not bold</b> <script>alert(1)</script>",
                "[09:00:50] #6 [blocked by rule personal-accounts; not delivered] Alice Smith: wire it to my personal account",
                "[09:00:50] #7 ! policy blocked:personal-accounts (Alice Smith): rule personal-accounts matched \"personal account\"",
            ],
        },
        Expect {
            file: "eml/2024-03-04/aim_room_trading_desk.eml",
            from: ("carol", "carol@aim.invalid"),
            to: vec![],
            subject: "IM conversation room Trading Desk 2024-03-04 (aim)",
            ids: "3-4",
            date: T0 + 20 * SEC,
            conversation: "aim:room:trading desk",
            lines: vec![
                "[09:00:20] #3 * carol joined Trading Desk",
                "[09:00:30] #4 carol: Grüße an alle — 日本語のテスト",
            ],
        },
        Expect {
            file: "eml/2024-03-04/icq_12345_67890.eml",
            from: ("12345", "12345@icq.invalid"),
            to: vec![("67890", "67890@icq.invalid")],
            subject: "IM conversation 12345, 67890 2024-03-04 (icq)",
            ids: "5-5",
            date: T0 + 40 * SEC,
            conversation: "icq:12345|67890",
            lines: vec!["[09:00:40] #5 12345: Привет, как дела?"],
        },
        Expect {
            file: "eml/2024-03-05/aim_alicesmith_bob.eml",
            from: ("bob", "bob@aim.invalid"),
            to: vec![("Alice Smith", "alicesmith@aim.invalid")],
            subject: "IM conversation bob, Alice Smith 2024-03-05 (aim)",
            ids: "8-8",
            date: T0 + DAY,
            conversation: "aim:alicesmith|bob",
            lines: vec!["[09:00:00] #8 bob: day two,\n    | second line"],
        },
        Expect {
            file: "eml/2024-03-05/aim_room_trading_desk.eml",
            from: ("dave", "dave@aim.invalid"),
            to: vec![],
            subject: "IM conversation room Trading Desk 2024-03-05 (aim)",
            ids: "9-10",
            date: T0 + DAY + SEC,
            conversation: "aim:room:trading desk",
            lines: vec![
                "[09:00:01] #9 dave: \"quoted\", comma",
                "[09:00:02] #10 * dave left Trading Desk",
            ],
        },
    ];
    for x in expect {
        let bytes = std::fs::read(out.join(x.file)).unwrap();
        let msg = parse(&bytes);
        assert_eq!(
            addresses(msg.from()),
            vec![(x.from.0.to_owned(), x.from.1.to_owned())],
            "{}",
            x.file
        );
        let to: Vec<(String, String)> =
            x.to.iter()
                .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
                .collect();
        assert_eq!(addresses(msg.to()), to, "{}", x.file);
        assert_eq!(msg.subject(), Some(x.subject), "{}", x.file);
        assert_eq!(
            msg.header_raw("X-IMtegrity-Record-Ids").map(str::trim),
            Some(x.ids)
        );
        assert_eq!(
            msg.header("X-IMtegrity-Conversation")
                .and_then(|h| h.as_text()),
            Some(x.conversation)
        );
        assert_eq!(
            msg.date().unwrap().to_timestamp(),
            x.date / SEC,
            "{}",
            x.file
        );
        assert!(
            msg.message_id()
                .unwrap()
                .ends_with("@exporter-1.imtegrity.invalid")
        );
        assert_eq!(msg.text_body_count(), 1);
        assert_eq!(msg.html_body_count(), 1);
        // Bodies travel with CRLF line ends.
        let text = msg.body_text(0).unwrap().replace("\r\n", "\n");
        let html = msg.body_html(0).unwrap().replace("\r\n", "\n");
        for line in &x.lines {
            assert!(text.contains(line), "{}: {line:?} not in\n{text}", x.file);
            let escaped = html_escape(line);
            assert!(
                html.contains(&escaped),
                "{}: {escaped:?} not in\n{html}",
                x.file
            );
        }
        assert!(
            !html.contains("<script>") && !html.contains("<b>not"),
            "{html}"
        );
    }
}

#[tokio::test]
async fn an_export_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = filled(&tmp.path().join("archive")).await;
    let q = Query::default();
    let out = tmp.path().join("out");
    let first = run(&a, &q, Format::Jsonl, out.clone());
    let options = options(Format::Csv, &out);
    let err = export(a.search(&q), &q, &options, &a, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, archive::ArchiveError::Invalid { .. }),
        "{err}"
    );
    // The earlier export is untouched and still matches its manifest.
    check_manifest(&out, &first);
}
