//! The dependency graph: `host:`, `ct:` and `vm:` nodes with typed edges.
//!
//! Edges point from a node to what it needs (`ct:950 → ct:920`), and carry their
//! meaning: **clone** (content: the source's output key enters the clone's key),
//! **depends** (order only: the dependency is built and running first), and **host**
//! (the host step runs first; content only where the guest consumes a host value,
//! which the key module handles). Unknown references were reported by `defs` and are
//! left out here; cycles are reported here, every one of them, as paths.

mod cycles;
pub mod target;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::defs::{Definitions, Diagnostics, GuestKind, host};

/// A node's identity, printed as `host:zfs`, `ct:950`, `vm:9000`. Ordered hosts
/// first, then containers, then VMs, each by name or ID, which keeps every listing stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeId {
    Host(&'static str),
    Ct(u32),
    Vm(u32),
}

impl NodeId {
    pub fn guest(kind: GuestKind, id: u32) -> NodeId {
        match kind {
            GuestKind::Ct => NodeId::Ct(id),
            GuestKind::Vm => NodeId::Vm(id),
        }
    }

    pub fn guest_id(self) -> Option<u32> {
        match self {
            NodeId::Ct(id) | NodeId::Vm(id) => Some(id),
            NodeId::Host(_) => None,
        }
    }

    pub fn kind_name(self) -> &'static str {
        match self {
            NodeId::Host(_) => "host",
            NodeId::Ct(_) => "ct",
            NodeId::Vm(_) => "vm",
        }
    }

    /// A name safe for file names and diagram identifiers: `ct-950`.
    pub fn slug(self) -> String {
        match self {
            NodeId::Host(s) => format!("host-{s}"),
            NodeId::Ct(id) => format!("ct-{id}"),
            NodeId::Vm(id) => format!("vm-{id}"),
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeId::Host(s) => write!(f, "host:{s}"),
            NodeId::Ct(id) => write!(f, "ct:{id}"),
            NodeId::Vm(id) => write!(f, "vm:{id}"),
        }
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    Clone,
    Depends,
    Host,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Clone => "clone",
            EdgeKind::Depends => "depends",
            EdgeKind::Host => "host",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub g: DiGraph<NodeId, EdgeKind>,
    index: HashMap<NodeId, NodeIndex>,
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

    /// The targets plus everything they need, transitively.
    pub fn select(&self, targets: &[NodeId]) -> Vec<NodeId> {
        let mut seen = vec![false; self.g.node_count()];
        let mut stack: Vec<NodeIndex> =
            targets.iter().filter_map(|t| self.node_index(*t)).collect();
        let mut out = Vec::new();
        while let Some(ix) = stack.pop() {
            if std::mem::replace(&mut seen[ix.index()], true) {
                continue;
            }
            out.push(self.g[ix]);
            stack.extend(self.g.neighbors_directed(ix, Direction::Outgoing));
        }
        out.sort();
        out
    }

    /// `nodes` in an order in which they can run: every node after what it needs,
    /// ties broken by [`NodeId`] order so the result is deterministic. Nodes caught in
    /// a cycle (already reported as errors) come last.
    pub fn order(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        let mut selected = vec![false; self.g.node_count()];
        for n in nodes {
            if let Some(ix) = self.node_index(*n) {
                selected[ix.index()] = true;
            }
        }
        let mut pending = vec![0usize; self.g.node_count()];
        let mut heap = BinaryHeap::new();
        for n in nodes {
            let Some(ix) = self.node_index(*n) else {
                continue;
            };
            let count = self
                .g
                .neighbors_directed(ix, Direction::Outgoing)
                .filter(|d| selected[d.index()])
                .count();
            pending[ix.index()] = count;
            if count == 0 {
                heap.push(Reverse((self.g[ix], ix)));
            }
        }
        let mut out = Vec::with_capacity(nodes.len());
        let mut done = vec![false; self.g.node_count()];
        while let Some(Reverse((id, ix))) = heap.pop() {
            if std::mem::replace(&mut done[ix.index()], true) {
                continue;
            }
            out.push(id);
            for dependent in self.g.neighbors_directed(ix, Direction::Incoming) {
                if selected[dependent.index()] && !done[dependent.index()] {
                    pending[dependent.index()] -= 1;
                    if pending[dependent.index()] == 0 {
                        heap.push(Reverse((self.g[dependent], dependent)));
                    }
                }
            }
        }
        if out.len() < nodes.len() {
            let mut rest: Vec<NodeId> = nodes
                .iter()
                .copied()
                .filter(|n| self.node_index(*n).is_some_and(|ix| !done[ix.index()]))
                .collect();
            rest.sort();
            rest.dedup();
            out.extend(rest);
        }
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
    let mut index = HashMap::with_capacity(defs.guests.len() + defs.host_steps.len());
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
    let vm_storage = defs
        .vm_defaults
        .get("storage_pool")
        .and_then(serde_json::Value::as_str);
    for guest in defs.guests.values() {
        let id = NodeId::guest(guest.kind, guest.id);
        if let Some((src, _)) = &guest.clone_from
            && let Some(s) = defs.guest(*src).filter(|s| s.kind == guest.kind)
        {
            graph.add_edge(id, NodeId::guest(s.kind, s.id), EdgeKind::Clone);
        }
        for (dep, _) in &guest.dependencies {
            if let Some(d) = defs.guest(*dep) {
                graph.add_edge(id, NodeId::guest(d.kind, d.id), EdgeKind::Depends);
            }
        }
        graph.add_edge(id, NodeId::Host("network"), EdgeKind::Host);
        let storage = match guest.kind {
            GuestKind::Ct => guest.storage_pool.as_deref(),
            GuestKind::Vm => vm_storage,
        };
        let on_zfs = storage
            .into_iter()
            .chain(guest.extra_storages.iter().map(String::as_str))
            .any(|s| zfs_storages.iter().any(|z| z == s));
        if on_zfs {
            graph.add_edge(id, NodeId::Host("zfs"), EdgeKind::Host);
        }
        if !guest.gpus.is_empty() {
            graph.add_edge(id, NodeId::Host("gpu_init"), EdgeKind::Host);
            graph.add_edge(id, NodeId::Host("nvidia"), EdgeKind::Host);
        }
        if guest.nfs_volumes {
            graph.add_edge(id, NodeId::Host("nfs"), EdgeKind::Host);
        }
        if host_address
            .as_deref()
            .is_some_and(|a| host::uses_host_resolver(&guest.raw, a))
        {
            graph.add_edge(id, NodeId::Host("dns"), EdgeKind::Host);
        }
    }
    let diags = cycles::report(defs, &graph);
    (graph, diags)
}

impl Graph {
    /// Adds `from → to` when both nodes exist (host steps that are not configured
    /// simply have no node).
    fn add_edge(&mut self, from: NodeId, to: NodeId, kind: EdgeKind) {
        if let (Some(a), Some(b)) = (self.node_index(from), self.node_index(to))
            && !self.g.edges_connecting(a, b).any(|e| *e.weight() == kind)
        {
            self.g.add_edge(a, b, kind);
        }
    }
}
