//! Synthetic traffic: realistic-looking events for trying `search` and `export`, for tests
//! and for benchmarks. Deterministic for a seed. Not used by the gateway itself.

use crate::record::{
    Direction, Event, Kind, Protocol, Verdict, conversation_for_pair, conversation_for_room,
};

const WORDS: &[&str] = &[
    "quarterly",
    "numbers",
    "meeting",
    "client",
    "portfolio",
    "trade",
    "settlement",
    "lunch",
    "report",
    "draft",
    "review",
    "deadline",
    "approve",
    "pricing",
    "bond",
    "equity",
    "call",
    "tomorrow",
    "today",
    "thanks",
    "please",
    "send",
    "update",
    "risk",
    "limit",
    "order",
    "confirm",
    "schedule",
    "budget",
    "forecast",
    "invoice",
    "contract",
    "merger",
    "audit",
    "compliance",
    "coffee",
    "weekend",
    "market",
];
const ROOMS: &[&str] = &["trading-desk", "compliance", "sales", "research", "ops"];
const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];

/// A deterministic generator of plausible IM events.
#[derive(Debug, Clone)]
pub struct Synthetic {
    state: u64,
    users: u32,
    start_ns: i64,
    span_ns: i64,
    node: String,
}

impl Synthetic {
    /// Events among `users` local users (plus as many external contacts), spread evenly
    /// over `days` days ending at `end_ns`.
    pub fn new(seed: u64, users: u32, days: u32, end_ns: i64) -> Self {
        let span_ns = i64::from(days.max(1)) * 86_400_000_000_000;
        Self {
            state: seed | 1,
            users: users.max(2),
            start_ns: end_ns - span_ns,
            span_ns,
            node: "gw-synthetic".into(),
        }
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*: fast, deterministic, good enough for test data.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// The screen name of local user `i` (stable; the first ten are readable names).
    pub fn user(i: u32) -> String {
        match FIRST.get(i as usize) {
            Some(name) => (*name).to_owned(),
            None => format!("user{i:05}"),
        }
    }

    fn text(&mut self) -> String {
        let n = 3 + self.below(25) as usize;
        let words: Vec<&str> = (0..n)
            .map(|_| {
                WORDS
                    .get(self.below(WORDS.len() as u64) as usize)
                    .copied()
                    .unwrap_or("ok")
            })
            .collect();
        words.join(" ")
    }

    /// The `i`-th of `total` events (times increase with `i`).
    pub fn event(&mut self, i: u64, total: u64) -> Event {
        let time_ns = self.start_ns
            + (i128::from(self.span_ns) * i128::from(i) / i128::from(total.max(1))) as i64;
        let local = Self::user(self.below(u64::from(self.users)) as u32);
        let roll = self.below(100);
        let text = self.text();
        let node = self.node.clone();
        let base = |kind,
                    conversation: String,
                    sender: String,
                    recipients: Vec<String>,
                    direction,
                    room| Event {
            time_ns,
            protocol: Protocol::Aim,
            kind,
            conversation,
            sender,
            recipients,
            direction,
            local_user: local.clone(),
            room,
            client_addr: Some(format!("10.1.{}.{}:5190", i % 200, i % 250)),
            node: node.clone(),
            text: text.clone(),
            raw: format!("<HTML><BODY>{text}</BODY></HTML>"),
            charset: Some("ascii".into()),
            verdict: Verdict::Allowed,
            detail: None,
            employee: None,
        };
        if roll < 80 {
            let internal = roll < 30;
            let peer = if internal {
                Self::user(self.below(u64::from(self.users)) as u32)
            } else {
                format!("Buddy{}", self.below(u64::from(self.users)))
            };
            let outbound = self.below(2) == 0;
            let (from, to) = if outbound {
                (local.clone(), peer.clone())
            } else {
                (peer.clone(), local.clone())
            };
            let direction = match (internal, outbound) {
                (true, _) => Direction::Internal,
                (false, true) => Direction::Outbound,
                (false, false) => Direction::Inbound,
            };
            base(
                Kind::Im,
                conversation_for_pair(Protocol::Aim, &from, &to),
                from,
                vec![to],
                direction,
                None,
            )
        } else {
            let room = ROOMS
                .get(self.below(ROOMS.len() as u64) as usize)
                .copied()
                .unwrap_or("ops")
                .to_owned();
            let kind = match roll {
                80..=94 => Kind::ChatMessage,
                95..=96 => Kind::ChatJoin,
                97..=98 => Kind::ChatLeave,
                _ => Kind::FileOffer,
            };
            let mut e = base(
                kind,
                conversation_for_room(Protocol::Aim, &room),
                local.clone(),
                Vec::new(),
                Direction::Internal,
                Some(room),
            );
            if kind == Kind::FileOffer {
                e.detail = Some(format!(
                    "file report-{i}.pdf, {} bytes",
                    1000 + self.below(1_000_000)
                ));
            }
            if matches!(kind, Kind::ChatJoin | Kind::ChatLeave) {
                e.text = String::new();
                e.raw = String::new();
            }
            e
        }
    }
}
