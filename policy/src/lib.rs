//! The configuration model and rule evaluation: who is logged, what is blocked, which DNS view
//! a client is in. Pure: no I/O, no sockets, no clock reads.
//!
//! Filled in by steps 4 and 6 (issues 5 and 7); empty until then.
#![forbid(unsafe_code)]
