//! The sim backend: a simulated host in a directory, for tests, scale runs and
//! benchmarks. Not a product backend.
//!
//! `<dir>/guests/<id>.json` holds each guest (stamp, snapshots, running); every
//! operation is appended to `<dir>/ops.log` as `<start ms> <end ms> <node> <op> <detail>`
//! so tests can check what ran, in which order and what overlapped.
//!
//! Faults come from `<dir>/faults.json`, a list of
//! `{"node": "ct:950", "op": "exec", "match": "vllm", "lock": false, "times": 1}`:
//! the next `times` matching operations fail (with a lock error when `lock` is true,
//! which the executor retries). `times` is decremented on disk, so a fault that fired
//! is gone for the next build. Latency: `PHOENIX_SIM_LATENCY_MS` per operation.
//! With `PHOENIX_SIM_EXEC=1` scripts really run (`sh script args`) on this machine,
//! which is how the scheduler is compared with ninja on the same DAG.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{
    Backend, BackendError, GuestCtx, Inventory, Log, Observed, OpError, OpResult, Script, Stamp,
    command,
};
use crate::defs::GuestKind;
use crate::graph::NodeId;

#[derive(Debug, Default, Serialize, Deserialize)]
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

pub struct Sim {
    dir: PathBuf,
    lock: Mutex<()>,
    latency: Duration,
    exec: bool,
    epoch: Instant,
}

impl Sim {
    pub fn new(dir: &Path) -> Result<Sim, BackendError> {
        fs::create_dir_all(dir.join("guests")).map_err(|e| BackendError::Failed {
            backend: "sim",
            message: format!("{}: {e}", dir.display()),
        })?;
        let latency = std::env::var("PHOENIX_SIM_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::ZERO, Duration::from_millis);
        let exec = std::env::var("PHOENIX_SIM_EXEC").as_deref() == Ok("1");
        Ok(Sim {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
            latency,
            exec,
            epoch: Instant::now(),
        })
    }

    fn guest_path(&self, node: NodeId) -> PathBuf {
        self.dir
            .join("guests")
            .join(format!("{}.json", node.slug()))
    }

    fn load(&self, node: NodeId) -> Option<SimGuest> {
        serde_json::from_slice(&fs::read(self.guest_path(node)).ok()?).ok()
    }

    fn save(&self, node: NodeId, g: &SimGuest) -> OpResult {
        let bytes = serde_json::to_vec_pretty(g).unwrap_or_default();
        crate::state::write_atomic(&self.guest_path(node), &bytes)
            .map_err(|e| OpError::new(e.to_string()))
    }

    fn millis() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    }

    /// Run `body` as one operation: injected faults first, then latency, then the
    /// change; the operation is logged with its start and end.
    fn op(
        &self,
        node: &str,
        op: &str,
        detail: &str,
        log: &mut Log,
        body: impl FnOnce(&Self) -> OpResult,
    ) -> OpResult {
        let start = Self::millis();
        log.raw(format!("$ sim {op} {node} {detail}\n").as_bytes());
        if let Some(err) = self.fault(node, op, detail) {
            log.raw(format!("{}\n", err.message).as_bytes());
            return Err(err);
        }
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        let result = {
            let _guard = self
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            body(self)
        };
        let end = Self::millis();
        let _ = self.epoch;
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("ops.log"))
        {
            let _ = writeln!(f, "{start} {end} {node} {op} {detail}");
        }
        result
    }

    fn fault(&self, node: &str, op: &str, detail: &str) -> Option<OpError> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = self.dir.join("faults.json");
        let mut faults: Vec<Fault> = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
        let hit = faults
            .iter_mut()
            .find(|f| f.times > 0 && f.node == node && f.op == op && detail.contains(&f.r#match))?;
        hit.times -= 1;
        let err = if hit.lock {
            OpError::from_output(format!("CT {node} is locked (injected)"))
        } else {
            OpError::new(format!("injected failure: {op} {detail} on {node}"))
        };
        let _ = crate::state::write_atomic(
            &path,
            &serde_json::to_vec_pretty(&faults).unwrap_or_default(),
        );
        Some(err)
    }

    fn change(&self, node: NodeId, f: impl FnOnce(&mut SimGuest) -> OpResult) -> OpResult {
        let mut g = self
            .load(node)
            .ok_or_else(|| OpError::new(format!("{node} does not exist")))?;
        f(&mut g)?;
        self.save(node, &g)
    }
}

impl Backend for Sim {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn supports(&self, _: GuestKind) -> bool {
        true
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let mut inv = Inventory::new();
        let entries = fs::read_dir(self.dir.join("guests")).map_err(|e| BackendError::Failed {
            backend: "sim",
            message: e.to_string(),
        })?;
        for e in entries.filter_map(Result::ok) {
            let Ok(g) = serde_json::from_slice::<SimGuest>(&fs::read(e.path()).unwrap_or_default())
            else {
                continue;
            };
            let node = match g.node.split_once(':') {
                Some(("ct", id)) => id.parse().ok().map(NodeId::Ct),
                Some(("vm", id)) => id.parse().ok().map(NodeId::Vm),
                _ => None,
            };
            if let Some(node) = node {
                inv.insert(
                    node,
                    Observed {
                        stamp: Stamp::parse(&g.stamp),
                        snapshots: g.snapshots.keys().cloned().collect(),
                        running: g.running,
                    },
                );
            }
        }
        Ok(inv)
    }

    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let detail = g.source.as_ref().map_or_else(
            || "template".to_string(),
            |(s, snap)| format!("clone {}@{snap}", s.label()),
        );
        self.op(&g.node.to_string(), "create", &detail, log, |sim| {
            if sim.load(g.node).is_some() {
                return Err(OpError::new(format!("{} already exists", g.node)));
            }
            let layers = match &g.source {
                None => vec!["os".to_string()],
                Some((s, snap)) => {
                    let src = NodeId::guest(s.kind, s.id);
                    let sg = sim.load(src).ok_or_else(|| {
                        OpError::new(format!("clone source {src} does not exist"))
                    })?;
                    sg.snapshots
                        .get(snap)
                        .cloned()
                        .ok_or_else(|| OpError::new(format!("{src} has no snapshot `{snap}`")))?
                }
            };
            sim.save(
                g.node,
                &SimGuest {
                    node: g.node.to_string(),
                    stamp: stamp.to_string(),
                    layers,
                    ..SimGuest::default()
                },
            )
        })
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(
            &g.node.to_string(),
            "destroy",
            "",
            log,
            |sim| match fs::remove_file(sim.guest_path(g.node)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(OpError::new(e.to_string())),
            },
        )
    }

    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(&g.node.to_string(), "configure", "", log, |sim| {
            sim.change(g.node, |s| {
                s.settings += 1;
                Ok(())
            })
        })
    }

    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(&g.node.to_string(), "start", "", log, |sim| {
            sim.change(g.node, |s| {
                s.running = true;
                Ok(())
            })
        })
    }

    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.op(&g.node.to_string(), "stop", "", log, |sim| {
            sim.change(g.node, |s| {
                s.running = false;
                Ok(())
            })
        })
    }

    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        self.op(&g.node.to_string(), "snapshot", name, log, |sim| {
            sim.change(g.node, |s| {
                s.snapshots.insert(name.to_string(), s.layers.clone());
                Ok(())
            })
        })
    }

    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        self.op(&g.node.to_string(), "rollback", name, log, |sim| {
            sim.change(g.node, |s| {
                s.layers = s
                    .snapshots
                    .get(name)
                    .cloned()
                    .ok_or_else(|| OpError::new(format!("no snapshot `{name}`")))?;
                Ok(())
            })
        })
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        let r = self.op(&g.node.to_string(), "exec", &script.name, log, |sim| {
            sim.change(g.node, |s| {
                if !s.running {
                    return Err(OpError::new(format!("{} is not running", g.node)));
                }
                s.layers.push(script.name.clone());
                Ok(())
            })
        });
        r?;
        if self.exec {
            let mut argv = vec!["sh".to_string(), script.path.display().to_string()];
            argv.extend(script.args.iter().cloned());
            command::check(&argv, None, g.timeout, log)?;
        }
        Ok(())
    }

    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        self.op(&g.node.to_string(), "stamp", stamp, log, |sim| {
            sim.change(g.node, |s| {
                s.stamp = stamp.to_string();
                Ok(())
            })
        })
    }

    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        self.op("host", "host", &script.name, log, |_| Ok(()))?;
        if self.exec {
            let mut argv = vec!["sh".to_string(), script.path.display().to_string()];
            argv.extend(script.args.iter().cloned());
            command::check(&argv, None, timeout, log)?;
        }
        Ok(())
    }
}
