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
    /// Every node, in [`NodeId`] order (the graph holds them as they were
    /// added: host steps first, then guests by number, containers and VMs
    /// mixed). Made once, as the graph is built; [`Graph::ids_in_order`].
    by_id: Vec<NodeIndex>,
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

    /// Every node, in [`NodeId`] order: as made when the graph was built, or
    /// sorted again if a node was added to [`Graph::g`] since.
    pub(super) fn ids_in_order(&self) -> std::borrow::Cow<'_, [NodeIndex]> {
        if self.by_id.len() == self.g.node_count() {
            return std::borrow::Cow::Borrowed(&self.by_id);
        }
        std::borrow::Cow::Owned(in_id_order(&self.g))
    }

    /// All edges as (from, to, kind), `from` needing `to`, sorted.
    pub fn edges(&self) -> Vec<(NodeId, NodeId, EdgeKind)> {
        self.edges_where(|_| true)
    }

    /// The edges between `nodes` (both ends among them), as [`Graph::edges`]
    /// gives them. Nodes not in the graph are left out.
    pub fn edges_among(&self, nodes: &[NodeId]) -> Vec<(NodeId, NodeId, EdgeKind)> {
        let mut among = vec![false; self.g.node_count()];
        for ix in nodes.iter().filter_map(|&n| self.node_index(n)) {
            among[ix.index()] = true;
        }
        if among.iter().all(|&a| a) {
            return self.edges();
        }
        self.edges_where(|ix| among[ix.index()])
    }

    /// The edges both of whose ends `keep`, sorted as [`Graph::edges`] says.
    ///
    /// Sorted by the ends' ranks in [`NodeId`] order, not by the IDs: the same
    /// order, but each comparison is of two numbers, not of two enums (at
    /// 10,000 guests, 20,000 edges sorted by ID were 1.4 ms of `graph`'s JSON).
    fn edges_where(&self, keep: impl Fn(NodeIndex) -> bool) -> Vec<(NodeId, NodeId, EdgeKind)> {
        let by_id = self.ids_in_order();
        let mut rank = vec![0u32; by_id.len()];
        for (r, ix) in (0u32..).zip(by_id.iter()) {
            rank[ix.index()] = r;
        }
        let mut ranked: Vec<(u32, u32, EdgeKind)> = self
            .g
            .edge_references()
            .filter(|e| keep(e.source()) && keep(e.target()))
            .map(|e| {
                let (a, b) = (e.source().index(), e.target().index());
                (rank[a], rank[b], *e.weight())
            })
            .collect();
        ranked.sort_unstable();
        ranked.dedup();
        let id = |r: u32| self.g[by_id[r as usize]];
        ranked
            .into_iter()
            .map(|(a, b, kind)| (id(a), id(b), kind))
            .collect()
    }
}

/// The nodes of `g` in [`NodeId`] order.
fn in_id_order(g: &DiGraph<NodeId, EdgeKind>) -> Vec<NodeIndex> {
    let mut by_id: Vec<NodeIndex> = g.node_indices().collect();
    by_id.sort_unstable_by_key(|&ix| g[ix]);
    by_id
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
    // Each guest's node by the guest's place ([`crate::defs::Guests::place`]),
    // and the guests with their nodes, in ID order. A guest's edges are found
    // through these, not by the IDs of the guests at their ends, so the guests
    // at the ends are not read: at 100,000 guests, reading each clone source and
    // dependency and looking its node up by ID missed the cache at every step.
    let mut by_place = vec![None; defs.guests.len()];
    let mut guests = Vec::with_capacity(defs.guests.len());
    for (place, guest) in defs.guests.placed() {
        let id = NodeId::guest(guest.kind, guest.id);
        let ix = g.add_node(id);
        index.insert(id, ix);
        by_place[place] = Some(ix);
        guests.push((guest, ix));
    }
    let node_of = |id: u32| defs.guests.place(id).and_then(|at| by_place[at]);
    let by_id = in_id_order(&g);
    let mut graph = Graph { g, index, by_id };

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
    for (guest, ix) in guests {
        // A clone of a guest of the other kind has no clone edge (it is an error
        // the checks report): the source's node says its kind.
        if let Some((source, _)) = guest.clone_from
            && let Some(s) = node_of(source)
            && graph.g[s] == NodeId::guest(guest.kind, source)
        {
            graph.add_edge_at(ix, Some(s), EdgeKind::Clone);
        }
        for (dep, _) in &guest.dependencies {
            graph.add_edge_at(ix, node_of(*dep), EdgeKind::Depends);
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
