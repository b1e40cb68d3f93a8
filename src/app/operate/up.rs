//! `phoenix up` (`build all`, then a start of every guest the build finished,
//! with the sync hooks, one summary) and `phoenix setup` (`build` of the host
//! steps).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::hook::Hook;
use super::{Host, dry, dry_run, finish, opts, runner, start_nodes};
use crate::app::CmdResult;
use crate::app::build::{self, Built, reporter_for};
use crate::app::output::{eprint, load};
use crate::cli::{BuildArgs, Cli, RunArgs, SetupArgs, UpArgs};
use crate::defs::Severity;
use crate::exec::{Outcome, Reporter, Summary};
use crate::graph::NodeId;
use crate::graph::runtime::Way;
use crate::pipeline;

pub(crate) fn up(cli: &Cli, args: &UpArgs) -> CmdResult {
    let build_args = BuildArgs {
        targets: vec!["all".into()],
        jobs: args.jobs,
        fail_fast: args.fail_fast,
        allow_replace: args.allow_replace,
        wipe_disks: args.wipe_disks,
        dry_run: args.dry_run,
        refresh: false,
        keep_drift: false,
        force: Vec::new(),
        steps: args.steps.clone(),
    };
    let run = RunArgs {
        jobs: args.jobs,
        dry_run: args.dry_run,
        output: args.steps.output,
    };
    let t0 = Instant::now();
    let mut reporter = reporter_for(args.steps.output);
    let built = {
        let mut deferred = Deferred(reporter.as_mut());
        match build::run_build(cli, &build_args, Some(&mut deferred))? {
            // A dry run printed the build's plan.
            Built::Exit(code) if args.dry_run && code == ExitCode::SUCCESS => None,
            Built::Exit(code) => return Ok(code),
            Built::Ran(summary) => Some(summary),
        }
    };
    // The build printed the definitions' diagnostics; stop on nothing else here.
    let loaded = pipeline::load(&cli.global.defs, Severity::Warning);
    let all: Vec<NodeId> = loaded.graph.nodes().collect();
    let nodes = start_nodes(&loaded, &all, true);
    let hook = Hook::of(&loaded.defs, Duration::from_secs(args.steps.step_timeout));
    let opts = opts(&run, None, !args.no_boot_delay, Some(hook));
    let Some(built) = built else {
        let phases = [dry::Phase {
            way: Way::Start,
            nodes,
        }];
        return dry_run(cli, &loaded, &phases, &opts, args.steps.output);
    };
    if built.interrupted {
        opts.interrupt.press();
        return Ok(finish(
            "up",
            built.results,
            &[],
            t0,
            &opts,
            reporter.as_mut(),
        ));
    }
    // A guest the build did not finish does not start, nor does what needs it.
    let unfinished: Vec<NodeId> = built
        .results
        .iter()
        .filter(|r| r.node.guest_id().is_some() && !r.unsupported)
        .filter(|r| {
            matches!(
                r.outcome,
                Outcome::Failed | Outcome::Skipped | Outcome::Interrupted
            )
        })
        .map(|r| r.node)
        .collect();
    let host = Host::open(cli)?;
    let _ctrl_c = crate::app::run::CtrlCToBuild::new(&opts.interrupt);
    let cx = host.cx(&loaded, &opts);
    let mut ran = runner::run(
        &cx,
        Way::Start,
        "start",
        &nodes,
        &unfinished,
        reporter.as_mut(),
    );
    ran.ops += built.steps_run;
    // `check` (the definitions' health checks) would run here, once every guest runs.
    Ok(finish(
        "up",
        built.results,
        &[ran],
        t0,
        &opts,
        reporter.as_mut(),
    ))
}

pub(crate) fn setup(cli: &Cli, args: &SetupArgs) -> CmdResult {
    // Read quietly: the build prints the definitions' diagnostics.
    let loaded = pipeline::load(&cli.global.defs, Severity::Error);
    if loaded.diags.has_errors() {
        load(cli, Severity::Error)?;
    }
    let targets: Vec<String> = loaded
        .defs
        .host_steps
        .iter()
        .map(|s| NodeId::Host(s.name).to_string())
        .collect();
    if targets.is_empty() {
        eprint("setup: the definitions configure no host steps; nothing to do\n");
        return Ok(ExitCode::SUCCESS);
    }
    build::build(
        cli,
        &BuildArgs {
            targets,
            jobs: args.jobs,
            fail_fast: args.fail_fast,
            allow_replace: false,
            wipe_disks: args.wipe_disks,
            dry_run: args.dry_run,
            refresh: false,
            keep_drift: false,
            force: Vec::new(),
            steps: args.steps.clone(),
        },
    )
}

/// A reporter that passes the events on and keeps the summary back: `up`'s
/// build, whose summary is part of `up`'s.
struct Deferred<'a>(&'a mut dyn Reporter);

impl Reporter for Deferred<'_> {
    fn event(&mut self, e: &crate::exec::Event) {
        self.0.event(e);
    }

    fn finish(&mut self, _: &Summary) {}
}
