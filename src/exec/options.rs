//! How a build runs: parallelism, failure policy, timeouts, retries, pool sizes
//! and the build's Ctrl-C state.

use std::time::Duration;

use super::interrupt::Interrupt;

/// The executor's settings, from the `build` command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    pub fail_fast: bool,
    pub step_timeout: Duration,
    /// Attempts after the first for lock-type errors.
    pub retries: u32,
    pub backoff: Duration,
    /// Concurrent creations per storage.
    pub per_storage: usize,
    /// Built-in host steps may erase disks that hold data (`build --wipe-disks`).
    pub wipe_disks: bool,
    /// Ctrl-C: pressed by the caller's signal listener, read by the coordinator
    /// and the workers.
    pub interrupt: Interrupt,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jobs: 4,
            fail_fast: false,
            step_timeout: Duration::from_mins(30),
            retries: 4,
            backoff: Duration::from_millis(500),
            per_storage: 2,
            wipe_disks: false,
            interrupt: Interrupt::default(),
        }
    }
}

impl Options {
    /// How a failed step is tried again in this build, its Ctrl-C stopping the tries.
    pub fn retry(&self) -> super::retry::Retry<'_> {
        super::retry::Retry {
            retries: self.retries,
            backoff: self.backoff,
            interrupt: Some(&self.interrupt),
        }
    }
}
