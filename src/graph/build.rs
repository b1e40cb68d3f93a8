//! The [`Graph`] type, its queries, and how it is built from definitions.

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use super::cycles;
use super::node::{EdgeKind, NodeId, NodeMap};
use crate::defs::{Definitions, Diagnostics, host};

/// Nodes and typed edges; an edge points from a node to what it needs.
#[derive(Debug, Clone)]
pub struct Graph {
    pub g: DiGraph<NodeId, EdgeKind>,
    index: NodeMap<NodeIndex>,
}

impl Graph {
    pub fn node_index(&self, id: NodeId) -> Option<NodeIndex> {
        self.index.get(&id).copied()
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.index.contains_key(&id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.g.node_weights().copied()
    }

    /// What `id` needs directly, with the kind of each edge, in a stable order.
    pub fn needs(&self, id: NodeId) -> Vec<(NodeId, EdgeKind)> {
        let Some(ix) = self.node_index(id) else {
            return Vec::new();
        };
        let mut out: Vec<(NodeId, EdgeKind)> = self
            .g
            .edges_directed(ix, Direction::Outgoing)
            .map(|e| (self.g[e.target()], *e.weight()))
            .collect();
        out.sort_by_key(|(n, k)| (*k, *n));
        out
    }

    /// What needs `id` directly.
    pub fn needed_by(&self, id: NodeId) -> Vec<(NodeId, EdgeKind)> {
        let Some(ix) = self.node_index(id) else {
            return Vec::new();
        };
        let mut out: Vec<(NodeId, EdgeKind)> = self
            .g
            .edges_directed(ix, Direction::Incoming)
            .map(|e| (self.g[e.source()], *e.weight()))
            .collect();
        out.sort_by_key(|(n, k)| (*k, *n));
        out
    }

    /// All edges as (from, to, kind), `from` needing `to`, sorted.
    pub fn edges(&self) -> Vec<(NodeId, NodeId, EdgeKind)> {
        let mut out: Vec<_> = self
            .g
            .edge_references()
            .map(|e| (self.g[e.source()], self.g[e.target()], *e.weight()))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Build the graph of all guests and configured host steps. Cycles come back as
/// diagnostics, one per cycle.
pub fn build(defs: &Definitions) -> (Graph, Diagnostics) {
    let mut g = DiGraph::with_capacity(
        defs.guests.len() + defs.host_steps.len(),
        defs.guests.len() * 4,
    );
    let mut index = NodeMap::with_capacity_and_hasher(
        defs.guests.len() + defs.host_steps.len(),
        std::hash::BuildHasherDefault::default(),
    );
    for spec in &defs.host_steps {
        index.insert(NodeId::Host(spec.name), g.add_node(NodeId::Host(spec.name)));
    }
    for guest in defs.guests.values() {
        let id = NodeId::guest(guest.kind, guest.id);
        index.insert(id, g.add_node(id));
    }
    let mut graph = Graph { g, index };

    for spec in &defs.host_steps {
        for after in spec.after {
            graph.add_edge(NodeId::Host(spec.name), NodeId::Host(after), EdgeKind::Host);
        }
    }
    let zfs_storages = host::zfs_storage_ids(&defs.host);
    let host_address = host::address(&defs.host);
    // Every guest's node and the host steps' looked up once, not once per edge.
    let host = |name| graph.node_index(NodeId::Host(name));
    let (network, zfs, gpu_init, nvidia, nfs, dns) = (
        host("network"),
        host("zfs"),
        host("gpu_init"),
        host("nvidia"),
        host("nfs"),
        host("dns"),
    );
    for guest in defs.guests.values() {
        let Some(ix) = graph.node_index(NodeId::guest(guest.kind, guest.id)) else {
            continue;
        };
        if let Some(s) = defs.clone_source(guest).filter(|s| s.kind == guest.kind) {
            let source = graph.node_index(NodeId::guest(s.kind, s.id));
            graph.add_edge_at(ix, source, EdgeKind::Clone);
        }
        for (dep, _) in &guest.dependencies {
            if let Some(d) = defs.guest(*dep) {
                let needed = graph.node_index(NodeId::guest(d.kind, d.id));
                graph.add_edge_at(ix, needed, EdgeKind::Depends);
            }
        }
        graph.add_edge_at(ix, network, EdgeKind::Host);
        // A VM's storage is `vm_defaults.storage_pool`, resolved in `defs`.
        let on_zfs = guest
            .shape
            .storage_pool
            .as_deref()
            .into_iter()
            .chain(guest.mounts.volumes.iter().map(|v| v.pool.as_str()))
            .any(|s| zfs_storages.iter().any(|z| z == s));
        if on_zfs {
            graph.add_edge_at(ix, zfs, EdgeKind::Host);
        }
        if !guest.devices.gpus.is_empty() {
            graph.add_edge_at(ix, gpu_init, EdgeKind::Host);
            graph.add_edge_at(ix, nvidia, EdgeKind::Host);
        }
        if !guest.mounts.nfs.is_empty() {
            graph.add_edge_at(ix, nfs, EdgeKind::Host);
        }
        if host_address
            .as_deref()
            .is_some_and(|a| guest.net.nameservers.iter().any(|ns| ns == a))
        {
            graph.add_edge_at(ix, dns, EdgeKind::Host);
        }
    }
    let diags = cycles::report(defs, &graph);
    (graph, diags)
}

impl Graph {
    /// Adds `from → to` when both nodes exist (host steps that are not configured
    /// simply have no node).
    fn add_edge(&mut self, from: NodeId, to: NodeId, kind: EdgeKind) {
        if let Some(a) = self.node_index(from) {
            self.add_edge_at(a, self.node_index(to), kind);
        }
    }

    /// [`Graph::add_edge`] between nodes looked up already (`to`: `None` when
    /// it has no node).
    fn add_edge_at(&mut self, a: NodeIndex, to: Option<NodeIndex>, kind: EdgeKind) {
        if let Some(b) = to
            && !self.g.edges_connecting(a, b).any(|e| *e.weight() == kind)
        {
            self.g.add_edge(a, b, kind);
        }
    }
}
