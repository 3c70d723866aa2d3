//! Synthetic traffic: realistic-looking events for trying `search` and `export`, for tests
//! and for benchmarks. Deterministic for a seed. Not used by the gateway itself.
//!
//! The traffic follows the rules a real archive does, so that room review and custodian
//! searches on it show what they would on real data: a user signs on before saying
//! anything and off after; a room member joined before speaking and leaves after; every
//! room record names the members present as its recipients; Sametime chats open and close
//! as sessions. The mix (see [`Synthetic::event`]) is roughly what a trading floor's IM
//! looks like: mostly one-to-one IMs, a fifth room traffic, a few file offers and policy
//! actions.

use record::{
    Direction, Event, Kind, Protocol, Verdict, conversation_for_pair, conversation_for_room,
    conversation_for_sign_on, normalize,
};

mod vocabulary;

use vocabulary::{BLOCKED_PHRASE, DISCLAIMER, FIRST, MASKED_WORD, ROOMS, WORDS};

/// Most members a synthetic room holds at once.
const MAX_MEMBERS: usize = 8;

/// A room member: one of the organisation's users (by index) or someone outside.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Local(u32),
    Outside(u32),
}

/// A room and who is in it now, in join order.
#[derive(Debug, Clone)]
struct Room {
    name: &'static str,
    members: Vec<Member>,
}

/// An open Sametime chat session between two of the organisation's users.
#[derive(Debug, Clone)]
struct SametimeChat {
    id: String,
    a: u32,
    b: u32,
}

/// A deterministic generator of plausible IM events.
#[derive(Debug, Clone)]
pub struct Synthetic {
    state: u64,
    users: u32,
    start_ns: i64,
    span_ns: i64,
    node: String,
    /// Which AIM users are signed on.
    online: Vec<bool>,
    rooms: Vec<Room>,
    chats: Vec<SametimeChat>,
    next_chat: u64,
}

/// One record's fixed parts, filled in by the kind-specific builders.
struct Draft {
    protocol: Protocol,
    kind: Kind,
    conversation: String,
    sender: String,
    recipients: Vec<String>,
    direction: Direction,
    local: u32,
    room: Option<String>,
    text: String,
}

impl Synthetic {
    /// Events among `users` local users (plus external contacts), spread evenly over
    /// `days` days ending at `end_ns`. With six users or more, every third (from the third:
    /// `carol`) is on Sametime rather than AIM, so there are always two to chat.
    pub fn new(seed: u64, users: u32, days: u32, end_ns: i64) -> Self {
        let span_ns = i64::from(days.max(1)) * 86_400_000_000_000;
        let users = users.max(2);
        Self {
            state: seed | 1,
            users,
            start_ns: end_ns - span_ns,
            span_ns,
            node: "gw-synthetic".into(),
            online: vec![false; users as usize],
            rooms: ROOMS
                .iter()
                .map(|name| Room {
                    name,
                    members: Vec::new(),
                })
                .collect(),
            chats: Vec::new(),
            next_chat: 1,
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

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied()
    }

    /// The screen name of local user `i` (stable; the first ten are readable names).
    pub fn user(i: u32) -> String {
        match FIRST.get(i as usize) {
            Some(name) => (*name).to_owned(),
            None => format!("user{i:05}"),
        }
    }

    /// The name of outside contact `i`.
    fn outsider(i: u32) -> String {
        format!("Buddy{i}")
    }

    fn on_sametime(&self, user: u32) -> bool {
        self.users >= 6 && user % 3 == 2
    }

    /// The client address a local user's records carry: one per user, as a desk has.
    fn address(user: u32) -> String {
        format!("10.1.{}.{}:5190", user / 250, user % 250 + 1)
    }

    fn text(&mut self) -> String {
        let n = 3 + self.below(25) as usize;
        let words: Vec<&str> = (0..n).map(|_| self.pick(WORDS).unwrap_or("ok")).collect();
        words.join(" ")
    }

    /// The `i`-th of `total` events (times increase with `i`).
    ///
    /// Of every hundred AIM events about: 50 IMs (a third between two of the
    /// organisation's users), 16 room messages, 12 joins and leaves (some by outsiders),
    /// 4 file offers, 1 direct-IM offer, 3 blocked and 1 masked IM, 2 disclaimers, and the
    /// sign-ons and sign-offs around them. Sametime users chat in sessions of a few IMs.
    pub fn event(&mut self, i: u64, total: u64) -> Event {
        let time_ns = self.start_ns
            + (i128::from(self.span_ns) * i128::from(i) / i128::from(total.max(1))) as i64;
        let user = self.below(u64::from(self.users)) as u32;
        let mut event = if self.on_sametime(user) {
            self.sametime(user)
        } else {
            self.aim(user, i)
        };
        event.time_ns = time_ns;
        event
    }

    fn aim(&mut self, user: u32, i: u64) -> Event {
        if !self.online[user as usize] {
            self.online[user as usize] = true;
            return self.sign(user, Kind::SessionStart);
        }
        match self.below(100) {
            0..50 | 96..100 => self.im(user, Verdict::Allowed),
            50..66 => self.room_message(user),
            66..72 => self.join(user),
            72..77 => self.leave(user),
            77..81 => self.outsider_in_room(user),
            81..85 => self.file_offer(user, i),
            85 => self.direct_im_offer(user),
            86..89 => self.im(user, Verdict::Blocked("block_words".into())),
            89 => self.im(user, Verdict::Masked("mask_words".into())),
            90..92 => self.disclaimer(user),
            _ => self.sign_off(user),
        }
    }

    fn finish(&self, d: Draft) -> Event {
        let raw = if d.text.is_empty() || d.protocol == Protocol::Sametime {
            d.text.clone()
        } else {
            format!("<HTML><BODY>{}</BODY></HTML>", d.text)
        };
        Event {
            time_ns: 0,
            protocol: d.protocol,
            kind: d.kind,
            conversation: d.conversation,
            sender: d.sender,
            recipients: d.recipients,
            direction: d.direction,
            local_user: Self::user(d.local),
            room: d.room,
            client_addr: (d.protocol != Protocol::Sametime).then(|| Self::address(d.local)),
            node: self.node.clone(),
            charset: (!d.text.is_empty()).then(|| "ascii".into()),
            text: d.text,
            raw,
            verdict: Verdict::Allowed,
            detail: None,
            employee: None,
        }
    }

    /// A sign-on or sign-off of an AIM user.
    fn sign(&self, user: u32, kind: Kind) -> Event {
        let name = Self::user(user);
        let mut e = self.finish(Draft {
            protocol: Protocol::Aim,
            kind,
            conversation: conversation_for_sign_on(Protocol::Aim, &name),
            sender: name,
            recipients: Vec::new(),
            direction: Direction::Internal,
            local: user,
            room: None,
            text: String::new(),
        });
        e.detail = Some(match kind {
            Kind::SessionStart => "signed on".into(),
            _ => "signed off".into(),
        });
        e
    }

    /// Signs off, leaving a room first if the user is still in one.
    fn sign_off(&mut self, user: u32) -> Event {
        if let Some(room) = self.rooms_of(user).first().copied() {
            return self.presence(room, Member::Local(user), Kind::ChatLeave);
        }
        self.online[user as usize] = false;
        self.sign(user, Kind::SessionEnd)
    }

    /// The other party of an IM: another signed-on AIM user a third of the time,
    /// otherwise an outside contact.
    fn peer(&mut self, user: u32) -> (String, bool) {
        if self.below(3) == 0 {
            let other = self.below(u64::from(self.users)) as u32;
            if other != user && !self.on_sametime(other) && self.online[other as usize] {
                return (Self::user(other), true);
            }
        }
        (
            Self::outsider(self.below(u64::from(self.users) * 2) as u32),
            false,
        )
    }

    fn im(&mut self, user: u32, verdict: Verdict) -> Event {
        let (peer, internal) = self.peer(user);
        let mut text = self.text();
        match &verdict {
            Verdict::Blocked(_) => text = format!("{text} {BLOCKED_PHRASE}"),
            Verdict::Masked(_) => text = format!("{text} {MASKED_WORD}"),
            _ => {}
        }
        // A blocked message was sent by the organisation's user; others go either way.
        let outbound = internal || !matches!(verdict, Verdict::Allowed) || self.below(2) == 0;
        let me = Self::user(user);
        let (from, to) = if outbound {
            (me, peer.clone())
        } else {
            (peer.clone(), me)
        };
        let direction = match (internal, outbound) {
            (true, _) => Direction::Internal,
            (false, true) => Direction::Outbound,
            (false, false) => Direction::Inbound,
        };
        let mut e = self.finish(Draft {
            protocol: Protocol::Aim,
            kind: Kind::Im,
            conversation: conversation_for_pair(Protocol::Aim, &from, &to),
            sender: from,
            recipients: vec![to],
            direction,
            local: user,
            room: None,
            text,
        });
        if let Verdict::Masked(_) = verdict {
            e.text = e.text.replace(MASKED_WORD, "****");
        }
        e.verdict = verdict;
        e
    }

    fn file_offer(&mut self, user: u32, i: u64) -> Event {
        let mut e = self.im(user, Verdict::Allowed);
        e.kind = Kind::FileOffer;
        let name = format!("report-{i}.pdf");
        e.text = format!("here is {name}");
        e.raw = e.text.clone();
        e.detail = Some(format!(
            "file {name}, {} bytes",
            1000 + self.below(1_000_000)
        ));
        e
    }

    fn direct_im_offer(&mut self, user: u32) -> Event {
        let mut e = self.im(user, Verdict::Allowed);
        e.kind = Kind::DirectImOffer;
        e.text = String::new();
        e.raw = String::new();
        e.charset = None;
        e.detail = Some("direct IM offered; later messages would bypass the server".into());
        e
    }

    /// The disclaimer the gateway sends at the start of an outside conversation.
    fn disclaimer(&mut self, user: u32) -> Event {
        let peer = Self::outsider(self.below(u64::from(self.users) * 2) as u32);
        let me = Self::user(user);
        let mut e = self.finish(Draft {
            protocol: Protocol::Aim,
            kind: Kind::PolicyAction,
            conversation: conversation_for_pair(Protocol::Aim, &me, &peer),
            sender: me,
            recipients: vec![peer],
            direction: Direction::Outbound,
            local: user,
            room: None,
            text: DISCLAIMER.into(),
        });
        e.raw = e.text.clone();
        e.charset = None;
        e.detail = Some("disclaimer sent to both parties".into());
        e
    }

    fn rooms_of(&self, user: u32) -> Vec<usize> {
        let me = Member::Local(user);
        (0..self.rooms.len())
            .filter(|r| self.rooms[*r].members.contains(&me))
            .collect()
    }

    fn member_name(member: &Member) -> String {
        match member {
            Member::Local(i) => Self::user(*i),
            Member::Outside(i) => Self::outsider(*i),
        }
    }

    /// A room record by `actor`: its recipients are the other members present, its local
    /// user the actor if one of ours, else the first of ours present (the one whose
    /// connection the gateway saw it on); inbound from an outsider, outbound when an
    /// outsider is present, else internal.
    fn room_record(&self, room: usize, actor: &Member, kind: Kind, text: String) -> Event {
        let members = &self.rooms[room].members;
        let others: Vec<&Member> = members.iter().filter(|m| *m != actor).collect();
        let local = match actor {
            Member::Local(i) => Some(*i),
            Member::Outside(_) => others.iter().find_map(|m| match m {
                Member::Local(i) => Some(*i),
                Member::Outside(_) => None,
            }),
        };
        let direction = match actor {
            Member::Outside(_) => Direction::Inbound,
            Member::Local(_) if others.iter().any(|m| matches!(m, Member::Outside(_))) => {
                Direction::Outbound
            }
            Member::Local(_) => Direction::Internal,
        };
        let name = self.rooms[room].name;
        self.finish(Draft {
            protocol: Protocol::Aim,
            kind,
            conversation: conversation_for_room(Protocol::Aim, name),
            sender: Self::member_name(actor),
            recipients: others.iter().map(|m| Self::member_name(m)).collect(),
            direction,
            local: local.unwrap_or(0),
            room: Some(name.to_owned()),
            text,
        })
    }

    /// A join or leave by `who`, recorded while the room still holds them, so the record
    /// names everyone who saw it.
    fn presence(&mut self, room: usize, who: Member, kind: Kind) -> Event {
        if kind == Kind::ChatJoin {
            self.rooms[room].members.push(who.clone());
        }
        let e = self.room_record(room, &who, kind, String::new());
        if kind == Kind::ChatLeave {
            self.rooms[room].members.retain(|m| *m != who);
            // A room with nobody of ours left is one the gateway no longer sees.
            if !self.rooms[room]
                .members
                .iter()
                .any(|m| matches!(m, Member::Local(_)))
            {
                self.rooms[room].members.clear();
            }
        }
        e
    }

    fn join(&mut self, user: u32) -> Event {
        let open: Vec<usize> = (0..self.rooms.len())
            .filter(|r| {
                let members = &self.rooms[*r].members;
                members.len() < MAX_MEMBERS && !members.contains(&Member::Local(user))
            })
            .collect();
        match self.pick(&open) {
            Some(room) => self.presence(room, Member::Local(user), Kind::ChatJoin),
            None => self.im(user, Verdict::Allowed),
        }
    }

    fn leave(&mut self, user: u32) -> Event {
        let mine = self.rooms_of(user);
        match self.pick(&mine) {
            Some(room) => self.presence(room, Member::Local(user), Kind::ChatLeave),
            None => self.join(user),
        }
    }

    fn room_message(&mut self, user: u32) -> Event {
        let mine: Vec<usize> = self
            .rooms_of(user)
            .into_iter()
            .filter(|r| self.rooms[*r].members.len() >= 2)
            .collect();
        match self.pick(&mine) {
            Some(room) => {
                let text = self.text();
                self.room_record(room, &Member::Local(user), Kind::ChatMessage, text)
            }
            None => self.join(user),
        }
    }

    /// An outsider in one of the user's rooms speaks, joins or leaves.
    fn outsider_in_room(&mut self, user: u32) -> Event {
        let Some(room) = self.pick(&self.rooms_of(user)) else {
            return self.join(user);
        };
        let outsiders: Vec<Member> = self.rooms[room]
            .members
            .iter()
            .filter(|m| matches!(m, Member::Outside(_)))
            .cloned()
            .collect();
        let roll = self.below(10);
        match outsiders.get(self.below(outsiders.len() as u64) as usize) {
            Some(who) if roll < 7 => {
                let text = self.text();
                self.room_record(room, who, Kind::ChatMessage, text)
            }
            Some(who) if roll < 9 => self.presence(room, who.clone(), Kind::ChatLeave),
            _ if self.rooms[room].members.len() < MAX_MEMBERS => {
                let who = Member::Outside(self.below(u64::from(self.users) * 2) as u32);
                if self.rooms[room].members.contains(&who) {
                    return self.im(user, Verdict::Allowed);
                }
                self.presence(room, who, Kind::ChatJoin)
            }
            _ => self.im(user, Verdict::Allowed),
        }
    }

    /// A Sametime user's next step: a message in an open chat session, its end, or a new
    /// session with another Sametime user.
    fn sametime(&mut self, user: u32) -> Event {
        let open = self.chats.iter().position(|c| c.a == user || c.b == user);
        if let Some(at) = open {
            if self.below(6) == 0 {
                let chat = self.chats.remove(at);
                return self.sametime_session(&chat, user, Kind::SessionEnd);
            }
            let chat = self.chats[at].clone();
            let peer = if chat.a == user { chat.b } else { chat.a };
            let (from, to) = (Self::user(user), Self::user(peer));
            let text = self.text();
            let mut e = self.finish(Draft {
                protocol: Protocol::Sametime,
                kind: Kind::Im,
                conversation: conversation_for_pair(Protocol::Sametime, &from, &to),
                sender: from,
                recipients: vec![to],
                direction: Direction::Internal,
                local: user,
                room: None,
                text,
            });
            e.detail = Some(format!(r#"{{"session":"{}","to_all":false}}"#, chat.id));
            return e;
        }
        let candidates: Vec<u32> = (0..self.users)
            .filter(|u| {
                *u != user
                    && self.on_sametime(*u)
                    && !self.chats.iter().any(|c| c.a == *u || c.b == *u)
            })
            .collect();
        let Some(peer) = self.pick(&candidates) else {
            // Everyone else on Sametime is in a chat already (there are always two Sametime
            // users, so one is open): its other party speaks instead.
            return match self.chats.first().map(|c| c.a) {
                Some(other) => self.sametime(other),
                None => {
                    let chat = self.open_chat(user, user);
                    self.sametime_session(&chat, user, Kind::SessionStart)
                }
            };
        };
        let chat = self.open_chat(user, peer);
        self.sametime_session(&chat, user, Kind::SessionStart)
    }

    fn open_chat(&mut self, a: u32, b: u32) -> SametimeChat {
        let chat = SametimeChat {
            id: format!(
                "{:016X}",
                self.next_chat.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ),
            a,
            b,
        };
        self.next_chat += 1;
        self.chats.push(chat.clone());
        chat
    }

    /// A Sametime session's start or end, as the module records it.
    fn sametime_session(&self, chat: &SametimeChat, user: u32, kind: Kind) -> Event {
        let mut e = self.finish(Draft {
            protocol: Protocol::Sametime,
            kind,
            conversation: format!(
                "{}:session:{}",
                Protocol::Sametime,
                normalize(Protocol::Sametime, &chat.id)
            ),
            sender: String::new(),
            recipients: Vec::new(),
            direction: Direction::Internal,
            local: user,
            room: None,
            text: String::new(),
        });
        e.local_user = String::new();
        e.detail = Some(format!(r#"{{"session":"{}"}}"#, chat.id));
        e
    }
}

#[cfg(test)]
mod tests;
