#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ from the byte examples used by the
oscar tests (libpurple captures, oscar.md §10.5, the unit-test fixtures).

Run from anywhere: `python3 fuzz/make_seeds.py`. The output is committed; rerun it only
when adding seeds. Each target's input layout is documented in oscar/src/fuzzing.rs.
"""

import pathlib
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parent / "seeds"

# libpurple's first 45 bytes on an authorizer connection (real-peers.md §2a).
HELLO_AND_KEY_REQUEST = bytes.fromhex(
    "2a01000100040000 0001"
    "2a020002001d 0017000600000000 0001 00010007 74657374657231 004b0000 005a0000"
)
HELLO = HELLO_AND_KEY_REQUEST[6:10]
KEY_REQUEST = HELLO_AND_KEY_REQUEST[16:]

# libpurple's outgoing IM (real-peers.md §2b), FLAP payload only.
IM = bytes.fromhex(
    "0004000600000000001933383535313534000001 0a70726f62656275646479"
    "0002003e 050100040101 0102 01010032 00000000"
    "3c48544d4c3e3c424f44593e6869206261636b2066726f6d206269746c6265653c2f424f44593e3c2f48544d4c3e"
    "00030000 00060000"
)


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">HH", kind, len(value)) + value


def snac(family: int, subtype: int, body: bytes, flags: int = 0, req: int = 2) -> bytes:
    return struct.pack(">HHHI", family, subtype, flags, req) + body


def flap(channel: int, seq: int, payload: bytes) -> bytes:
    return struct.pack(">BBHH", 0x2A, channel, seq, len(payload)) + payload


def user_info(sn: bytes, warning: int, tlvs: list) -> bytes:
    return bytes([len(sn)]) + sn + struct.pack(">HH", warning, len(tlvs)) + b"".join(tlvs)


COOKIE = bytes(range(255, -1, -1))
# oscar.md §10.5: BUCP login reply with a 256-byte cookie.
LOGIN_REPLY = snac(
    0x0017,
    0x0003,
    tlv(1, b"alice") + tlv(5, b"64.12.30.168:5190") + tlv(6, COOKIE) + tlv(0x8E, b"\x00"),
)
CAP_CHAT = bytes.fromhex("748f2420628711d18222444553540000")
CAP_SEND_FILE = bytes.fromhex("094613434c7f11d18222444553540000")
ALICE = user_info(
    b"alice",
    0x0102,
    [tlv(1, b"\x00\x10"), tlv(3, b"\x3b\x9a\xca\x00"), tlv(0x0D, CAP_CHAT + CAP_SEND_FILE)],
)
BOB = user_info(b"bob", 0, [])
ROOM = struct.pack(">HB", 4, 29) + b"!aol://2719:10-4-Lobby%20Chat" + struct.pack(">H", 0)
ICQ_DATA = struct.pack("<IBBH", 123456789, 1, 0, 6) + b"hello\x00"
RENDEZVOUS = (
    struct.pack(">H", 0)
    + b"cookie!!"
    + CAP_SEND_FILE
    + tlv(0x000A, b"\x00\x01")
    + tlv(0x2711, struct.pack(">HHI", 1, 1, 4096) + b"report.pdf\x00")
)
IM_DATA = IM[10 + 21 + 4 : 10 + 21 + 4 + 0x3E]
CHAT_INFO = tlv(1, b"hello room") + tlv(2, b"us-ascii") + tlv(3, b"en")
CHAT_SEND = b"chatmsg!" + struct.pack(">H", 3) + tlv(1, b"") + tlv(6, b"") + tlv(5, CHAT_INFO)
CHAT_RECV = b"chatmsg!" + struct.pack(">H", 3) + tlv(1, b"") + tlv(3, ALICE) + tlv(5, CHAT_INFO)
MIGRATION = struct.pack(">HHH", 2, 1, 4) + tlv(5, b"1.2.3.4:5190") + tlv(6, b"c00kie")
ICBM_RECEIVE = b"3855154\x00" + struct.pack(">H", 1) + ALICE + tlv(2, IM_DATA) + tlv(0x0B, b"")
ICQ_SEND = (
    b"icqmsg!!" + struct.pack(">H", 4) + bytes([9]) + b"123456789" + tlv(5, ICQ_DATA) + tlv(6, b"")
)
TYPING = bytes(8) + struct.pack(">H", 1) + bytes([3]) + b"bob" + struct.pack(">H", 2)
SERVICE_REQUEST = struct.pack(">H", 0x000E) + tlv(1, ROOM)
SERVICE_RESPONSE = (
    tlv(0x0D, b"\x00\x0e") + tlv(5, b"chat.example:5190") + tlv(6, b"svc-cookie") + tlv(0x8E, b"\x00")
)
KEY_REPLY = struct.pack(">H", 10) + b"4019286452" + tlv(0x26, b"")
SIGNOFF = tlv(1, b"olduser") + tlv(5, b"64.12.30.168:5190") + tlv(6, COOKIE[:32])

SNACS = {
    "key_request": KEY_REQUEST,
    "key_reply": snac(0x0017, 0x0007, KEY_REPLY),
    "im": IM,
    "login_reply": LOGIN_REPLY,
    "prefixed": bytes.fromhex("0001000380000000000700060001000200 04aabb".replace(" ", "")),
    "service_request": snac(0x0001, 0x0004, SERVICE_REQUEST),
    "service_response": snac(0x0001, 0x0005, SERVICE_RESPONSE),
    "migration": snac(0x0001, 0x0012, MIGRATION),
    "self_info": snac(0x0001, 0x000F, ALICE + tlv(0x1B, b"")),
    "icbm_receive": snac(0x0004, 0x0007, ICBM_RECEIVE, req=0x80000001),
    "icq_send": snac(0x0004, 0x0006, ICQ_SEND),
    "typing": snac(0x0004, 0x0014, TYPING),
    "chat_joined": snac(0x000E, 0x0003, ALICE + BOB),
    "chat_left": snac(0x000E, 0x0004, BOB),
    "chat_send": snac(0x000E, 0x0005, CHAT_SEND),
    "chat_receive": snac(0x000E, 0x0006, CHAT_RECV),
    "buddy_arrived": snac(0x0003, 0x000B, ALICE),
    "buddy_departed": snac(0x0003, 0x000C, BOB),
}

SEEDS = {
    "flap": {
        "libpurple_hello_key_request": HELLO_AND_KEY_REQUEST,
        "libpurple_im": flap(2, 3, IM),
        "login_reply_10_5": flap(2, 0x1234, LOGIN_REPLY),
        "keepalive": flap(5, 9, b""),
        "all": HELLO_AND_KEY_REQUEST + flap(2, 3, IM) + flap(2, 0x1234, LOGIN_REPLY),
    },
    "snac": SNACS,
    "tlv": {
        "rest": bytes.fromhex("00010002 6869 004b0000 00010001 78 005a0000".replace(" ", "")),
        "counted": bytes.fromhex("0003 000100020007 004b0000 0003000400000009".replace(" ", "")),
        "length_prefixed": bytes.fromhex("0012 000100020007 004b0000 0003000400000009".replace(" ", "")),
        "login_reply_body": LOGIN_REPLY[10:],
        "chat_info": CHAT_INFO,
    },
    "message": {
        "hello": b"\x01" + HELLO,
        "cookie_hello": b"\x01" + HELLO + tlv(6, COOKIE),
        "signoff": b"\x04" + SIGNOFF,
        "keepalive": b"\x05",
        "error_channel": b"\x03\x00\x01",
        **{name: b"\x02" + payload for name, payload in SNACS.items()},
    },
    "user_info": {"alice": ALICE, "bob": BOB, "alice_bob": ALICE + BOB},
    "room_info": {
        "aol": ROOM,
        "oos": struct.pack(">HB", 4, 14) + b"4-0-compliance" + struct.pack(">H", 0),
    },
    "host_port": {
        "ip_port": b"64.12.30.168:5190",
        "name": b"bos.example",
        "rewritten": b"10.0.0.5:15190",
    },
    "text": {
        "ascii_html": b"\x00<HTML><BODY BGCOLOR=\"#ffffff\">hi &amp; bye<BR>x &lt;3 &#233;</BODY></HTML>",
        "latin1": b"\x01caf\xe9",
        "ucs2be": b"\x02" + "cé😀".encode("utf-16-be"),
        "utf8": b"\x03" + "snowman ☃".encode("utf-8"),
    },
    "icbm_content": {
        "text": b"\x00" + IM_DATA,
        "rendezvous": b"\x01" + RENDEZVOUS,
        "icq": b"\x02" + ICQ_DATA,
    },
}


def sensor_record(op: int, body: bytes) -> bytes:
    """One record of the sensor_stream target: op (low 2 bits: 0 raw frame, 1 segment in
    order, 2 segment jumping ahead, 3 clock step; 0x08 client to server; bits 1-2 the TCP
    flags; high nibble the flow), then a length byte and the body."""
    return bytes([op, len(body)]) + body


SENSOR_UP = 0x08
SENSOR_HELLO = flap(0x01, 1, b"\x00\x00\x00\x01")
SENSOR_KEY_REQUEST = flap(0x02, 2, snac(0x0017, 0x0006, tlv(0x0001, b"tester01") + tlv(0x004B, b"") + tlv(0x005A, b"")))
SEEDS["sensor_stream"] = {
    # SYN, SYN-ACK, both hellos, the key request, then a clock step.
    "login": sensor_record(1 | SENSOR_UP, b"") + sensor_record(1 | 0x06, b"")
    + sensor_record(1 | SENSOR_UP | 0x02, SENSOR_HELLO) + sensor_record(1 | 0x02, SENSOR_HELLO)
    + sensor_record(1 | SENSOR_UP | 0x02, SENSOR_KEY_REQUEST) + sensor_record(3, b"\x10"),
    # A segment far ahead, then the start: reassembly waits, or gives up on the hole.
    "jump": sensor_record(1 | SENSOR_UP, b"") + sensor_record(2 | SENSOR_UP | 0x02, SENSOR_KEY_REQUEST)
    + sensor_record(1 | SENSOR_UP | 0x02, SENSOR_HELLO),
}


def spool_frame(seq: int, payload: bytes) -> bytes:
    """A Sametime spool frame: len u32 LE, CRC-32 (of seq LE and payload) u32 LE, seq u64
    LE, payload."""
    crc = zlib.crc32(struct.pack("<Q", seq) + payload) & 0xFFFFFFFF
    return struct.pack("<IIQ", len(payload), crc, seq) + payload


SEEDS["spool_segment"] = {
    "three_frames": spool_frame(1, b"hello") + spool_frame(2, b"") + spool_frame(3, b"x" * 40),
    # An append cut short by a crash: a whole frame, then part of the next.
    "torn_tail": spool_frame(7, b"abc") + spool_frame(8, b"defgh")[:9],
}


def main() -> None:
    for target, seeds in SEEDS.items():
        folder = ROOT / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / f"{name}.bin").write_bytes(data)
    print(f"wrote {sum(len(s) for s in SEEDS.values())} seeds under {ROOT}")


if __name__ == "__main__":
    main()
