//! Command-line definitions (clap derive). The doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// phoenix: a build system for Proxmox VE hosts.
///
/// phoenix reads container, VM and host definitions (the Phoenix JSON format), turns
/// them into one dependency graph, gives every build step a content key, and runs
/// only the steps whose inputs changed, independent branches in parallel.
///
/// Examples:
///   phoenix validate                 check the definitions, report every problem
///   phoenix plan 950                 what building 950 would do, and why
///   phoenix graph --format mermaid   the dependency graph as a Mermaid diagram
///   phoenix explain 950              which inputs of 950 changed since its last build
#[derive(Debug, Parser)]
#[command(
    name = "phoenix",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Definitions directory (native layout, or an install with etc/ and bin/).
    #[arg(
        long,
        global = true,
        env = "PHOENIX_DEFS",
        default_value = "./graph-defs",
        value_name = "DIR"
    )]
    pub defs: PathBuf,

    /// State directory: recorded keys and input manifests, lock, logs.
    #[arg(
        long,
        global = true,
        env = "PHOENIX_CACHE",
        default_value = "./cache",
        value_name = "DIR"
    )]
    pub cache: PathBuf,

    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, env = "PHOENIX_VERBOSE")]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the definitions and report every problem at once.
    ///
    /// Errors name the file, the JSON path and what would fix them; unknown fields
    /// are warnings (they still reach application scripts). Exit code 3 when there
    /// is any error.
    Validate {
        #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
        output: Output,
    },

    /// Show what a build would do, and why, without doing anything.
    ///
    /// Every selected node gets one action: create, replace, resume, update,
    /// rerun-app, resnapshot or fresh, with the reasons (the inputs that changed).
    ///
    ///   phoenix plan            everything
    ///   phoenix plan 950        950 and what it needs (templates, host steps)
    ///   phoenix plan --output json | jq '.actions[] | select(.action != "fresh")'
    Plan {
        /// Targets: `all`, a guest ID (`950`), or a node (`ct:950`, `vm:9000`, `host:zfs`).
        #[arg(value_name = "TARGET")]
        targets: Vec<String>,

        #[arg(long, value_enum, default_value_t = Output::Text, env = "PHOENIX_OUTPUT")]
        output: Output,
    },

    /// Print the dependency graph.
    ///
    /// Edges: clone (the clone's content depends on its source), depends (build and
    /// start order only), host (a host setup step comes first).
    ///
    ///   phoenix graph --format dot | dot -Tsvg > graph.svg
    ///   phoenix graph 950 --format mermaid --state
    Graph {
        /// Targets to draw with everything they need; all nodes when empty.
        #[arg(value_name = "TARGET")]
        targets: Vec<String>,

        #[arg(long, short, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,

        /// Mark each node fresh, stale or missing against the state directory.
        #[arg(long)]
        state: bool,
    },

    /// Say which inputs of a node differ from its last build, old and new value.
    Explain {
        /// A guest ID (`950`) or node (`ct:950`, `host:zfs`).
        target: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
