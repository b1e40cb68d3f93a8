//! The graph as Graphviz DOT and as Mermaid, with the host edges a clone edge
//! implies left out unless `--all-edges`. The HTML page draws from the same DOT,
//! with ids and classes its script finds nodes and edges by.

use std::fmt::Write;

use super::{NodeState, View};
use crate::graph::{EdgeKind, NodeId};

/// Fill and border of a node in a state, in DOT attributes.
fn dot_fill(state: Option<NodeState>) -> &'static str {
    match state {
        Some(NodeState::Fresh) => ", style=filled, fillcolor=\"#c8f7c5\"",
        Some(NodeState::Stale) => ", style=filled, fillcolor=\"#ffd59e\"",
        Some(NodeState::Missing) => ", style=\"dashed\", color=\"#999999\"",
        Some(NodeState::Failed) => ", style=filled, fillcolor=\"#ffb3b3\", color=\"#b71c1c\"",
        None => "",
    }
}

/// Text inside a DOT string. Backslashes are doubled so a name never becomes a
/// Graphviz escape (`\N`, `\l`). With `entities`, `&` is written `&amp;`:
/// Graphviz reads entities in labels, and a name is text, not markup.
fn dot_escape(s: &str, entities: bool) -> String {
    let s = s.replace('\\', "\\\\").replace('"', "\\\"");
    if entities { s.replace('&', "&amp;") } else { s }
}

/// The graph in DOT, for `--format dot`.
pub fn dot(v: &View) -> String {
    dot_source(v, false)
}

/// The DOT behind `--format dot` and, `for_page`, behind the HTML page's drawing:
/// there every node has the id `node-<slug>` and its state as class, every edge
/// the id `edge-<n>` (its index in [`View::drawn_edges`]) and its kind as class,
/// and edges carry no labels (the page's legend says what each line means).
pub(super) fn dot_source(v: &View, for_page: bool) -> String {
    let mut out = String::from(
        "digraph phoenix {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for &id in v.nodes {
        let shape = if matches!(id, NodeId::Host(_)) {
            ", shape=component"
        } else {
            ""
        };
        let periph = if v.is_template(id) {
            ", peripheries=2"
        } else {
            ""
        };
        let state = v.shown_state(id);
        let page = if for_page {
            format!(
                ", id=\"node-{}\", class=\"{}\"",
                id.slug(),
                state.map_or("unknown", NodeState::as_str)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  \"{id}\" [label=\"{}\\n{}\"{shape}{periph}{}{page}];",
            id,
            dot_escape(v.name(id), for_page),
            dot_fill(state),
        );
    }
    for (n, (from, to, kind)) in v.drawn_edges().into_iter().enumerate() {
        let style = match kind {
            EdgeKind::Clone => "style=bold, penwidth=2",
            EdgeKind::Depends => "style=dashed",
            EdgeKind::Host => "style=dotted, color=\"#777777\"",
        };
        if for_page {
            let _ = writeln!(
                out,
                "  \"{to}\" -> \"{from}\" [{style}, id=\"edge-{n}\", class=\"{}\"];",
                kind.as_str()
            );
        } else {
            let _ = writeln!(
                out,
                "  \"{to}\" -> \"{from}\" [label=\"{}\", {style}];",
                kind.as_str()
            );
        }
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

/// The graph as a Mermaid flowchart, for `--format mermaid`.
pub fn mermaid(v: &View) -> String {
    let mut out = String::from("graph TD\n");
    for &id in v.nodes {
        let label = match id {
            NodeId::Host(s) => format!("host: {s}"),
            NodeId::Ct(n) | NodeId::Vm(n) => {
                format!("{} {n}<br/>{}", id.kind_name(), mermaid_escape(v.name(id)))
            }
        };
        let (open, close) = match id {
            NodeId::Host(_) => ("[/", "/]"),
            _ if v.is_template(id) => ("[[", "]]"),
            _ => ("[", "]"),
        };
        let _ = writeln!(out, "    {}{open}\"{label}\"{close}", mermaid_id(id));
    }
    for (from, to, kind) in v.drawn_edges() {
        let arrow = match kind {
            EdgeKind::Clone => "==>|clone|",
            EdgeKind::Depends => "-.->|depends|",
            EdgeKind::Host => "-->|host|",
        };
        let _ = writeln!(out, "    {} {arrow} {}", mermaid_id(to), mermaid_id(from));
    }
    if v.states.is_some() {
        out.push_str("    classDef fresh fill:#c8f7c5,stroke:#2e7d32\n    classDef stale fill:#ffd59e,stroke:#e65100\n    classDef missing fill:#eeeeee,stroke:#999999,stroke-dasharray: 4 2\n    classDef failed fill:#ffb3b3,stroke:#b71c1c\n");
        for &id in v.nodes {
            if let Some(s) = v.shown_state(id) {
                let _ = writeln!(out, "    class {} {}", mermaid_id(id), s.as_str());
            }
        }
    }
    out
}
