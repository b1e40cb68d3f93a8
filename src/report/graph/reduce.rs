//! Host edges a clone edge already implies, which the views for people leave out.
//!
//! A clone starts as a copy of its source, so the host steps its source needed
//! (the GPU driver of a GPU template, the ZFS pool its disk sits on) are needed by
//! every clone down the chain; drawing them again from each clone only adds lines.
//! The rule: a guest's host edge to `h` is implied when its clone source reaches
//! `h` through clone and host edges (a host step's own `after` steps included).
//! Depends edges do not count: they order a build and say nothing of what the
//! dependent guest is made of.
//!
//! How it works: nodes come in build order, so each node's set of reachable host
//! steps is the union of its clone source's and host steps' sets, computed once.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::graph::{EdgeKind, Graph, NodeId};

/// The host edges (guest, host step, [`EdgeKind::Host`]) among `nodes` that the
/// guest's clone source already implies. `nodes` must be in build order.
pub fn implied_host_edges(graph: &Graph, nodes: &[NodeId]) -> HashSet<(NodeId, NodeId, EdgeKind)> {
    let selected: HashSet<NodeId> = nodes.iter().copied().collect();
    // Host steps each node reaches through clone and host edges.
    let mut reach: HashMap<NodeId, BTreeSet<NodeId>> = HashMap::with_capacity(nodes.len());
    let mut implied = HashSet::new();
    for &id in nodes {
        let needs = graph.needs(id);
        let mut set = BTreeSet::new();
        for &(to, kind) in &needs {
            if !selected.contains(&to) || kind == EdgeKind::Depends {
                continue;
            }
            if matches!(to, NodeId::Host(_)) {
                set.insert(to);
            }
            if let Some(r) = reach.get(&to) {
                set.extend(r.iter().copied());
            }
        }
        let source = needs
            .iter()
            .find(|(to, k)| *k == EdgeKind::Clone && selected.contains(to))
            .and_then(|(to, _)| reach.get(to));
        if let Some(from_source) = source {
            for &(to, kind) in &needs {
                if kind == EdgeKind::Host && from_source.contains(&to) {
                    implied.insert((id, to, kind));
                }
            }
        }
        reach.insert(id, set);
    }
    implied
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::defs;

    /// Definitions from JSON in a temporary directory, with their graph.
    fn load(lxc: &serde_json::Value, host: &serde_json::Value) -> (defs::Definitions, Graph) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("phoenix_lxc_configs.json"),
            json!({ "lxc_configs": lxc }).to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("phoenix_hypervisor_config.json"),
            host.to_string(),
        )
        .unwrap();
        let (d, _) = defs::load(dir.path());
        let (g, _) = crate::graph::build(&d);
        (d, g)
    }

    fn ct(extra: &serde_json::Value) -> serde_json::Value {
        let mut v = json!({"name": "c", "memory_mb": 512, "cores": 1, "storage_pool": "local-lvm",
            "storage_size_gb": 4, "template": "local:vztmpl/x.tar.zst",
            "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn a_clone_does_not_repeat_its_sources_host_steps_but_keeps_its_own() {
        let lxc = json!({
            "900": ct(&json!({})),
            "901": ct(&json!({"clone_from_ctid": "900", "gpu_assignment": "0"})),
            "910": ct(&json!({"clone_from_ctid": "901", "gpu_assignment": "0"})),
            "920": ct(&json!({"clone_from_ctid": "900", "gpu_assignment": "0"})),
        });
        let host = json!({"version": "1", "timezone": "UTC", "nvidia_driver": {"install": true}});
        let (_d, g) = load(&lxc, &host);
        let all: Vec<NodeId> = g.nodes().collect();
        let order = g.order(&all);
        let implied = implied_host_edges(&g, &order);
        let has = |from: NodeId, to: NodeId| g.needs(from).contains(&(to, EdgeKind::Host));
        let network = NodeId::Host("network");
        // Every guest needs the network; only 900, whose chain starts there, says so.
        for n in [900, 901, 910, 920] {
            assert!(has(NodeId::Ct(n), network), "ct:{n} needs the network");
        }
        assert!(!implied.contains(&(NodeId::Ct(900), network, EdgeKind::Host)));
        for n in [901, 910, 920] {
            assert!(implied.contains(&(NodeId::Ct(n), network, EdgeKind::Host)));
        }
        // GPU steps: 901 brings them into its chain, so 910 inherits them; 920
        // clones 900, which has no GPU, so its GPU edges stay.
        let gpu_steps: Vec<NodeId> = g
            .needs(NodeId::Ct(901))
            .into_iter()
            .filter(|(n, k)| *k == EdgeKind::Host && *n != network)
            .map(|(n, _)| n)
            .collect();
        assert!(!gpu_steps.is_empty(), "901 needs GPU host steps");
        for h in gpu_steps {
            assert!(!implied.contains(&(NodeId::Ct(901), h, EdgeKind::Host)));
            assert!(implied.contains(&(NodeId::Ct(910), h, EdgeKind::Host)));
            assert!(has(NodeId::Ct(920), h));
            assert!(!implied.contains(&(NodeId::Ct(920), h, EdgeKind::Host)));
        }
    }
}
