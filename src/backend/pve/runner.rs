//! Where pve commands run: on the Proxmox host itself, or on another machine over
//! ssh (`--host root@pve`, `root@pve:2222`, `ssh://root@pve:2222`). Arguments always
//! travel as argv. Over ssh the remote side runs them through a shell, so each
//! argument is single-quoted there: a value like `; rm -rf /` or one with quotes or
//! newlines arrives as one argument, as data.
//!
//! The ssh client is the system's `ssh` in batch mode (it never prompts). A port in
//! `--host` becomes `-p PORT`; an ssh config file, when the caller names one (the CLI
//! takes it from `PHOENIX_SSH_CONFIG`), is passed as `-F PATH` (identity, known
//! hosts, jump hosts: whatever ssh reads from there). Nothing here reads the
//! environment: the target comes parsed, the config file as a value.
//!
//! A dry run's runner runs nothing: it records each command and answers from a
//! model of the host (see `recording`).
//!
//! A timeout kills the local command's process group (`command::run`), but over
//! ssh that leaves the remote command running: killing `ssh` does not end what it
//! started. So a script, which may run for long, runs under `timeout` on the remote
//! side too ([`Runner::check_script`], [`under_timeout`]), and phoenix waits
//! [`REMOTE_GRACE`] longer than that, to see it end there.

use std::time::Duration;

use super::cmd::Cmd;
use super::recording::Recorder;
use crate::backend::api::{ApiRunner, Cluster};
use crate::backend::command::{self, Ran, sh_quote};
use crate::backend::{Log, OpError};

/// The environment variable the CLI reads the ssh config file (`ssh -F`) from.
pub const SSH_CONFIG_ENV: &str = "PHOENIX_SSH_CONFIG";

/// Seconds between the TERM that `timeout` sends a command at its deadline and the
/// KILL it sends after, when the command is still there (`timeout -k`).
pub const KILL_AFTER_SECS: u64 = 10;

/// How much longer phoenix waits for a command than the `timeout` that ends it on
/// the other side: that one goes first, and phoenix sees what it did.
pub const REMOTE_GRACE: Duration = Duration::from_secs(30);

/// How an error from a host (or cluster node) ssh cannot reach begins: waiting
/// for a guest to come up stops there, the host is gone, not slow.
pub const UNREACHABLE: &str = "cannot reach the node";

/// The exit status of `timeout` when it ended the command at its deadline.
pub const TIMED_OUT: i32 = 124;

/// `timeout -k 10 SECS argv...`: `argv` ended where it runs, TERM at `timeout`
/// (at least a second: `timeout 0` would mean none), KILL 10 s later; `timeout`
/// then exits with [`TIMED_OUT`]. GNU `timeout` signals the command's whole process
/// group. Short options only, which GNU coreutils, toybox and busybox (1.35 and
/// later) all take.
pub fn under_timeout(argv: &[String], timeout: Duration) -> Vec<String> {
    let mut wrapped: Vec<String> = vec![
        "timeout".into(),
        "-k".into(),
        KILL_AFTER_SECS.to_string(),
        timeout.as_secs().max(1).to_string(),
    ];
    wrapped.extend(argv.iter().cloned());
    wrapped
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    Local,
    /// Over ssh to `target`, with `config` as the ssh config file (`-F`) when set.
    Ssh {
        target: SshTarget,
        config: Option<String>,
    },
    /// Nowhere: each command is recorded and answered from a simulated host
    /// (`build --dry-run --backend pve`).
    Recording(Recorder),
    /// A cluster through its REST API: each command becomes the API call it
    /// stands for, or runs over ssh on the node it concerns (`backend::api`).
    Api(ApiRunner),
}

/// An ssh destination from `--host`: what ssh takes as destination, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// `user@host` or `host`.
    pub destination: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// Parse `user@host`, `user@host:PORT` or `ssh://user@host[:PORT]` (the user is
    /// optional). An IPv6 address takes brackets when a port follows
    /// (`root@[fd00::1]:2222`); without brackets, a host with several colons is an
    /// IPv6 address and has no port.
    ///
    /// Bad input is an error, never guessed at: a port that is not a number from 1 to
    /// 65535 (`root@pve:notaport`), an empty user or host, a user or host that
    /// starts with `-` (ssh would read it as an option), a path after an `ssh://`
    /// host.
    pub fn parse(text: &str) -> Result<SshTarget, String> {
        let bad = |why: &str| {
            Err(format!(
                "`{text}` is not an ssh destination: {why}; use user@host, user@host:PORT or ssh://user@host:PORT"
            ))
        };
        let rest = match text.strip_prefix("ssh://") {
            Some(uri) => {
                let uri = uri.strip_suffix('/').unwrap_or(uri);
                if uri.contains('/') {
                    return bad("a path after the host");
                }
                uri
            }
            None => text,
        };
        let (user, hostport) = match rest.rsplit_once('@') {
            Some(("", _)) => return bad("the user is empty"),
            Some((user, _)) if user.starts_with('-') => return bad("the user starts with `-`"),
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, rest),
        };
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            match inner.split_once(']') {
                Some((addr, "")) => (addr, None),
                Some((addr, tail)) => match tail.strip_prefix(':') {
                    Some(port) => (addr, Some(port)),
                    None => return bad("unexpected text after `]`"),
                },
                None => return bad("no `]` after `[`"),
            }
        } else {
            match hostport.split_once(':') {
                Some((host, port)) if !port.contains(':') => (host, Some(port)),
                _ => (hostport, None),
            }
        };
        if host.is_empty() {
            return bad("the host is empty");
        }
        if host.starts_with('-') {
            return bad("the host starts with `-`");
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                _ => return bad(&format!("the port `{p}` is not a number from 1 to 65535")),
            },
        };
        Ok(SshTarget {
            destination: user.map_or_else(|| host.to_string(), |u| format!("{u}@{host}")),
            port,
        })
    }

    /// The local argv that runs `cmd` on this target: the command line goes to the
    /// remote shell as one argument, every word of it quoted. An argument no shell
    /// can carry (a NUL byte) is an error, and nothing runs.
    pub fn argv(&self, config: Option<&str>, cmd: &Cmd) -> Result<Vec<String>, OpError> {
        let mut argv: Vec<String> = vec!["ssh".into()];
        if let Some(config) = config {
            argv.extend(["-F".into(), config.to_string()]);
        }
        argv.extend(["-o".into(), "BatchMode=yes".into()]);
        if let Some(port) = self.port {
            argv.extend(["-p".into(), port.to_string()]);
        }
        let remote = cmd
            .argv
            .iter()
            .map(|a| sh_quote(a).map(std::borrow::Cow::into_owned))
            .collect::<Result<Vec<String>, OpError>>()?;
        argv.extend([self.destination.clone(), "--".into(), remote.join(" ")]);
        Ok(argv)
    }
}

impl Runner {
    /// The argv to execute locally for `cmd`, or why there is none (see
    /// [`SshTarget::argv`]).
    pub fn argv(&self, cmd: &Cmd) -> Result<Vec<String>, OpError> {
        match self {
            Runner::Local | Runner::Recording(_) | Runner::Api(_) => Ok(cmd.argv.clone()),
            Runner::Ssh { target, config } => target.argv(config.as_deref(), cmd),
        }
    }

    pub fn run(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<Ran, OpError> {
        match self {
            Runner::Recording(rec) => return Ok(rec.run(cmd, stdin, log)),
            Runner::Api(api) => return api.0.run(cmd, stdin, timeout, log, false),
            Runner::Local | Runner::Ssh { .. } => {}
        }
        command::run(&self.argv(cmd)?, stdin, timeout, log)
    }

    /// [`Runner::run`], even after `command::abort`: the clean-up of what an aborted
    /// command left running (a job inside a VM).
    pub fn run_after_abort(
        &self,
        cmd: &Cmd,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<Ran, OpError> {
        match self {
            Runner::Recording(rec) => return Ok(rec.run(cmd, None, log)),
            Runner::Api(api) => return api.0.run(cmd, None, timeout, log, true),
            Runner::Local | Runner::Ssh { .. } => {}
        }
        command::run_after_abort(&self.argv(cmd)?, None, timeout, log)
    }

    /// Run a script's command (a host step's script, `pct exec` of a feature) and
    /// require exit status 0. A failure is the script's: never retried as a lock,
    /// whatever the script printed. Over ssh the host runs it under `timeout`
    /// (`timeout`), and phoenix gives up [`REMOTE_GRACE`] later; locally, phoenix
    /// kills it at `timeout`, with everything it started.
    pub fn check_script(
        &self,
        cmd: &Cmd,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<Ran, OpError> {
        let prog = cmd.argv.first().cloned().unwrap_or_default();
        let (cmd, deadline) = match self {
            Runner::Api(_) if !Cluster::is_shell(cmd) => (cmd.clone(), timeout),
            Runner::Ssh { .. } | Runner::Api(_) => (
                Cmd {
                    argv: under_timeout(&cmd.argv, timeout),
                },
                timeout + REMOTE_GRACE,
            ),
            Runner::Local | Runner::Recording(_) => (cmd.clone(), timeout),
        };
        let argv = self.argv(&cmd)?;
        let ran = self.run(&cmd, None, deadline, log)?;
        match ran.status {
            0 => Ok(ran),
            TIMED_OUT => Err(OpError::script(format!(
                "`{prog}` timed out: `timeout` ended it at the step timeout (exit {TIMED_OUT}): {}",
                command::last_lines(ran.stderr.lines().chain(ran.stdout.lines()))
            ))),
            _ => Err(command::script_failure(&argv, &ran)),
        }
    }

    /// Run and require exit status 0.
    pub fn check(&self, cmd: &Cmd, timeout: Duration, log: &mut Log) -> Result<Ran, OpError> {
        let argv = self.argv(cmd)?;
        let ran = self.run(cmd, None, timeout, log)?;
        if ran.status == 0 {
            Ok(ran)
        } else if self.unreachable(cmd, &ran) {
            Err(OpError::new(format!(
                "{UNREACHABLE} over ssh: {}",
                ran.stderr.trim()
            )))
        } else {
            Err(command::failure(&argv, &ran))
        }
    }

    /// Whether `ran` is ssh failing to reach the host (exit 255 and ssh's own
    /// `ssh: ...` message, OpenSSH's for a connection that could not be made), or
    /// the API failing to reach the node, not the command failing there.
    fn unreachable(&self, cmd: &Cmd, ran: &Ran) -> bool {
        let over_ssh = match self {
            // An API call to a node the cluster cannot reach: pveproxy's 595/596
            // (after the client's own retries).
            Runner::Api(_) if !Cluster::is_shell(cmd) => {
                return ran.stderr.contains("HTTP 595:") || ran.stderr.contains("HTTP 596:");
            }
            Runner::Ssh { .. } | Runner::Api(_) => true,
            Runner::Local | Runner::Recording(_) => false,
        };
        over_ssh && ran.status == 255 && ran.stderr.trim_start().starts_with("ssh:")
    }

    /// Put `bytes` at `path` on the host, atomically (a temp file for `pct push`, a
    /// config file).
    pub fn upload(&self, path: &str, bytes: &[u8], log: &mut Log) -> Result<(), OpError> {
        let cmd = Cmd::new([
            "sh",
            "-c",
            // Written beside the target, then renamed over it: a reader never sees
            // half a file, and an interrupted upload leaves the old one intact.
            "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1.phoenix-new\" && mv -f \"$1.phoenix-new\" \"$1\"",
            "sh",
            path,
        ]);
        let argv = self.argv(&cmd)?;
        let ran = self.run(&cmd, Some(bytes), Duration::from_secs(120), log)?;
        if ran.status == 0 {
            Ok(())
        } else {
            Err(command::failure(&argv, &ran))
        }
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
