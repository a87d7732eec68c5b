//! Time as the transport sees it: what time it is and how to wait.
//!
//! Real programs use [`SystemClock`]. A simulation (the sync benchmark) plugs in a clock that
//! moves a sandbox's time forward instead of sleeping, so minutes of pacing take no time.

use crate::token::BoxFuture;
use chrono::{DateTime, Utc};
use std::fmt::Debug;
use std::time::Duration;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The system clock and tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
