//! The graph as text, Graphviz DOT, Mermaid or JSON.
//!
//! In JSON, edges are stated as the model has them: `from` needs `to`. The diagrams
//! draw them the way operators draw template chains, from what is needed to what
//! needs it (`ct:900 ==> ct:901`), so a chain reads top to bottom. Edge kinds look
//! different: clone edges are bold, depends edges dashed, host edges dotted.

use std::collections::HashMap;
use std::fmt::Write;

use serde::Serialize;

use super::table::{Column, Table, Width};
use crate::defs::{Definitions, host};
use crate::graph::{EdgeKind, Graph, NodeId};

/// Build state of a node, for `--state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Fresh,
    Stale,
    Missing,
}

pub struct View<'a> {
    pub defs: &'a Definitions,
    pub graph: &'a Graph,
    /// Selected nodes in build order.
    pub nodes: &'a [NodeId],
    pub states: Option<&'a HashMap<NodeId, NodeState>>,
}

impl View<'_> {
    fn name(&self, id: NodeId) -> String {
        match id {
            NodeId::Host(s) => host::spec(s).map_or("", |s| s.summary).to_string(),
            NodeId::Ct(n) | NodeId::Vm(n) => self
                .defs
                .guest(n)
                .map(|g| g.name.clone())
                .unwrap_or_default(),
        }
    }

    fn edges(&self) -> Vec<(NodeId, NodeId, EdgeKind)> {
        let set: std::collections::HashSet<NodeId> = self.nodes.iter().copied().collect();
        self.graph
            .edges()
            .into_iter()
            .filter(|(a, b, _)| set.contains(a) && set.contains(b))
            .collect()
    }

    fn state(&self, id: NodeId) -> Option<NodeState> {
        self.states.and_then(|s| s.get(&id).copied())
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
                    .map_or_else(String::new, |s| format!("[{}]", state_str(s))),
            );
        }
        row.extend([id.to_string(), v.name(id), needs]);
        table.row(row);
    }
    table.render()
}

fn state_str(s: NodeState) -> &'static str {
    match s {
        NodeState::Fresh => "fresh",
        NodeState::Stale => "stale",
        NodeState::Missing => "missing",
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub fn dot(v: &View) -> String {
    let mut out = String::from(
        "digraph phoenix {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for &id in v.nodes {
        let shape = if matches!(id, NodeId::Host(_)) {
            ", shape=component"
        } else {
            ""
        };
        let template = id
            .guest_id()
            .and_then(|n| v.defs.guest(n))
            .is_some_and(|g| g.template.is_template());
        let periph = if template { ", peripheries=2" } else { "" };
        let fill = match v.state(id) {
            Some(NodeState::Fresh) => ", style=filled, fillcolor=\"#c8f7c5\"",
            Some(NodeState::Stale) => ", style=filled, fillcolor=\"#ffd59e\"",
            Some(NodeState::Missing) => ", style=\"dashed\", color=\"#999999\"",
            None => "",
        };
        let _ = writeln!(
            out,
            "  \"{id}\" [label=\"{}\\n{}\"{shape}{periph}{fill}];",
            id,
            dot_escape(&v.name(id))
        );
    }
    for (from, to, kind) in v.edges() {
        let style = match kind {
            EdgeKind::Clone => "style=bold, penwidth=2",
            EdgeKind::Depends => "style=dashed",
            EdgeKind::Host => "style=dotted, color=\"#777777\"",
        };
        let _ = writeln!(
            out,
            "  \"{to}\" -> \"{from}\" [label=\"{}\", {style}];",
            kind.as_str()
        );
    }
    out.push_str("}\n");
    out
}

fn mermaid_id(id: NodeId) -> String {
    id.slug().replace('-', "_")
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

pub fn mermaid(v: &View) -> String {
    let mut out = String::from("graph TD\n");
    for &id in v.nodes {
        let label = match id {
            NodeId::Host(s) => format!("host: {s}"),
            NodeId::Ct(n) | NodeId::Vm(n) => {
                format!("{} {n}<br/>{}", id.kind_name(), mermaid_escape(&v.name(id)))
            }
        };
        let (open, close) = match id {
            NodeId::Host(_) => ("[/", "/]"),
            _ if id
                .guest_id()
                .and_then(|n| v.defs.guest(n))
                .is_some_and(|g| g.template.is_template()) =>
            {
                ("[[", "]]")
            }
            _ => ("[", "]"),
        };
        let _ = writeln!(out, "    {}{open}\"{label}\"{close}", mermaid_id(id));
    }
    for (from, to, kind) in v.edges() {
        let arrow = match kind {
            EdgeKind::Clone => "==>|clone|",
            EdgeKind::Depends => "-.->|depends|",
            EdgeKind::Host => "-->|host|",
        };
        let _ = writeln!(out, "    {} {arrow} {}", mermaid_id(to), mermaid_id(from));
    }
    if v.states.is_some() {
        out.push_str("    classDef fresh fill:#c8f7c5,stroke:#2e7d32\n    classDef stale fill:#ffd59e,stroke:#e65100\n    classDef missing fill:#eeeeee,stroke:#999999,stroke-dasharray: 4 2\n");
        for &id in v.nodes {
            if let Some(s) = v.state(id) {
                let _ = writeln!(out, "    class {} {}", mermaid_id(id), state_str(s));
            }
        }
    }
    out
}

#[derive(Serialize)]
struct JsonNode {
    id: NodeId,
    kind: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<NodeState>,
}

#[derive(Serialize)]
struct JsonEdge {
    from: NodeId,
    to: NodeId,
    kind: EdgeKind,
}

#[derive(Serialize)]
struct JsonGraph {
    nodes: Vec<JsonNode>,
    edges: Vec<JsonEdge>,
}

pub fn json(v: &View) -> String {
    let g = JsonGraph {
        nodes: v
            .nodes
            .iter()
            .map(|&id| JsonNode {
                id,
                kind: id.kind_name(),
                name: v.name(id),
                state: v.state(id),
            })
            .collect(),
        edges: v
            .edges()
            .into_iter()
            .map(|(from, to, kind)| JsonEdge { from, to, kind })
            .collect(),
    };
    serde_json::to_string_pretty(&g).unwrap_or_default()
}
