//! The graph as a tree, the way `cargo tree` prints one: each guest nothing else
//! clones at the top, and under it the template chain it is cloned from, down to
//! the base template. A node's other needs ride on its line:
//!
//! ```text
//! ct:950 vllm-demo  (depends: vm:1002)
//! └── ct:920 tmpl-vllm
//!     └── ct:901 tmpl-gpu  (host: gpu_init, nvidia)
//!         └── ct:900 tmpl-base  (host: network)
//! ct:951 vllm-embed
//! └── ct:920 (*)
//! host:network host network, bridge and time zone
//! ```
//!
//! A node met again is printed as `ct:920 (*)`: its chain is above. The targets'
//! trees come first, then those of the other guests the selection holds (what
//! the targets depend on), then the host steps, as lines of their own. Host edges a clone edge implies are left out
//! as in the diagrams (`reduce`), unless `--all-edges`. States show as colours
//! ([`Marks::colors`]) and as words ([`Marks::words`], `--state`).

use std::collections::HashSet;

use super::{NodeState, View};
use crate::graph::{EdgeKind, NodeId};

/// How the tree shows node states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// Colour each node by its state (ANSI escapes, for a terminal).
    pub colors: bool,
    /// Write the state after the name: `[stale]`.
    pub words: bool,
}

/// ANSI SGR codes of a state's colour.
fn sgr(state: NodeState) -> &'static str {
    match state {
        NodeState::Fresh => "32",
        NodeState::Stale => "33",
        NodeState::Missing => "2",
        NodeState::Failed => "1;31",
    }
}

struct Printer<'a> {
    v: &'a View<'a>,
    marks: Marks,
    selected: HashSet<NodeId>,
    drawn: HashSet<(NodeId, NodeId, EdgeKind)>,
    seen: HashSet<NodeId>,
    out: String,
}

impl Printer<'_> {
    /// `text` in the colour of `id`'s state, when colouring.
    fn paint(&self, id: NodeId, text: &str) -> String {
        match self.v.shown_state(id) {
            Some(s) if self.marks.colors => format!("\x1b[{}m{text}\x1b[0m", sgr(s)),
            _ => text.to_string(),
        }
    }

    /// The clone sources of `id` among the selected nodes (one at most).
    fn children(&self, id: NodeId) -> Vec<NodeId> {
        self.v
            .graph
            .needs(id)
            .into_iter()
            .filter(|(n, k)| *k == EdgeKind::Clone && self.selected.contains(n))
            .map(|(n, _)| n)
            .collect()
    }

    /// `  (depends: vm:1002; host: gpu_init)`, or nothing.
    fn suffix(&self, id: NodeId) -> String {
        let mut depends = Vec::new();
        let mut hosts = Vec::new();
        for (n, k) in self.v.graph.needs(id) {
            if !self.drawn.contains(&(id, n, k)) {
                continue;
            }
            match (k, n) {
                (EdgeKind::Depends, _) => depends.push(n.to_string()),
                (EdgeKind::Host, NodeId::Host(h)) => hosts.push(h.to_string()),
                _ => {}
            }
        }
        let mut parts = Vec::new();
        if !depends.is_empty() {
            parts.push(format!("depends: {}", depends.join(", ")));
        }
        if !hosts.is_empty() {
            parts.push(format!("host: {}", hosts.join(", ")));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("  ({})", parts.join("; "))
        }
    }

    fn line(&mut self, id: NodeId, prefix: &str, branch: &str) {
        let repeat = !self.seen.insert(id);
        let mut text = format!("{prefix}{branch}");
        if repeat {
            text.push_str(&self.paint(id, &id.to_string()));
            text.push_str(" (*)\n");
            self.out.push_str(&text);
            return;
        }
        let name = self.v.name(id);
        let label = if name.is_empty() {
            id.to_string()
        } else {
            format!("{id} {name}")
        };
        text.push_str(&self.paint(id, &label));
        if self.marks.words
            && let Some(s) = self.v.shown_state(id)
        {
            text.push_str(&format!(" [{}]", s.as_str()));
        }
        text.push_str(&self.suffix(id));
        text.push('\n');
        self.out.push_str(&text);
        let below = match branch {
            "" => prefix.to_string(),
            "└── " => format!("{prefix}    "),
            _ => format!("{prefix}│   "),
        };
        let children = self.children(id);
        let last = children.len().saturating_sub(1);
        for (i, child) in children.into_iter().enumerate() {
            self.line(
                child,
                &below,
                if i == last {
                    "└── "
                } else {
                    "├── "
                },
            );
        }
    }
}

/// The tree of the view's nodes, marked as `marks` says. The trees of `targets`
/// come first, then those of the other guests nothing clones, then the host steps.
pub fn tree(v: &View, targets: &[NodeId], marks: Marks) -> String {
    let selected: HashSet<NodeId> = v.nodes.iter().copied().collect();
    let drawn = v.drawn_edges().into_iter().collect();
    let mut p = Printer {
        v,
        marks,
        selected,
        drawn,
        seen: HashSet::new(),
        out: String::new(),
    };
    let cloned: HashSet<NodeId> = v.nodes.iter().flat_map(|&id| p.children(id)).collect();
    let mut guests: Vec<NodeId> = v
        .nodes
        .iter()
        .copied()
        .filter(|id| id.guest_id().is_some() && !cloned.contains(id))
        .collect();
    guests.sort_by_key(|id| (!targets.contains(id), *id));
    let mut hosts: Vec<NodeId> = v
        .nodes
        .iter()
        .copied()
        .filter(|id| id.guest_id().is_none())
        .collect();
    // Stable: build order among the host steps.
    hosts.sort_by_key(|id| !targets.contains(id));
    for root in guests.into_iter().chain(hosts) {
        p.line(root, "", "");
    }
    if marks.colors && v.states.is_some() {
        let legend: Vec<String> = NodeState::ALL
            .iter()
            .map(|&s| format!("\x1b[{}m{}\x1b[0m", sgr(s), s.as_str()))
            .collect();
        p.out
            .push_str(&format!("\nstates: {}\n", legend.join("  ")));
    }
    p.out
}
