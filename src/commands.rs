//! The subcommands, one file each: each takes its parsed arguments (`crate::cli`), does
//! its work through the library crates and the binary's wiring, and prints through
//! `crate::output`. No command uses another; what two need is in the wiring.

pub(crate) mod ca;
pub(crate) mod check_config;
pub(crate) mod console;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod generate;
pub(crate) mod hold;
pub(crate) mod index;
pub(crate) mod lab;
pub(crate) mod policy;
pub(crate) mod retention;
pub(crate) mod run;
pub(crate) mod salvage;
pub(crate) mod sametime;
pub(crate) mod search;
pub(crate) mod sensor;
pub(crate) mod status;
pub(crate) mod verify;
