//! Process groups: every command phoenix runs leads a group of its own, registered
//! while it runs, so that a timeout or [`abort`] kills everything it started.
//!
//! A phoenix killed outright (`kill -9`, the OOM killer) kills nothing: its
//! commands run on in their groups, an `lxc-copy` still writing the snapshot the
//! next build is about to destroy and take again. So a run that holds the state
//! directory's lock writes each group it starts in a ledger there ([`take_over`]),
//! and the next run, once it holds the lock, first kills the groups a dead run
//! left (the state lock is free only when no run holds it). A group is known by
//! its leader's pid and start time, so a pid used again by another process is
//! never killed.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
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

/// Where the groups this run starts are written down ([`take_over`]).
static LEDGER: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Kill what the commands of an earlier run, which died without killing them,
/// still run (the groups the ledger at `path` lists whose leader still runs),
/// wait for them to go, and write this run's groups in the ledger from now on.
/// Call it holding the state directory's lock, before any command runs. What
/// was killed is returned, as "`<pid>` (`<command>`)", for a warning.
pub fn take_over(path: &Path) -> Vec<String> {
    let mut killed = Vec::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let Some((pgid, start)) = line
            .split_once(' ')
            .and_then(|(p, s)| Some((p.parse::<u32>().ok()?, s.parse::<u64>().ok()?)))
        else {
            continue;
        };
        if start_time(pgid) == Some(start) {
            let what = std::fs::read_to_string(format!("/proc/{pgid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            kill_group(pgid);
            killed.push(format!("{pgid} ({})", what.trim()));
            wait_gone(pgid, start);
        }
    }
    let file = std::fs::File::create(path).ok();
    *LEDGER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = file;
    killed
}

/// The state letter (`R`, `S`, `Z`...) and start time (field 22, in clock ticks
/// since boot) of process `pid`, from one read of `/proc/<pid>/stat`, if it exists.
fn stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, field 2, is in parentheses and may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    // `rest` starts at field 3, the state; field 22 is the 20th from there.
    let state = rest.chars().next()?;
    Some((state, rest.split(' ').nth(19)?.parse().ok()?))
}

/// The start time of process `pid`, if it runs ([`stat`]).
fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// Wait, a few seconds at most, for the process `pid` started at `start` to be
/// gone (its new parent reaps it once killed: a zombie counts as gone).
fn wait_gone(pid: u32, start: u64) {
    for _ in 0..500 {
        match stat(pid) {
            Some((state, since)) if since == start && state != 'Z' => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => return,
        }
    }
}

/// Write the group `pgid` in this run's ledger, if it keeps one.
fn write_down(pgid: u32) {
    let mut ledger = LEDGER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let (Some(file), Some(start)) = (ledger.as_mut(), start_time(pgid)) {
        // Not synced: the ledger is for a run that dies, not a machine that does,
        // which takes the commands with it.
        let _ = writeln!(file, "{pgid} {start}");
    }
}

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
        write_down(group.0);
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
