//! The graph for people and machines: a tree (`cargo tree`-style, the default on a
//! terminal), a table of nodes (`text`), Graphviz DOT, Mermaid, JSON, and a
//! self-contained HTML page with the graph drawn and every node's plan a click away.
//!
//! In JSON, edges are stated as the model has them: `from` needs `to`. The diagrams
//! draw them the way operators draw template chains, from what is needed to what
//! needs it (`ct:900 ==> ct:901`), so a chain reads top to bottom. Edge kinds look
//! different: clone edges are bold, depends edges dashed, host edges dotted.
//!
//! The views for people (tree, DOT, Mermaid, HTML) leave out the host edges a clone
//! edge already implies (`reduce`) unless [`View::all_edges`]; the machine formats
//! (text, JSON) always list every edge.
//!
//! Layout: this file ([`View`], node states, text and JSON), `reduce` (implied host
//! edges), `diagram` (DOT and Mermaid), `tree`, `html` (the page) with `svg` (its
//! drawing, by Graphviz or the built-in layout) and `assets` (its script and style).

mod assets;
mod diagram;
mod html;
mod reduce;
mod svg;
mod tree;

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::table::{Column, Table, Width};
use crate::defs::{Definitions, host};
use crate::graph::{EdgeKind, Graph, NodeId};
use crate::plan::{ActionKind, Plan};
use crate::state::RecordMap;

pub use diagram::{dot, mermaid};
pub use html::{Details, Page, html};
pub use svg::{Layout, LayoutError};
pub use tree::{Marks, tree};

/// Build state of a node, for `--state`, the tree's colours and the HTML page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Built, and nothing of it changed since.
    Fresh,
    /// Built, but some input changed: a build would do something to it.
    Stale,
    /// Nothing of it exists yet (never built, or gone from the host looked at).
    Missing,
    /// The last build began a step of it that did not finish (it failed, or the
    /// build was stopped). Only the views for people say so; text and JSON keep
    /// the state the plan gives (stale or missing).
    Failed,
}

impl NodeState {
    /// The word for the state: `fresh`, `stale`, `missing`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Fresh => "fresh",
            NodeState::Stale => "stale",
            NodeState::Missing => "missing",
            NodeState::Failed => "failed",
        }
    }

    /// Every state, in the order legends list them.
    pub const ALL: [NodeState; 4] = [
        NodeState::Fresh,
        NodeState::Stale,
        NodeState::Missing,
        NodeState::Failed,
    ];
}

/// The states of the plan's nodes: the plan's view (what a build would do) plus
/// `failed` where the record says the last attempt stopped part way.
#[derive(Debug, Clone, Default)]
pub struct States {
    /// Fresh, stale or missing, from the plan's action.
    pub planned: HashMap<NodeId, NodeState>,
    /// Nodes whose last build stopped in a step (the record's `started`).
    pub failed: HashSet<NodeId>,
}

impl States {
    /// The states of `plan`'s nodes against `records` (by node name, as the state
    /// directory keeps them), the way `graph --state` and `status` see them.
    pub fn of(plan: &Plan, records: &RecordMap) -> States {
        let mut out = States::default();
        for a in &plan.actions {
            let planned = match a.action {
                ActionKind::Fresh => NodeState::Fresh,
                ActionKind::Create => NodeState::Missing,
                _ => NodeState::Stale,
            };
            out.planned.insert(a.node, planned);
            let Some(rec) = records.get(&a.node.to_string()) else {
                continue;
            };
            // A guest gone from the host with steps recorded is missing, whatever
            // its record says; one whose `define` itself stopped is failed.
            let failed = rec.started.is_some()
                && match a.action {
                    ActionKind::Fresh => false,
                    ActionKind::Create => rec.steps.is_empty(),
                    _ => true,
                };
            if failed {
                out.failed.insert(a.node);
            }
        }
        out
    }
}

/// What a graph view draws: the selected nodes of a graph, and optionally their states.
pub struct View<'a> {
    pub defs: &'a Definitions,
    pub graph: &'a Graph,
    /// Selected nodes in build order.
    pub nodes: &'a [NodeId],
    pub states: Option<&'a States>,
    /// Draw every host edge, also those a clone edge implies (`--all-edges`).
    pub all_edges: bool,
}

impl<'a> View<'a> {
    /// A guest's name, or what a host step does.
    pub fn name(&self, id: NodeId) -> &'a str {
        match id {
            NodeId::Host(s) => host::spec(s).map_or("", |s| s.summary),
            NodeId::Ct(n) | NodeId::Vm(n) => self.defs.guest(n).map_or("", |g| g.name.as_str()),
        }
    }

    /// Whether the node is a guest that is a template.
    fn is_template(&self, id: NodeId) -> bool {
        id.guest_id()
            .and_then(|n| self.defs.guest(n))
            .is_some_and(|g| g.template.is_template())
    }

    /// Every edge between selected nodes: (from, to, kind), `from` needing `to`.
    fn edges(&self) -> Vec<(NodeId, NodeId, EdgeKind)> {
        self.graph.edges_among(self.nodes)
    }

    /// The edges the views for people draw: [`View::edges`] less the host edges a
    /// clone edge implies, unless [`View::all_edges`].
    fn drawn_edges(&self) -> Vec<(NodeId, NodeId, EdgeKind)> {
        let edges = self.edges();
        if self.all_edges {
            return edges;
        }
        let implied = reduce::implied_host_edges(self.graph, self.nodes);
        edges.into_iter().filter(|e| !implied.contains(e)).collect()
    }

    /// The state the plan gives (fresh, stale, missing): what text and JSON say.
    fn state(&self, id: NodeId) -> Option<NodeState> {
        self.states.and_then(|s| s.planned.get(&id).copied())
    }

    /// The state the views for people show: [`View::state`], or failed.
    fn shown_state(&self, id: NodeId) -> Option<NodeState> {
        let s = self.states?;
        if s.failed.contains(&id) {
            return Some(NodeState::Failed);
        }
        s.planned.get(&id).copied()
    }
}

pub fn text(v: &View) -> String {
    let with_state = v.states.is_some();
    let mut columns = Vec::new();
    if with_state {
        columns.push(Column::left("", Width::AtLeast(8)));
    }
    columns.extend([
        Column::left(if with_state { " " } else { "" }, Width::Fit),
        Column::left("  ", Width::Free),
        Column::left("", Width::Free),
    ]);
    let mut table = Table::new(columns);
    for &id in v.nodes {
        let needs: Vec<String> = v
            .graph
            .needs(id)
            .into_iter()
            .filter(|(n, _)| v.nodes.contains(n))
            .map(|(n, k)| format!("{} {n}", k.as_str()))
            .collect();
        let needs = if needs.is_empty() {
            String::new()
        } else {
            format!("  <- {}", needs.join(", "))
        };
        let mut row = Vec::with_capacity(4);
        if with_state {
            row.push(
                v.state(id)
                    .map_or_else(String::new, |s| format!("[{}]", s.as_str())),
            );
        }
        row.extend([id.to_string(), v.name(id).to_string(), needs]);
        table.row(row);
    }
    table.render()
}

#[derive(Serialize)]
struct JsonNode<'a> {
    id: NodeId,
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<NodeState>,
}

#[derive(Serialize)]
struct JsonEdge {
    from: NodeId,
    to: NodeId,
    kind: EdgeKind,
}

/// A node as its `Serialize` has `serde_json` write it in the graph's list.
impl super::json::PrettyItem for JsonNode<'_> {
    fn write_item(&self, out: &mut String) {
        let mut f = super::json::ItemFields::begin(out);
        self.id.with_name(|id| f.str("id", &[id]));
        f.str("kind", &[self.kind]);
        f.str("name", &[self.name]);
        if let Some(state) = self.state {
            f.str("state", &[state.as_str()]);
        }
        f.end();
    }
}

/// An edge as its `Serialize` has `serde_json` write it in the graph's list.
impl super::json::PrettyItem for JsonEdge {
    fn write_item(&self, out: &mut String) {
        let mut f = super::json::ItemFields::begin(out);
        self.from.with_name(|from| f.str("from", &[from]));
        self.to.with_name(|to| f.str("to", &[to]));
        f.str("kind", &[self.kind.as_str()]);
        f.end();
    }
}

#[derive(Serialize)]
struct JsonGraph<'a> {
    nodes: Vec<JsonNode<'a>>,
    edges: Vec<JsonEdge>,
}

pub fn json(v: &View) -> String {
    serde_json::to_string_pretty(&json_graph(v)).unwrap_or_default()
}

/// [`json`] written to `out`, each list on every core
/// ([`PrettyObject`](crate::report::json::PrettyObject)): the same
/// bytes. Every field `JsonGraph` serialises is written here, in its order.
pub fn write_json<W: std::io::Write>(v: &View, out: W) -> std::io::Result<W> {
    let graph = json_graph(v);
    let mut o = super::json::PrettyObject::new(out);
    o.list_written("nodes", &graph.nodes)?;
    o.list_written("edges", &graph.edges)?;
    o.finish()
}

/// The graph's nodes and edges, as [`json`] and [`write_json`] write them: the
/// two lists made side by side.
fn json_graph<'a>(v: &View<'a>) -> JsonGraph<'a> {
    let (nodes, edges) = rayon::join(
        || {
            v.nodes
                .iter()
                .map(|&id| JsonNode {
                    id,
                    kind: id.kind_name(),
                    name: v.name(id),
                    state: v.state(id),
                })
                .collect()
        },
        || {
            v.edges()
                .into_iter()
                .map(|(from, to, kind)| JsonEdge { from, to, kind })
                .collect()
        },
    );
    JsonGraph { nodes, edges }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::state::NodeRecord;
    use crate::step::Step;

    fn action(node: NodeId, action: ActionKind) -> Action {
        Action {
            node,
            action,
            key: "0".repeat(64),
            steps: Vec::new(),
            reasons: Vec::new(),
            needs_allow_replace: false,
            destroy_first: Vec::new(),
            start: false,
        }
    }

    #[test]
    fn a_build_that_stopped_in_a_step_shows_as_failed_unless_the_guest_is_gone() {
        let (a, b, c, d) = (NodeId::Ct(1), NodeId::Ct(2), NodeId::Ct(3), NodeId::Ct(4));
        let plan = Plan {
            actions: vec![
                action(a, ActionKind::Resume),
                action(b, ActionKind::Create),
                action(c, ActionKind::Create),
                action(d, ActionKind::Fresh),
            ],
            ..Plan::default()
        };
        let stopped = |node: NodeId, steps: usize| {
            let mut r = NodeRecord::new(&node.to_string());
            r.started = Some(Step::Feature("x".into()));
            for _ in 0..steps {
                r.steps.push(crate::state::StepRecord {
                    step: Step::Define,
                    key: "0".repeat(64).as_str().into(),
                    manifest: crate::state::RecordedManifest::unknown(),
                    finished_at: 1,
                });
            }
            (node.to_string(), r)
        };
        // a: a feature stopped; b: its `define` stopped; c: stopped, then the
        // guest went away; d: fresh (a later build finished it).
        let records: RecordMap = [stopped(a, 1), stopped(b, 0), stopped(c, 1), stopped(d, 1)]
            .into_iter()
            .collect();
        let s = States::of(&plan, &records);
        assert_eq!(s.planned[&a], NodeState::Stale);
        assert_eq!(s.planned[&b], NodeState::Missing);
        let mut failed: Vec<NodeId> = s.failed.iter().copied().collect();
        failed.sort();
        assert_eq!(failed, [a, b]);
    }
}

#[cfg(test)]
mod json_tests {
    use serde_json::json;

    use super::*;

    /// The graph's JSON written item by item is what `serde_json` writes of it,
    /// with and without states, for names that need escapes.
    #[test]
    fn the_graphs_json_is_what_serde_json_writes_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let ct = |name: &str, extra: serde_json::Value| {
            let mut ct = json!({"name": name, "memory_mb": 512, "cores": 1,
                "storage_pool": "local-lvm", "storage_size_gb": 4,
                "template": "local:vztmpl/x.tar.zst",
                "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}});
            ct.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            ct
        };
        let lxc = json!({"lxc_configs": {
            "900": ct("base\"q\\b\u{1}é", json!({})),
            "901": ct("web", json!({"dependencies": ["900"]})),
            "902": ct("db", json!({"dependencies": ["900", "901"]})),
        }});
        std::fs::write(dir.path().join("phoenix_lxc_configs.json"), lxc.to_string()).unwrap();
        std::fs::write(
            dir.path().join("phoenix_hypervisor_config.json"),
            r#"{"version": "1"}"#,
        )
        .unwrap();
        let loaded = crate::pipeline::load(dir.path(), crate::defs::Severity::Warning);
        let state = crate::state::StateDir::new(&dir.path().join("cache"));
        let nodes = crate::pipeline::assess(&loaded, &[], &state).unwrap().order;
        assert!(nodes.len() >= 3, "{nodes:?}");
        let states = States {
            planned: nodes
                .iter()
                .enumerate()
                .map(|(i, &n)| (n, NodeState::ALL[i % 3]))
                .collect(),
            failed: HashSet::new(),
        };
        for states in [None, Some(&states)] {
            let view = View {
                defs: &loaded.defs,
                graph: &loaded.graph,
                nodes: &nodes,
                states,
                all_edges: true,
            };
            let written = write_json(&view, Vec::new()).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), json(&view));
        }
    }
}
