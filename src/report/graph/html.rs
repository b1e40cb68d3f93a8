//! `phoenix graph --format html`: one self-contained page (inline SVG, style and
//! script; nothing is fetched), with nodes coloured by state, a legend, a filter
//! box, and a panel that shows a clicked node's name, kind, steps, key and the
//! plan's reasons.
//!
//! What reaches the page from the definitions is text: names, step names, and the
//! plan's reasons (which the key layer wrote with secrets already redacted). No
//! raw field value is put on the page. Text in markup goes through [`escape`];
//! the nodes' details travel as JSON in a `<script type="application/json">`
//! element, written by [`script_json`] so that no `</script>` can end it, and the
//! page's script puts them on screen with `textContent` only.
//!
//! With `#selftest` at the end of its address the page clicks its first stale
//! node and writes what it shows, and any script error, into `#selftest`: a
//! headless browser's `--dump-dom` then proves the page works (see the tests).

use std::collections::HashSet;

use serde::Serialize;

use super::svg::{self, Layout, LayoutError};
use super::{NodeState, View, assets, diagram};
use crate::graph::{NodeId, NodeMap};
use crate::key::NodeKeys;
use crate::plan::{Action, Plan};

/// What the page says of each node beyond the graph: the plan and the keys.
pub struct Details<'a> {
    pub plan: &'a Plan,
    pub keys: &'a NodeMap<NodeKeys>,
}

/// The page, and a note for the user (why Graphviz was not used), if any.
pub struct Page {
    pub html: String,
    pub note: Option<String>,
}

/// `s` as HTML/XML text or attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `value` as JSON that is safe inside a `<script>` element: `<`, `>` and `&`
/// (and the line separators JavaScript once refused) are written as `\u` escapes,
/// which JSON reads back as the same characters.
fn script_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[derive(Serialize)]
struct PageStep {
    step: String,
    /// The plan runs it.
    run: bool,
}

#[derive(Serialize)]
struct PageNode {
    id: String,
    slug: String,
    kind: &'static str,
    name: String,
    state: Option<NodeState>,
    action: Option<&'static str>,
    key: Option<String>,
    steps: Vec<PageStep>,
    reasons: Vec<String>,
    needs: Vec<String>,
    needed_by: Vec<String>,
}

#[derive(Serialize)]
struct PageEdge {
    id: String,
    from: String,
    to: String,
    kind: &'static str,
}

#[derive(Serialize)]
struct PageData {
    nodes: Vec<PageNode>,
    edges: Vec<PageEdge>,
    /// Host edges a clone edge implies are left out.
    reduced: bool,
}

/// What a node is, in words.
fn kind(v: &View, id: NodeId) -> &'static str {
    match (id, v.is_template(id)) {
        (NodeId::Host(_), _) => "host step",
        (NodeId::Ct(_), false) => "container",
        (NodeId::Ct(_), true) => "container template",
        (NodeId::Vm(_), false) => "VM",
        (NodeId::Vm(_), true) => "VM template",
    }
}

fn page_node(
    v: &View,
    d: &Details,
    actions: &NodeMap<&Action>,
    selected: &HashSet<NodeId>,
    id: NodeId,
) -> PageNode {
    let action = actions.get(&id).copied();
    let steps = d.keys.get(&id).map_or_else(Vec::new, |k| {
        k.chain
            .iter()
            .chain(k.configure.iter())
            .map(|s| PageStep {
                step: s.step.to_string(),
                run: action.is_some_and(|a| a.steps.contains(&s.step)),
            })
            .collect()
    });
    let edge_words = |list: Vec<(NodeId, crate::graph::EdgeKind)>| {
        list.into_iter()
            .filter(|(n, _)| selected.contains(n))
            .map(|(n, k)| format!("{} {n}", k.as_str()))
            .collect()
    };
    PageNode {
        id: id.to_string(),
        slug: id.slug(),
        kind: kind(v, id),
        name: v.name(id).to_string(),
        state: v.shown_state(id),
        action: action.map(|a| a.action.as_str()),
        key: action.map(|a| a.key.clone()),
        steps,
        reasons: action.map(|a| a.reasons.clone()).unwrap_or_default(),
        needs: edge_words(v.graph.needs(id)),
        needed_by: edge_words(v.graph.needed_by(id)),
    }
}

fn legend(reduced: bool) -> String {
    let mut out = String::from("<div id=\"legend\"><span class=\"legend-title\">states</span>");
    for s in NodeState::ALL {
        out.push_str(&format!(
            "<span class=\"swatch {0}\"></span><span>{0}</span>",
            s.as_str()
        ));
    }
    out.push_str(
        "<span class=\"legend-title\">edges, from what is needed to what needs it</span>\
         <span class=\"line clone\"></span><span>clone</span>\
         <span class=\"line depends\"></span><span>depends (order only)</span>\
         <span class=\"line host\"></span><span>host step</span>",
    );
    if reduced {
        out.push_str(
            "<span class=\"note\">host steps a clone inherits from its source are not drawn again \
             (<code>--all-edges</code> draws them)</span>",
        );
    }
    out.push_str("</div>\n");
    out
}

/// The page for `v`, its drawing laid out as `layout` says.
pub fn html(v: &View, details: &Details, layout: Layout) -> Result<Page, LayoutError> {
    let drawing = svg::draw(v, &diagram::dot_source(v, true), layout)?;
    let selected: HashSet<NodeId> = v.nodes.iter().copied().collect();
    let actions = details.plan.by_node();
    let data = PageData {
        nodes: v
            .nodes
            .iter()
            .map(|&id| page_node(v, details, &actions, &selected, id))
            .collect(),
        edges: v
            .drawn_edges()
            .into_iter()
            .enumerate()
            .map(|(n, (from, to, kind))| PageEdge {
                id: format!("edge-{n}"),
                from: from.to_string(),
                to: to.to_string(),
                kind: kind.as_str(),
            })
            .collect(),
        reduced: !v.all_edges,
    };
    let mut html = String::with_capacity(drawing.svg.len() + 16 * 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<title>phoenix graph</title>\n<style>\n");
    html.push_str(assets::STYLE);
    html.push_str("</style>\n<script>\n");
    html.push_str(assets::ERRORS);
    html.push_str("</script>\n</head>\n<body>\n<header><h1>phoenix graph</h1>");
    html.push_str(
        "<input id=\"filter\" type=\"search\" placeholder=\"filter by id or name\" aria-label=\"filter nodes by id or name\" autocomplete=\"off\">",
    );
    html.push_str(&format!(
        "<span id=\"count\">{} nodes</span></header>\n",
        v.nodes.len()
    ));
    html.push_str(&legend(!v.all_edges));
    html.push_str(&format!(
        "<main><div id=\"graph\" data-layout=\"{}\">\n",
        drawing.engine
    ));
    html.push_str(&drawing.svg);
    html.push_str("</div>\n<aside id=\"panel\"><p class=\"hint\">Click a node to see its steps, its key and why a build would touch it.</p></aside></main>\n");
    html.push_str("<pre id=\"selftest\" hidden></pre>\n");
    html.push_str("<script type=\"application/json\" id=\"phoenix-data\">");
    html.push_str(&script_json(&data));
    html.push_str("</script>\n<script>\n");
    html.push_str(assets::SCRIPT);
    html.push_str("</script>\n</body>\n</html>\n");
    Ok(Page {
        html,
        note: drawing.note,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pipeline;
    use crate::report::graph::States;
    use crate::state::StateDir;

    const NASTY: &str = "</script><b>&\"'";

    /// A page for one container named [`NASTY`] (which `validate` refuses as a
    /// hostname: the renderer must hold on its own).
    fn nasty_page(layout: Layout) -> String {
        let dir = tempfile::tempdir().unwrap();
        let ct = json!({"name": NASTY, "memory_mb": 512, "cores": 1, "storage_pool": "local-lvm",
            "storage_size_gb": 4, "template": "local:vztmpl/x.tar.zst",
            "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}});
        std::fs::write(
            dir.path().join("phoenix_lxc_configs.json"),
            json!({"lxc_configs": {"900": ct}}).to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("phoenix_hypervisor_config.json"),
            r#"{"version": "1"}"#,
        )
        .unwrap();
        let loaded = pipeline::load(dir.path(), crate::defs::Severity::Warning);
        let state = StateDir::new(&dir.path().join("cache"));
        let a = pipeline::assess(&loaded, &[], &state).unwrap();
        let states = States::of(&a.plan, &a.recorded.records);
        let view = View {
            defs: &loaded.defs,
            graph: &loaded.graph,
            nodes: &a.order,
            states: Some(&states),
            all_edges: false,
        };
        let details = Details {
            plan: &a.plan,
            keys: &a.keys,
        };
        html(&view, &details, layout).unwrap().html
    }

    #[test]
    fn a_name_with_markup_is_text_in_the_drawing_and_the_data() {
        for layout in [Layout::Builtin, Layout::Auto] {
            let page = nasty_page(layout);
            assert!(!page.contains(NASTY) && !page.contains("<b>"), "{page}");
            assert_eq!(
                page.matches("<script").count(),
                page.matches("</script>").count()
            );
            // In the drawing, escaped (Graphviz writes `'` as is, which is fine in text).
            assert!(
                page.contains("&lt;/script&gt;&lt;b&gt;&amp;&quot;"),
                "{layout:?}: {page}"
            );
            // In the data, as JSON escapes that read back as the name.
            assert!(page.contains(r#"\u003c/script\u003e\u003cb\u003e\u0026\"'"#));
        }
    }

    #[test]
    fn text_and_json_cannot_break_out_of_their_element() {
        let nasty = "</script><b>&\"'";
        assert_eq!(escape(nasty), "&lt;/script&gt;&lt;b&gt;&amp;&quot;&#39;");
        let json = script_json(&serde_json::json!({ "name": nasty, "sep": "a\u{2028}b" }));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert!(!json.contains('\u{2028}'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["name"], nasty);
        assert_eq!(back["sep"], "a\u{2028}b");
    }
}
