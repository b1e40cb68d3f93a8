//! `phoenix destroy`: destroy guests phoenix built, dependents first and templates
//! last, after asking. Guests without phoenix's stamp are never touched.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use super::output::{eprint, load, print};
use super::settings::backend;
use super::{AppError, CmdResult, error::verdict};
use crate::backend::{GuestCtx, Log, Stamp};
use crate::cli::Cli;
use crate::defs::Severity;
use crate::exec;
use crate::graph::target;
use crate::state::StateDir;

pub(crate) fn destroy(cli: &Cli, targets: &[String], yes: bool) -> CmdResult {
    let loaded = load(cli, Severity::Warning)?;
    let state = StateDir::new(&cli.global.cache);
    let backend = backend(cli)?;
    let nodes = target::resolve(&loaded.defs, &loaded.graph, targets)?;
    let _lock = super::lock_state(&state)?;
    state.compact()?;
    let inventory = backend.inventory()?;
    // Dependents first, templates last: the reverse of build order.
    let mut order = loaded.graph.order(&nodes);
    order.reverse();
    let mut doomed = Vec::new();
    for node in order.into_iter().filter(|n| n.guest_id().is_some()) {
        match inventory.get(&node).map(|o| &o.stamp) {
            None => {}
            Some(Stamp::Foreign) => eprint(&format!(
                "{node}: exists but was not created by phoenix; left alone\n"
            )),
            Some(_) => doomed.push(node),
        }
    }
    if doomed.is_empty() {
        print("nothing to destroy");
        return Ok(ExitCode::SUCCESS);
    }
    let list: Vec<String> = doomed.iter().map(ToString::to_string).collect();
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(AppError::Usage(format!(
                "would destroy {}; pass --yes to confirm (stdin is not a terminal)",
                list.join(", ")
            )));
        }
        eprint(&format!(
            "destroy {} and their snapshots? [y/N] ",
            list.join(", ")
        ));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprint("nothing destroyed\n");
            return Ok(verdict(true));
        }
    }
    let mut failed = false;
    for node in doomed {
        let Some(g) = node.guest_id().and_then(|id| loaded.defs.guest(id)) else {
            continue;
        };
        let ctx = GuestCtx {
            node,
            guest: g,
            defs: &loaded.defs,
            source: None,
            timeout: Duration::from_mins(5),
        };
        let mut log = Log::open(&exec::log_path(&state, node));
        log.note(&format!("== destroy {node}"));
        match backend.destroy(&ctx, &mut log) {
            Ok(()) => {
                let _ = state.remove(&node.slug());
                print(&format!("{node}: destroyed"));
            }
            Err(e) => {
                failed = true;
                eprint(&format!("{node}: not destroyed: {}\n", e.message));
            }
        }
    }
    Ok(verdict(failed))
}
