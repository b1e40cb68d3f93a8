//! Ctrl-C during a build.
//!
//! The first Ctrl-C stops the build from starting anything new: the coordinator
//! hands out no more nodes (they are reported as skipped), and a running node stops
//! before its next step, or before trying a failed step again (a wait for that try
//! ends at once: `Interrupt::nap`, [`super::retry`]), reported as interrupted. The
//! steps running at that moment finish, or meet their timeout; every finished step
//! is recorded, and the summary says "interrupted". The second Ctrl-C also kills
//! the running steps: the caller aborts every running command
//! (`backend::command::abort`, which kills their process groups), the workers
//! return at once, and the build ends the same way, its records written. A third one gives up on waiting (the caller exits at once).
//! `phoenix build` exits with 130 after an interrupt, as a shell does.
//!
//! The commands a build runs sit in process groups of their own, so the terminal's
//! Ctrl-C reaches phoenix only; what happens to them is decided here.
//!
//! An [`Interrupt`] is one build's: the signal listener (`app`) presses it, the
//! coordinator and the workers read it. Being a value rather than a global, builds
//! run side by side in tests do not see each other's.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::backend::OpError;
use crate::graph::NodeId;
use crate::step::Step;

/// One build's Ctrl-C state; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    presses: AtomicU8,
    /// Nodes a worker stopped between two steps, or before a new try of one.
    stopped: Mutex<HashSet<NodeId>>,
    /// Wakes the workers waiting to try a step again ([`Interrupt::nap`]), with
    /// `stopped`'s lock.
    pressed: Condvar,
}

/// What a press of Ctrl-C asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// The first: start nothing new, let the running steps finish.
    Stop,
    /// The second: kill the running steps too.
    Kill,
    /// Any later one: stop waiting altogether.
    Exit,
}

impl Interrupt {
    /// Ctrl-C was pressed once more.
    pub fn press(&self) -> Press {
        let before = self
            .inner
            .presses
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(1))
            })
            .unwrap_or(u8::MAX);
        // Under the lock a napping worker checks the presses with: it is either
        // not yet waiting, and sees this press, or waiting, and is woken.
        drop(self.lock_stopped());
        self.inner.pressed.notify_all();
        match before {
            0 => Press::Stop,
            1 => Press::Kill,
            _ => Press::Exit,
        }
    }

    /// How many times Ctrl-C was pressed.
    pub fn presses(&self) -> u8 {
        self.inner.presses.load(Ordering::SeqCst)
    }

    /// Whether the build was asked to stop.
    pub fn requested(&self) -> bool {
        self.presses() > 0
    }

    /// Whether the running steps are being killed.
    pub fn killing(&self) -> bool {
        self.presses() > 1
    }

    /// Called by a worker before each step of `node`: once the build was asked to
    /// stop, the error that ends the node here, before `step` starts.
    pub(super) fn stop_before(&self, node: NodeId, step: &Step) -> Option<OpError> {
        if !self.requested() {
            return None;
        }
        self.lock_stopped().insert(node);
        Some(OpError::new(format!(
            "interrupted before step `{step}`; the next build resumes there"
        )))
    }

    /// Wait `d`, or less if Ctrl-C is pressed: whether the build was asked to stop
    /// (at once, if it was already). What a worker waits before trying a step
    /// again: with the default backoff the tries of one step wait 7.5 s in all,
    /// and a Ctrl-C is answered at once all the same.
    pub(super) fn nap(&self, d: Duration) -> bool {
        // A wait too long for the clock to name its end is waited an hour at a time.
        let deadline = Instant::now().checked_add(d);
        let mut stopped = self.lock_stopped();
        loop {
            if self.requested() {
                return true;
            }
            let left = deadline.map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return false;
            }
            stopped = self
                .inner
                .pressed
                .wait_timeout(stopped, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// The error that ends `node` when Ctrl-C came while it waited to try `step`
    /// again, after `last`: the node was stopped, as between two steps.
    pub(super) fn stop_retrying(&self, node: NodeId, step: &str, last: &OpError) -> OpError {
        self.lock_stopped().insert(node);
        OpError::new(format!(
            "interrupted while waiting to try step `{step}` again (it failed: {}); the next build runs it",
            last.message
        ))
    }

    fn lock_stopped(&self) -> std::sync::MutexGuard<'_, HashSet<NodeId>> {
        self.inner
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a worker stopped `node` between two steps, or before a new try of one.
    pub(super) fn stopped(&self, node: NodeId) -> bool {
        self.lock_stopped().contains(&node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presses_stop_then_kill_then_exit() {
        let i = Interrupt::default();
        let seen_by_workers = i.clone();
        assert!(!i.requested());
        assert!(
            seen_by_workers
                .stop_before(NodeId::Ct(900), &Step::App)
                .is_none()
        );
        assert_eq!(i.press(), Press::Stop);
        assert!(seen_by_workers.requested() && !seen_by_workers.killing());
        let err = seen_by_workers
            .stop_before(NodeId::Ct(900), &Step::App)
            .unwrap();
        assert!(
            err.message.contains("interrupted before step `app`"),
            "{err}"
        );
        assert!(!err.retryable);
        assert!(i.stopped(NodeId::Ct(900)) && !i.stopped(NodeId::Ct(901)));
        assert_eq!(i.press(), Press::Kill);
        assert!(seen_by_workers.killing());
        for _ in 0..300 {
            assert_eq!(i.press(), Press::Exit);
        }
        assert!(
            Interrupt::default().presses() == 0,
            "builds do not share one"
        );
    }

    /// A wait before a new try ends at its time with no press, at once on a press
    /// made while it waits or before, and the node is then stopped.
    #[test]
    fn a_wait_to_try_again_ends_at_a_press() {
        let i = Interrupt::default();
        let started = Instant::now();
        assert!(!i.nap(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));

        let presser = i.clone();
        let press = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            presser.press()
        });
        let started = Instant::now();
        assert!(i.nap(Duration::from_secs(120)), "the press was not seen");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the wait went on after the press: {:?}",
            started.elapsed()
        );
        assert_eq!(press.join().unwrap(), Press::Stop);
        let started = Instant::now();
        assert!(i.nap(Duration::from_secs(120)));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pressed before: no wait"
        );

        let err = i.stop_retrying(
            NodeId::Ct(901),
            "define",
            &OpError::from_output("CT 901 is locked (create)"),
        );
        assert!(
            err.message
                .contains("interrupted while waiting to try step `define` again")
                && err.message.contains("CT 901 is locked (create)"),
            "{err}"
        );
        assert!(!err.retryable);
        assert!(i.stopped(NodeId::Ct(901)) && !i.stopped(NodeId::Ct(900)));
    }
}
