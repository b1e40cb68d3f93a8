//! The sim backend: a simulated host in a directory, for tests, scale runs and
//! benchmarks. Not a product backend.
//!
//! `<dir>/guests.json` holds the guests (stamp, snapshots, running); every
//! operation is appended to `<dir>/ops.log` as `<start ms> <end ms> <node> <op> <detail>`
//! so tests can check what ran, in which order and what overlapped.
//!
//! Faults come from `<dir>/faults.json`, a list of
//! `{"node": "ct:950", "op": "exec", "match": "vllm", "lock": false, "times": 1}`:
//! the next `times` matching operations fail (with a lock error when `lock` is true,
//! which the executor retries). `times` is decremented on disk, so a fault that fired
//! is gone for the next build. [`SimOptions`]: a latency per operation
//! (`--sim-latency-ms`), and with `--sim-exec` scripts really run (`sh script args`) on this machine,
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
    Backend, BackendError, GuestCtx, HostStep, Inventory, Log, Observed, OpError, OpResult, Script,
    Stamp, command,
};
use crate::defs::GuestKind;
use crate::graph::NodeId;

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

/// The simulated host. Guests live in memory behind one lock; the guests that
/// changed are written to their files when the backend is dropped, at the end of
/// the command (a simulated host needs no durability, and a thousand-guest build
/// should measure the scheduler, not the simulator's file writes).
pub struct Sim {
    dirty: Mutex<std::collections::HashSet<NodeId>>,
    dir: PathBuf,
    guests: Mutex<HashMap<NodeId, SimGuest>>,
    faults: Mutex<Vec<Fault>>,
    ops_log: Mutex<Option<fs::File>>,
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
        let stored: Vec<SimGuest> = fs::read(dir.join("guests.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let guests = stored
            .into_iter()
            .filter_map(|g| node_of(&g.node).map(|n| (n, g)))
            .collect();
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
            dirty: Mutex::new(std::collections::HashSet::new()),
            dir: dir.to_path_buf(),
            guests: Mutex::new(guests),
            faults: Mutex::new(faults),
            ops_log: Mutex::new(ops_log),
            latency: opts.latency,
            exec: opts.exec,
        })
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
        if let Some(err) = self.fault(&label, op, detail) {
            log.raw(format!("{}\n", err.message).as_bytes());
            return Err(err);
        }
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        let result = {
            let mut guests = self
                .guests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            change(&mut guests)
        };
        if result.is_ok() {
            self.dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(node);
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
    fn drop(&mut self) {
        if self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
        {
            return;
        }
        let guests = self
            .guests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<&SimGuest> = guests.values().collect();
        all.sort_by(|a, b| a.node.cmp(&b.node));
        let _ = fs::write(
            self.dir.join("guests.json"),
            serde_json::to_vec_pretty(&all).unwrap_or_default(),
        );
    }
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
            |(s, snap)| format!("clone {}@{snap}", s.label()),
        );
        self.op(g.node, "create", &detail, log, |guests| {
            if guests.contains_key(&g.node) {
                return Err(OpError::new(format!("{} already exists", g.node)));
            }
            let layers = match &g.source {
                None => vec!["os".to_string()],
                Some((s, snap)) => {
                    let src = NodeId::guest(s.kind, s.id);
                    let sg = guests.get(&src).ok_or_else(|| {
                        OpError::new(format!("clone source {src} does not exist"))
                    })?;
                    sg.snapshots
                        .get(snap)
                        .cloned()
                        .ok_or_else(|| OpError::new(format!("{src} has no snapshot `{snap}`")))?
                }
            };
            guests.insert(
                g.node,
                SimGuest {
                    node: g.node.to_string(),
                    stamp: stamp.to_string(),
                    layers,
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
            existing(guests, g.node)?.running = true;
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
            x.snapshots.insert(name.to_string(), x.layers.clone());
            Ok(())
        })
    }

    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        self.op(g.node, "rollback", name, log, |guests| {
            let x = existing(guests, g.node)?;
            x.layers = x
                .snapshots
                .get(name)
                .cloned()
                .ok_or_else(|| OpError::new(format!("no snapshot `{name}`")))?;
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

    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        self.op(g.node, "stamp", stamp, log, |guests| {
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
