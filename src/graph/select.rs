//! Selecting what a build needs and ordering it.
//!
//! A selection follows edges from the targets to what they need (clone sources,
//! dependencies, host steps), never the other way: building a template does not
//! build its clones. The order is Kahn's algorithm, so among the nodes that are
//! ready the smallest [`NodeId`] comes first and the result never depends on hash
//! or insertion order.

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
        if self.every_node_in_order(targets, &self.ids_in_order()) {
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

    /// Whether `nodes` are every node of the graph, each once, in ID order:
    /// the graph's nodes in ID order (`by_id`, [`Graph::ids_in_order`]), one by
    /// one. Compared in turn, not looked up by ID.
    fn every_node_in_order(&self, nodes: &[NodeId], by_id: &[NodeIndex]) -> bool {
        nodes.len() == by_id.len() && nodes.iter().zip(by_id).all(|(&n, &ix)| self.g[ix] == n)
    }

    /// `nodes` in an order in which they can run: every node after what it needs,
    /// ties broken by [`NodeId`] order so the result is deterministic. Nodes caught in
    /// a cycle (already reported as errors) come last.
    ///
    /// The ready nodes wait as their ranks, their places among the selected
    /// nodes in [`NodeId`] order, which compare as one number and order them as
    /// their IDs would (`Ready`, below): a heap of IDs compared each pair as an enum,
    /// and looked every node up by ID twice (1.4% of a 10,000-guest plan).
    pub fn order(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        // Each selected node once, in ID order (a selection comes sorted already).
        // Every node of the graph in order (what `all` selects) is the graph's
        // own list: at 100,000 guests, looking each up by ID and sorting them was
        // about 10 ms.
        let by_id = self.ids_in_order();
        let selected: Vec<(NodeId, NodeIndex)> = if self.every_node_in_order(nodes, &by_id) {
            by_id.iter().map(|&ix| (self.g[ix], ix)).collect()
        } else {
            let mut looked_up: Vec<(NodeId, NodeIndex)> = nodes
                .iter()
                .filter_map(|&n| self.node_index(n).map(|ix| (n, ix)))
                .collect();
            looked_up.sort_unstable_by_key(|&(n, _)| n);
            looked_up.dedup_by_key(|&mut (n, _)| n);
            looked_up
        };
        let mut rank = vec![NOT_SELECTED; self.g.node_count()];
        for (r, &(_, ix)) in (0u32..).zip(&selected) {
            rank[ix.index()] = r;
        }
        // Per rank: how many of what it needs (selected) have not run yet.
        let mut pending = vec![0usize; selected.len()];
        let mut ready = Ready::new(selected.len());
        for (r, &(_, ix)) in (0u32..).zip(&selected) {
            let count = self
                .g
                .neighbors_directed(ix, Direction::Outgoing)
                .filter(|d| rank[d.index()] != NOT_SELECTED)
                .count();
            pending[r as usize] = count;
            if count == 0 {
                ready.insert(r);
            }
        }
        let mut out = Vec::with_capacity(selected.len());
        while let Some(r) = ready.pop_first() {
            let (id, ix) = selected[r as usize];
            out.push(id);
            for dependent in self.g.neighbors_directed(ix, Direction::Incoming) {
                let d = rank[dependent.index()];
                if d != NOT_SELECTED {
                    let left = &mut pending[d as usize];
                    *left -= 1;
                    if *left == 0 {
                        ready.insert(d);
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

/// The ranks of the nodes ready to be placed ([`Graph::order`]), the smallest
/// taken first: a bit per rank, and a bit per word of them that has one set.
///
/// Not a binary heap, as it was: a pop is a few word operations, not a walk
/// down the heap. (At 100,000 guests the loop that places the nodes took 12
/// to 13 ms with the heap, its walks over each node's dependents included; the
/// whole stage went from 27 to 22 ms.) Ranks are taken smallest first but
/// may be put back smaller than the last taken (a node made ready by one
/// placed after it), so `from` is only where the search starts: no word of the
/// summary below it has a bit set.
struct Ready {
    words: Vec<u64>,
    summary: Vec<u64>,
    from: usize,
}

impl Ready {
    fn new(ranks: usize) -> Ready {
        let words = ranks.div_ceil(64);
        Ready {
            words: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
            from: 0,
        }
    }

    fn insert(&mut self, rank: u32) {
        let w = rank as usize / 64;
        self.words[w] |= 1 << (rank % 64);
        self.summary[w / 64] |= 1 << (w % 64);
        self.from = self.from.min(w / 64);
    }

    fn pop_first(&mut self) -> Option<u32> {
        while self.summary.get(self.from).is_some_and(|&s| s == 0) {
            self.from += 1;
        }
        let s = *self.summary.get(self.from)?;
        let w = self.from * 64 + s.trailing_zeros() as usize;
        let bit = self.words[w].trailing_zeros();
        self.words[w] &= !(1 << bit);
        if self.words[w] == 0 {
            self.summary[self.from] &= !(1 << (w % 64));
        }
        u32::try_from(w * 64).ok().map(|base| base + bit)
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use super::Ready;

    /// Put and taken in any mix, across words and summary words, the ready set
    /// gives what a min-heap of the same ranks gives.
    #[test]
    fn ready_ranks_come_out_smallest_first_as_from_a_heap() {
        let mut next = crate::graph::tests::xorshift(0x2545_f491_4f6c_dd1d);
        for size in [1u32, 63, 64, 65, 4095, 4096, 4097, 20_000] {
            let mut ready = Ready::new(size as usize);
            let mut heap = BinaryHeap::new();
            let mut placed = vec![false; size as usize];
            for _ in 0..3 * size {
                if next(3) > 0 {
                    let r = u32::try_from(next(u64::from(size))).unwrap();
                    // Each rank is made ready once, as in the order.
                    if !std::mem::replace(&mut placed[r as usize], true) {
                        ready.insert(r);
                        heap.push(Reverse(r));
                    }
                } else {
                    assert_eq!(ready.pop_first(), heap.pop().map(|Reverse(r)| r), "{size}");
                }
            }
            while let Some(Reverse(r)) = heap.pop() {
                assert_eq!(ready.pop_first(), Some(r));
            }
            assert_eq!(ready.pop_first(), None);
        }
    }
}
