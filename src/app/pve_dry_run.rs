//! `build --dry-run --backend pve`: the plan run by the real executor on the real
//! pve backend, whose runner records each command instead of running it (see
//! `backend::pve::recording`), so what is printed is what a build runs, probes,
//! restarts and reconciliations included, and cannot drift from it.
//!
//! Nothing of the run is kept. The executor writes records and logs into a state
//! directory; here that is a temporary directory of its own, removed at the end:
//! the executor needs no dry-run case (no journal that discards, no log that goes
//! nowhere), the real cache is never written, and no build lock is taken. Each
//! node's commands are recorded under its log file's path, so workers run in
//! parallel as in a build; they are printed per node, in plan order, each block
//! headed by `# <action> <node>`. A node the simulated host made fail ends with a
//! `# failed: …` (or `# skipped: …`) line, and the exit code says so.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use super::output::print;
use super::{CmdResult, error::verdict};
use crate::backend::pve::{Pve, PveOptions, Recorder};
use crate::cli::BuildArgs;
use crate::exec::{self, Event, NodeResult, Outcome, Reporter, Summary};
use crate::fsutil::FileError;
use crate::graph::NodeId;
use crate::pipeline::{Assessed, Loaded};
use crate::state::{StateDir, StateError};

/// Run `assessed`'s plan against a recording pve backend and print its commands.
pub(super) fn run(
    loaded: &Loaded,
    assessed: &Assessed,
    args: &BuildArgs,
    pve: PveOptions,
) -> CmdResult {
    let scratch = tempfile::tempdir().map_err(|source| {
        StateError::Io(FileError {
            action: "create",
            path: std::env::temp_dir(),
            source,
        })
    })?;
    let state = StateDir::new(scratch.path());
    let journal = state.journal()?;
    let recorder = Recorder::new(&node_name(), &assessed.inventory, &loaded.defs);
    let backend = Pve::recording(recorder.clone(), pve);
    let opts = exec::Options {
        jobs: args.jobs.max(1),
        wipe_disks: args.wipe_disks,
        // Nothing waits: a retry would only print the same commands again.
        retries: 0,
        backoff: Duration::ZERO,
        ..exec::Options::default()
    };
    let run = assessed.run(loaded, &state, &journal, &backend);
    let summary = exec::run(&run, &opts, &mut Quiet);
    // Each node's first result, found at once: a walk per action was quadratic.
    let mut results: HashMap<NodeId, &NodeResult> = HashMap::new();
    for r in &summary.results {
        results.entry(r.node).or_insert(r);
    }
    let mut out = String::new();
    for a in assessed.plan.pending() {
        out.push_str(&format!("# {} {}\n", a.action.as_str(), a.node));
        for line in recorder.lines(&exec::log_path(&state, a.node)) {
            out.push_str(&line);
            out.push('\n');
        }
        let result = results.get(&a.node).copied();
        if let Some(r) = result.filter(|r| matches!(r.outcome, Outcome::Failed | Outcome::Skipped))
        {
            let what = if r.outcome == Outcome::Failed {
                "failed"
            } else {
                "skipped"
            };
            let detail = r.detail.as_deref().unwrap_or_default();
            out.push_str(&format!("# {what}: {detail}\n"));
        }
    }
    print(&out);
    Ok(if summary.failed() {
        verdict(true)
    } else {
        ExitCode::SUCCESS
    })
}

/// The Proxmox node name: this machine's, as the pve backend runs on the host.
fn node_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "pve".to_string(), |h| h.trim().to_string())
}

/// The dry run prints commands, not progress.
struct Quiet;

impl Reporter for Quiet {
    fn event(&mut self, _: &Event) {}
    fn finish(&mut self, _: &Summary) {}
}
