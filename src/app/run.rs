//! Dispatch: one command in, its exit code out; and what a Ctrl-C does.
//!
//! Ctrl-C (SIGINT) is phoenix's to handle: the commands it runs sit in process
//! groups of their own (`backend::command`), so the terminal's Ctrl-C reaches only
//! phoenix. While a build runs its plan, each press goes to the build
//! (`exec::interrupt`: the first stops it starting anything new, the second kills
//! the running steps). Otherwise, and at a build's third press, every running
//! command is killed and phoenix exits with 130 at once, as it did when Ctrl-C
//! killed it outright (which now would have left its commands running).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;

use super::{adopt, build, check, destroy, inspect, logs, operate, output, status};
use crate::backend::command;
use crate::cli::{Cli, Command};
use crate::exec::{Interrupt, Press};
use crate::exit_codes;

/// Run one command and turn its result into the process's exit code.
pub fn run(cli: &Cli) -> ExitCode {
    output::init_tracing(cli.global.verbose, cli.global.log_filter.as_deref());
    listen_for_ctrl_c();
    let result = match &cli.command {
        Command::Validate { output } => inspect::validate(cli, *output),
        Command::Plan {
            targets,
            output,
            refresh,
        } => inspect::plan(cli, targets, *output, *refresh),
        Command::Graph(args) => inspect::graph(cli, args),
        Command::Explain { target } => inspect::explain(cli, target),
        Command::Build(args) => build::build(cli, args),
        Command::Status { targets, live } => status::status(cli, targets, *live),
        Command::Adopt(args) => adopt::adopt(cli, args),
        Command::Check(args) => check::check(cli, args),
        Command::Logs { target } => logs::logs(cli, target),
        Command::Destroy { targets, yes } => destroy::destroy(cli, targets, *yes),
        Command::Start(args) => operate::start(cli, args),
        Command::Stop(args) => operate::stop(cli, args),
        Command::Restart(args) => operate::restart(cli, args),
        Command::Up(args) => operate::up(cli, args),
        Command::Setup(args) => operate::setup(cli, args),
    };
    result.unwrap_or_else(|e| {
        if e.needs_printing() {
            output::eprint(&format!("error: {e}\n"));
        }
        ExitCode::from(e.exit_code())
    })
}

/// The running build's Ctrl-C state, while a build runs its plan.
static BUILD: Mutex<Option<Interrupt>> = Mutex::new(None);

fn running_build() -> std::sync::MutexGuard<'static, Option<Interrupt>> {
    BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Take SIGINT over, on a thread of its own (see the module doc).
fn listen_for_ctrl_c() {
    let mut signals = match signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot handle Ctrl-C ({e}); it will stop phoenix at once");
            return;
        }
    };
    std::thread::spawn(move || {
        for _ in signals.forever() {
            let build = running_build().clone();
            match build.map(|b| b.press()) {
                Some(Press::Stop) => {}
                Some(Press::Kill) => command::abort(),
                Some(Press::Exit) | None => {
                    command::abort();
                    let _ = writeln!(std::io::stderr(), "interrupted");
                    std::process::exit(i32::from(exit_codes::INTERRUPTED));
                }
            }
        }
    });
}

/// Ctrl-C goes to `interrupt` until this is dropped.
pub(super) struct CtrlCToBuild(());

impl CtrlCToBuild {
    pub(super) fn new(interrupt: &Interrupt) -> CtrlCToBuild {
        *running_build() = Some(interrupt.clone());
        CtrlCToBuild(())
    }
}

impl Drop for CtrlCToBuild {
    fn drop(&mut self) {
        *running_build() = None;
    }
}
