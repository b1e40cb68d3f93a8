//! What follows an asynchronous call, and the guest agent: a task polled to its
//! end (its log into the node log when it failed), and `qm guest exec` as the
//! agent's `exec` and `exec-status` endpoints.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{Cluster, done, failed};
use super::http::{Method, Params};
use crate::backend::Log;
use crate::backend::command::Ran;

/// Path segments as the API takes them (a UPID has `:`, `!` and `@`).
fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Cluster {
    /// Poll a task until it stops; its log into the node log when it failed.
    /// `OK` and `WARNINGS: n` are success (pve-common `PVE::Tools::upid_status_is_error`).
    pub(super) fn wait_task(
        &self,
        upid: &str,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<(), String> {
        let node = upid.split(':').nth(1).unwrap_or_default().to_string();
        let base = format!("/nodes/{node}/tasks/{}", segment(upid));
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut sink = Log::sink();
        loop {
            let status = self
                .client
                .call(
                    Method::Get,
                    &format!("{base}/status"),
                    &Params::Pairs(Vec::new()),
                    &mut sink,
                )
                .map_err(|f| format!("task {upid}: {f}"))?;
            if status.get("status").and_then(Value::as_str) == Some("stopped") {
                let exit = status
                    .get("exitstatus")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string();
                if exit == "OK" || exit.starts_with("WARNINGS: ") {
                    log.raw(format!("< task {upid}: {exit}\n").as_bytes());
                    return Ok(());
                }
                let lines = self.task_log(&base, log);
                let tail: Vec<&str> = lines
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .map(String::as_str)
                    .collect();
                return Err(format!(
                    "task {upid} failed: {exit}{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(" (task log: {})", tail.join(" / "))
                    }
                ));
            }
            if crate::backend::command::aborted() {
                return Err(format!("task {upid}: phoenix was interrupted while it ran"));
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "task {upid} did not finish within {}s; it may still be running on {node}",
                    timeout.as_secs()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// A task's whole log, written into the node log.
    fn task_log(&self, base: &str, log: &mut Log) -> Vec<String> {
        let mut lines = Vec::new();
        let mut start = 0u64;
        loop {
            let page = self.client.call(
                Method::Get,
                &format!("{base}/log"),
                &Params::Pairs(vec![
                    ("start".into(), start.to_string()),
                    ("limit".into(), "500".into()),
                ]),
                &mut Log::sink(),
            );
            let Ok(Value::Array(page)) = page else { break };
            if page.is_empty() {
                break;
            }
            for l in &page {
                let text = l.get("t").and_then(Value::as_str).unwrap_or_default();
                log.raw(format!("  task: {text}\n").as_bytes());
                lines.push(text.to_string());
            }
            start += page.len() as u64;
            if page.len() < 500 {
                break;
            }
        }
        lines
    }

    /// `qm guest exec`: start the command through the agent, then poll its status
    /// until it exits or `wait` passes; printed as `qm` prints it.
    pub(super) fn agent_exec(
        &self,
        vmid: u32,
        argv: &[String],
        stdin: Option<&[u8]>,
        wait: Duration,
        log: &mut Log,
    ) -> Ran {
        let node = match self.node_of(vmid, log) {
            Ok(n) => n,
            Err(e) => return failed(e),
        };
        let base = format!("/nodes/{node}/qemu/{vmid}/agent");
        let mut body = serde_json::json!({ "command": argv });
        if let Some(input) = stdin {
            body["input-data"] = Value::String(String::from_utf8_lossy(input).into_owned());
        }
        let started = match self.client.call(
            Method::Post,
            &format!("{base}/exec"),
            &Params::Json(body),
            log,
        ) {
            Ok(v) => v,
            Err(f) => return failed(format!("POST {base}/exec: {f}")),
        };
        let Some(pid) = started.get("pid").and_then(Value::as_u64) else {
            return failed(format!("POST {base}/exec: no pid in the answer {started}"));
        };
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(50);
        loop {
            let status = match self.client.call(
                Method::Get,
                &format!("{base}/exec-status"),
                &Params::Pairs(vec![("pid".into(), pid.to_string())]),
                &mut Log::sink(),
            ) {
                Ok(v) => v,
                Err(f) => {
                    return failed(format!("GET {base}/exec-status: {f}"));
                }
            };
            if status.get("exited").and_then(Value::as_i64) == Some(1) || Instant::now() > deadline
            {
                let mut shown = status;
                if shown.get("exited").is_none() {
                    shown["exited"] = Value::from(0);
                    shown["pid"] = Value::from(pid);
                }
                return done(shown.to_string());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}
