//! `phoenix start`, `stop`, `restart`, `up` and `setup`: operating the guests
//! phoenix built, in the order the graph gives (`graph::runtime`: `depends`
//! edges, then boot order).
//!
//! Each reads the host once (the backend's inventory: which guests exist, carry
//! phoenix's stamp and run), holds the state directory's lock and the backend's
//! claim as a build does, and reports through a build's reporters: the same
//! progress lines or NDJSON events, one `node_finished` per guest, and the summary
//! table, whose last line counts what was started, stopped and left unchanged.
//! Guests without phoenix's stamp are reported and left alone. A failed start or
//! stop fails that guest and skips what waits for it; everything else goes on;
//! the exit code is 1 after any failure, 130 after Ctrl-C.
//!
//! `restart` is a stop, then a start of what it stopped and the targets (the host
//! read again between the two). `up` is `build all` with the build's events, then
//! a start of every guest the build finished, with `up`'s sync hook (`hook`), and
//! one summary of both. `setup` is `build` of the host steps.
//!
//! Rooms: this file (start, stop, restart, and what they share), `up` (up and
//! setup), `decide` (one guest's part, from the inventory), `runner` (a run over
//! the schedule) and `worker` (one guest's operation), `hook` (`up`'s sync hook),
//! `dry` (`--dry-run`).

mod decide;
mod dry;
mod hook;
mod runner;
mod up;
mod worker;

pub(crate) use up::{setup, up};

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::build::reporter_for;
use super::output::load;
use super::settings::backend;
use super::{AppError, CmdResult, error::verdict};
use crate::backend::{Backend, DryRun, Inventory};
use crate::cli::{Cli, Output, RestartArgs, RunArgs, StartArgs, StopArgs};
use crate::defs::Severity;
use crate::exec::{Interrupt, NodeResult, Outcome, Reporter, Summary};
use crate::exit_codes;
use crate::graph::NodeId;
use crate::graph::runtime::Way;
use crate::graph::target;
use crate::pipeline::{Loaded, is_template};
use crate::state::{BuildLock, StateDir};
use hook::Hook;
use runner::{Cx, Opts, Ran};

pub(crate) fn start(cli: &Cli, args: &StartArgs) -> CmdResult {
    let loaded = load(cli, Severity::Warning)?;
    let targets = guest_targets(&loaded, &args.targets)?;
    let nodes = start_nodes(&loaded, &targets, !args.no_deps);
    let opts = opts(&args.run, None, !args.no_boot_delay, None);
    one_way(cli, &loaded, Way::Start, &nodes, &opts, &args.run)
}

pub(crate) fn stop(cli: &Cli, args: &StopArgs) -> CmdResult {
    let loaded = load(cli, Severity::Warning)?;
    let targets = guest_targets(&loaded, &args.targets)?;
    let nodes = loaded.graph.stop_selection(&targets);
    let opts = opts(&args.run, Some(&args.shutdown), false, None);
    one_way(cli, &loaded, Way::Stop, &nodes, &opts, &args.run)
}

/// `start` or `stop` of `nodes`: printed in a dry run, else run with one summary.
fn one_way(
    cli: &Cli,
    loaded: &Loaded,
    way: Way,
    nodes: &[NodeId],
    opts: &Opts,
    run: &RunArgs,
) -> CmdResult {
    let name = match way {
        Way::Start => "start",
        Way::Stop => "stop",
    };
    if run.dry_run {
        let phases = [dry::Phase {
            way,
            nodes: nodes.to_vec(),
        }];
        return dry_run(cli, loaded, &phases, opts, run.output);
    }
    let host = Host::open(cli)?;
    let mut reporter = reporter_for(run.output);
    let _ctrl_c = super::run::CtrlCToBuild::new(&opts.interrupt);
    let t0 = Instant::now();
    let cx = host.cx(loaded, opts);
    let ran = runner::run(&cx, way, name, nodes, &[], reporter.as_mut());
    Ok(finish(
        name,
        Vec::new(),
        &[ran],
        t0,
        opts,
        reporter.as_mut(),
    ))
}

pub(crate) fn restart(cli: &Cli, args: &RestartArgs) -> CmdResult {
    let loaded = load(cli, Severity::Warning)?;
    let targets = guest_targets(&loaded, &args.targets)?;
    let stop_nodes = loaded.graph.stop_selection(&targets);
    let opts = opts(&args.run, Some(&args.shutdown), !args.no_boot_delay, None);
    if args.run.dry_run {
        let mut again = stop_nodes.clone();
        again.extend(&targets);
        let phases = [
            dry::Phase {
                way: Way::Stop,
                nodes: stop_nodes,
            },
            dry::Phase {
                way: Way::Start,
                nodes: restart_nodes(&loaded, &again),
            },
        ];
        return dry_run(cli, &loaded, &phases, &opts, args.run.output);
    }
    let mut host = Host::open(cli)?;
    let mut reporter = reporter_for(args.run.output);
    let _ctrl_c = super::run::CtrlCToBuild::new(&opts.interrupt);
    let t0 = Instant::now();
    let stopped = {
        let cx = host.cx(&loaded, &opts);
        runner::run(&cx, Way::Stop, "stop", &stop_nodes, &[], reporter.as_mut())
    };
    if opts.interrupt.requested() {
        return Ok(finish(
            "restart",
            Vec::new(),
            &[stopped],
            t0,
            &opts,
            reporter.as_mut(),
        ));
    }
    // Start what was stopped, and the targets.
    let mut again: Vec<NodeId> = stopped
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Stopped)
        .map(|r| r.node)
        .collect();
    again.extend(&targets);
    host.inventory = host.backend.inventory()?;
    let started = {
        let cx = host.cx(&loaded, &opts);
        let nodes = restart_nodes(&loaded, &again);
        runner::run(&cx, Way::Start, "start", &nodes, &[], reporter.as_mut())
    };
    Ok(finish(
        "restart",
        Vec::new(),
        &[stopped, started],
        t0,
        &opts,
        reporter.as_mut(),
    ))
}

/// The host as one run holds it: the backend, claimed, the state directory
/// locked, the inventory read once.
struct Host {
    state: StateDir,
    backend: Box<dyn Backend>,
    inventory: Inventory,
    _lock: BuildLock,
}

impl Host {
    fn open(cli: &Cli) -> Result<Host, AppError> {
        let state = StateDir::new(&cli.global.cache);
        let backend = backend(cli)?;
        let lock = crate::app::lock_state(&state)?;
        backend.claim()?;
        let inventory = backend.inventory()?;
        Ok(Host {
            state,
            backend,
            inventory,
            _lock: lock,
        })
    }

    fn cx<'a>(&'a self, loaded: &'a Loaded, opts: &'a Opts) -> Cx<'a> {
        Cx {
            defs: &loaded.defs,
            graph: &loaded.graph,
            backend: self.backend.as_ref(),
            inventory: &self.inventory,
            state: &self.state,
            opts,
        }
    }
}

/// The guests among the targets; a host step named is an error (`setup` runs
/// those), and `all` means every guest.
fn guest_targets(loaded: &Loaded, targets: &[String]) -> Result<Vec<NodeId>, AppError> {
    let nodes = target::resolve(&loaded.defs, &loaded.graph, targets)?;
    let named_all = targets.is_empty() || targets.iter().any(|t| t == "all");
    if let Some(h) = nodes
        .iter()
        .find(|n| n.guest_id().is_none())
        .filter(|_| !named_all)
    {
        return Err(AppError::Usage(format!(
            "{h} is a host step, which has nothing to start or stop; `phoenix setup` runs the host steps"
        )));
    }
    Ok(nodes
        .into_iter()
        .filter(|n| n.guest_id().is_some())
        .collect())
}

/// What `start` touches for `targets`.
fn start_nodes(loaded: &Loaded, targets: &[NodeId], deps: bool) -> Vec<NodeId> {
    loaded
        .graph
        .start_selection(targets, deps, |n| is_template(&loaded.defs, n))
}

/// What `restart` starts: `again` and what it depends on, templates left out
/// (its stop already reported them).
fn restart_nodes(loaded: &Loaded, again: &[NodeId]) -> Vec<NodeId> {
    let mut nodes = start_nodes(loaded, again, true);
    nodes.retain(|n| !is_template(&loaded.defs, *n));
    nodes
}

fn opts(
    run: &RunArgs,
    shutdown: Option<&crate::cli::ShutdownArgs>,
    boot_delay: bool,
    hook: Option<Hook>,
) -> Opts {
    Opts {
        jobs: run.jobs.max(1),
        shutdown: Duration::from_secs(shutdown.map_or(60, |s| s.timeout)),
        force: shutdown.is_some_and(|s| s.force),
        boot_delay,
        hook,
        retries: 4,
        backoff: Duration::from_millis(500),
        interrupt: Interrupt::default(),
    }
}

fn dry_run(
    cli: &Cli,
    loaded: &Loaded,
    phases: &[dry::Phase],
    opts: &Opts,
    output: Output,
) -> CmdResult {
    // As `build --dry-run`: the host is read only where a backend is named.
    let backend: Box<dyn Backend> = match cli.global.backend {
        Some(_) => backend(cli)?,
        None => Box::new(DryRun),
    };
    let inventory = match cli.global.backend {
        Some(_) => Some(backend.inventory()?),
        None => None,
    };
    let mut dry = dry::Dry {
        defs: &loaded.defs,
        graph: &loaded.graph,
        backend: backend.as_ref(),
        inventory,
        boot_delay: opts.boot_delay,
        hook: opts.hook.clone(),
    };
    Ok(dry::print_phases(&mut dry, phases, output))
}

/// One summary for the whole command: `before` (at `up`, the build's results),
/// then each phase's.
fn finish(
    operation: &'static str,
    before: Vec<NodeResult>,
    phases: &[Ran],
    t0: Instant,
    opts: &Opts,
    reporter: &mut dyn Reporter,
) -> ExitCode {
    let mut results = before;
    let mut ops = 0;
    for p in phases {
        results.extend(p.results.iter().cloned());
        ops += p.ops;
    }
    let summary = Summary {
        results,
        steps_run: ops,
        elapsed_ms: t0.elapsed().as_millis(),
        interrupted: opts.interrupt.requested(),
        operation: Some(operation),
    };
    reporter.finish(&summary);
    if summary.interrupted {
        ExitCode::from(exit_codes::INTERRUPTED)
    } else {
        verdict(summary.failed())
    }
}
