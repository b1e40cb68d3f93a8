//! Running commands: argv only (never through a shell), with a timeout, every
//! command line and its output written to the node's log.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Log, OpError, OpResult};

/// Quote one argument for a POSIX shell: the remote shell of ssh runs the command
/// line, and logs and the dry run show it the same way.
///
/// Words made only of letters, digits and `-_./:=,@%+` stay bare, as they always
/// have (the dry-run snapshots show them so). `shlex` would quote `=`, `,` and `%`
/// too, which matters only in a command's first word (an assignment) or inside a
/// brace expansion; neither happens here, where the first word is a program name
/// and every word stands alone. Every other word is quoted by `shlex`, which refuses
/// a NUL byte: no shell argument (no C string) can carry one, so that is an error
/// rather than a silently cut value.
pub fn sh_quote(arg: &str) -> Result<Cow<'_, str>, OpError> {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        return Ok(Cow::Borrowed(arg));
    }
    shlex::try_quote(arg).map_err(|e| {
        OpError::new(format!(
            "`{}` cannot be passed as a command argument: {e}",
            shown(&without_nul(arg))
        ))
    })
}

/// An argument as a person would type it, for logs and the dry run (never for
/// execution). A NUL byte, which [`sh_quote`] refuses, is shown as `\0`.
pub fn shown(arg: &str) -> String {
    match sh_quote(arg) {
        Ok(quoted) => quoted.into_owned(),
        Err(_) => {
            sh_quote(&arg.replace('\0', "\\0")).map_or_else(|_| String::new(), Cow::into_owned)
        }
    }
}

/// `arg` with each NUL byte written as `\0`, for showing it.
fn without_nul(arg: &str) -> String {
    arg.replace('\0', "\\0")
}

/// Call `attempt` until it yields a value, every `interval`, for `timeout`: `Ok(None)`
/// once that time has passed without one. An error from `attempt` ends the wait at
/// once. `attempt` always runs at least once, and the deadline is checked after
/// each attempt, so a slow attempt is never cut short.
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

/// Run `argv` with optional stdin, killing it after `timeout`. Output is logged.
pub fn run(
    argv: &[String],
    stdin: Option<&[u8]>,
    timeout: Duration,
    log: &mut Log,
) -> Result<Ran, OpError> {
    let line: Vec<String> = argv.iter().map(|a| shown(a)).collect();
    log.raw(format!("$ {}\n", line.join(" ")).as_bytes());
    let Some((prog, args)) = argv.split_first() else {
        return Err(OpError::new("empty command"));
    };
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| OpError::new(format!("cannot run `{prog}`: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = wait(&mut child, started, timeout, &line, log)?;
    let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    log.raw(stdout.as_bytes());
    log.raw(stderr.as_bytes());
    let code = status.code().unwrap_or(-1);
    log.note(&format!(
        "exit {code} after {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(Ran {
        status: code,
        stdout,
        stderr,
    })
}

/// Wait for `child`, killing it once `timeout` has passed since `started`.
fn wait(
    child: &mut std::process::Child,
    started: Instant,
    timeout: Duration,
    line: &[String],
    log: &mut Log,
) -> Result<std::process::ExitStatus, OpError> {
    let mut poll = Duration::from_micros(100);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok(s),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                log.note(&format!("timed out after {}s", timeout.as_secs()));
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
/// lines the command wrote there.
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
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| OpError::new(format!("cannot run `{prog}`: {e}")))?;
    let started = Instant::now();
    let status = wait(&mut child, started, timeout, &line, log)?;
    let code = status.code().unwrap_or(-1);
    log.note(&format!(
        "exit {code} after {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    if code == 0 {
        return Ok(());
    }
    let written = log.tail_since(start_len);
    let tail = last_lines(written.lines().filter(|l| !l.starts_with("# exit ")));
    Err(OpError::from_output(format!(
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

pub fn failure(argv: &[String], ran: &Ran) -> OpError {
    let tail = last_lines(ran.stderr.lines().chain(ran.stdout.lines()));
    let prog = argv.first().map_or("", String::as_str);
    OpError::from_output(format!("`{prog}` exited with {}: {tail}", ran.status))
}

/// The last three non-empty lines of a command's output, joined: what an error
/// message quotes so the reader sees why without opening the log.
pub fn last_lines<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

pub fn argv<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
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
