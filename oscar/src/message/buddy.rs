//! Buddy (family 0x0003) presence: who came online and who left (oscar.md §4.9).

use crate::message::user_info::user_list_body;
use crate::snac::Family;

user_list_body!(
    /// 0x0003/0x000B: buddies came online (or changed status).
    BuddyArrived,
    Family::BUDDY,
    0x000b
);

user_list_body!(
    /// 0x0003/0x000C: buddies went offline.
    BuddyDeparted,
    Family::BUDDY,
    0x000c
);
