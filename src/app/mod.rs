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
