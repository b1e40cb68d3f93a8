//! The command layer: one function per command, each taking the parsed command line,
//! running the pipeline, printing its report and returning an exit code or an
//! [`AppError`]; [`run`] maps errors to exit codes in one place.
//!
//! Rooms: `inspect` (validate, plan, graph, explain: read-only), `adopt`, `build` (with
//! `pve_dry_run`, its dry run through the pve backend), `check` (health checks on
//! demand), `status`, `logs`, `destroy`, `operate` (start, stop, restart, up,
//! setup); `run` dispatches; `settings` turns the command line into
//! backend settings; `output` writes to the terminal; `error` holds [`AppError`].

mod adopt;
mod build;
mod check;
mod destroy;
mod error;
mod inspect;
mod logs;
mod operate;
mod output;
mod pve_dry_run;
mod run;
mod settings;
mod status;

pub use error::{AppError, CmdResult};
pub use run::run;

use crate::state::{BuildLock, StateDir, StateError};

/// The state directory's lock, for a command that changes guests. Holding it,
/// the commands that a run killed outright left running are killed first, and
/// this run's are written down for the next (`backend::command::take_over`).
fn lock_state(state: &StateDir) -> Result<BuildLock, StateError> {
    let lock = state.lock()?;
    for left in crate::backend::command::take_over(&state.root().join("running")) {
        output::eprint(&format!(
            "warning: killed {left}: an earlier phoenix started it and was killed before it finished\n"
        ));
    }
    Ok(lock)
}
