//! The reviewer console in a real browser: Debian's chromium, headless, driven over
//! WebDriver by chromedriver. A reviewer logs in, browses a user's day, reads a record with
//! its integrity badge, finds it by a phrase and a prefix with the words marked; an IM
//! carrying `<script>` and an `<img onerror>` shows as text and runs nothing; two alerts are
//! reviewed with the keyboard alone; a user outside the reviewer's scope and the access trail are refused; the
//! auditor then finds every one of those views, refusals included, in the trail.
//! A failing run leaves a screenshot in the target directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use archive::{
    Archive, ArchiveOptions, Direction, Event, Protocol, Verdict, conversation_for_pair,
};
use fantoccini::{Client, ClientBuilder, Locator};
use imtegrity_harness::ingest::event;
use imtegrity_harness::{Binary, add_console_user, free_loopback_port, tools_present};

const IMTEGRITY: &str = env!("CARGO_BIN_EXE_imtegrity");
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "correct horse battery staple";
/// AIM messages are HTML: this one would run script twice over if a page used it as markup.
const HOSTILE: &str = "<script>window.pwned=1;alert(1)</script><img src=x onerror=\"window.pwned=2;alert(2)\">deal at noon";

const CONFIG: &str = "[[policy.groups]]\nname = \"traders\"\nscreen_names = [\"trader*\"]\nprofile = \"default\"\n\
                      [[policy.groups]]\nname = \"sales\"\nscreen_names = [\"sales*\"]\nprofile = \"default\"\n";

/// A child killed when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn im(from: &str, to: &str, text: &str, time_ns: i64) -> Event {
    Event {
        time_ns,
        protocol: Protocol::Aim,
        conversation: conversation_for_pair(Protocol::Aim, from, to),
        sender: from.into(),
        recipients: vec![to.into()],
        direction: Direction::Outbound,
        local_user: from.into(),
        node: "gw1".into(),
        ..event(text)
    }
}

/// An archive holding, all yesterday at noon UTC (one day whatever the hour the test runs):
/// a hostile IM and a plain one from trader1, two IMs from trader1 the policy alerted on,
/// and one from sales1.
fn archive(dir: &Path) {
    const SEC: i64 = 1_000_000_000;
    const DAY: i64 = 86_400 * SEC;
    let a = Archive::open(dir, ArchiveOptions::default()).unwrap();
    let noon = archive::now_ns() / DAY * DAY - DAY / 2;
    let alerted = |text: &str, at: i64| Event {
        verdict: Verdict::Alerted("watch words".into()),
        ..im("trader1", "outsider", text, at)
    };
    for event in [
        im("trader1", "outsider", HOSTILE, noon),
        im("trader1", "outsider", "second message", noon + SEC),
        alerted("guaranteed returns, act now", noon + 2 * SEC),
        alerted("an insider tip on the merger", noon + 3 * SEC),
        im("sales1", "trader2", "from sales", noon + 4 * SEC),
    ] {
        a.append_blocking(event).unwrap();
    }
}

/// `imtegrity console` on a free loopback port; its base URL.
fn console(config: &Path, users: &Path, archive: &Path) -> (Running, String) {
    let mut child = Command::new(IMTEGRITY)
        .args(["console", "--listen", "127.0.0.1:0", "--archive"])
        .arg(archive)
        .arg("--config")
        .arg(config)
        .arg("--set")
        .arg(format!("console.users={}", users.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches(',')
        .to_owned();
    (Running(child), url)
}

/// chromedriver on a free port, answering.
fn chromedriver() -> (Running, String) {
    let port = free_loopback_port().unwrap();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Running(child), format!("http://127.0.0.1:{port}"))
}

async fn browser(driver: &str, profile: &Path) -> Client {
    // fantoccini's HTTP client links a second rustls provider; ours is ring (the WebDriver
    // connection itself is plain HTTP on loopback).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(driver)
        .await
        .unwrap()
}

type Step = Result<(), String>;

fn check(ok: bool, what: impl Into<String>) -> Step {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// The element `css` names, waiting for it (a click's navigation may still be loading).
async fn element(c: &Client, css: &str) -> Result<fantoccini::elements::Element, String> {
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))
}

async fn text(c: &Client, css: &str) -> Result<String, String> {
    element(c, css)
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .text()
        .await
        .map_err(|e| format!("{css}: {e}"))
}

async fn login(c: &Client, base: &str, name: &str) -> Step {
    c.goto(base).await.map_err(|e| e.to_string())?;
    let url = c.current_url().await.map_err(|e| e.to_string())?;
    check(
        url.path() == "/login",
        format!("not sent to the login form: {url}"),
    )?;
    element(c, "#login input[name=name]")
        .await?
        .send_keys(name)
        .await
        .map_err(|e| e.to_string())?;
    element(c, "#login input[name=password]")
        .await?
        .send_keys(PASSWORD)
        .await
        .map_err(|e| e.to_string())?;
    element(c, "#login button")
        .await?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let who = text(c, "#whoami").await?;
    check(who.starts_with(name), format!("logged in as {who:?}"))
}

async fn reviewer_session(c: &Client, base: &str) -> Step {
    login(c, base, "rita").await?;
    // Browse a user: the form, the days, the first day's thread.
    element(c, "#browse input[name=user]")
        .await?
        .send_keys("Trader1")
        .await
        .map_err(|e| e.to_string())?;
    element(c, "#browse button")
        .await?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    element(c, "#days a")
        .await?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let thread = text(c, "#thread").await?;
    check(
        thread.contains("<script>window.pwned=1;alert(1)</script>")
            && thread.contains("deal at noon"),
        format!("the hostile IM is not shown as its text: {thread:?}"),
    )?;
    check(
        thread.contains("second message"),
        format!("the second IM is missing: {thread:?}"),
    )?;
    // Inert: no dialog opened, no element made from the message, nothing it set.
    check(c.get_alert_text().await.is_err(), "a dialog opened")?;
    let probe = c
        .execute(
            "return [typeof window.pwned, document.querySelectorAll('#thread img, #thread script').length]",
            Vec::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    check(
        probe == serde_json::json!(["undefined", 0]),
        format!("the hostile IM ran or made elements: {probe}"),
    )?;
    // Its permalink, with the integrity badge.
    element(c, "#thread a.time")
        .await?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let badge = text(c, "#integrity").await?;
    check(badge.starts_with("Verified"), format!("badge: {badge:?}"))?;
    let shown = text(c, "#text").await?;
    check(shown == HOSTILE, format!("the record page shows {shown:?}"))?;
    // Search: a phrase and a prefix, found through the text index and marked in the text.
    c.goto(&format!("{base}search"))
        .await
        .map_err(|e| e.to_string())?;
    element(c, "#search input[name=q]")
        .await?
        .send_keys("\"deal at\" noo*")
        .await
        .map_err(|e| e.to_string())?;
    element(c, "#search button")
        .await?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let hits = text(c, "#hits").await?;
    check(
        hits.contains("deal at noon") && !hits.contains("second message"),
        format!("hits: {hits:?}"),
    )?;
    let marked = c
        .execute(
            "return [Array.from(document.querySelectorAll('#hits mark')).map(m => m.textContent), document.querySelectorAll('#hits img, #hits script').length, typeof window.pwned]",
            Vec::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    check(
        marked == serde_json::json!([["deal at", "noon"], 0, "undefined"]),
        format!("the marks, or the hit ran: {marked}"),
    )?;
    check(
        c.get_alert_text().await.is_err(),
        "a dialog opened on the search page",
    )?;
    review_with_the_keyboard(c, base).await?;
    // Outside the scope, and the trail: refused.
    c.goto(&format!("{base}u/sales1"))
        .await
        .map_err(|e| e.to_string())?;
    let problem = text(c, "#problem").await?;
    check(
        problem.contains("outside this account's scope"),
        format!("sales1: {problem:?}"),
    )?;
    c.goto(&format!("{base}audit"))
        .await
        .map_err(|e| e.to_string())?;
    let problem = text(c, "#problem").await?;
    check(
        problem.contains("only auditors"),
        format!("audit: {problem:?}"),
    )?;
    // Log out: the session is gone.
    c.goto(base).await.map_err(|e| e.to_string())?;
    element(c, "header form button")
        .await?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    c.goto(&format!("{base}u/trader1"))
        .await
        .map_err(|e| e.to_string())?;
    let url = c.current_url().await.map_err(|e| e.to_string())?;
    check(
        url.path() == "/login",
        format!("still logged in after logout: {url}"),
    )
}

/// Presses and releases `key`, as a person at the keyboard would.
async fn press(c: &Client, key: char) -> Step {
    use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    c.perform_actions(keys).await.map_err(|e| e.to_string())
}

/// The ids in the review queue, waiting until there are `n` of them (a decision reloads it).
async fn queue_ids(c: &Client, n: usize) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ids = c
            .execute(
                "const q = document.getElementById('queue'); return q ? Array.from(q.querySelectorAll('li')).map(l => l.dataset.item) : null",
                Vec::new(),
            )
            .await
            .map_err(|e| e.to_string())?;
        if let Some(ids) = ids.as_array().filter(|ids| ids.len() == n) {
            return Ok(ids
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect());
        }
        if Instant::now() > deadline {
            return Err(format!("the queue holds {ids}, not {n} items"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The two alerts reviewed with the keyboard only: `?` shows the keys, `e` closes the
/// focused item as "no issue" (the page reloads), twice; each decision is then on the
/// record's page.
async fn review_with_the_keyboard(c: &Client, base: &str) -> Step {
    c.goto(&format!("{base}queue"))
        .await
        .map_err(|e| e.to_string())?;
    let ids = queue_ids(c, 2).await?;
    press(c, '?').await?;
    let help = c
        .execute(
            "return document.getElementById('keys-help').hidden",
            Vec::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    check(help == serde_json::json!(false), "? did not show the keys")?;
    press(c, 'e').await?;
    queue_ids(c, 1).await?;
    press(c, 'e').await?;
    queue_ids(c, 0).await?;
    for id in ids {
        c.goto(&format!("{base}r/{id}"))
            .await
            .map_err(|e| e.to_string())?;
        let reviews = text(c, "#reviews").await?;
        check(
            reviews.contains("rita: no_issue"),
            format!("record {id}'s reviews: {reviews:?}"),
        )?;
    }
    Ok(())
}

async fn auditor_session(c: &Client, base: &str) -> Step {
    login(c, base, "al").await?;
    element(c, "#trail")
        .await?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let trail = text(c, "#accesses").await?;
    for seen in [
        "console user rita console login",
        "console user rita console user",
        "console user rita console day",
        "console user rita console record",
        "console user rita console search",
        "console user rita console queue",
        "console user rita console denied",
    ] {
        check(
            trail.contains(seen),
            format!("the trail lacks {seen:?}: {trail}"),
        )?;
    }
    check(
        trail.contains("outside this account's scope"),
        "the refusal's reason is not in the trail",
    )?;
    // And the auditor reads no content.
    c.goto(&format!("{base}u/trader1"))
        .await
        .map_err(|e| e.to_string())?;
    let problem = text(c, "#problem").await?;
    check(
        problem.contains("reads no message content"),
        format!("auditor on content: {problem:?}"),
    )
}

/// Saves what the browser shows, for a failed run.
async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console-browser-{name}.png"));
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(&path, png);
    }
    path
}

#[test]
fn a_reviewer_browses_and_reads_inert_content_and_the_auditor_sees_every_view() {
    if !tools_present(
        "a_reviewer_browses_and_reads_inert_content_and_the_auditor_sees_every_view",
        &[CHROMIUM, CHROMEDRIVER],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let users = dir.path().join("users.toml");
    let archive_dir = dir.path().join("archive");
    archive(&archive_dir);
    let imtegrity = Binary::at(IMTEGRITY);
    let reviewer = ["rita", "--role", "reviewer", "--scope", "traders"];
    add_console_user(imtegrity, &config, &users, &reviewer, PASSWORD);
    add_console_user(
        imtegrity,
        &config,
        &users,
        &["al", "--role", "auditor"],
        PASSWORD,
    );
    let (_console, base) = console(&config, &users, &archive_dir);
    let (_driver, driver) = chromedriver();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(sessions(dir.path(), &driver, &base));
}

async fn sessions(dir: &Path, driver: &str, base: &str) {
    for (name, run) in [("reviewer", 0), ("auditor", 1)] {
        let profile = dir.join(format!("profile-{name}"));
        let c = browser(driver, &profile).await;
        let outcome = if run == 0 {
            reviewer_session(&c, base).await
        } else {
            auditor_session(&c, base).await
        };
        if let Err(why) = outcome {
            let shot = screenshot(&c, name).await;
            let _ = c.close().await;
            panic!("{name}: {why} (screenshot: {})", shot.display());
        }
        c.close().await.unwrap();
    }
}
