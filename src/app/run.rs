//! Dispatch: one command in, its exit code out.

use std::process::ExitCode;

use super::{build, destroy, inspect, logs, output, status};
use crate::cli::{Cli, Command};

/// Run one command and turn its result into the process's exit code.
pub fn run(cli: &Cli) -> ExitCode {
    output::init_tracing(cli.global.verbose, cli.global.log_filter.as_deref());
    let result = match &cli.command {
        Command::Validate { output } => inspect::validate(cli, *output),
        Command::Plan { targets, output } => inspect::plan(cli, targets, *output),
        Command::Graph {
            targets,
            format,
            state,
        } => inspect::graph(cli, targets, *format, *state),
        Command::Explain { target } => inspect::explain(cli, target),
        Command::Build(args) => build::build(cli, args),
        Command::Status { targets } => status::status(cli, targets),
        Command::Logs { target } => logs::logs(cli, target),
        Command::Destroy { targets, yes } => destroy::destroy(cli, targets, *yes),
    };
    result.unwrap_or_else(|e| {
        if e.needs_printing() {
            output::eprint(&format!("error: {e}\n"));
        }
        ExitCode::from(e.exit_code())
    })
}
