//! Running commands: argv only (never through a shell), with a timeout, every
//! command line and its output written to the node's log.
//!
//! Every command runs in a process group of its own (`process_group(0)`), and a
//! timeout kills the whole group: a script's `sleep 1000`, in the foreground or in
//! the background, dies with the shell that started it (killing only the shell left
//! it running, and its open output kept phoenix waiting). The groups also keep the
//! terminal's Ctrl-C away from the commands: phoenix decides what a Ctrl-C does
//! (`exec::interrupt`), and [`abort`] is how it kills every command still running
//! and refuses to start new ones.
//!
//! A command's output is read until the command exits; whatever still holds it open
//! then (a daemon the command started, which inherited it) gets [`STRAGGLER_GRACE`],
//! then phoenix stops waiting for it. Nothing is killed after a command that
//! finished: a daemon a script started on purpose keeps running.
//!
//! Rooms: this file (running a command and reading its output), `group` (process
//! groups and [`abort`]) and `text` (quoting and argv).

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Log, OpError, OpResult};

mod group;
mod text;

use group::{Group, When, interrupted};
pub use group::{abort, aborted, take_over};
pub use text::{argv, last_lines, sh_quote, shown};

/// How long the output of a command that exited is still read, for the processes
/// it left behind that hold it open.
pub const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// Call `attempt` until it yields a value, every `interval`, for `timeout`: `Ok(None)`
/// once that time has passed without one. An error from `attempt` ends the wait at
/// once, and so does [`abort`]. `attempt` always runs at least once, and the
/// deadline is checked after each attempt, so a slow attempt is never cut short.
pub fn poll_until<T>(
    timeout: Duration,
    interval: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>, OpError>,
) -> Result<Option<T>, OpError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt()? {
            return Ok(Some(value));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        if aborted() {
            return Err(OpError::new("stopped waiting: phoenix was interrupted"));
        }
        std::thread::sleep(interval);
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Ran {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `argv` with optional stdin, killing it (its whole process group) after
/// `timeout`. Output is logged, a timed-out command's too.
pub fn run(
    argv: &[String],
    stdin: Option<&[u8]>,
    timeout: Duration,
    log: &mut Log,
) -> Result<Ran, OpError> {
    run_when(argv, stdin, timeout, log, When::NotAborted)
}

/// [`run`], even after [`abort`]: for the clean-up of what an aborted command
/// left running elsewhere (the job it started inside a VM).
pub fn run_after_abort(
    argv: &[String],
    stdin: Option<&[u8]>,
    timeout: Duration,
    log: &mut Log,
) -> Result<Ran, OpError> {
    run_when(argv, stdin, timeout, log, When::Always)
}

fn run_when(
    argv: &[String],
    stdin: Option<&[u8]>,
    timeout: Duration,
    log: &mut Log,
    when: When,
) -> Result<Ran, OpError> {
    let line: Vec<String> = argv.iter().map(|a| shown(a)).collect();
    log.raw(format!("$ {}\n", line.join(" ")).as_bytes());
    let Some((prog, args)) = argv.split_first() else {
        return Err(OpError::new("empty command"));
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut child, group) = Group::spawn(&mut cmd, when, &line.join(" "))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let (tx, rx) = mpsc::channel();
    if let Some(p) = child.stdout.take() {
        read_into(p, Stream::Out, tx.clone());
    }
    if let Some(p) = child.stderr.take() {
        read_into(p, Stream::Err, tx);
    }
    let started = Instant::now();
    let status = wait(&mut child, &group, started, timeout, &line, log);
    drop(group);
    let (stdout, stderr, still_open) = collect(&rx, STRAGGLER_GRACE);
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    log.raw(stdout.as_bytes());
    log.raw(stderr.as_bytes());
    if still_open {
        log.note(
            "its output is still held open by a process it left running; not waiting for that",
        );
    }
    let status = status?;
    let code = status.code().unwrap_or(-1);
    log.note(&format!(
        "exit {code} after {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    if status.code().is_none() && when == When::NotAborted && aborted() {
        return Err(interrupted(&line.join(" ")));
    }
    Ok(Ran {
        status: code,
        stdout,
        stderr,
    })
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Out,
    Err,
}

/// Read `pipe` on a thread of its own, sending what comes. Once nobody listens,
/// the rest is read and dropped, so that a process still writing to it is not
/// blocked (nor killed by a closed pipe).
fn read_into(
    mut pipe: impl Read + Send + 'static,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        let mut listening = true;
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    listening = listening && tx.send((stream, buf[..n].to_vec())).is_ok();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    });
}

/// What the readers got: everything up to the end of both pipes, or up to `grace`
/// from now (then the last flag is true: something still holds a pipe open).
fn collect(rx: &mpsc::Receiver<(Stream, Vec<u8>)>, grace: Duration) -> (Vec<u8>, Vec<u8>, bool) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + grace;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((Stream::Out, chunk)) => out.extend_from_slice(&chunk),
            Ok((Stream::Err, chunk)) => err.extend_from_slice(&chunk),
            Err(mpsc::RecvTimeoutError::Disconnected) => return (out, err, false),
            Err(mpsc::RecvTimeoutError::Timeout) => return (out, err, true),
        }
    }
}

/// Wait for `child`, killing its process group once `timeout` has passed since
/// `started`.
fn wait(
    child: &mut Child,
    group: &Group,
    started: Instant,
    timeout: Duration,
    line: &[String],
    log: &mut Log,
) -> Result<ExitStatus, OpError> {
    let mut poll = Duration::from_micros(100);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok(s),
            Ok(None) if started.elapsed() >= timeout => {
                // The group: the command and everything it started that stayed in it.
                group.kill();
                let _ = child.kill();
                let _ = child.wait();
                log.note(&format!(
                    "timed out after {}s: killed with everything it started",
                    timeout.as_secs()
                ));
                return Err(OpError::new(format!(
                    "`{}` timed out after {}s",
                    line.join(" "),
                    timeout.as_secs()
                )));
            }
            Ok(None) => {
                // Short commands are noticed at once; a waiting step costs a wake-up every 2 ms.
                std::thread::sleep(poll);
                poll = (poll * 2).min(Duration::from_millis(2));
            }
            Err(e) => {
                return Err(OpError::new(format!(
                    "waiting for `{}`: {e}",
                    line.first().map_or("", String::as_str)
                )));
            }
        }
    }
}

/// Run a script whose output only matters to people: stdout and stderr go straight
/// into the node's log (no pipes, no reader threads), and a failure quotes the last
/// lines the command wrote there. The failure is the script's: never retried, even
/// when the script printed something that reads like a lock ("database is locked").
pub fn run_logged(argv: &[String], timeout: Duration, log: &mut Log) -> OpResult {
    let line: Vec<String> = argv.iter().map(|a| shown(a)).collect();
    log.raw(format!("$ {}\n", line.join(" ")).as_bytes());
    let Some((prog, args)) = argv.split_first() else {
        return Err(OpError::new("empty command"));
    };
    let start_len = log.len();
    let (out, err) = match log.file.as_ref().map(|f| (f.try_clone(), f.try_clone())) {
        Some((Ok(a), Ok(b))) => (Stdio::from(a), Stdio::from(b)),
        _ => (Stdio::null(), Stdio::null()),
    };
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    let (mut child, group) = Group::spawn(&mut cmd, When::NotAborted, &line.join(" "))?;
    let started = Instant::now();
    let status = wait(&mut child, &group, started, timeout, &line, log)?;
    drop(group);
    let code = status.code().unwrap_or(-1);
    log.note(&format!(
        "exit {code} after {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    if code == 0 {
        return Ok(());
    }
    if status.code().is_none() && aborted() {
        return Err(interrupted(&line.join(" ")));
    }
    let written = log.tail_since(start_len);
    let tail = last_lines(written.lines().filter(|l| !l.starts_with("# exit ")));
    let message = format!("`{prog}` exited with {code}: {tail}");
    if attach_started_nothing(argv, &written) {
        return Err(OpError {
            message: format!("{message} (lxc-attach failed before running the command)"),
            retryable: true,
        });
    }
    Err(OpError::script(message))
}

/// Whether `argv` runs a command in a container through `lxc-attach` (itself, or
/// `pct exec`, which runs it), and the output it `written` begins with liblxc
/// failing to start (`super::started_nothing`). Only the first line
/// counts: the tool fails before the command starts, so nothing the command
/// printed can come first. A script that prints those words later is the
/// script's failure, never retried.
fn attach_started_nothing(argv: &[String], written: &str) -> bool {
    let tool = |a: &String| a.rsplit('/').next().unwrap_or(a).to_string();
    let attach = match argv.first().map(tool).as_deref() {
        Some("lxc-attach") => true,
        Some("pct") => argv.get(1).is_some_and(|a| a == "exec"),
        _ => false,
    };
    let first = written.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    attach && super::started_nothing(first)
}

/// Run and require success; a failure carries the last lines of stderr.
pub fn check(argv: &[String], stdin: Option<&[u8]>, timeout: Duration, log: &mut Log) -> OpResult {
    let ran = run(argv, stdin, timeout, log)?;
    if ran.status == 0 {
        Ok(())
    } else {
        Err(failure(argv, &ran))
    }
}

/// A backend tool's failure (`pct`, `qm`, `pvesh`, `lxc-*`), classified by its
/// output: a lock it reports is retried.
pub fn failure(argv: &[String], ran: &Ran) -> OpError {
    OpError::from_output(failure_message(argv, ran))
}

/// A script's failure, never retried: what it printed is the script's, not a lock
/// of the backend's.
pub fn script_failure(argv: &[String], ran: &Ran) -> OpError {
    OpError::script(failure_message(argv, ran))
}

fn failure_message(argv: &[String], ran: &Ran) -> String {
    let tail = last_lines(ran.stderr.lines().chain(ran.stdout.lines()));
    let prog = argv.first().map_or("", String::as_str);
    format!("`{prog}` exited with {}: {tail}", ran.status)
}

#[cfg(test)]
pub(crate) mod tests;
