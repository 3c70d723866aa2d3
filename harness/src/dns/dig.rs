//! `dig`, run against the responder, and its output read back.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Where Debian's dig (bind9-dnsutils) is installed.
pub const DIG: &str = "/usr/bin/dig";

/// One resource record as dig prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// The owner name, with its trailing dot.
    pub name: String,
    /// Its TTL in seconds.
    pub ttl: u32,
    /// Its type, as dig names it (`A`, `TXT`, `SOA`, ...).
    pub rtype: String,
    /// The rest of the line: the record's data.
    pub data: String,
}

/// What dig printed: RCODE, header flags, answer and authority sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dug {
    /// The RCODE (`NOERROR`, `REFUSED`, ...).
    pub status: String,
    /// The header flags that are set (`qr`, `aa`, `rd`, ...).
    pub flags: Vec<String>,
    /// The answer section.
    pub answer: Vec<Rr>,
    /// The authority section.
    pub authority: Vec<Rr>,
}

impl Dug {
    /// Whether the header flag `flag` is set.
    pub fn flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The data of the answer's A and AAAA records.
    pub fn addrs(&self) -> Vec<&str> {
        self.answer
            .iter()
            .filter(|r| r.rtype == "A" || r.rtype == "AAAA")
            .map(|r| r.data.as_str())
            .collect()
    }

    /// Reads dig's output (`+noall +comments +answer +authority`); says which line it could
    /// not read.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut status = None;
        let mut flags = None;
        let (mut answer, mut authority) = (Vec::new(), Vec::new());
        let mut section = "";
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.split_once("status: ").map(|(_, r)| r) {
                status = rest.split(',').next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix(";; flags:") {
                let list = rest.split(';').next().unwrap_or_default();
                flags = Some(list.split_whitespace().map(str::to_owned).collect());
            } else if let Some(rest) = line.strip_prefix(";; ") {
                section = rest.strip_suffix(" SECTION:").unwrap_or("");
            } else if !line.starts_with(';') {
                let mut words = line.split_whitespace();
                let (Some(name), Some(ttl), Some(_class), Some(rtype)) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    return Err(format!("unexpected line {line:?}"));
                };
                let rr = Rr {
                    name: name.to_owned(),
                    ttl: ttl.parse().map_err(|_| format!("bad TTL in {line:?}"))?,
                    rtype: rtype.to_owned(),
                    data: words.collect::<Vec<_>>().join(" "),
                };
                match section {
                    "ANSWER" => answer.push(rr),
                    "AUTHORITY" => authority.push(rr),
                    other => return Err(format!("record {line:?} in section {other:?}")),
                }
            }
        }
        Ok(Self {
            status: status.ok_or("no status line")?,
            flags: flags.ok_or("no flags line")?,
            answer,
            authority,
        })
    }
}

/// `dig @server -b from ARGS`, one try of at most 2 s; the answer, or why there was none.
pub async fn try_dig(server: SocketAddr, from: &str, args: &[&str]) -> Result<Dug, String> {
    let out = Command::new(DIG)
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "-b", from])
        .args(["+time=2", "+tries=1", "+noall", "+comments", "+answer"])
        .arg("+authority")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(15), out)
        .await
        .map_err(|_| "dig did not finish in 15 s".to_owned())?
        .map_err(|e| format!("run dig: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "dig {args:?} from {from}: {}: {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Dug::parse(&stdout).map_err(|e| format!("{e}: {stdout}"))
}

/// [`try_dig`], panicking with the reason when there is no answer.
pub async fn dig(server: SocketAddr, from: &str, args: &[&str]) -> Dug {
    try_dig(server, from, args)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Asks `server` until `done` holds for dig's answer, for a bounded number of tries (about
/// 5 s when every answer comes at once); returns that answer.
pub async fn dig_until(
    server: SocketAddr,
    from: &str,
    args: &[&str],
    what: &str,
    done: impl Fn(&Dug) -> bool,
) -> Dug {
    let mut last = None;
    for _ in 0..50 {
        let answer = dig(server, from, args).await;
        if done(&answer) {
            return answer;
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never happened; last answer {last:?}");
}
