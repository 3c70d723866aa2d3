//! The OSCAR relay: client-facing listeners, per-session relaying to the real servers,
//! rewriting of every server address handed to the client, and capture events for the archive.
//!
//! Filled in by step 3 (issue 4); today this crate is an empty, documented member of the
//! workspace so that the dependency graph in ARCHITECTURE.md already holds.
#![forbid(unsafe_code)]
