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
pub use group::{abort, aborted};
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
    Err(OpError::script(format!(
        "`{prog}` exited with {code}: {tail}"
    )))
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
pub(crate) mod tests {
    use super::*;

    #[test]
    fn arguments_are_never_interpreted_by_a_shell() {
        let mut log = Log::sink();
        let ran = run(
            &argv(["echo", "; rm -rf / $(x) 'q'"]),
            None,
            Duration::from_secs(5),
            &mut log,
        )
        .unwrap();
        assert_eq!(ran.stdout, "; rm -rf / $(x) 'q'\n");
    }

    #[test]
    fn timeouts_kill_the_command() {
        let mut log = Log::sink();
        let started = Instant::now();
        let err = run(
            &argv(["sleep", "5"]),
            None,
            Duration::from_millis(200),
            &mut log,
        )
        .unwrap_err();
        assert!(err.message.contains("timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    /// The pids of the live processes with `arg` among their arguments (a zombie
    /// has none).
    pub(crate) fn processes_with(arg: &str) -> Vec<u32> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
                cmdline
                    .split(|b| *b == 0)
                    .any(|a| a == arg.as_bytes())
                    .then_some(pid)
            })
            .collect()
    }

    /// Whether every process with `arg` is gone within 10 s; whatever is left is
    /// killed (by its pid) so that a failing test leaves nothing behind.
    pub(crate) fn gone(arg: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if processes_with(arg).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        kill_all(arg);
        false
    }

    /// Kills every process with its argument when dropped: a test that fails
    /// half-way leaves no `sleep 1000` behind.
    pub(crate) struct Reap(pub String);

    impl Drop for Reap {
        fn drop(&mut self) {
            kill_all(&self.0);
        }
    }

    /// Kill every process with `arg`, each by its pid.
    pub(crate) fn kill_all(arg: &str) {
        for pid in processes_with(arg) {
            if let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }

    /// GitHub issue 15: a timeout killed only the command, and a `sleep` it had
    /// started, in the background or not, kept running.
    #[test]
    fn a_timeout_kills_everything_the_command_started() {
        let (bg, fg) = (
            format!("1000.{}1", std::process::id()),
            format!("1000.{}2", std::process::id()),
        );
        let _reap = (Reap(bg.clone()), Reap(fg.clone()));
        let mut log = Log::sink();
        let err = run(
            &argv([
                "sh",
                "-c",
                &format!("sleep {bg} >/dev/null 2>&1 & sleep {fg} >/dev/null 2>&1; echo never"),
            ]),
            None,
            Duration::from_millis(300),
            &mut log,
        )
        .unwrap_err();
        assert!(err.message.contains("timed out"), "{err}");
        assert!(gone(&bg), "the background grandchild `sleep {bg}` survived");
        assert!(gone(&fg), "the foreground grandchild `sleep {fg}` survived");
    }

    /// A command that exits while something it started keeps its output open is
    /// done: phoenix stops reading after a grace instead of waiting for that
    /// process (which kept phoenix waiting as long as it ran).
    #[test]
    fn output_held_open_by_a_leftover_process_does_not_hold_up_the_command() {
        let tag = format!("1000.{}3", std::process::id());
        let _reap = Reap(tag.clone());
        let line = argv(["sh", "-c", &format!("sleep {tag} & echo done")]);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = Log::sink();
            let _ = tx.send(run(&line, None, Duration::from_secs(600), &mut log));
        });
        let ran = rx.recv_timeout(Duration::from_secs(60));
        let left = !processes_with(&tag).is_empty();
        kill_all(&tag);
        let ran = ran
            .expect("phoenix still waits for the output of a finished command")
            .unwrap();
        assert_eq!((ran.status, ran.stdout.as_str()), (0, "done\n"));
        assert!(
            left,
            "a finished command's leftover is not phoenix's to kill"
        );
    }

    /// GitHub issue 15: a script that prints a lock message is not the backend
    /// reporting a lock.
    #[test]
    fn a_scripts_lock_message_is_not_retryable() {
        let mut log = Log::sink();
        let err = run_logged(
            &argv(["sh", "-c", "echo 'database is locked' >&2; exit 1"]),
            Duration::from_secs(10),
            &mut log,
        )
        .unwrap_err();
        assert!(!err.retryable, "{err:?}");
        let ran = Ran {
            status: 1,
            stdout: String::new(),
            stderr: "CT 101 is locked (snapshot)\n".into(),
        };
        assert!(failure(&argv(["pct", "set"]), &ran).retryable);
        assert!(!script_failure(&argv(["pct", "exec"]), &ran).retryable);
    }

    #[test]
    fn quoting_keeps_plain_words_bare_and_refuses_nul() {
        assert_eq!(
            sh_quote("name=eth0,bridge=vmbr0").unwrap(),
            "name=eth0,bridge=vmbr0"
        );
        assert_eq!(sh_quote("").unwrap(), "''");
        assert_eq!(
            sh_quote("phoenix;phx-building").unwrap(),
            "'phoenix;phx-building'"
        );
        assert!(sh_quote("a\0b").is_err());
        assert_eq!(shown("a\0b"), "\"a\\\\0b\"");
    }

    #[test]
    fn polling_stops_at_the_first_value_or_the_deadline() {
        let mut calls = 0;
        let got = poll_until(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            Ok((calls == 3).then_some(calls))
        })
        .unwrap();
        assert_eq!(got, Some(3));
        let none: Option<()> =
            poll_until(Duration::from_millis(20), Duration::from_millis(5), || {
                Ok(None)
            })
            .unwrap();
        assert!(none.is_none());
        let err = poll_until::<()>(Duration::from_secs(5), Duration::from_millis(1), || {
            Err(OpError::new("boom"))
        })
        .unwrap_err();
        assert_eq!(err.message, "boom");
    }

    #[test]
    fn lock_errors_are_retryable() {
        assert!(OpError::from_output("CT 101 is locked (snapshot)").retryable);
        assert!(
            OpError::from_output(
                "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
            )
            .retryable
        );
        assert!(!OpError::from_output("no such file").retryable);
    }
}
