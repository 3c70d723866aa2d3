//! Which `imtegrity` binary the tests run: the one thing only the root package's tests know.

use std::path::Path;

/// Where cargo built the `imtegrity` binary under test.
///
/// Cargo tells only the root package's integration tests (`env!("CARGO_BIN_EXE_imtegrity")`
/// at compile time), not this crate, so each test file names it once,
/// `const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));`, and hands it to
/// every helper that starts the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary(&'static str);

impl Binary {
    /// The binary at `path`.
    pub const fn at(path: &'static str) -> Self {
        Self(path)
    }

    /// Its path.
    pub fn path(self) -> &'static Path {
        Path::new(self.0)
    }
}
