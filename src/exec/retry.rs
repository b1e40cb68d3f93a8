//! Trying an operation again while it fails before it did anything: a lock the
//! backend reports, a health check that did not start. One loop for a build's
//! steps (`worker`), its health checks ([`super::health`]) and `phoenix start`,
//! `stop` and `up` (`app::operate`).
//!
//! The waits double from the first; with the defaults (4 more tries, 0.5 s first)
//! they come to 7.5 s. A build's Ctrl-C ends a wait at once, and once pressed no
//! new try is made or announced ([`Tried::interrupted`]).

use std::time::Duration;

use super::Interrupt;
use crate::backend::{OpError, OpResult};

/// How often a failed try is followed by another, and after how long.
#[derive(Clone, Copy)]
pub struct Retry<'a> {
    /// New tries after the first.
    pub retries: u32,
    /// The wait before the first new try; each next one waits twice as long.
    pub backoff: Duration,
    /// A build's Ctrl-C. `None` where Ctrl-C ends phoenix at once (the waits are
    /// then plain sleeps).
    pub interrupt: Option<&'a Interrupt>,
}

/// How the tries ended.
pub struct Tried {
    /// The last try's result.
    pub result: OpResult,
    /// A try failed that would have been followed by another, but Ctrl-C was
    /// pressed: `result` is that failure.
    pub interrupted: bool,
}

impl Retry<'_> {
    /// `once` until it succeeds, fails for good (an error that is not
    /// retryable), or runs out of tries; `announce` is told of each new try (its
    /// number, from 1, and the failure before it) before the wait for it.
    pub fn run(
        &self,
        mut once: impl FnMut() -> OpResult,
        mut announce: impl FnMut(u32, &OpError),
    ) -> Tried {
        let pressed = || self.interrupt.is_some_and(Interrupt::requested);
        let mut attempt = 0;
        loop {
            match once() {
                Err(e) if e.retryable && attempt < self.retries => {
                    if pressed() {
                        return Tried::cut(e);
                    }
                    attempt += 1;
                    announce(attempt, &e);
                    let wait = self
                        .backoff
                        .saturating_mul(2u32.saturating_pow(attempt - 1));
                    match self.interrupt {
                        Some(interrupt) if interrupt.nap(wait) => return Tried::cut(e),
                        Some(_) => {}
                        None => std::thread::sleep(wait),
                    }
                }
                result => {
                    return Tried {
                        result,
                        interrupted: false,
                    };
                }
            }
        }
    }
}

impl Tried {
    fn cut(e: OpError) -> Tried {
        Tried {
            result: Err(e),
            interrupted: true,
        }
    }
}
