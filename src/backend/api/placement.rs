//! Which node a new guest goes to. Only a guest that does not exist yet is
//! placed: an existing guest stays where it is, however the nodes' load changes
//! (moving one is a `node` change in its definition, a migration).
//!
//! The rules, in order:
//! 1. a guest whose definition names a `node` goes there (it must be an online
//!    member with the guest's storage);
//! 2. a guest made again (a replace) stays on the node it is on;
//! 3. a clone goes to the node of its source when it is a linked clone (it shares
//!    the template's disks) or its storage is local to a node: Proxmox clones on
//!    the source's node and moves only the config to a `target`, and refuses that
//!    when a volume is on storage that is not shared (pve-container
//!    `PVE::API2::LXC` `clone_vm`: "can't clone CT to node '$target' (CT uses
//!    local storage)"; qemu-server `clone_vm` says the same of a VM);
//! 4. otherwise the online node with the most free memory among those that have
//!    the guest's storage; ties go to the first name.
//!
//! The free memory comes from one `GET /cluster/resources` read when the first
//! guest of a run is placed; every guest placed then counts against its node, so
//! guests placed together spread out instead of all going to the node that was
//! emptiest at the start. A guest asked about twice gets the same answer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

const MIB: u64 = 1024 * 1024;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What the definition says about where a new guest should go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wish {
    pub vmid: u32,
    /// The definition's `node`.
    pub pin: Option<String>,
    /// The clone source's ID.
    pub source: Option<u32>,
    /// A linked clone (shares its source's disks).
    pub linked: bool,
    /// The storage its disks go to.
    pub storage: Option<String>,
    pub memory_mb: u64,
    /// The node it is on now, when it is made again (a replace).
    pub home: Option<String>,
}

/// Where a guest goes and why (shown in its log and the build's summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub node: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Node {
    online: bool,
    free: u64,
}

/// The nodes as placement sees them.
#[derive(Debug, Clone, Default)]
pub struct Capacity {
    nodes: BTreeMap<String, Node>,
    /// storage → (shared, nodes that have it).
    storages: HashMap<String, (bool, BTreeSet<String>)>,
    placed: HashMap<u32, Placed>,
}

impl Capacity {
    /// From a `GET /cluster/resources` answer (its `node` and `storage` entries).
    pub fn read(resources: &Value) -> Capacity {
        let mut cap = Capacity::default();
        for r in resources.as_array().into_iter().flatten() {
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            let num = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
            match text("type") {
                "node" => {
                    cap.nodes.insert(
                        text("node").to_string(),
                        Node {
                            online: text("status") == "online",
                            free: num("maxmem").saturating_sub(num("mem")),
                        },
                    );
                }
                "storage" => {
                    let entry = cap
                        .storages
                        .entry(text("storage").to_string())
                        .or_insert((false, BTreeSet::new()));
                    entry.0 |= num("shared") == 1;
                    entry.1.insert(text("node").to_string());
                }
                _ => {}
            }
        }
        cap
    }

    fn has_storage(&self, node: &str, storage: Option<&str>) -> bool {
        match storage {
            None => true,
            // A storage the cluster does not list: Proxmox's own error says so.
            Some(s) => self.storages.get(s).is_none_or(|(_, on)| on.contains(node)),
        }
    }

    /// Whether `storage` is shared between nodes.
    pub fn shared(&self, storage: &str) -> bool {
        self.storages
            .get(storage)
            .is_some_and(|(shared, _)| *shared)
    }

    fn check_node(&self, node: &str, w: &Wish, why: &str) -> Result<(), String> {
        let Some(n) = self.nodes.get(node) else {
            let known: Vec<&String> = self.nodes.keys().collect();
            return Err(format!(
                "guest {}: {why} is `{node}`, which is not a node of the cluster (its nodes: {})",
                w.vmid,
                known
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if !n.online {
            return Err(format!(
                "guest {}: {why} is `{node}`, which is offline",
                w.vmid
            ));
        }
        if let Some(s) = w.storage.as_deref()
            && !self.has_storage(node, Some(s))
        {
            return Err(format!(
                "guest {}: {why} is `{node}`, which has no storage `{s}`; use a storage that node has, or another node",
                w.vmid
            ));
        }
        Ok(())
    }

    /// Where `vmid` was placed, if it was.
    pub fn already(&self, vmid: u32) -> Option<Placed> {
        self.placed.get(&vmid).cloned()
    }

    /// Place `w`; `source_node` is where its clone source is.
    pub fn place(&mut self, w: &Wish, source_node: Option<&str>) -> Result<Placed, String> {
        if let Some(p) = self.placed.get(&w.vmid) {
            return Ok(p.clone());
        }
        let local_storage = w.storage.as_deref().is_some_and(|s| !self.shared(s));
        let placed = if let Some(pin) = &w.pin {
            self.check_node(pin, w, "its `node`")?;
            if let (Some(src), Some(from)) = (w.source, source_node)
                && from != pin
                && (w.linked || local_storage)
            {
                return Err(linked_elsewhere(src, from, w.vmid, pin));
            }
            Placed {
                node: pin.clone(),
                reason: "its definition's `node`".into(),
            }
        } else if let Some(home) = w
            .home
            .as_ref()
            .filter(|h| self.nodes.get(*h).is_some_and(|n| n.online))
        {
            Placed {
                node: home.clone(),
                reason: "the node it is on (made again where it was)".into(),
            }
        } else if let (Some(src), Some(from)) = (w.source, source_node)
            && (w.linked || local_storage)
        {
            self.check_node(from, w, &format!("the node of its clone source {src}"))?;
            Placed {
                node: from.to_string(),
                reason: if w.linked {
                    format!("the node of its clone source {src} (a linked clone shares its disks)")
                } else {
                    format!(
                        "the node of its clone source {src} (storage `{}` is local to that node)",
                        w.storage.as_deref().unwrap_or_default()
                    )
                },
            }
        } else {
            let best = self
                .nodes
                .iter()
                .filter(|(name, n)| n.online && self.has_storage(name, w.storage.as_deref()))
                .max_by(|a, b| a.1.free.cmp(&b.1.free).then_with(|| b.0.cmp(a.0)));
            let Some((name, n)) = best else {
                return Err(format!(
                    "guest {}: no online node has storage `{}`",
                    w.vmid,
                    w.storage.as_deref().unwrap_or("(any)")
                ));
            };
            Placed {
                node: name.clone(),
                reason: format!(
                    "the most free memory ({:.1} GiB) of the online nodes{}",
                    n.free as f64 / GIB,
                    w.storage
                        .as_deref()
                        .map(|s| format!(" with storage `{s}`"))
                        .unwrap_or_default()
                ),
            }
        };
        if let Some(n) = self.nodes.get_mut(&placed.node) {
            n.free = n.free.saturating_sub(w.memory_mb * MIB);
        }
        self.placed.insert(w.vmid, placed.clone());
        Ok(placed)
    }
}

/// Why a clone cannot be made on another node than its source's.
pub fn linked_elsewhere(source: u32, from: &str, newid: u32, to: &str) -> String {
    format!(
        "guest {newid} cannot be cloned from {source} on {from} onto {to}: Proxmox clones on the \
         source's node and moves only the config, which it refuses for a linked clone or a disk \
         on storage that is not shared (pve-container clone_vm: \"can't clone CT to node '{to}' \
         (CT uses local storage)\"); set `node` to {from}, or give the clone a shared storage \
         and a full copy"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster() -> Capacity {
        let gib = 1024 * 1024 * 1024u64;
        Capacity::read(&json!([
            {"type": "node", "node": "pve1", "status": "online", "maxmem": 64 * gib, "mem": 40 * gib},
            {"type": "node", "node": "pve2", "status": "online", "maxmem": 64 * gib, "mem": 10 * gib},
            {"type": "node", "node": "pve3", "status": "online", "maxmem": 64 * gib, "mem": 12 * gib},
            {"type": "node", "node": "pve4", "status": "offline"},
            {"type": "storage", "node": "pve1", "storage": "local-lvm", "shared": 0},
            {"type": "storage", "node": "pve2", "storage": "local-lvm", "shared": 0},
            {"type": "storage", "node": "pve3", "storage": "local-lvm", "shared": 0},
            {"type": "storage", "node": "pve1", "storage": "ceph", "shared": 1},
            {"type": "storage", "node": "pve3", "storage": "ceph", "shared": 1},
            {"type": "vm", "vmid": 100, "node": "pve1"}
        ]))
    }

    fn wish(vmid: u32) -> Wish {
        Wish {
            vmid,
            storage: Some("local-lvm".into()),
            memory_mb: 4096,
            ..Wish::default()
        }
    }

    #[test]
    fn a_new_guest_goes_where_memory_is_and_the_next_counts_it() {
        let mut c = cluster();
        let p = c.place(&wish(101), None).unwrap();
        assert_eq!(p.node, "pve2");
        assert!(p.reason.contains("54.0 GiB"), "{}", p.reason);
        // pve2 has 50 GiB left, pve3 52: the next goes to pve3.
        assert_eq!(
            c.place(
                &Wish {
                    memory_mb: 4096,
                    ..wish(102)
                },
                None
            )
            .unwrap()
            .node,
            "pve3"
        );
        // Asked again, the same answer, nothing counted twice.
        assert_eq!(c.place(&wish(101), None).unwrap().node, "pve2");
        // Only nodes with the storage: ceph is on pve1 and pve3.
        let on_ceph = Wish {
            storage: Some("ceph".into()),
            ..wish(103)
        };
        assert_eq!(c.place(&on_ceph, None).unwrap().node, "pve3");
    }

    #[test]
    fn a_clone_stays_with_its_source_when_linked_or_local() {
        let mut c = cluster();
        let linked = Wish {
            source: Some(100),
            linked: true,
            storage: Some("ceph".into()),
            ..wish(200)
        };
        let p = c.place(&linked, Some("pve1")).unwrap();
        assert_eq!(p.node, "pve1");
        assert!(p.reason.contains("linked clone"), "{}", p.reason);
        let local = Wish {
            source: Some(100),
            ..wish(201)
        };
        let p = c.place(&local, Some("pve1")).unwrap();
        assert_eq!(
            (p.node.as_str(), p.reason.contains("local to that node")),
            ("pve1", true)
        );
        // A full copy on shared storage goes where memory is.
        let full = Wish {
            source: Some(100),
            storage: Some("ceph".into()),
            ..wish(202)
        };
        assert_eq!(c.place(&full, Some("pve1")).unwrap().node, "pve3");
    }

    #[test]
    fn a_pin_is_kept_and_impossible_ones_are_refused_with_the_fix() {
        let mut c = cluster();
        let pinned = Wish {
            pin: Some("pve1".into()),
            ..wish(300)
        };
        assert_eq!(
            c.place(&pinned, None).unwrap().reason,
            "its definition's `node`"
        );
        let err = c
            .place(
                &Wish {
                    pin: Some("pve9".into()),
                    ..wish(301)
                },
                None,
            )
            .unwrap_err();
        assert!(
            err.contains("not a node of the cluster (its nodes: pve1, pve2, pve3, pve4)"),
            "{err}"
        );
        let err = c
            .place(
                &Wish {
                    pin: Some("pve4".into()),
                    ..wish(302)
                },
                None,
            )
            .unwrap_err();
        assert!(err.contains("offline"), "{err}");
        let err = c
            .place(
                &Wish {
                    pin: Some("pve2".into()),
                    storage: Some("ceph".into()),
                    ..wish(303)
                },
                None,
            )
            .unwrap_err();
        assert!(err.contains("has no storage `ceph`"), "{err}");
        let err = c
            .place(
                &Wish {
                    pin: Some("pve2".into()),
                    source: Some(100),
                    linked: true,
                    ..wish(304)
                },
                Some("pve1"),
            )
            .unwrap_err();
        assert!(err.contains("set `node` to pve1"), "{err}");
    }
}
