//! Admin socket (placeholder while the core compiles).
