//! The QEMU guest agent: short commands in a VM (`qm guest exec`, whose JSON reply
//! is read strictly: an unfinished command is not a success), files copied in, and
//! long commands run detached, their output and exit code written to files that are
//! polled. `qm guest exec` only waits a short while, and the shell tool read an
//! unfinished reply as success. Scripts run in VMs this way, and the start of a VM
//! waits here for its agent to answer.
//!
//! A detached job is ended inside the VM at its timeout: it runs under `timeout`
//! where the guest has one, which exits with 124 then. Should phoenix stop waiting
//! first (no `timeout` in the guest, a second Ctrl-C), it kills the job through the
//! agent ([`detached_kill`], from the pid the job wrote): nothing phoenix gave up on
//! keeps running in the guest.

use std::time::Duration;

use serde_json::Value;

use super::Pve;
use super::client::SHORT;
use super::cmd::Cmd;
use super::commands;
use super::runner::{KILL_AFTER_SECS, REMOTE_GRACE, TIMED_OUT};
use crate::backend::{GuestCtx, Log, OpError, OpResult, Script, command};

/// The output of a finished `qm guest exec`, or why it is not one: the JSON reply
/// says whether the process exited and with which code.
pub(super) fn agent_result(stdout: &str, status: i32) -> Result<String, String> {
    if status != 0 {
        return Err(format!("qm exited with {status}"));
    }
    let v: Value = serde_json::from_str(stdout)
        .map_err(|_| format!("unexpected reply `{}`", stdout.trim()))?;
    let out = v
        .get("out-data")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match (
        v.get("exited").and_then(Value::as_i64),
        v.get("exitcode").and_then(Value::as_i64),
    ) {
        (Some(1), Some(0)) => Ok(out),
        (Some(1), Some(c)) => Err(format!(
            "exit code {c}: {}",
            v.get("err-data")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
        )),
        _ => Err("the command had not finished".into()),
    }
}

/// The job: writes its pid to `$code.pid`, runs `"$@"` (under `timeout` where
/// the guest has one: GNU `timeout` ends the command's whole process group) with
/// its output to `$out`, and its exit code to `$code` (written beside it and
/// renamed, so a poll never reads half of it). The timeout is the one number in
/// the text; paths and the command come as arguments.
fn detached_job(timeout: Duration) -> String {
    format!(
        "out=$1; code=$2; shift 2; echo $$ > \"$code.pid\"; if command -v timeout > /dev/null 2>&1; then timeout -k {KILL_AFTER_SECS} {} \"$@\"; else \"$@\"; fi > \"$out\" 2>&1; echo $? > \"$code.tmp\" && mv \"$code.tmp\" \"$code\"",
        timeout.as_secs().max(1)
    )
}

/// Starts the job and returns at once: as a transient systemd unit where there is
/// systemd (the job then survives a restart of the guest agent, whose cgroup it
/// would otherwise share, e.g. when an apt upgrade restarts it), else in the
/// background, in a session of its own where `setsid` exists (so [`detached_kill`]
/// can end its process group). An old exit code and pid are removed first, so a
/// poll never sees them.
const DETACHED_START: &str = "job=$1; shift; mkdir -p \"$(dirname \"$2\")\"; rm -f \"$2\" \"$2.tmp\" \"$2.pid\"; systemd-run --collect --quiet -- /bin/sh -c \"$job\" sh \"$@\" > /dev/null 2>&1 || { if command -v setsid > /dev/null 2>&1; then setsid /bin/sh -c \"$job\" sh \"$@\"; else /bin/sh -c \"$job\" sh \"$@\"; fi > /dev/null 2>&1 & }";

/// Kills the job whose pid file is `$1`: the process groups of its children (the
/// `timeout`, which leads its own), its own group (it leads one under systemd or
/// `setsid`), then each of them by pid. Killing a group only ever reaches a group
/// the job or its child leads. `kill -s KILL -- -PGID` is the POSIX form, which
/// dash takes too (it refuses `kill -KILL -- -PGID`).
const DETACHED_KILL: &str = "pid=$(cat \"$1\" 2> /dev/null); [ -n \"$pid\" ] || exit 0; kids=$(pgrep -P \"$pid\" 2> /dev/null); for k in $kids; do kill -s KILL -- \"-$k\" 2> /dev/null; done; kill -s KILL -- \"-$pid\" 2> /dev/null; kill -s KILL \"$pid\" $kids 2> /dev/null; exit 0";

/// The argv that starts `argv` detached inside a guest, ended there after
/// `timeout`: paths and the command go as arguments, never into the script text.
pub fn detached_start(out: &str, code: &str, argv: &[String], timeout: Duration) -> Vec<String> {
    let mut start: Vec<String> = ["/bin/sh", "-c", DETACHED_START, "sh"]
        .map(String::from)
        .to_vec();
    start.extend([detached_job(timeout), out.to_string(), code.to_string()]);
    start.extend(argv.iter().cloned());
    start
}

/// The argv that kills the detached job whose exit code goes to `code`.
pub fn detached_kill(code: &str) -> Vec<String> {
    ["/bin/sh", "-c", DETACHED_KILL, "sh"]
        .map(String::from)
        .into_iter()
        .chain([format!("{code}.pid")])
        .collect()
}

impl Pve {
    pub(super) fn agent(g: &GuestCtx, argv: &[&str]) -> Cmd {
        let mut c = Cmd::new(["qm", "guest", "exec", &g.guest.id.to_string(), "--"]);
        c.argv.extend(argv.iter().map(|a| (*a).to_string()));
        c
    }

    /// Run a short command in the VM and return its output.
    pub(super) fn agent_run(
        &self,
        g: &GuestCtx,
        argv: &[&str],
        log: &mut Log,
    ) -> Result<String, OpError> {
        let ran = self.runner.run(&Self::agent(g, argv), None, SHORT, log)?;
        agent_result(&ran.stdout, ran.status)
            .map_err(|e| OpError::new(format!("`{}` in {}: {e}", argv.join(" "), g.node)))
    }

    /// Put `bytes` at `dest` inside the VM (written beside it, then renamed).
    pub(super) fn agent_put(
        &self,
        g: &GuestCtx,
        dest: &str,
        bytes: &[u8],
        log: &mut Log,
    ) -> OpResult {
        let mut put = Self::agent(
            g,
            &[
                "/bin/sh",
                "-c",
                "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1.phoenix-new\" && mv \"$1.phoenix-new\" \"$1\"",
                "sh",
                dest,
            ],
        );
        // `qm guest exec <id> --pass-stdin 1 -- ...`
        put.argv
            .splice(4..4, ["--pass-stdin".to_string(), "1".to_string()]);
        let ran = self.runner.run(&put, Some(bytes), SHORT, log)?;
        agent_result(&ran.stdout, ran.status)
            .map(|_| ())
            .map_err(|e| OpError::new(format!("copying {dest} into {}: {e}", g.node)))
    }

    /// Start `argv` detached inside the VM, its output and exit code going to
    /// `<stem>.log` and `<stem>.exit`, and poll until it exits. The job is ended
    /// inside the VM at `timeout`; phoenix waits [`REMOTE_GRACE`] longer, then (or
    /// at a second Ctrl-C) kills it there itself. Returns the exit code and the
    /// last lines of output (also written to the log).
    pub(super) fn agent_detached(
        &self,
        g: &GuestCtx,
        what: &str,
        argv: &[String],
        stem: &str,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<(i32, String), OpError> {
        let (out, code) = (format!("{stem}.log"), format!("{stem}.exit"));
        let start = detached_start(&out, &code, argv, timeout);
        let start: Vec<&str> = start.iter().map(String::as_str).collect();
        self.agent_run(g, &start, log)
            .map_err(|e| OpError::new(format!("starting {what}: {}", e.message)))?;
        let finished = command::poll_until(timeout + REMOTE_GRACE, Duration::from_secs(2), || {
            let poll = self
                .runner
                .run(&Self::agent(g, &["cat", &code]), None, SHORT, log)?;
            Ok(agent_result(&poll.stdout, poll.status)
                .ok()
                .and_then(|text| text.trim().parse::<i32>().ok()))
        });
        let status = match finished {
            Ok(Some(status)) => status,
            Ok(None) => {
                self.kill_detached(g, &code, log);
                return Err(OpError::new(format!(
                    "{what} did not finish in {}s inside {}; it was killed",
                    timeout.as_secs(),
                    g.node
                )));
            }
            Err(e) => {
                if command::aborted() {
                    self.kill_detached(g, &code, log);
                }
                return Err(e);
            }
        };
        let shown = self
            .agent_run(g, &["tail", "-n", "40", &out], log)
            .unwrap_or_default();
        log.raw(shown.as_bytes());
        if status == TIMED_OUT {
            return Err(OpError::new(format!(
                "{what} did not finish in {}s inside {}: `timeout` ended it there",
                timeout.as_secs(),
                g.node
            )));
        }
        Ok((status, command::last_lines(shown.lines())))
    }

    /// Kill the detached job whose exit code goes to `code`, even after a second
    /// Ctrl-C; a failure is logged, the step fails anyway.
    fn kill_detached(&self, g: &GuestCtx, code: &str, log: &mut Log) {
        let kill = detached_kill(code);
        let kill: Vec<&str> = kill.iter().map(String::as_str).collect();
        log.note(&format!("killing the job in {}", g.node));
        let killed =
            self.runner
                .run_after_abort(&Self::agent(g, &kill), Duration::from_secs(30), log);
        if let Err(e) = killed
            .map_err(|e| e.message)
            .and_then(|ran| agent_result(&ran.stdout, ran.status).map(|_| ()))
        {
            log.note(&format!("could not kill the job in {}: {e}", g.node));
        }
    }

    /// Run a script inside a VM through the guest agent, detached and polled: a long
    /// install can neither time out silently nor be reported as a success.
    pub(super) fn vm_exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        let base = script
            .path
            .file_name()
            .map_or("script".into(), |n| n.to_string_lossy().into_owned());
        let remote = format!("/phoenix/run/{base}");
        let body = std::fs::read(&script.path)
            .map_err(|e| OpError::new(format!("{}: {e}", script.path.display())))?;
        for (name, bytes) in &script.files {
            self.agent_put(g, &format!("/phoenix/{name}"), bytes, log)?;
        }
        self.agent_put(g, &remote, &body, log)?;
        let mut argv: Vec<String> = vec!["env".into()];
        argv.extend(script.env.iter().map(|(k, v)| format!("{k}={v}")));
        argv.extend(crate::backend::interpreter(&body));
        argv.push(remote.clone());
        argv.extend(script.args.iter().cloned());
        let (status, last) =
            self.agent_detached(g, &script.name, &argv, &remote, g.timeout, log)?;
        if status == 0 {
            Ok(())
        } else {
            Err(OpError::new(format!(
                "{} exited with {status} in {}: {last}",
                script.name, g.node
            )))
        }
    }

    /// Wait until the VM's guest agent answers.
    pub(super) fn wait_agent(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let ping = commands::agent_ping(g.guest);
        command::poll_until(Duration::from_secs(300), Duration::from_secs(2), || {
            match self.check(&ping, SHORT, log) {
                Ok(_) => Ok(Some(())),
                // The node is gone, not slow: no point in waiting for it.
                Err(e) if e.message.starts_with(super::runner::UNREACHABLE) => Err(e),
                Err(_) => Ok(None),
            }
        })?
        .ok_or_else(|| {
            OpError::new(format!(
                "the guest agent of {} does not answer after 300s; the image needs qemu-guest-agent",
                g.node
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn agent_replies_are_read_strictly() {
        assert_eq!(
            agent_result(r#"{"exited":1,"exitcode":0,"out-data":"hi"}"#, 0).unwrap(),
            "hi"
        );
        assert!(
            agent_result(r#"{"exited":1,"exitcode":3,"err-data":"boom"}"#, 0)
                .unwrap_err()
                .contains("exit code 3: boom")
        );
        assert!(
            agent_result(r#"{"exited":0}"#, 0)
                .unwrap_err()
                .contains("not finished"),
            "an unfinished command is not a success"
        );
        assert!(agent_result("", 255).is_err());
    }

    /// The start command, run here for real: it returns at once, the job's output
    /// and exit code land in their files, values stay data.
    #[test]
    fn detached_start_runs_the_command_as_data_and_records_its_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run/job.log").display().to_string();
        let code = dir.path().join("run/job.exit").display().to_string();
        let marker = dir.path().join("pwned");
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        std::fs::write(&code, "99\n").unwrap();
        let hostile = format!("$(touch {}) ; exit 0", marker.display());
        let argv: Vec<String> = ["/bin/sh", "-c", "echo \"got: $1\"; exit 3", "sh", &hostile]
            .map(String::from)
            .to_vec();
        let start = detached_start(&out, &code, &argv, Duration::from_secs(600));
        let status = std::process::Command::new(&start[0])
            .args(&start[1..])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&code).ok().as_deref() != Some("3\n") {
            assert!(Instant::now() < deadline, "no exit code 3 in {code}");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("got: {hostile}\n")
        );
        assert!(!marker.exists(), "a value was run as a command");
    }

    /// Run `argv` here, as the guest agent would (the start returns at once).
    fn run_here(argv: &[String]) {
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "still waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GitHub issue 15: a VM job outlived its step's timeout. It now runs under
    /// `timeout` in the guest, which ends it with everything it started, and its
    /// exit code says so.
    #[test]
    fn a_detached_job_is_ended_inside_the_guest_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run/job.log").display().to_string();
        let code = dir.path().join("run/job.exit").display().to_string();
        let sleep = format!("1000.{}8", std::process::id());
        let _reap = command::tests::Reap(sleep.clone());
        let argv: Vec<String> = ["/bin/sh", "-c", "sleep \"$1\"; echo never", "sh", &sleep]
            .map(String::from)
            .to_vec();
        run_here(&detached_start(&out, &code, &argv, Duration::from_secs(1)));
        wait_for("the exit code", || std::path::Path::new(&code).exists());
        let ended = command::tests::gone(&sleep);
        assert_eq!(
            std::fs::read_to_string(&code).unwrap(),
            format!("{TIMED_OUT}\n")
        );
        assert!(ended, "`sleep {sleep}` outlived the job's timeout");
        assert!(!std::fs::read_to_string(&out).unwrap().contains("never"));
    }

    /// The job phoenix gives up on (its own deadline, a second Ctrl-C) is killed
    /// through the agent, with what it started.
    #[test]
    fn a_detached_job_phoenix_gives_up_on_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run/job.log").display().to_string();
        let code = dir.path().join("run/job.exit").display().to_string();
        let sleep = format!("1000.{}9", std::process::id());
        let _reap = command::tests::Reap(sleep.clone());
        let argv: Vec<String> = ["/bin/sh", "-c", "sleep \"$1\"; echo never", "sh", &sleep]
            .map(String::from)
            .to_vec();
        run_here(&detached_start(
            &out,
            &code,
            &argv,
            Duration::from_secs(600),
        ));
        // The `sleep` itself, not a shell that has its argument.
        wait_for("the job's `sleep`", || {
            command::tests::processes_with(&sleep).iter().any(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.starts_with(b"sleep\0"))
            })
        });
        assert!(
            std::fs::read_to_string(format!("{code}.pid"))
                .unwrap()
                .trim()
                .parse::<u32>()
                .is_ok(),
            "the job wrote its pid"
        );
        run_here(&detached_kill(&code));
        assert!(
            command::tests::gone(&sleep),
            "`sleep {sleep}` survived the kill"
        );
        assert!(
            !std::fs::read_to_string(&out)
                .unwrap_or_default()
                .contains("never")
        );
    }
}
