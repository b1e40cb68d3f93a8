//! `phoenix graph`'s options: its formats, colours and layouts.

use clap::{Args, ValueEnum};

/// `phoenix graph`'s options.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Targets to draw with everything they need; all nodes when empty.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Output format [default: tree on a terminal, text otherwise].
    #[arg(long, short, value_enum, env = "PHOENIX_GRAPH_FORMAT")]
    pub format: Option<GraphFormat>,

    /// Mark each node fresh, stale or missing against the state directory (tree,
    /// dot, mermaid: also failed, where the last build stopped in it). The tree's
    /// colours and the html page always show the states; this writes them out.
    #[arg(
        long,
        env = "PHOENIX_GRAPH_STATE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub state: bool,

    /// Also draw the host edges a clone inherits from its source (tree, dot,
    /// mermaid, html).
    #[arg(
        long,
        env = "PHOENIX_GRAPH_ALL_EDGES",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub all_edges: bool,

    /// Colour the tree by state: `auto` on a terminal unless `NO_COLOR` is set
    /// (`CLICOLOR_FORCE=1` forces it), `always`, `never`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, env = "PHOENIX_COLOR")]
    pub color: ColorChoice,

    /// What lays out the html page's drawing: `auto` (Graphviz `dot` where it runs,
    /// else built in), `dot`, `builtin`.
    #[arg(
        long,
        value_enum,
        default_value_t = GraphLayout::Auto,
        env = "PHOENIX_GRAPH_LAYOUT",
        help_heading = "Tuning and testing"
    )]
    pub layout: GraphLayout,
}

/// `phoenix graph --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Template chains as a tree, like `cargo tree`.
    Tree,
    /// One line per node with what it needs.
    Text,
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// Nodes and edges as JSON.
    Json,
    /// A self-contained HTML page.
    Html,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `phoenix graph --layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphLayout {
    Auto,
    Dot,
    Builtin,
}
