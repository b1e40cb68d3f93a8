//! `phoenix build`: assess, guard against replacing data, then hand the plan to the
//! executor with a reporter, Ctrl-C going to the build while it runs (see
//! `exec::interrupt`; exit code 130 after one); or, with `--dry-run`, print what
//! would run (the plan, or for `--backend pve` the commands, through the executor:
//! see `pve_dry_run`).

use std::process::ExitCode;
use std::time::Duration;

use super::output::{load, print, print_plan_json};
use super::settings::{backend, backend_settings};
use super::{AppError, CmdResult, error::verdict};
use crate::backend::{Backend, DryRun};
use crate::cli::{BackendKind, BuildArgs, Cli, Output};
use crate::defs::Severity;
use crate::exec::{self, Reporter};
use crate::exit_codes;
use crate::graph::target;
use crate::pipeline::{self, Assessed, Loaded};
use crate::plan::{self, ActionKind};
use crate::report;
use crate::state::StateDir;

pub(crate) fn build(cli: &Cli, args: &BuildArgs) -> CmdResult {
    match run_build(cli, args, None)? {
        Built::Exit(code) => Ok(code),
        Built::Ran(summary) if summary.interrupted => Ok(ExitCode::from(exit_codes::INTERRUPTED)),
        Built::Ran(summary) => Ok(verdict(summary.failed())),
    }
}

/// What a build came to: an exit code before anything ran (a dry run), or the
/// summary of what ran.
pub(crate) enum Built {
    Exit(ExitCode),
    Ran(exec::Summary),
}

/// `phoenix build`, reporting to `reporter` (`up` keeps the summary for its own
/// end), or to the reporter `--output` asks for.
pub(crate) fn run_build(
    cli: &Cli,
    args: &BuildArgs,
    reporter: Option<&mut dyn Reporter>,
) -> Result<Built, AppError> {
    let loaded = load(cli, Severity::Error)?;
    let state = StateDir::new(&cli.global.cache);
    // A dry run needs no host: without a named backend (or for pve, whose commands
    // are recorded against a simulated host) it plans against the recorded state.
    let pve_dry_run = args.dry_run && cli.global.backend == Some(BackendKind::Pve);
    let offline = args.dry_run && (cli.global.backend.is_none() || pve_dry_run);
    let backend: Box<dyn Backend> = if offline {
        Box::new(DryRun)
    } else {
        backend(cli)?
    };
    let lock = if args.dry_run {
        None
    } else {
        let lock = super::lock_state(&state)?;
        backend.claim()?;
        // Readers merge the journal, so it is folded into the node files only once it
        // has grown; a thousand-guest build then never waits for a thousand renames.
        state.compact_if_larger(16 << 20)?;
        Some(lock)
    };
    let inventory_from = (!offline).then_some(backend.as_ref());
    let mut assessed = pipeline::assess_with(&loaded, &args.targets, &state, inventory_from)?;
    super::status::report_state(&state, &assessed, lock.is_some())?;
    if args.refresh {
        refresh(
            &loaded,
            &mut assessed,
            backend.as_ref(),
            offline,
            args.keep_drift,
        );
    }
    force(&loaded, &mut assessed, &args.force)?;

    if pve_dry_run {
        return super::pve_dry_run::run(&loaded, &assessed, args, backend_settings(cli).pve)
            .map(Built::Exit);
    }
    if args.dry_run {
        match args.steps.output {
            Output::Json => print_plan_json(&assessed.plan),
            Output::Text => print(&report::plan::text(&assessed.plan, &loaded.defs)),
        }
        return Ok(Built::Exit(ExitCode::SUCCESS));
    }
    refuse_replacements(&loaded, &assessed, args.allow_replace)?;

    let opts = exec::Options {
        jobs: args.jobs.max(1),
        fail_fast: args.fail_fast,
        step_timeout: Duration::from_secs(args.steps.step_timeout),
        backoff: Duration::from_millis(args.steps.retry.retry_backoff_ms),
        wipe_disks: args.wipe_disks,
        ..exec::Options::default()
    };
    let journal = state.journal()?;
    let mut own: Box<dyn Reporter>;
    let reporter: &mut dyn Reporter = if let Some(r) = reporter {
        r
    } else {
        own = reporter_for(args.steps.output);
        own.as_mut()
    };
    let run = assessed.run(&loaded, &state, &journal, backend.as_ref());
    let summary = {
        let _ctrl_c = super::run::CtrlCToBuild::new(&opts.interrupt);
        exec::run(&run, &opts, reporter)
    };
    drop(journal);
    // Every worker has stopped appending: the journal can be rewritten with the
    // newest line of each node. Failing to is no failure of the build.
    if let Err(e) = state.tidy_journal() {
        tracing::warn!("the state journal was left untidied: {e}");
    }
    drop(lock);
    Ok(Built::Ran(summary))
}

/// The reporter `--output` asks for: JSON lines, progress bars on a terminal,
/// plain lines otherwise.
pub(crate) fn reporter_for(output: Output) -> Box<dyn Reporter> {
    match output {
        Output::Json => Box::new(report::build::Json::default()),
        Output::Text if exec::is_terminal_stderr() => Box::new(report::build::Progress::new()),
        Output::Text => Box::new(report::build::Plain),
    }
}

/// `--refresh`: read the managed guests' live configs and plan what changed
/// outside phoenix back, or with `--keep-drift` leave it and say so.
fn refresh(
    loaded: &Loaded,
    assessed: &mut Assessed,
    backend: &dyn Backend,
    offline: bool,
    keep_drift: bool,
) {
    if offline {
        super::output::eprint(
            "note: --refresh reads the host, which this dry run does not touch; name the backend (`--backend lxc`) to include the live configs\n",
        );
        return;
    }
    let found = pipeline::refresh(loaded, assessed, backend, keep_drift);
    super::status::report_unreadable(&found);
    if keep_drift {
        for d in &found.drifts {
            let what: Vec<String> = d
                .items
                .iter()
                .map(|i| format!("{} {} → {}", i.what, i.recorded, i.live))
                .collect();
            super::output::eprint(&format!(
                "warning: {} changed outside phoenix and is left as it is (--keep-drift): {}\n",
                d.node,
                what.join("; ")
            ));
        }
    }
}

/// `--force TARGET`: rebuild that node from scratch although it may be fresh.
fn force(loaded: &Loaded, assessed: &mut Assessed, forced: &[String]) -> Result<(), AppError> {
    for f in forced {
        let nodes = target::resolve(&loaded.defs, &loaded.graph, std::slice::from_ref(f))?;
        let [node] = nodes[..] else {
            return Err(AppError::Usage(format!(
                "--force takes one node, not `{f}`"
            )));
        };
        let Some(keys) = assessed.keys.get(&node) else {
            return Err(AppError::Usage(format!(
                "--force {f}: {node} is not among the targets"
            )));
        };
        let steps = plan::all_steps(keys);
        if let Some(a) = assessed.plan.actions.iter_mut().find(|a| a.node == node) {
            a.action = if node.guest_id().is_some() && assessed.inventory.contains_key(&node) {
                ActionKind::Replace
            } else {
                ActionKind::Create
            };
            a.steps = steps;
            a.reasons = vec!["forced with --force".into()];
            a.needs_allow_replace =
                a.action == ActionKind::Replace && !pipeline::is_template(&loaded.defs, node);
        }
    }
    // A forced converted template takes its linked clones with it.
    plan::order_teardown(
        &mut assessed.plan,
        &assessed.facts,
        &assessed.inventory,
        &assessed.keys,
    );
    Ok(())
}

/// Replacing a guest that is not a template destroys its root disk: refuse, naming
/// each one and why, unless `--allow-replace`.
fn refuse_replacements(
    loaded: &Loaded,
    assessed: &Assessed,
    allow_replace: bool,
) -> Result<(), AppError> {
    if !assessed.plan.linked_outside.is_empty() {
        let lines: Vec<String> = assessed
            .plan
            .linked_outside
            .iter()
            .map(|(clone, template)| format!("  {clone}: a linked clone of {template}"))
            .collect();
        let mut targets: Vec<String> = assessed
            .plan
            .linked_outside
            .iter()
            .map(|(c, _)| {
                c.guest_id()
                    .map_or_else(|| c.to_string(), |id| id.to_string())
            })
            .collect();
        targets.dedup();
        return Err(AppError::Refused(format!(
            "this build makes converted templates again, which destroys their linked clones first ({}), but these are not among the targets:\n{}\nnothing was changed; add them to the targets (`phoenix build ... {}`) or build all",
            plan::LINKED_FIRST,
            lines.join("\n"),
            targets.join(" ")
        )));
    }
    let blocked = assessed.plan.blocked_replacements();
    if blocked.is_empty() || allow_replace {
        return Ok(());
    }
    let actions = assessed.plan.by_node();
    let names: Vec<String> = blocked
        .iter()
        .map(|n| {
            let name = n
                .guest_id()
                .and_then(|id| loaded.defs.guest(id))
                .map(|g| g.name.clone())
                .unwrap_or_default();
            let why = actions
                .get(n)
                .and_then(|a| a.reasons.first().cloned())
                .unwrap_or_default();
            format!("  {n} ({name}): {why}")
        })
        .collect();
    Err(AppError::Refused(format!(
        "this build would replace guests that are not templates, destroying their root disks:\n{}\nnothing was changed; run again with --allow-replace to accept",
        names.join("\n")
    )))
}
