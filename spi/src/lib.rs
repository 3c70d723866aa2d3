//! The Sametime chat-logging SPI module: a C-ABI shared library the Sametime server loads,
//! which spools every chat durably and ships it to the gateway's archive.
//!
//! Filled in by step 7 (issue 8); empty until then.
