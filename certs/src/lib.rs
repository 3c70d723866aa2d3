//! The gateway CA and on-demand leaf certificates (rcgen), with rustls resolvers over them.
//! Knows nothing of OSCAR or the relay.
//!
//! Filled in by step 5 (issue 6); empty until then.
#![forbid(unsafe_code)]
