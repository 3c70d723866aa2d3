//! The embedded DNS responder (hickory-server): answers the AIM/ICQ login names with the
//! gateway's address per policy view and forwards every other name unchanged.
//!
//! Filled in by step 4 (issue 5); empty until then.
#![forbid(unsafe_code)]
