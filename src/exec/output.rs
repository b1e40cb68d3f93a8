//! Where a build's output goes: a log file per node, and progress bars or plain
//! lines depending on the terminal.

use std::path::PathBuf;

use crate::graph::NodeId;
use crate::state::StateDir;

/// The log of every command run for `node`: `<state>/logs/<slug>.log`.
pub fn log_path(state: &StateDir, node: NodeId) -> PathBuf {
    state
        .root()
        .join("logs")
        .join(format!("{}.log", node.slug()))
}

/// Whether stderr is a terminal (progress bars) or not (plain lines).
pub fn is_terminal_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
