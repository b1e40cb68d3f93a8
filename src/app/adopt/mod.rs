//! `phoenix adopt`: take over guests another tool built.
//!
//! For each selected node (the targets and what they need, in build order): a
//! guest without phoenix's stamp is read from the host ([`crate::live`]) and
//! compared with its definition; a table says what matches, what differs and what
//! cannot be observed. Adopting it stamps it and records it as built:
//!
//! * `define` and every content step as done, so nothing is re-created, and the
//!   feature and application scripts' work is taken as done (the user asserts it
//!   by adopting; `--rerun-features` records the features and what follows them
//!   as not done instead). A snapshot template whose snapshot is missing has its
//!   `snapshot` step left to the next build;
//! * `configure` with the key of what the host has: where a setting differs, its
//!   manifest holds the live value in place of the definition's, so the next plan
//!   is one update whose reasons name exactly those settings, and nothing else.
//!
//! A guest whose shape differs (another OS, a linked clone of another base, a
//! template flag) is refused: no update makes it the guest defined. So is an ID
//! that holds a guest of the other kind. Host steps cannot be observed; those not
//! recorded are recorded as done (the host was set up by whatever built its
//! guests), and `--force host:NAME` runs one again.
//!
//! The stamp goes on first, then the record: a record without a stamp would have
//! the next build take the guest for another tool's.
//!
//! Layout: `judge` (one node, and the settings step as the host has it), `report`
//! (its table).

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use serde::Serialize;

use super::output::{eprint, load, print};
use super::settings::backend;
use super::status::report_state;
use super::{CmdResult, error::verdict};
use crate::backend::{Backend, CloneFrom, GuestCtx, Log, Stamp};
use crate::cli::{AdoptArgs, Cli, Output};
use crate::defs::Severity;
use crate::exec;
use crate::graph::NodeId;
use crate::live::Observation;
use crate::pipeline::{self, Loaded};
use crate::state::{NodeRecord, StateDir};

mod judge;
mod report;
use judge::judge;
use report::render;

/// What adopt does with one node.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict", content = "reason")]
enum Verdict {
    Adopt,
    Refused(String),
    Skipped(String),
}

/// One node, judged.
#[derive(Debug, Serialize)]
struct Judged {
    node: NodeId,
    #[serde(flatten)]
    verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed: Option<Observation>,
    /// What cannot be observed, and what is recorded of it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unobservable: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    /// The steps recorded as done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    records: Vec<String>,
    #[serde(skip)]
    record: Option<NodeRecord>,
    /// The stamp written on the guest (none for a host step).
    #[serde(skip)]
    stamp: Option<String>,
    /// Whether it was adopted (after `--yes`).
    adopted: bool,
}

impl Judged {
    fn new(node: NodeId, verdict: Verdict) -> Judged {
        Judged {
            node,
            verdict,
            observed: None,
            unobservable: Vec::new(),
            notes: Vec::new(),
            records: Vec::new(),
            record: None,
            stamp: None,
            adopted: false,
        }
    }
}

pub(crate) fn adopt(cli: &Cli, args: &AdoptArgs) -> CmdResult {
    let loaded = load(cli, Severity::Error)?;
    let state = StateDir::new(&cli.global.cache);
    let backend = backend(cli)?;
    let _lock = crate::app::lock_state(&state)?;
    backend.claim()?;
    let assessed = pipeline::assess_with(&loaded, &args.targets, &state, Some(backend.as_ref()))?;
    report_state(&state, &assessed, false)?;
    let foreign: Vec<NodeId> = assessed
        .order
        .iter()
        .copied()
        .filter(|n| {
            assessed
                .inventory
                .get(n)
                .is_some_and(|o| o.stamp == Stamp::Foreign)
        })
        .collect();
    let mut observed = pipeline::observe(&loaded, &foreign, backend.as_ref()).into_iter();
    let mut judged = Vec::new();
    for &node in &assessed.order {
        let live = if foreign.contains(&node) {
            observed.next().map(|(_, r)| r)
        } else {
            None
        };
        judged.push(judge(&loaded, &assessed, node, live, args.rerun_features));
    }
    let adoptable = judged
        .iter()
        .filter(|j| matches!(j.verdict, Verdict::Adopt))
        .count();
    if args.output == Output::Text {
        for j in &judged {
            print(&render(j, &loaded.defs));
        }
    }
    let refused = judged
        .iter()
        .any(|j| matches!(j.verdict, Verdict::Refused(_)));
    let mut failed = false;
    if adoptable > 0 && confirmed(args.yes, adoptable) {
        for j in judged
            .iter_mut()
            .filter(|j| matches!(j.verdict, Verdict::Adopt))
        {
            match apply(&loaded, &state, backend.as_ref(), j) {
                Ok(()) => {
                    j.adopted = true;
                    if args.output == Output::Text {
                        print(&format!("{}: adopted", j.node));
                    }
                }
                Err(why) => {
                    failed = true;
                    eprint(&format!("{}: not adopted: {why}\n", j.node));
                }
            }
        }
        if args.output == Output::Text && !failed {
            print(
                "\nnext: `phoenix plan` shows what the next build changes; `phoenix build` changes it",
            );
        }
    } else if adoptable > 0 && args.output == Output::Text {
        print("\nnothing recorded: this was a dry run; run again with --yes to adopt");
    }
    if args.output == Output::Json {
        let lines: Vec<String> = judged
            .iter()
            .map(|j| serde_json::to_string(j).unwrap_or_default())
            .collect();
        print(&lines.join("\n"));
    }
    Ok(verdict(failed || refused))
}

/// `--yes`, or a yes at the prompt on a terminal; no without a terminal.
fn confirmed(yes: bool, count: usize) -> bool {
    if yes {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint(&format!(
        "adopt these {count} nodes: stamp the guests and record them as built? [y/N] "
    ));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

/// Stamp the guest, then record it.
fn apply(
    loaded: &Loaded,
    state: &StateDir,
    backend: &dyn Backend,
    j: &Judged,
) -> Result<(), String> {
    if let (Some(stamp), Some(g)) = (
        &j.stamp,
        j.node.guest_id().and_then(|id| loaded.defs.guest(id)),
    ) {
        let ctx = GuestCtx {
            node: j.node,
            guest: g,
            defs: &loaded.defs,
            source: CloneFrom::of(&loaded.defs, g),
            timeout: Duration::from_mins(2),
        };
        let mut log = Log::open(&exec::log_path(state, j.node));
        log.note(&format!("== adopt {}", j.node));
        backend
            .adopt(&ctx, stamp, &mut log)
            .map_err(|e| e.message)?;
    }
    if let Some(record) = &j.record {
        state.append_all([record]).map_err(|e| e.to_string())?;
    }
    Ok(())
}
