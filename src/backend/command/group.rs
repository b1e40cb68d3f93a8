//! Process groups: every command phoenix runs leads a group of its own, registered
//! while it runs, so that a timeout or [`abort`] kills everything it started.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Mutex;

use crate::backend::OpError;

/// The process groups of the commands running now, and whether [`abort`] was called.
struct Running {
    groups: BTreeSet<u32>,
    aborted: bool,
}

static RUNNING: Mutex<Running> = Mutex::new(Running {
    groups: BTreeSet::new(),
    aborted: false,
});

fn running() -> std::sync::MutexGuard<'static, Running> {
    RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SIGKILL to every process of the group `pgid`. The group of a command phoenix
/// started has the command's pid as its id (never 0 or 1: those would mean "this
/// group" and "every process").
fn kill_group(pgid: u32) {
    if let Some(pid) = i32::try_from(pgid)
        .ok()
        .filter(|p| *p > 1)
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Kill every command phoenix is running, with everything each started, and
/// refuse to start any other (but [`super::run_after_abort`]'s clean-ups) from now on.
/// The second Ctrl-C of a build, and any Ctrl-C of the other commands.
pub fn abort() {
    let mut r = running();
    r.aborted = true;
    for g in &r.groups {
        kill_group(*g);
    }
}

/// Whether [`abort`] was called: a poll loop stops waiting then.
pub fn aborted() -> bool {
    running().aborted
}

/// The error of a command that [`abort`] killed or refused.
pub(super) fn interrupted(line: &str) -> OpError {
    OpError::new(format!("`{line}` was stopped: phoenix was interrupted"))
}

/// Whether a command may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// Not once [`abort`] was called.
    NotAborted,
    /// Even then: a clean-up of what an aborted command left behind.
    Always,
}

/// A spawned command's process group, registered while the command runs (so that
/// [`abort`] reaches it) and killed with everything in it on [`Group::kill`].
pub(super) struct Group(u32);

impl Group {
    /// Spawn `cmd` as the leader of a new process group. A command spawned while
    /// [`abort`] ran is killed at once, as if it had been running then.
    pub(super) fn spawn(
        cmd: &mut Command,
        when: When,
        line: &str,
    ) -> Result<(Child, Group), OpError> {
        if when == When::NotAborted && aborted() {
            return Err(interrupted(line));
        }
        let prog = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .process_group(0)
            .spawn()
            .map_err(|e| OpError::new(format!("cannot run `{prog}`: {e}")))?;
        let group = Group(child.id());
        let mut r = running();
        r.groups.insert(group.0);
        if r.aborted && when == When::NotAborted {
            kill_group(group.0);
        }
        Ok((child, group))
    }

    pub(super) fn kill(&self) {
        kill_group(self.0);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        running().groups.remove(&self.0);
    }
}
