//! One module a command, each owning its arguments and its `run`.

pub mod authorize;
pub mod connect;
pub mod connections;
pub mod enroll;
pub mod fleet;
pub mod mirror;
pub mod run;
pub mod webhooks;
