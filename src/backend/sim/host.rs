//! The simulated host: its guests (`guests.json` and the append-only
//! `guests.log` replayed over it), the operation log, faults and latencies.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, Claim, Log, OpError, OpResult};
use crate::graph::NodeId;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct SimGuest {
    pub(super) node: String,
    pub(super) stamp: String,
    pub(super) running: bool,
    /// Snapshot name → the guest's layers at that point.
    pub(super) snapshots: BTreeMap<String, Vec<String>>,
    /// What was done to the guest since its creation (or the snapshot it came from).
    pub(super) layers: Vec<String>,
    /// How many times it was configured.
    #[serde(default)]
    pub(super) settings: u64,
    /// The settings it was configured with, by name ([`super::settings_of`]):
    /// what `observe` compares with the definition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) config: BTreeMap<String, String>,
    /// Converted to a template.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) template: bool,
    /// The converted template this guest is a linked clone of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) linked_from: Option<String>,
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
    pub(super) guests: Mutex<HashMap<NodeId, SimGuest>>,
    faults: Mutex<Vec<Fault>>,
    ops_log: Mutex<Option<fs::File>>,
    guests_log: Mutex<Option<fs::File>>,
    pub(super) claim: Claim,
    latency: Duration,
    pub(super) exec: bool,
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
    pub(super) fn host_op(&self, what: &str) {
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
    pub(super) fn op(
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

    /// Change `node` by hand, as someone working on the host outside phoenix
    /// would: no claim, fault, latency or `ops.log` line, but on disk as any
    /// operation's change is.
    fn by_hand(
        &self,
        node: NodeId,
        change: impl FnOnce(&mut HashMap<NodeId, SimGuest>) -> OpResult,
    ) -> OpResult {
        let line = {
            let mut guests = self
                .guests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            change(&mut guests)?;
            let change = Change {
                node: node.to_string(),
                guest: guests.get(&node).cloned(),
            };
            let mut line = serde_json::to_vec(&change).unwrap_or_default();
            line.push(b'\n');
            line
        };
        *self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.persist(&line)
    }

    /// Put a guest on the simulated host as another tool would have built it:
    /// without a stamp, running, configured with `config` (named as
    /// [`super::settings_of`] names them). Replaces whatever `node` held.
    pub fn place_foreign(&self, node: NodeId, config: BTreeMap<String, String>) -> OpResult {
        self.by_hand(node, |guests| {
            guests.insert(
                node,
                SimGuest {
                    node: node.to_string(),
                    running: true,
                    layers: vec!["os".into(), "by hand".into()],
                    config,
                    ..SimGuest::default()
                },
            );
            Ok(())
        })
    }

    /// Change one setting of `node` by hand, outside phoenix (`None`: remove it):
    /// what drift is made of.
    pub fn edit_setting(&self, node: NodeId, name: &str, value: Option<&str>) -> OpResult {
        self.by_hand(node, |guests| {
            let config = &mut existing(guests, node)?.config;
            match value {
                Some(v) => config.insert(name.to_string(), v.to_string()),
                None => config.remove(name),
            };
            Ok(())
        })
    }

    pub(super) fn fault(&self, node: &str, op: &str, detail: &str) -> Option<OpError> {
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
        .filter_map(|g| NodeId::parse_guest(&g.node).map(|n| (n, g)))
        .collect();
    let log = fs::read(dir.join("guests.log")).unwrap_or_default();
    for line in log.split(|b| *b == b'\n') {
        let Ok(change) = serde_json::from_slice::<Change>(line) else {
            continue;
        };
        let Some(node) = NodeId::parse_guest(&change.node) else {
            continue;
        };
        match change.guest {
            Some(g) => guests.insert(node, g),
            None => guests.remove(&node),
        };
    }
    guests
}

pub(super) fn existing(
    guests: &mut HashMap<NodeId, SimGuest>,
    node: NodeId,
) -> Result<&mut SimGuest, OpError> {
    guests
        .get_mut(&node)
        .ok_or_else(|| OpError::new(format!("{node} does not exist")))
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
