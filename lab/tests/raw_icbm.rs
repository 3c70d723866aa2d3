//! The lab passes on an ICBM its strict decoder refuses with the sender's TLV bytes
//! unchanged, as AOL's server did: what the hostile-client tests need to reach a real client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use lab::{Accounts, ClientEvent, LabClient, LabConfig, LabServer};
use oscar::message::icbm::text_message_data;
use oscar::message::icbm_reading::IcbmFrame;

const WAIT: Duration = Duration::from_secs(5);

fn body(to: &str, area: &[u8]) -> Bytes {
    let mut body = vec![9; 8];
    body.extend_from_slice(&1u16.to_be_bytes());
    body.push(u8::try_from(to.len()).unwrap());
    body.extend_from_slice(to.as_bytes());
    body.extend_from_slice(area);
    body.into()
}

#[tokio::test]
async fn an_icbm_the_strict_decoder_refuses_is_passed_on_as_sent() {
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("alice", "a"), ("bob", "b")]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let mut alice = LabClient::login(lab.auth_addr, "alice", "a").await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "b").await.unwrap();
    bob.report_icbms().await.unwrap();
    let text = text_message_data("with a tail").unwrap();
    let mut area = vec![0x00, 0x02];
    area.extend_from_slice(&u16::try_from(text.len()).unwrap().to_be_bytes());
    area.extend_from_slice(&text);
    // One trailing byte, and a TLV whose length runs past the end.
    for tail in [&[0x42][..], &[0x00, 0x99, 0xff, 0xff, 0x01][..]] {
        let sent = [&area[..], tail].concat();
        alice.send_icbm_body(body("bob", &sent)).await.unwrap();
        let got = bob
            .expect_event(WAIT, "a raw ICBM", |e| matches!(e, ClientEvent::Icbm(_)))
            .await
            .unwrap();
        let ClientEvent::Icbm(raw) = got else {
            unreachable!()
        };
        let frame = IcbmFrame::of_receive(raw).unwrap();
        assert_eq!(
            (frame.cookie, frame.channel, &frame.peer[..]),
            ([9; 8], 1, &b"alice"[..])
        );
        assert_eq!(frame.tlv_area, sent, "the sender's bytes, unchanged");
    }
    // To someone not online: the usual error, and the session goes on.
    alice
        .send_icbm_body(body("carol", &[&area[..], &[0x42]].concat()))
        .await
        .unwrap();
    alice
        .expect_event(WAIT, "ICBM error", |e| matches!(e, ClientEvent::ImError(4)))
        .await
        .unwrap();
    alice.send_im("bob", "still here").await.unwrap();
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), "still here");
}
