//! The sim backend: a simulated host in a directory, for tests, scale runs and
//! benchmarks. Not a product backend.
//!
//! `<dir>/guests.json` holds the guests (stamp, snapshots, running); every
//! operation is appended to `<dir>/ops.log` as `<start ms> <end ms> <node> <op> <detail>`
//! so tests can check what ran, in which order and what overlapped.
//!
//! The host survives kill -9 like a real one: an operation that returned is on
//! disk, so the host never lags behind the state journal that records the step.
//! Each operation appends the guest's new state (or its removal) as one line to
//! `<dir>/guests.log` before it returns; loading replays that log over
//! `guests.json`, and dropping the backend folds it in (`guests.json` written
//! and renamed into place, the log emptied). This is the state journal's design,
//! for the same reason: rewriting every guest after every operation would cost a
//! thousand-guest build a thousand-guest file per step, and the scheduler
//! benchmark would measure the simulator's writes. A torn last line (a kill in the
//! middle of an append) is an operation that never returned, and is ignored.
//!
//! Converted templates behave as Proxmox's do: a template cannot start, take a
//! snapshot or be converted while it has any; a clone of one is linked to it
//! (`linked_from`), and the template cannot be destroyed while a linked clone
//! exists (pve-storage refuses to free a base volume in use).
//!
//! A build claims the directory (`<dir>/lock`, see [`super::Claim`]): a second
//! build driving the same simulated host from another cache is refused.
//!
//! Faults come from `<dir>/faults.json`, a list of
//! `{"node": "ct:950", "op": "exec", "match": "vllm", "lock": false, "times": 1}`:
//! the next `times` matching operations fail (with a lock error when `lock` is true,
//! which the executor retries). `times` is decremented on disk, so a fault that fired
//! is gone for the next build. [`SimOptions`]: a latency per operation
//! (`--sim-latency-ms`), and with `--sim-exec` scripts really run (through their `#!` line) on this machine,
//! which is how the scheduler is compared with ninja on the same DAG.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{
    Backend, BackendError, Claim, GuestCtx, HostStep, Inventory, Log, Observed, OpError, OpResult,
    Script, Stamp, command,
};
use crate::defs::GuestKind;
use crate::graph::NodeId;
use crate::inventory::Proof;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SimGuest {
    node: String,
    stamp: String,
    running: bool,
    /// Snapshot name → the guest's layers at that point.
    snapshots: BTreeMap<String, Vec<String>>,
    /// What was done to the guest since its creation (or the snapshot it came from).
    layers: Vec<String>,
    settings: u64,
    /// Converted to a template.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    template: bool,
    /// The converted template this guest is a linked clone of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    linked_from: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Fault {
    node: String,
    op: String,
    #[serde(default)]
    r#match: String,
    #[serde(default)]
    lock: bool,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

/// One line of `guests.log`: a guest's state after an operation, `None` once
/// destroyed.
#[derive(Debug, Serialize, Deserialize)]
struct Change {
    node: String,
    guest: Option<SimGuest>,
}

/// The simulated host. Guests live in memory behind one lock; every operation
/// appends what it changed to `guests.log`, and dropping the backend folds the
/// log into `guests.json` (see the module docs).
pub struct Sim {
    dirty: Mutex<bool>,
    dir: PathBuf,
    guests: Mutex<HashMap<NodeId, SimGuest>>,
    faults: Mutex<Vec<Fault>>,
    ops_log: Mutex<Option<fs::File>>,
    guests_log: Mutex<Option<fs::File>>,
    claim: Claim,
    latency: Duration,
    exec: bool,
}

fn node_of(label: &str) -> Option<NodeId> {
    match label.split_once(':') {
        Some(("ct", id)) => id.parse().ok().map(NodeId::Ct),
        Some(("vm", id)) => id.parse().ok().map(NodeId::Vm),
        _ => None,
    }
}

/// How the simulated host behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimOptions {
    /// Added to every operation.
    pub latency: Duration,
    /// Run scripts for real (`sh script args`) instead of only logging them.
    pub exec: bool,
}

impl Sim {
    pub fn new(dir: &Path, opts: SimOptions) -> Result<Sim, BackendError> {
        let fail = |e: std::io::Error| BackendError::Failed {
            backend: "sim",
            message: format!("{}: {e}", dir.display()),
        };
        fs::create_dir_all(dir).map_err(fail)?;
        if opts.exec {
            // Said before anything runs: the sim has no guest to run them in.
            eprintln!(
                "warning: PHOENIX_SIM_EXEC=1: the sim backend runs the definitions' scripts on this machine, as user {}, with no isolation; they can write anywhere that user can",
                std::env::var("USER").unwrap_or_else(|_| "(unknown)".into())
            );
        }
        let guests = load_guests(dir);
        let faults = fs::read(dir.join("faults.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let ops_log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("ops.log"))
            .ok();
        Ok(Sim {
            dirty: Mutex::new(false),
            dir: dir.to_path_buf(),
            guests: Mutex::new(guests),
            faults: Mutex::new(faults),
            ops_log: Mutex::new(ops_log),
            guests_log: Mutex::new(None),
            claim: Claim::new(
                dir.join("lock"),
                "sim",
                format!("the simulated host in `{}`", dir.display()),
            ),
            latency: opts.latency,
            exec: opts.exec,
        })
    }

    /// Append one guest's new state to `guests.log`: once this returns, the
    /// operation survives the death of phoenix.
    fn persist(&self, line: &[u8]) -> OpResult {
        let path = self.dir.join("guests.log");
        let mut log = self
            .guests_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.is_none() {
            *log = Some(
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| OpError::new(format!("{}: {e}", path.display())))?,
            );
        }
        log.as_mut()
            .map_or(Ok(()), |f| f.write_all(line))
            .map_err(|e| OpError::new(format!("{}: {e}", path.display())))
    }

    fn millis() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    }

    /// A host step's line in `ops.log`.
    fn host_op(&self, what: &str) {
        if let Some(f) = self
            .ops_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            let now = Self::millis();
            let _ = writeln!(f, "{now} {now} host host {what}");
        }
    }

    /// Run `change` as one operation on `node`: injected faults first, then latency,
    /// then the change to the in-memory host, then its file and a line in `ops.log`.
    fn op(
        &self,
        node: NodeId,
        op: &str,
        detail: &str,
        log: &mut Log,
        change: impl FnOnce(&mut HashMap<NodeId, SimGuest>) -> OpResult,
    ) -> OpResult {
        let start = Self::millis();
        let label = node.to_string();
        log.raw(format!("$ sim {op} {label} {detail}\n").as_bytes());
        self.claim.for_op()?;
        if let Some(err) = self.fault(&label, op, detail) {
            log.raw(format!("{}\n", err.message).as_bytes());
            return Err(err);
        }
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        let (result, line) = {
            let mut guests = self
                .guests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let result = change(&mut guests);
            let line = result.is_ok().then(|| {
                let change = Change {
                    node: label.clone(),
                    guest: guests.get(&node).cloned(),
                };
                let mut line = serde_json::to_vec(&change).unwrap_or_default();
                line.push(b'\n');
                line
            });
            (result, line)
        };
        if let Some(line) = line {
            *self
                .dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
            self.persist(&line)?;
        }
        let end = Self::millis();
        if let Some(f) = self
            .ops_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            let _ = writeln!(f, "{start} {end} {label} {op} {detail}");
        }
        result
    }

    fn fault(&self, node: &str, op: &str, detail: &str) -> Option<OpError> {
        let mut faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hit = faults
            .iter_mut()
            .find(|f| f.times > 0 && f.node == node && f.op == op && detail.contains(&f.r#match))?;
        hit.times -= 1;
        let err = if hit.lock {
            OpError::from_output(format!("CT {node} is locked (injected)"))
        } else {
            OpError::new(format!("injected failure: {op} {detail} on {node}"))
        };
        // A fault that fired is gone for the next run too.
        let _ = crate::fsutil::write_atomic(
            &self.dir.join("faults.json"),
            &serde_json::to_vec_pretty(&*faults).unwrap_or_default(),
        );
        Some(err)
    }
}

impl Drop for Sim {
    /// Fold `guests.log` into `guests.json`: the new file renamed into place first,
    /// then the log emptied, so a crash in between replays a log whose every line
    /// is already in the file, which changes nothing.
    fn drop(&mut self) {
        if !*self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            return;
        }
        let guests = self
            .guests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<&SimGuest> = guests.values().collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        let written = crate::fsutil::write_atomic(
            &self.dir.join("guests.json"),
            &serde_json::to_vec_pretty(&all).unwrap_or_default(),
        );
        if written.is_ok() {
            let _ = fs::File::create(self.dir.join("guests.log"));
        }
    }
}

/// The simulated host as the last command left it: `guests.json`, then every
/// complete line of `guests.log` over it.
fn load_guests(dir: &Path) -> HashMap<NodeId, SimGuest> {
    let stored: Vec<SimGuest> = fs::read(dir.join("guests.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut guests: HashMap<NodeId, SimGuest> = stored
        .into_iter()
        .filter_map(|g| node_of(&g.node).map(|n| (n, g)))
        .collect();
    let log = fs::read(dir.join("guests.log")).unwrap_or_default();
    for line in log.split(|b| *b == b'\n') {
        let Ok(change) = serde_json::from_slice::<Change>(line) else {
            continue;
        };
        let Some(node) = node_of(&change.node) else {
            continue;
        };
        match change.guest {
            Some(g) => guests.insert(node, g),
            None => guests.remove(&node),
        };
    }
    guests
}

fn existing(
    guests: &mut HashMap<NodeId, SimGuest>,
    node: NodeId,
) -> Result<&mut SimGuest, OpError> {
    guests
        .get_mut(&node)
        .ok_or_else(|| OpError::new(format!("{node} does not exist")))
}

impl Backend for Sim {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn supports(&self, _: GuestKind) -> bool {
        true
    }

    fn claim(&self) -> Result<(), BackendError> {
        self.claim.take()
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let guests = self
            .guests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(guests
            .iter()
            .map(|(node, g)| {
                (
                    *node,
                    Observed {
                        stamp: Stamp::parse(&g.stamp),
                        proof: Proof::parse(&g.stamp),
                        snapshots: g.snapshots.keys().cloned().collect(),
                        running: g.running,
                    },
                )
            })
            .collect())
    }

    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let detail = g.source.as_ref().map_or_else(
            || "template".to_string(),
            |c| match &c.snapshot {
                Some(snap) => format!("clone {}@{snap}", c.guest.label()),
                None => format!("clone {}", c.guest.label()),
            },
        );
        self.op(g.node, "create", &detail, log, |guests| {
            if guests.contains_key(&g.node) {
                return Err(OpError::new(format!("{} already exists", g.node)));
            }
            let mut linked_from = None;
            let layers = match &g.source {
                None => vec!["os".to_string()],
                Some(c) => {
                    let src = NodeId::guest(c.guest.kind, c.guest.id);
                    let sg = guests.get(&src).ok_or_else(|| {
                        OpError::new(format!("clone source {src} does not exist"))
                    })?;
                    match &c.snapshot {
                        Some(snap) => sg.snapshots.get(snap).cloned().ok_or_else(|| {
                            OpError::new(format!("{src} has no snapshot `{snap}`"))
                        })?,
                        None if sg.template => {
                            linked_from = Some(src.to_string());
                            sg.layers.clone()
                        }
                        None => {
                            return Err(OpError::new(format!(
                                "{src} is not a template: a clone needs its snapshot"
                            )));
                        }
                    }
                }
            };
            guests.insert(
                g.node,
                SimGuest {
                    node: g.node.to_string(),
                    stamp: stamp.to_string(),
                    layers,
                    linked_from,
                    ..SimGuest::default()
                },
            );
            Ok(())
        })
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "destroy", "", log, |guests| {
            if guests
                .get(&g.node)
                .is_some_and(|x| Stamp::parse(&x.stamp) == Stamp::Foreign)
            {
                return Err(OpError::new(format!(
                    "{} was not created by phoenix; refusing to destroy it",
                    g.node
                )));
            }
            let me = g.node.to_string();
            let mut linked: Vec<&str> = guests
                .values()
                .filter(|x| x.linked_from.as_deref() == Some(me.as_str()))
                .map(|x| x.node.as_str())
                .collect();
            if !linked.is_empty() {
                linked.sort_unstable();
                return Err(OpError::new(format!(
                    "base volume of {me} is still in use by linked clones ({})",
                    linked.join(", ")
                )));
            }
            guests.remove(&g.node);
            Ok(())
        })
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "configure", "", log, |guests| {
            existing(guests, g.node)?.settings += 1;
            Ok(())
        })
    }

    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "start", "", log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!(
                    "you can't start {} if it's a template",
                    g.node
                )));
            }
            x.running = true;
            Ok(())
        })
    }

    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "stop", "", log, |guests| {
            existing(guests, g.node)?.running = false;
            Ok(())
        })
    }

    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        self.op(g.node, "snapshot", name, log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!(
                    "you can't take a snapshot of {} if it's a template",
                    g.node
                )));
            }
            x.snapshots.insert(name.to_string(), x.layers.clone());
            Ok(())
        })
    }

    fn template(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(g.node, "template", "", log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!("{} is a template already", g.node)));
            }
            x.running = false;
            x.snapshots.clear();
            x.template = true;
            Ok(())
        })
    }

    /// A rolled-back guest no longer holds what its `built` stamp says: it is
    /// stamped `building` until the build that rolled it back stamps it again.
    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        self.op(g.node, "rollback", name, log, |guests| {
            let x = existing(guests, g.node)?;
            if x.template {
                return Err(OpError::new(format!(
                    "you can't roll {} back if it's a template",
                    g.node
                )));
            }
            x.layers = x
                .snapshots
                .get(name)
                .cloned()
                .ok_or_else(|| OpError::new(format!("no snapshot `{name}`")))?;
            x.stamp = format!("building:rolled-back-to-{name}");
            Ok(())
        })
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        self.op(g.node, "exec", &script.name, log, |guests| {
            let x = existing(guests, g.node)?;
            if !x.running {
                return Err(OpError::new(format!("{} is not running", g.node)));
            }
            x.layers.push(script.name.clone());
            Ok(())
        })?;
        if self.exec {
            let argv = script.local_argv();
            command::run_logged(&argv, g.timeout, log)?;
        }
        Ok(())
    }

    /// The whole stamp (its proof too) goes on the guest; `ops.log` and faults see
    /// its first line.
    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let first = stamp.lines().next().unwrap_or_default();
        self.op(g.node, "stamp", first, log, |guests| {
            existing(guests, g.node)?.stamp = stamp.to_string();
            Ok(())
        })
    }

    fn supports_builtin_host(&self) -> bool {
        true
    }

    /// A simulated host has no disks: the step is logged (and can be made to fail
    /// with a fault on `host`).
    fn host_builtin(&self, step: &HostStep, log: &mut Log) -> OpResult {
        log.raw(format!("$ sim host builtin {}\n", step.name).as_bytes());
        if let Some(err) = self.fault("host", "host", step.name) {
            return Err(err);
        }
        self.host_op(&format!("builtin:{}", step.name));
        Ok(())
    }

    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        log.raw(format!("$ sim host {}\n", script.name).as_bytes());
        if let Some(err) = self.fault("host", "host", &script.name) {
            return Err(err);
        }
        self.host_op(&script.name);
        if self.exec {
            let argv = script.local_argv();
            command::run_logged(&argv, timeout, log)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(node: &str, stamp: &str) -> SimGuest {
        SimGuest {
            node: node.into(),
            stamp: stamp.into(),
            ..SimGuest::default()
        }
    }

    fn line(node: &str, g: Option<SimGuest>) -> String {
        let change = Change {
            node: node.into(),
            guest: g,
        };
        format!("{}\n", serde_json::to_string(&change).unwrap())
    }

    /// What a killed build left: `guests.json` from the command before, and the
    /// log of its operations, the last one torn. The log wins over the file,
    /// removals included; the torn line is an operation that never returned.
    #[test]
    fn the_log_of_a_killed_build_is_replayed_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = vec![guest("ct:900", "built:a"), guest("ct:901", "built:b")];
        fs::write(
            dir.path().join("guests.json"),
            serde_json::to_vec(&file).unwrap(),
        )
        .unwrap();
        let mut log = line("ct:900", Some(guest("ct:900", "built:c")));
        log += &line("ct:901", None);
        log += &line("ct:910", Some(guest("ct:910", "building:d")));
        log += &line("ct:920", Some(guest("ct:920", "building:e")))[..30];
        fs::write(dir.path().join("guests.log"), log).unwrap();
        let guests = load_guests(dir.path());
        let mut stamps: Vec<(String, String)> = guests
            .values()
            .map(|g| (g.node.clone(), g.stamp.clone()))
            .collect();
        stamps.sort();
        assert_eq!(
            stamps,
            [
                ("ct:900".to_string(), "built:c".to_string()),
                ("ct:910".to_string(), "building:d".to_string())
            ]
        );
    }
}
