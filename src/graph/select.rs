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

impl Graph {
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
