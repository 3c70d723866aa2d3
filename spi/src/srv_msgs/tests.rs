use std::ffi::CStr;

use super::*;

fn msg(destination: Destination, text: &str) -> SrvMsg {
    SrvMsg::new(destination, text).unwrap()
}

/// What the server sees at the out-pointers, read as the C host reads it.
fn read(array: *mut ClSrvMsg, count: c_ulong) -> Vec<(c_int, c_int, String)> {
    (0..count as usize)
        .map(|i| {
            // SAFETY: `array` was handed over with `count` elements and is not cleaned.
            let m = unsafe { &*array.add(i) };
            // SAFETY: each text is NUL-terminated, allocated by `leak_text`.
            let text = unsafe { CStr::from_ptr(m.msg) }
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(m.msg_len as usize, text.len());
            (m.msg_type, m.destination, text)
        })
        .collect()
}

fn hand_over(registry: &Registry, out: &mut *mut ClSrvMsg, len: &mut c_ulong, m: Vec<SrvMsg>) {
    // SAFETY: both point to live locals.
    unsafe { registry.hand_over(out, len, m) }
}

#[test]
fn a_nul_cannot_be_carried() {
    assert!(SrvMsg::new(Destination::Sender, &b"a\0b"[..]).is_none());
    assert_eq!(msg(Destination::Receiver, "ab").text(), b"ab");
}

#[test]
fn handed_over_messages_are_cleaned_exactly_once() {
    let registry = Registry::new();
    let (mut out, mut len) = (std::ptr::null_mut(), 0);
    hand_over(
        &registry,
        &mut out,
        &mut len,
        vec![
            msg(Destination::Sender, "notice"),
            msg(Destination::Receiver, ""),
        ],
    );
    assert_eq!(
        read(out, len),
        [(0, 0, "notice".into()), (0, 1, String::new())]
    );
    assert_eq!(registry.live_count(), 1);
    // A wrong count is refused and frees nothing.
    assert!(matches!(
        registry.clean(out, 1),
        Err(SpiError::SrvMsgsCount { given: 1, ours: 2 })
    ));
    assert_eq!(registry.live_count(), 1);
    registry.clean(out, len).unwrap();
    assert_eq!(registry.live_count(), 0);
    // Twice: no longer ours.
    assert!(matches!(registry.clean(out, len), Err(SpiError::NotOurs)));
}

#[test]
fn foreign_pointers_are_refused_and_null_is_fine() {
    let registry = Registry::new();
    let mut foreign = ClSrvMsg {
        msg_type: 0,
        destination: 0,
        msg_len: 0,
        msg: std::ptr::null_mut(),
    };
    assert!(matches!(
        registry.clean(&mut foreign, 1),
        Err(SpiError::NotOurs)
    ));
    registry.clean(std::ptr::null_mut(), 0).unwrap();
    registry.clean(std::ptr::null_mut(), 5).unwrap();
}

#[test]
fn garbage_in_the_out_pointers_is_overwritten_and_our_array_is_appended_to() {
    let registry = Registry::new();
    let mut garbage = [0u8; 32];
    let (mut out, mut len) = (garbage.as_mut_ptr().cast::<ClSrvMsg>(), 77);
    hand_over(&registry, &mut out, &mut len, Vec::new());
    assert!(out.is_null() && len == 0);

    hand_over(
        &registry,
        &mut out,
        &mut len,
        vec![msg(Destination::Sender, "one")],
    );
    let first = out;
    // Nothing new: ours stays as it is.
    hand_over(&registry, &mut out, &mut len, Vec::new());
    assert_eq!((out, len), (first, 1));
    hand_over(
        &registry,
        &mut out,
        &mut len,
        vec![msg(Destination::Receiver, "two")],
    );
    assert_eq!(read(out, len), [(0, 0, "one".into()), (0, 1, "two".into())]);
    assert_eq!(registry.live_count(), 1);
    registry.clean(out, len).unwrap();
    assert_eq!(registry.live_count(), 0);
}

#[test]
fn null_out_pointers_allocate_nothing() {
    let registry = Registry::new();
    let mut len: c_ulong = 9;
    // SAFETY: one NULL, one live local.
    unsafe {
        registry.hand_over(
            std::ptr::null_mut(),
            &mut len,
            vec![msg(Destination::Sender, "x")],
        );
    }
    assert_eq!((len, registry.live_count()), (0, 0));
}

#[test]
fn terminate_frees_what_was_never_cleaned() {
    let registry = Registry::new();
    for _ in 0..3 {
        let (mut out, mut len) = (std::ptr::null_mut(), 0);
        hand_over(
            &registry,
            &mut out,
            &mut len,
            vec![msg(Destination::Sender, "x")],
        );
    }
    assert_eq!(registry.free_all(), 3);
    assert_eq!(registry.live_count(), 0);
}
