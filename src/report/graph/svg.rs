//! The HTML page's drawing: an SVG laid out by Graphviz (`dot -Tsvg`) where it is
//! installed, else by the layout-rs crate inside phoenix. Either way every node is
//! a `<g id="node-<slug>" class="node <state>">` and every edge a
//! `<g id="edge-<n>" class="edge <kind>">`, which is all the page's script and
//! style rely on.
//!
//! How the built-in layout works: layout-rs places the nodes and routes the edges
//! and calls a render backend for each shape; [`Canvas`] is that backend. It
//! writes the SVG itself, so that a node's box and its label land in one group
//! and every text is escaped here, whatever the crate does.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::html::escape;
use super::{NodeState, View};
use crate::graph::{EdgeKind, NodeId};

/// Who lays the graph out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Graphviz where `dot` runs, the built-in layout otherwise.
    Auto,
    /// Graphviz's `dot`; an error where it does not run.
    Dot,
    /// The built-in layout (the layout-rs crate).
    Builtin,
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "could not run Graphviz `dot` ({0}); install graphviz, or draw with the built-in layout (--layout builtin)"
    )]
    Dot(String),
    #[error("the built-in layout failed on this graph; install graphviz (`dot`) to draw it")]
    Builtin,
}

/// An SVG drawing, and the name of what laid it out (`graphviz` or `builtin`).
pub struct Drawing {
    pub svg: String,
    pub engine: &'static str,
    /// Why the preferred engine was not used, to tell the user.
    pub note: Option<String>,
}

/// Lay out `v` as `layout` says; `dot_source` is its DOT (for Graphviz).
pub fn draw(v: &View, dot_source: &str, layout: Layout) -> Result<Drawing, LayoutError> {
    match layout {
        Layout::Builtin => builtin(v),
        Layout::Dot => Ok(Drawing {
            svg: graphviz(dot_source)?,
            engine: "graphviz",
            note: None,
        }),
        Layout::Auto => match graphviz(dot_source) {
            Ok(svg) => Ok(Drawing {
                svg,
                engine: "graphviz",
                note: None,
            }),
            Err(e) => {
                let mut d = builtin(v)?;
                d.note = Some(format!("{e}; drawn with the built-in layout"));
                Ok(d)
            }
        },
    }
}

/// `dot -Tsvg`, from the `<svg` element on (no XML prolog, no doctype).
fn graphviz(source: &str) -> Result<String, LayoutError> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LayoutError::Dot(e.to_string()))?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let (mut svg, mut write_err) = (String::new(), None);
    std::thread::scope(|s| {
        // dot reads all of its input before writing, but feed it from another
        // thread anyway so no pipe buffer size can make the two wait on each other.
        s.spawn(|| {
            if let Some(mut i) = stdin.take() {
                write_err = i.write_all(source.as_bytes()).err();
            }
        });
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut svg);
        }
    });
    let out = child
        .wait_with_output()
        .map_err(|e| LayoutError::Dot(e.to_string()))?;
    if !out.status.success() || write_err.is_some() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(LayoutError::Dot(if why.is_empty() {
            format!("it exited with {}", out.status)
        } else {
            why
        }));
    }
    match svg.find("<svg") {
        Some(start) => Ok(svg[start..].to_string()),
        None => Err(LayoutError::Dot("it wrote no SVG".into())),
    }
}

const FONT: usize = 14;

/// A node's label lines: its ID, then its name (or what a host step does).
fn label_lines(v: &View, id: NodeId) -> Vec<String> {
    let name = v.name(id);
    if name.is_empty() {
        vec![id.to_string()]
    } else {
        vec![id.to_string(), name.to_string()]
    }
}

/// The drawing by the layout-rs crate.
fn builtin(v: &View) -> Result<Drawing, LayoutError> {
    let edges = v.drawn_edges();
    let mut canvas = Canvas {
        nodes: v.nodes.to_vec(),
        states: v.nodes.iter().map(|&id| v.shown_state(id)).collect(),
        templates: v.nodes.iter().map(|&id| v.is_template(id)).collect(),
        labels: v.nodes.iter().map(|&id| label_lines(v, id)).collect(),
        edge_kinds: edges.iter().map(|e| e.2).collect(),
        ..Canvas::default()
    };
    if !v.nodes.is_empty() {
        let laid_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut vg = VisualGraph::new(Orientation::TopToBottom);
            let mut handles = std::collections::HashMap::new();
            for (i, &id) in v.nodes.iter().enumerate() {
                let lines = &canvas.labels[i];
                let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1);
                // Helvetica averages a little over half an em per character.
                #[expect(clippy::cast_precision_loss, reason = "label lengths are small")]
                let size = Point::new(
                    widest as f64 * FONT as f64 * 0.62 + 24.,
                    lines.len() as f64 * FONT as f64 * 1.25 + 14.,
                );
                let look =
                    StyleAttr::new(layout::core::color::Color::fast("black"), 1, None, 0, FONT);
                // The label is drawn by `Canvas`; the crate's own text is not used.
                let e = Element::create_with_properties(
                    ShapeKind::new_box(""),
                    look,
                    Orientation::TopToBottom,
                    size,
                    format!("{i}"),
                );
                handles.insert(id, vg.add_node(e));
            }
            for (n, (from, to, kind)) in edges.iter().enumerate() {
                let style = match kind {
                    EdgeKind::Clone => LineStyleKind::Normal,
                    EdgeKind::Depends => LineStyleKind::Dashed,
                    EdgeKind::Host => LineStyleKind::Dotted,
                };
                let arrow = Arrow::with_properties(
                    LineEndKind::None,
                    LineEndKind::Arrow,
                    style,
                    "",
                    &StyleAttr::simple(),
                    format!("{n}"),
                    &None,
                    &None,
                );
                // Drawn from what is needed to what needs it, as in DOT.
                vg.add_edge(arrow, handles[to], handles[from]);
            }
            let mut sink = canvas.clone_empty();
            vg.do_it(false, false, false, &mut sink);
            sink
        }));
        canvas = laid_out.map_err(|_| LayoutError::Builtin)?;
    }
    Ok(Drawing {
        svg: canvas.finish(),
        engine: "builtin",
        note: None,
    })
}

/// A layout-rs render backend writing the page's SVG (see the module docs).
#[derive(Default)]
struct Canvas {
    nodes: Vec<NodeId>,
    states: Vec<Option<NodeState>>,
    templates: Vec<bool>,
    labels: Vec<Vec<String>>,
    edge_kinds: Vec<EdgeKind>,
    edges_svg: String,
    nodes_svg: String,
    width: f64,
    height: f64,
}

impl Canvas {
    fn clone_empty(&self) -> Canvas {
        Canvas {
            nodes: self.nodes.clone(),
            states: self.states.clone(),
            templates: self.templates.clone(),
            labels: self.labels.clone(),
            edge_kinds: self.edge_kinds.clone(),
            ..Canvas::default()
        }
    }

    fn grow(&mut self, p: Point) {
        self.width = self.width.max(p.x + 10.);
        self.height = self.height.max(p.y + 10.);
    }

    fn finish(&self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"builtin\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">\n<defs><marker id=\"arrowhead\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n<g class=\"graph\">\n{}{}</g>\n</svg>\n",
            self.edges_svg,
            self.nodes_svg,
            w = self.width.max(10.),
            h = self.height.max(10.),
        )
    }
}

impl RenderBackend for Canvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        // Only nodes carry properties (their index); anything else is decoration.
        let Some(i) = properties.and_then(|p| p.parse::<usize>().ok()) else {
            return;
        };
        let (Some(&id), Some(lines)) = (self.nodes.get(i), self.labels.get(i).cloned()) else {
            return;
        };
        self.grow(Point::new(xy.x + size.x, xy.y + size.y));
        let state = self.states[i].map_or("unknown", NodeState::as_str);
        let rx = if matches!(id, NodeId::Host(_)) { 10 } else { 2 };
        let template = if self.templates[i] { " template" } else { "" };
        let _ = write!(
            self.nodes_svg,
            "<g id=\"node-{}\" class=\"node {state}{template}\"><title>{id}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{rx}\" fill=\"#ffffff\" stroke=\"#333333\"/>",
            id.slug(),
            xy.x,
            xy.y,
            size.x,
            size.y
        );
        let cx = xy.x + size.x / 2.;
        let cy = xy.y + size.y / 2.;
        #[expect(clippy::cast_precision_loss, reason = "a label has a few lines")]
        let first = cy - (lines.len() as f64 - 1.) / 2. * FONT as f64 * 1.25;
        let _ = write!(
            self.nodes_svg,
            "<text text-anchor=\"middle\" dominant-baseline=\"central\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"{FONT}\">"
        );
        for (k, line) in lines.iter().enumerate() {
            #[expect(clippy::cast_precision_loss, reason = "a label has a few lines")]
            let y = first + k as f64 * FONT as f64 * 1.25;
            let _ = write!(
                self.nodes_svg,
                "<tspan x=\"{cx:.1}\" y=\"{y:.1}\">{}</tspan>",
                escape(line)
            );
        }
        self.nodes_svg.push_str("</text></g>\n");
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        let Some(n) = properties.and_then(|p| p.parse::<usize>().ok()) else {
            return;
        };
        let (Some(kind), [first, second, rest @ ..]) = (self.edge_kinds.get(n).copied(), path)
        else {
            return;
        };
        for p in path {
            self.grow(p.0);
            self.grow(p.1);
        }
        let mut d = format!(
            "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
            first.0.x,
            first.0.y,
            first.1.x,
            first.1.y,
            second.0.x,
            second.0.y,
            second.1.x,
            second.1.y
        );
        for p in rest {
            let _ = write!(d, " S {:.1} {:.1}, {:.1} {:.1}", p.0.x, p.0.y, p.1.x, p.1.y);
        }
        let start = if head.0 {
            " marker-start=\"url(#arrowhead)\""
        } else {
            ""
        };
        let end = if head.1 {
            " marker-end=\"url(#arrowhead)\""
        } else {
            ""
        };
        let _ = writeln!(
            self.edges_svg,
            "<g id=\"edge-{n}\" class=\"edge {}\"><path d=\"{d}\" fill=\"none\"{start}{end}/></g>",
            kind.as_str()
        );
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}
