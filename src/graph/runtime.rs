//! Running-time order: which guests `phoenix start` and `stop` touch, and in
//! which order.
//!
//! Only `depends` edges matter while guests run: a guest needs the guests it
//! depends on to be running first. The template it was cloned from need not run
//! (a clone edge is content, not running time), and host steps have nothing to
//! start. So `start` takes the targets and what they depend on, transitively
//! ([`Graph::start_selection`]), but not through a template: a template never
//! starts, so what it depends on is not needed for it. `stop` takes the targets
//! and everything that depends on them, transitively ([`Graph::stop_selection`]),
//! never what they depend on.
//!
//! The order ([`Graph::schedule`]) is a list of groups that start (or stop)
//! together. A guest's group comes after the groups of the guests it must wait
//! for: at start, those it depends on; at stop, those that depend on it. Among the
//! guests whose turn it is, the boot order decides which group goes next, as
//! Proxmox orders a host's boot ([`BootPlace`]): `start_at_boot` guests first, by
//! `boot_order` (without one, last), and the group is every ready guest at that
//! same place. Stopping goes the other way: the place that starts last stops
//! first. Within a group guests go by ID, ascending at start, descending at stop
//! (the executor may run a group's guests in parallel; with `-j 1`, in this order).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::build::Graph;
use super::node::{EdgeKind, NodeId};
use crate::defs::Guest;

/// Where a guest stands in the boot order: `start_at_boot` guests (`later:
/// false`) before the others, then by `boot_order`, a guest without one last.
/// VMs and containers alike, each by its own definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BootPlace {
    pub later: bool,
    pub order: u64,
}

impl BootPlace {
    pub fn of(g: &Guest) -> BootPlace {
        BootPlace {
            later: !g.settings.start_at_boot,
            order: g.settings.boot_order.unwrap_or(u64::MAX),
        }
    }
}

/// Which way guests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Start,
    Stop,
}

/// The order of one `start` or `stop` (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Groups in order; each guest of a group only after every earlier group.
    pub groups: Vec<Vec<NodeId>>,
    /// For each guest, the guests of the schedule it must wait for (directly).
    pub waits_for: HashMap<NodeId, Vec<NodeId>>,
}

impl Schedule {
    /// Every guest in order.
    pub fn order(&self) -> Vec<NodeId> {
        self.groups.iter().flatten().copied().collect()
    }

    /// The guests that wait for `node`, directly or through others: what cannot
    /// go once `node` failed.
    pub fn behind(&self, node: NodeId) -> Vec<NodeId> {
        let mut out = BTreeSet::new();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            for (waiting, on) in &self.waits_for {
                if on.contains(&n) && out.insert(*waiting) {
                    stack.push(*waiting);
                }
            }
        }
        out.into_iter().collect()
    }
}

impl Graph {
    /// What `id` depends on (`depends` edges only).
    pub fn depends_on(&self, id: NodeId) -> Vec<NodeId> {
        self.needs(id)
            .into_iter()
            .filter(|(_, k)| *k == EdgeKind::Depends)
            .map(|(n, _)| n)
            .collect()
    }

    /// What depends on `id` (`depends` edges only).
    pub fn depended_on_by(&self, id: NodeId) -> Vec<NodeId> {
        self.needed_by(id)
            .into_iter()
            .filter(|(_, k)| *k == EdgeKind::Depends)
            .map(|(n, _)| n)
            .collect()
    }

    /// The guests `start` touches: the guest targets and, with `deps`, what they
    /// depend on, transitively; a template is included but not followed.
    pub fn start_selection(
        &self,
        targets: &[NodeId],
        deps: bool,
        is_template: impl Fn(NodeId) -> bool,
    ) -> Vec<NodeId> {
        let follow = |n: NodeId| {
            if deps && !is_template(n) {
                self.depends_on(n)
            } else {
                Vec::new()
            }
        };
        self.closure(targets, follow)
    }

    /// The guests `stop` touches: the guest targets and everything that depends
    /// on them, transitively.
    pub fn stop_selection(&self, targets: &[NodeId]) -> Vec<NodeId> {
        self.closure(targets, |n| self.depended_on_by(n))
    }

    /// `targets` (guests only) and what `next` leads to from them, sorted.
    fn closure(&self, targets: &[NodeId], next: impl Fn(NodeId) -> Vec<NodeId>) -> Vec<NodeId> {
        let mut seen: BTreeSet<NodeId> = BTreeSet::new();
        let mut stack: Vec<NodeId> = targets
            .iter()
            .copied()
            .filter(|t| t.guest_id().is_some() && self.contains(*t))
            .collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(next(n));
            }
        }
        seen.into_iter().collect()
    }

    /// `nodes` in groups, in the order `way` takes them (see the module doc).
    pub fn schedule(
        &self,
        nodes: &[NodeId],
        way: Way,
        place: impl Fn(NodeId) -> BootPlace,
    ) -> Schedule {
        let set: BTreeSet<NodeId> = nodes.iter().copied().collect();
        let waits_for: HashMap<NodeId, Vec<NodeId>> = set
            .iter()
            .map(|&n| {
                let before = match way {
                    Way::Start => self.depends_on(n),
                    Way::Stop => self.depended_on_by(n),
                };
                let before = before
                    .into_iter()
                    .filter(|b| *b != n && set.contains(b))
                    .collect();
                (n, before)
            })
            .collect();
        let mut done: HashSet<NodeId> = HashSet::new();
        let mut groups = Vec::new();
        while done.len() < set.len() {
            let left = set.iter().copied().filter(|n| !done.contains(n));
            let ready: Vec<NodeId> = left
                .clone()
                .filter(|n| waits_for[n].iter().all(|b| done.contains(b)))
                .collect();
            let mut group: Vec<NodeId> = if ready.is_empty() {
                // Only a cycle (an error of the definitions, reported when they
                // load) leaves nothing ready: the rest goes together.
                left.collect()
            } else {
                let places = ready.iter().map(|n| place(*n));
                let next = match way {
                    Way::Start => places.min(),
                    Way::Stop => places.max(),
                };
                ready
                    .into_iter()
                    .filter(|n| Some(place(*n)) == next)
                    .collect()
            };
            group.sort_by_key(|n| (n.guest_id(), *n));
            if way == Way::Stop {
                group.reverse();
            }
            done.extend(group.iter().copied());
            groups.push(group);
        }
        Schedule { groups, waits_for }
    }
}
