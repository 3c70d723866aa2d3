//! The system of record: a sled-backed, hash-chained, searchable archive of captured events.
//!
//! Filled in by step 2 (issue 3); empty until then.
#![forbid(unsafe_code)]
