//! Round-trip properties of the oscar codec: FLAP framing under arbitrary read splits, SNAC
//! headers with and without the 0x8000 prefix block, the three TLV containers, every typed
//! message (value → bytes → value, and bytes → `Message` → identical bytes), the fuzzing
//! entry points driven with random and mutated bytes, and charset encode/decode.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use oscar::message::icbm::{IcbmContent, TypingEvent};
use oscar::message::{
    BuddyArrived, BuddyDeparted, ChatMessage, ChatReceive, ChatSend, ChatUsersJoined,
    ChatUsersLeft, IcbmReceive, IcbmSend, KeyReply, KeyRequest, LoginReply, LoginRequest,
    Migration, RoomInfo, SelfInfo, ServiceRequest, ServiceResponse, SignOff, SignonHello, Typing,
    UserInfo, UserList,
};
use oscar::{
    Channel, Charset, Family, Flap, FlapCodec, Message, SNAC_FLAG_PREFIX, ScreenName,
    ServerAddress, Snac, SnacBody, SnacHeader, SnacMessage, Tlv, TlvList,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use tokio_util::codec::{Decoder, Encoder};

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Small kinds collide often, so lists carry duplicates and the well-known tags (5, 6).
fn tlv_kind() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..=16, any::<u16>()]
}

fn tlv() -> impl Strategy<Value = Tlv> {
    (tlv_kind(), bytes(48)).prop_map(|(kind, value)| Tlv::new(kind, value))
}

fn tlvs(max: usize) -> impl Strategy<Value = TlvList> {
    vec(tlv(), 0..=max).prop_map(TlvList::from_iter)
}

/// Screen names as raw wire bytes, including the longest a u8 prefix can carry.
fn screen_name() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        6 => bytes(24),
        1 => vec(any::<u8>(), 255..=255).prop_map(Bytes::from),
    ]
}

fn user_info() -> impl Strategy<Value = UserInfo> {
    (screen_name(), any::<u16>(), tlvs(6)).prop_map(|(screen_name, warning, tlvs)| UserInfo {
        screen_name,
        warning,
        tlvs,
    })
}

fn user_list() -> impl Strategy<Value = UserList> {
    vec(user_info(), 0..4).prop_map(|users| UserList { users })
}

fn icbm_channel() -> impl Strategy<Value = u16> {
    prop_oneof![Just(1u16), Just(2u16), Just(4u16), any::<u16>()]
}

fn signon_hello() -> impl Strategy<Value = SignonHello> {
    (prop_oneof![Just(1u32), any::<u32>()], tlvs(6))
        .prop_map(|(version, tlvs)| SignonHello { version, tlvs })
}

fn sign_off() -> impl Strategy<Value = SignOff> {
    tlvs(6).prop_map(|tlvs| SignOff { tlvs })
}

fn key_request() -> impl Strategy<Value = KeyRequest> {
    tlvs(6).prop_map(|tlvs| KeyRequest { tlvs })
}

fn key_reply() -> impl Strategy<Value = KeyReply> {
    (bytes(32), tlvs(4)).prop_map(|(key, tlvs)| KeyReply { key, tlvs })
}

fn login_request() -> impl Strategy<Value = LoginRequest> {
    tlvs(8).prop_map(|tlvs| LoginRequest { tlvs })
}

fn login_reply() -> impl Strategy<Value = LoginReply> {
    tlvs(8).prop_map(|tlvs| LoginReply { tlvs })
}

fn service_request() -> impl Strategy<Value = ServiceRequest> {
    (any::<u16>(), tlvs(4)).prop_map(|(family, tlvs)| ServiceRequest {
        family: Family(family),
        tlvs,
    })
}

fn service_response() -> impl Strategy<Value = ServiceResponse> {
    tlvs(6).prop_map(|tlvs| ServiceResponse { tlvs })
}

fn migration() -> impl Strategy<Value = Migration> {
    (vec(any::<u16>().prop_map(Family), 0..8), tlvs(4))
        .prop_map(|(families, tlvs)| Migration { families, tlvs })
}

fn self_info() -> impl Strategy<Value = SelfInfo> {
    (user_info(), bytes(32)).prop_map(|(user, trailing)| SelfInfo { user, trailing })
}

fn icbm_send() -> impl Strategy<Value = IcbmSend> {
    (any::<[u8; 8]>(), icbm_channel(), screen_name(), tlvs(6)).prop_map(
        |(cookie, channel, recipient, tlvs)| IcbmSend {
            cookie,
            channel,
            recipient,
            tlvs,
        },
    )
}

fn icbm_receive() -> impl Strategy<Value = IcbmReceive> {
    (any::<[u8; 8]>(), icbm_channel(), user_info(), tlvs(6)).prop_map(
        |(cookie, channel, sender, tlvs)| IcbmReceive {
            cookie,
            channel,
            sender,
            tlvs,
        },
    )
}

fn typing() -> impl Strategy<Value = Typing> {
    (
        any::<[u8; 8]>(),
        icbm_channel(),
        screen_name(),
        any::<u16>(),
    )
        .prop_map(|(cookie, channel, screen_name, event)| Typing {
            cookie,
            channel,
            screen_name,
            event: TypingEvent(event),
        })
}

fn chat_message() -> impl Strategy<Value = ChatMessage> {
    (
        any::<[u8; 8]>(),
        prop_oneof![Just(3u16), any::<u16>()],
        tlvs(6),
    )
        .prop_map(|(cookie, channel, tlvs)| ChatMessage {
            cookie,
            channel,
            tlvs,
        })
}

/// The (family, subtype) pairs the codec types; anything else must stay `Unknown`.
const TYPED: [(Family, u16); 17] = [
    (KeyRequest::FAMILY, KeyRequest::SUBTYPE),
    (KeyReply::FAMILY, KeyReply::SUBTYPE),
    (LoginRequest::FAMILY, LoginRequest::SUBTYPE),
    (LoginReply::FAMILY, LoginReply::SUBTYPE),
    (ServiceRequest::FAMILY, ServiceRequest::SUBTYPE),
    (ServiceResponse::FAMILY, ServiceResponse::SUBTYPE),
    (Migration::FAMILY, Migration::SUBTYPE),
    (SelfInfo::FAMILY, SelfInfo::SUBTYPE),
    (IcbmSend::FAMILY, IcbmSend::SUBTYPE),
    (IcbmReceive::FAMILY, IcbmReceive::SUBTYPE),
    (Typing::FAMILY, Typing::SUBTYPE),
    (ChatUsersJoined::FAMILY, ChatUsersJoined::SUBTYPE),
    (ChatUsersLeft::FAMILY, ChatUsersLeft::SUBTYPE),
    (ChatSend::FAMILY, ChatSend::SUBTYPE),
    (ChatReceive::FAMILY, ChatReceive::SUBTYPE),
    (BuddyArrived::FAMILY, BuddyArrived::SUBTYPE),
    (BuddyDeparted::FAMILY, BuddyDeparted::SUBTYPE),
];

type Body = (Family, u16, SnacMessage);

fn body<T: SnacBody + Debug + 'static>(
    strategy: impl Strategy<Value = T> + 'static,
    wrap: fn(T) -> SnacMessage,
) -> BoxedStrategy<Body> {
    strategy
        .prop_map(move |v| (T::FAMILY, T::SUBTYPE, wrap(v)))
        .boxed()
}

fn unknown_body() -> impl Strategy<Value = Body> {
    (
        prop_oneof![0u16..=0x18, any::<u16>()],
        prop_oneof![0u16..=0x20, any::<u16>()],
        bytes(64),
    )
        .prop_filter("typed family/subtype", |(f, s, _)| {
            !TYPED.contains(&(Family(*f), *s))
        })
        .prop_map(|(f, s, raw)| (Family(f), s, SnacMessage::Unknown(raw)))
}

/// Every typed SNAC body (and unknown ones) with the family and subtype it travels under.
fn snac_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        body(key_request(), SnacMessage::KeyRequest),
        body(key_reply(), SnacMessage::KeyReply),
        body(login_request(), SnacMessage::LoginRequest),
        body(login_reply(), SnacMessage::LoginReply),
        body(service_request(), SnacMessage::ServiceRequest),
        body(service_response(), SnacMessage::ServiceResponse),
        body(migration(), SnacMessage::Migration),
        body(self_info(), SnacMessage::SelfInfo),
        body(icbm_send(), SnacMessage::IcbmSend),
        body(icbm_receive(), SnacMessage::IcbmReceive),
        body(typing(), SnacMessage::Typing),
        body(
            user_list().prop_map(ChatUsersJoined),
            SnacMessage::ChatUsersJoined
        ),
        body(
            user_list().prop_map(ChatUsersLeft),
            SnacMessage::ChatUsersLeft
        ),
        body(chat_message().prop_map(ChatSend), SnacMessage::ChatSend),
        body(
            chat_message().prop_map(ChatReceive),
            SnacMessage::ChatReceive
        ),
        body(
            user_list().prop_map(BuddyArrived),
            SnacMessage::BuddyArrived
        ),
        body(
            user_list().prop_map(BuddyDeparted),
            SnacMessage::BuddyDeparted
        ),
        unknown_body().boxed(),
    ]
}

/// Flags consistent with the prefix block: the encoder derives bit 0x8000 from it.
fn snac_flags(flags: u16, prefix: &Option<Bytes>) -> u16 {
    match prefix {
        Some(_) => flags | SNAC_FLAG_PREFIX,
        None => flags & !SNAC_FLAG_PREFIX,
    }
}

fn snac_message() -> impl Strategy<Value = Message> {
    (
        snac_body(),
        any::<u16>(),
        any::<u32>(),
        proptest::option::of(bytes(24)),
    )
        .prop_map(
            |((family, subtype, body), flags, request_id, prefix)| Message::Snac {
                header: SnacHeader {
                    family,
                    subtype,
                    flags: snac_flags(flags, &prefix),
                    request_id,
                },
                prefix,
                body,
            },
        )
}

fn flap(max_payload: usize) -> impl Strategy<Value = Flap> {
    (
        any::<u8>(),
        any::<u16>(),
        prop_oneof![3 => bytes(64), 1 => bytes(max_payload)],
    )
        .prop_map(|(channel, seq, payload)| Flap {
            channel: Channel(channel),
            seq,
            payload,
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        1 => signon_hello().prop_map(Message::Signon),
        1 => sign_off().prop_map(Message::SignOff),
        1 => bytes(16).prop_map(Message::KeepAlive),
        4 => snac_message(),
        1 => flap(256)
            .prop_filter("typed channel", |f| ![1, 2, 4, 5].contains(&f.channel.0))
            .prop_map(Message::Other),
    ]
}

fn snac() -> impl Strategy<Value = Snac> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        proptest::option::of(bytes(64)),
        bytes(1024),
    )
        .prop_map(|(family, subtype, flags, request_id, prefix, body)| Snac {
            header: SnacHeader {
                family: Family(family),
                subtype,
                flags: snac_flags(flags, &prefix),
                request_id,
            },
            prefix,
            body,
        })
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn encode_all(frames: &[Flap]) -> BytesMut {
    let mut codec = FlapCodec::default();
    let mut wire = BytesMut::new();
    for f in frames {
        codec.encode(f, &mut wire).unwrap();
    }
    wire
}

/// Feeds `wire` to a fresh codec in the chunks delimited by `cuts`, decoding after each.
fn decode_in_chunks(wire: &[u8], cuts: &[Index], max_payload: usize) -> (Vec<Flap>, FlapCodec) {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
    at.push(wire.len());
    at.sort_unstable();
    let mut codec = FlapCodec::with_max_payload(max_payload);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for end in at {
        buf.extend_from_slice(&wire[start..end]);
        start = end;
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
    }
    assert!(buf.is_empty());
    (frames, codec)
}

/// A typed body: value → bytes → value, via the SNAC and via `Message`, which must give
/// back the typed variant and the identical payload.
fn check_body<T: SnacBody + PartialEq + Debug + Clone>(
    value: &T,
    request_id: u32,
    wrap: fn(T) -> SnacMessage,
) -> Result<(), TestCaseError> {
    let body = value.body_bytes().unwrap();
    prop_assert_eq!(&T::decode_body(body.clone()).unwrap(), value);
    let snac = value.to_snac(request_id).unwrap();
    prop_assert_eq!(&snac.body, &body);
    prop_assert_eq!(&T::from_snac(&snac).unwrap(), value);
    let flap = snac.to_flap().unwrap();
    let message = Message::decode(&flap).unwrap();
    let expected = Message::Snac {
        header: snac.header,
        prefix: None,
        body: wrap(value.clone()),
    };
    prop_assert_eq!(&message, &expected);
    prop_assert_eq!(message.to_flap().unwrap().payload, flap.payload);
    Ok(())
}

/// Text that `html_to_plain` leaves alone.
fn is_plain(text: &str) -> bool {
    !text.contains(['<', '&'])
}

fn latin1_string(max: usize) -> impl Strategy<Value = String> {
    vec(any::<u8>(), 0..=max).prop_map(|b| b.into_iter().map(char::from).collect())
}

fn ascii_string(max: usize) -> impl Strategy<Value = String> {
    vec(0u8..0x80, 0..=max).prop_map(|b| b.into_iter().map(char::from).collect())
}

// ---------------------------------------------------------------------------------------
// FLAP
// ---------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn flap_frames_survive_any_split(
        frames in vec(flap(4096), 1..8),
        cuts in vec(any::<Index>(), 0..16),
    ) {
        let wire = encode_all(&frames);
        prop_assert_eq!(
            wire.len(),
            frames.iter().map(|f| 6 + f.payload.len()).sum::<usize>()
        );
        let concatenated: Vec<u8> = frames
            .iter()
            .flat_map(|f| f.to_bytes().unwrap().to_vec())
            .collect();
        prop_assert_eq!(&wire[..], &concatenated[..]);
        let (decoded, codec) = decode_in_chunks(&wire, &cuts, 4096);
        prop_assert_eq!(&decoded, &frames);
        prop_assert!(codec.is_at_frame_boundary());
        // Re-encoding what was decoded reproduces the stream.
        prop_assert_eq!(&encode_all(&decoded)[..], &wire[..]);
    }

    #[test]
    fn flap_frames_fed_one_byte_at_a_time(frames in vec(flap(300), 1..4)) {
        let wire = encode_all(&frames);
        let mut codec = FlapCodec::default();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for (i, b) in wire.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            if let Some(f) = codec.decode(&mut buf).unwrap() {
                // A frame comes out exactly when its last byte arrives.
                let end: usize = frames[..=decoded.len()]
                    .iter()
                    .map(|f| 6 + f.payload.len())
                    .sum();
                prop_assert_eq!(i + 1, end);
                decoded.push(f);
            }
        }
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn fuzz_flap_accepts_encoded_streams_with_garbage_tails(
        frames in vec(flap(512), 0..6),
        tail in bytes(16),
    ) {
        let mut wire = encode_all(&frames);
        wire.extend_from_slice(&tail);
        oscar::fuzzing::flap(&wire);
    }
}

// ---------------------------------------------------------------------------------------
// SNAC and TLV
// ---------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn snac_round_trips_with_and_without_prefix(snac in snac()) {
        let wire = snac.to_bytes().unwrap();
        prop_assert_eq!(wire.len(), snac.encoded_len());
        prop_assert_eq!(
            wire.get(4..6),
            Some(&snac.header.flags.to_be_bytes()[..])
        );
        let again = Snac::decode(wire.clone()).unwrap();
        prop_assert_eq!(&again, &snac);
        prop_assert_eq!(again.to_bytes().unwrap(), wire);
        let flap = snac.to_flap().unwrap();
        prop_assert_eq!(flap.channel, Channel::DATA);
        prop_assert_eq!(Snac::from_flap(&flap).unwrap(), snac);
    }

    #[test]
    fn snac_new_clears_the_prefix_flag(
        family in any::<u16>(),
        subtype in any::<u16>(),
        flags in any::<u16>(),
        request_id in any::<u32>(),
        body in bytes(64),
    ) {
        let header = SnacHeader { family: Family(family), subtype, flags, request_id };
        let snac = Snac::new(header, body);
        prop_assert_eq!(snac.header.flags, flags & !SNAC_FLAG_PREFIX);
        prop_assert_eq!(Snac::decode(snac.to_bytes().unwrap()).unwrap(), snac);
    }

    #[test]
    fn tlv_containers_round_trip(list in tlvs(12)) {
        let rest = list.to_bytes().unwrap();
        prop_assert_eq!(rest.len(), list.encoded_len());
        prop_assert_eq!(&TlvList::decode_rest(rest.clone()).unwrap(), &list);

        let mut counted = BytesMut::new();
        list.encode_counted(&mut counted).unwrap();
        prop_assert_eq!(&counted[..2], &u16::try_from(list.len()).unwrap().to_be_bytes()[..]);
        prop_assert_eq!(&counted[2..], &rest[..]);
        prop_assert_eq!(&TlvList::decode_counted(counted.freeze()).unwrap(), &list);

        let mut prefixed = BytesMut::new();
        list.encode_length_prefixed(&mut prefixed).unwrap();
        prop_assert_eq!(&prefixed[..2], &u16::try_from(rest.len()).unwrap().to_be_bytes()[..]);
        prop_assert_eq!(&prefixed[2..], &rest[..]);
        prop_assert_eq!(&TlvList::decode_length_prefixed(prefixed.freeze()).unwrap(), &list);

        // Lookups see the first TLV of a kind, as servers and clients do.
        for tlv in &list {
            let first = list.iter().find(|t| t.kind == tlv.kind).unwrap();
            prop_assert_eq!(list.value(tlv.kind), Some(&first.value));
        }
    }

    #[test]
    fn tlv_set_changes_one_value_and_keeps_order(
        list in tlvs(8),
        kind in tlv_kind(),
        value in bytes(300),
    ) {
        let mut changed = list.clone();
        changed.set(kind, value.clone());
        let again = TlvList::decode_rest(changed.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(again.value(kind), Some(&value));
        let kinds = |l: &TlvList| l.iter().map(|t| t.kind).collect::<Vec<_>>();
        if list.contains(kind) {
            prop_assert_eq!(kinds(&again), kinds(&list));
            prop_assert_eq!(
                again.encoded_len() as isize - list.encoded_len() as isize,
                value.len() as isize - list.value(kind).unwrap().len() as isize
            );
        } else {
            prop_assert_eq!(again.len(), list.len() + 1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Typed messages
// ---------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn signon_hello_round_trips(hello in signon_hello()) {
        let payload = hello.to_bytes().unwrap();
        prop_assert_eq!(&payload[..4], &hello.version.to_be_bytes()[..]);
        prop_assert_eq!(&SignonHello::decode(payload.clone()).unwrap(), &hello);
        let flap = hello.to_flap().unwrap();
        prop_assert_eq!(flap.channel, Channel::SIGNON);
        let message = Message::decode(&flap).unwrap();
        prop_assert_eq!(&message, &Message::Signon(hello));
        prop_assert_eq!(message.to_flap().unwrap().payload, payload);
    }

    #[test]
    fn sign_off_round_trips(off in sign_off()) {
        let payload = off.to_bytes().unwrap();
        prop_assert_eq!(&SignOff::decode(payload.clone()).unwrap(), &off);
        let flap = off.to_flap().unwrap();
        prop_assert_eq!(flap.channel, Channel::SIGNOFF);
        let message = Message::decode(&flap).unwrap();
        prop_assert_eq!(&message, &Message::SignOff(off));
        prop_assert_eq!(message.to_flap().unwrap().payload, payload);
    }

    #[test]
    fn key_request_round_trips(v in key_request(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::KeyRequest)?;
    }

    #[test]
    fn key_reply_round_trips(v in key_reply(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::KeyReply)?;
    }

    #[test]
    fn login_request_round_trips(v in login_request(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::LoginRequest)?;
    }

    #[test]
    fn login_reply_round_trips(v in login_reply(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::LoginReply)?;
    }

    #[test]
    fn service_request_round_trips(v in service_request(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::ServiceRequest)?;
    }

    #[test]
    fn service_response_round_trips(v in service_response(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::ServiceResponse)?;
    }

    #[test]
    fn migration_round_trips(v in migration(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::Migration)?;
    }

    #[test]
    fn self_info_round_trips(v in self_info(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::SelfInfo)?;
    }

    #[test]
    fn icbm_send_round_trips(v in icbm_send(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::IcbmSend)?;
    }

    #[test]
    fn icbm_receive_round_trips(v in icbm_receive(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::IcbmReceive)?;
    }

    #[test]
    fn typing_round_trips(v in typing(), id in any::<u32>()) {
        check_body(&v, id, SnacMessage::Typing)?;
    }

    #[test]
    fn chat_send_round_trips(v in chat_message(), id in any::<u32>()) {
        check_body(&ChatSend(v), id, SnacMessage::ChatSend)?;
    }

    #[test]
    fn chat_receive_round_trips(v in chat_message(), id in any::<u32>()) {
        check_body(&ChatReceive(v), id, SnacMessage::ChatReceive)?;
    }

    #[test]
    fn chat_users_joined_and_left_round_trip(v in user_list(), id in any::<u32>()) {
        check_body(&ChatUsersJoined(v.clone()), id, SnacMessage::ChatUsersJoined)?;
        check_body(&ChatUsersLeft(v), id, SnacMessage::ChatUsersLeft)?;
    }

    #[test]
    fn buddy_arrived_and_departed_round_trip(v in user_list(), id in any::<u32>()) {
        check_body(&BuddyArrived(v.clone()), id, SnacMessage::BuddyArrived)?;
        check_body(&BuddyDeparted(v), id, SnacMessage::BuddyDeparted)?;
    }

    #[test]
    fn user_info_blocks_round_trip(info in user_info()) {
        let mut wire = BytesMut::new();
        info.encode(&mut wire).unwrap();
        prop_assert_eq!(
            wire.len(),
            1 + info.screen_name.len() + 2 + 2 + info.tlvs.encoded_len()
        );
        prop_assert_eq!(UserInfo::decode(wire.freeze()).unwrap(), info);
    }

    #[test]
    fn room_info_round_trips(
        exchange in any::<u16>(),
        cookie in prop_oneof![bytes(40), vec(any::<u8>(), 255..=255).prop_map(Bytes::from)],
        instance in any::<u16>(),
    ) {
        let room = RoomInfo { exchange, cookie, instance };
        let mut wire = BytesMut::new();
        room.encode(&mut wire).unwrap();
        prop_assert_eq!(&RoomInfo::decode(wire.freeze()).unwrap(), &room);
        let request = ServiceRequest::chat(&room).unwrap();
        prop_assert_eq!(request.family, Family::CHAT);
        prop_assert_eq!(request.room().unwrap().unwrap(), room);
    }

    #[test]
    fn host_port_prints_and_parses_back(
        host in "[a-z0-9][a-z0-9.-]{0,30}",
        port in proptest::option::of(any::<u16>()),
    ) {
        let hp = ServerAddress { host, port };
        prop_assert_eq!(ServerAddress::parse(hp.to_string().as_bytes()).unwrap(), hp);
    }

    /// The whole-message property: any typed value re-decodes to itself, and the frame
    /// decoded from its bytes re-encodes to the identical payload, also through the codec.
    #[test]
    fn messages_round_trip_through_frames(message in message(), seq in any::<u16>()) {
        let mut flap = message.to_flap().unwrap();
        let decoded = Message::decode(&flap).unwrap();
        prop_assert_eq!(&decoded, &message);
        prop_assert_eq!(&decoded.to_flap().unwrap().payload, &flap.payload);

        flap.seq = seq;
        let wire = encode_all(std::slice::from_ref(&flap));
        let (frames, _) = decode_in_chunks(&wire, &[], usize::from(u16::MAX));
        prop_assert_eq!(&frames, &vec![flap.clone()]);
        let again = Message::decode(&frames[0]).unwrap();
        prop_assert_eq!(again.to_flap().unwrap().payload, flap.payload);
    }
}

// ---------------------------------------------------------------------------------------
// Arbitrary bytes: whatever decodes re-encodes identically (the fuzz targets' invariants)
// ---------------------------------------------------------------------------------------

fn assert_reencodes(channel: u8, payload: &[u8]) -> Result<(), TestCaseError> {
    let flap = Flap {
        channel: Channel(channel),
        seq: 0,
        payload: Bytes::copy_from_slice(payload),
    };
    if let Ok(message) = Message::decode(&flap) {
        prop_assert_eq!(&message.to_flap().unwrap().payload[..], payload);
    }
    Ok(())
}

/// A channel-2 payload for `family`/`subtype` followed by `body`.
fn snac_payload(family: Family, subtype: u16, flags: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + body.len());
    out.extend_from_slice(&family.0.to_be_bytes());
    out.extend_from_slice(&subtype.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&7u32.to_be_bytes());
    out.extend_from_slice(body);
    out
}

proptest! {
    #[test]
    fn random_bytes_through_every_fuzz_entry_point(data in bytes(512)) {
        oscar::fuzzing::flap(&data);
        oscar::fuzzing::snac(&data);
        oscar::fuzzing::tlv(&data);
        oscar::fuzzing::message(&data);
        oscar::fuzzing::user_info(&data);
        oscar::fuzzing::room_info(&data);
        oscar::fuzzing::host_port(&data);
        oscar::fuzzing::text(&data);
        oscar::fuzzing::icbm_content(&data);
        for channel in 0..=6 {
            assert_reencodes(channel, &data)?;
        }
    }

    /// Random bodies under every typed family/subtype, so the typed decoders see input
    /// without having to guess a valid SNAC header first.
    #[test]
    fn random_bodies_under_typed_headers(
        which in any::<Index>(),
        flags in prop_oneof![Just(0u16), Just(SNAC_FLAG_PREFIX), any::<u16>()],
        body in bytes(256),
    ) {
        let (family, subtype) = *which.get(&TYPED);
        let payload = snac_payload(family, subtype, flags, &body);
        assert_reencodes(2, &payload)?;
        let mut framed = vec![2u8];
        framed.extend_from_slice(&payload);
        oscar::fuzzing::message(&framed);
    }

    /// Valid encodings with a few bytes overwritten and possibly cut short: close to
    /// valid, so decoding gets deep before it fails (or succeeds differently).
    #[test]
    fn mutated_valid_messages_reencode_identically_when_accepted(
        message in message(),
        mutations in vec((any::<Index>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<Index>()),
    ) {
        let flap = message.to_flap().unwrap();
        let mut payload = flap.payload.to_vec();
        if !payload.is_empty() {
            for (at, byte) in &mutations {
                let i = at.index(payload.len());
                payload[i] = *byte;
            }
        }
        if let Some(cut) = cut {
            payload.truncate(cut.index(payload.len() + 1));
        }
        assert_reencodes(flap.channel.0, &payload)?;
        let mut framed = vec![flap.channel.0];
        framed.extend_from_slice(&payload);
        oscar::fuzzing::message(&framed);
        oscar::fuzzing::snac(&payload);
        if let Some(body) = payload.get(10..) {
            oscar::fuzzing::tlv(body);
            oscar::fuzzing::user_info(body);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn ascii_text_round_trips(text in ascii_string(200)) {
        let raw = Charset::ASCII.encode(&text);
        prop_assert_eq!(&raw[..], text.as_bytes());
        prop_assert_eq!(Charset::ASCII.decode(&raw), text.clone());
        prop_assert_eq!(Charset::for_text(&text), Charset::ASCII);
    }

    #[test]
    fn latin1_text_round_trips(text in latin1_string(200)) {
        for charset in [Charset::LATIN1, Charset::ASCII] {
            let raw = charset.encode(&text);
            prop_assert_eq!(raw.len(), text.chars().count());
            prop_assert_eq!(charset.decode(&raw), text.clone());
        }
    }

    #[test]
    fn single_byte_charsets_decode_losslessly(raw in bytes(200)) {
        for charset in [Charset::LATIN1, Charset::ASCII] {
            let text = charset.decode(&raw);
            prop_assert_eq!(text.chars().count(), raw.len());
            prop_assert_eq!(charset.encode(&text), raw.clone());
        }
    }

    #[test]
    fn ucs2be_text_round_trips(text in any::<String>()) {
        let raw = Charset::UCS2BE.encode(&text);
        prop_assert_eq!(raw.len(), 2 * text.encode_utf16().count());
        prop_assert_eq!(Charset::UCS2BE.decode(&raw), text.clone());
        let charset = Charset::for_text(&text);
        prop_assert_eq!(charset.decode(&charset.encode(&text)), text);
    }

    #[test]
    fn unknown_charsets_are_utf8(text in any::<String>(), word in 4u16..) {
        let charset = Charset(word);
        prop_assert_eq!(&charset.encode(&text)[..], text.as_bytes());
        prop_assert_eq!(charset.decode(text.as_bytes()), text);
    }

    #[test]
    fn instant_message_text_round_trips(
        text in any::<String>().prop_filter("markup", |t| is_plain(t)),
        cookie in any::<[u8; 8]>(),
    ) {
        let to = ScreenName::parse(b"bob").unwrap();
        let im = IcbmSend::text(cookie, &to, &text).unwrap();
        let again = IcbmSend::decode_body(im.body_bytes().unwrap()).unwrap();
        prop_assert_eq!(&again, &im);
        let IcbmContent::Text(content) = again.content().unwrap() else {
            return Err(TestCaseError::fail("expected a text message"));
        };
        prop_assert_eq!(content.parts.len(), 1);
        prop_assert_eq!(content.parts[0].charset, Charset::for_text(&text));
        prop_assert_eq!(content.html(), text.clone());
        prop_assert_eq!(content.plain(), text);
    }

    #[test]
    fn chat_text_round_trips(
        text in any::<String>().prop_filter("markup", |t| is_plain(t)),
        cookie in any::<[u8; 8]>(),
    ) {
        let sent = ChatMessage::public(cookie, &text).unwrap();
        let again = ChatSend::decode_body(ChatSend(sent.clone()).body_bytes().unwrap()).unwrap();
        prop_assert_eq!(&again.0, &sent);
        let decoded = again.0.text().unwrap().unwrap();
        prop_assert_eq!(decoded.plain, text.clone());
        prop_assert_eq!(decoded.html, text);
    }
}
