//! The panic boundary and the policy-outcome boundary: codes, and what is handed over.

use super::*;
use crate::codes::API_INVALID_PARAM;

#[test]
fn a_panic_becomes_the_internal_error_code() {
    let code = boundary("test", || panic!("boom"));
    assert_eq!(code, API_INTERNAL_ERROR);
    assert_eq!(
        boundary("test", || Err(SpiError::Null { what: "x" })),
        API_INVALID_PARAM
    );
    assert_eq!(boundary("test", || Ok(())), API_OK);
}

#[test]
fn outcomes_are_codes_with_messages_and_failures_hand_over_none() {
    use crate::config::Codes;
    use crate::srv_msgs::{Destination, SrvMsg};

    // Not initialised here: the default numbers.
    let codes = Codes::default();
    let mut garbage = [0u8; 32];
    let (mut sm, mut sn) = (garbage.as_mut_ptr().cast::<ClSrvMsg>(), 77);
    let declined = || {
        Ok(EntryResult {
            reply: Reply::Declined,
            messages: SrvMsg::new(Destination::Sender, "no").into_iter().collect(),
        })
    };
    // SAFETY: both out-pointers point to live locals.
    let code = unsafe { boundary_outcome("t", &mut sm, &mut sn, |_| declined()) };
    assert_eq!((code, sn), (codes.session_creation_declined, 1));
    srv_msgs::clean(sm, sn).unwrap_or_else(|e| panic!("{e}"));

    let (mut sm, mut sn) = (garbage.as_mut_ptr().cast::<ClSrvMsg>(), 77);
    // SAFETY: as above.
    let code =
        unsafe { boundary_outcome("t", &mut sm, &mut sn, |_| Err(SpiError::Null { what: "x" })) };
    assert_eq!((code, sm.is_null(), sn), (API_INVALID_PARAM, true, 0));
    // SAFETY: as above.
    let code = unsafe { boundary_outcome("t", &mut sm, &mut sn, |_| panic!("boom")) };
    assert_eq!((code, sm.is_null(), sn), (API_INTERNAL_ERROR, true, 0));

    // NULL out-pointers: told so, nothing handed over, the code still says it.
    let none = std::ptr::null_mut();
    // SAFETY: NULL out-pointers.
    let code = unsafe {
        boundary_outcome("t", none, std::ptr::null_mut(), |replies| {
            assert!(!replies);
            Ok(EntryResult {
                reply: Reply::MsgChanged,
                messages: Vec::new(),
            })
        })
    };
    assert_eq!(code, codes.msg_changed);
}
