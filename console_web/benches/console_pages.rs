//! Console page latency: 8 reviewers at once, each logged in, each loading a user's days, a
//! day's thread, a record's page (with its integrity badge) and a search, over real HTTP on
//! loopback; beside it, in the same run and through the same server stack, the console's
//! stylesheet (no archive, no access record): the floor a page cannot go under. Every
//! content page records an `access` record durably before it answers, so its latency
//! includes a strict append. Prints a Markdown table.
//!
//! ```text
//! cargo bench -p console_web --bench console_pages                      # 100 000 records
//! IMT_BENCH_QUICK=1 cargo bench -p console_web --bench console_pages    # 10 000 records
//! ```
//!
//! `IMT_BENCH_RECORDS` sets the archive's size, `IMT_BENCH_JSON` writes the figures.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archive::synthetic::Synthetic;
use archive::{Archive, ArchiveOptions, Query};
use console::{Accounts, NewAccount, Role};
use console_web::{ConsoleState, Sessions, Throttle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REVIEWERS: usize = 8;
const PASSWORD: &str = "a long benchmark passphrase";

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// One HTTP/1.1 exchange on a kept-alive connection: the status and the body.
async fn exchange(conn: &mut TcpStream, request: &str) -> (u16, String, String) {
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the console closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                return (status, head.to_owned(), body);
            }
        }
    }
}

fn get(path: &str, cookie: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\n\r\n")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var("IMT_BENCH_QUICK").is_ok_and(|v| v == "1");
    let total: u64 = std::env::var("IMT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(if quick { 10_000 } else { 100_000 });
    let rounds = if quick { 5 } else { 25 };
    let mut json = bench_json::BenchJson::from_env("console_pages", quick).expect("IMT_BENCH_JSON");
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let archive_dir = tmp.path().join("archive");
    let archive = Archive::open(&archive_dir, ArchiveOptions::default()).unwrap();
    rt.block_on(async {
        let mut g = Synthetic::new(11, 200, 30, archive::now_ns());
        for i in 0..total {
            archive.append_relaxed(g.event(i, total)).await.unwrap();
        }
        archive.sync().await.unwrap();
    });
    let (index, _) = text_index::rebuild(&archive, &text_index::dir_of(&archive_dir)).unwrap();
    let users = tmp.path().join("users.toml");
    let mut accounts = Accounts::lock(&users).unwrap();
    for i in 0..REVIEWERS {
        let name = format!("reviewer{i}");
        accounts
            .add(
                &NewAccount {
                    name: &name,
                    role: Role::Reviewer,
                    scopes: &["*".to_owned()],
                    employee: None,
                    permissions: &[],
                    password: PASSWORD,
                    by: "bench",
                },
                &[],
            )
            .unwrap();
    }
    accounts.save().unwrap();
    drop(accounts);
    let config = settings::Config::load("bench.toml", "", &[]).unwrap();
    let engine =
        policy::PolicyEngine::compile(&config.policy, policy::Directory::default()).unwrap();
    // What the reviewers open: the busiest user's busiest day, and records of it.
    let user = Synthetic::user(0);
    let days: Vec<(String, u64)> = {
        let mut count = std::collections::BTreeMap::new();
        for r in archive.search(&Query {
            user: Some(user.clone()),
            ..Query::default()
        }) {
            let r = r.unwrap();
            let day = archive::export::Zone::day_string(
                archive::export::Zone::utc().day(r.event.time_ns),
            );
            *count.entry(day).or_insert(0u64) += 1;
        }
        count.into_iter().collect()
    };
    let (day, on_day) = days.iter().max_by_key(|(_, n)| *n).cloned().unwrap();
    let ids: Vec<u64> = archive
        .search(&Query {
            user: Some(user.clone()),
            limit: Some(50),
            ..Query::default()
        })
        .map(|r| r.unwrap().id)
        .collect();

    let state = Arc::new(ConsoleState {
        archive: archive.clone(),
        accounts: users,
        engine: Arc::new(engine),
        sessions: Sessions::new(Duration::from_secs(3600)),
        throttle: Mutex::new(Throttle::default()),
        zone: archive::export::Zone::utc(),
        uid: 0,
        text_index: Some(Arc::new(index)),
        sampling: Vec::new(),
        secure_cookie: false,
    });
    let stop = Arc::new(tokio::sync::Notify::new());
    let (addr, server) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = stop.clone();
        let server = tokio::spawn(console_web::serve(listener, state, async move {
            stop.notified().await
        }));
        (addr, server)
    });

    let kinds = [
        "stylesheet (floor)",
        "user's days",
        "day's thread",
        "record page",
        "search",
    ];
    let latencies: Vec<Vec<f64>> = rt.block_on(async {
        let mut workers = Vec::new();
        for i in 0..REVIEWERS {
            let (user, day, ids) = (user.clone(), day.clone(), ids.clone());
            workers.push(tokio::spawn(async move {
                let mut conn = TcpStream::connect(addr).await.unwrap();
                let form = format!("name=reviewer{i}&password={}", PASSWORD.replace(' ', "+"));
                let login = format!(
                    "POST /login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
                    form.len()
                );
                let (status, head, _) = exchange(&mut conn, &login).await;
                assert_eq!(status, 303, "{head}");
                let cookie = head
                    .lines()
                    .find_map(|l| l.strip_prefix("set-cookie: "))
                    .and_then(|c| c.split(';').next())
                    .unwrap()
                    .to_owned();
                let paths = [
                    "/static/console.css".to_owned(),
                    format!("/u/{user}"),
                    format!("/u/{user}/{day}"),
                    String::new(),
                    "/search?q=merger+bond*".to_owned(),
                ];
                let mut lat = vec![Vec::new(); paths.len()];
                for round in 0..rounds {
                    for (k, path) in paths.iter().enumerate() {
                        let path = if k == 3 { format!("/r/{}", ids[(round * REVIEWERS + i) % ids.len()]) } else { path.clone() };
                        let t = Instant::now();
                        let (status, _, body) = exchange(&mut conn, &get(&path, &cookie)).await;
                        lat[k].push(t.elapsed().as_secs_f64() * 1e3);
                        assert_eq!(status, 200, "{path}: {body}");
                    }
                }
                lat
            }));
        }
        let mut all = vec![Vec::new(); kinds.len()];
        for w in workers {
            for (k, l) in w.await.unwrap().into_iter().enumerate() {
                all[k].extend(l);
            }
        }
        all
    });
    stop.notify_waiters();
    rt.block_on(async {
        let _ = server.await;
    });

    println!(
        "## Console pages, {REVIEWERS} reviewers at once ({total} records; the day has {on_day} of the user's records; {rounds} rounds each)\n"
    );
    println!("| page | p50 | p95 | requests |");
    println!("|---|---:|---:|---:|");
    let floor95 = percentile(&latencies[0], 0.95);
    for (k, kind) in kinds.iter().enumerate() {
        println!(
            "| {kind} | {:.2} ms | {:.2} ms | {} |",
            percentile(&latencies[k], 0.5),
            percentile(&latencies[k], 0.95),
            latencies[k].len()
        );
        if k > 0 {
            json.figure(&bench_json::Figure {
                what: &format!("console {kind} p95, {REVIEWERS} reviewers"),
                unit: "ms",
                better: bench_json::Better::Lower,
                ours: percentile(&latencies[k], 0.95),
                peer: Some("stylesheet through the same server, p95"),
                peer_value: Some(floor95),
            })
            .expect("IMT_BENCH_JSON");
        }
    }
}
