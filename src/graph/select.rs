//! Selecting what a build needs and ordering it.
//!
//! A selection follows edges from the targets to what they need (clone sources,
//! dependencies, host steps), never the other way: building a template does not
//! build its clones. The order is Kahn's algorithm with a heap, so among the nodes
//! that are ready the smallest [`NodeId`] comes first and the result never depends
//! on hash or insertion order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use petgraph::Direction;
use petgraph::graph::NodeIndex;

use super::build::Graph;
use super::node::NodeId;

/// The rank of a node that is not selected ([`Graph::order`]).
const NOT_SELECTED: u32 = u32::MAX;

impl Graph {
    /// The targets plus everything they need, transitively.
    ///
    /// Targets that are every node of the graph, in order (what `all` resolves
    /// to), are the selection as they are: nothing is walked.
    pub fn select(&self, targets: &[NodeId]) -> Vec<NodeId> {
        let every = targets.len() == self.g.node_count()
            && targets.windows(2).all(|w| w[0] < w[1])
            && targets.iter().all(|&t| self.contains(t));
        if every {
            return targets.to_vec();
        }
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
        // Each node once (`seen`), so an unstable sort gives the one order.
        out.sort_unstable();
        out
    }

    /// `nodes` in an order in which they can run: every node after what it needs,
    /// ties broken by [`NodeId`] order so the result is deterministic. Nodes caught in
    /// a cycle (already reported as errors) come last.
    ///
    /// The ready nodes wait in a heap of their ranks, their places among the
    /// selected nodes in [`NodeId`] order, which compare as one number and order
    /// them as their IDs would: a heap of IDs compared each pair as an enum, and
    /// looked every node up by ID twice (1.4% of a 10,000-guest plan).
    pub fn order(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        // Each selected node once, in ID order (a selection comes sorted already).
        let mut selected: Vec<(NodeId, NodeIndex)> = nodes
            .iter()
            .filter_map(|&n| self.node_index(n).map(|ix| (n, ix)))
            .collect();
        selected.sort_unstable_by_key(|&(n, _)| n);
        selected.dedup_by_key(|&mut (n, _)| n);
        let mut rank = vec![NOT_SELECTED; self.g.node_count()];
        for (r, &(_, ix)) in (0u32..).zip(&selected) {
            rank[ix.index()] = r;
        }
        // Per rank: how many of what it needs (selected) have not run yet.
        let mut pending = vec![0usize; selected.len()];
        let mut heap = BinaryHeap::new();
        for (r, &(_, ix)) in (0u32..).zip(&selected) {
            let count = self
                .g
                .neighbors_directed(ix, Direction::Outgoing)
                .filter(|d| rank[d.index()] != NOT_SELECTED)
                .count();
            pending[r as usize] = count;
            if count == 0 {
                heap.push(Reverse(r));
            }
        }
        let mut out = Vec::with_capacity(selected.len());
        while let Some(Reverse(r)) = heap.pop() {
            let (id, ix) = selected[r as usize];
            out.push(id);
            for dependent in self.g.neighbors_directed(ix, Direction::Incoming) {
                let d = rank[dependent.index()];
                if d != NOT_SELECTED {
                    let left = &mut pending[d as usize];
                    *left -= 1;
                    if *left == 0 {
                        heap.push(Reverse(d));
                    }
                }
            }
        }
        if out.len() < selected.len() {
            // Caught in a cycle: never ready, in ID order.
            out.extend(
                selected
                    .iter()
                    .zip(&pending)
                    .filter(|(_, left)| **left > 0)
                    .map(|(&(id, _), _)| id),
            );
        }
        out
    }
}
