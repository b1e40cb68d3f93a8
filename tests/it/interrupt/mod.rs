//! GitHub issue 15, items 6 to 8, on the sim backend with scripts run for real
//! (`PHOENIX_SIM_EXEC=1`): a timed-out step leaves no process behind; Ctrl-C stops a
//! build cleanly (once: the running step finishes, nothing new starts; twice: the
//! running step is killed), records it, says so and exits with 130, and the next
//! build resumes; a script that prints a lock message is not retried, a lock the
//! backend reports still is.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::build_sim::{self, ct};
use crate::helpers::{Output, Site};

mod retry;

/// 900, a template with the feature `base_setup`, and its clones 901 and 902;
/// the simulated host in `sim/`, scripts run for real.
fn site() -> (Site, PathBuf) {
    let lxc = json!({
        "900": ct("base", 10, &json!({"template": "local:vztmpl/x.tar.zst", "template_snapshot_name": "base", "features": ["base_setup"]})),
        "901": ct("gpu", 11, &json!({"clone_from_ctid": "900", "features": ["gpu"]})),
        "902": ct("docker", 12, &json!({"clone_from_ctid": "900", "features": ["docker"]})),
    });
    build_sim::site(&lxc, &["base_setup", "gpu", "docker"])
        .env("PHOENIX_SIM_EXEC", "1")
        .into_parts()
}

/// `base_setup.sh` of `site` becomes `body`, after a line that counts its runs in
/// `<site>/runs`.
fn base_setup(site: &Site, body: &str) {
    let runs = site.path().join("runs");
    std::fs::write(
        site.defs.join("features/lxc/base_setup.sh"),
        format!("#!/bin/sh\necho run >> {}\n{body}", runs.display()),
    )
    .unwrap();
}

fn runs(site: &Site) -> usize {
    std::fs::read_to_string(site.path().join("runs"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// The simulated host in `sim` fails as `faults` says (`backend::sim`'s
/// `faults.json`).
fn faults(sim: &Path, faults: &Value) {
    std::fs::create_dir_all(sim).unwrap();
    std::fs::write(sim.join("faults.json"), faults.to_string()).unwrap();
}

/// `(node, op, detail)` of every operation on the simulated host, in order.
fn ops(sim: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(sim.join("ops.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut p = l.splitn(5, ' ').skip(2);
            let mut next = || p.next().unwrap_or_default().to_string();
            (next(), next(), next())
        })
        .collect()
}

/// The pids of the live processes with `arg` among their arguments.
fn processes_with(arg: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
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

/// Whether every process with `arg` is gone within 10 s; what is left is then
/// killed, each by its pid, so that a failing test leaves nothing running.
fn gone(arg: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if processes_with(arg).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in processes_with(arg) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    false
}

/// Kills every process with its argument when dropped, so that a test that fails
/// half-way leaves no `sleep 1000` behind.
struct Reap(String);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in processes_with(&self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Wait up to 60 s for `what`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `phoenix build --output json` running in the background, its events read as
/// they come.
struct Build {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: String,
}

impl Build {
    fn start(site: &Site, args: &[&str]) -> Build {
        let mut cmd = site
            .phoenix()
            .args(["build", "--output", "json"])
            .args(args)
            .command();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Build {
            child,
            lines,
            stdout: String::new(),
        }
    }

    /// Ctrl-C, as the terminal sends it to phoenix.
    fn ctrl_c(&self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Read events until one has `event` = `name` (60 s at most).
    fn wait_for_event(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `{name}` event in:\n{}", self.stdout));
            self.stdout.push_str(&line);
            self.stdout.push('\n');
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["event"] == name {
                return event;
            }
        }
    }

    /// Wait (60 s at most) for phoenix to exit.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("phoenix did not exit after Ctrl-C:\n{}", self.stdout);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.stdout.push_str(&line);
            self.stdout.push('\n');
        }
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        Output {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout,
            stderr,
        }
    }
}

/// Item 6: the step times out, and the `sleep`s its script started, in the
/// background and in the foreground, die with it (only `sh` was killed before).
#[test]
fn a_timed_out_step_leaves_no_process_behind() {
    let (t, _sim) = site();
    let (bg, fg) = (
        format!("1000.{}5", std::process::id()),
        format!("1000.{}6", std::process::id()),
    );
    let _reap = (Reap(bg.clone()), Reap(fg.clone()));
    base_setup(&t, &format!("sleep {bg} &\nsleep {fg}\n"));
    let out = t.build(&["900", "--step-timeout", "1"]).code(1);
    assert!(out.stdout.contains("timed out after 1s"), "{}", out.stdout);
    let (bg_gone, fg_gone) = (gone(&bg), gone(&fg));
    assert!(bg_gone, "the script's background `sleep {bg}` survived");
    assert!(fg_gone, "the script's foreground `sleep {fg}` survived");
}

/// Item 7: one Ctrl-C. The running step finishes and is recorded, nothing new
/// starts, the summary says interrupted, the exit code is 130; the next build
/// resumes after the step that finished.
#[test]
fn one_ctrl_c_lets_the_running_step_finish_and_starts_nothing_new() {
    let (t, sim) = site();
    let marks = t.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    base_setup(
        &t,
        &format!(
            "touch {m}/started\nsleep 2\ntouch {m}/finished\n",
            m = marks.display()
        ),
    );
    let mut build = Build::start(&t, &["all", "-j", "2"]);
    wait_for("base_setup to start", || marks.join("started").exists());
    build.ctrl_c();
    let said = build.wait_for_event("interrupted");
    assert_eq!(said["killing"], false, "{said}");
    let out = build.finish().code(130);
    assert!(marks.join("finished").exists(), "the running step was cut");
    let summary = out.summary();
    assert_eq!(summary["interrupted"], true, "{summary}");
    assert_eq!(
        summary["nodes"],
        json!({"ct:900": "interrupted", "ct:901": "skipped", "ct:902": "skipped"})
    );
    assert!(
        out.finished("ct:901")["detail"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{}",
        out.stdout
    );
    let after = ops(&sim);
    assert_eq!(
        after
            .last()
            .map(|(n, op, d)| (n.as_str(), op.as_str(), d.as_str())),
        Some(("ct:900", "exec", "features/lxc/base_setup.sh")),
        "nothing ran after the step that was running: {after:?}"
    );
    assert!(
        out.steps_of("ct:900")
            .contains(&"feature:base_setup".to_string())
    );

    let again = t.build(&["all"]).success();
    assert_eq!(
        again.summary()["nodes"],
        json!({"ct:900": "built", "ct:901": "built", "ct:902": "built"})
    );
    assert_eq!(
        runs(&t),
        1,
        "the step that finished was recorded, not rerun"
    );
    let creates = ops(&sim)
        .iter()
        .filter(|(n, op, _)| n == "ct:900" && op == "create")
        .count();
    assert_eq!(creates, 1, "900 resumed, it was not re-created");
    t.build(&["all"]).success();
    assert_eq!(runs(&t), 1);
}

/// `base_setup.sh` of `site` sleeps on its first run, `sleep 1000.<pid><tag>` (a
/// name no other test's sleep has), marking `started` before and `finished`
/// after; on a later run it does nothing. The marks' directory, the sleep's
/// argument, and what kills it when the test ends.
fn sleeping_base_setup(site: &Site, tag: char) -> (PathBuf, String, Reap) {
    let marks = site.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let sleep = format!("1000.{}{tag}", std::process::id());
    let reap = Reap(sleep.clone());
    base_setup(
        site,
        &format!(
            "[ -e {m}/started ] && exit 0\ntouch {m}/started\nsleep {sleep}\ntouch {m}/finished\n",
            m = marks.display()
        ),
    );
    (marks, sleep, reap)
}

/// Item 7: two Ctrl-Cs. The second kills the running script's process group; the
/// build still ends with its summary and exit code 130, and the next one resumes
/// and reruns the killed step.
#[test]
fn a_second_ctrl_c_kills_the_running_step_and_the_next_build_resumes() {
    let (t, sim) = site();
    let (marks, sleep, _reap) = sleeping_base_setup(&t, '7');
    let mut build = Build::start(&t, &["all"]);
    wait_for("base_setup to start", || marks.join("started").exists());
    build.ctrl_c();
    build.wait_for_event("interrupted");
    build.ctrl_c();
    let said = build.wait_for_event("interrupted");
    assert_eq!(said["killing"], true, "{said}");
    let out = build.finish();
    let killed = gone(&sleep);
    let out = out.code(130);
    assert!(killed, "the running script's `sleep {sleep}` survived");
    assert!(!marks.join("finished").exists());
    let summary = out.summary();
    assert_eq!(summary["interrupted"], true, "{summary}");
    assert_eq!(summary["nodes"]["ct:900"], "interrupted");
    assert_eq!(summary["nodes"]["ct:901"], "skipped");

    let again = t.build(&["all"]).success();
    assert_eq!(runs(&t), 2, "the killed step ran again, once");
    assert_eq!(again.summary()["nodes"]["ct:902"], "built");
    let creates = ops(&sim)
        .iter()
        .filter(|(n, op, _)| n == "ct:900" && op == "create")
        .count();
    assert_eq!(creates, 1, "900 resumed, it was not re-created");
}

/// Item 8: a script that prints lock messages and fails ran once and failed; a
/// lock the backend reports (an injected lock error on create) is still retried.
#[test]
fn a_scripts_lock_message_is_not_retried_but_a_backend_lock_is() {
    let (t, sim) = site();
    base_setup(
        &t,
        "echo 'Error: database is locked' >&2\necho 'CT 101 is locked (snapshot)' >&2\nexit 1\n",
    );
    faults(
        &sim,
        &json!([{"node": "ct:900", "op": "create", "lock": true, "times": 2}]),
    );
    let out = t.build(&["900"]).code(1);
    let retries: Vec<Value> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "retry")
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries.iter().all(|r| r["step"] == "define"), "{retries:?}");
    assert_eq!(runs(&t), 1, "the failing script ran more than once");
    let failed = out.finished("ct:900");
    assert_eq!(failed["outcome"], "failed");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("database is locked"),
        "{failed}"
    );
}

/// A build killed outright (`kill -9`) kills nothing: its running script and the
/// script's `sleep` go on. The next build, once it holds the state directory's
/// lock, kills them before anything runs, and says so.
#[test]
fn the_commands_of_a_build_killed_outright_are_killed_by_the_next_build() {
    let (t, _sim) = site();
    let (marks, sleep, _reap) = sleeping_base_setup(&t, '9');
    let mut build = Build::start(&t, &["all"]);
    wait_for("base_setup's sleep", || !processes_with(&sleep).is_empty());
    build.child.kill().unwrap();
    build.child.wait().unwrap();
    assert!(
        !processes_with(&sleep).is_empty(),
        "phoenix killed with -9 should have left its script running"
    );

    let again = t.build(&["all"]).success();
    assert!(
        processes_with(&sleep).is_empty(),
        "the next build left the dead build's `sleep {sleep}` running"
    );
    assert!(again.stderr.contains("warning: killed"), "{}", again.stderr);
    assert!(!marks.join("finished").exists());
    assert_eq!(runs(&t), 2, "the killed step ran again, once");
    assert_eq!(again.summary()["nodes"]["ct:902"], "built");
}
