//! `phoenix logs`: a node's log, every command phoenix ran for it with its output.

use std::process::ExitCode;

use super::output::{eprint, load, print};
use super::{AppError, CmdResult, error::verdict};
use crate::cli::Cli;
use crate::defs::Severity;
use crate::exec;
use crate::graph::target;
use crate::state::StateDir;

pub(crate) fn logs(cli: &Cli, target_text: &str) -> CmdResult {
    let loaded = load(cli, Severity::Warning)?;
    let Some(node) = target::parse(&loaded.defs, target_text).filter(|n| loaded.graph.contains(*n))
    else {
        return Err(AppError::Usage(format!("unknown target `{target_text}`")));
    };
    let path = exec::log_path(&StateDir::new(&cli.global.cache), node);
    if let Ok(text) = std::fs::read_to_string(&path) {
        print(&text);
        Ok(ExitCode::SUCCESS)
    } else {
        eprint(&format!(
            "error: no log for {node} yet ({} does not exist); it is written when a build runs a step of {node}\n",
            path.display()
        ));
        Ok(verdict(true))
    }
}
