//! State shared by the lab server's listeners: login grants (cookie → who and what),
//! who is online, chat room membership, and the clientLogin API's tokens.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use md5::{Digest, Md5};
use oscar::ScreenName;
use oscar::message::RoomInfo;

use crate::accounts::Accounts;
use crate::conn::Outbox;

/// What a cookie entitles its holder to.
#[derive(Debug, Clone)]
pub(crate) enum Grant {
    /// A BOS session for this user.
    Bos(ScreenName),
    /// Membership of a chat room.
    Chat(ScreenName, RoomInfo),
    /// A chat-navigation session (served on the BOS listener).
    ChatNav(ScreenName),
}

/// One connected BOS session.
#[derive(Debug, Clone)]
pub(crate) struct Online {
    pub(crate) name: ScreenName,
    pub(crate) outbox: Outbox,
    /// Distinguishes a session from a later one of the same user.
    pub(crate) session: u64,
    /// Whether the session arrived over TLS (it then migrates to the TLS BOS).
    pub(crate) tls: bool,
}

/// The addresses the lab hands out in redirects.
#[derive(Debug, Clone)]
pub(crate) struct Advertised {
    pub(crate) bos: String,
    pub(crate) chat: String,
    /// The TLS listeners, when the lab has them.
    pub(crate) tls: Option<AdvertisedTls>,
}

/// The TLS listeners' addresses as handed out.
#[derive(Debug, Clone)]
pub(crate) struct AdvertisedTls {
    pub(crate) bos: String,
    pub(crate) chat: String,
}

/// What a clientLogin token stands for until it expires.
#[derive(Debug, Clone)]
pub(crate) struct ApiToken {
    /// Who logged in.
    pub(crate) name: ScreenName,
    /// The password as the client typed it: the signature's key is derived from it.
    pub(crate) password: String,
    /// The `sessionSecret` handed out with the token.
    pub(crate) secret: String,
    /// When the token stops working.
    pub(crate) expires: Instant,
}

/// Most live clientLogin tokens kept; older ones are dropped first when full.
const MAX_API_TOKENS: usize = 4096;

/// Everything the listeners share.
#[derive(Debug)]
pub(crate) struct LabState {
    pub(crate) accounts: Accounts,
    pub(crate) advertised: Advertised,
    pub(crate) bot: ScreenName,
    grants: Mutex<HashMap<Bytes, Grant>>,
    online: Mutex<HashMap<String, Online>>,
    rooms: Mutex<HashMap<Bytes, HashMap<String, Online>>>,
    counter: AtomicU64,
    seed: u64,
    /// Messages stored for users who were offline, by normalised name.
    offline: Mutex<HashMap<String, Vec<oscar::message::IcbmReceive>>>,
    /// Source address of every BOS connection, in order (tests check egress binding).
    bos_peers: Mutex<Vec<SocketAddr>>,
    /// clientLogin tokens (`token.a`) and what they stand for.
    api_tokens: Mutex<HashMap<String, ApiToken>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the whole lab down; the maps stay consistent
    // because every critical section is a single insert or remove.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LabState {
    pub(crate) fn new(
        accounts: Accounts,
        advertised: Advertised,
        bot: ScreenName,
        seed: u64,
    ) -> Self {
        Self {
            accounts,
            advertised,
            bot,
            grants: Mutex::default(),
            online: Mutex::default(),
            rooms: Mutex::default(),
            counter: AtomicU64::new(1),
            bos_peers: Mutex::default(),
            offline: Mutex::default(),
            api_tokens: Mutex::default(),
            seed,
        }
    }

    /// Remembers a clientLogin token until `entry.expires`.
    pub(crate) fn add_api_token(&self, token: String, entry: ApiToken) {
        let mut tokens = lock(&self.api_tokens);
        let now = Instant::now();
        tokens.retain(|_, t| t.expires > now);
        if tokens.len() >= MAX_API_TOKENS {
            // A lab under a login flood forgets the token closest to expiry, not the new one.
            if let Some(oldest) = tokens
                .iter()
                .min_by_key(|(_, t)| t.expires)
                .map(|(k, _)| k.clone())
            {
                tokens.remove(&oldest);
            }
        }
        tokens.insert(token, entry);
    }

    /// What an unexpired clientLogin token stands for.
    pub(crate) fn api_token(&self, token: &str) -> Option<ApiToken> {
        lock(&self.api_tokens)
            .get(token)
            .filter(|t| t.expires > Instant::now())
            .cloned()
    }

    /// How long clientLogin tokens live (`expiresIn`).
    pub(crate) const API_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

    /// Keeps a message for `to` until it next asks for offline messages.
    pub(crate) fn store_offline(&self, to: &ScreenName, message: oscar::message::IcbmReceive) {
        lock(&self.offline)
            .entry(to.normalized().to_owned())
            .or_default()
            .push(message);
    }

    /// The messages stored for `who`, removed.
    pub(crate) fn take_offline(&self, who: &ScreenName) -> Vec<oscar::message::IcbmReceive> {
        lock(&self.offline)
            .remove(who.normalized())
            .unwrap_or_default()
    }

    /// Notes the source address of a BOS connection.
    pub(crate) fn saw_bos_peer(&self, peer: SocketAddr) {
        lock(&self.bos_peers).push(peer);
    }

    /// Source addresses of the BOS connections so far.
    pub(crate) fn bos_peers(&self) -> Vec<SocketAddr> {
        lock(&self.bos_peers).clone()
    }

    /// A fresh id for sessions and keys.
    pub(crate) fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Issues a 32-byte cookie for `grant`. Not a security token: the lab only needs
    /// cookies to be unique and opaque.
    pub(crate) fn grant(&self, grant: Grant) -> Bytes {
        let n = self.next_id();
        let mut cookie = Vec::with_capacity(32);
        for half in 0u8..2 {
            let mut h = Md5::new();
            h.update(self.seed.to_be_bytes());
            h.update(n.to_be_bytes());
            h.update([half]);
            cookie.extend_from_slice(&h.finalize());
        }
        let cookie = Bytes::from(cookie);
        lock(&self.grants).insert(cookie.clone(), grant);
        cookie
    }

    /// What `cookie` was issued for. Cookies stay valid for reconnects.
    pub(crate) fn redeem(&self, cookie: &Bytes) -> Option<Grant> {
        lock(&self.grants).get(cookie).cloned()
    }

    /// Registers a BOS session; returns the session it replaced, if any.
    pub(crate) fn sign_on(&self, online: Online) -> Option<Online> {
        lock(&self.online).insert(online.name.normalized().to_owned(), online)
    }

    /// Removes a BOS session if it is still the current one for its user.
    pub(crate) fn sign_off(&self, name: &ScreenName, session: u64) -> bool {
        let mut map = lock(&self.online);
        match map.get(name.normalized()) {
            Some(current) if current.session == session => {
                map.remove(name.normalized());
                true
            }
            _ => false,
        }
    }

    /// The current session of `name`.
    pub(crate) fn find(&self, name: &ScreenName) -> Option<Online> {
        lock(&self.online).get(name.normalized()).cloned()
    }

    /// Everyone online except `name`.
    pub(crate) fn others(&self, name: &ScreenName) -> Vec<Online> {
        lock(&self.online)
            .values()
            .filter(|o| o.name != *name)
            .cloned()
            .collect()
    }

    /// Adds a member to a room; returns everyone now in it (the new member included).
    pub(crate) fn join_room(&self, room: &RoomInfo, member: Online) -> Vec<Online> {
        let mut rooms = lock(&self.rooms);
        let members = rooms.entry(room.cookie.clone()).or_default();
        members.insert(member.name.normalized().to_owned(), member);
        members.values().cloned().collect()
    }

    /// Removes a member from a room (if it is still that session); returns who remains.
    pub(crate) fn leave_room(
        &self,
        room: &RoomInfo,
        name: &ScreenName,
        session: u64,
    ) -> Vec<Online> {
        let mut rooms = lock(&self.rooms);
        let Some(members) = rooms.get_mut(&room.cookie) else {
            return Vec::new();
        };
        if members
            .get(name.normalized())
            .is_some_and(|m| m.session == session)
        {
            members.remove(name.normalized());
        }
        let rest: Vec<Online> = members.values().cloned().collect();
        if rest.is_empty() {
            rooms.remove(&room.cookie);
        }
        rest
    }

    /// Everyone in a room.
    pub(crate) fn room_members(&self, room: &RoomInfo) -> Vec<Online> {
        lock(&self.rooms)
            .get(&room.cookie)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// `addr` as the `host:port` string clients are handed.
pub(crate) fn host_port(addr: SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}
