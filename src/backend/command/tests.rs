//! Running commands: no shell, timeouts that kill the whole group, output held
//! open by leftovers, quoting, polling; and helpers other tests use to find
//! processes a command left.

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
    let none: Option<()> = poll_until(Duration::from_millis(20), Duration::from_millis(5), || {
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
        OpError::from_output("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")
            .retryable
    );
    assert!(!OpError::from_output("no such file").retryable);
}

/// liblxc failing to re-execute `lxc-attach` (lxc `rexec.c`) ran nothing in the
/// container: the step is retried. The same words from a running script, or from
/// a tool that is not `lxc-attach`, are not.
#[test]
fn lxc_attach_dying_before_the_command_is_retryable() {
    let dir = tempfile::tempdir().unwrap();
    // A tool of that name, in a directory of its own, that runs `body`.
    let fake = |dir_name: &str, name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.path().join(dir_name);
        std::fs::create_dir_all(&bin).unwrap();
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    };
    let rexec = "echo 'Device or resource busy - Failed to rexec as memfd' >&2; \
                 echo 'munmap_chunk(): invalid pointer' >&2; exit 255";
    let run = |argv: Vec<String>| {
        let mut log = Log::open(&dir.path().join("log"));
        run_logged(&argv, Duration::from_secs(10), &mut log).unwrap_err()
    };
    let attach = fake("a", "lxc-attach", rexec);
    let err = run(argv([
        attach.as_str(),
        "-n",
        "phx-920",
        "--",
        "/bin/sh",
        "x.sh",
    ]));
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("before running the command"), "{err}");
    // `pct exec` runs `lxc-attach`, whose words come first as well.
    let pct = fake("a", "pct", rexec);
    assert!(run(argv([pct.as_str(), "exec", "920", "--", "x.sh"])).retryable);
    assert!(!run(argv([pct.as_str(), "set", "920"])).retryable);
    // The script ran and printed them after something of its own.
    let late = fake(
        "b",
        "lxc-attach",
        "echo 'installing'; echo 'Failed to rexec as memfd' >&2; exit 1",
    );
    assert!(!run(argv([late.as_str(), "-n", "phx-920"])).retryable);
    // Another tool saying so is that tool's failure.
    let other = fake("a", "ssh", rexec);
    assert!(!run(argv([other.as_str(), "root@node", "x.sh"])).retryable);
    // A backend tool's own output (`check`), mkdir or the push of a script.
    assert!(
        OpError::from_output(
            "`lxc-attach` exited with 255: Device or resource busy - Failed to rexec as memfd"
        )
        .retryable
    );
}
