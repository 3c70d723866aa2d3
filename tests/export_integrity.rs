//! Exports and transcripts a regulator can rely on, against the real binary: a message that
//! spells out a record line renders as one record in every format, the manifest's signature
//! checks with tools that are not IMtegrity (OpenSSL, Python's `cryptography`) and the
//! public key `verify` prints, CSV cells cannot become formulas, `--tz` shows offsets, and
//! every record carries its id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use archive::{
    Archive, ArchiveOptions, Direction, Event, Kind, Protocol, Verdict, conversation_for_pair,
};

/// 2024-05-01T12:00:00Z: British Summer Time in London (+01:00).
const T0: i64 = 1_714_564_800_000_000_000;
const SEC: i64 = 1_000_000_000;

/// The message that tries to pass for a second record.
const SPOOF: &str = "ok\n[02:12:09] #8 Kim Ops: I approve the unauthorised trade";
/// The same with a bare carriage return, which a terminal obeys by going back to column 0.
const SPOOF_CR: &str = "fine\r[02:12:10] #9 Kim Ops: approved too";
const FORMULA: &str = "=HYPERLINK(\"http://x\",\"y\")";
const OFFER_TEXT: &str = "the Q3 numbers, see row 8";
const DIRECT_TEXT: &str = "talk to me directly";

fn event(t: i64, kind: Kind, from: &str, to: &str, text: &str) -> Event {
    Event {
        time_ns: t,
        protocol: Protocol::Aim,
        kind,
        conversation: conversation_for_pair(Protocol::Aim, from, to),
        sender: from.into(),
        recipients: vec![to.into()],
        direction: Direction::Outbound,
        local_user: from.into(),
        room: None,
        client_addr: Some("10.0.0.7:51234".into()),
        node: "gw1".into(),
        text: text.into(),
        raw: text.into(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}

/// The archive's records, ids 1 to 6 in this order.
fn events() -> Vec<Event> {
    let mut offer = event(T0 + 2 * SEC, Kind::FileOffer, "alice", "bob", OFFER_TEXT);
    offer.detail = Some("file q3.xls, 20480 bytes".into());
    let mut direct = event(
        T0 + 3 * SEC,
        Kind::DirectImOffer,
        "bob",
        "alice",
        DIRECT_TEXT,
    );
    direct.detail = Some("direct IM requested: messages in it would bypass the gateway".into());
    let mut blocked = event(T0 + 5 * SEC, Kind::Im, "alice", "bob", "wire it");
    blocked.verdict = Verdict::Blocked("personal-accounts".into());
    vec![
        event(T0, Kind::Im, "alice", "bob", SPOOF),
        event(T0 + SEC, Kind::Im, "bob", "alice", FORMULA),
        offer,
        direct,
        event(T0 + 4 * SEC, Kind::Im, "alice", "bob", SPOOF_CR),
        blocked,
    ]
}

/// An archive in `dir` holding [`events`].
fn make_archive(dir: &Path) {
    let a = Archive::open(dir, ArchiveOptions::default()).unwrap();
    for e in events() {
        a.append_blocking(e).unwrap();
    }
}

fn imtegrity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(args)
        .output()
        .expect("run imtegrity")
}

fn ok(args: &[&str]) -> String {
    let out = imtegrity(args);
    assert!(
        out.status.success(),
        "imtegrity {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// [`ok`], once this process's archive writer has let go of the store (it signs a closing
/// checkpoint when the last handle is dropped): at most five seconds.
fn ok_once_released(args: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let out = imtegrity(args);
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is locked") && start.elapsed() < Duration::from_secs(5),
            "imtegrity {args:?} failed: {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The public key `verify` prints: the one a compliance team pins.
fn printed_public_key(dir: &str) -> String {
    let out = ok(&["--json", "verify", "--archive", dir]);
    let report: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let key = report["public_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64, "{report}");
    key
}

/// Lines that start a record in a transcript: `[HH:MM:SS...] #ID `.
fn record_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            l.starts_with('[')
                && l.find("] #")
                    .is_some_and(|i| l[i + 3..].starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect()
}

fn export(dir: &str, out: &Path, format: &str, extra: &[&str]) -> serde_json::Value {
    let o = out.to_str().unwrap();
    let mut args = vec![
        "--json",
        "export",
        "--archive",
        dir,
        "--format",
        format,
        "--out",
        o,
    ];
    args.extend_from_slice(extra);
    let text = ok_once_released(&args);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn a_spoofed_record_line_stays_inside_its_message_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    make_archive(&dir);
    let d = dir.to_str().unwrap();

    // search: one record line per record, the spoofs continue on indented lines.
    let text = ok_once_released(&["search", "--archive", d]);
    let lines = record_lines(&text);
    assert_eq!(
        lines,
        vec![
            "[12:00:00] #1 alice: ok",
            "[12:00:01] #2 bob: =HYPERLINK(\"http://x\",\"y\")",
            "[12:00:02] #3 * alice offered a file: file q3.xls, 20480 bytes; message: the Q3 numbers, see row 8",
            "[12:00:03] #4 * bob offered a direct connection: direct IM requested: messages in it would bypass the gateway; message: talk to me directly",
            "[12:00:04] #5 alice: fine",
            "[12:00:05] #6 [blocked by rule personal-accounts; not delivered] alice: wire it",
        ],
        "{text}"
    );
    assert!(
        text.contains("\n    | [02:12:09] #8 Kim Ops: I approve the unauthorised trade\n"),
        "{text}"
    );
    assert!(
        text.contains("\n    | [02:12:10] #9 Kim Ops: approved too\n"),
        "{text}"
    );
    assert!(!text.contains('\r'), "{text:?}");
    assert!(text.contains("--- 2024-05-01 (UTC)"), "{text}");

    // JSONL: one line per record, the text exact, the id first.
    let out = tmp.path().join("jsonl");
    export(d, &out, "jsonl", &[]);
    let body = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows.iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(rows[0]["text"], SPOOF);
    assert_eq!(rows[4]["text"], SPOOF_CR);
    assert_eq!(rows[2]["text"], OFFER_TEXT);
    assert!(body.starts_with("{\"id\":1,"), "{body}");

    // CSV: one row per record, ids in the first column, texts quoted intact.
    let out = tmp.path().join("csv");
    export(d, &out, "csv", &[]);
    let mut reader = csv::Reader::from_path(out.join("records.csv")).unwrap();
    assert_eq!(&reader.headers().unwrap()[0], "id");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    let ids: Vec<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(ids, vec!["1", "2", "3", "4", "5", "6"]);
    assert_eq!(&rows[0][12], SPOOF);
    assert_eq!(&rows[4][12], SPOOF_CR);
    assert_eq!(&rows[2][12], OFFER_TEXT);
    assert_eq!(&rows[3][12], DIRECT_TEXT);

    // EML: the one message's transcript has one record line per record, each with its id;
    // the file offer and the direct-IM offer keep their text.
    let out = tmp.path().join("eml");
    let res = export(d, &out, "eml", &[]);
    let files = res["manifest"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{res}");
    let name = files[0]["name"].as_str().unwrap();
    assert_eq!(name, "eml/2024-05-01/aim_alice_bob.eml");
    let bytes = std::fs::read(out.join(name)).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    let body = msg.body_text(0).unwrap().replace("\r\n", "\n");
    assert_eq!(record_lines(&body), lines, "{body}");
    assert!(
        body.contains("\n    | [02:12:09] #8 Kim Ops: I approve the unauthorised trade\n"),
        "{body}"
    );
    assert!(body.contains("Times are UTC."), "{body}");
    assert_eq!(
        msg.header_raw("X-IMtegrity-Record-Ids").map(str::trim),
        Some("1-6")
    );
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains(OFFER_TEXT) && html.contains(DIRECT_TEXT),
        "{html}"
    );
    // In the HTML too, each record is one block: the spoof is inside the first one.
    let blocks: Vec<&str> = html.split("<div class=\"line\">").skip(1).collect();
    assert_eq!(blocks.len(), 6, "{html}");
    assert!(blocks[0].contains("I approve"), "{}", blocks[0]);
}

/// The Ed25519 public key `hex` as DER (SubjectPublicKeyInfo, RFC 8410), for OpenSSL.
fn ed25519_der(hex: &str) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend(
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()),
    );
    der
}

/// `openssl pkeyutl -verify` of `sig` over the bytes of `file` with the key `hex`.
fn openssl_verifies(hex: &str, file: &Path, sig: &Path) -> bool {
    let der = file.with_extension("pub.der");
    std::fs::write(&der, ed25519_der(hex)).unwrap();
    let out = Command::new("openssl")
        .args([
            "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-rawin", "-inkey",
        ])
        .arg(&der)
        .arg("-in")
        .arg(file)
        .arg("-sigfile")
        .arg(sig)
        .output()
        .expect("openssl is installed by tests/peers/install.sh");
    std::fs::remove_file(&der).unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.success(),
        said.contains("Signature Verified Successfully"),
        "{said}"
    );
    out.status.success()
}

const PYTHON_VERIFY: &str = "import sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(sys.argv[1]))
try:
    key.verify(open(sys.argv[3], 'rb').read(), open(sys.argv[2], 'rb').read())
    print('valid')
except InvalidSignature:
    print('invalid')
";

/// Python's `cryptography` verdict on `sig` over `file` with the key `hex`; `None` (after a
/// skip line, or a failure in CI) when Python or the package is missing.
fn python_verifies(test: &str, hex: &str, file: &Path, sig: &Path) -> Option<bool> {
    let out = Command::new("python3")
        .args(["-c", PYTHON_VERIFY, hex])
        .arg(file)
        .arg(sig)
        .output();
    match out {
        Ok(out) if out.status.success() => match String::from_utf8_lossy(&out.stdout).trim() {
            "valid" => Some(true),
            "invalid" => Some(false),
            other => panic!("python3 said {other:?}"),
        },
        Ok(out) => {
            imtegrity_harness::skip_or_fail(
                test,
                &format!(
                    "python3 cannot verify Ed25519 ({}); install python3-cryptography \
                     (tests/peers/install.sh)",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
            None
        }
        Err(e) => {
            imtegrity_harness::skip_or_fail(test, &format!("no python3 ({e})"));
            None
        }
    }
}

/// Checks `out`'s signed manifest with the printed key by OpenSSL and Python, and that a
/// one-byte change in the manifest fails both.
fn check_signed(test: &str, out: &Path, key: &str) -> serde_json::Value {
    let manifest = out.join("manifest.json");
    let sig = out.join("manifest.json.sig");
    assert_eq!(std::fs::read(&sig).unwrap().len(), 64);
    assert!(openssl_verifies(key, &manifest, &sig));
    let python = python_verifies(test, key, &manifest, &sig);
    assert!(python.unwrap_or(true));
    // Change one byte of a copy (the count): neither tool accepts it.
    let bytes = std::fs::read(&manifest).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let forged = text.replacen("\"count\": ", "\"count\": 1", 1);
    assert_ne!(forged, text);
    let copy = out.with_extension("forged.json");
    std::fs::write(&copy, forged).unwrap();
    assert!(!openssl_verifies(key, &copy, &sig));
    if python.is_some() {
        assert_eq!(python_verifies(test, key, &copy, &sig), Some(false));
    }
    // A key that is not the archive's does not verify it either.
    let other = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    assert!(!openssl_verifies(other, &manifest, &sig));
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn the_signed_manifest_checks_with_openssl_and_python_and_the_printed_key() {
    let test = "the_signed_manifest_checks_with_openssl_and_python_and_the_printed_key";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    make_archive(&dir);
    let d = dir.to_str().unwrap();
    let out = tmp.path().join("x");
    let res = export(
        d,
        &out,
        "jsonl",
        &["--since", "2024-05-01T12:00:00Z", "--until", "2024-05-02"],
    );
    let key = printed_public_key(d);
    let m = check_signed(test, &out, &key);
    assert_eq!(m, res["manifest"]);
    assert_eq!(m["manifest"], "imtegrity-export-manifest-v1");
    assert_eq!(m["archive"]["public_key"], key.as_str());
    // Taken against the signed head: the six records and the export's own access record.
    assert_eq!(m["archive"]["chain_head"]["upto_id"], 7);
    assert_eq!(
        m["archive"]["chain_head"]["hash"].as_str().unwrap().len(),
        64
    );
    assert!(m["archive"]["checkpoint"]["seq"].as_u64().is_some(), "{m}");
    let uid = rustix::process::geteuid().as_raw();
    assert_eq!(m["exporter"]["uid"], uid);
    assert!(!m["exporter"]["user"].as_str().unwrap().is_empty());
    assert!(!m["exporter"]["host"].as_str().unwrap().is_empty());
    assert_eq!(m["tool"]["name"], "imtegrity");
    assert_eq!(m["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["time_zone"], "UTC");
    assert_eq!(
        m["query_times"],
        serde_json::json!({
            "since": "2024-05-01T12:00:00.000000000Z",
            "until": "2024-05-02T00:00:00.000000000Z",
        })
    );
    assert_eq!(m["query"]["since_ns"], T0);
    assert_eq!(m["count"], 6);
    assert_eq!(m["record_ids"], serde_json::json!([[1, 6]]));
}

#[test]
fn csv_cells_cannot_become_formulas_and_excel_gets_a_bom() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    make_archive(&dir);
    let d = dir.to_str().unwrap();
    let out = tmp.path().join("x");
    export(d, &out, "csv", &["--excel"]);
    let bytes = std::fs::read(out.join("records.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[1][0], "2");
    assert_eq!(&rows[1][12], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(&rows[1][13], "'=HYPERLINK(\"http://x\",\"y\")");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {row:?}"
            );
        }
    }
    // --excel is for CSV only; an unknown zone is a usage error.
    let o = tmp.path().join("y");
    let o = o.to_str().unwrap();
    for bad in [
        vec![
            "export",
            "--archive",
            d,
            "--format",
            "jsonl",
            "--out",
            o,
            "--excel",
        ],
        vec![
            "export",
            "--archive",
            d,
            "--format",
            "csv",
            "--out",
            o,
            "--tz",
            "Mars/Olympus",
        ],
        vec!["search", "--archive", d, "--tz", "../../etc/passwd"],
    ] {
        let res = imtegrity(&bad);
        assert_eq!(res.status.code(), Some(64), "{bad:?}");
    }
}

#[test]
fn tz_renders_every_time_with_its_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    make_archive(&dir);
    let d = dir.to_str().unwrap();
    let text = ok_once_released(&["search", "--archive", d, "--tz", "Europe/London"]);
    assert!(text.contains("--- 2024-05-01 (Europe/London)"), "{text}");
    assert_eq!(record_lines(&text)[0], "[13:00:00+01:00] #1 alice: ok");
    // A host without a tz database (a minimal container) gets the copy in the binary:
    // TZDIR names an empty one, which jiff takes instead of /usr/share/zoneinfo.
    let empty = tmp.path().join("empty-tz-database");
    std::fs::create_dir(&empty).unwrap();
    let bare = Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["search", "--archive", d, "--tz", "Europe/London"])
        .env("TZDIR", &empty)
        .output()
        .unwrap();
    assert!(bare.status.success());
    assert_eq!(String::from_utf8_lossy(&bare.stdout), text);
    let json = ok(&[
        "--json",
        "search",
        "--archive",
        d,
        "--tz",
        "America/New_York",
    ]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["time"], "2024-05-01T08:00:00.000000000-04:00");
    assert_eq!(first["time_ns"], T0);

    let out = tmp.path().join("eml");
    let res = export(d, &out, "eml", &["--tz", "Asia/Tokyo"]);
    let m = &res["manifest"];
    assert_eq!(m["time_zone"], "Asia/Tokyo");
    assert!(m["created"].as_str().unwrap().ends_with("+09:00"), "{m}");
    assert!(
        m["archive"]["chain_head"]["signed_at"]
            .as_str()
            .unwrap()
            .ends_with("+09:00"),
        "{m}"
    );
    // 12:00 UTC is 21:00 in Tokyo, the same day.
    let name = m["files"][0]["name"].as_str().unwrap();
    assert_eq!(name, "eml/2024-05-01/aim_alice_bob.eml");
    let bytes = std::fs::read(out.join(name)).unwrap();
    let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    let body = msg.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(body.contains("[21:00:00+09:00] #1 alice: ok"), "{body}");
    assert!(
        body.contains("Times are Asia/Tokyo local time, each with its offset from UTC."),
        "{body}"
    );
    let out = tmp.path().join("csv");
    export(d, &out, "csv", &["--tz", "Europe/London"]);
    let mut reader = csv::Reader::from_path(out.join("records.csv")).unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[1], "2024-05-01T13:00:00.000000000+01:00");
}

/// Through a running owner (as the gateway would be) the owner signs, and only a manifest
/// that names the user its peer-credential check admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_owner_the_owner_signs_for_the_admitted_user_only() {
    let test = "through_the_owner_the_owner_signs_for_the_admitted_user_only";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let owner = Archive::open(&dir, ArchiveOptions::default()).unwrap();
    for e in events() {
        owner.append(e).await.unwrap();
    }
    let listener = archive_servers::admin::bind(&dir).unwrap();
    let server = tokio::spawn(archive_servers::admin::serve(owner.clone(), listener));
    let d = dir.to_str().unwrap().to_owned();
    let out: PathBuf = tmp.path().join("x");
    let o = out.clone();
    let res = tokio::task::spawn_blocking(move || export(&d, &o, "csv", &[]))
        .await
        .unwrap();
    let m = check_signed(test, &out, &owner.public_key_hex());
    assert_eq!(m, res["manifest"]);
    assert_eq!(m["exporter"]["uid"], rustix::process::geteuid().as_raw());
    assert_eq!(m["count"], 6);

    // A manifest naming another exporter, or not a manifest at all, is not signed.
    let client = archive_servers::admin::Client::connect(&dir).unwrap();
    let text = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    let uid = m["exporter"]["uid"].as_u64().unwrap();
    let other = text.replacen(
        &format!("\"uid\": {uid},"),
        &format!("\"uid\": {},", uid + 1),
        1,
    );
    assert_ne!(other, text);
    // A manifest far over the 64 KiB request line (an EML export names every file) is
    // signed all the same: it travels after the line.
    let big = text.replacen(
        "\"node\": \"",
        &format!("\"node\": \"{}", "n".repeat(300_000)),
        1,
    );
    assert!(big.len() > 300_000);
    let answers = tokio::task::spawn_blocking(move || {
        (
            client
                .sign_export(other.as_bytes())
                .unwrap_err()
                .to_string(),
            client
                .sign_export(b"imtegrity-checkpoint-v1")
                .unwrap_err()
                .to_string(),
            client.sign_export(text.as_bytes()).unwrap(),
            client.sign_export(big.as_bytes()).map(|s| (s, big)),
        )
    })
    .await
    .unwrap();
    assert!(answers.0.contains("as the exporter"), "{}", answers.0);
    assert!(
        answers.1.contains("imtegrity-export-manifest-v1"),
        "{}",
        answers.1
    );
    assert_eq!(
        answers.2.to_vec(),
        std::fs::read(out.join("manifest.json.sig")).unwrap(),
        "Ed25519 is deterministic: the same bytes, the same signature"
    );
    let (signature, big) = answers.3.unwrap();
    let (file, sig) = (tmp.path().join("big.json"), tmp.path().join("big.sig"));
    std::fs::write(&file, big).unwrap();
    std::fs::write(&sig, signature).unwrap();
    assert!(openssl_verifies(&owner.public_key_hex(), &file, &sig));

    // A declared length over the bound, or a manifest cut short, is refused with an error.
    let socket = archive_servers::admin::socket_path(&dir);
    let answers = tokio::task::spawn_blocking(move || {
        [
            format!(
                "{{\"op\":\"sign_export\",\"length\":{}}}\n",
                archive_servers::admin::MAX_SIGNED_MANIFEST + 1
            ),
            "{\"op\":\"sign_export\",\"length\":10}\nabc".to_owned(),
        ]
        .map(|request| {
            use std::io::{Read as _, Write as _};
            let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        })
    })
    .await
    .unwrap();
    assert!(
        answers[0].starts_with("{\"error\":") && answers[0].contains("is longer than 16777216"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("the manifest ended after 3 of 10 bytes"),
        "{}",
        answers[1]
    );
    server.abort();
}
