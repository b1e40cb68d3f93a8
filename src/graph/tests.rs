//! The graph's rules, from a small definitions tree written to a temporary directory.

use petgraph::visit::EdgeRef;
use serde_json::{Value, json};

use super::{EdgeKind, Graph, NodeId, build};
use crate::defs::{self, Definitions, Diagnostics, layout};

const NETWORK: NodeId = NodeId::Host("network");
const ZFS: NodeId = NodeId::Host("zfs");

/// A container on `storage`, with `extra` fields on top.
fn ct(name: &str, storage: &str, extra: &Value) -> Value {
    let mut v = json!({
        "name": name, "storage_pool": storage, "memory_mb": 512, "cores": 1,
        "template": "local:vztmpl/os.tar.zst"
    });
    for (k, x) in extra.as_object().expect("extra fields are an object") {
        v[k] = x.clone();
    }
    if v.get("clone_from_ctid").is_some() {
        v.as_object_mut().expect("an object").remove("template");
    }
    v
}

fn load(lxc: &Value, vms: &Value) -> (Definitions, Graph, Diagnostics) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let write = |name: &str, v: &Value| {
        std::fs::write(dir.path().join(name), v.to_string()).expect("definitions are written");
    };
    write(
        layout::HYPERVISOR_FILE,
        &json!({
            "version": "1",
            "network": { "interfaces": { "name": "vmbr0", "address": "10.0.0.1/24" } },
            "zfs": { "pools": [{ "name": "tank" }], "datasets": [{ "pool": "tank", "name": "data" }] }
        }),
    );
    write(layout::LXC_FILE, &json!({ "lxc_configs": lxc }));
    write(
        layout::VM_FILE,
        &json!({ "vm_defaults": { "cores": 2, "memory_mb": 2048, "storage_pool": "local-lvm" },
                 "vms": vms }),
    );
    let (defs, diags) = defs::load(dir.path());
    let (graph, cycles) = build(&defs);
    let mut all = diags;
    all.extend(cycles);
    (defs, graph, all)
}

/// 900 (on ZFS) ← 901 ← 910, which depends on 920; 930 depends on 910.
/// VM 9001 is cloned from the template VM 9000.
fn tree() -> Graph {
    let lxc = json!({
        "900": ct("base", "tank-data", &json!({ "template_snapshot_name": "base" })),
        "901": ct("mid", "local-lvm", &json!({ "clone_from_ctid": 900, "template_snapshot_name": "mid" })),
        "910": ct("svc", "local-lvm", &json!({ "clone_from_ctid": 901, "dependencies": [920] })),
        "920": ct("db", "local-lvm", &json!({})),
        "930": ct("web", "local-lvm", &json!({ "dependencies": [910] })),
    });
    let vms = json!([
        { "vmid": 9000, "name": "tpl", "is_template": true, "template_image": "a.img" },
        { "vmid": 9001, "name": "vm", "clone_from_vmid": 9000 },
    ]);
    let (_, graph, diags) = load(&lxc, &vms);
    assert!(!diags.has_errors(), "{diags:#?}");
    graph
}

#[test]
fn edges_are_typed_and_point_at_what_a_node_needs() {
    let g = tree();
    assert_eq!(
        g.needs(NodeId::Ct(910)),
        vec![
            (NodeId::Ct(901), EdgeKind::Clone),
            (NodeId::Ct(920), EdgeKind::Depends),
            (NETWORK, EdgeKind::Host),
        ]
    );
    // On a ZFS storage: the ZFS host step first. On local-lvm: only the network.
    assert_eq!(
        g.needs(NodeId::Ct(900)),
        vec![(NETWORK, EdgeKind::Host), (ZFS, EdgeKind::Host)]
    );
    assert_eq!(g.needs(NodeId::Ct(920)), vec![(NETWORK, EdgeKind::Host)]);
    assert_eq!(
        g.needs(NodeId::Vm(9001)),
        vec![
            (NodeId::Vm(9000), EdgeKind::Clone),
            (NETWORK, EdgeKind::Host)
        ]
    );
    // Host steps follow the host steps they run after.
    assert_eq!(g.needs(ZFS), vec![(NETWORK, EdgeKind::Host)]);
    assert_eq!(
        g.needed_by(NodeId::Ct(910)),
        vec![(NodeId::Ct(930), EdgeKind::Depends)]
    );
    // Host steps that are not configured have no node, so nothing waits for them.
    assert!(!g.contains(NodeId::Host("nvidia")));
    assert!(g.edges().iter().all(|(_, to, _)| g.contains(*to)));
}

/// Edges reach a guest of either kind by its ID: a dependency on a VM is an
/// edge; a clone of a guest of the other kind is not (the checks say it is an
/// error), nor is a reference to a guest nobody defines.
#[test]
fn edges_reach_either_kind_but_a_clone_only_its_own() {
    let lxc = json!({
        "950": ct("svc", "local-lvm", &json!({ "clone_from_ctid": 9000, "dependencies": [9001, 777] })),
        "951": ct("two", "local-lvm", &json!({ "clone_from_ctid": 404 })),
    });
    let vms = json!([
        { "vmid": 9000, "name": "tpl", "is_template": true, "template_image": "a.img" },
        { "vmid": 9001, "name": "vm", "clone_from_vmid": 9000, "dependencies": [951] },
    ]);
    let (_, g, diags) = load(&lxc, &vms);
    assert!(
        diags.has_errors(),
        "the cross-kind clone and the unknown IDs are errors"
    );
    assert_eq!(
        g.needs(NodeId::Ct(950)),
        vec![
            (NodeId::Vm(9001), EdgeKind::Depends),
            (NETWORK, EdgeKind::Host)
        ]
    );
    assert_eq!(g.needs(NodeId::Ct(951)), vec![(NETWORK, EdgeKind::Host)]);
    assert_eq!(
        g.needs(NodeId::Vm(9001)),
        vec![
            (NodeId::Vm(9000), EdgeKind::Clone),
            (NodeId::Ct(951), EdgeKind::Depends),
            (NETWORK, EdgeKind::Host)
        ]
    );
}

#[test]
fn the_order_puts_every_node_after_what_it_needs_smallest_first() {
    let g = tree();
    let all: Vec<NodeId> = g.nodes().collect();
    let order = g.order(&all);
    assert_eq!(
        order,
        vec![
            NETWORK,
            ZFS,
            NodeId::Ct(900),
            NodeId::Ct(901),
            NodeId::Ct(920),
            NodeId::Ct(910),
            NodeId::Ct(930),
            NodeId::Vm(9000),
            NodeId::Vm(9001),
        ]
    );
    for (from, to, _) in g.edges() {
        let at = |n| order.iter().position(|x| *x == n);
        assert!(at(to) < at(from), "{to} must come before {from}");
    }
}

#[test]
fn selecting_a_target_pulls_in_what_it_needs_but_not_its_dependents() {
    let g = tree();
    assert_eq!(
        g.select(&[NodeId::Ct(910)]),
        vec![
            NETWORK,
            ZFS,
            NodeId::Ct(900),
            NodeId::Ct(901),
            NodeId::Ct(910),
            NodeId::Ct(920),
        ]
    );
    assert_eq!(
        g.select(&[NodeId::Vm(9001)]),
        vec![NETWORK, NodeId::Vm(9000), NodeId::Vm(9001)]
    );
    // A template alone does not build its clones.
    assert_eq!(
        g.select(&[NodeId::Ct(900)]),
        vec![NETWORK, ZFS, NodeId::Ct(900)]
    );
    // An order of a selection holds only the selection.
    let sel = g.select(&[NodeId::Ct(901)]);
    assert_eq!(
        g.order(&sel),
        vec![NETWORK, ZFS, NodeId::Ct(900), NodeId::Ct(901)]
    );
}

#[test]
fn every_cycle_is_reported_as_a_path() {
    let lxc = json!({
        "800": ct("a", "local-lvm", &json!({ "dependencies": [801] })),
        "801": ct("b", "local-lvm", &json!({ "dependencies": [802] })),
        "802": ct("c", "local-lvm", &json!({ "dependencies": [800] })),
        "810": ct("d", "local-lvm", &json!({ "dependencies": [811] })),
        "811": ct("e", "local-lvm", &json!({ "dependencies": [810] })),
        "820": ct("f", "local-lvm", &json!({})),
    });
    let (_, g, diags) = load(&lxc, &json!([]));
    let messages: Vec<&str> = diags
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        vec![
            "dependency cycle: ct:800 → ct:801 → ct:802 → ct:800",
            "dependency cycle: ct:810 → ct:811 → ct:810",
        ]
    );
    // Nodes caught in a cycle still come out of the order, last.
    let all: Vec<NodeId> = g.nodes().collect();
    let order = g.order(&all);
    assert_eq!(order.len(), all.len());
    assert_eq!(&order[..2], &[NETWORK, ZFS]);
    assert_eq!(order[2], NodeId::Ct(820));
}

#[test]
fn node_ids_print_and_sort_hosts_then_containers_then_vms() {
    let mut ids = vec![NodeId::Vm(100), NodeId::Ct(950), ZFS, NodeId::Ct(900)];
    ids.sort();
    assert_eq!(
        ids,
        vec![ZFS, NodeId::Ct(900), NodeId::Ct(950), NodeId::Vm(100)]
    );
    assert_eq!(ZFS.to_string(), "host:zfs");
    assert_eq!(NodeId::Vm(9000).slug(), "vm-9000");
    assert_eq!(NodeId::Ct(950).guest_id(), Some(950));
    assert_eq!(ZFS.guest_id(), None);
}

/// [`Graph::order`], worked out the plain way: again and again, the smallest
/// selected node not yet placed whose selected needs are all placed; what never
/// gets ready (a cycle) last, in ID order.
fn order_the_plain_way(g: &Graph, nodes: &[NodeId]) -> Vec<NodeId> {
    let mut selected: Vec<NodeId> = nodes.iter().copied().filter(|n| g.contains(*n)).collect();
    selected.sort();
    selected.dedup();
    let mut out: Vec<NodeId> = Vec::new();
    loop {
        let ready = selected.iter().copied().find(|n| {
            !out.contains(n)
                && g.needs(*n)
                    .iter()
                    .all(|(need, _)| !selected.contains(need) || out.contains(need))
        });
        match ready {
            Some(n) => out.push(n),
            None => break,
        }
    }
    let rest: Vec<NodeId> = selected
        .iter()
        .copied()
        .filter(|n| !out.contains(n))
        .collect();
    out.extend(rest);
    out
}

/// A small xorshift generator from `seed` (not zero): `next(below)` is a number
/// under `below`, the same sequence on every run.
pub(super) fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |below| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    }
}

#[test]
fn the_order_is_the_smallest_ready_node_first_for_any_graph_and_selection() {
    // The same graphs on every run.
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..12 {
        // 24 containers, 800 to 823, each needing up to three others (cycles too),
        // some cloned from another.
        let mut lxc = serde_json::Map::new();
        for i in 0..24u64 {
            let deps: Vec<u64> = (0..next(4))
                .map(|_| 800 + next(24))
                .filter(|d| *d != 800 + i)
                .collect();
            let mut extra = json!({ "dependencies": deps });
            if i > 0 && next(4) == 0 {
                extra["clone_from_ctid"] = json!(800 + next(i));
            }
            lxc.insert(
                (800 + i).to_string(),
                ct(&format!("c{i}"), "local-lvm", &extra),
            );
        }
        // VMs with IDs below the containers': the graph holds them first (guests
        // come in ID order), but a VM's node sorts after every container's.
        let vms: Vec<Value> = (0..3u64)
            .map(|i| json!({ "vmid": 100 + i, "name": format!("v{i}"), "dependencies": [800 + next(24)] }))
            .collect();
        let (_, g, _) = load(&Value::Object(lxc), &Value::Array(vms));
        let all: Vec<NodeId> = g.nodes().collect();
        assert!(
            !all.is_sorted(),
            "the graph's nodes are not in ID order: {all:?}"
        );
        assert_eq!(g.order(&all), order_the_plain_way(&g, &all));
        // The edges, sorted by their ends' IDs; those among some nodes, filtered.
        let mut plain: Vec<(NodeId, NodeId, EdgeKind)> =
            g.g.edge_references()
                .map(|e| (g.g[e.source()], g.g[e.target()], *e.weight()))
                .collect();
        plain.sort();
        plain.dedup();
        assert_eq!(g.edges(), plain);
        assert_eq!(g.edges_among(&all), plain);
        let among = |nodes: &[NodeId]| -> Vec<(NodeId, NodeId, EdgeKind)> {
            plain
                .iter()
                .filter(|(a, b, _)| nodes.contains(a) && nodes.contains(b))
                .copied()
                .collect()
        };
        // Every node in order is taken as it is; the same nodes in another order,
        // or all but one with an unknown ID in its place, are walked.
        let mut sorted = all.clone();
        sorted.sort();
        let reversed: Vec<NodeId> = sorted.iter().rev().copied().collect();
        assert_eq!(g.select(&sorted), g.select(&reversed));
        assert_eq!(g.select(&reversed), sorted);
        // Every node in ID order is ordered from the graph's own list; as many
        // nodes, one of them twice and another left out, are not every node.
        assert_eq!(g.order(&sorted), order_the_plain_way(&g, &sorted));
        let mut twice = sorted.clone();
        twice[1] = twice[0];
        assert_eq!(g.order(&twice), order_the_plain_way(&g, &twice));
        let twice_walked: Vec<NodeId> = twice.iter().rev().copied().collect();
        assert_eq!(g.select(&twice), g.select(&twice_walked));
        let mut unknown = sorted.clone();
        unknown.pop();
        unknown.push(NodeId::Ct(999));
        let mut walked = unknown.clone();
        walked.reverse();
        assert_eq!(g.select(&unknown), g.select(&walked));
        assert!(!g.select(&unknown).contains(&NodeId::Ct(999)));
        for _ in 0..4 {
            // A selection as callers may pass one: unsorted, repeats, an unknown ID.
            let mut pick: Vec<NodeId> = (0..next(30))
                .map(|_| all[usize::try_from(next(all.len() as u64)).expect("small")])
                .collect();
            pick.push(NodeId::Ct(999));
            assert_eq!(g.edges_among(&pick), among(&pick), "among {pick:?}");
            assert_eq!(
                g.order(&pick),
                order_the_plain_way(&g, &pick),
                "selection {pick:?}"
            );
        }
    }
}
