//! Tests and benchmarks that cross crates (their support is `salesloft-testkit`'s).

/// The README's Rust snippets, compiled as doctests: the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
