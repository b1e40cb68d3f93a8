//! `phoenix logs`: a node's log, every command phoenix ran for it with its output,
//! shown as text whatever bytes the commands printed.

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
    match std::fs::read(&path) {
        // Commands print what they like: bytes that are not UTF-8 are shown as
        // U+FFFD rather than hiding the whole log.
        Ok(bytes) => {
            print(&String::from_utf8_lossy(&bytes));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprint(&format!(
                "error: no log for {node} yet ({} does not exist); it is written when a build runs a step of {node}\n",
                path.display()
            ));
            Ok(verdict(true))
        }
        Err(e) => {
            eprint(&format!(
                "error: cannot read the log of {node} ({}): {e}\n",
                path.display()
            ));
            Ok(verdict(true))
        }
    }
}
