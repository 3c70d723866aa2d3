//! The `imtegrity` command line.
fn main() {}
