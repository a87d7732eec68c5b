//! The normalized SalesLoft API v2 OpenAPI document.
//!
//! `swagger.json` is produced by `cargo xtask regen-spec` from SalesLoft's published document,
//! with every known error of that document fixed (see the steps in `xtask/src/normalize`).
//! It is never edited by hand.

pub mod schema;

/// The normalized OpenAPI 3.0 document, as JSON text.
pub const SPEC: &str = include_str!("../swagger.json");
